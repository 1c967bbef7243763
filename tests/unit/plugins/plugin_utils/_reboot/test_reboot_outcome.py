"""Drain / reboot / undrain decisions (plugins/plugin_utils/_reboot/outcome.py, docs/drain.md).

Inputs are shaped like the registered results of the role's tasks (vmscape_reboot_gate,
running_guests, ansible.builtin.reboot); expected records written by hand from the rules."""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.filter.vmscape_reboot import FilterModule
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot.outcome import (
    count,
    failure,
    outcome,
    undrain_due,
    undrained,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import FleetReport

GO = {"gate": {"status": "go", "reason": "reboot required to apply the plan"}, "changed": False}
WOULD = {"gate": {"status": "would_reboot", "reason": "check mode: the host would reboot now"}}
STAGE = {
    "gate": {"status": "pending", "reason": "vmscape_reboot_policy is stage: configuration staged, reboot pending"}
}
SKIPPED = {"skipped": True, "changed": False, "skip_reason": "Conditional result was False"}
NONE_RUNNING = {"count": 0, "processes": [], "libvirt_domains": []}
TWO = {"count": 2, "processes": [], "libvirt_domains": ["web1", "db2"]}
ONE_LEFT = {"count": 1, "processes": [{"pid": 4242, "name": "qemu-system-x86_64"}], "libvirt_domains": []}
REBOOTED = {"changed": True, "rebooted": True, "elapsed": 61}
HOOKS = {"drain_tasks": "drain/libvirt.yml", "undrain_tasks": "undrain/libvirt.yml"}


def test_count_reads_registered_results():
    assert count(TWO) == 2
    assert count(SKIPPED) is None
    assert count(None) is None
    assert count({"count": "3"}) == 3


def test_gate_not_go_passes_through_untouched():
    rec = outcome(STAGE, SKIPPED, **HOOKS)
    assert rec["status"] == "pending" and rec["reason"].startswith("vmscape_reboot_policy is stage")
    assert rec["drain"] is None and rec["undrain"] == "none"
    assert not undrain_due(rec, True)
    rec = outcome({"gate": {"status": "not_needed", "reason": "x"}}, SKIPPED, **HOOKS)
    assert rec["status"] == "not_needed" and rec["drain"] is None


def test_empty_host_reboots_without_drain():
    assert outcome(GO, NONE_RUNNING, **HOOKS)["status"] == "go"
    rec = outcome(GO, NONE_RUNNING, SKIPPED, REBOOTED, **HOOKS)
    assert (rec["status"], rec["reason"], rec["drain"], rec["undrain"]) == (
        "rebooted",
        "rebooted in 61 s",
        None,
        "none",
    )


def test_guests_without_drain_tasks_keep_the_reboot_pending():
    rec = outcome(GO, TWO)
    assert rec["status"] == "pending" and rec["guests"] == 2
    assert rec["reason"] == (
        "2 guest(s) (web1, db2) running and no drain tasks (vmscape_drain_tasks) emptied the host: reboot pending"
    )


def test_drain_then_reboot_then_undrain_after_verification():
    assert outcome(GO, TWO, **HOOKS)["drain"] is not None  # the drain is due
    assert outcome(GO, TWO, NONE_RUNNING, **HOOKS)["status"] == "go"  # emptied: reboot now
    rec = outcome(GO, TWO, NONE_RUNNING, REBOOTED, **HOOKS)
    assert rec["status"] == "rebooted" and rec["guests"] == 0
    assert rec["drain"]["guests_before"] == 2 and rec["drain"]["guests_after"] == 0
    assert rec["undrain"] == "after_verify" and rec["undrain_if_verify_fails"] is False
    assert undrain_due(rec, verified=True) and not undrain_due(rec, verified=False)
    done = undrained(rec, verified=True)
    assert done["undrain"] == "done"
    assert done["drain"]["note"] == (
        "drained with drain/libvirt.yml (2 guest(s)); undrained with undrain/libvirt.yml after verification"
    )
    assert rec["undrain"] == "after_verify"  # the input record is not changed


def test_failed_verification_leaves_the_host_drained():
    rec = outcome(GO, TWO, NONE_RUNNING, REBOOTED, **HOOKS)
    kept = undrained(rec, verified=False)
    assert kept["undrain"] == "withheld"
    assert "left drained: the verification failed, so undrain/libvirt.yml did not run" in kept["drain"]["note"]


def test_failed_verification_undrains_when_asked():
    rec = outcome(GO, TWO, NONE_RUNNING, REBOOTED, undrain_on_verify_failure=True, **HOOKS)
    assert rec["undrain_if_verify_fails"] is True and undrain_due(rec, verified=False)
    done = undrained(rec, verified=False)
    assert done["undrain"] == "done"
    assert done["drain"]["note"].endswith(
        "undrained with undrain/libvirt.yml although the verification failed (vmscape_undrain_on_verify_failure)"
    )


def test_drain_that_leaves_guests_keeps_the_host_in_service():
    rec = outcome(GO, TWO, ONE_LEFT, **HOOKS)
    assert rec["status"] == "pending" and rec["guests"] == 1
    assert rec["reason"] == (
        "1 guest(s) (qemu-system-x86_64[4242]) still running after the drain tasks drain/libvirt.yml: reboot pending"
    )
    assert rec["undrain"] == "now" and undrain_due(rec, True) and undrain_due(rec, False)
    assert undrained(rec)["drain"]["note"].endswith("not rebooted, undrained with undrain/libvirt.yml")


def test_drain_always_runs_on_an_empty_host():
    assert outcome(GO, NONE_RUNNING, **HOOKS)["drain"] is None
    rec = outcome(GO, NONE_RUNNING, NONE_RUNNING, REBOOTED, drain_always=True, **HOOKS)
    assert rec["drain"]["guests_before"] == 0 and rec["undrain"] == "after_verify"


def test_drain_without_undrain_tasks_stays_drained():
    rec = outcome(GO, TWO, NONE_RUNNING, REBOOTED, drain_tasks="d.yml")
    assert rec["undrain"] == "none" and not undrain_due(rec, True)
    assert rec["drain"]["note"] == "drained with d.yml (2 guest(s)); no vmscape_undrain_tasks: the host stays drained"


def test_running_guests_allowed():
    rec = outcome(GO, TWO, SKIPPED, REBOOTED, allow_running=True)
    assert rec["status"] == "rebooted"
    assert rec["reason"] == "rebooted in 61 s with 2 guest(s) (web1, db2) running (vmscape_reboot_allow_running_guests)"


def test_check_mode_predicts_the_real_run():
    rec = outcome(WOULD, TWO, SKIPPED, SKIPPED, check_mode=True, **HOOKS)
    assert rec["status"] == "would_reboot" and rec["guests"] == 2
    assert rec["drain"]["note"] == (
        "would drain with drain/libvirt.yml (2 guest(s), check mode); "
        "undrain with undrain/libvirt.yml after verification"
    )
    assert undrain_due(rec, True)  # the undrain tasks run in check mode too
    assert "would undrain with undrain/libvirt.yml" in undrained(rec)["drain"]["note"]
    # without drain tasks a host with guests would stay pending in the real run: check mode says so
    rec = outcome(WOULD, TWO, check_mode=True)
    assert rec["status"] == "pending" and "the reboot would stay pending" in rec["reason"]


def test_failure_undoes_a_drain_only_when_the_host_did_not_go_down():
    rec = outcome(GO, TWO, **HOOKS)
    out = failure(rec, {"failed": True, "msg": "non-zero return code", "rc": 1})
    assert out == {"undrain": True, "msg": "non-zero return code (not rebooted; undrained with undrain/libvirt.yml)"}
    out = failure(rec, {"failed": True, "rebooted": False, "msg": "Reboot command failed"})
    assert out["undrain"] is True
    out = failure(rec, {"failed": True, "rebooted": True, "msg": "Timed out waiting for last boot time check"})
    assert out["undrain"] is False and "left drained" in out["msg"]
    assert failure(outcome(GO, TWO, drain_tasks="d.yml"), {"msg": "x"})["undrain"] is False
    assert failure(outcome(GO, NONE_RUNNING, **HOOKS), {"msg": "x"}) == {"undrain": False, "msg": "x (no drain ran)"}


def test_filters_are_the_same_functions():
    f = FilterModule().filters()
    rec = f["reboot_outcome"](GO, TWO, NONE_RUNNING, REBOOTED, **HOOKS)
    assert rec == outcome(GO, TWO, NONE_RUNNING, REBOOTED, **HOOKS)
    assert f["undrain_due"](rec, False) is False
    assert f["reboot_undrained"](rec, True)["undrain"] == "done"
    assert f["reboot_failure"](rec, {"msg": "m"})["undrain"] is True
    assert f["undrain_due"]({}, True) is False and f["reboot_undrained"]({}, True) == {}


@pytest.mark.parametrize("verified", [True, False])
def test_report_keeps_a_failed_verification_and_shows_the_drain(verified):
    r = FleetReport()
    rec = outcome(GO, TWO, NONE_RUNNING, REBOOTED, **HOOKS)
    r.ok("kvm1", "Record the reboot outcome", {"ansible_facts": {"vmscape_reboot": rec}})
    verify = {"status": "pass" if verified else "fail", "observed": "x", "reasons": [] if verified else ["mismatch"]}
    (r.ok if verified else r.failed)("kvm1", "Verify", {"verify": verify})
    r.ok("kvm1", "Record the undrain", {"ansible_facts": {"vmscape_reboot": undrained(rec, verified)}})
    if not verified:  # the rescue re-raises the failure
        r.failed("kvm1", "The host stays failed (verification failed)", {"msg": "fail: mismatch; ..."})
    (row,) = r.rows()
    assert row["result"] == ("pass" if verified else "fail")
    assert ("undrained with undrain/libvirt.yml" if verified else "left drained") in row["why"]


# --------------------------------------------------------------------------- decisions the YAML used to make
def test_reboot_wanted_only_for_go_and_would_reboot():
    f = FilterModule().filters()
    for status, wanted in (("go", True), ("would_reboot", True), ("pending", False), ("not_needed", False)):
        assert f["reboot_wanted"]({"gate": {"status": status, "reason": "x"}}) is wanted
        assert f["reboot_wanted"]({"status": status}) is wanted
    assert f["reboot_wanted"](None) is False


def test_rebooted_only_after_a_reboot():
    f = FilterModule().filters()
    assert f["rebooted"]({"status": "rebooted", "reason": "rebooted in 61 s"}) is True
    assert f["rebooted"]({"status": "pending"}) is False
    assert f["rebooted"](None) is False


def test_staged_reboot_is_pending_with_nothing_drained():
    rec = FilterModule().filters()["reboot_staged"]("the restored configuration takes effect at the next boot")
    assert rec == {
        "status": "pending",
        "reason": "the restored configuration takes effect at the next boot",
        "guests": 0,
        "drain": None,
        "undrain": "none",
        "undrain_if_verify_fails": False,
    }
    assert undrain_due(rec) is False


def test_verify_failure_message_names_the_drain():
    f = FilterModule().filters()["verify_failure_msg"]
    assert f({"msg": "expected X, observed Y"}, None) == "expected X, observed Y"
    assert f({}, {"status": "pending", "drain": None}) == "verification failed"
    drained = {"status": "rebooted", "drain": {"note": "drained with d.yml (2 guest(s)); left drained"}}
    assert f({"msg": "expected X"}, drained) == "expected X; drained with d.yml (2 guest(s)); left drained"
