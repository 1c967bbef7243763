"""Pure parts of the benchmark: run outcome checks, aggregation (median, min, max), ratios, the Markdown table."""

from __future__ import annotations

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
# issue 5 targets: ratio -> maximum, at N >= 50
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
        out.setdefault(n, {})[command] = entry
    return out


def ratios(summary: dict) -> dict:
    """{n: {ratio name: median wall numerator / median wall denominator}} where both were measured."""
    out: dict[int, dict[str, float]] = {}
    for n, cmds in summary.items():
        for name, num, den in RATIOS:
            a, b = cmds.get(num, {}).get("wall"), cmds.get(den, {}).get("wall")
            if a and b and b["median"] > 0:
                out.setdefault(n, {})[name] = a["median"] / b["median"]
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
    """Each issue-5 target with the measured value and whether it is met."""
    out = []
    rat = ratios(summary)
    for n in sorted(rat):
        if n < TARGET_MIN_N:
            continue
        for name, limit in TARGETS.items():
            if name in rat[n]:
                out.append({"target": f"{name} <= {limit} at N={n}", "value": round(rat[n][name], 3),
                            "met": rat[n][name] <= limit})  # fmt: skip
    for command, flat in sorted(cpu_flatness(summary).items()):
        out.append({"target": f"{command}: controller CPU per host flat within 20% across N", "value": round(flat, 3),
                    "met": flat <= 1 + CPU_FLAT_TOLERANCE})  # fmt: skip
    return out


def _cell(spread_: dict | None, fmt: str = "{:.1f}") -> str:
    if not spread_:
        return "-"
    return f"{fmt.format(spread_['median'])} ({fmt.format(spread_['min'])}-{fmt.format(spread_['max'])})"


def markdown(summary: dict, meta: dict) -> str:
    rat = ratios(summary)
    cmds = [c for c in COMMANDS if any(c in v for v in summary.values())]
    extra = sorted({c for v in summary.values() for c in v} - set(COMMANDS))
    cmds += extra
    lines = [
        f"# `make bench` results {meta.get('date', '')}",
        "",
        f"Machine: {meta.get('machine', '')}; load average before/after: {meta.get('load', '')}.",
        f"Settings: {meta.get('settings', '')}.",
        f"Repetitions: {meta.get('reps', '')}; wall and controller CPU in seconds, median (min-max); "
        "controller CPU = the ansible process, its forks and its ssh clients/masters.",
        "",
        "## Ratios (median wall)",
        "",
        "| N | audit/ping | audit/setup | remediate-check/ping "
        "| CPU/host ping | CPU/host audit | CPU/host remediate-check |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sorted(summary):
        r = rat.get(n, {})
        cph = {c: summary[n].get(c, {}).get("cpu_per_host") for c in ("ping", "audit", "remediate-check")}
        lines.append(
            f"| {n} | {r.get('audit/ping', float('nan')):.2f} | {r.get('audit/setup', float('nan')):.2f} | "
            f"{r.get('remediate-check/ping', float('nan')):.2f} | "
            + " | ".join(_cell(cph[c], "{:.3f}") if cph[c] else "-" for c in ("ping", "audit", "remediate-check"))
            + " |"
        )
    lines += ["", "## Wall time (s)", "", "| N | " + " | ".join(cmds) + " |", "|---|" + "---|" * len(cmds)]
    for n in sorted(summary):
        lines.append(f"| {n} | " + " | ".join(_cell(summary[n].get(c, {}).get("wall")) for c in cmds) + " |")
    lines += ["", "## Controller CPU (s)", "", "| N | " + " | ".join(cmds) + " |", "|---|" + "---|" * len(cmds)]
    for n in sorted(summary):
        lines.append(f"| {n} | " + " | ".join(_cell(summary[n].get(c, {}).get("cpu")) for c in cmds) + " |")
    failed = [(n, c, e["failed"]) for n, v in summary.items() for c, e in v.items() if e.get("failed")]
    if failed:
        lines += ["", "Failed runs (not timings): " + ", ".join(f"{c} N={n}: {k}" for n, c, k in failed)]
    ver = verdicts(summary)
    if ver:
        lines += ["", "## Targets (issue 5)", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {v['target']} | {v['value']} | {'yes' if v['met'] else 'NO'} |" for v in ver]
    return "\n".join(lines) + "\n"


def run_to_dict(r: Run) -> dict:
    d = asdict(r)
    d["cpu"] = r.cpu
    return d
