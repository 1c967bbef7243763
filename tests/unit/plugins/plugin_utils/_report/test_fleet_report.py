"""Fleet report: records from results, totals, and the three renderings."""

import json

from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import make_plan
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import FleetReport

IBPB = "Mitigation: IBPB before exit to userspace"


def _report():
    r = FleetReport()
    sky = make_plan(facts(cmdline="ro vmscape=off", sysfs={"vmscape": "Vulnerable"}))
    r.ok("sky", "Plan", {"plan": sky, "ansible_facts": {"vmscape_plan": sky}})
    r.ok(
        "sky",
        "Set",
        {"changed": True, "backend": "grub", "effective_cmdline": "ro vmscape=ibpb", "backups": ["/x.bak"]},
    )
    r.ok("sky", "Reboot", {"rebooted": True, "elapsed": 61, "changed": True})
    r.ok("sky", "Record", {"ansible_facts": {"vmscape_reboot": {"status": "rebooted", "reason": "rebooted in 61 s"}}})
    r.ok("sky", "Verify", {"verify": {"status": "pass", "observed": IBPB, "reasons": []}})
    off = make_plan(facts(cmdline="ro mitigations=off", sysfs={"vmscape": "Vulnerable"}))
    r.ok("moff", "Plan", {"plan": off})
    r.ok("moff", "Verify", {"verify": {"status": "blocked", "observed": "Vulnerable", "reasons": []}})
    r.ok("gone", "Plan", {"plan": sky})
    r.unreachable("gone", "Reboot the host", {"msg": "Timed out waiting for last boot time check"})
    r.ok("bad", "Plan", {"plan": sky})
    r.failed("bad", "Verify", {"verify": {"status": "fail", "observed": "Vulnerable", "reasons": ["sysfs differs"]}})
    r.failed("err", "Set", {"msg": "grub: /etc/default/grub:3: command substitution"})
    return r


def test_rows_and_totals():
    r = _report()
    rows = {row["host"]: row for row in r.rows()}
    assert rows["sky"]["result"] == "pass" and rows["sky"]["reboot"] == "rebooted"
    assert rows["sky"]["action"] == "set vmscape=ibpb" and rows["sky"]["before"] == "Vulnerable"
    assert rows["sky"]["observed"] == IBPB
    assert rows["moff"]["result"] == "blocked" and "mitigations=off" in rows["moff"]["why"]
    assert rows["gone"]["result"] == "unreachable" and "Timed out" in rows["gone"]["why"]
    assert rows["bad"]["result"] == "fail" and rows["bad"]["why"] == "sysfs differs"
    assert rows["err"]["result"] == "error" and "command substitution" in rows["err"]["why"]
    t = r.totals()
    assert t["hosts"] == 5 and t["rebooted"] == 1
    assert t["result"] == {"pass": 1, "blocked": 1, "unreachable": 1, "fail": 1, "error": 1}
    assert r.hosts["sky"]["config"]["backups"] == ["/x.bak"]


def test_text_json_html():
    r = _report()
    text = r.as_text()
    assert text.splitlines()[0].startswith("HOST")
    assert "5 hosts: fail 1, error 1, unreachable 1, blocked 1, pass 1; rebooted 1" in text
    doc = json.loads(r.as_json({"playbook": "remediate.yml"}))
    assert doc["totals"]["hosts"] == 5 and doc["meta"]["playbook"] == "remediate.yml"
    page = r.as_html({"playbook": "remediate.yml"})
    assert page.startswith("<!DOCTYPE html>") and page.count('<tr class="row ') == 5
    assert "<script src" not in page and "<link" not in page  # self-contained


def test_html_escapes_host_controlled_text():
    r = FleetReport()
    r.failed("h<script>", "t", {"msg": "</script><img src=x onerror=alert(1)>"})
    page = r.as_html()
    assert "<img src=x" not in page and "&lt;img src=x" in page
    data = page.split('<script type="application/json" id="data">')[1].split("</script>")[0]
    assert json.loads(data)["totals"]["hosts"] == 1


def test_rollback_plan_from_set_fact():
    r = FleetReport()
    plan = make_plan(facts(sysfs={"vmscape": IBPB}), {"mode": "none"})
    plan.update(action="set", mode="rollback", restored_entry="20261125T100000.1Z-1", reboot_required=True)
    r.ok("h", "Describe the rollback", {"ansible_facts": {"vmscape_plan": plan}})
    r.ok("h", "Pending", {"ansible_facts": {"vmscape_reboot": {"status": "pending", "reason": "next boot"}}})
    row = r.rows()[0]
    assert row["action"] == "rollback 20261125T100000.1Z-1"
    assert row["reboot"] == "pending" and "next boot" in row["why"]


def test_action_says_when_the_next_boot_already_carries_the_parameter():
    r = FleetReport()
    staged = make_plan(facts(cmdline="ro vmscape=off", boot_cmdline="ro vmscape=ibpb", sysfs={"vmscape": "Vulnerable"}))
    assert staged["action"] == "set" and staged["config_in_place"] is True
    r.ok("staged", "Plan", {"plan": staged})
    fresh = make_plan(facts(cmdline="ro vmscape=off", sysfs={"vmscape": "Vulnerable"}))
    r.ok("fresh", "Plan", {"plan": fresh})
    rows = {row["host"]: row for row in r.rows()}
    assert rows["staged"]["action"] == "in place vmscape=ibpb"
    assert rows["fresh"]["action"] == "set vmscape=ibpb"


def test_kernel_before_and_after_an_upgrade():
    r = FleetReport()
    plan = make_plan(facts(release="6.16.3+deb13-amd64", version="6.16.3", knows=False), {"mode": "auto"})
    plan = dict(
        plan,
        action="set",
        cmdline={"vmscape": "ibpb"},
        kernels={"running": {"release": "6.16.3+deb13-amd64"}, "next_boot": {"release": "7.3.4+deb13-amd64"}},
        upgrade={"status": "installed", "kernel_before": "6.16.3+deb13-amd64", "kernel_after": "7.3.4+deb13-amd64"},
    )
    r.ok("h", "Install a fixed kernel", {"plan": plan})
    row = r.rows()[0]
    assert row["kernel"] == "6.16.3+deb13-amd64 -> 7.3.4+deb13-amd64"  # before the reboot: the next boot
    assert row["action"] == "upgrade, set vmscape=ibpb"
    r.ok("h", "Verify", {"verify": {"status": "fail", "rebooted": True, "kernel": "6.16.3+deb13-amd64", "reasons": []}})
    assert r.rows()[0]["kernel"] == "6.16.3+deb13-amd64"  # fell back: after the reboot the observed one
    r.ok("h", "Verify", {"verify": {"status": "pass", "rebooted": True, "kernel": "7.3.4+deb13-amd64", "reasons": []}})
    assert r.rows()[0]["kernel"] == "6.16.3+deb13-amd64 -> 7.3.4+deb13-amd64"
