"""Unit tests of the oracle's serial-capture parser and snapshot writer (tools/oracle)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root: tools/ is not installed

from tools.oracle import capture, snapshot

VULN = "/sys/devices/system/cpu/vulnerabilities"
GOOD = f"""\x1bc SeaBIOS
[    0.000000] Linux version 6.1.0-56-amd64
@@ORACLE BEGIN@@\r
@@ORACLE FILE /proc/cpuinfo@@\r
processor\t: 0\r
vendor_id\t: GenuineIntel\r
cpu family\t: 6\r
model\t\t: 85\r
stepping\t: 4\r
flags\t\t: fpu ibpb ibrs\r
bugs\t\t: spectre_v2 vmscape\r
\r
processor\t: 1\r
vendor_id\t: GenuineIntel\r
\r
\r
@@ORACLE END@@\r
@@ORACLE FILE /proc/cmdline@@\r
console=ttyS0 panic=-1 vmscape=off\r
\r
@@ORACLE END@@\r
@@ORACLE FILE /proc/version@@\r
Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian 6.1.192-2\r
\r
@@ORACLE END@@\r
@@ORACLE CMD uname -r@@\r
6.1.0-56-amd64\r
@@ORACLE END@@\r
@@ORACLE FILE {VULN}/vmscape@@\r
Vulnerable\r
\r
@@ORACLE END@@\r
@@ORACLE FILE {VULN}/retbleed@@\r
Mitigation: IBRS\r
\r
@@ORACLE END@@\r
@@ORACLE DMESG@@\r
[    0.3] VMSCAPE: Vulnerable\r
@@ORACLE END@@\r
@@ORACLE CPUID@@\r
CPUID 00000007.00000000 eax=00000002 ebx=219c43a9 ecx=8041021c edx=04000010\r
CPUID 00000007.00000002 eax=00000000 ebx=00000000 ecx=00000000 edx=00000010\r
@@ORACLE END@@\r
@@ORACLE DONE@@\r
[    2.7] reboot: Power down\r
"""


def test_parses_files_exactly_cpuid_and_dmesg():
    cap = capture.parse_capture(GOOD)
    assert cap["files"]["/proc/cmdline"] == "console=ttyS0 panic=-1 vmscape=off\n"
    assert cap["files"][f"{VULN}/vmscape"] == "Vulnerable\n"
    assert cap["uname_r"] == "6.1.0-56-amd64"
    assert cap["dmesg"] == ["[    0.3] VMSCAPE: Vulnerable"]
    assert cap["cpuid"][(7, 2)] == (0, 0, 0, 0x10)
    assert capture.vmscape(cap) == "Vulnerable"
    assert capture.vulnerabilities(cap) == {"vmscape": "Vulnerable", "retbleed": "Mitigation: IBRS"}
    assert capture.processors(cap) == 2
    assert capture.cpuinfo_first(cap)["model"] == "85"
    assert capture.bhi_ctrl(cap) is True


def test_bhi_ctrl_unknown_when_leaf7_has_no_subleaf_2():
    text = GOOD.replace("eax=00000002 ebx=219c43a9", "eax=00000000 ebx=219c43a9")
    assert capture.bhi_ctrl(capture.parse_capture(text)) is None


def test_file_without_trailing_newline_is_kept_as_is():
    text = GOOD.replace("Mitigation: IBRS\r\n\r\n@@ORACLE END", "Mitigation: IBRS\r\n@@ORACLE END")
    assert capture.parse_capture(text)["files"][f"{VULN}/retbleed"] == "Mitigation: IBRS"


def test_no_vmscape_file_means_none():
    start = GOOD.index(f"@@ORACLE FILE {VULN}/vmscape@@")
    end = GOOD.index("@@ORACLE END@@", start) + len("@@ORACLE END@@\r\n")
    cap = capture.parse_capture(GOOD[:start] + GOOD[end:])
    assert capture.vmscape(cap) is None


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t.replace("@@ORACLE BEGIN@@", ""), "before BEGIN"),
        (lambda t: t[: t.index("@@ORACLE BEGIN@@")], "no '@@ORACLE BEGIN@@'"),
        (lambda t: t[: t.index("@@ORACLE DONE@@")], "truncated"),
        (lambda t: t[: t.index("Vulnerable\r")], "not closed"),
        (lambda t: t.replace("CPUID 00000007.00000002 eax", "CPUID 7.2 eax"), "bad CPUID line"),
        (lambda t: t.replace("@@ORACLE CMD uname -r@@", "@@ORACLE BOGUS x@@"), "unknown marker"),
    ],
)
def test_incomplete_or_garbled_capture_is_an_error_naming_the_line(mangle, message):
    with pytest.raises(capture.CaptureError, match=message) as exc:
        capture.parse_capture(mangle(GOOD), source="boot.log")
    assert str(exc.value).startswith("boot.log")


def test_missing_proc_file_is_an_error():
    start = GOOD.index("@@ORACLE FILE /proc/version@@")
    end = GOOD.index("@@ORACLE END@@", start) + len("@@ORACLE END@@\r\n")
    with pytest.raises(capture.CaptureError, match="/proc/version missing"):
        capture.parse_capture(GOOD[:start] + GOOD[end:])


class _Kernel:
    def __init__(self, d: Path, packages):
        self.dir = d
        self.release, self.version = "7.3.4+deb13-amd64", "7.3.4"
        self.meta = {"packages": packages, "debian_version": "7.3.4-1~bpo13+1"}
        for name in ("vmlinuz", "System.map", "config"):
            (d / name).write_text(name)


@pytest.mark.parametrize("split", [False, True])
def test_snapshot_root_layout(tmp_path, split):
    cache = tmp_path / "cache"
    cache.mkdir()
    kernel = _Kernel(cache, ["linux-binary-7.3.4+deb13-amd64"] if split else ["linux-image-6.1.0-56-amd64"])
    cap = capture.parse_capture(GOOD)
    root = snapshot.write_root(cap, tmp_path / "root", kernel)
    assert (root / "proc/cmdline").read_text() == "console=ttyS0 panic=-1 vmscape=off\n"
    assert (root / "proc/sys/kernel/osrelease").read_text() == "6.1.0-56-amd64\n"
    assert (root / "sys/devices/system/cpu/vulnerabilities/vmscape").read_text() == "Vulnerable\n"
    assert (root / "boot/vmlinuz-7.3.4+deb13-amd64").read_text() == "vmlinuz"
    assert (root / "usr/lib/modules/7.3.4+deb13-amd64/config").exists() is split
    assert (root / "usr/lib/modules/7.3.4+deb13-amd64").is_dir()  # the next-boot kernel has its modules dir
    grub = (root / "boot/grub/grub.cfg").read_text()
    first = grub[grub.index("menuentry") :]
    assert "linux\t/boot/vmlinuz-7.3.4+deb13-amd64 console=ttyS0 panic=-1 vmscape=off\n" in first
    dev = root / "dev/cpu/0/cpuid"
    assert dev.stat().st_blocks * 512 < 64 * 1024  # sparse
    with open(dev, "rb") as fh:
        fh.seek(7 | 2 << 32)
        assert struct.unpack("<4I", fh.read(16)) == (0, 0, 0, 0x10)
        fh.seek(7)
        assert struct.unpack("<4I", fh.read(16))[0] == 2


def test_grub_cfg_first_entry_boots_given_kernel():
    cfg = snapshot.grub_cfg("6.1.0-56-amd64", "console=ttyS0 vmscape=ibpb")
    assert 'set default="0"' in cfg
    assert cfg.count("menuentry ") == 1
    assert "\tlinux\t/boot/vmlinuz-6.1.0-56-amd64 console=ttyS0 vmscape=ibpb\n" in cfg


class _Fetched:
    """A fetched kernel as tools.oracle.kernels.Kernel describes it (metadata.json)."""

    def __init__(self, release, debian_version):
        self.release, self.version = release, debian_version.split("-")[0]
        self.meta = {"debian_version": debian_version, "packages": [f"linux-image-{release}"]}


def test_capture_of_an_older_build_is_retargeted_to_the_fetched_build():
    cap = capture.parse_capture(GOOD)
    cap["files"]["/proc/version"] = (
        "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) "
        "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)\n"
    )
    new, change = snapshot.retarget_capture(cap, _Fetched("6.1.0-57-amd64", "6.1.193-1"))
    assert change == {"release": ["6.1.0-56-amd64", "6.1.0-57-amd64"], "debian_version": ["6.1.192-2", "6.1.193-1"]}
    assert new["uname_r"] == "6.1.0-57-amd64"
    assert new["files"]["/proc/version"] == (
        "Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) "
        "#1 SMP PREEMPT_DYNAMIC Debian 6.1.193-1 (2026-11-16)\n"
    )
    # verdicts and cpuinfo are what the kernel printed: untouched
    assert new["files"][f"{VULN}/vmscape"] == cap["files"][f"{VULN}/vmscape"] == "Vulnerable\n"
    assert new["files"]["/proc/cpuinfo"] == cap["files"]["/proc/cpuinfo"]
    assert cap["uname_r"] == "6.1.0-56-amd64"  # the input is not modified


def test_capture_of_the_fetched_build_or_another_branch_is_unchanged():
    cap = capture.parse_capture(GOOD)  # 6.1.0-56-amd64, "Debian 6.1.192-2"
    assert snapshot.retarget_capture(cap, _Fetched("6.1.0-56-amd64", "6.1.192-2")) == (cap, None)
    assert snapshot.retarget_capture(cap, _Fetched("7.3.4+deb13-amd64", "7.3.4-1~bpo13+1")) == (cap, None)


def test_written_root_runs_the_fetched_build(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    kernel = _Kernel(cache, ["linux-image-6.1.0-57-amd64"])
    kernel.release, kernel.version = "6.1.0-57-amd64", "6.1.193"
    kernel.meta["debian_version"] = "6.1.193-1"
    root = snapshot.write_root(capture.parse_capture(GOOD), tmp_path / "root", kernel)
    assert (root / "proc/sys/kernel/osrelease").read_text() == "6.1.0-57-amd64\n"
    assert "Linux version 6.1.0-57-amd64 " in (root / "proc/version").read_text()
    assert (root / "boot/vmlinuz-6.1.0-57-amd64").read_text() == "vmlinuz"


def test_snapshot_tree_is_retargeted_in_place(tmp_path):
    root = tmp_path / "root"
    (root / "boot/grub").mkdir(parents=True)
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text("6.1.0-56-amd64\n")
    (root / "proc/version").write_text("Linux version 6.1.0-56-amd64 (x@y) #1 SMP Debian 6.1.192-2 (2026-11-16)\n")
    (root / "boot/config-6.1.0-56-amd64").write_text("# Linux/x86 6.1.192 Kernel Configuration\n")
    (root / "boot/vmlinuz-6.1.0-56-amd64").write_bytes(b"MZ\0 6.1.0-56-amd64")
    (root / "boot/grub/grub.cfg").write_text(
        "linux /boot/vmlinuz-6.1.0-56-amd64 ro\nlinux /boot/vmlinuz-6.1.0-55-amd64 ro\n"
    )
    changed = snapshot.retarget_tree(root, "6.1.0-56-amd64", "6.1.192-2", _Fetched("6.1.0-57-amd64", "6.1.193-1"))
    assert (root / "proc/sys/kernel/osrelease").read_text() == "6.1.0-57-amd64\n"
    assert (root / "proc/version").read_text() == (
        "Linux version 6.1.0-57-amd64 (x@y) #1 SMP Debian 6.1.193-1 (2026-11-16)\n"
    )
    assert (root / "boot/config-6.1.0-57-amd64").read_text() == "# Linux/x86 6.1.193 Kernel Configuration\n"
    assert (root / "boot/vmlinuz-6.1.0-57-amd64").read_bytes() == b"MZ\0 6.1.0-56-amd64"  # binary: renamed only
    assert not (root / "boot/vmlinuz-6.1.0-56-amd64").exists()
    assert (root / "boot/grub/grub.cfg").read_text() == (
        "linux /boot/vmlinuz-6.1.0-57-amd64 ro\nlinux /boot/vmlinuz-6.1.0-55-amd64 ro\n"
    )
    assert "proc/version" in changed and "boot/vmlinuz-6.1.0-56-amd64 -> vmlinuz-6.1.0-57-amd64" in changed
