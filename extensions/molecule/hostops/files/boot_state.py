"""What a lab host boots and the files that decide it, as JSON on stdout (hostops scenario).

Run on the host by the prepare step (before remediate.yml) and by the verifier (after it, and
after a reboot); plain Python, nothing of the collection. ``files``: sha256 of the GRUB sources
and the generated menu; ``listings``: the names in the directories a regeneration writes to (a
leftover - grub.cfg.new, a backup, a temporary file - shows up there); the running cmdline,
kernel release, vmscape sysfs string (null when the kernel has none) and boot id.
"""

import glob
import hashlib
import json
import os
import sys

FILES = ["/etc/default/grub", *sorted(glob.glob("/etc/default/grub.d/*")), "/boot/grub/grub.cfg", "/boot/grub/grubenv"]
DIRS = ["/etc/default", "/etc/default/grub.d", "/boot", "/boot/grub"]


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


state = {
    "files": {p: sha256(p) for p in FILES if os.path.isfile(p)},
    "listings": {d: sorted(os.listdir(d)) for d in DIRS if os.path.isdir(d)},
    "cmdline": read("/proc/cmdline"),
    "release": os.uname().release,
    "vmscape": read("/sys/devices/system/cpu/vulnerabilities/vmscape"),
    "boot_id": read("/proc/sys/kernel/random/boot_id"),
}
json.dump(state, sys.stdout, indent=1, sort_keys=True)
sys.stdout.write("\n")
