"""Reboot gate: only hosts that need it, only when policy and window allow."""

import datetime as dt

import pytest

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot.gate import (
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


# --- timezones, day ranges, dates (issue 15). Expected instants worked out by hand from the
# zones' rules: Europe/Berlin is UTC+1 (CET) in winter, UTC+2 (CEST) from the last Sunday of
# March 01:00 UTC to the last Sunday of October 01:00 UTC; America/New_York is UTC-5 in November.
UTC = dt.UTC


def _go(**kw):
    return gate(NEEDS, "window", **kw)


@pytest.mark.parametrize(
    ("tz", "status"),
    [("Europe/Berlin", "go"), ("UTC", "pending"), ("America/New_York", "pending"), ("Asia/Tokyo", "go")],
)
def test_window_is_read_in_its_timezone(tz, status):
    # 2026-11-25 21:30 UTC = Wed 22:30 Berlin, 21:30 UTC, 16:30 New York, Thu 06:30 Tokyo
    now = dt.datetime(2026, 11, 25, 21, 30, tzinfo=UTC)
    window = "22:00-04:00" if tz != "Asia/Tokyo" else "06:00-07:00"
    assert _go(window=window, timezone=tz, now=now)["status"] == status


def test_pending_reason_names_zone_local_time_and_next_opening():
    now = dt.datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # Wed 12:00 CET
    out = _go(window="22:00-04:00", days=["sat", "sun"], timezone="Europe/Berlin", now=now)
    assert out["status"] == "pending"
    assert out["next_opening"] == "2026-11-28T22:00:00+01:00"  # Saturday
    assert "Europe/Berlin, now Wed 2026-11-25 12:00 CET" in out["reason"]
    assert "next opening Sat 2026-11-28 22:00 CET" in out["reason"]


@pytest.mark.parametrize(
    ("utc", "status"),
    [
        (dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "go"),  # 02:30 CEST, first time
        (dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "go"),  # 02:30 CET, the hour repeats
        (dt.datetime(2026, 10, 25, 2, 5, tzinfo=UTC), "pending"),  # 03:05 CET
        (dt.datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "pending"),  # 01:59 CET
        (dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "pending"),  # 03:00 CEST: 02:xx never happens
    ],
)
def test_daylight_saving_changes(utc, status):
    assert _go(window="02:00-03:00", timezone="Europe/Berlin", now=utc)["status"] == status


def test_next_opening_after_the_skipped_hour_is_the_next_day():
    out = _go(window="02:00-03:00", timezone="Europe/Berlin", now=dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert out["next_opening"] == "2026-03-30T02:00:00+02:00"


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (["mon-fri"], {0, 1, 2, 3, 4}),
        (["fri-mon"], {4, 5, 6, 0}),
        (["Saturday", "sun"], {5, 6}),
        (["wed-wed"], {2}),
        ([" TUE "], {1}),
    ],
)
def test_day_names_and_ranges(days, expected):
    assert parse_days(days) == frozenset(expected)


def test_dates_bound_the_period():
    berlin = {"timezone": "Europe/Berlin", "not_before": "2026-12-01", "not_after": "2026-12-05"}
    before = _go(now=dt.datetime(2026, 11, 30, 22, 59, tzinfo=UTC), **berlin)  # Mon 23:59 CET
    assert before["status"] == "pending"
    assert "the maintenance period starts Tue 2026-12-01 00:00 CET" in before["reason"]
    assert before["next_opening"] == "2026-12-01T00:00:00+01:00"
    assert _go(now=dt.datetime(2026, 11, 30, 23, 0, tzinfo=UTC), **berlin)["status"] == "go"  # 00:00 CET
    assert _go(now=dt.datetime(2026, 12, 5, 22, 59, tzinfo=UTC), **berlin)["status"] == "go"  # 23:59 on the 5th
    after = _go(now=dt.datetime(2026, 12, 5, 23, 0, tzinfo=UTC), **berlin)  # 00:00 on the 6th
    assert after["status"] == "pending" and after["next_opening"] is None
    assert "ended Sun 2026-12-06 00:00 CET" in after["reason"] and "does not open again" in after["reason"]


def test_date_and_time_bounds_are_exact_and_yaml_dates_work():
    kw = {"timezone": "UTC", "not_before": dt.date(2026, 12, 1), "not_after": "2026-12-01T06:00"}
    assert _go(now=dt.datetime(2026, 12, 1, 5, 59, tzinfo=UTC), **kw)["status"] == "go"
    assert _go(now=dt.datetime(2026, 12, 1, 6, 0, tzinfo=UTC), **kw)["status"] == "pending"


def test_window_and_dates_together():
    kw = {"window": "22:00-04:00", "timezone": "UTC", "not_before": "2026-12-01", "days": ["tue"]}
    # Tue 2026-12-01 is the first day; 22:00 Tue opens; the window after midnight belongs to Tue
    out = _go(now=dt.datetime(2026, 11, 30, 23, 0, tzinfo=UTC), **kw)
    assert out["status"] == "pending" and out["next_opening"] == "2026-12-01T22:00:00+00:00"
    assert _go(now=dt.datetime(2026, 12, 2, 3, 0, tzinfo=UTC), **kw)["status"] == "go"


@pytest.mark.parametrize(
    ("kw", "var", "text"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "vmscape_maintenance_timezone", "not an IANA timezone"),
        ({"timezone": "europe/berlin"}, "vmscape_maintenance_timezone", "did you mean 'Europe/Berlin'"),
        ({"timezone": "../../etc/passwd"}, "vmscape_maintenance_timezone", "not an IANA timezone"),
        ({"timezone": "/usr/share/zoneinfo/UTC"}, "vmscape_maintenance_timezone", "not an IANA timezone"),
        ({"not_before": "2026-13-01"}, "vmscape_maintenance_not_before", "not a date"),
        ({"not_before": "01.12.2026"}, "vmscape_maintenance_not_before", "not a date"),
        ({"not_after": "tomorrow"}, "vmscape_maintenance_not_after", "not a date"),
        ({"not_after": "2026-12-01 25:00"}, "vmscape_maintenance_not_after", "not a date"),
        (
            {"not_before": "2026-12-05", "not_after": "2026-12-01"},
            "vmscape_maintenance_not_before",
            "period is empty",
        ),
        (
            {"not_before": "2026-12-01 06:00", "not_after": "2026-12-01 06:00"},
            "vmscape_maintenance_not_before",
            "period is empty",
        ),
        ({"days": ["mon-xyz"]}, "vmscape_maintenance_days", "not a day name"),
        ({"days": [1]}, "vmscape_maintenance_days", "not a day name"),
    ],
)
def test_bad_settings_are_clear_errors(kw, var, text):
    with pytest.raises(GateError) as err:
        gate(NEEDS, "window", window="22:00-04:00", **kw)
    assert str(err.value).startswith(var) and text in str(err.value)


def test_settings_are_checked_even_when_no_reboot_is_needed_or_policy_is_now():
    with pytest.raises(GateError, match="vmscape_maintenance_timezone"):
        gate(COMPLIANT, "now", timezone="Nowhere/City")


def test_window_policy_without_any_window_setting_is_an_error():
    with pytest.raises(GateError, match="no window to reboot in"):
        gate(NEEDS, "window")
    assert gate(NEEDS, "window", days=["wed"], now=WED_1200)["status"] == "go"  # whole day
