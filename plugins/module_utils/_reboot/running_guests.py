# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find virtual machines running on a host: before a reboot, they must be drained.

Target side, standard library only. Three independent signals, all read under ``root``:
- processes holding /dev/kvm open (every KVM guest's VMM does);
- processes whose name is a known VMM (qemu-system-*, qemu-kvm, firecracker,
  cloud-hypervisor, crosvm) even without /dev/kvm (TCG guests, or no permission to read fds);
- libvirt's runtime state of running domains: <root>/run/libvirt/qemu/<name>.xml (or .pid).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

VMM_NAME_RE = re.compile(r"^(qemu-system-[a-z0-9_]+|qemu-kvm|kvm|firecracker|cloud-hypervisor|crosvm)$")
LIBVIRT_RUN_DIRS = ("run/libvirt/qemu", "var/run/libvirt/qemu")


def _read(path, limit=65536):
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except (IOError, OSError):
        return None


def _process_name(pid_dir):
    """comm, else argv[0]'s basename (comm is cut at 15 characters)."""
    cmdline = _read(os.path.join(pid_dir, "cmdline"))
    if cmdline:
        argv0 = cmdline.split(b"\0", 1)[0].decode("utf-8", "replace")
        base = os.path.basename(argv0)
        if base:
            return base
    comm = _read(os.path.join(pid_dir, "comm"))
    if comm:
        return comm.decode("utf-8", "replace").strip()
    return None


def _holds_kvm(pid_dir, root):
    fd_dir = os.path.join(pid_dir, "fd")
    try:
        fds = os.listdir(fd_dir)
    except (IOError, OSError):
        return None  # not readable (another user's process without privileges)
    for fd in fds:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except (IOError, OSError):
            continue
        if target == "/dev/kvm" or (root != "/" and target == os.path.join(root, "dev/kvm")):
            return True
    return False


def find_processes(root="/"):
    proc = os.path.join(root, "proc")
    found = []
    unreadable = 0
    try:
        entries = os.listdir(proc)
    except (IOError, OSError):
        return found, unreadable
    for entry in entries:
        if not entry.isdigit():
            continue
        pid_dir = os.path.join(proc, entry)
        name = _process_name(pid_dir)
        kvm = _holds_kvm(pid_dir, root)
        if kvm is None:
            unreadable += 1
        if kvm or (name and VMM_NAME_RE.match(name)):
            found.append({"pid": int(entry), "name": name, "holds_dev_kvm": bool(kvm)})
    found.sort(key=lambda p: p["pid"])
    return found, unreadable


def find_libvirt_domains(root="/"):
    """Running domains: libvirtd keeps <name>.xml (the live status) there while a domain runs.

    A .pid alone is not a domain: libvirt's QEMU driver holds its own lock file driver.pid in
    the same directory (seen with libvirt 9.0 on Debian 12, system and session daemons).
    """
    names = set()
    for rel in LIBVIRT_RUN_DIRS:
        d = os.path.join(root, rel)
        try:
            entries = os.listdir(d)
        except (IOError, OSError):
            continue
        for entry in entries:
            base, ext = os.path.splitext(entry)
            if ext == ".xml" and base:
                names.add(base)
    return sorted(names)


def running_guests(root="/"):
    processes, unreadable = find_processes(root)
    domains = find_libvirt_domains(root)
    return {
        "count": max(len(processes), len(domains)),
        "processes": processes,
        "libvirt_domains": domains,
        "unreadable_processes": unreadable,
    }
