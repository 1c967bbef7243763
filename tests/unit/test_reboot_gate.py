"""Reboot gate: only hosts that need it, only when policy and window allow."""

import datetime as dt

import pytest

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot_gate import (
    GateError,
    gate,
    in_window,
    parse_days,
    parse_window,
)

NEEDS = {"action": "set", "reboot_required": True}
COMPLIANT = {"action": "set", "reboot_required": False}
# 2026-11-25 is a Wednesday.
WED_2300 = dt.datetime(2026, 11, 25, 23, 0)
WED_1200 = dt.datetime(2026, 11, 25, 12, 0)
THU_0300 = dt.datetime(2026, 11, 26, 3, 0)


def test_compliant_host_never_reboots():
    for policy in ("now", "stage"):
        assert gate(COMPLIANT, policy)["status"] == "not_needed"
    assert gate({"action": "blocked", "reboot_required": True})["status"] == "not_needed"


def test_now_goes_and_check_mode_only_says_so():
    assert gate(NEEDS, "now")["status"] == "go"
    assert gate(NEEDS, "now", check_mode=True)["status"] == "would_reboot"


def test_stage_keeps_the_reboot_pending():
    out = gate(NEEDS, "stage")
    assert out["status"] == "pending" and "staged" in out["reason"]


@pytest.mark.parametrize(
    ("now", "window", "days", "status"),
    [
        (WED_2300, "22:00-04:00", None, "go"),
        (THU_0300, "22:00-04:00", None, "go"),
        (WED_1200, "22:00-04:00", None, "pending"),
        (WED_1200, "09:00-17:00", None, "go"),
        (WED_1200, "09:00-17:00", ["sat", "sun"], "pending"),
        (THU_0300, "22:00-04:00", ["wed"], "go"),  # a wrapping window belongs to its start day
        (THU_0300, "22:00-04:00", ["thu"], "pending"),
        (WED_2300, "22:00-23:00", None, "pending"),  # end is exclusive
    ],
)
def test_window(now, window, days, status):
    assert gate(NEEDS, "window", window=window, days=days, now=now)["status"] == status


@pytest.mark.parametrize("window", ["22-04", "25:00-01:00", "10:00-10:00", "10:00 - 11:00", "$(reboot)", ""])
def test_bad_window_is_a_clear_error(window):
    with pytest.raises(GateError, match="vmscape_maintenance_window"):
        gate(NEEDS, "window", window=window)


def test_bad_days_and_policy():
    with pytest.raises(GateError, match="vmscape_maintenance_days"):
        parse_days(["funday"])
    with pytest.raises(GateError, match="vmscape_maintenance_days"):
        parse_days("mon")
    with pytest.raises(GateError, match="vmscape_reboot_policy"):
        gate(NEEDS, "whenever")


def test_in_window_helpers():
    w = parse_window("22:00-04:00")
    assert in_window(WED_2300, w, parse_days(None))
    assert not in_window(WED_1200, w, parse_days(["Wednesday"]))
