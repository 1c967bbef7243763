# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a host may reboot now: plan, operator policy and maintenance window. Pure.

The window is a wall-clock range ("22:00-04:00") on given days of the week, in an IANA timezone
(the standard library's zoneinfo on the controller; the controller's local time when none is
given), optionally bounded by "not before" / "not after" dates. Every setting is checked by
``settings()`` before anything is decided, so a wrong name or range is one clear error that
names the variable, raised before any host is changed (remediate.yml checks every host's
settings in its first play).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

try:  # Python >= 3.9 (the controller of every supported ansible-core)
    import zoneinfo
except ImportError:  # pragma: no cover
    zoneinfo = None

from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import GO, NOT_NEEDED, PENDING, WOULD_REBOOT
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import REBOOT_POLICIES as POLICIES

_WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")

VAR_WINDOW = "vmscape_maintenance_window"
VAR_DAYS = "vmscape_maintenance_days"
VAR_TZ = "vmscape_maintenance_timezone"
VAR_NOT_BEFORE = "vmscape_maintenance_not_before"
VAR_NOT_AFTER = "vmscape_maintenance_not_after"
VAR_POLICY = "vmscape_reboot_policy"


class GateError(ValueError):
    """A reboot policy variable is malformed; the message names it."""


def parse_window(text: str) -> tuple[dt.time, dt.time]:
    """ "HH:MM-HH:MM" (24 h, may wrap past midnight, e.g. 22:00-04:00)."""
    m = _WINDOW_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise GateError(f"{VAR_WINDOW}: {text!r} is not HH:MM-HH:MM (24-hour clock)")
    start = dt.time(int(m.group(1)), int(m.group(2)))
    end = dt.time(int(m.group(3)), int(m.group(4)))
    if start == end:
        raise GateError(f"{VAR_WINDOW}: {text!r} is empty (start equals end)")
    return start, end


def _day(text: str, whole) -> int:
    key = str(text).strip().lower()
    if key in _DAYS:
        return _DAYS.index(key)
    if key in _FULL_DAYS:
        return _FULL_DAYS.index(key)
    raise GateError(f"{VAR_DAYS}: {whole!r} is not a day name (mon..sun, monday..sunday) or a range (mon-fri)")


def parse_days(days) -> frozenset[int]:
    """Weekday numbers (Monday 0). Names, full names, or ranges that may wrap ("fri-mon")."""
    if not days:
        return frozenset(range(7))
    if not isinstance(days, list | tuple):
        raise GateError(f"{VAR_DAYS}: {days!r} is not a list of day names")
    out = set()
    for item in days:
        if not isinstance(item, str):
            raise GateError(f"{VAR_DAYS}: {item!r} is not a day name (mon..sun)")
        if "-" in item:
            first, last = item.split("-", 1)
            a, b = _day(first, item), _day(last, item)
            out.update((a + i) % 7 for i in range((b - a) % 7 + 1))
        else:
            out.add(_day(item, item))
    return frozenset(out)


def parse_timezone(name) -> dt.tzinfo | None:
    """An IANA timezone through zoneinfo; "" or None = the controller's local time (None)."""
    if name is None or name == "":
        return None
    if not isinstance(name, str) or zoneinfo is None:
        raise GateError(f"{VAR_TZ}: {name!r} is not an IANA timezone name (e.g. Europe/Berlin)")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    hint = ""
    try:
        match = [z for z in zoneinfo.available_timezones() if z.lower() == name.lower()]
    except OSError:  # pragma: no cover
        match = []
    if match:
        hint = f" (did you mean {match[0]!r}? names are case-sensitive)"
    raise GateError(
        f"{VAR_TZ}: {name!r} is not an IANA timezone name known to the controller's timezone "
        f"database (e.g. Europe/Berlin, America/New_York, UTC){hint}"
    )


def parse_bound(value, tz: dt.tzinfo | None, var: str, end: bool = False) -> dt.datetime | None:
    """ "YYYY-MM-DD" or "YYYY-MM-DD HH:MM[:SS]" (also with T) in ``tz`` -> an aware datetime.

    A date alone means the start of that day for "not before" and the end of that day (the start
    of the next) for "not after"; a time is exact. YAML dates (datetime.date) are accepted.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, dt.date):
        text = value.isoformat()
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise GateError(f"{var}: {value!r} is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DD HH:MM)")
    try:
        if _DATE_RE.match(text):
            day = dt.date.fromisoformat(text)
            if end:
                day += dt.timedelta(days=1)
            naive = dt.datetime.combine(day, dt.time())
        elif _DATETIME_RE.match(text):
            naive = dt.datetime.fromisoformat(text.replace("T", " "))
        else:
            raise ValueError(text)
    except ValueError:
        raise GateError(f"{var}: {value!r} is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DD HH:MM)") from None
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()


@dataclass(frozen=True)
class Settings:
    policy: str
    window: tuple[dt.time, dt.time] | None
    window_text: str
    days: frozenset[int]
    days_given: bool
    tz: dt.tzinfo | None
    tz_name: str
    not_before: dt.datetime | None
    not_after: dt.datetime | None


def settings(policy="now", window=None, days=None, timezone=None, not_before=None, not_after=None) -> Settings:
    """Every reboot-policy variable checked and parsed; GateError names the first wrong one."""
    if policy not in POLICIES:
        raise GateError(f"{VAR_POLICY}: {policy!r} is not one of {', '.join(POLICIES)}")
    parsed = parse_window(window) if window else None
    day_set = parse_days(days)
    tz = parse_timezone(timezone)
    start = parse_bound(not_before, tz, VAR_NOT_BEFORE)
    stop = parse_bound(not_after, tz, VAR_NOT_AFTER, end=True)
    if start is not None and stop is not None and start >= stop:
        raise GateError(
            f"{VAR_NOT_BEFORE} ({not_before}) is not before {VAR_NOT_AFTER} ({not_after}): "
            "the maintenance period is empty"
        )
    if policy == "window" and parsed is None and not days and start is None and stop is None:
        raise GateError(
            f"{VAR_POLICY} is window but none of {VAR_WINDOW}, {VAR_DAYS}, {VAR_NOT_BEFORE}, "
            f"{VAR_NOT_AFTER} is set: there is no window to reboot in"
        )
    return Settings(
        policy=policy,
        window=parsed,
        window_text=window.strip() if parsed else "",
        days=day_set,
        days_given=bool(days),
        tz=tz,
        tz_name=timezone or "",
        not_before=start,
        not_after=stop,
    )


def in_window(now: dt.datetime, window: tuple[dt.time, dt.time] | None, days: frozenset[int]) -> bool:
    """Whether wall-clock ``now`` falls inside the window; a wrapping window belongs to the day it starts.

    No window: the whole of each listed day.
    """
    if window is None:
        return now.weekday() in days
    start, end = window
    t = now.time()
    if start < end:
        return start <= t < end and now.weekday() in days
    if t >= start:
        return now.weekday() in days
    if t < end:
        return (now.weekday() - 1) % 7 in days
    return False


def local_now(s: Settings, now: dt.datetime | None = None) -> dt.datetime:
    """``now`` as an aware time in the window's timezone (a naive ``now`` is taken as that wall clock)."""
    if now is None:
        now = dt.datetime.now(dt.timezone.utc)  # noqa: UP017 (dt.UTC is 3.11+; ansible-core 2.16 runs on 3.10)
    if now.tzinfo is None:
        return now.replace(tzinfo=s.tz) if s.tz is not None else now.astimezone()
    return now.astimezone(s.tz) if s.tz is not None else now.astimezone()


def next_opening(s: Settings, now: dt.datetime) -> dt.datetime | None:
    """The first instant after ``now`` (aware, window timezone) inside the window and the dates.

    Scans day starts and window starts of the next 8 days (the days of the week repeat weekly);
    None when the period has ended or never opens in that time.
    """
    candidates = []
    for offset in range(9):
        day = now.date() + dt.timedelta(days=offset)
        at = s.window[0] if s.window else dt.time()
        c = dt.datetime.combine(day, at).replace(tzinfo=s.tz or now.tzinfo)
        if c > now:
            candidates.append(c)
    if s.not_before is not None and s.not_before > now:
        candidates.append(s.not_before.astimezone(now.tzinfo))
    for c in sorted(candidates):
        if s.not_before is not None and c < s.not_before:
            continue
        if s.not_after is not None and c >= s.not_after:
            return None
        if in_window(c, s.window, s.days):
            return c
    return None


def _describe(s: Settings) -> str:
    parts = [s.window_text or "all day"]
    if s.days_given:
        parts.append("on " + ",".join(_DAYS[d] for d in sorted(s.days)))
    return " ".join(parts)


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%a %Y-%m-%d %H:%M %Z").strip()


def gate(
    plan: Mapping,
    policy: str = "now",
    window: str | None = None,
    days=None,
    now: dt.datetime | None = None,
    check_mode: bool = False,
    timezone: str | None = None,
    not_before=None,
    not_after=None,
) -> dict:
    """The verdict for one host: ``{"status": go|pending|not_needed|would_reboot, "reason": ...}``.

    With policy ``window`` a pending verdict also carries ``next_opening`` (ISO 8601, window
    timezone) when the window opens again within the dates.
    """
    s = settings(policy, window, days, timezone, not_before, not_after)
    if not plan.get("reboot_required") or plan.get("action") != "set":
        return {"status": NOT_NEEDED, "reason": "the host already reports what its plan expects"}
    if s.policy == "stage":
        return {"status": PENDING, "reason": "vmscape_reboot_policy is stage: configuration staged, reboot pending"}
    if s.policy == "window":
        t = local_now(s, now)
        zone = s.tz_name or "controller time"
        closed = None
        if s.not_before is not None and t < s.not_before:
            closed = f"the maintenance period starts {_stamp(s.not_before.astimezone(t.tzinfo))}"
        elif s.not_after is not None and t >= s.not_after:
            closed = f"the maintenance period ended {_stamp(s.not_after.astimezone(t.tzinfo))}"
        elif not in_window(t, s.window, s.days):
            closed = f"outside the maintenance window {_describe(s)}"
        if closed:
            nxt = next_opening(s, t)
            after = f"; next opening {_stamp(nxt)}" if nxt else "; it does not open again"
            return {
                "status": PENDING,
                "reason": f"{closed} ({zone}, now {_stamp(t)}){after}: reboot pending",
                "next_opening": nxt.isoformat() if nxt else None,
            }
    if check_mode:
        return {"status": WOULD_REBOOT, "reason": "check mode: the host would reboot now"}
    return {"status": GO, "reason": "reboot required to apply the plan"}
