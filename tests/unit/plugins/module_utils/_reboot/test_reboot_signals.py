"""The pending-reboot signals (plugins/module_utils/_reboot/signals.py): the reboot-required.pkgs
line is added once and removed without touching other lines; /run/reboot-required is removed only
when it is ours alone; the .prom text follows the Prometheus text format."""

import os

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._reboot import signals as rs

TEXT = "*** System restart required ***\n"


@pytest.mark.parametrize(
    ("before", "required", "after"),
    [
        (None, True, "fleetsec-vmscape\n"),
        ("linux-image-6.1.0-57-amd64\n", True, "linux-image-6.1.0-57-amd64\nfleetsec-vmscape\n"),
        ("fleetsec-vmscape\nlibc6\n", True, None),  # already there: no change
        ("linux-image-6.1.0-57-amd64\nfleetsec-vmscape\nlibc6\n", False, "linux-image-6.1.0-57-amd64\nlibc6\n"),
        ("fleetsec-vmscape\n", False, ""),
        ("libc6\n", False, None),
        (None, False, None),
    ],
)
def test_pkgs_line(before, required, after):
    assert rs.updated_pkgs(before, required) == after


def _run(tmp_path, flag=None, pkgs=None):
    (tmp_path / "run").mkdir(parents=True, exist_ok=True)
    for name, text in (("reboot-required", flag), ("reboot-required.pkgs", pkgs)):
        if text is not None:
            (tmp_path / "run" / name).write_text(text)
    return str(tmp_path)


def test_signal_set_then_cleared_when_ours_alone(tmp_path):
    root = _run(tmp_path)
    changes = rs.sync_reboot_required(root, True)
    assert [c[0] for c in changes] == ["/run/reboot-required.pkgs", "/run/reboot-required"]
    assert (tmp_path / "run/reboot-required").read_text() == TEXT
    assert rs.sync_reboot_required(root, True) == []  # idempotent
    rs.sync_reboot_required(root, False)
    assert not os.listdir(tmp_path / "run")


def test_signal_of_others_is_never_removed(tmp_path):
    root = _run(tmp_path, TEXT, "libc6\nfleetsec-vmscape\n")
    rs.sync_reboot_required(root, False)
    assert (tmp_path / "run/reboot-required.pkgs").read_text() == "libc6\n"
    assert (tmp_path / "run/reboot-required").read_text() == TEXT
    # a flag with another text (written by some other tool) stays even when no line is left
    root = _run(tmp_path / "b", "reboot for the firmware\n", "fleetsec-vmscape\n")
    rs.sync_reboot_required(root, False)
    assert (tmp_path / "b/run/reboot-required").read_text() == "reboot for the firmware\n"
    assert not (tmp_path / "b/run/reboot-required.pkgs").exists()


def test_check_mode_writes_nothing_and_fifo_is_refused(tmp_path):
    root = _run(tmp_path, None, "libc6\n")
    changes = rs.sync_reboot_required(root, True, check_mode=True)
    assert [(c[0], c[2]) for c in changes] == [
        ("/run/reboot-required.pkgs", "libc6\nfleetsec-vmscape\n"),
        ("/run/reboot-required", TEXT),
    ]
    assert (tmp_path / "run/reboot-required.pkgs").read_text() == "libc6\n"
    assert not (tmp_path / "run/reboot-required").exists()
    (tmp_path / "run/reboot-required.pkgs").unlink()
    os.mkfifo(tmp_path / "run/reboot-required.pkgs")
    with pytest.raises(rs.SignalError, match=r"reboot-required\.pkgs: not a regular file"):
        rs.sync_reboot_required(root, True)


def test_prom_text():
    state = {
        "status": "pending",
        "reboot_required": True,
        "action": "set",
        "mode": "ibpb",
        "expected": 'Mitigation: "IBPB"\\x',
        "observed": "Vulnerable\nx",
        "kernel": "6.1.0-57-amd64",
        "next_kernel": "6.12.48+deb12-amd64",
    }
    text = rs.render_prom(state, 1796140000.5)
    lines = text.splitlines()
    assert 'expected="Mitigation: \\"IBPB\\"\\\\x"' in lines[2] and 'observed="Vulnerable\\nx"' in lines[2]
    assert lines[2].endswith("} 1")
    assert [line for line in lines if line.startswith("fleetsec_vmscape_status")] == [
        'fleetsec_vmscape_status{status="pass"} 0',
        'fleetsec_vmscape_status{status="pending"} 1',
        'fleetsec_vmscape_status{status="blocked"} 0',
        'fleetsec_vmscape_status{status="kernel_upgrade"} 0',
        'fleetsec_vmscape_status{status="fail"} 0',
    ]
    assert "fleetsec_vmscape_reboot_required 1" in lines and "fleetsec_vmscape_mitigated 0" in lines
    assert lines[-1] == "fleetsec_vmscape_last_run_timestamp_seconds 1796140000.500"
    names = {line.split()[2] for line in lines if line.startswith("# TYPE")}
    assert names == {
        "fleetsec_vmscape_info",
        "fleetsec_vmscape_status",
        "fleetsec_vmscape_mitigated",
        "fleetsec_vmscape_reboot_required",
        "fleetsec_vmscape_last_run_timestamp_seconds",
    }
    assert text.endswith("\n")
