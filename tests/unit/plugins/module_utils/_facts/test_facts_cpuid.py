"""BHI_CTRL through the cpuid device file: sparse snapshot files, absent/unreadable devices, modprobe."""

import errno
import os

import pytest
from facts_fixtures import cpuid_file, vendor_regs

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts import cpuid as _cpuid
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import read_bhi_ctrl
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.cpuid import CpuidError, bhi_ctrl, read_cpuid

INTEL0 = vendor_regs("GenuineIntel", 0x20)


def dev(tmp_path, leaves):
    p = tmp_path / "dev/cpu/0/cpuid"
    cpuid_file(p, leaves)
    return p


def test_offset_layout_leaf_and_subleaf(tmp_path):
    p = dev(tmp_path, {(7, 2): (1, 2, 3, 0x10), (7, 0): (2, 0, 0, 0)})
    assert read_cpuid(str(p), 7, 2) == (1, 2, 3, 0x10)
    assert read_cpuid(str(p), 7, 0) == (2, 0, 0, 0)
    assert os.path.getsize(p) == (7 | 2 << 32) + 16  # sparse, like the oracle's snapshots


@pytest.mark.parametrize(
    ("edx", "expected"),
    [(0x10, True), (0x0, False), (0xFFFFFFEF, False), (0x1F, True)],
)
def test_bhi_ctrl_bit4_of_edx(tmp_path, edx, expected):
    p = dev(tmp_path, {(0, 0): INTEL0, (7, 0): (2, 0, 0, 0), (7, 2): (0, 0, 0, edx)})
    assert bhi_ctrl(str(p)) == (expected, None)


def test_max_subleaf_below_2_is_definitively_false(tmp_path):
    # subleaf 2 holds a set bit but leaf 7 says it is not enumerated: not read
    p = dev(tmp_path, {(0, 0): INTEL0, (7, 0): (1, 0, 0, 0), (7, 2): (0, 0, 0, 0x10)})
    assert bhi_ctrl(str(p)) == (False, None)


def test_max_basic_leaf_below_7_is_false_on_the_device(tmp_path, monkeypatch):
    p = dev(tmp_path, {(0, 0): vendor_regs("GenuineIntel", 6)})
    regs = {(0, 0): vendor_regs("GenuineIntel", 6), (7, 0): (2, 0, 0, 0), (7, 2): (0, 0, 0, 0x10)}
    monkeypatch.setattr(_cpuid.stat, "S_ISCHR", lambda mode: True)  # pretend p is the char device
    monkeypatch.setattr(_cpuid, "read_cpuid", lambda path, leaf, sub=0, shown=None: regs[(leaf, sub)])
    assert bhi_ctrl(str(p)) == (False, None)
    regs[(0, 0)] = INTEL0
    assert bhi_ctrl(str(p)) == (True, None)


def test_snapshot_like_the_oracle_writes_it(tmp_path):
    """Leaves 0.0, 1.0, 7.0, 7.1, 7.2 written in order: the overlapping records of 0 and 1 are
    clobbered, leaf 7.0 and 7.2 stay exact."""
    leaves = {
        (0, 0): INTEL0,
        (1, 0): (0x806F8, 0x12345678, 0x7FFEFBFF, 0xBFEBFBFF),
        (7, 0): (2, 0xF3BFA7EB, 0, 0),
        (7, 1): (0, 0, 0, 0),
        (7, 2): (0, 0, 0, 0x17),
    }
    p = dev(tmp_path, leaves)
    assert read_cpuid(str(p), 7, 0) == leaves[(7, 0)]
    assert read_cpuid(str(p), 0, 0) != leaves[(0, 0)]  # why leaf 0 is not checked on files
    assert bhi_ctrl(str(p)) == (True, None)


def test_snapshot_without_leaf0_still_reads_leaf7(tmp_path):
    p = dev(tmp_path, {(7, 0): (2, 1, 0, 0), (7, 2): (0, 0, 0, 0x10)})
    assert bhi_ctrl(str(p)) == (True, None)


def test_snapshot_recording_no_leaf7_is_unknown(tmp_path):
    p = dev(tmp_path, {(0x20, 0): (1, 2, 3, 4)})
    value, reason = bhi_ctrl(str(p))
    assert value is None and "leaf 7 is not recorded" in reason


def test_snapshot_ending_before_leaf7_is_a_short_read(tmp_path):
    p = dev(tmp_path, {(1, 0): (0x806F8, 0, 0, 0)})
    with pytest.raises(CpuidError, match="short read for leaf 0x7 subleaf 0"):
        bhi_ctrl(str(p))


def test_amd_reports_zero(tmp_path):
    p = dev(tmp_path, {(0, 0): vendor_regs("AuthenticAMD", 0x10), (7, 0): (1, 0xF1BF97A9, 0, 0x10)})
    assert bhi_ctrl(str(p)) == (False, None)


def test_short_read_past_end(tmp_path):
    # leaf 7 says subleaf 2 exists, but the file ends before it
    p = dev(tmp_path, {(0, 0): INTEL0, (7, 0): (2, 0, 0, 0)})
    with pytest.raises(CpuidError, match="short read for leaf 0x7 subleaf 2") as ei:
        bhi_ctrl(str(p), "/dev/cpu/0/cpuid")
    assert ei.value.errno == errno.EIO


def test_too_short_file(tmp_path):
    p = tmp_path / "cpuid"
    p.write_bytes(b"\x01\x02\x03")
    with pytest.raises(CpuidError, match="short read for leaf 0x7"):
        bhi_ctrl(str(p))


def test_absent(tmp_path):
    with pytest.raises(CpuidError) as ei:
        bhi_ctrl(str(tmp_path / "nope"))
    assert ei.value.errno == errno.ENOENT


def test_eio_from_the_device(monkeypatch, tmp_path):
    p = dev(tmp_path, {(0, 0): INTEL0})

    def boom(fd, n, off):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_cpuid.os, "pread", boom)
    with pytest.raises(CpuidError, match="Input/output error") as ei:
        bhi_ctrl(str(p), "/dev/cpu/0/cpuid")
    assert ei.value.errno == errno.EIO


# ---- the collector's policy: snapshot roots, permission errors, modprobe on a real root


def test_collect_snapshot_without_device(tmp_path):
    calls = []
    out = read_bhi_ctrl(str(tmp_path), lambda argv: calls.append(argv) or (0, "", ""))
    assert out == {
        "bhi_ctrl": None,
        "bhi_ctrl_source": "unavailable",
        "bhi_ctrl_reason": "/dev/cpu/0/cpuid: absent in the snapshot root",
    }
    assert calls == []  # never modprobe for a snapshot


def test_collect_permission_denied(tmp_path, monkeypatch):
    p = dev(tmp_path, {(0, 0): INTEL0})

    real_open = os.open

    def deny(path, flags, *a):
        if str(path) == str(p):
            raise OSError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *a)

    monkeypatch.setattr(_cpuid.os, "open", deny)
    out = read_bhi_ctrl(str(tmp_path))
    assert out["bhi_ctrl"] is None
    assert out["bhi_ctrl_reason"] == "/dev/cpu/0/cpuid: Permission denied"


def test_collect_modprobe_then_retry_on_real_root(monkeypatch, tmp_path):
    """On root=/ an absent device triggers one `modprobe cpuid`, then a retry."""
    p = tmp_path / "dev/cpu/0/cpuid"
    calls = []

    def run(argv):
        calls.append(argv)
        cpuid_file(p, {(0, 0): INTEL0, (7, 0): (2, 0, 0, 0), (7, 2): (0, 0, 0, 0x10)})
        return 0, "", ""

    from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

    real_under = _rootpath.under
    monkeypatch.setattr(
        "ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect._rootpath.under",
        lambda root, hp: str(p) if hp == "/dev/cpu/0/cpuid" else real_under(root, hp),
    )
    out = read_bhi_ctrl("/", run)
    assert calls == [["modprobe", "cpuid"]]
    assert out == {"bhi_ctrl": True, "bhi_ctrl_source": "cpuid_device", "bhi_ctrl_reason": None}


def test_collect_modprobe_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(
        "ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect._rootpath.under",
        lambda root, hp: str(tmp_path / "absent"),
    )
    calls = []
    out = read_bhi_ctrl("/", lambda argv: calls.append(argv) or (1, "", "modprobe: FATAL: Module cpuid not found\n"))
    assert len(calls) == 1
    assert out["bhi_ctrl"] is None
    assert "modprobe cpuid' failed (rc=1: modprobe: FATAL: Module cpuid not found)" in out["bhi_ctrl_reason"]


def test_collect_modprobe_ok_but_still_absent(monkeypatch, tmp_path):
    monkeypatch.setattr(
        "ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect._rootpath.under",
        lambda root, hp: str(tmp_path / "absent"),
    )
    calls = []
    out = read_bhi_ctrl("/", lambda argv: calls.append(argv) or (0, "", ""))
    assert len(calls) == 1  # only once
    assert out["bhi_ctrl_reason"] == "/dev/cpu/0/cpuid: absent after 'modprobe cpuid'"
