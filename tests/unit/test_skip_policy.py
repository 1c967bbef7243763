"""The suite's policies, proven on a throw-away suite run by a real pytest in a subprocess.

tests/skip_policy.py: under CI=true every kind of skip (a ``skipif`` mark, ``pytest.skip``,
``importorskip``, the ``needs_*`` helpers, ``missing``) fails with its reason; outside CI the
same tests skip. tests/hypothesis_profiles.py: CI=true selects the derandomized ``ci`` profile,
otherwise the larger random ``dev`` profile. The throw-away suite's conftest imports the same
two modules tests/conftest.py uses.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import hypothesis_profiles
from skip_policy import pytest_runtest_makereport
hypothesis_profiles.load()
"""

SUITE = """
import os
import pytest
from hypothesis import given, settings, strategies as st
from skip_policy import missing, needs_path, needs_root, needs_tool

@pytest.mark.skipif(True, reason="REASON-skipif")
def test_skipif_mark():
    pass

def test_skip_call():
    pytest.skip("REASON-skip-call")

def test_importorskip():
    pytest.importorskip("no_such_module_fleetsec", reason="REASON-import")

@needs_tool("no-such-program-fleetsec", "no-such-package")
def test_needs_tool():
    pass

@needs_path("/no/such/path/fleetsec", "other-package")
def test_needs_path():
    pass

_geteuid = os.geteuid
os.geteuid = lambda: 1000  # as if not root, whoever runs this
not_root = needs_root("REASON-root")
os.geteuid = _geteuid

@not_root
def test_needs_root():
    pass

def test_missing():
    missing("REASON-missing")

def test_runs():
    assert 1 + 1 == 2

@given(st.integers())
def test_profile(n):
    ci = os.environ.get("CI") == "true"
    assert settings.default.derandomize is ci
    assert settings.default.max_examples == (100 if ci else 200)
    assert settings.default.database is None or not ci
"""

REASONS = [
    "REASON-skipif",
    "REASON-skip-call",
    "REASON-import",
    "no-such-program-fleetsec not found on PATH (Debian package no-such-package",
    "/no/such/path/fleetsec missing (Debian package other-package",
    "not root: REASON-root",
    "REASON-missing",
]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    d = tmp_path_factory.mktemp("policy")
    (d / "conftest.py").write_text(CONFTEST)
    (d / "test_policy_suite.py").write_text(textwrap.dedent(SUITE))
    return d


def run(suite, ci):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE", "PYTEST_ADDOPTS")}
    if ci:
        env["CI"] = "true"
    plugins = ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:pytest11.testinfra"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", *plugins, str(suite)],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_under_ci_every_skip_fails_with_its_reason(suite):
    rc, out = run(suite, ci=True)
    assert rc == 1, out
    # a skipif mark acts in the setup phase, so pytest reports those four as errors
    assert "3 failed, 2 passed, 4 errors" in out, out
    for reason in REASONS:
        assert f"CI=true: a test may not skip: {reason}" in out, (reason, out)
    assert "skipped" not in out.splitlines()[-1], out


def test_outside_ci_the_same_tests_skip(suite):
    rc, out = run(suite, ci=False)
    assert rc == 0, out
    assert "2 passed, 7 skipped" in out, out
    assert "a test may not skip" not in out, out
    for reason in REASONS:
        assert reason in out, (reason, out)
