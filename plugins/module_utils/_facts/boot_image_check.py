# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is the next-boot kernel there to boot? Cheap checks, no decompression.

Target side: standard library only, importable by Python 3.6+.

A reboot into a kernel whose image is empty, unreadable, not an x86 boot image, shorter than its
own boot header says, or that has no modules directory, leaves the host down (no disk, no
network drivers). The facts report what was found; the plan never schedules a reboot into such a
kernel (docs/DESIGN.md, "Evidence").

Checks, each on the image as the boot loader will load it (the x86 boot protocol,
Documentation/arch/x86/boot.rst): a regular file of non-zero size that can be read; the setup
header magic ``HdrS`` at 0x202; the protected-mode code (``syssize`` at 0x1f4, in 16-byte units,
boot protocol >= 2.04) and the compressed payload (0x248/0x24c, protocol >= 2.08) inside the file;
``/lib/modules/<release>`` or ``/usr/lib/modules/<release>`` a directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import struct

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.kernel_probe import parse_bzimage_header

HEAD = 0x4000
MODULE_DIRS = ("/lib/modules", "/usr/lib/modules")


def modules_dir(root, release):
    """Host path of the release's modules directory, or None."""
    for base in MODULE_DIRS:
        hp = "%s/%s" % (base, release)
        try:
            if os.path.isdir(_rootpath.under(root, hp)):
                return hp
        except OSError:
            continue
    return None


def _image_problems(root, image):
    """(problems, size) of the image file."""
    try:
        real = _rootpath.under(root, image)
        st = os.stat(real)
    except OSError as exc:
        return [_rootpath.describe_oserror(image, exc)], None
    if not stat.S_ISREG(st.st_mode):
        return ["%s: not a regular file" % image], None
    if st.st_size == 0:
        return ["%s: 0 bytes" % image], 0
    try:
        with _rootpath.open_regular(real, follow=False) as f:  # never blocks on a FIFO swapped in
            head = f.read(HEAD)
    except OSError as exc:
        return ["%s: cannot be read (%s)" % (image, exc.strerror or exc)], st.st_size
    info = parse_bzimage_header(head)
    if info is None:
        return ["%s: not an x86 kernel image (no boot header 'HdrS'), %d bytes" % (image, st.st_size)], st.st_size
    problems = []
    pm_start = (info["setup_sects"] + 1) * 512
    if info["protocol"] >= 0x204:
        syssize = struct.unpack_from("<I", head, 0x1F4)[0]
        if syssize and pm_start + syssize * 16 > st.st_size:
            problems.append(
                "%s: truncated: its boot header says %d bytes, the file has %d"
                % (image, pm_start + syssize * 16, st.st_size)
            )
    if not problems and info["payload_offset"] is not None:
        end = info["payload_offset"] + info["payload_length"]
        if end > st.st_size:
            problems.append(
                "%s: truncated: its compressed kernel ends at byte %d, the file has %d" % (image, end, st.st_size)
            )
    return problems, st.st_size


def check_boot_kernel(root, release, image):
    """Return the schema's ``boot_kernel.image_check``: ``ok`` (true, false, or null when there is
    no kernel to check), ``problems`` (strings naming the file), ``size`` and ``modules_dir``."""
    out = {"ok": None, "problems": [], "size": None, "modules_dir": None}
    if not release:
        out["problems"].append("the next-boot kernel is unknown")
        return out
    if image:
        problems, out["size"] = _image_problems(root, image)
        out["problems"].extend(problems)
    else:
        out["problems"].append("no image found for %s" % release)
    out["modules_dir"] = modules_dir(root, release)
    if out["modules_dir"] is None:
        out["problems"].append("no modules directory for %s (%s)" % (release, ", ".join(MODULE_DIRS)))
    out["ok"] = not out["problems"]
    return out
