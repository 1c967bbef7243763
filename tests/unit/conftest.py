"""Fixtures shared by the unit tests (tests/conftest.py puts the collection on sys.path first)."""

import os

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils import _boot_backend, _grub_defaults, _systemd_boot


@pytest.fixture
def direct_regen(monkeypatch):
    """Run regeneration stand-ins in the scratch root directly (no chroot)."""
    monkeypatch.setattr(_boot_backend, "chroot_problem", lambda root: None)
    for mod in (_grub_defaults, _systemd_boot):
        monkeypatch.setattr(mod, "chroot_problem", lambda root: None)
        monkeypatch.setattr(
            mod, "command_for_root", lambda root, argv: [os.path.join(root, "usr", "sbin", argv[0]), *argv[1:]]
        )
