"""`make bench`: time ping, setup, audit.yml and remediate.yml --check on the same benchmark fleet.

    python -m tools.bench.run [--sizes 10,50,100,500] [--reps 3] [--large-reps 1] [--wait-load 1.0]
                              [--commands ping,setup,audit,remediate-check]
                              [--forks N] [--no-report-files] [--record | --out DIR] [--keep]

Starts max(sizes) light hosts (tools/bench/benchctl), writes one inventory per size (the first N hosts),
then for every repetition, size and command runs the real CLI from the repository with the shipped
ansible.cfg and measures:

* wall time of the command;
* controller CPU (user+sys): the ansible process and every descendant it reaped (forks, ssh clients)
  plus the ControlPersist ssh masters, which detach from ansible: this process is a child subreaper
  (prctl PR_SET_CHILD_SUBREAPER), so they are re-parented here, closed after the run and reaped;
* the machine's CPU seconds during the run (/proc/stat: targets' sshd + modules and any other load).

Every run starts cold: a fresh ControlPath directory, masters closed afterwards. A run where any host is
not ok (unreachable, failed, missing from the recap) is recorded as failed, not as a timing. Results:
<date>.json (every run + summary) and .md (tables, ratios to ping, targets) in $VMSCAPE_CACHE/bench/results;
with --record (make bench BENCH_RECORD=1) in the repository's bench/results, to be committed with the
docs that cite them.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import ctypes
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.bench import fleet, stats
from tools.bench.captures import load_index
from tools.oracle.cache import REPO, cache_dir

PR_SET_CHILD_SUBREAPER = 36
LARGE = 100  # sizes above this run --large-reps times
KEEP_LOGS = 5
RECORD_DIR = REPO / "bench" / "results"  # --record: results cited by docs/performance.md, committed
BIN = Path(sys.executable).parent

# name -> (argv after the inventory, how to check the output)
COMMANDS: dict[str, tuple[list[str], str]] = {
    "ping": (["ansible", "all", "-m", "ansible.builtin.ping"], "adhoc"),
    "setup": (["ansible", "all", "-m", "ansible.builtin.setup"], "adhoc"),
    "audit": (["ansible-playbook", "playbooks/audit.yml"], "recap"),
    "remediate-check": (["ansible-playbook", "remediate.yml", "--check"], "recap"),
    # variants for tuning experiments (not part of the default run)
    "audit-noprobe": (["ansible-playbook", "playbooks/audit.yml", "-e", "vmscape_probe_image=never"], "recap"),
    "remediate-check-serial-all": (
        ["ansible-playbook", "remediate.yml", "--check", "-e", "vmscape_serial=100%"],
        "recap",
    ),
}


def _wait_for_quiet(limit: float, max_wait: float) -> None:
    """Until the 1-minute load average is below ``limit`` (other helpers, CI on the same box)."""
    deadline = time.monotonic() + max_wait
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(5)


def _subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (/proc/stat, all CPUs)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    vals = [int(v) for v in fields[:8]]
    idle = vals[3] + vals[4]
    return (sum(vals) - idle) / os.sysconf("SC_CLK_TCK")


def _clock_seconds(pids: list[int]) -> float:
    """utime+stime+cutime+cstime of these processes: for an sshd listener, its own CPU plus everything its
    connections ran (each session's sshd, shell, python and module children are reaped up the chain)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def _wait_sessions_closed(pids: list[int], timeout: float = 20.0) -> None:
    """Until no listener has a session child left: their CPU lands in the listener's cutime when reaped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for pid in pids:
            try:
                if Path(f"/proc/{pid}/task/{pid}/children").read_text().strip():
                    busy = True
                    break
            except OSError:
                continue
        if not busy:
            return
        time.sleep(0.05)


def _my_children() -> list[int]:
    me = os.getpid()
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                out.append(int(d.name))
    return out


def _reap_orphans() -> tuple[float, float]:
    """Close and reap what ansible left re-parented to us (ssh ControlPersist masters): their CPU."""
    user = sys_ = 0.0
    for _ in range(50):
        kids = _my_children()
        if not kids:
            break
        for pid in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in kids:
            with contextlib.suppress(ChildProcessError):
                _pid, _status, ru = os.wait4(pid, 0)
                user += ru.ru_utime
                sys_ += ru.ru_stime
    return user, sys_


def run_once(
    name: str,
    n: int,
    rep: int,
    inventory: Path,
    hosts: list[str],
    env_extra: dict,
    logdir: Path,
    server_pids: list[int] = (),
) -> stats.Run:
    argv, check = COMMANDS[name]
    argv = [str(BIN / argv[0]), *argv[1:2], "-i", str(inventory), *argv[2:]] if argv[0] == "ansible" else [
        str(BIN / argv[0]), "-i", str(inventory), *argv[1:]]  # fmt: skip
    cpdir = Path(tempfile.mkdtemp(prefix="cp-", dir=cache_dir() / "bench"))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cpdir),
           "ANSIBLE_NOCOLOR": "1", "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
           **env_extra}  # fmt: skip
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    load = os.getloadavg()[0]
    log = logdir / f"{name}-n{n}-r{rep}.log"
    with open(log, "w") as out:
        _subreaper(True)
        try:
            busy0, srv0, t0 = _busy_seconds(), _clock_seconds(server_pids), time.monotonic()
            proc = subprocess.Popen(
                argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
            _pid, status, ru = os.wait4(proc.pid, 0)
            wall = time.monotonic() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            ou, os_ = _reap_orphans()
            busy = _busy_seconds() - busy0
            _wait_sessions_closed(server_pids)
            srv = _clock_seconds(server_pids) - srv0
        finally:
            _subreaper(False)
    shutil.rmtree(cpdir, ignore_errors=True)
    text = log.read_text(errors="replace")
    problem = (stats.check_adhoc if check == "adhoc" else stats.check_recap)(text, hosts, proc.returncode)
    if problem:
        problem += f" (log: {log})"
    return stats.Run(name, n, rep, round(wall, 3), round(ru.ru_utime + ou, 3), round(ru.ru_stime + os_, 3),
                     round(busy, 2), round(load, 2), not problem, problem, proc.returncode, round(srv, 2))  # fmt: skip


def effective_settings() -> dict:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / "ansible.cfg")
    out = {f"defaults.{k}": v for k, v in cfg["defaults"].items() if k in ("forks", "interpreter_python", "strategy",
           "internal_poll_interval", "gathering", "stdout_callback", "callback_result_format")}  # fmt: skip
    if cfg.has_section("ssh_connection"):
        out.update({f"ssh_connection.{k}": v for k, v in cfg["ssh_connection"].items()})
    return out


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({model}), {mem:.0f} GiB, {platform.platform()}"


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def results_dir(record: bool, out: Path | None = None) -> Path:
    """Where a run's results go: ``out`` when given, the repository's bench/results when recording,
    else the cache (a run that is not recorded leaves the checkout as it was)."""
    if out is not None:
        return out
    return RECORD_DIR if record else cache_dir() / "bench" / "results"


def render(path: Path) -> int:
    """Rewrite <results>.md from <results>.json (after a change of the tables)."""
    doc = json.loads(path.read_text())
    runs = [stats.Run(**{k: v for k, v in r.items() if k != "cpu"}) for r in doc["runs"]]
    path.with_suffix(".md").write_text(stats.markdown(stats.aggregate(runs), doc["meta"]))
    print(f"bench: {path.with_suffix('.md')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "10,50,100,500"))
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", "3")))
    ap.add_argument(
        "--large-reps",
        type=int,
        default=int(os.environ.get("BENCH_LARGE_REPS", "1")),
        help="repetitions of the sizes above 100 hosts (each takes minutes; default 1)",
    )
    ap.add_argument(
        "--wait-load",
        type=float,
        default=float(os.environ.get("BENCH_WAIT_LOAD", "0") or 0),
        help="before each run wait (up to --wait-max s) until the 1-minute load average is below this; "
        "0: do not wait. Timings taken under other load are not results (the tables show that load).",
    )
    ap.add_argument("--wait-max", type=float, default=float(os.environ.get("BENCH_WAIT_MAX", "900")))
    ap.add_argument("--commands", default=os.environ.get("BENCH_COMMANDS", ",".join(stats.COMMANDS)))
    ap.add_argument("--forks", type=int, help="override ansible.cfg forks (ANSIBLE_FORKS)")
    ap.add_argument("--no-report-files", action="store_true", help="VMSCAPE_REPORT_FILES=false (default: write them)")
    ap.add_argument("--env", action="append", default=[], metavar="K=V", help="extra environment for every run")
    ap.add_argument(
        "--custom",
        action="append",
        default=[],
        metavar="NAME=CMD",
        help="an extra command to time, e.g. 'rem=ansible-playbook remediate.yml --check -e vmscape_serial=100%%'"
        " (ansible or ansible-playbook; -i is added; list NAME in --commands)",
    )
    ap.add_argument(
        "--discover-python",
        action="store_true",
        help="leave ansible_python_interpreter out of the inventory (interpreter discovery per host)",
    )
    ap.add_argument("--out", type=Path, help="directory of the results (default: $VMSCAPE_CACHE/bench/results)")
    ap.add_argument(
        "--record",
        action="store_true",
        help=f"write the results into {RECORD_DIR.relative_to(REPO)} (to be committed; make bench BENCH_RECORD=1)",
    )
    ap.add_argument("--render", type=Path, metavar="JSON", help="only rewrite the .md of an earlier results file")
    ap.add_argument("--label", default="", help="suffix of the result file names")
    ap.add_argument("--keep", action="store_true", help="leave the fleet running afterwards")
    ap.add_argument("--running", action="store_true", help="use the fleet benchctl already started (and keep it)")
    args = ap.parse_args(argv)
    if args.render:
        return render(args.render)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    for spec in args.custom:
        name, _, cmd = spec.partition("=")
        argv_ = shlex.split(cmd)
        if not name or not argv_ or argv_[0] not in ("ansible", "ansible-playbook"):
            ap.error(f"--custom {spec!r}: NAME=ansible ... or NAME=ansible-playbook ...")
        COMMANDS[name] = (argv_, "adhoc" if argv_[0] == "ansible" else "recap")
    unknown = [c for c in commands if c not in COMMANDS]
    if unknown:
        ap.error(f"unknown command(s) {unknown}; known: {', '.join(COMMANDS)}")
    if args.reps < 1 or args.large_reps < 1:
        ap.error("--reps and --large-reps must be >= 1")
    if args.record and args.out is not None:
        ap.error("--record and --out exclude each other")
    args.out = results_dir(args.record, args.out)

    base = cache_dir() / "bench"
    base.mkdir(parents=True, exist_ok=True)
    benchctl = [sys.executable, "-m", "tools.bench.benchctl"]
    if args.running:
        state = json.loads((base / "state.json").read_text()) if (base / "state.json").exists() else {"hosts": []}
        if len(state["hosts"]) < max(sizes):
            print(f"bench: --running needs {max(sizes)} hosts, {len(state['hosts'])} started", file=sys.stderr)
            return 1
    elif subprocess.run([*benchctl, "start", str(max(sizes))], cwd=REPO, check=False).returncode != 0:
        print("bench: the fleet did not start (see above)", file=sys.stderr)
        return 1
    try:
        return _bench(args, sizes, commands, base)
    finally:
        if not (args.keep or args.running):
            subprocess.run([*benchctl, "stop"], cwd=REPO, check=False)


def _bench(args, sizes: list[int], commands: list[str], base: Path) -> int:
    paths = fleet.Paths(base)
    hosts = fleet.plan_hosts(max(sizes), load_index())
    invdir = base / "inventories"
    invdir.mkdir(exist_ok=True)
    inventories = {}
    for n in sizes:
        inventories[n] = invdir / f"n{n}.yml"
        python = None if args.discover_python else fleet.TARGET_PYTHON
        inventories[n].write_text(fleet.inventory_text(hosts[:n], paths, python))
    stamp = time.strftime("%Y-%m-%d-%H%M")
    logdir = base / "logs" / stamp
    logdir.mkdir(parents=True, exist_ok=True)
    for old in sorted((base / "logs").iterdir())[:-KEEP_LOGS]:  # keep the newest runs' logs
        shutil.rmtree(old, ignore_errors=True)
    reports = Path(tempfile.mkdtemp(prefix="reports-", dir=base))
    env_extra = {"VMSCAPE_REPORT_DIR": str(reports)}
    if args.no_report_files:
        env_extra["VMSCAPE_REPORT_FILES"] = "false"
    if args.forks:
        env_extra["ANSIBLE_FORKS"] = str(args.forks)
    for kv in args.env:
        k, _, v = kv.partition("=")
        env_extra[k] = v
    load_start = os.getloadavg()
    print(f"bench: load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}; logs in {logdir}")

    # warm-up (not timed): page cache, pycache, and the fleet answers at all
    names = [h.name for h in hosts]
    state = json.loads((base / "state.json").read_text())
    pid_of = {h["name"]: h["pid"] for h in state["hosts"]}
    pids = [pid_of[name] for name in names]
    warm = run_once("ping", max(sizes), 0, inventories[max(sizes)], names, env_extra, logdir, pids)
    if not warm.ok:
        print(f"bench: warm-up ping failed: {warm.problem}", file=sys.stderr)
        return 1
    runs: list[stats.Run] = []
    t_all = time.monotonic()
    for rep in range(1, max(args.reps, args.large_reps if max(sizes) > LARGE else 0) + 1):
        for n in sizes:
            if rep > (args.large_reps if n > LARGE else args.reps):
                continue
            for name in commands:
                if args.wait_load:
                    _wait_for_quiet(args.wait_load, args.wait_max)
                r = run_once(name, n, rep, inventories[n], names[:n], env_extra, logdir, pids[:n])
                runs.append(r)
                flag = "ok" if r.ok else f"FAILED: {r.problem}"
                print(
                    f"rep {rep} N={n:<3} {name:16} wall {r.wall:6.2f}s  controller cpu {r.cpu:6.2f}s"
                    f" ({r.cpu / n:.3f}/host)  targets {r.target_cpu:6.2f}s ({r.target_cpu / n:.3f}/host)"
                    f"  machine {r.machine_cpu:6.1f}s  load {r.load_before:.1f}  {flag}",
                    flush=True,
                )
    load_end = os.getloadavg()
    shutil.rmtree(reports, ignore_errors=True)
    summary = stats.aggregate(runs)
    settings = effective_settings()
    settings.update({k: v for k, v in env_extra.items() if k != "VMSCAPE_REPORT_DIR"})
    settings["report files"] = "off" if args.no_report_files else "on (VMSCAPE_REPORT_DIR=temp dir)"
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "load": f"{' '.join(f'{x:.2f}' for x in load_start)} / {' '.join(f'{x:.2f}' for x in load_end)}",
        "reps": args.reps,
        "large_reps": args.large_reps,
        "sizes": sizes,
        "commands": {c: " ".join(COMMANDS[c][0]) for c in commands},
        "settings": ", ".join(f"{k}={v}" for k, v in settings.items()),
        "ansible": _version([str(BIN / "ansible"), "--version"]),
        "controller_python": sys.version.split()[0],
        "target_python": _version([fleet.TARGET_PYTHON, "--version"]),
        "sshd": _version(["dpkg-query", "-W", "-f", "${Version}\n", "openssh-server"]),
        "git": _version(["git", "rev-parse", "--short", "HEAD"]),
        "total_seconds": round(time.monotonic() - t_all, 1),
        "captures": len(load_index()),
        "rusage_self": resource.getrusage(resource.RUSAGE_SELF).ru_utime,
    }
    doc = {
        "meta": meta,
        "summary": {str(n): v for n, v in summary.items()},
        "ratios": {str(n): v for n, v in stats.ratios(summary).items()},
        "work_ratios": {str(n): v for n, v in stats.ratios(summary, "work").items()},
        "cpu_flatness": stats.cpu_flatness(summary),
        "marginal_cpu": stats.marginal_cpu(summary),
        "targets": stats.verdicts(summary),
        "runs": [stats.run_to_dict(r) for r in runs],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = stamp + (f"-{args.label}" if args.label else "")
    (args.out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    md = stats.markdown(summary, meta)
    (args.out / f"{name}.md").write_text(md)
    print(md)
    print(f"bench: {args.out / name}.json and .md")
    return 0 if all(r.ok for r in runs) else 2


if __name__ == "__main__":
    sys.exit(main())
