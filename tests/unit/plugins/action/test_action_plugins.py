"""The action plugins (plugins/action/*.py) run in-process with ansible-core's objects.

tests/unit/action_harness.py says what is real and what stands in. Expected values are written
by hand from ../shared/vmscape-facts.md (cited per test), not taken from the decision core.
"""

import datetime as dt

import pytest
from action_harness import REPO, ModuleRuns, run_action
from ansible.errors import AnsibleActionFail
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.action import (
    vmscape_audit,
    vmscape_plan,
    vmscape_reboot_gate,
    vmscape_verify,
)
from ansible_collections.fleetsec.vmscape.plugins.action.vmscape_plan import summary
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot import gate as _reboot_gate

SNAPSHOT = str(REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake")
IBPB_EXIT = "Mitigation: IBPB before exit to userspace"
FACTS_MODULE = "fleetsec.vmscape.vmscape_facts"

# Skylake-SP (Intel 6/0x55, BTB variant, facts §4) on 6.1.192 (G1, §2) with vmscape=off on the
# running and the configured cmdline: the kernel reports Vulnerable (§3); the plan is
# vmscape=ibpb, expecting IBPB before exit to userspace after a reboot (§6.4).
SKYLAKE_OFF = facts(cmdline="ro quiet vmscape=off", sysfs={"vmscape": "Vulnerable"})
# The same host after the reboot: vmscape=ibpb on the cmdline, IBPB reported.
SKYLAKE_FIXED = facts(cmdline="ro quiet vmscape=ibpb", sysfs={"vmscape": IBPB_EXIT})
# Ice Lake-SP (6/0x6A): not affected (§4), nothing to do (§6.1).
ICELAKE = facts(model=0x6A, sysfs={"vmscape": "Not affected"})


def plan(args, task_vars=None, module_runs=None):
    fqcn = "fleetsec.vmscape.vmscape_plan"
    return run_action(vmscape_plan.ActionModule, fqcn, args, task_vars, module_runs=module_runs)


# ---- vmscape_plan -------------------------------------------------------------------------------


def test_plan_from_the_facts_option_sets_ibpb_and_needs_a_reboot():
    runs = ModuleRuns()
    res = plan({"facts": SKYLAKE_OFF}, module_runs=runs)
    assert runs.calls == []  # facts given: nothing runs on the target
    assert res.get("failed") is not True and res["changed"] is False
    p = res["plan"]
    assert (p["action"], p["cmdline"], p["cmdline_remove"]) == ("set", {"vmscape": "ibpb"}, [])
    assert p["expected_sysfs"] == IBPB_EXIT and p["reboot_required"] is True
    assert res["msg"] == f"set vmscape=ibpb: expect {IBPB_EXIT!r} (reboot required)"
    assert res["ansible_facts"] == {"vmscape_plan": p}  # facts were given, not gathered: not re-published


def test_plan_uses_the_hosts_gathered_facts_when_no_option_is_given():
    runs = ModuleRuns()
    res = plan({}, task_vars={"ansible_facts": {"vmscape": ICELAKE}}, module_runs=runs)
    assert runs.calls == []
    assert res["plan"]["action"] == "none" and res["plan"]["cmdline"] == {}
    assert res["msg"] == "none: CPU not affected: nothing to do"


def test_plan_with_root_runs_vmscape_facts_once_on_the_target():
    """The committed snapshot: Skylake-SP, Debian 6.1.0-56, no vmscape= on the cmdline, the
    kernel already reports IBPB before exit (the default, §2): pin ibpb, no reboot needed."""
    runs = ModuleRuns()
    res = plan(
        {"root": SNAPSHOT, "probe_image": "never"},
        task_vars={"ansible_facts": {"vmscape": ICELAKE}},  # ignored: root asks for fresh facts
        module_runs=runs,
    )
    assert runs.calls == [(FACTS_MODULE, {"root": SNAPSHOT, "probe_image": "never"})]
    p = res["plan"]
    assert (p["action"], p["cmdline"], p["reboot_required"]) == ("set", {"vmscape": "ibpb"}, False)
    assert p["observed_current"] == IBPB_EXIT == p["expected_sysfs"]
    assert res["msg"] == f"set vmscape=ibpb: expect {IBPB_EXIT!r} (no reboot needed)"
    gathered = res["ansible_facts"]["vmscape"]
    assert gathered["kernel"]["release"] == "6.1.0-56-amd64" and gathered["root"] == SNAPSHOT


def test_plan_gathers_from_slash_when_neither_facts_nor_root_are_known():
    runs = ModuleRuns(canned={"failed": True, "msg": "/proc/cpuinfo: Permission denied"})
    res = plan({}, task_vars={}, module_runs=runs)
    assert runs.calls == [(FACTS_MODULE, {"root": "/", "probe_image": "auto"})]
    assert res["failed"] is True
    assert res["msg"] == f"{FACTS_MODULE} failed: /proc/cpuinfo: Permission denied"
    assert "plan" not in res and "ansible_facts" not in res


def test_plan_refuses_a_module_result_without_facts():
    res = plan({"root": "/srv"}, module_runs=ModuleRuns(canned={"changed": False, "ansible_facts": {}}))
    assert res["failed"] is True and res["msg"] == f"{FACTS_MODULE} returned no ansible_facts.vmscape"


@pytest.mark.parametrize("mode", ["bogus", "ibpb; reboot", "IBPB"])
def test_plan_refuses_a_mode_outside_the_allow_list_naming_the_variable(mode):
    with pytest.raises(AnsibleActionFail) as exc:
        plan({"facts": SKYLAKE_OFF, "mode": mode})
    assert str(exc.value) == f"vmscape_mode / mode: {mode!r} is not one of auto, bhb, ibpb, force, off, none"


def test_plan_pinned_mode_and_allow_remove_reach_the_policy():
    # mitigations=off on G1 (§2, §6.6): not fixable by vmscape= unless removing it is allowed.
    moff = facts(cmdline="ro mitigations=off", sysfs={"vmscape": "Vulnerable"})
    blocked = plan({"facts": moff})["plan"]
    assert blocked["action"] == "blocked" and blocked["cmdline_remove"] == []
    allowed = plan({"facts": moff, "allow_remove_mitigations_off": True})["plan"]
    assert allowed["action"] == "set" and allowed["cmdline_remove"] == ["mitigations"]
    assert allowed["policy"] == {"mode": "auto", "allow_remove_mitigations_off": True}
    forced = plan({"facts": SKYLAKE_OFF, "mode": "force"})["plan"]
    assert forced["cmdline"] == {"vmscape": "force"} and forced["policy"]["mode"] == "force"


def test_plan_reports_malformed_facts_as_a_task_failure_naming_the_task():
    res = plan({"facts": {"schema": 1}})
    assert res["failed"] is True and res["msg"].startswith("vmscape_plan: ")
    assert "plan" not in res


def test_plan_rejects_an_unknown_option():
    # ActionBase's argument check; the task executor turns the exception into a failed task
    with pytest.raises(AnsibleActionFail, match=r"Invalid options for fleetsec\.vmscape\.vmscape_plan: modee"):
        plan({"facts": SKYLAKE_OFF, "modee": "ibpb"})


def test_summary_texts():
    p = {
        "action": "set",
        "cmdline": {"vmscape": "ibpb", "nosmt": "force"},
        "cmdline_remove": ["mitigations"],
        "expected_sysfs": IBPB_EXIT,
        "reboot_required": True,
        "reasons": [],
    }
    assert summary(p) == f"set vmscape=ibpb nosmt=force remove mitigations=: expect {IBPB_EXIT!r} (reboot required)"
    assert summary({"action": "none", "reasons": ["a", "the last reason"]}) == "none: the last reason"
    assert summary({"action": "blocked", "reasons": []}) == "blocked: "


# ---- vmscape_audit ------------------------------------------------------------------------------


def audit(args, module_runs=None):
    return run_action(vmscape_audit.ActionModule, "fleetsec.vmscape.vmscape_audit", args, {}, module_runs=module_runs)


def test_audit_of_a_vulnerable_host_is_pending_not_failed():
    res = audit({"facts": SKYLAKE_OFF})
    assert res.get("failed") is not True and res["changed"] is False
    assert res["verify"]["status"] == "pending" and res["verify"]["observed"] == "Vulnerable"
    assert res["msg"] == f"pending: set vmscape=ibpb: expect {IBPB_EXIT!r} (reboot required)"
    assert res["ansible_facts"] == {"vmscape_plan": res["plan"], "vmscape_verify": res["verify"]}


def test_audit_gathers_once_and_passes_the_snapshot():
    runs = ModuleRuns()
    res = audit({"root": SNAPSHOT, "probe_image": "never"}, module_runs=runs)
    assert runs.calls == [(FACTS_MODULE, {"root": SNAPSHOT, "probe_image": "never"})]
    assert res["verify"]["status"] == "pass" and res["verify"]["observed"] == IBPB_EXIT
    assert res["msg"].startswith("pass: set vmscape=ibpb")
    assert res["ansible_facts"]["vmscape"]["cpu"]["model"] == 0x55


def test_audit_fails_the_task_when_the_host_contradicts_its_plan():
    # Ice Lake is not affected (§4): nothing to do, the kernel must report Not affected; a host
    # reporting Vulnerable contradicts that and fails the audit.
    odd = facts(model=0x6A, sysfs={"vmscape": "Vulnerable"})
    res = audit({"facts": odd})
    assert res["failed"] is True and res["verify"]["status"] == "fail"
    assert res["msg"] == "fail: none: CPU not affected: nothing to do"
    assert res["verify"]["reasons"] == ["sysfs vmscape reports 'Vulnerable', expected 'Not affected'"]


def test_audit_names_itself_in_a_planning_error_and_checks_the_mode():
    assert audit({"facts": {"schema": 1}})["msg"].startswith("vmscape_audit: ")
    with pytest.raises(AnsibleActionFail, match="vmscape_mode / mode: 'x' is not one of"):
        audit({"facts": SKYLAKE_OFF, "mode": "x"})


# ---- vmscape_verify -----------------------------------------------------------------------------


def verify(args, module_runs=None):
    return run_action(vmscape_verify.ActionModule, "fleetsec.vmscape.vmscape_verify", args, {}, module_runs=module_runs)


PLAN_IBPB = {
    "action": "set",
    "cmdline": {"vmscape": "ibpb"},
    "cmdline_remove": [],
    "expected_sysfs": IBPB_EXIT,
    "reboot_required": True,
    "reasons": [],
}


def test_verify_after_a_reboot_observes_again_and_passes_when_sysfs_and_cmdline_match():
    # facts from before the reboot are never used after it; the host answers with the new boot
    runs = ModuleRuns(canned={"changed": False, "ansible_facts": {"vmscape": SKYLAKE_FIXED}})
    res = verify({"plan": PLAN_IBPB, "facts": SKYLAKE_OFF, "rebooted": True}, module_runs=runs)
    assert runs.calls == [(FACTS_MODULE, {"root": "/", "probe_image": "never"})]
    assert res.get("failed") is not True and res["changed"] is False
    assert res["verify"]["status"] == "pass" and res["verify"]["rebooted"] is True
    assert res["msg"] == f"pass: reports {IBPB_EXIT!r}" and res["facts_source"] == "gathered"
    assert "facts_note" not in res
    assert res["ansible_facts"]["vmscape_verify"] == res["verify"]


def test_verify_fails_the_task_with_every_reason():
    runs = ModuleRuns(canned={"changed": False, "ansible_facts": {"vmscape": SKYLAKE_OFF}})
    res = verify({"plan": PLAN_IBPB, "rebooted": True}, module_runs=runs)
    assert res["failed"] is True and res["verify"]["status"] == "fail"
    assert res["msg"] == (
        f"fail: sysfs vmscape reports 'Vulnerable', expected {IBPB_EXIT!r}; "
        "/proc/cmdline has vmscape=off, expected exactly vmscape=ibpb"
    )


def test_verify_without_a_reboot_uses_facts_of_this_run_and_notes_others():
    runs = ModuleRuns()
    res = verify({"plan": dict(PLAN_IBPB, reboot_required=True), "facts": SKYLAKE_OFF}, module_runs=runs)
    assert runs.calls == [] and res["facts_source"] == "given"
    assert res["verify"]["status"] == "pending"
    stale = ModuleRuns(canned={"changed": False, "ansible_facts": {"vmscape": SKYLAKE_OFF}})
    res = run_action(
        vmscape_verify.ActionModule,
        "fleetsec.vmscape.vmscape_verify",
        {"plan": dict(PLAN_IBPB, reboot_required=True), "facts": SKYLAKE_OFF},
        {},
        module_runs=stale,
        this_run=False,
    )
    assert len(stale.calls) == 1 and res["facts_source"] == "gathered"
    assert res["facts_note"].startswith("the facts at hand were not used (it carries no observation.run")


def test_verify_without_facts_gathers_from_root_without_probing_the_image():
    runs = ModuleRuns()
    plan_none = {"action": "set", "cmdline": {"vmscape": "ibpb"}, "expected_sysfs": IBPB_EXIT, "reboot_required": False}
    res = verify({"plan": plan_none, "root": SNAPSHOT}, module_runs=runs)
    assert runs.calls == [(FACTS_MODULE, {"root": SNAPSHOT, "probe_image": "never"})]
    # the snapshot's cmdline has no vmscape=: already mitigated, the pin applies from the next boot
    assert res["verify"]["status"] == "pass"
    assert res["msg"] == "pass: already mitigated; the configured parameters apply from the next boot"
    assert res["ansible_facts"]["vmscape"]["kernel"]["release"] == "6.1.0-56-amd64"


def test_verify_default_root_is_slash_and_module_errors_fail_the_task():
    runs = ModuleRuns(canned={"failed": True, "msg": "boom"})
    res = verify({"plan": PLAN_IBPB}, module_runs=runs)
    assert runs.calls == [(FACTS_MODULE, {"root": "/", "probe_image": "never"})]
    assert res["failed"] is True and res["msg"] == f"{FACTS_MODULE} failed: boom"
    assert "verify" not in res


def test_verify_requires_a_plan():
    with pytest.raises(AnsibleActionFail, match="missing required arguments: plan"):
        verify({"facts": SKYLAKE_FIXED})


# ---- vmscape_reboot_gate ------------------------------------------------------------------------


def gate(args, check_mode=False):
    return run_action(
        vmscape_reboot_gate.ActionModule, "fleetsec.vmscape.vmscape_reboot_gate", args, {}, check_mode=check_mode
    )


PLAN_REBOOT = {"action": "set", "reboot_required": True}


def test_gate_go_and_check_mode():
    res = gate({"plan": PLAN_REBOOT})
    assert res["gate"] == {"status": "go", "reason": "reboot required to apply the plan"}
    assert res["msg"] == "go: reboot required to apply the plan" and res["changed"] is False
    res = gate({"plan": PLAN_REBOOT}, check_mode=True)
    assert res["gate"]["status"] == "would_reboot"


def test_gate_stage_and_not_needed():
    assert gate({"plan": PLAN_REBOOT, "policy": "stage"})["gate"]["status"] == "pending"
    assert gate({"plan": {"action": "set", "reboot_required": False}})["gate"]["status"] == "not_needed"
    assert gate({"plan": {"action": "none", "reboot_required": True}})["gate"]["status"] == "not_needed"


def test_gate_window_uses_the_controllers_clock(monkeypatch):
    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 11, 25, 3, 30, tzinfo=dt.UTC)  # a Wednesday, 03:30 UTC

    monkeypatch.setattr(_reboot_gate.dt, "datetime", Clock)
    args = {"plan": PLAN_REBOOT, "policy": "window", "window": "22:00-04:00", "timezone": "UTC"}
    inside = gate({**args, "days": ["tue"]})
    assert inside["gate"]["status"] == "go"  # 03:30 Wednesday belongs to Tuesday's window
    outside = gate({**args, "days": ["wed"]})
    assert outside["gate"]["status"] == "pending"
    assert outside["msg"] == (
        "pending: outside the maintenance window 22:00-04:00 on wed (UTC, now Wed 2026-11-25 03:30 UTC); "
        "next opening Wed 2026-11-25 22:00 UTC: reboot pending"
    )


def test_gate_errors_name_the_variable():
    res = gate({"plan": PLAN_REBOOT, "policy": "window", "window": "25:00-26:00"})
    assert res["failed"] is True
    assert res["msg"] == "vmscape_maintenance_window: '25:00-26:00' is not HH:MM-HH:MM (24-hour clock)"
    res = gate({"plan": PLAN_REBOOT, "policy": "window", "window": "01:00-02:00", "days": ["someday"]})
    assert res["msg"] == (
        "vmscape_maintenance_days: 'someday' is not a day name (mon..sun, monday..sunday) or a range (mon-fri)"
    )
    with pytest.raises(AnsibleActionFail, match="value of policy must be one of: now, stage, window, got: sometimes"):
        gate({"plan": PLAN_REBOOT, "policy": "sometimes"})
