"""The fleet report callback (plugins/callback/vmscape_report.py) driven like a strategy drives it.

Real ``Host``/``Task``/``TaskResult`` objects go to ``v2_runner_on_*``; options come through
ansible's config manager (tests/unit/action_harness.py). What the callback adds to the report
(tests/unit/test_fleet_report.py covers the rendering) is checked here: which events are
recorded, ignored failures, the banner, the files and their names, and a directory it cannot
write into.
"""

import datetime as dt
import json
import os
import stat

import pytest
from action_harness import make_callback, task_result

from ansible_collections.fleetsec.vmscape.plugins.callback import vmscape_report

NAME = "fleetsec.vmscape.vmscape_report"
IBPB_EXIT = "Mitigation: IBPB before exit to userspace"


class Playbook:
    """What v2_playbook_on_start receives: a Playbook; only its file name is read."""

    _file_name = "/srv/ansible/remediate.yml"


def callback(tmp_path, **options):
    cb = make_callback(vmscape_report, NAME, {"report_dir": str(tmp_path / "reports"), **options})
    cb.started = dt.datetime(2026, 11, 26, 14, 5, 9)
    cb.v2_playbook_on_start(Playbook())
    return cb


def feed(cb):
    cb.v2_runner_on_ok(
        task_result("kvm1", "Verify", {"changed": False, "verify": {"status": "pass", "observed": IBPB_EXIT}})
    )
    cb.v2_runner_on_failed(task_result("kvm2", "Set the boot parameter", {"msg": "/etc/default/grub:3: $(...)"}))
    cb.v2_runner_on_failed(task_result("kvm3", "Probe", {"msg": "ignored on purpose"}), ignore_errors=True)
    cb.v2_runner_on_unreachable(task_result("kvm4", "Reboot", {"msg": "Timed out waiting for the host"}))


def test_events_become_report_rows(tmp_path, capsys):
    cb = callback(tmp_path)
    feed(cb)
    rows = {r["host"]: r for r in cb.report.rows()}
    assert set(rows) == {"kvm1", "kvm2", "kvm4"}  # an ignored failure is not a host failure
    assert rows["kvm1"]["result"] == "pass" and rows["kvm1"]["observed"] == IBPB_EXIT
    assert rows["kvm2"]["result"] == "error" and "/etc/default/grub:3" in rows["kvm2"]["why"]
    assert rows["kvm4"]["result"] == "unreachable" and "Timed out" in rows["kvm4"]["why"]


def test_stats_prints_the_table_and_writes_both_files(tmp_path, capsys):
    cb = callback(tmp_path)
    feed(cb)
    cb.v2_playbook_on_stats(None)
    out = capsys.readouterr().out
    assert "VMSCAPE FLEET REPORT" in out
    assert "3 hosts: pass 1, error 1, unreachable 1" in out
    directory = tmp_path / "reports"
    json_path, html_path = directory / "vmscape-20261126T140509.json", directory / "vmscape-20261126T140509.html"
    assert sorted(os.listdir(directory)) == [html_path.name, json_path.name]  # no temp file left
    assert f"JSON report: {json_path}" in out and f"HTML report: {html_path}" in out
    doc = json.loads(json_path.read_text())
    assert doc["meta"]["playbook"] == "remediate.yml"
    assert doc["meta"]["started"] == "2026-11-26T14:05:09"
    assert doc["totals"]["hosts"] == 3
    assert html_path.read_text().startswith("<!DOCTYPE html>")
    for p in (json_path, html_path):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644


def test_write_files_false_prints_only(tmp_path, capsys):
    cb = callback(tmp_path, write_files=False)
    feed(cb)
    cb.v2_playbook_on_stats(None)
    out = capsys.readouterr().out
    assert "VMSCAPE FLEET REPORT" in out and "JSON report" not in out
    assert not (tmp_path / "reports").exists()


def test_nothing_recorded_prints_nothing(tmp_path, capsys):
    cb = callback(tmp_path)
    cb.v2_runner_on_failed(task_result("kvm3", "Probe", {"msg": "ignored"}), ignore_errors=True)
    cb.v2_playbook_on_stats(None)
    assert "VMSCAPE" not in capsys.readouterr().out
    assert not (tmp_path / "reports").exists()


def test_unwritable_report_dir_warns_and_leaves_no_file(tmp_path, capsys):
    blocker = tmp_path / "reports"
    blocker.write_text("a file where the directory should be\n")
    cb = callback(tmp_path)
    feed(cb)
    cb.v2_playbook_on_stats(None)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert f"vmscape_report: cannot write the report into {blocker}" in text
    assert "JSON report" not in text
    assert blocker.read_text() == "a file where the directory should be\n"


def test_a_failed_write_removes_its_temp_file(tmp_path, monkeypatch):
    def replace_fails(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(vmscape_report.os, "replace", replace_fails)
    with pytest.raises(OSError, match="No space left"):
        vmscape_report._write_atomic(str(tmp_path / "r.json"), "{}")
    assert os.listdir(tmp_path) == []


def test_report_dir_option_defaults_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VMSCAPE_REPORT_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("VMSCAPE_REPORT_FILES", "false")
    cb = make_callback(vmscape_report, NAME, {})
    assert cb.get_option("report_dir") == str(tmp_path / "from-env")
    assert cb.get_option("write_files") is False
