"""collect_facts and the vmscape_facts module end to end on snapshot roots; schema conformance."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from facts_fixtures import CPUINFO, REPO, SNAPSHOTS, build_debian12_skylake, write
from skip_policy import needs_path

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import FactsError, collect_facts

SCHEMA_DOC = REPO / "docs" / "facts-schema.md"
MODULE = REPO / "plugins" / "modules" / "vmscape_facts.py"


def schema():
    text = SCHEMA_DOC.read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    return yaml.safe_load(block)


def assert_same_shape(facts):
    ref = schema()
    assert set(facts) == set(ref)
    for section in ("observation", "cpu", "kernel", "boot_kernel", "cmdline", "bootloader"):
        assert set(facts[section]) == set(ref[section]), section
    assert set(facts["boot_kernel"]["image_check"]) == set(ref["boot_kernel"]["image_check"])
    for tok in facts["cmdline"]["tokens"] or []:
        assert set(tok) == set(ref["cmdline"]["tokens"][0])
    assert (facts["sysfs"] is None) is (facts["sysfs_reason"] is not None)
    assert all(isinstance(v, (str, type(None))) for v in (facts["sysfs"] or {}).values())
    assert isinstance(facts["warnings"], list)
    json.dumps(facts)  # JSON-serialisable


def copy_snapshot(tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(SNAPSHOTS / name, dst, symlinks=True)
    return dst


def test_debian_snapshot():
    facts = collect_facts(str(SNAPSHOTS / "debian12-skylake"))
    assert_same_shape(facts)
    assert facts["schema"] == 2 and facts["warnings"] == []
    obs = facts["observation"]
    assert len(obs["id"]) == 32 and obs["boot_id"] is None and obs["run"] is None  # run: set on the controller
    assert obs["id"] != collect_facts(str(SNAPSHOTS / "debian12-skylake"), probe_image="never")["observation"]["id"]
    cpu = facts["cpu"]
    assert (cpu["vendor"], cpu["family"], cpu["model"], cpu["stepping"]) == ("GenuineIntel", 6, 85, 4)
    assert (cpu["bhi_ctrl"], cpu["bhi_ctrl_source"], cpu["bhi_ctrl_reason"]) == (False, "cpuid_device", None)
    assert facts["kernel"] == {
        "release": "6.1.0-56-amd64",
        "version": "6.1.192",
        "version_source": "proc_version",
        "proc_version": (
            "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) "
            "12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
        ),
        "distro_version": "6.1.192-2",
    }
    bk = facts["boot_kernel"]
    assert (bk["release"], bk["source"], bk["is_running"], bk["image"]) == (
        "6.1.0-56-amd64",
        "grub_cfg",
        True,
        "/boot/vmlinuz-6.1.0-56-amd64",
    )
    # Skylake has no BHI_CTRL: BHB clear cannot apply, so auto does not decompress for it.
    assert (bk["knows_vmscape"], bk["bhb_series"], bk["config_mitigation_vmscape"]) == (True, None, True)
    assert any("BHB series not probed" in e for e in bk["evidence"])
    assert (bk["version"], bk["version_source"]) == ("6.1.192", "image_header")
    always = collect_facts(str(SNAPSHOTS / "debian12-skylake"), probe_image="always")["boot_kernel"]
    assert (always["knows_vmscape"], always["bhb_series"]) == (True, False)
    assert bk["probe_errors"] == []
    assert facts["cmdline"]["tokens"][0] == {
        "raw": "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64",
        "name": "BOOT_IMAGE",
        "value": "/boot/vmlinuz-6.1.0-56-amd64",
    }
    assert facts["sysfs"]["vmscape"] == "Mitigation: IBPB before exit to userspace"
    assert facts["bootloader"]["backend"] == "grub"
    assert facts["bootloader"]["configured_cmdline"].endswith("ro console=ttyS0,115200 quiet")
    assert [t["name"] for t in facts["bootloader"]["tokens"]] == ["root", "ro", "console", "quiet"]


def test_rhel_snapshot_next_boot_differs_from_running():
    facts = collect_facts(str(SNAPSHOTS / "rhel9-bls-epyc"), probe_image="auto")
    assert_same_shape(facts)
    bk = facts["boot_kernel"]
    assert (bk["release"], bk["source"], bk["is_running"]) == ("5.14.0-503.el9.x86_64", "grubenv_saved", False)
    assert (bk["knows_vmscape"], bk["bhb_series"]) == (False, False)
    assert not any("decompressed" in e for e in bk["evidence"])  # System.map answered
    assert facts["bootloader"]["backend"] == "grubby"
    assert facts["kernel"]["version_source"] == "release"


def test_snapshot_is_reproducible(tmp_path):
    """The committed snapshot equals what facts_fixtures builds (regenerate with its __main__)."""
    built = build_debian12_skylake(tmp_path / "d")
    for p in sorted(built.rglob("*")):
        rel = p.relative_to(built)
        ref = SNAPSHOTS / "debian12-skylake" / rel
        if p.is_symlink():
            assert os.readlink(p) == os.readlink(ref)
        elif p.is_file():
            assert p.read_bytes() == ref.read_bytes(), rel


def test_bhi_ctrl_part_on_a_g3_kernel(tmp_path):
    from facts_fixtures import G3_STRINGS, compress, cpuid_file, make_bzimage, make_elf, vendor_regs

    root = copy_snapshot(tmp_path, "debian12-skylake")
    (root / "proc/cpuinfo").write_bytes((CPUINFO / "intel-raptorlake.txt").read_bytes())
    cpuid_file(
        root / "dev/cpu/0/cpuid",
        {
            (0, 0): vendor_regs("GenuineIntel", 0x20),
            (1, 0): (0xB0671, 0, 0, 0),
            (7, 0): (2, 0, 0, 0),
            (7, 1): (0, 0, 0, 0),
            (7, 2): (0, 0, 0, 0x17),
        },
    )
    (root / "boot/vmlinuz-6.1.0-56-amd64").write_bytes(make_bzimage(compress("gzip", make_elf(G3_STRINGS))))
    facts = collect_facts(str(root))
    assert facts["cpu"]["bhi_ctrl"] is True
    assert facts["boot_kernel"]["bhb_series"] is True


def test_unknown_vendor_is_not_an_error(tmp_path):
    root = copy_snapshot(tmp_path, "debian12-skylake")
    (root / "proc/cpuinfo").write_bytes((CPUINFO / "unknown-vendor.txt").read_bytes())
    facts = collect_facts(str(root), probe_image="never")
    assert facts["cpu"]["vendor"] == "CentaurHauls"


def test_truncated_cpuinfo_warns(tmp_path):
    root = copy_snapshot(tmp_path, "debian12-skylake")
    (root / "proc/cpuinfo").write_bytes((CPUINFO / "intel-truncated.txt").read_bytes())
    facts = collect_facts(str(root), probe_image="never")
    assert any(w.startswith("/proc/cpuinfo:") and "truncated" in w for w in facts["warnings"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"^cannot read /proc/cpuinfo: No such file or directory$"),
        (b"processor\t: 0\nvendor_id\t: \xff\xfe\n", r"^/proc/cpuinfo:2: not UTF-8 text \(byte 0xff\)"),
        (b"hello world\n", r"^/proc/cpuinfo:1: not a 'key : value' line"),
    ],
)
def test_bad_cpuinfo_fails_naming_file(tmp_path, content, message):
    root = copy_snapshot(tmp_path, "debian12-skylake")
    (root / "proc/cpuinfo").unlink()
    if content is not None:
        (root / "proc/cpuinfo").write_bytes(content)
    with pytest.raises(FactsError, match=message):
        collect_facts(str(root))


def test_missing_everything_but_cpuinfo(tmp_path):
    write(tmp_path, "proc/cpuinfo", (CPUINFO / "kvm-guest.txt").read_bytes())
    facts = collect_facts(str(tmp_path))
    assert_same_shape(facts)
    assert facts["kernel"]["release"] is None
    assert facts["cmdline"] == {
        "raw": None,
        "tokens": None,
        "init_args": None,
        "reason": "/proc/cmdline: absent or unreadable; running cmdline unknown",
    }
    assert facts["boot_kernel"]["release"] is None
    assert facts["boot_kernel"]["image_check"] == {
        "ok": None,
        "problems": ["the next-boot kernel is unknown"],
        "size": None,
        "modules_dir": None,
    }
    assert facts["bootloader"]["configured_cmdline"] is None and facts["bootloader"]["tokens"] is None
    assert facts["bootloader"]["configured_cmdline_reason"].startswith("no boot loader configuration found")
    assert facts["cpu"]["bhi_ctrl_reason"] == "/dev/cpu/0/cpuid: absent in the snapshot root"
    # no vulnerabilities directory: unknown (null + reason), not an empty directory
    assert facts["sysfs"] is None
    assert facts["sysfs_reason"] == "/sys/devices/system/cpu/vulnerabilities: No such file or directory"
    assert len(facts["warnings"]) >= 3


def test_bad_options(tmp_path):
    with pytest.raises(FactsError, match="probe_image must be one of"):
        collect_facts(str(tmp_path), probe_image="maybe")
    with pytest.raises(FactsError, match="is not a directory"):
        collect_facts(str(tmp_path / "nope"))


@needs_path("/proc/cpuinfo", "none: a Linux kernel with procfs mounted")
def test_this_machine():
    facts = collect_facts("/", probe_image="never")
    assert_same_shape(facts)
    assert facts["kernel"]["release"] == os.uname().release


# ---- the module itself, run like Ansible runs it (args file), no controller needed


def run_module(args, check_mode=False):
    argsfile = json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode}})
    env = dict(os.environ, PYTHONPATH=str(REPO / "collections"))
    p = subprocess.run(
        [sys.executable, str(MODULE)], input=argsfile, capture_output=True, text=True, env=env, timeout=120
    )
    return json.loads(p.stdout)


def test_module_success_in_check_mode():
    out = run_module({"root": str(SNAPSHOTS / "debian12-skylake")}, check_mode=True)
    assert out["changed"] is False
    facts = out["ansible_facts"]["vmscape"]
    assert_same_shape(facts)
    assert facts["boot_kernel"]["knows_vmscape"] is True


def test_module_failure_message(tmp_path):
    write(tmp_path, "proc/cpuinfo", b"\x00\x01garbage")
    out = run_module({"root": str(tmp_path)})
    assert out["failed"] is True
    assert out["msg"] == "/proc/cpuinfo:1: binary data (NUL byte), not a cpuinfo file"


def test_module_rejects_bad_choice():
    out = run_module({"probe_image": "sometimes"})
    assert out["failed"] is True and "probe_image" in out["msg"]


def test_paths_are_host_paths():
    facts = collect_facts(str(SNAPSHOTS / "debian12-skylake"))
    text = json.dumps(facts)
    assert str(SNAPSHOTS) not in text.replace(json.dumps(str(SNAPSHOTS / "debian12-skylake"))[1:-1], "", 1)
    assert Path(facts["boot_kernel"]["image"]).is_absolute()
