"""boot_default: make an installed kernel the next boot through what pins the default.

Scratch roots are the debian12-skylake snapshot (a real Debian grub.cfg with entries for
6.1.0-56-amd64 and 6.1.0-55-amd64). grubenv is written by the real grub-editenv. Where grub.cfg
must be regenerated, a stand-in update-grub in the scratch root (tests/unit/conftest.py
direct_regen) copies GRUB_DEFAULT into grub.cfg's ``set default=`` line as grub-mkconfig's
00_header does: grub-mkconfig itself cannot run on a scratch root without a chroot.
"""

import os
import shutil
import stat
from pathlib import Path

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.apply import execute
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import command_runner as _command_runner
from ansible_collections.fleetsec.vmscape.plugins.module_utils._upgrade import boot_default as bd

REPO = Path(__file__).resolve().parents[5]
SNAP = REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake"
UUID = "5c7f5a8e-3f0e-4f52-9a49-1d2f5c0d7e11"
NEW = "6.1.0-55-amd64"
ENTRY = f"gnulinux-advanced-{UUID}>gnulinux-{NEW}-advanced-{UUID}"

STAND_IN = """#!/bin/sh
# stand-in for update-grub (see the module docstring): GRUB_DEFAULT -> grub.cfg's default line
root=$(dirname "$(dirname "$(dirname "$0")")")
. "$root/etc/default/grub"
for f in "$root"/etc/default/grub.d/*.cfg; do [ -e "$f" ] && . "$f"; done
sed -i "s|^   set default=\\"[^$]*\\"$|   set default=\\"$GRUB_DEFAULT\\"|" "$root/boot/grub/grub.cfg"
"""


def runner(argv):
    return _command_runner.run(argv, 60)


@pytest.fixture
def root(tmp_path, direct_regen):
    r = tmp_path / "root"
    shutil.copytree(SNAP, r, symlinks=True)
    (r / "boot" / f"vmlinuz-{NEW}").write_bytes(b"image")
    sbin = r / "usr" / "sbin"
    sbin.mkdir(parents=True)
    (sbin / "update-grub").write_text(STAND_IN)
    (sbin / "update-grub").chmod(0o755 | stat.S_IXUSR)
    return r


def test_numeric_default_is_replaced_by_the_entry_id_and_regenerated(root):
    assert bd.next_boot_release(str(root)) == "6.1.0-56-amd64"
    plan, info = bd.build_plan(str(root), NEW)
    assert info["method"] == "GRUB_DEFAULT" and info["entry"] == ENTRY and info["previous"] == "6.1.0-56-amd64"
    res = execute(plan, runner, backup=True)
    grub = (root / "etc" / "default" / "grub").read_text()
    assert f'GRUB_DEFAULT="{ENTRY}"\n' in grub
    assert "GRUB_DEFAULT=0" not in grub
    assert bd.next_boot_release(str(root)) == NEW
    assert sorted(res["backups"]) == [str(root / "boot" / "grub" / "grub.cfg"), str(root / "etc" / "default" / "grub")]


def test_already_the_default_changes_nothing(root):
    plan, info = bd.build_plan(str(root), "6.1.0-56-amd64")
    assert plan is None and info["method"] == "already"


def test_saved_default_goes_to_grubenv_with_the_real_grub_editenv(root):
    if not shutil.which("grub-editenv") and os.environ.get("CI") != "true":
        pytest.skip("grub-editenv missing")
    grub = root / "etc" / "default" / "grub"
    grub.write_text(grub.read_text().replace("GRUB_DEFAULT=0", "GRUB_DEFAULT=saved"))
    cfg = root / "boot" / "grub" / "grub.cfg"
    cfg.write_text(cfg.read_text().replace('   set default="0"', '   set default="${saved_entry}"'))
    before_cfg = cfg.read_bytes()
    plan, info = bd.build_plan(str(root), NEW)
    assert info["method"] == "grubenv saved_entry"
    execute(plan, runner, backup=True)
    env = (root / "boot" / "grub" / "grubenv").read_bytes()
    assert f"saved_entry={ENTRY}\n".encode() in env
    assert len(env) == 1024
    assert cfg.read_bytes() == before_cfg  # nothing regenerated
    assert bd.next_boot_release(str(root)) == NEW


def test_default_built_from_a_variable_is_refused_naming_file_and_line(root):
    grub = root / "etc" / "default" / "grub"
    text = grub.read_text().replace("GRUB_DEFAULT=0", 'MINE=2\nGRUB_DEFAULT="$MINE"')
    grub.write_text(text)
    line = text.splitlines().index('GRUB_DEFAULT="$MINE"') + 1
    with pytest.raises(BootConfigError, match=rf"grub:{line}: GRUB_DEFAULT=\"\$MINE\" is built from variables"):
        bd.build_plan(str(root), NEW)


def test_last_assignment_in_a_drop_in_is_the_one_edited(root):
    d = root / "etc" / "default" / "grub.d"
    d.mkdir()
    (d / "50-pin.cfg").write_text("# pinned by the operator\nGRUB_DEFAULT='1>2'\n")
    plan, _info = bd.build_plan(str(root), NEW)
    execute(plan, runner, backup=False)
    assert (d / "50-pin.cfg").read_text() == f'# pinned by the operator\nGRUB_DEFAULT="{ENTRY}"\n'
    assert "GRUB_DEFAULT=0" in (root / "etc" / "default" / "grub").read_text()
    assert bd.next_boot_release(str(root)) == NEW


def test_a_kernel_without_a_menu_entry_is_refused(root):
    with pytest.raises(BootConfigError, match=r"has no menu entry for 7\.0\.0-1-amd64"):
        bd.build_plan(str(root), "7.0.0-1-amd64")


def test_regeneration_that_does_not_give_the_kernel_restores_every_file(root):
    (root / "usr" / "sbin" / "update-grub").write_text("#!/bin/sh\nexit 0\n")  # regenerates nothing
    before = (root / "etc" / "default" / "grub").read_bytes()
    plan, _info = bd.build_plan(str(root), NEW)
    with pytest.raises(BootConfigError, match=f"next boot is 6.1.0-56-amd64, not {NEW}"):
        execute(plan, runner, backup=True)
    assert (root / "etc" / "default" / "grub").read_bytes() == before
    assert bd.next_boot_release(str(root)) == "6.1.0-56-amd64"
