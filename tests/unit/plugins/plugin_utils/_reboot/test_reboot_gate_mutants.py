"""The reboot gate at its edges, with whole results (found by `make mutation`).

Boundaries of the window (start inclusive, end exclusive, also across midnight and across the
week), minutes that matter, every decision's exact record and every error's exact text.
"""

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
ALL_DAYS = frozenset(range(7))


def at(day, hh, mm):
    """2026-11-23 is a Monday: day 0 = Monday .. 6 = Sunday."""
    return dt.datetime(2026, 11, 23 + day, hh, mm)


def test_each_decision_is_the_whole_record():
    assert gate({"action": "set", "reboot_required": False}) == {
        "status": "not_needed",
        "reason": "the host already reports what its plan expects",
    }
    assert gate(NEEDS, "stage") == {
        "status": "pending",
        "reason": "vmscape_reboot_policy is stage: configuration staged, reboot pending",
    }
    assert gate(NEEDS, "now", check_mode=True) == {
        "status": "would_reboot",
        "reason": "check mode: the host would reboot now",
    }
    assert gate(NEEDS, "now") == {"status": "go", "reason": "reboot required to apply the plan"}
    assert gate(NEEDS, "window", window="09:00-17:00", now=at(2, 8, 59), timezone="UTC") == {
        "status": "pending",
        "reason": (
            "outside the maintenance window 09:00-17:00 (UTC, now Wed 2026-11-25 08:59 UTC); "
            "next opening Wed 2026-11-25 09:00 UTC: reboot pending"
        ),
        "next_opening": "2026-11-25T09:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (at(0, 0, 59), False),
        (at(0, 1, 0), True),  # the start minute is inside
        (at(0, 1, 29), True),
        (at(0, 1, 30), False),  # the end minute is not
    ],
)
def test_plain_window_edges(now, inside):
    assert in_window(now, parse_window("01:00-01:30"), ALL_DAYS) is inside


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (at(2, 21, 59), False),
        (at(2, 22, 0), True),  # start of a window that wraps past midnight
        (at(3, 3, 59), True),
        (at(3, 4, 0), False),  # its end
    ],
)
def test_wrapping_window_edges(now, inside):
    assert in_window(now, parse_window("22:00-04:00"), ALL_DAYS) is inside


def test_minutes_of_both_ends_count():
    w = parse_window("01:30-02:45")
    assert w == (dt.time(1, 30), dt.time(2, 45))
    assert in_window(at(0, 1, 15), w, ALL_DAYS) is False
    assert in_window(at(0, 2, 40), w, ALL_DAYS) is True
    assert in_window(at(0, 2, 50), w, ALL_DAYS) is False


def test_early_monday_belongs_to_sundays_window():
    sunday = parse_days(["sun"])
    assert sunday == frozenset({6})
    assert in_window(at(0, 3, 0), parse_window("22:00-04:00"), sunday) is True
    assert in_window(at(0, 3, 0), parse_window("22:00-04:00"), parse_days(["mon"])) is False
    assert in_window(at(6, 23, 0), parse_window("22:00-04:00"), sunday) is True


def test_days_are_the_first_three_letters_any_case():
    assert parse_days(None) == ALL_DAYS
    assert parse_days([]) == ALL_DAYS
    assert parse_days(["Monday", " TUE ", "wednesday", "thu", "Fri", "sat", "SUNDAY"]) == ALL_DAYS
    assert parse_days(("fri",)) == frozenset({4})
    assert parse_days(["fri-mon"]) == frozenset({4, 5, 6, 0})  # a range may wrap
    assert parse_days(["tue-thu"]) == frozenset({1, 2, 3})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy": "later"}, "vmscape_reboot_policy: 'later' is not one of now, stage, window"),
        ({"policy": "window", "window": 2200}, "vmscape_maintenance_window: 2200 is not HH:MM-HH:MM (24-hour clock)"),
        (
            {"policy": "window"},
            "vmscape_reboot_policy is window but none of vmscape_maintenance_window, vmscape_maintenance_days, "
            "vmscape_maintenance_not_before, vmscape_maintenance_not_after is set: there is no window to reboot in",
        ),
        (
            {"policy": "window", "window": "03:00-03:00"},
            "vmscape_maintenance_window: '03:00-03:00' is empty (start equals end)",
        ),
        ({"policy": "now", "window": "3-4"}, "vmscape_maintenance_window: '3-4' is not HH:MM-HH:MM (24-hour clock)"),
        ({"days": "mon"}, "vmscape_maintenance_days: 'mon' is not a list of day names"),
        (
            {"days": ["mon", "xyz"]},
            "vmscape_maintenance_days: 'xyz' is not a day name (mon..sun, monday..sunday) or a range (mon-fri)",
        ),
        ({"days": ["mon", 3]}, "vmscape_maintenance_days: 3 is not a day name (mon..sun)"),
    ],
)
def test_errors_are_exact(kwargs, message):
    with pytest.raises(GateError) as err:
        gate(NEEDS, **kwargs)
    assert str(err.value) == message


def test_a_window_with_blanks_around_it_is_accepted():
    assert parse_window(" 22:00-04:00\n") == (dt.time(22, 0), dt.time(4, 0))


def test_errors_come_before_the_not_needed_answer():
    # a typo in the policy variables is reported even on hosts that need no reboot
    with pytest.raises(GateError):
        gate({"action": "none"}, "window", window="bad")


# --- timezones, dates and the next opening (the window code of issue 15) ---------------------------

UTC = dt.UTC


def wed(hh, mm, tz=UTC):
    return dt.datetime(2026, 11, 25, hh, mm, tzinfo=tz)


def test_days_only_window_is_described_as_all_day():
    out = gate(NEEDS, "window", days=["sat", "sun"], timezone="UTC", now=wed(10, 0))
    assert out == {
        "status": "pending",
        "reason": (
            "outside the maintenance window all day on sat,sun (UTC, now Wed 2026-11-25 10:00 UTC); "
            "next opening Sat 2026-11-28 00:00 UTC: reboot pending"
        ),
        "next_opening": "2026-11-28T00:00:00+00:00",
    }


def test_controller_time_without_a_timezone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        out = gate(NEEDS, "window", window="01:00-02:00", now=dt.datetime(2026, 11, 25, 3, 0))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert out["reason"] == (
        "outside the maintenance window 01:00-02:00 (controller time, now Wed 2026-11-25 03:00 UTC); "
        "next opening Thu 2026-11-26 01:00 UTC: reboot pending"
    )


def test_a_period_that_ended_does_not_open_again():
    # not_after as a date: the end of that day (Friday 24:00); Saturday's day window never comes
    out = gate(NEEDS, "window", days=["sat"], not_after="2026-11-27", timezone="UTC", now=wed(10, 0))
    assert out["next_opening"] is None
    assert out["reason"].endswith("; it does not open again: reboot pending")
    ended = gate(NEEDS, "window", window="01:00-02:00", not_after="2026-11-24", timezone="UTC", now=wed(1, 30))
    assert ended["reason"] == (
        "the maintenance period ended Wed 2026-11-25 00:00 UTC (UTC, now Wed 2026-11-25 01:30 UTC); "
        "it does not open again: reboot pending"
    )


def test_a_period_that_starts_later_opens_at_its_start_in_the_window_timezone():
    out = gate(
        NEEDS, "window", window="22:00-23:00", not_before="2026-11-28", timezone="Asia/Tokyo", now=wed(22, 30, UTC)
    )
    # Wed 22:30 UTC is Thu 07:30 in Tokyo; the first window after Sat 00:00 Tokyo is Sat 22:00 Tokyo
    assert out["next_opening"] == "2026-11-28T22:00:00+09:00"
    assert out["reason"].startswith("the maintenance period starts Sat 2026-11-28 00:00 JST (Asia/Tokyo, now Thu ")
    early = gate(NEEDS, "window", not_before="2026-11-28 06:30", timezone="Asia/Tokyo", now=wed(10, 0, UTC))
    assert early["next_opening"] == "2026-11-28T06:30:00+09:00"


def test_dates_as_yaml_gives_them():
    go = gate(NEEDS, "window", not_before=dt.datetime(2026, 11, 25, 9, 0), timezone="UTC", now=wed(10, 0))
    assert go["status"] == "go"
    wait = gate(NEEDS, "window", not_before=dt.date(2026, 11, 26), timezone="UTC", now=wed(10, 0))
    assert wait["next_opening"] == "2026-11-26T00:00:00+00:00"
    local = gate(NEEDS, "window", not_before="2026-11-25 09:00", now=dt.datetime.now(UTC) + dt.timedelta(days=400))
    assert local["status"] == "go"  # a bound without a timezone is in the controller's local time, aware


def test_now_defaults_to_the_real_clock_in_the_window_timezone():
    from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot.gate import local_now, settings

    t = local_now(settings("window", window="01:00-02:00", timezone="Asia/Tokyo"))
    assert t.utcoffset() == dt.timedelta(hours=9)
    assert abs(t - dt.datetime.now(UTC)) < dt.timedelta(seconds=5)
    naive = local_now(settings("window", window="01:00-02:00"), dt.datetime(2026, 11, 25, 3, 0))
    assert naive.tzinfo is not None and (naive.hour, naive.minute) == (3, 0)


def test_a_naive_now_is_the_wall_clock_of_the_window_timezone(monkeypatch):
    import time

    from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot.gate import local_now, settings

    monkeypatch.setenv("TZ", "UTC")  # the controller's own zone differs from the window's
    time.tzset()
    try:
        t = local_now(settings("window", window="01:00-02:00", timezone="Asia/Tokyo"), dt.datetime(2026, 11, 25, 3, 0))
        assert (t.hour, t.minute, t.utcoffset()) == (3, 0, dt.timedelta(hours=9))
        aware = local_now(settings("window", window="01:00-02:00"), dt.datetime(2026, 11, 25, 3, 0, tzinfo=UTC))
        assert (aware.hour, aware.utcoffset()) == (3, dt.timedelta(0))  # the controller's zone (UTC here)
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"policy": "window", "not_before": "2026-12-02", "not_after": "2026-12-01"},
            "vmscape_maintenance_not_before (2026-12-02) is not before vmscape_maintenance_not_after (2026-12-01): "
            "the maintenance period is empty",
        ),
        (
            {"policy": "window", "not_before": 5},
            "vmscape_maintenance_not_before: 5 is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DD HH:MM)",
        ),
        (
            {"policy": "window", "not_after": "soon"},
            "vmscape_maintenance_not_after: 'soon' is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DD HH:MM)",
        ),
        ({"timezone": 5}, "vmscape_maintenance_timezone: 5 is not an IANA timezone name (e.g. Europe/Berlin)"),
        (
            {"timezone": "Mars/Base"},
            "vmscape_maintenance_timezone: 'Mars/Base' is not an IANA timezone name known to the controller's "
            "timezone database (e.g. Europe/Berlin, America/New_York, UTC)",
        ),
        (
            {"timezone": "europe/berlin"},
            "vmscape_maintenance_timezone: 'europe/berlin' is not an IANA timezone name known to the controller's "
            "timezone database (e.g. Europe/Berlin, America/New_York, UTC) (did you mean 'Europe/Berlin'? names "
            "are case-sensitive)",
        ),
        (
            {"days": ["mon-tue-wed"]},
            "vmscape_maintenance_days: 'mon-tue-wed' is not a day name (mon..sun, monday..sunday) or a range (mon-fri)",
        ),
        (
            {"days": ["xyz-mon"]},
            "vmscape_maintenance_days: 'xyz-mon' is not a day name (mon..sun, monday..sunday) or a range (mon-fri)",
        ),
        (
            {"days": ["mon-xyz"]},
            "vmscape_maintenance_days: 'mon-xyz' is not a day name (mon..sun, monday..sunday) or a range (mon-fri)",
        ),
    ],
)
def test_more_errors_are_exact(kwargs, message):
    with pytest.raises(GateError) as err:
        gate(NEEDS, **kwargs)
    assert str(err.value) == message
