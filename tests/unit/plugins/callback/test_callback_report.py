"""The fleet report callback (plugins/callback/vmscape_report.py) driven like a strategy drives it.

Real ``Host``/``Task``/``TaskResult`` objects go to ``v2_runner_on_*``; options come through
ansible's config manager (tests/unit/action_harness.py). What the callback adds to the report
(tests/unit/plugins/plugin_utils/_report/test_fleet_report.py covers the rendering) is checked here: which events are
recorded, ignored failures, the banner, the files and their names, and a directory it cannot
write into.
"""

import datetime as dt
import json
import os
import stat

import pytest
from action_harness import make_callback, task_result
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play import Play
from ansible.vars.manager import VariableManager

from ansible_collections.fleetsec.vmscape.plugins.callback import vmscape_report
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report import files as _fleet_report_files
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.files import run_id

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
    assert "3 hosts: error 1, unreachable 1, pass 1; rebooted 0, reboot pending 0" in out
    directory = tmp_path / "reports"
    stem = f"vmscape-20261126T140509-{run_id({})}"  # <controller host>-<pid> outside AWX
    json_path, html_path = directory / f"{stem}.json", directory / f"{stem}.html"
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
    # ansible-core 2.16 wraps warnings to the terminal width (long words too): compare without whitespace
    expected = f"vmscape_report: cannot write the report into {blocker}"
    assert "".join(expected.split()) in "".join(text.split())
    assert "JSON report" not in text
    assert blocker.read_text() == "a file where the directory should be\n"


def test_a_failed_write_removes_its_temp_file(tmp_path, monkeypatch):
    def replace_fails(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_fleet_report_files.os, "replace", replace_fails)
    with pytest.raises(OSError, match="No space left"):
        _fleet_report_files.write_atomic(str(tmp_path / "r.json"), "{}")
    assert os.listdir(tmp_path) == []


def play_with_extra_vars(extra_vars):
    """What v2_playbook_on_play_start receives: a real Play whose VariableManager carries the
    run's extra variables (as ``-e`` or an AWX job template sets them)."""
    loader = DataLoader()
    variables = VariableManager(loader=loader)
    variables._extra_vars = dict(extra_vars)
    return Play.load({"name": "p", "hosts": "all", "gather_facts": False, "tasks": []}, variable_manager=variables,
                     loader=loader)  # fmt: skip


def test_extra_variables_override_the_options_and_name_the_awx_job(tmp_path, capsys):
    cb = callback(tmp_path, report_dir=str(tmp_path / "from-option"))
    cb.v2_playbook_on_play_start(
        play_with_extra_vars({"vmscape_report_dir": str(tmp_path / "from-extra-var"), "awx_job_id": 4711,
                              "awx_job_template_name": "vmscape remediate", "awx_workflow_job_id": ""})
    )  # fmt: skip
    feed(cb)
    cb.v2_playbook_on_stats(None)
    out = capsys.readouterr().out
    json_path = tmp_path / "from-extra-var" / "vmscape-20261126T140509-job4711.json"
    assert f"JSON report: {json_path}" in out and not (tmp_path / "from-option").exists()
    meta = json.loads(json_path.read_text())["meta"]
    assert (meta["run_id"], meta["awx_job_id"], meta["awx_job_template_name"]) == ("job4711", 4711, "vmscape remediate")
    assert "awx_workflow_job_id" not in meta  # an empty extra variable is no value
    assert (meta["check_mode"], meta["limit"]) == (False, None)


def test_extra_variable_turns_files_off(tmp_path, capsys):
    cb = callback(tmp_path)
    cb.v2_playbook_on_play_start(play_with_extra_vars({"vmscape_report_files": "no"}))
    feed(cb)
    cb.v2_playbook_on_stats(None)
    assert "JSON report" not in capsys.readouterr().out and not (tmp_path / "reports").exists()


def test_a_merge_task_prints_its_summary_instead_of_becoming_a_row(tmp_path, capsys):
    cb = callback(tmp_path)
    merged = {"report": {"meta": {"merged": True}}, "summary": ["2 runs merged", "5 hosts: pass 5"],
              "files": {"json": "/r/m.json", "html": "/r/m.html"}}  # fmt: skip
    cb.v2_runner_on_ok(task_result("localhost", "Merge the reports", merged))
    cb.v2_playbook_on_stats(None)
    out = capsys.readouterr().out
    assert cb.report.rows() == []
    assert "VMSCAPE FLEET REPORT (merged)" in out
    assert "2 runs merged\n5 hosts: pass 5\nHTML report: /r/m.html\nJSON report: /r/m.json" in out
    assert "VMSCAPE FLEET REPORT *" not in out.replace("(merged)", "")  # no hosts: no fleet table


def test_report_dir_option_defaults_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VMSCAPE_REPORT_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("VMSCAPE_REPORT_FILES", "false")
    cb = make_callback(vmscape_report, NAME, {})
    assert cb.get_option("report_dir") == str(tmp_path / "from-env")
    assert cb.get_option("write_files") is False
