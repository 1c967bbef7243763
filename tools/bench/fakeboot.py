#!/usr/bin/env python3
"""A stand-in for a reboot of a light bench host (tools/bench): its snapshot root "boots" again.

The bench hosts are this machine (one sshd per host on 127.0.0.x, tools/bench/fleet.py), so they
cannot reboot: the session guard refuses shutdown/reboot. Tests that need reboots pass this as
ansible.builtin.reboot's reboot_command (vmscape_reboot_command) and read the boot id from the
root (vmscape_reboot_boot_time_command: cat <root>/proc/sys/kernel/random/boot_id). Standard
library only: it runs as the "host" (the machine's /usr/bin/python3).

What a boot changes in the root, and where the new state comes from:
- the host is "down" for --down seconds: the boot id file is gone (the reboot action's boot id
  probe fails and retries, as against a host that does not answer);
- /proc/cmdline: what GRUB boots. ``configured`` (default): GRUB_CMDLINE_LINUX and
  GRUB_CMDLINE_LINUX_DEFAULT of <root>/etc/default/grub as /bin/sh sources them, in the order
  grub-mkconfig's 10_linux writes them (grub-mkconfig and GRUB cannot run on a snapshot root);
  ``previous_entry``: the cmdline the host ran before (a boot loader that boots a stale entry);
- the vmscape vulnerabilities file: what the real Debian kernel of the host printed for this CPU
  profile and cmdline under QEMU (tests/data/oracle-observed.json, --observed); a cmdline the
  oracle never booted leaves the file as it was and says so in the log;
- a new boot id (uuid4).
Everything else in the root (run/, var/) stays: this machine keeps running.

The command returns at once; the boot runs in a detached process (double fork, setsid, SIGHUP
ignored, every descriptor closed) so the SSH session ends (lab-notes: a fake reboot must detach
properly). Each boot appends one JSON line to --log: host, start, up (epoch seconds), cmdline,
vmscape, and the libvirt domains still running when the host went down (guests_at_boot).

    fakeboot.py --root R --spec SPEC.json --observed OBSERVED.json --log BOOTS.jsonl [--down 1.5]

SPEC.json: {"host": name, "kernel": "deb-6.1", "profile": "intel-skylake-sp",
            "base_cmdline": "console=ttyS0 panic=-1", "boot": "configured" | "previous_entry"}
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid

VMSCAPE = "sys/devices/system/cpu/vulnerabilities/vmscape"
BOOT_ID = "proc/sys/kernel/random/boot_id"
SOURCE = '. "$1" && printf "%s %s" "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT"'


def configured_cmdline(root: str) -> str:
    out = subprocess.run(
        ["/bin/sh", "-c", SOURCE, "sh", os.path.join(root, "etc/default/grub")],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    return " ".join(out.split())


def observed(table: dict, kernel: str, profile: str, extra: list[str]) -> str | None:
    """The oracle row of this kernel and CPU profile booted with the same extra parameters.

    Parameters compare as a sorted list: grub-mkconfig puts GRUB_CMDLINE_LINUX before
    GRUB_CMDLINE_LINUX_DEFAULT, the oracle appended them in the order it was given; the kernel
    reads these (distinct) parameters the same in any order.
    """
    for row in table.get("rows", []):
        if (row.get("kernel"), row.get("profile")) == (kernel, profile) and sorted(
            row.get("cmdline", "").split()
        ) == sorted(extra):
            return row.get("vmscape")
    return None


def write(root: str, rel: str, text: str) -> None:
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".fakeboot"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def running_domains(root: str) -> list[str]:
    """libvirt domains running when the host goes down (<root>/run/libvirt/qemu/<name>.xml)."""
    try:
        return sorted(n[:-4] for n in os.listdir(os.path.join(root, "run/libvirt/qemu")) if n.endswith(".xml"))
    except OSError:
        return []


def boot(args, spec: dict) -> None:
    root = args.root
    start = time.time()
    guests = running_domains(root)
    try:
        os.unlink(os.path.join(root, BOOT_ID))
    except FileNotFoundError:
        pass
    time.sleep(args.down)
    with open(os.path.join(root, "proc/cmdline")) as f:
        previous = " ".join(f.read().split())
    cmdline = previous if spec.get("boot") == "previous_entry" else configured_cmdline(root)
    extra = cmdline.split()
    for token in spec.get("base_cmdline", "").split():  # the oracle's own console/panic parameters
        if token in extra:
            extra.remove(token)
    with open(args.observed) as f:
        table = json.load(f)
    text = observed(table, spec["kernel"], spec["profile"], extra)
    write(root, "proc/cmdline", cmdline + "\n")
    if text is not None:
        write(root, VMSCAPE, text + "\n")
    write(root, BOOT_ID, str(uuid.uuid4()) + "\n")
    entry = {
        "host": spec.get("host"),
        "start": start,
        "up": time.time(),
        "cmdline": cmdline,
        "vmscape": text,
        "guests_at_boot": guests,
        "note": None
        if text is not None
        else f"no oracle observation for {spec['kernel']} {spec['profile']} {' '.join(extra)!r}",
    }
    with open(args.log, "a") as f:
        f.write(json.dumps(entry) + "\n")


def detach() -> bool:
    """True in the detached grandchild; the caller returns at once."""
    if os.fork():
        os.wait()
        return False
    os.setsid()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, 1024)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--observed", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--down", type=float, default=1.5)
    args = ap.parse_args(argv)
    with open(args.spec) as f:
        spec = json.load(f)
    for path in (os.path.join(args.root, "proc/cmdline"), os.path.join(args.root, "etc/default/grub"), args.observed):
        if not os.path.isfile(path):
            print(f"fakeboot: {path} missing", file=sys.stderr)
            return 2
    if detach():
        try:
            boot(args, spec)
        except Exception as exc:  # a host that fails to boot stays down; the log says why
            with open(args.log, "a") as f:
                f.write(json.dumps({"host": spec.get("host"), "error": repr(exc)}) + "\n")
        finally:
            os._exit(0)
    print(f"fakeboot: {spec.get('host')} going down for {args.down}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
