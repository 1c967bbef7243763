"""The fleet report beyond one run: registered results read back from hostvars (the report play),
merging the reports of several runs (job slices), the documents on disk, the HTML template that
users can override, and the hosts a report play targets (--limit)."""

import json
import os

import pytest
from ansible.parsing.dataloader import DataLoader
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.action.vmscape_report import stats_key, targeted_hosts
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import make_plan
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.files import (
    read_document,
    report_files,
    run_id,
    write_report,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import FleetReport, merge
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.html import ReportTemplateError, render

IBPB = "Mitigation: IBPB before exit to userspace"
SKY_OFF = make_plan(facts(cmdline="ro vmscape=off", sysfs={"vmscape": "Vulnerable"}))
SKY_OK = make_plan(facts(sysfs={"vmscape": IBPB}))


def test_registered_results_of_every_outcome():
    r = FleetReport()
    assert not r.registered("outside", {"ansible_facts": {"vmscape_plan": SKY_OK}})  # cached facts alone: not this run
    assert r.registered(
        "ok",
        {
            "__vmscape_assess_result": {"plan": SKY_OK, "changed": False},
            "__vmscape_verify_result": {"verify": {"status": "pass", "observed": IBPB, "reasons": []}},
        },
    )
    r.registered(
        "staged",
        {
            "__vmscape_assess_result": {"plan": SKY_OFF},
            "vmscape_cmdline": {"changed": True, "backend": "grub", "effective_cmdline": "ro vmscape=ibpb"},
            "vmscape_reboot": {"status": "pending", "reason": "vmscape_reboot_policy is stage"},
            "__vmscape_verify_result": {"verify": {"status": "pending", "observed": "Vulnerable", "reasons": []}},
        },
    )
    r.registered("gone", {"__vmscape_assess_result": {"unreachable": True, "msg": "ssh: connect to host gone port 22"}})
    r.registered(
        "bad",
        {
            "__vmscape_assess_result": {"plan": SKY_OFF},
            "vmscape_cmdline": {"failed": True, "msg": "/etc/default/grub:3: command substitution"},
        },
    )
    r.registered("skipped", {"__vmscape_assess_result": {"plan": SKY_OK}, "vmscape_cmdline": {"skipped": True}})
    rows = {row["host"]: row for row in r.rows()}
    assert sorted(rows) == ["bad", "gone", "ok", "skipped", "staged"]
    assert (rows["ok"]["result"], rows["staged"]["result"], rows["staged"]["reboot"]) == ("pass", "pending", "pending")
    assert rows["gone"]["result"] == "unreachable" and "port 22" in rows["gone"]["why"]
    assert rows["bad"]["result"] == "error" and "vmscape_cmdline: /etc/default/grub:3" in rows["bad"]["why"]
    assert r.hosts["staged"]["config"]["effective_cmdline"] == "ro vmscape=ibpb"


def _doc(hosts, finished, result="pass"):
    r = FleetReport()
    for h in hosts:
        r.ok(h, "Plan", {"plan": SKY_OK})
        r.ok(h, "Verify", {"verify": {"status": result, "observed": IBPB, "reasons": []}})
    return r.as_dict({"playbook": "remediate.yml", "finished": finished, "run_id": f"run-{finished}"})


def test_merge_keeps_every_host_once_and_the_newest_entry():
    a = _doc(["h1", "h3"], "2026-12-01T10:00:00", "pending")
    b = _doc(["h2", "h4"], "2026-12-01T10:00:05")
    c = _doc(["h3"], "2026-12-01T11:00:00")  # h3 again, later: it passes now
    compact = {k: v for k, v in _doc(["h5"], "2026-12-01T09:00:00").items() if k != "hosts"}  # set_stats form
    report, meta = merge([("c", c), ("a", a), ("compact", compact), ("b", b)])
    rows = {r["host"]: r for r in report.rows()}
    assert sorted(rows) == ["h1", "h2", "h3", "h4", "h5"]
    assert (rows["h1"]["result"], rows["h3"]["result"], rows["h5"]["result"]) == ("pending", "pass", "pass")
    assert meta["duplicates"] == {"h3": ["c"]} and meta["merged"] == 4
    assert [s["source"] for s in meta["sources"]] == ["compact", "a", "b", "c"]  # oldest first
    assert (meta["started"], meta["finished"]) == (None, "2026-12-01T11:00:00")
    assert report.totals()["result"] == {"pending": 1, "pass": 4}
    with pytest.raises(ValueError, match="not a VMSCAPE fleet report"):
        merge([("x", {"rows": "no"})])


def test_files_names_and_reading(tmp_path):
    assert run_id({"awx_job_id": 42}) == "job42" and run_id({"tower_job_id": "7"}) == "job7"
    assert run_id({}).endswith(f"-{os.getpid()}")
    assert stats_key("job42") == "vmscape_report_run_job42" and stats_key("cc-1.2") == "vmscape_report_run_cc_1_2"
    r = FleetReport()
    r.ok("h", "Plan", {"plan": SKY_OK})
    paths = write_report(r, {"finished": "x"}, str(tmp_path / "out"), "vmscape-1-job1")
    write_report(r, {"finished": "y"}, str(tmp_path / "out"), "vmscape-2-job1-merged")
    assert report_files([str(tmp_path / "out")]) == [paths["json"]]  # a merged report is not one of the runs
    assert read_document(paths["json"])["rows"][0]["host"] == "h"
    (tmp_path / "bad.json").write_text('{"rows": [\n  1,\n  oops]}')
    with pytest.raises(ValueError, match=r"bad.json:3: not JSON"):
        read_document(str(tmp_path / "bad.json"))
    os.mkfifo(tmp_path / "fifo.json")
    with pytest.raises(ValueError, match="not a regular file"):
        read_document(str(tmp_path / "fifo.json"))
    with pytest.raises(ValueError, match="no report files there"):
        report_files([str(tmp_path / "nothing-*.json")])


def test_html_groups_by_result_most_urgent_first_and_template_override(tmp_path):
    r = FleetReport()
    for h, status in (("a", "pass"), ("b", "fail"), ("c", "pending"), ("d", "pass")):
        r.ok(h, "Plan", {"plan": SKY_OFF})
        r.ok(h, "Verify", {"verify": {"status": status, "observed": "Vulnerable", "reasons": [f"why {h}"]}})
    page = r.as_html({"playbook": "audit.yml"})
    groups = [line.split('class="r-')[1].split('"')[0] for line in page.splitlines() if '<tr class="group">' in line]
    assert groups == ["fail", "pending", "pass"]
    data = json.loads(page.split('<script type="application/json" id="data">')[1].split("</script>")[0])
    assert "hosts" not in data and [row["host"] for row in data["rows"]] == ["a", "b", "c", "d"]
    custom = tmp_path / "mine.html.j2"
    custom.write_text(
        "{{ report.totals.hosts }} hosts{% for r, rows in groups %} {{ r }}={{ rows | length }}{% endfor %}"
    )
    assert render(r.as_dict(), str(custom)) == "4 hosts fail=1 pending=1 pass=2"
    custom.write_text("line one\n{{ report.no_such_key.x }}\n")
    with pytest.raises(ReportTemplateError, match=r"mine.html.j2:2: .*no_such_key"):
        render(r.as_dict(), str(custom))
    custom.write_text("{{ ''.__class__.__mro__ }}")
    with pytest.raises(ReportTemplateError):  # the sandbox
        render(r.as_dict(), str(custom))


def test_targeted_hosts_follow_pattern_and_limit():
    groups = {"all": ["a1", "a2", "b1", "x"], "kvm": ["a1", "a2", "b1"], "ungrouped": ["x"]}
    loader = DataLoader()
    assert targeted_hosts({"groups": groups}, loader, "kvm") == ["a1", "a2", "b1"]
    assert targeted_hosts({"groups": groups, "ansible_limit": "a?"}, loader, "kvm") == ["a1", "a2"]
    assert targeted_hosts({"groups": groups, "ansible_limit": "b1,x"}, loader, "all") == ["b1", "x"]
    # as ansible-playbook --limit: a pattern matches group names too ("a*" matches "all")
    assert targeted_hosts({"groups": groups, "ansible_limit": "a*"}, loader, "kvm") == ["a1", "a2", "b1"]
