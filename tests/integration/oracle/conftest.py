"""Session state of the real-kernel oracle: kernels, QEMU, boots (cached), and the run summary.

Boots happen in bulk, 2 at a time, the first time a test needs a capture: only the cases of the
selected tests are booted (``-k`` works). The summary (cases, agreed, disagreed with details,
duration) goes to ``$VMSCAPE_CACHE/oracle-summary.json`` and a short table is printed at the end.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

REPO = str(Path(__file__).resolve().parents[3])
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools.oracle import boot, capture, matrix  # noqa: E402
from tools.oracle.cache import cache_dir  # noqa: E402
from tools.oracle.kernels import fetch_all  # noqa: E402
from tools.oracle.profiles import load_profiles  # noqa: E402

CASES = matrix.cases()
CASE_BY_ID = {c.id: c for c in CASES}


class OracleRun:
    def __init__(self):
        self.start = time.monotonic()
        self.kernels = None
        self.profiles = {p.id: p for p in load_profiles()}
        self.needed: set[str] = set()
        self.results: dict[str, boot.BootResult] = {}
        self.errors: dict[str, str] = {}
        self.extra_results: dict[tuple[str, str, str], boot.BootResult] = {}
        self.outcomes: dict[str, dict] = {}  # "<kind>:<case id>" -> {"agreed": bool, ...}

    def setup(self):
        if self.kernels is None:
            self.kernels = fetch_all(log=lambda *_: None)
        return self

    def boot_cases(self, case_ids):
        """Boot (or load from cache) every case id not booted yet; 2 at a time."""
        self.setup()
        todo = [CASE_BY_ID[i] for i in sorted(set(case_ids)) if i not in self.results and i not in self.errors]
        if not todo:
            return
        jobs = [(self.kernels[c.kernel], self.profiles[c.profile], c.cmdline) for c in todo]
        results, errors = boot.boot_many(jobs, workers=2)
        for i, c in enumerate(todo):
            if i in results:
                self.results[c.id] = results[i]
            else:
                self.errors[c.id] = errors[i]

    def capture(self, case_id):
        if case_id not in self.results and case_id not in self.errors:
            self.boot_cases(self.needed | {case_id})
        if case_id in self.errors:
            pytest.fail(self.errors[case_id], pytrace=False)
        return capture.parse_capture(self.results[case_id].text, source=case_id)

    def boot_extra(self, jobs):
        """Boot (kernel id, profile id, cmdline) jobs outside the matrix (plan verification)."""
        self.setup()
        todo = [j for j in dict.fromkeys(jobs) if j not in self.extra_results]
        if todo:
            results, errors = boot.boot_many([(self.kernels[k], self.profiles[p], c) for k, p, c in todo], workers=2)
            for i, j in enumerate(todo):
                self.extra_results[j] = results.get(i) or errors[i]
        return {j: self.extra_results[j] for j in jobs}

    def record(self, kind, case_id, agreed, **details):
        self.outcomes[f"{kind}:{case_id}"] = {"kind": kind, "case": case_id, "agreed": agreed, **details}

    def summary(self):
        by_kind = {}
        for o in self.outcomes.values():
            k = by_kind.setdefault(o["kind"], {"cases": 0, "agreed": 0, "disagreed": 0})
            k["cases"] += 1
            k["agreed" if o["agreed"] else "disagreed"] += 1
        every = list(self.results.values()) + list(self.extra_results.values())
        booted = [r for r in every if isinstance(r, boot.BootResult)]
        return {
            "duration_s": round(time.monotonic() - self.start, 1),
            "matrix_cases": len(CASES),
            "unpruned_matrix_cases": matrix.full_size(),
            "boots_cold": sum(1 for r in booted if not r.cached),
            "boots_cached": sum(1 for r in booted if r.cached),
            "boot_errors": self.errors,
            # what the registry served this run (tests/data/kernels.yaml names branches, not builds)
            "kernels": {
                k.id: {n: k.meta.get(n) for n in ("package", "debian_version", "release", "suite", "fallback_used")}
                for k in (self.kernels or {}).values()
            },
            "by_kind": by_kind,
            "disagreed": [o for o in self.outcomes.values() if not o["agreed"]],
            "verdicts": dict(
                Counter(
                    o.get("observed") or "(no vmscape file)" for o in self.outcomes.values() if o["kind"] == "predict"
                )
            ),
        }


_RUN = OracleRun()


@pytest.fixture(scope="session")
def oracle():
    return _RUN.setup()


def pytest_collection_finish(session):
    for item in session.items:
        cs = getattr(item, "callspec", None)
        if cs and "case_id" in cs.params:
            _RUN.needed.add(cs.params["case_id"])


def pytest_terminal_summary(terminalreporter):
    if not _RUN.results and not _RUN.outcomes:
        return
    s = _RUN.summary()
    path = cache_dir() / "oracle-summary.json"
    path.write_text(json.dumps(s, indent=1, default=str) + "\n")
    tr = terminalreporter
    tr.section("vmscape oracle")
    tr.write_line(
        f"matrix {s['matrix_cases']} cases (unpruned {s['unpruned_matrix_cases']}); "
        f"boots: {s['boots_cold']} cold, {s['boots_cached']} cached, {len(s['boot_errors'])} errors; "
        f"{s['duration_s']}s"
    )
    for kid, k in sorted(s["kernels"].items()):
        tr.write_line(f"  kernel {kid:13} {k['package']} {k['debian_version']} ({k['suite']})")
    for kind, k in sorted(s["by_kind"].items()):
        tr.write_line(f"  {kind:10} {k['cases']:4} cases  {k['agreed']:4} agreed  {k['disagreed']:4} disagreed")
    for verdict, n in sorted(s["verdicts"].items()):
        tr.write_line(f"  {n:4} x {verdict}")
    tr.write_line(f"  summary: {path}")
