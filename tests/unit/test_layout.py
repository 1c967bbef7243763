"""The unit tests mirror the code (issue 13; tests/unit/conftest.py, docs/testing.md).

- tests/unit/plugins/<kind>/<package>/ exists only for a plugins/<kind>/<package>/ that exists, so a
  test moves with the code it tests instead of staying behind under an old name;
- a test of a module (tests/unit/plugins/modules/) is named after the module it runs;
- tests/unit/tools/test_<name>_*.py test tools/**/<name> (a directory or a .py file);
- the only test files directly in tests/unit are the collection-wide ones named below (the layout,
  the built collection's contents, the option sources, the suite's skip policy) and the
  kernel_cmdline helpers' own tests.
"""

from pathlib import Path

UNIT = Path(__file__).resolve().parent
REPO = UNIT.parents[1]
PLUGINS = REPO / "plugins"
TOP_LEVEL = {
    "test_layout.py",
    "test_collection_contents.py",  # builds the collection (tools/collection_contents.py, galaxy.yml)
    "test_option_sources.py",  # the role's specs, its defaults, every module's docs and specs
    "test_kernel_cmdline_support.py",  # helpers the kernel_cmdline tests share, and their own tests
    "test_skip_policy.py",  # the suite's own rule (tests/skip_policy.py): no silent skip under CI=true
}
# tests of modules that run more than one module side by side
CROSS_MODULE = {"test_bootcfg_agreement.py"}  # vmscape_facts and kernel_cmdline on the same corpus


def test_only_collection_wide_tests_at_the_top():
    assert {p.name for p in UNIT.glob("test_*.py")} <= TOP_LEVEL


def test_plugin_test_directories_name_existing_code():
    stale = []
    for d in sorted((UNIT / "plugins").rglob("*")):
        if d.is_dir() and d.name != "__pycache__":
            rel = d.relative_to(UNIT / "plugins")
            if not (PLUGINS / rel).is_dir():
                stale.append(str(rel))
    assert stale == []


def test_plugin_tests_live_in_a_package_directory():
    """tests/unit/plugins/<kind>/ holds only the tests of <kind>'s top-level files (modules, ...)."""
    loose = [
        str(p.relative_to(UNIT))
        for p in (UNIT / "plugins").rglob("test_*.py")
        if p.parent.name in ("module_utils", "plugin_utils")
    ]
    assert loose == []


def test_module_tests_are_named_after_a_module():
    modules = sorted((p.stem for p in (PLUGINS / "modules").glob("*.py")), key=len, reverse=True)
    orphans = [
        p.name
        for p in (UNIT / "plugins" / "modules").glob("test_*.py")
        if p.name not in CROSS_MODULE
        and not any(p.stem == "test_" + m or p.stem.startswith("test_" + m + "_") for m in modules)
    ]
    assert orphans == []


def test_tool_tests_name_a_tool():
    tools = {p.stem for p in (REPO / "tools").rglob("*") if p.is_dir() or p.suffix == ".py"}
    orphans = [p.name for p in (UNIT / "tools").glob("test_*.py") if p.stem[len("test_") :].split("_")[0] not in tools]
    assert orphans == []


def test_package_init_files_under_plugins_are_empty():
    """ansible-test sanity's empty-init check (ansible-core 2.16, the floor CI tests) requires every
    __init__.py under plugins/modules and plugins/module_utils to be empty; the newest ansible-core
    no longer checks it, so `make sanity` alone passed a backends/__init__.py that held the
    registry and `make compat` failed (ci-fresh, 2026-12-01)."""
    full = [
        str(p.relative_to(REPO))
        for kind in ("modules", "module_utils")
        for p in sorted((PLUGINS / kind).rglob("__init__.py"))
        if p.stat().st_size
    ]
    assert full == []
