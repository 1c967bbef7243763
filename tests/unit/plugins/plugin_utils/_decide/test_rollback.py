"""The rollback as a plan (plugin_utils/_decide/rollback.py), as roles/vmscape/tasks/rollback.yml uses it.

Inputs are kernel_cmdline restore results and vmscape_plan plans shaped by hand after the module's
RETURN and docs/DESIGN.md; expected values follow the rules written in the role's comments:
action set when the restored configuration is in place, a reboot when the host does not report
what it gives (check mode: when the restore would change something), an empty journal is not a
failure.
"""

from ansible_collections.fleetsec.vmscape.plugins.filter.vmscape_rollback import FilterModule
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import rollback

IBPB = "Mitigation: IBPB before exit to userspace"
# mode none after the restore: the restored configuration gives Vulnerable (vmscape=off), the host
# still runs the mitigated kernel
PREDICTED = {
    "action": "none",
    "mode": "none",
    "cmdline": {},
    "cmdline_remove": [],
    "expected_sysfs": "Vulnerable",
    "observed_current": IBPB,
    "reboot_required": False,
    "reasons": ["vmscape_mode is none: the boot configuration is left alone"],
    "compliant": False,
}
ENTRY = {"id": "20251125T100000.123456Z-4711", "restored": None}
RESTORED_NOW = {"changed": True, "failed": False, "restored_entry": ENTRY, "effective_cmdline": "quiet vmscape=off"}
RESTORED_BEFORE = {
    "changed": False,
    "failed": False,
    "restored_entry": {**ENTRY, "restored": {"time": "2025-11-25T11:00:00Z"}},
    "effective_cmdline": "quiet vmscape=off",
}
EMPTY = {
    "changed": False,
    "failed": True,
    "msg": "/var/lib/fleetsec-vmscape/kernel_cmdline-journal.json: no journaled change to restore "
    "(the journal does not exist)",
    "restored_entry": None,
}


def test_restored_now_needs_a_reboot_until_the_host_reports_it():
    plan = rollback.plan(PREDICTED, RESTORED_NOW)
    assert plan["action"] == "set" and plan["mode"] == "rollback"
    assert plan["restored_entry"] == "20251125T100000.123456Z-4711"
    assert plan["reboot_required"] is True
    assert plan["cmdline"] == {} and plan["cmdline_remove"] == []
    assert plan["reasons"] == [
        "vmscape_mode is none: the boot configuration is left alone",
        'rollback: journal entry 20251125T100000.123456Z-4711 restored; the next boot gets "quiet vmscape=off"',
    ]
    assert plan["expected_sysfs"] == "Vulnerable" and plan["compliant"] is False  # the rest is the prediction's
    assert PREDICTED["action"] == "none"  # the input is not changed


def test_restored_by_an_earlier_run_is_still_in_place():
    plan = rollback.plan(PREDICTED, RESTORED_BEFORE)
    assert (plan["action"], plan["reboot_required"]) == ("set", True)
    assert plan["reasons"][-1].endswith(' already restored; the next boot gets "quiet vmscape=off"')


def test_no_reboot_when_the_host_already_reports_what_the_restore_gives():
    plan = rollback.plan({**PREDICTED, "observed_current": "Vulnerable"}, RESTORED_BEFORE)
    assert (plan["action"], plan["reboot_required"]) == ("set", False)


def test_check_mode_reboots_where_the_restore_would_change_something():
    same = {**PREDICTED, "observed_current": "Vulnerable"}  # nothing restored yet: the facts are the old ones
    plan = rollback.plan(same, RESTORED_NOW, check_mode=True)
    assert plan["reboot_required"] is True
    assert " would be restored;" in plan["reasons"][-1]
    assert rollback.plan(same, RESTORED_BEFORE, check_mode=True)["reboot_required"] is False


def test_nothing_journaled_is_nothing_to_do_and_no_failure():
    plan = rollback.plan(PREDICTED, EMPTY)
    assert (plan["action"], plan["reboot_required"], plan["restored_entry"]) == ("none", False, None)
    assert plan["reasons"][-1] == "nothing to roll back: " + EMPTY["msg"]
    assert rollback.restore_failed(EMPTY) is False


def test_other_refusals_fail_the_host():
    changed_since = {"failed": True, "msg": "journal entry X: changed after it: /etc/default/grub (...)"}
    assert rollback.restore_failed(changed_since) is True
    assert rollback.restore_failed(RESTORED_NOW) is False
    assert rollback.restore_failed(None) is False


def test_filters_are_the_functions():
    f = FilterModule().filters()
    assert f["rollback_plan"](PREDICTED, RESTORED_NOW, True) == rollback.plan(PREDICTED, RESTORED_NOW, True)
    assert f["rollback_failed"](EMPTY) is False
