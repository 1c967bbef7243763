"""The next-boot kernel's image check (issue 11): an image that is empty, unreadable, not an x86
kernel, shorter than its own boot header says, or without a modules directory is flagged in the
facts, and the plan never schedules a reboot into it."""

import os
import shutil
import struct

import pytest
from facts_fixtures import SNAPSHOTS

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.boot_image_check import check_boot_kernel
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import collect_facts
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import make_plan

REL = "6.1.0-56-amd64"
IMAGE = f"/boot/vmlinuz-{REL}"


@pytest.fixture
def root(tmp_path):
    """debian12-skylake booted with vmscape=off: its plan needs a reboot (the case that matters)."""
    dst = tmp_path / "root"
    shutil.copytree(SNAPSHOTS / "debian12-skylake", dst, symlinks=True)
    cmdline = dst / "proc/cmdline"
    cmdline.write_text(cmdline.read_text().strip() + " vmscape=off\n")
    (dst / "sys/devices/system/cpu/vulnerabilities/vmscape").write_text("Vulnerable\n")
    return dst


def plan_of(root):
    return make_plan(collect_facts(str(root)))


def test_sane_image_passes(root):
    check = check_boot_kernel(str(root), REL, IMAGE)
    assert check == {
        "ok": True,
        "problems": [],
        "size": (root / IMAGE.lstrip("/")).stat().st_size,
        "modules_dir": f"/lib/modules/{REL}",
    }
    plan = plan_of(root)
    assert (plan["action"], plan["reboot_required"]) == ("set", True)


def replace(root, data):
    path = root / IMAGE.lstrip("/")
    path.unlink()
    path.write_bytes(data)
    return path


def truncated_by_syssize(root):
    data = bytearray((root / IMAGE.lstrip("/")).read_bytes())
    struct.pack_into("<I", data, 0x1F4, (len(data) + 4096) // 16)  # header promises more than the file
    replace(root, bytes(data))


CASES = {
    "zero bytes": (lambda r: replace(r, b""), f"{IMAGE}: 0 bytes"),
    "not a kernel": (lambda r: replace(r, b"#!/bin/sh\necho hi\n" * 100), f"{IMAGE}: not an x86 kernel image"),
    "cut short": (
        lambda r: replace(r, (r / IMAGE.lstrip("/")).read_bytes()[:1100]),
        f"{IMAGE}: truncated: its compressed kernel ends at byte",
    ),
    "syssize past the end": (truncated_by_syssize, f"{IMAGE}: truncated: its boot header says"),
    "a directory": (lambda r: (os.unlink(r / IMAGE.lstrip("/")), (r / IMAGE.lstrip("/")).mkdir()), "not found"),
    "dangling link": (
        lambda r: (os.unlink(r / IMAGE.lstrip("/")), os.symlink("/boot/gone", r / IMAGE.lstrip("/"))),
        "not found",
    ),
    "no modules dir": (lambda r: shutil.rmtree(r / "lib/modules" / REL), f"no modules directory for {REL}"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_next_boot_kernel_is_flagged_and_never_rebooted_into(root, case):
    damage, problem = CASES[case]
    damage(root)
    facts = collect_facts(str(root))
    check = facts["boot_kernel"]["image_check"]
    plan = make_plan(facts)
    assert plan["action"] == "blocked"
    assert plan["reboot_required"] is False and plan["cmdline"] == {}
    text = " | ".join(plan["reasons"])
    if problem == "not found":
        # grub.cfg names an image that is not a file: the boot entry reader already reports it
        assert check["ok"] is False and check["problems"] == [f"no image found for {REL}"]
        assert f"never rebooting into {REL}: no image found for {REL}" in text
    else:
        assert check["ok"] is False and any(problem in p for p in check["problems"]), check
        assert f"never rebooting into {REL}: " in text and problem in text


def test_unknown_kernel_is_not_checked(tmp_path):
    assert check_boot_kernel(str(tmp_path), None, None) == {
        "ok": None,
        "problems": ["the next-boot kernel is unknown"],
        "size": None,
        "modules_dir": None,
    }


def test_usr_lib_modules_counts(tmp_path):
    (tmp_path / "usr/lib/modules/7.3.4+deb13-amd64").mkdir(parents=True)
    check = check_boot_kernel(str(tmp_path), "7.3.4+deb13-amd64", None)
    assert check["modules_dir"] == "/usr/lib/modules/7.3.4+deb13-amd64"
    assert check["problems"] == ["no image found for 7.3.4+deb13-amd64"]


def test_fifo_image_is_not_opened(root):
    path = root / IMAGE.lstrip("/")
    path.unlink()
    os.mkfifo(path)  # opening it for reading would block forever
    check = check_boot_kernel(str(root), REL, IMAGE)
    assert check["problems"] == [f"{IMAGE}: not a regular file"]
