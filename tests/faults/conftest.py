"""Fault-injection suite (``make faults``, part of ``make test``): see tests/faults/README.md.

Needs root (mount namespaces, tmpfs, mknod). Without root every test skips - except under
CI=true, where a skip would hide the suite, so it fails instead.

Each test records a tally (fault class, runs, data lost, unbootable outcomes, clear errors);
at the end the table is printed and written to ``$FAULTS_REPORT`` (default
``build/faults-report.json``). The machine's own /etc/default, /boot, /var/lib/fleetsec-vmscape
and /etc/kernel are checksummed before and after the session and must not change.
"""

import hashlib
import itertools
import json
import os
import sys
from pathlib import Path

import pytest
from skip_policy import missing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness

REPORT = Path(os.environ.get("FAULTS_REPORT", str(harness.REPO / "build" / "faults-report.json")))
ROWS_DIR = REPORT.parent / "faults-rows"
_SEQ = itertools.count()
KEYS = ("injected", "runs", "data_lost", "unbootable", "clear_errors", "succeeded")


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controlling process (also without xdist)
        if ROWS_DIR.exists():
            for f in ROWS_DIR.iterdir():
                f.unlink()
        ROWS_DIR.mkdir(parents=True, exist_ok=True)


def _rows():
    """The tallies of every test (and xdist worker), rows of one fault class added up."""
    if not ROWS_DIR.exists():
        return []
    out = {}
    for f in sorted(ROWS_DIR.iterdir()):
        r = json.loads(f.read_text())
        if r["fault"] not in out:
            out[r["fault"]] = r
            continue
        have = out[r["fault"]]
        for k in KEYS:
            have[k] += r[k]
        have["notes"] = have.get("notes", []) + r.get("notes", [])
    return [out[k] for k in sorted(out)]


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(autouse=True)
def _needs_root():
    if os.geteuid() != 0:
        missing("the fault suite needs root (mount namespaces, tmpfs)")  # fails under CI=true


def _real_state():
    out = {}
    for top in ("/etc/default", "/boot", "/etc/kernel", "/var/lib/fleetsec-vmscape"):
        if not os.path.exists(top):
            out[top] = None
            continue
        for dirpath, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                p = os.path.join(dirpath, name)
                try:
                    with open(p, "rb") as f:
                        out[p] = hashlib.sha256(f.read()).hexdigest()
                except OSError as e:
                    out[p] = f"unreadable: {e.errno}"
            out[dirpath] = sorted(dirs + files)
    return out


@pytest.fixture(scope="session", autouse=True)
def machine_untouched():
    before = _real_state()
    yield
    assert _real_state() == before, "the machine's own boot configuration changed"


@pytest.fixture
def tally():
    made = []

    def make(fault, tried):
        t = harness.Tally(fault, tried)
        made.append(t)
        return t

    yield make
    ROWS_DIR.mkdir(parents=True, exist_ok=True)
    for t in made:
        name = "{}-{}-{}.json".format(t.fault.replace("/", "_").replace(" ", "_"), os.getpid(), next(_SEQ))
        (ROWS_DIR / name).write_text(json.dumps(t.as_dict()) + "\n")


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):
        return
    rows = _rows()
    if rows:
        REPORT.write_text(json.dumps({"rows": rows}, indent=1) + "\n")


def pytest_terminal_summary(terminalreporter):
    rows = _rows()
    if not rows:
        return
    tr = terminalreporter
    tr.section("fault injection: what was tried and what held")
    fmt = "%-34s %8s %6s %9s %10s %12s %9s"
    tr.write_line(fmt % ("fault", "injected", "runs", "data lost", "unbootable", "clear errors", "succeeded"))
    totals = [0] * len(KEYS)
    for r in rows:
        tr.write_line(fmt % ((r["fault"], *tuple(r[k] for k in KEYS))))
        for i, k in enumerate(KEYS):
            totals[i] += r[k]
    tr.write_line(fmt % ("total", *totals))
    tr.write_line(f"report: {REPORT}")
