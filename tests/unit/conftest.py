"""Fixtures shared by the unit tests (tests/conftest.py puts the collection on sys.path first).

The tests mirror the code: tests/unit/plugins/<kind>/<package>/test_*.py for plugins/<kind>/<package>,
tests/unit/tools/ for tools/. Helpers shared across those directories (facts_fixtures, plan_helpers,
distro_fixtures, ...) stay here, importable by name from every test below.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture
def direct_regen(monkeypatch):
    """Run regeneration stand-ins in the scratch root directly (no chroot)."""
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import commands as _commands
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as _grub_backend
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import (
        systemd_boot as _systemd_boot_backend,
    )

    monkeypatch.setattr(_commands, "chroot_problem", lambda root: None)
    for mod in (_grub_backend, _systemd_boot_backend):
        monkeypatch.setattr(mod, "chroot_problem", lambda root: None)
        monkeypatch.setattr(
            mod, "command_for_root", lambda root, argv: [os.path.join(root, "usr", "sbin", argv[0]), *argv[1:]]
        )
