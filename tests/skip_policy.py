"""No silent skips in CI: the one place that decides what a missing tool, privilege or import does.

Outside CI a test whose prerequisite is missing may skip (a developer's laptop without GRUB tools
still runs the rest). Under ``CI=true`` every skip becomes a failure that carries the skip's
reason: CI installs everything tools/system-packages.txt lists and runs as root, so a skip there
means something is broken (a package missing, an import of the code under test failing), not
that the test does not apply. The hook below turns *every* skip into a failure, so a skip added
later cannot slip through either; tests that genuinely do not apply are not generated at all.

Use the helpers instead of hand-written ``skipif`` so that every reason names what to install:

    @needs_tool("grub-editenv", "grub-common")
    def test_x(): ...

    pytestmark = [needs_root("grub-mkconfig and mount namespaces need root")]

tests/conftest.py imports the hook; tests/unit/test_skip_policy.py proves it with a CI=true run
of a deliberately skipping test.
"""

import os
import shutil

import pytest
from hypothesis_profiles import in_ci

PACKAGES_FILE = "tools/system-packages.txt"


def needs_tool(program, package):
    """Skip (fail under CI=true) unless ``program`` is on PATH; the reason names the package."""
    return pytest.mark.skipif(
        shutil.which(program) is None,
        reason=f"{program} not found on PATH (Debian package {package}, listed in {PACKAGES_FILE})",
    )


def needs_path(path, package):
    """Skip (fail under CI=true) unless ``path`` exists; the reason names the package."""
    return pytest.mark.skipif(
        not os.path.exists(path), reason=f"{path} missing (Debian package {package}, listed in {PACKAGES_FILE})"
    )


def needs_root(why):
    """Skip (fail under CI=true) unless running as root."""
    return pytest.mark.skipif(os.geteuid() != 0, reason=f"not root: {why}")


def needs(problem):
    """Skip (fail under CI=true) when ``problem`` (a reason string; None = all there) is set."""
    return pytest.mark.skipif(problem is not None, reason=str(problem))


def missing(reason):
    """For a prerequisite found missing inside a test: skip outside CI, fail under CI=true."""
    if in_ci():
        pytest.fail(f"CI=true: a test may not skip: {reason}", pytrace=False)
    pytest.skip(reason)


def _skip_reason(report):
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, lineno, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skipped phase (skipif mark, pytest.skip, importorskip) is reported as failed."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"CI=true: a test may not skip: {_skip_reason(report)}"
