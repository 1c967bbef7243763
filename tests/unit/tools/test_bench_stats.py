"""The benchmark's aggregation: outcome checks, medians, ratios, CPU flatness, targets, Markdown (no timings)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root: tools/ is not installed

from tools.bench import stats

HOSTS = ["bench-001", "bench-002"]
RECAP_OK = """
PLAY RECAP *********************************************************************
bench-001                  : ok=7    changed=1    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
bench-002                  : ok=6    changed=0    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
"""


def run(command, n, wall, cpu, ok=True, rep=1, target=None):
    target = cpu if target is None else target
    return stats.Run(command, n, rep, wall, cpu * 0.75, cpu * 0.25, 2 * wall, 0.5, ok, "" if ok else "boom", 0, target)


def test_recap_check():
    assert stats.check_recap(RECAP_OK, HOSTS, 0) == ""
    bad = RECAP_OK.replace("bench-002                  : ok=6    changed=0    unreachable=0    failed=0",
                           "bench-002                  : ok=1    changed=0    unreachable=1    failed=0")  # fmt: skip
    assert stats.check_recap(bad, HOSTS, 4).startswith("1/2 hosts unreachable or failed (e.g. bench-002: ok=1")
    assert "bench-003" in stats.check_recap(RECAP_OK, [*HOSTS, "bench-003"], 0)
    assert stats.check_recap(RECAP_OK, HOSTS, 2) == "rc=2 although the recap is clean"
    assert "missing from the PLAY RECAP" in stats.check_recap("ERROR! the playbook could not be found", HOSTS, 1)


def test_adhoc_check():
    out = 'bench-002 | SUCCESS => {\n    "ping": "pong"\n}\nbench-001 | SUCCESS => {\n}\n'
    assert stats.check_adhoc(out, HOSTS, 0) == ""
    out2 = 'bench-002 | SUCCESS => {}\nbench-001 | UNREACHABLE! => {"msg": "Connection refused"}\n'
    assert stats.check_adhoc(out2, HOSTS, 4).startswith("1/2 hosts not SUCCESS (bench-001=UNREACHABLE)")
    assert "bench-001=missing" in stats.check_adhoc("bench-002 | SUCCESS => {}\n", HOSTS, 0)


def test_aggregate_medians_and_failed_runs_are_not_timings():
    runs = [
        run("ping", 10, 2.0, 1.0),
        run("ping", 10, 4.0, 3.0, rep=2),
        run("ping", 10, 3.0, 2.0, rep=3),
        run("ping", 10, 99.0, 99.0, ok=False, rep=4),
    ]
    s = stats.aggregate(runs)
    ping = s[10]["ping"]
    assert (ping["runs"], ping["failed"]) == (4, 1)
    assert ping["wall"] == {"median": 3.0, "min": 2.0, "max": 4.0, "n": 3}
    assert ping["cpu"]["median"] == pytest.approx(2.0)
    assert ping["cpu_per_host"]["median"] == pytest.approx(0.2)
    only_failed = stats.aggregate([run("setup", 10, 1.0, 1.0, ok=False)])
    assert only_failed[10]["setup"] == {"runs": 1, "failed": 1}


def test_ratios_flatness_and_targets():
    runs = []
    for n, ping, setup, audit, rem in (
        (10, 4.0, 10.0, 5.0, 8.0),
        (50, 10.0, 40.0, 14.0, 30.0),
        (100, 20.0, 80.0, 31.0, 45.0),
    ):
        runs += [run("ping", n, ping, 0.1 * n), run("setup", n, setup, 0.2 * n)]
        runs += [run("audit", n, audit, 0.12 * n if n < 100 else 0.2 * n), run("remediate-check", n, rem, 0.3 * n)]
    s = stats.aggregate(runs)
    r = stats.ratios(s)
    assert r[50] == {"audit/ping": 1.4, "audit/setup": 0.35, "remediate-check/ping": 3.0}
    assert r[100]["audit/ping"] == pytest.approx(1.55)
    flat = stats.cpu_flatness(s)
    assert flat["ping"] == pytest.approx(1.0)
    assert flat["audit"] == pytest.approx(0.2 / 0.12)
    verdicts = {v["target"]: v["met"] for v in stats.verdicts(s)}
    assert verdicts["audit/ping <= 1.5 at N=50"] is True
    assert verdicts["audit/ping <= 1.5 at N=100"] is False
    assert verdicts["remediate-check/ping <= 2.5 at N=50"] is False
    assert verdicts["remediate-check/ping <= 2.5 at N=100"] is True
    assert not any(t.endswith("N=10") for t in verdicts), "targets start at N=50"
    assert verdicts["ping: controller CPU per host flat within 20% across N"] is True
    assert verdicts["audit: controller CPU per host flat within 20% across N"] is False
    work = stats.ratios(s, "work")
    assert work[50]["audit/ping"] == pytest.approx(1.2)  # controller + targets CPU: 2 * 0.12 * 50 / (2 * 0.1 * 50)
    marginal = stats.marginal_cpu(s)
    assert marginal["ping"] == {"10-50": pytest.approx(0.1), "50-100": pytest.approx(0.1)}
    assert marginal["audit"]["50-100"] == pytest.approx((20 - 6) / 50)
    md = stats.markdown(s, {"date": "D", "machine": "M", "load": "L", "settings": "S", "reps": 1})
    assert "| 50 | 1.40 (1.20) | 0.35 (0.60) | 3.00 (3.00) |" in md
    assert "| audit/ping <= 1.5 at N=100 | 1.55 | NO | CPU-work ratio 2.0 |" in md
    assert "| 100 | 20.0 (20.0-20.0) | 80.0 (80.0-80.0) | 31.0 (31.0-31.0) | 45.0 (45.0-45.0) |" in md


def test_markdown_lists_failed_runs():
    s = stats.aggregate([run("ping", 10, 1.0, 1.0), run("audit", 10, 1.0, 1.0, ok=False)])
    md = stats.markdown(s, {})
    assert "Failed runs (not timings): audit N=10: 1" in md
    assert "| 10 | - | - | - |" in md  # no audit timing: no ratio


def test_results_go_to_the_cache_unless_recorded(tmp_path, monkeypatch):
    from tools.bench import run

    monkeypatch.setenv("VMSCAPE_CACHE", str(tmp_path / "cache"))
    assert run.results_dir(False) == tmp_path / "cache" / "bench" / "results"
    assert run.results_dir(True) == run.REPO / "bench" / "results"
    assert run.results_dir(False, tmp_path / "x") == tmp_path / "x"
