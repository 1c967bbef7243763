"""A private loopback fleet for playbook tests: the bench's light hosts (tools/bench) with fake reboots.

Each host is a real sshd on 127.0.0.<2+i> (tools/bench/fleet.py: root by key, the session guard as
ForceCommand, so a real reboot of this machine is refused) reading its own snapshot root built from a
committed real kernel capture. Everything lives under the test's own directory and port: the shared
bench fleet ($VMSCAPE_CACHE/bench, inventories/bench) is never touched, so `make bench` can run at the
same time.

Reboots: ansible.builtin.reboot runs tools/bench/fakeboot.py (vmscape_reboot_command), which "boots" the
root detached from the session (new boot id; /proc/cmdline from the staged GRUB defaults; the vmscape
file from what the real kernel printed for that cmdline, tests/data/oracle-observed.json), and the boot id
is read from the root (vmscape_reboot_boot_time_command). This machine cannot really reboot: fakeboot is
the stand-in, and the tests say so.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools.bench import benchctl, fleet
from tools.bench.captures import load_index

REPO = Path(__file__).resolve().parents[2]
FAKEBOOT = REPO / "tools" / "bench" / "fakeboot.py"
OBSERVED = REPO / "tests" / "data" / "oracle-observed.json"
BIN = REPO / ".venv" / "bin"
FORBIDDEN = ("reboot", "shutdown", "poweroff", "halt", "kexec")  # the session guard refuses these


def free_port(addresses: list[str]) -> int:
    """A port nothing listens on at any of these loopback addresses."""
    for port in range(23100, 29000, 7):
        ok = True
        for a in addresses:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((a, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no free port for the light fleet")


@dataclass
class LightFleet:
    base: Path
    hosts: list[fleet.Host]
    paths: fleet.Paths
    pids: list[int] = field(default_factory=list)
    inventory: Path | None = None
    boots: Path | None = None
    events: Path | None = None
    reports: Path | None = None

    def root(self, name: str) -> Path:
        return self.paths.root(name)

    def boot_log(self) -> list[dict]:
        if not self.boots.exists():
            return []
        return [json.loads(line) for line in self.boots.read_text().splitlines() if line.strip()]

    def event_log(self) -> list[dict]:
        if not self.events.exists():
            return []
        return [json.loads(line) for line in self.events.read_text().splitlines() if line.strip()]

    def playbook(self, playbook: str, *args: str, check: bool = True, timeout: int = 600):
        for f in (self.events,):
            f.unlink(missing_ok=True)
        for old in self.reports.glob("*"):
            old.unlink()
        env = dict(
            os.environ,
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_CALLBACK_PLUGINS=str(REPO / "tests" / "integration" / "callbacks"),
            ANSIBLE_CALLBACKS_ENABLED="fleetsec.vmscape.vmscape_report,event_log",
            EVENT_LOG_FILE=str(self.events),
            VMSCAPE_REPORT_DIR=str(self.reports),
            PATH=f"{BIN}:{os.environ.get('PATH', '')}",
        )
        argv = [str(BIN / "ansible-playbook"), playbook, "-i", str(self.inventory), *args]
        t0 = time.monotonic()
        p = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        p.seconds = time.monotonic() - t0
        if check:
            assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
        return p

    def report(self) -> dict:
        (path,) = self.reports.glob("*.json")
        doc = json.loads(path.read_text())
        return {row["host"]: row for row in doc["rows"]} | {"__doc__": doc}

    def stop(self) -> None:
        kids = benchctl._children_map()
        victims = []
        for pid in self.pids:
            victims.append(pid)
            victims.extend(benchctl._descendants(pid, kids))
        for pid in victims:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(benchctl._alive(p) for p in victims):
            time.sleep(0.05)


def start(base: Path, specs: list[dict]) -> LightFleet:
    """Start one light host per spec: {"name", "capture" (stem in tests/data/captures), "vars": {...},
    "boot": "configured" | "previous_entry"}. Returns the fleet (call .stop())."""
    assert not any(w in str(base) for w in FORBIDDEN), f"{base}: the session guard would refuse commands naming it"
    benchctl.preflight()
    entries = {e.name: e for e in load_index()}
    addresses = [str(fleet.FIRST_ADDRESS + i) for i in range(len(specs))]
    port = free_port(addresses)
    hosts = [fleet.Host(i, s["name"], addresses[i], port, entries[s["capture"]]) for i, s in enumerate(specs)]
    paths = fleet.Paths(base / "bench")
    lf = LightFleet(base=base, hosts=hosts, paths=paths)
    lf.boots = base / "boots.jsonl"
    lf.events = base / "events.jsonl"
    lf.reports = base / "reports"
    lf.reports.mkdir(parents=True, exist_ok=True)
    benchctl.ensure_keys(paths)
    benchctl.build_roots(hosts, paths, log=lambda *_: None)
    paths.known_hosts.write_text(fleet.known_hosts(hosts, paths.host_key.with_suffix(".pub").read_text()))
    inv = fleet.inventory(hosts, paths)
    hostvars = inv["all"]["children"]["bench"]["hosts"]
    for h, s in zip(hosts, specs, strict=True):
        root = paths.root(h.name)
        (root / "proc" / "sys" / "kernel" / "random").mkdir(parents=True, exist_ok=True)
        (root / "proc" / "sys" / "kernel" / "random" / "boot_id").write_text(str(uuid.uuid4()) + "\n")
        spec = {
            "host": h.name,
            "kernel": h.capture.kernel,
            "profile": h.capture.profile,
            "base_cmdline": "console=ttyS0 panic=-1",
            "boot": s.get("boot", "configured"),
        }
        spec_file = paths.host_dir(h.name) / "boot.json"
        spec_file.parent.mkdir(parents=True, exist_ok=True)
        spec_file.write_text(json.dumps(spec))
        hostvars[h.name].update(
            {
                "vmscape_regenerate": False,
                "vmscape_reboot_command": (
                    f"/usr/bin/python3 {FAKEBOOT} --root {root} --spec {spec_file} --observed {OBSERVED} "
                    f"--log {lf.boots} --down 1.5"
                ),
                "vmscape_reboot_boot_time_command": f"cat {root}/proc/sys/kernel/random/boot_id",
                "vmscape_reboot_timeout": 120,
                "vmscape_reboot_connect_timeout": 10,
                **s.get("vars", {}),
            }
        )
    lf.inventory = base / "hosts.yml"
    lf.inventory.write_text(yaml.safe_dump(inv, sort_keys=False, width=400))
    try:
        for h in hosts:
            lf.pids.append(benchctl.start_one(h, paths))
    except Exception:
        lf.stop()
        raise
    return lf


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True)
