"""What a lab host boots, the files that decide it and its libvirt guests, as JSON on stdout.

Run on a lab host over SSH by the molecule scenarios: hostops (its prepare step before
remediate.yml, converge after each run, the verifier) and default (the libvirt host's prepare step
records its guest before remediate.yml); plain Python, nothing of the collection. ``files``: sha256 of the
GRUB sources and the generated menu; ``listings``: the names in the directories a regeneration
writes to (a leftover - grub.cfg.new, a backup, a temporary file - shows up there); the running
cmdline, kernel release, vmscape sysfs string (null when the kernel has none) and boot id;
``libvirt``: null without a libvirt socket, else per defined domain its state (``virsh domstate``),
the pid of its QEMU process, whether a managed save image and autostart exist, and what its serial
console log shows (how many times the guest booted: GUEST-UP lines; its last heartbeat number).
"""

import glob
import hashlib
import json
import os
import re
import subprocess
import sys

FILES = ["/etc/default/grub", *sorted(glob.glob("/etc/default/grub.d/*")), "/boot/grub/grub.cfg", "/boot/grub/grubenv"]
DIRS = ["/etc/default", "/etc/default/grub.d", "/boot", "/boot/grub"]
VIRSH = ["virsh", "-q", "-c", "qemu:///system"]
CONSOLE = "/var/log/libvirt/qemu/{}-console.log"  # where the prepare step points each guest's serial port


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def virsh(*args):
    return subprocess.run(VIRSH + list(args), capture_output=True, text=True, timeout=120, check=True).stdout


def console(name):
    text = read(CONSOLE.format(name)) or ""
    beats = re.findall(r"^GUEST-BEAT (\d+)\r?$", text, flags=re.M)
    return {"up": len(re.findall(r"^GUEST-UP\r?$", text, flags=re.M)), "last_beat": int(beats[-1]) if beats else None}


def libvirt():
    if not os.path.exists("/run/libvirt/libvirt-sock"):
        return None
    out = {}
    for name in virsh("list", "--all", "--name").split():
        info = {}
        for line in virsh("dominfo", name).splitlines():
            key, sep, value = line.partition(":")
            if sep:
                info[key.strip()] = value.strip()
        pid = read(f"/run/libvirt/qemu/{name}.pid")
        out[name] = {
            "state": virsh("domstate", name).strip(),
            "pid": int(pid) if pid and pid.isdigit() and os.path.exists(f"/proc/{pid}") else None,
            "managed_save": info.get("Managed save"),
            "autostart": info.get("Autostart"),
            "console": console(name),
        }
    return out


state = {
    "files": {p: sha256(p) for p in FILES if os.path.isfile(p)},
    "listings": {d: sorted(os.listdir(d)) for d in DIRS if os.path.isdir(d)},
    "cmdline": read("/proc/cmdline"),
    "release": os.uname().release,
    "vmscape": read("/sys/devices/system/cpu/vulnerabilities/vmscape"),
    "boot_id": read("/proc/sys/kernel/random/boot_id"),
    "libvirt": libvirt(),
}
json.dump(state, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
