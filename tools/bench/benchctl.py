"""benchctl: start, stop and inspect the benchmark fleet (one real sshd per light host on loopback).

    tools/bench/benchctl start N [--port P]   (re)build N snapshot roots, start N sshd, write the inventory
    tools/bench/benchctl stop                 stop every server this tool started (and their sessions)
    tools/bench/benchctl status               which servers run and answer

Host i listens only on its own loopback address (127.0.0.2, .3, ..., then 127.0.1.2, ...) and port P
(default 22022), reads its own root (tools/bench/fleet.py). The
inventory goes to inventories/bench/hosts.yml; state lives in $VMSCAPE_CACHE/bench. The machine's own
sshd and /etc/ssh are never touched; the only path outside the cache is sshd's privilege-separation
directory /run/sshd, created (0755) when missing as Debian's sshd.service would.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tools.bench import fleet
from tools.bench.captures import CaptureIndexError, load_capture, load_index
from tools.oracle.cache import REPO, cache_dir
from tools.oracle.capture import CaptureError

INVENTORY_DIR = REPO / "inventories" / "bench"
PRIVSEP_DIR = Path("/run/sshd")
READY_TIMEOUT = 15.0


def paths(base: Path | None = None) -> fleet.Paths:
    """The default fleet lives in $VMSCAPE_CACHE/bench; tests start their own under another base
    (and port), so they never stop or reuse a fleet someone else started."""
    return fleet.Paths(base or cache_dir() / "bench")


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise fleet.FleetError(f"{what}: {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")


def ensure_keys(p: fleet.Paths) -> None:
    """Host key and client key, generated once; authorized_keys = the client's public key."""
    p.ssh.mkdir(parents=True, exist_ok=True)
    os.chmod(p.ssh, 0o700)
    for key, comment in ((p.host_key, "fleetsec-bench-host"), (p.client_key, "fleetsec-bench-client")):
        if not key.exists() or not key.with_suffix(".pub").exists():
            key.unlink(missing_ok=True)
            key.with_suffix(".pub").unlink(missing_ok=True)
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)], "ssh-keygen")
    p.authorized_keys.write_text(p.client_key.with_suffix(".pub").read_text())
    os.chmod(p.authorized_keys, 0o600)


def preflight() -> None:
    if not os.path.exists(fleet.SSHD):
        raise fleet.FleetError(f"{fleet.SSHD} missing: install openssh-server (make deps; tools/system-packages.txt)")
    if not os.path.exists(fleet.TARGET_PYTHON):
        raise fleet.FleetError(f"{fleet.TARGET_PYTHON} missing: the light hosts run modules with the machine's python3")
    if os.geteuid() != 0:
        raise fleet.FleetError("the bench hosts log in as root over SSH: run benchctl as root")
    if not PRIVSEP_DIR.is_dir():
        PRIVSEP_DIR.mkdir(mode=0o755)


def build_roots(hosts: list[fleet.Host], p: fleet.Paths, log=print) -> None:
    from tools.oracle.kernels import fetch_all
    from tools.oracle.snapshot import retarget_capture

    kernel_ids = sorted({h.capture.kernel for h in hosts})
    kernels = fetch_all(kernel_ids, log=log)
    parsed = {}
    for h in hosts:
        if h.capture.name not in parsed:
            # a committed capture of an older build of the branch than the one fetched today runs the fetched one
            parsed[h.capture.name], change = retarget_capture(load_capture(h.capture), kernels[h.capture.kernel])
            if change:
                (rel_from, rel_to), (deb_from, deb_to) = change["release"], change["debian_version"]
                log(f"capture {h.capture.name}: {rel_from} {deb_from} retargeted to the fetched {rel_to} {deb_to}")
        fleet.build_root(p.root(h.name), parsed[h.capture.name], kernels[h.capture.kernel])
    # roots of hosts beyond N (a bigger earlier fleet) are left out of the inventory; drop them
    keep = {h.name for h in hosts}
    rootdir = p.base / "roots"
    for stale in rootdir.iterdir() if rootdir.is_dir() else ():
        if stale.name not in keep:
            shutil.rmtree(stale)


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _ours(pid: int, config: str) -> bool:
    """pid is still an sshd started with this config (pids are reused; sshd rewrites its title to
    "sshd: /usr/sbin/sshd -D -f <config> ... [listener] ...", one string)."""
    return any(config in part.split() for part in _cmdline(pid))


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _descendants(pid: int, kids: dict[int, list[int]]) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _banner(address: str, port: int, timeout: float = 2.0) -> str | None:
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = s.recv(64)
    except OSError:
        return None
    return data.decode(errors="replace").strip() if data.startswith(b"SSH-") else None


def _log_tail(path: Path, n: int = 5) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:]) or "(empty log)"


def start_one(h: fleet.Host, p: fleet.Paths) -> int:
    hdir = p.host_dir(h.name)
    hdir.mkdir(parents=True, exist_ok=True)
    config = hdir / "sshd_config"
    config.write_text(fleet.sshd_config(h, p))
    log = hdir / "sshd.log"
    log.write_text("")
    test = subprocess.run([fleet.SSHD, "-t", "-f", str(config)], capture_output=True, text=True, check=False)
    if test.returncode != 0:
        raise fleet.FleetError(f"{h.name}: sshd -t rejects {config}: {test.stderr.strip()}")
    proc = subprocess.Popen(
        [fleet.SSHD, "-D", "-f", str(config), "-E", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        rc = proc.poll()
        if rc is not None:
            raise fleet.FleetError(
                f"{h.name}: sshd on {h.address}:{h.port} exited with {rc}: {_log_tail(log)}"
                + (" (port busy? see `ss -ltnp`)" if "Address already in use" in _log_tail(log) else "")
            )
        if _banner(h.address, h.port, timeout=1.0):
            return proc.pid
        time.sleep(0.05)
    proc.kill()
    raise fleet.FleetError(f"{h.name}: sshd on {h.address}:{h.port} did not answer within {READY_TIMEOUT:.0f}s")


def load_state(p: fleet.Paths) -> dict:
    try:
        return json.loads(p.state.read_text())
    except FileNotFoundError:
        return {"hosts": []}
    except (OSError, ValueError) as exc:
        raise fleet.FleetError(f"{p.state}: unreadable ({exc}); remove it after checking `ps aux | grep sshd`") from exc


def stop(p: fleet.Paths | None = None, log=print, inventory: Path | None = None) -> int:
    """Stop every server in the state file and its sessions; returns how many were running."""
    p = p or paths()
    inventory = inventory or INVENTORY_DIR / "hosts.yml"
    state = load_state(p)
    kids = _children_map()
    victims: list[int] = []
    running = 0
    for h in state.get("hosts", []):
        pid, config = h["pid"], h["config"]
        if _ours(pid, config):
            running += 1
            victims.append(pid)
            victims.extend(_descendants(pid, kids))
    for pid in victims:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in victims):
        time.sleep(0.05)
    for pid in victims:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    p.state.unlink(missing_ok=True)
    inventory.unlink(missing_ok=True)
    if log:
        log(f"bench: stopped {running} server(s)")
    return running


def start(
    n: int, port: int = fleet.DEFAULT_PORT, log=print, base: Path | None = None, inventory: Path | None = None
) -> list[fleet.Host]:
    """Start n hosts (stopping this base's fleet first); the inventory goes to ``inventory``
    (default inventories/bench/hosts.yml)."""
    p = paths(base)
    inventory = inventory or INVENTORY_DIR / "hosts.yml"
    preflight()
    stop(p, log=None, inventory=inventory)
    try:
        entries = load_index()
    except CaptureIndexError as exc:
        raise fleet.FleetError(str(exc)) from exc
    hosts = fleet.plan_hosts(n, entries, port)
    t0 = time.monotonic()
    ensure_keys(p)
    try:
        build_roots(hosts, p, log=log)
    except (CaptureIndexError, CaptureError) as exc:
        raise fleet.FleetError(f"building roots: {exc}") from exc
    p.known_hosts.write_text(fleet.known_hosts(hosts, p.host_key.with_suffix(".pub").read_text()))
    t1 = time.monotonic()
    started: list[dict] = []
    errors: list[str] = []
    with cf.ThreadPoolExecutor(max_workers=8) as pool:
        futs = {pool.submit(start_one, h, p): h for h in hosts}
        for fut in cf.as_completed(futs):
            h = futs[fut]
            try:
                pid = fut.result()
                config = str(p.host_dir(h.name) / "sshd_config")
                started.append({"name": h.name, "address": h.address, "port": h.port, "pid": pid,
                                "config": config, "capture": h.capture.name})  # fmt: skip
            except fleet.FleetError as exc:
                errors.append(str(exc))
    started.sort(key=lambda s: s["name"])
    p.state.write_text(json.dumps({"port": port, "hosts": started}, indent=1) + "\n")
    if errors:
        stop(p, log=None, inventory=inventory)
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise fleet.FleetError("start failed: " + "; ".join(sorted(errors)[:3]) + more)
    inventory.parent.mkdir(parents=True, exist_ok=True)
    inventory.write_text(fleet.inventory_text(hosts, p))
    if log:
        log(
            f"bench: {n} hosts on 127.0.0.2..{hosts[-1].address} port {port} "
            f"(roots {t1 - t0:.1f}s, servers {time.monotonic() - t1:.1f}s); inventory {inventory}"
        )
    return hosts


def status(log=print) -> tuple[int, int]:
    """(running and answering, listed) for the servers of the state file."""
    p = paths()
    state = load_state(p)
    hosts = state.get("hosts", [])
    ok = 0
    problems = []
    for h in hosts:
        if not _ours(h["pid"], h["config"]):
            problems.append(f"{h['name']}: not running (pid {h['pid']})")
        elif not _banner(h["address"], h["port"]):
            problems.append(f"{h['name']}: pid {h['pid']} runs but {h['address']}:{h['port']} does not answer")
        else:
            ok += 1
    if log:
        if not hosts:
            log("bench: no fleet started")
        else:
            log(f"bench: {ok}/{len(hosts)} hosts up on port {state.get('port')} ({p.base})")
        for line in problems[:20]:
            log("  " + line)
    return ok, len(hosts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="benchctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("start", help="start N hosts (stops a running fleet first)")
    sp.add_argument("n", type=int)
    sp.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", fleet.DEFAULT_PORT)))
    sub.add_parser("stop")
    sub.add_parser("status")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "start":
            start(args.n, args.port)
        elif args.cmd == "stop":
            stop()
        else:
            ok, total = status()
            return 0 if total and ok == total else 1
    except fleet.FleetError as exc:
        print(f"benchctl: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
