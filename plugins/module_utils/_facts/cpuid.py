# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CPUID through the Linux cpuid device (/dev/cpu/N/cpuid), and BHI_CTRL from it.

Target side: standard library only, importable by Python 3.6+.

The cpuid driver (arch/x86/kernel/cpuid.c) answers a 16-byte read at file offset
``leaf | subleaf << 32`` with EAX, EBX, ECX, EDX of that CPUID call, little-endian.
Snapshot roots hold the same offsets in a sparse regular file, so one code path reads both.

BHI_CTRL is CPUID.(EAX=7,ECX=2):EDX[4] (vmscape-facts.md section 5); it is never shown in
/proc/cpuinfo. Subleaf 2 exists only when leaf 7 subleaf 0 reports EAX (max subleaf) >= 2, and
leaf 7 only when leaf 0 reports a max basic leaf >= 7 (checked on the real device only: in a
regular snapshot file the 16-byte records of leaves 0, 1 and 7 overlap).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat
import struct

CPUID_DEVICE = "/dev/cpu/0/cpuid"
BHI_CTRL_BIT = 4  # CPUID.(EAX=7,ECX=2):EDX[4]


class CpuidError(Exception):
    """A CPUID register set could not be read; ``reason`` is for bhi_ctrl_reason."""

    def __init__(self, reason, errno_=None):
        Exception.__init__(self, reason)
        self.reason = reason
        self.errno = errno_


def read_cpuid(path, leaf, subleaf=0, display_path=None):
    """Return (eax, ebx, ecx, edx) of CPUID(leaf, subleaf) read from a cpuid device file."""
    shown = display_path or path
    offset = (leaf & 0xFFFFFFFF) | ((subleaf & 0xFFFFFFFF) << 32)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise CpuidError("%s: %s" % (shown, exc.strerror or exc), exc.errno) from None
    try:
        try:
            data = os.pread(fd, 16, offset) if hasattr(os, "pread") else _seek_read(fd, offset)
        except OSError as exc:
            raise CpuidError(
                "%s: reading leaf %#x subleaf %d: %s" % (shown, leaf, subleaf, exc.strerror or exc), exc.errno
            ) from None
    finally:
        os.close(fd)
    if len(data) != 16:
        raise CpuidError(
            "%s: short read for leaf %#x subleaf %d (%d of 16 bytes)" % (shown, leaf, subleaf, len(data)), errno.EIO
        )
    return struct.unpack("<4I", data)


def _seek_read(fd, offset):
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, 16)


def bhi_ctrl(path, display_path=None):
    """Return (value, reason): value True/False when CPUID answers, else None with reason.

    Raises CpuidError when the device cannot be opened or read (the caller decides whether
    to load the driver and retry).
    """
    shown = display_path or path
    try:
        is_device = stat.S_ISCHR(os.stat(path).st_mode)
    except OSError as exc:
        raise CpuidError("%s: %s" % (shown, exc.strerror or exc), exc.errno) from None
    regs70 = read_cpuid(path, 7, 0, shown)
    if is_device:
        if read_cpuid(path, 0, 0, shown)[0] < 7:
            return False, None  # leaf 7 not enumerated: no BHI_CTRL
    elif not any(regs70):
        # A regular file (snapshot) stores records at overlapping byte offsets (leaf 0 at 0..15,
        # leaf 1 at 1..16, leaf 7 at 7..22), so leaf 0 cannot be trusted there; only leaf 7.0
        # (written after 0 and 1) and 7.2 (offset 2**33 + 7) are. All zeros = not recorded.
        return None, "%s: leaf 7 is not recorded in this snapshot file" % shown
    if regs70[0] < 2:
        # Leaf 7 max subleaf < 2: the CPU does not enumerate subleaf 2, so it has no BHI_CTRL.
        return False, None
    edx = read_cpuid(path, 7, 2, shown)[3]
    return bool(edx & (1 << BHI_CTRL_BIT)), None
