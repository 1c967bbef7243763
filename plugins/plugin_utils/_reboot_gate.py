# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a host may reboot now: plan, operator policy and maintenance window. Pure."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

POLICIES = ("now", "stage", "window")
GO = "go"
PENDING = "pending"
NOT_NEEDED = "not_needed"
WOULD_REBOOT = "would_reboot"  # check mode

_WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class GateError(ValueError):
    """A reboot policy variable is malformed; the message names it."""


def parse_window(text: str) -> tuple[dt.time, dt.time]:
    """ "HH:MM-HH:MM" (24 h, may wrap past midnight, e.g. 22:00-04:00)."""
    m = _WINDOW_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise GateError(f"vmscape_maintenance_window: {text!r} is not HH:MM-HH:MM (24-hour clock)")
    start = dt.time(int(m.group(1)), int(m.group(2)))
    end = dt.time(int(m.group(3)), int(m.group(4)))
    if start == end:
        raise GateError(f"vmscape_maintenance_window: {text!r} is empty (start equals end)")
    return start, end


def parse_days(days) -> frozenset[int]:
    if not days:
        return frozenset(range(7))
    if not isinstance(days, list | tuple):
        raise GateError(f"vmscape_maintenance_days: {days!r} is not a list of day names")
    out = set()
    for day in days:
        key = str(day).strip().lower()[:3]
        if key not in _DAYS:
            raise GateError(f"vmscape_maintenance_days: {day!r} is not a day name (mon..sun)")
        out.add(_DAYS.index(key))
    return frozenset(out)


def in_window(now: dt.datetime, window: tuple[dt.time, dt.time], days: frozenset[int]) -> bool:
    """Whether ``now`` falls inside the window; a wrapping window belongs to the day it starts."""
    start, end = window
    t = now.time()
    if start < end:
        return start <= t < end and now.weekday() in days
    if t >= start:
        return now.weekday() in days
    if t < end:
        return (now.weekday() - 1) % 7 in days
    return False


def gate(
    plan: Mapping,
    policy: str = "now",
    window: str | None = None,
    days=None,
    now: dt.datetime | None = None,
    check_mode: bool = False,
) -> dict:
    if policy not in POLICIES:
        raise GateError(f"vmscape_reboot_policy: {policy!r} is not one of {', '.join(POLICIES)}")
    parsed = parse_window(window) if policy == "window" or window else None
    day_set = parse_days(days)
    if not plan.get("reboot_required") or plan.get("action") != "set":
        return {"status": NOT_NEEDED, "reason": "the host already reports what its plan expects"}
    if policy == "stage":
        return {"status": PENDING, "reason": "vmscape_reboot_policy is stage: configuration staged, reboot pending"}
    if policy == "window":
        now = now or dt.datetime.now()
        if not in_window(now, parsed, day_set):
            return {
                "status": PENDING,
                "reason": f"outside the maintenance window {window} (controller time {now:%a %H:%M}): reboot pending",
            }
    if check_mode:
        return {"status": WOULD_REBOOT, "reason": "check mode: the host would reboot now"}
    return {"status": GO, "reason": "reboot required to apply the plan"}
