"""Pure parts of the benchmark: run outcome checks, aggregation (median, min, max), ratios, the Markdown table."""

from __future__ import annotations

import itertools
import re
import statistics
from dataclasses import asdict, dataclass

COMMANDS = ("ping", "setup", "audit", "remediate-check")
# headline ratios: (name, numerator, denominator) of median wall times
RATIOS = (
    ("audit/ping", "audit", "ping"),
    ("audit/setup", "audit", "setup"),
    ("remediate-check/ping", "remediate-check", "ping"),
)
# targets of issues 5 and 10: ratio -> maximum, at N >= 50 (issue 10: audit/setup and remediate-check/ping
# also at N = 500)
TARGETS = {"audit/ping": 1.5, "audit/setup": 0.5, "remediate-check/ping": 2.5}
TARGET_MIN_N = 50
CPU_FLAT_TOLERANCE = 0.20

RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.M,
)
ADHOC = re.compile(r"^(?P<host>\S+) \| (?P<status>[A-Z]+)(?: =>|!)", re.M)


@dataclass
class Run:
    command: str
    n: int
    rep: int
    wall: float  # seconds
    cpu_user: float  # controller: the ansible process and its reaped descendants (forks, ssh clients, ssh masters)
    cpu_sys: float
    machine_cpu: float  # every CPU second the machine spent during the run (targets, other load included)
    load_before: float  # 1-minute load average when the run started
    ok: bool
    problem: str = ""
    rc: int = 0
    target_cpu: float = 0.0  # the hosts' sshd listeners' reaped children: sessions, shells, modules

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_sys


def check_adhoc(output: str, hosts: list[str], rc: int) -> str:
    """'' when every host answered SUCCESS (ansible all -m ...), else what went wrong."""
    status = {m.group("host"): m.group("status") for m in ADHOC.finditer(output)}
    bad = sorted(h for h in hosts if status.get(h) != "SUCCESS")
    if bad:
        shown = ", ".join(f"{h}={status.get(h, 'missing')}" for h in bad[:5])
        return f"{len(bad)}/{len(hosts)} hosts not SUCCESS ({shown}{', ...' if len(bad) > 5 else ''}); rc={rc}"
    if rc != 0:
        return f"rc={rc} although every host answered SUCCESS"
    return ""


def check_recap(output: str, hosts: list[str], rc: int) -> str:
    """'' when the PLAY RECAP lists every host with unreachable=0 and failed=0, else what went wrong."""
    recap = {m.group("host"): m for m in RECAP.finditer(output)}
    missing = sorted(set(hosts) - set(recap))
    if missing:
        return f"{len(missing)}/{len(hosts)} hosts missing from the PLAY RECAP (e.g. {missing[0]}); rc={rc}"
    bad = sorted(h for h in hosts if int(recap[h]["unreachable"]) or int(recap[h]["failed"]))
    if bad:
        m = recap[bad[0]]
        detail = m.group(0).split(":", 1)[1].strip()
        return f"{len(bad)}/{len(hosts)} hosts unreachable or failed (e.g. {bad[0]}: {detail})"
    if rc != 0:
        return f"rc={rc} although the recap is clean"
    return ""


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def aggregate(runs: list[Run]) -> dict:
    """{n: {command: {wall: spread, cpu: spread, cpu_per_host: spread, machine_cpu: spread, failed: k}}}.

    Failed runs are not timings: they are counted, not aggregated.
    """
    out: dict[int, dict[str, dict]] = {}
    groups: dict[tuple[int, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.n, r.command), []).append(r)
    for (n, command), rs in sorted(groups.items()):
        good = [r for r in rs if r.ok]
        entry: dict = {"runs": len(rs), "failed": len(rs) - len(good)}
        if good:
            entry["wall"] = spread([r.wall for r in good])
            entry["cpu"] = spread([r.cpu for r in good])
            entry["cpu_per_host"] = spread([r.cpu / n for r in good])
            entry["machine_cpu"] = spread([r.machine_cpu for r in good])
            entry["target_cpu"] = spread([r.target_cpu for r in good])
            entry["target_cpu_per_host"] = spread([r.target_cpu / n for r in good])
            entry["work"] = spread([r.cpu + r.target_cpu for r in good])
            entry["other_cpu"] = spread([max(0.0, r.machine_cpu - r.cpu - r.target_cpu) for r in good])
        out.setdefault(n, {})[command] = entry
    return out


def ratios(summary: dict, key: str = "wall") -> dict:
    """{n: {ratio name: median numerator / median denominator}} where both were measured.

    key "wall": wall time; "work": controller + targets CPU (what the run costs the machine, independent of
    other load on it; on a CPU-bound box wall follows it).
    """
    out: dict[int, dict[str, float]] = {}
    for n, cmds in summary.items():
        for name, num, den in RATIOS:
            a, b = cmds.get(num, {}).get(key), cmds.get(den, {}).get(key)
            if a and b and b["median"] > 0:
                out.setdefault(n, {})[name] = a["median"] / b["median"]
    return out


def marginal_cpu(summary: dict) -> dict:
    """{command: {"10-50": s/host, "50-100": s/host}}: controller CPU each extra host adds between sizes.

    ansible's fixed start-up CPU (imports, playbook and role loading: about a second) inflates the plain
    per-host figure at small N; the slope between sizes shows whether per-host work grows with the fleet.
    """
    out: dict[str, dict[str, float]] = {}
    sizes = sorted(summary)
    for a, b in itertools.pairwise(sizes):
        for command, entry in summary[b].items():
            lo = summary[a].get(command, {}).get("cpu")
            if lo and "cpu" in entry:
                out.setdefault(command, {})[f"{a}-{b}"] = (entry["cpu"]["median"] - lo["median"]) / (b - a)
    return out


def cpu_flatness(summary: dict) -> dict:
    """{command: max/min of the median controller CPU per host across N} (1.0 = perfectly flat)."""
    per: dict[str, list[float]] = {}
    for _n, cmds in sorted(summary.items()):
        for command, entry in cmds.items():
            if "cpu_per_host" in entry:
                per.setdefault(command, []).append(entry["cpu_per_host"]["median"])
    return {c: (max(v) / min(v) if min(v) > 0 else float("inf")) for c, v in per.items() if len(v) > 1}


def verdicts(summary: dict) -> list[dict]:
    """Each issue-5 target with the measured value and whether it is met (wall ratios, raw CPU per host);
    plus, for information, the same ratios on CPU work and the marginal CPU per host."""
    out = []
    rat, work = ratios(summary), ratios(summary, "work")
    for n in sorted(rat):
        if n < TARGET_MIN_N:
            continue
        for name, limit in TARGETS.items():
            if name in rat[n]:
                out.append({"target": f"{name} <= {limit} at N={n}", "value": round(rat[n][name], 3),
                            "met": rat[n][name] <= limit,
                            "work_ratio": round(work.get(n, {}).get(name, float("nan")), 3)})  # fmt: skip
    marginal = marginal_cpu(summary)
    for command, flat in sorted(cpu_flatness(summary).items()):
        slopes = list(marginal.get(command, {}).values())
        slope_flat = max(slopes) / min(slopes) if len(slopes) > 1 and min(slopes) > 0 else None
        out.append({"target": f"{command}: controller CPU per host flat within 20% across N", "value": round(flat, 3),
                    "met": flat <= 1 + CPU_FLAT_TOLERANCE,
                    "marginal_flatness": round(slope_flat, 3) if slope_flat else None})  # fmt: skip
    return out


def _cell(spread_: dict | None, fmt: str = "{:.1f}") -> str:
    if not spread_:
        return "-"
    return f"{fmt.format(spread_['median'])} ({fmt.format(spread_['min'])}-{fmt.format(spread_['max'])})"


def _table(summary: dict, cmds: list[str], key: str, fmt: str = "{:.1f}") -> list[str]:
    lines = ["| N | " + " | ".join(cmds) + " |", "|---|" + "---|" * len(cmds)]
    for n in sorted(summary):
        lines.append(f"| {n} | " + " | ".join(_cell(summary[n].get(c, {}).get(key), fmt) for c in cmds) + " |")
    return lines


def _to_ping(cmds: dict, command: str) -> str:
    out = []
    for key in ("wall", "work"):
        a, b = cmds.get(command, {}).get(key), cmds.get("ping", {}).get(key)
        out.append(f"{a['median'] / b['median']:.2f}" if a and b and b["median"] > 0 else "-")
    return f"{out[0]} ({out[1]})"


def markdown(summary: dict, meta: dict) -> str:
    rat, work = ratios(summary), ratios(summary, "work")
    cmds = [c for c in COMMANDS if any(c in v for v in summary.values())]
    cmds += sorted({c for v in summary.values() for c in v} - set(COMMANDS))
    nan = float("nan")
    lines = [
        f"# `make bench` results {meta.get('date', '')}",
        "",
        f"Machine: {meta.get('machine', '')}; load average before/after: {meta.get('load', '')}.",
        f"Settings: {meta.get('settings', '')}.",
        f"Repetitions: {meta.get('reps', '')} ({meta.get('large_reps', meta.get('reps', ''))} above 100 hosts);"
        " seconds, median (min-max). Controller CPU = the ansible process,"
        " its forks, ssh clients and ControlPersist masters; targets CPU = the bench sshds' sessions (sshd,"
        " shell, python, modules); work = both.",
        "",
        "## Headline: ratios of median wall time (in brackets: of CPU work), CPU per host",
        "",
        "| N | audit/ping | audit/setup | remediate-check/ping | controller CPU/host ping | audit | remediate-check |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sorted(summary):
        r, w = rat.get(n, {}), work.get(n, {})
        cells = [f"{r[k]:.2f} ({w.get(k, nan):.2f})" if k in r else "-" for k, _a, _b in RATIOS]
        cph = [_cell(summary[n].get(c, {}).get("cpu_per_host"), "{:.3f}") for c in ("ping", "audit", "remediate-check")]
        lines.append(f"| {n} | " + " | ".join(cells + cph) + " |")
    others = [c for c in cmds if c != "ping"]
    if others and any("ping" in v for v in summary.values()):
        lines += ["", "## Every command / ping: wall (CPU work)", "", "| N | " + " | ".join(others) + " |",
                  "|---|" + "---|" * len(others)]  # fmt: skip
        for n in sorted(summary):
            lines.append(f"| {n} | " + " | ".join(_to_ping(summary[n], c) for c in others) + " |")
    lines += ["", "## Wall time (s)", "", *_table(summary, cmds, "wall")]
    lines += ["", "## Controller CPU (s)", "", *_table(summary, cmds, "cpu")]
    lines += ["", "## Targets CPU per host (s)", "", *_table(summary, cmds, "target_cpu_per_host", "{:.3f}")]
    lines += ["", "## Other load: machine CPU minus controller and hosts during the runs (s)", ""]
    lines += _table(summary, cmds, "other_cpu")
    marginal = marginal_cpu(summary)
    if marginal:
        spans = sorted({k for v in marginal.values() for k in v}, key=lambda k: int(k.split("-")[0]))
        lines += ["", "## Marginal controller CPU per added host (s)", "", "| command | " + " | ".join(spans) + " |",
                  "|---|" + "---|" * len(spans)]  # fmt: skip
        for c in cmds:
            if c in marginal:
                lines.append(f"| {c} | " + " | ".join(f"{marginal[c].get(k, nan):.3f}" for k in spans) + " |")
    failed = [(n, c, e["failed"]) for n, v in summary.items() for c, e in v.items() if e.get("failed")]
    if failed:
        lines += ["", "Failed runs (not timings): " + ", ".join(f"{c} N={n}: {k}" for n, c, k in failed)]
    ver = verdicts(summary)
    if ver:
        lines += ["", "## Targets (issues 5 and 10)", "", "| target | measured | met | note |", "|---|---|---|---|"]
        for v in ver:
            note = ""
            if "work_ratio" in v:
                note = f"CPU-work ratio {v['work_ratio']}"
            elif v.get("marginal_flatness"):
                note = f"marginal CPU/host max/min {v['marginal_flatness']}"
            lines.append(f"| {v['target']} | {v['value']} | {'yes' if v['met'] else 'NO'} | {note} |")
    return "\n".join(lines) + "\n"


def run_to_dict(r: Run) -> dict:
    d = asdict(r)
    d["cpu"] = r.cpu
    return d
