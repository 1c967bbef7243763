"""The check after update-grub/grub-mkconfig (``backends.grub.check_generated``, reached through a
plan's ``verify_regen``) and the regeneration a restore asks of the GRUB backend (found by
`make mutation`: only the end-to-end module tests ran them).

grub.cfg is written by hand the way grub-mkconfig writes it (a ``### BEGIN /etc/grub.d/10_linux
###`` section, tab-indented ``linux`` lines, 40_custom after or before it) and stands in for what
the regeneration would have written; kernel images are small non-empty files. Nothing is run: the
stand-in update-grub only has to exist, and chroot (root and mounted /proc, /sys, /dev) is declared
possible.
"""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as grub_backend
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import registry as backends
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request

SET = build_request({"vmscape": "ibpb"}, [])
BEGIN, END = "### BEGIN /etc/grub.d/10_linux ###\n", "### END /etc/grub.d/10_linux ###\n"


def menuentry(title, release, args):
    return f"menuentry '{title}' --class debian {{\n\tlinux\t/boot/vmlinuz-{release} root=/dev/vda1 ro {args}\n}}\n"


def custom(release):
    return (
        "### BEGIN /etc/grub.d/40_custom ###\n"
        f"menuentry 'Custom' {{\n\tlinux\t/boot/vmlinuz-{release} root=/dev/vda1 ro\n}}\n"
        "### END /etc/grub.d/40_custom ###\n"
    )


@pytest.fixture
def root(tmp_path, monkeypatch):
    r = tmp_path / "root"
    for d in ("etc/default", "boot/grub", "usr/sbin"):
        (r / d).mkdir(parents=True)
    (r / "etc/default/grub").write_text('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="console=ttyS0"\n')
    for rel in ("6.1.0-28-amd64", "6.1.0-27-amd64"):
        (r / f"boot/vmlinuz-{rel}").write_bytes(b"K")
    (r / "usr/sbin/update-grub").write_text("#!/bin/sh\nexit 1\n")
    (r / "usr/sbin/update-grub").chmod(0o755)
    (r / "boot/grub/grub.cfg").write_text(
        BEGIN
        + menuentry("Debian GNU/Linux", "6.1.0-28-amd64", "console=ttyS0")
        + menuentry("Debian GNU/Linux, with Linux 6.1.0-27-amd64", "6.1.0-27-amd64", "console=ttyS0")
        + END
    )
    monkeypatch.setattr(grub_backend, "chroot_problem", lambda r: None)
    return r


def regenerated(root, text):
    (root / "boot/grub/grub.cfg").write_text(text)


def test_a_regenerated_menu_carrying_the_change_passes(root):
    plan = grub_backend.build_plan(str(root), SET)
    assert (plan.effective_before, [c.argv for c in plan.regen]) == (
        "console=ttyS0",
        [["chroot", str(root), "update-grub"]],
    )
    regenerated(root, BEGIN + menuentry("Debian GNU/Linux", "6.1.0-28-amd64", "console=ttyS0 vmscape=ibpb") + END)
    assert plan.verify_regen() == ([], [])


def test_a_menu_that_lost_the_default_kernel_and_the_change_is_refused(root):
    plan = grub_backend.build_plan(str(root), SET)
    regenerated(root, BEGIN + menuentry("Debian GNU/Linux", "6.1.0-27-amd64", "console=ttyS0") + END)
    assert plan.verify_regen() == (
        [
            f"{root}/boot/grub/grub.cfg:3: vmscape occurs 0 times (want exactly once)",
            "the regenerated boot menu has no entry for 6.1.0-28-amd64 (/boot/vmlinuz-6.1.0-28-amd64), the kernel "
            "the host booted by default before",
            "the default entry of the regenerated boot menu does not carry the configured command line in order "
            "(missing: vmscape=ibpb)",
        ],
        [],
    )


def test_a_custom_default_entry_is_named_not_checked_unless_nothing_was_generated(root):
    plan = grub_backend.build_plan(str(root), SET)
    regenerated(
        root,
        custom("6.1.0-28-amd64") + BEGIN + menuentry("Debian", "6.1.0-28-amd64", "console=ttyS0 vmscape=ibpb") + END,
    )
    assert plan.verify_regen() == (
        [],
        [
            "the default entry of the regenerated boot menu is not one the GRUB defaults write (a custom entry?); "
            "its command line was not checked"
        ],
    )
    regenerated(root, BEGIN + END + custom("6.1.0-28-amd64"))  # no 10_linux entry at all
    assert plan.verify_regen() == (
        [
            "the default entry of the regenerated boot menu does not carry the configured command line in order "
            "(missing: console=ttyS0 vmscape=ibpb)"
        ],
        [f"{root}/boot/grub/grub.cfg has no Linux entries (no kernel installed?); nothing to check"],
    )


def test_a_restore_regenerates_and_checks_the_same_way(root):
    plan = Plan("grub", str(root))
    assert backends.get("grub").regenerate(str(root), plan, SET) == "/boot/grub/grub.cfg"
    assert [c.argv for c in plan.regen] == [["chroot", str(root), "update-grub"]]
    regenerated(root, BEGIN + menuentry("Debian GNU/Linux", "6.1.0-28-amd64", "console=ttyS0") + END)
    assert plan.verify_regen() == ([f"{root}/boot/grub/grub.cfg:3: vmscape occurs 0 times (want exactly once)"], [])
