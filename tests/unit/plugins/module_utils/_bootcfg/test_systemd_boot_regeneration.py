"""systemd-boot's regeneration, exactly: which kernel-install / proxmox-boot-tool commands a change
and a restore run, and which entry files they are expected to rewrite (the apply path backs those
up first). Found by `make mutation` after issue 13 split the backend: only the end-to-end
kernel_cmdline tests reached these lines.

The commands run under chroot for a root other than /, so the root's chroot check is stood in for
(a scratch directory has no /proc, /sys, /dev mounted); nothing is run here, the plan is read.
"""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import (
    systemd_boot as _systemd_boot,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request

SET = build_request({"vmscape": "ibpb"}, [])


def make_root(tmp_path, files):
    for rel, text in files.items():
        p = tmp_path / rel
        if rel.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            if "/bin/" in rel or "/sbin/" in rel:
                p.chmod(0o755)
    return str(tmp_path)


KERNELS = {
    "etc/kernel/cmdline": "root=/dev/vda2 ro\n",
    "usr/bin/kernel-install": "#!/bin/sh\n",
    "boot/efi/loader/loader.conf": "timeout 3\n",
    "boot/efi/loader/entries/": "",
    "lib/modules/6.1.0-28-amd64/": "",  # image and initrd in /boot
    "boot/vmlinuz-6.1.0-28-amd64": "",
    "boot/initrd.img-6.1.0-28-amd64": "",
    "usr/lib/modules/7.3.4+deb13-amd64/vmlinuz": "",  # image beside its modules, no initrd
    "boot/vmlinuz-6.9.0-gone": "",  # modules removed: kernel-install would refuse it
}


@pytest.fixture
def chroot_ok(monkeypatch):
    monkeypatch.setattr(_systemd_boot, "chroot_problem", lambda root: None)


def test_kernel_install_adds_every_kernel_with_modules(tmp_path, chroot_ok):
    root = make_root(tmp_path, KERNELS)
    plan = _systemd_boot.build_plan(root, SET)
    assert [c.argv for c in plan.regen] == [
        [
            "chroot",
            root,
            "kernel-install",
            "add",
            "6.1.0-28-amd64",
            "/boot/vmlinuz-6.1.0-28-amd64",
            "/boot/initrd.img-6.1.0-28-amd64",
        ],
        ["chroot", root, "kernel-install", "add", "7.3.4+deb13-amd64", "/usr/lib/modules/7.3.4+deb13-amd64/vmlinuz"],
    ]
    # the entries kernel-install writes, backed up before it runs
    for c in plan.regen:
        assert c.touch_globs == [(f"{root}/boot/efi/loader/entries", "*.conf")]
    assert plan.regen_skipped is None and callable(plan.verify_regen)


def test_proxmox_boot_tool_is_expected_to_rewrite_the_entries(tmp_path, chroot_ok):
    root = make_root(
        tmp_path,
        {
            **KERNELS,
            "etc/kernel/proxmox-boot-uuids": "1234\n",
            "usr/sbin/proxmox-boot-tool": "#!/bin/sh\n",
            "boot/loader/entries/": "",
        },
    )
    plan = _systemd_boot.build_plan(root, SET)
    assert [c.argv for c in plan.regen] == [["chroot", root, "proxmox-boot-tool", "refresh"]]
    # bootctl's order of the ESP's places: /boot before /boot/efi
    assert plan.regen[0].touch_globs == [
        (f"{root}/boot/loader/entries", "*.conf"),
        (f"{root}/boot/efi/loader/entries", "*.conf"),
    ]


def test_a_restore_regenerates_like_a_change(tmp_path, chroot_ok):
    """restore's plan comes from the journal; the backend only adds the regeneration, the same one."""
    root = make_root(tmp_path, KERNELS)
    change = _systemd_boot.build_plan(root, SET)
    restore = Plan("systemd-boot", root)
    restore.expected_cmdline = lambda: ["root=/dev/vda2", "ro", "vmscape=ibpb"]
    _systemd_boot.BACKEND.regenerate(root, restore, SET)
    assert [c.argv for c in restore.regen] == [c.argv for c in change.regen]
    assert [c.touch_globs for c in restore.regen] == [c.touch_globs for c in change.regen]
    assert restore.regen_skipped is None and callable(restore.verify_regen)


def test_a_root_not_prepared_for_chroot_is_not_regenerated(tmp_path, monkeypatch):
    root = make_root(tmp_path, KERNELS)
    monkeypatch.setattr(_systemd_boot, "chroot_problem", lambda r: f"{r} is not prepared for chroot")
    plan = Plan("systemd-boot", root)
    _systemd_boot.BACKEND.regenerate(root, plan, SET)
    assert plan.regen == [] and plan.regen_skipped == f"{root} is not prepared for chroot"
    assert plan.verify_regen is None
