# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What happens around one host's reboot: drain, reboot, undrain. Pure (docs/drain.md).

The reboot play of remediate.yml and rollback.yml (role tasks reboot.yml, undrain.yml) asks
these functions at each step, through the filters of plugins/filter/vmscape_reboot.py:

1. gate (vmscape_reboot_gate) and running guests (running_guests);
2. ``outcome(gate, guests)``: is a drain due (``record["drain"]`` set)? The drain tasks run
   when the gate says go (or would_reboot in check mode, where they run in check mode) and
   drain tasks are configured and the host runs guests (or ``drain_always``);
3. ``outcome(gate, guests, guests_after)``: status ``go`` = reboot now (no guest left, or
   running guests allowed); otherwise pending;
4. ``outcome(gate, guests, guests_after, reboot)``: the record kept as ``vmscape_reboot``;
5. verification; then ``undrain_due(record, verified)``: after a drain, the undrain tasks run
   once the rebooted host is verified; a host the drain could not empty (not rebooted) is
   undrained right away; after a failed verification only with ``undrain_on_verify_failure``
   (the host stays drained otherwise: guests are not moved back onto a host that does not
   report the mitigation its plan promised);
6. ``undrained(record, verified, ran)``: the record with what happened, for the report.

A drain or reboot step that fails: ``failure(record, failed_result)`` - the undrain tasks run
when a drain was started and the host did not go down (the failing drain task, the guest
count after it, or a reboot command that did not start a reboot), never after a reboot that
did not come back in time; the host stays failed either way.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import (
    GO,
    PENDING,
    REBOOTED,
    WOULD_REBOOT,
)

UNDRAIN_NONE = "none"  # no drain ran (or no undrain tasks): nothing to undo
UNDRAIN_AFTER_VERIFY = "after_verify"  # rebooted (or would reboot): undrain once verified
UNDRAIN_NOW = "now"  # drained but not rebooted (guests left): undrain, the host stays in service
UNDRAIN_DONE = "done"
UNDRAIN_WITHHELD = "withheld"  # verification failed: the host stays drained

MAX_NAMES = 5


def _gate(gate) -> Mapping:
    if isinstance(gate, Mapping) and isinstance(gate.get("gate"), Mapping):
        return gate["gate"]  # the registered task result
    return gate if isinstance(gate, Mapping) else {}


def _ran(result) -> bool:
    return isinstance(result, Mapping) and not result.get("skipped") and "count" in result


def count(result) -> int | None:
    """Guests in a registered running_guests result; None when the task was skipped or absent."""
    if not _ran(result):
        return None
    try:
        return max(0, int(result["count"]))
    except (TypeError, ValueError):
        return None


def names(result) -> list[str]:
    """Up to MAX_NAMES guest names: libvirt domains, else VMM processes (name[pid])."""
    if not _ran(result):
        return []
    out = [str(d) for d in result.get("libvirt_domains") or []]
    if not out:
        out = [f"{p.get('name')}[{p.get('pid')}]" for p in result.get("processes") or [] if isinstance(p, Mapping)]
    return out[:MAX_NAMES] + (["..."] if len(out) > MAX_NAMES else [])


def _guests(n: int, result) -> str:
    listed = names(result)
    return f"{n} guest(s)" + (f" ({', '.join(listed)})" if listed else "")


def reboot_wanted(gate) -> bool:
    """Whether the gate lets the reboot step go on (reboot now, or would in check mode): only then are
    guests looked for, drained and the host rebooted."""
    return _gate(gate).get("status") in (GO, WOULD_REBOOT)


def drain_due(gate, guests, drain_tasks: str = "", drain_always: bool = False) -> bool:
    """Whether the drain tasks run: reboot allowed (or predicted), tasks given, guests (or always)."""
    if not reboot_wanted(gate) or not drain_tasks:
        return False
    return bool(drain_always) or (count(guests) or 0) > 0


def staged(reason: str) -> dict:
    """The record of a host whose reboot is left for later on purpose (rollback without
    vmscape_rollback_reboot): pending, with ``reason``, nothing drained."""
    return {
        "status": PENDING,
        "reason": reason,
        "guests": 0,
        "drain": None,
        "undrain": UNDRAIN_NONE,
        "undrain_if_verify_fails": False,
    }


def rebooted(record) -> bool:
    """Whether the reboot step rebooted the host (verification then observes it afresh)."""
    return isinstance(record, Mapping) and record.get("status") == REBOOTED


def verify_failure_msg(failed_result, record=None) -> str:
    """The message a host keeps after a failed verification: the verification's, and what happened to
    its drain (``record``: ``vmscape_reboot``, null when the reboot stage did not run)."""
    result = failed_result if isinstance(failed_result, Mapping) else {}
    msg = str(result["msg"]) if "msg" in result else "verification failed"
    drain = record.get("drain") if isinstance(record, Mapping) else None
    if isinstance(drain, Mapping):
        msg += f"; {drain.get('note')}"
    return msg


def outcome(
    gate,
    guests=None,
    guests_after=None,
    reboot=None,
    *,
    drain_tasks: str = "",
    undrain_tasks: str = "",
    drain_always: bool = False,
    allow_running: bool = False,
    undrain_on_verify_failure: bool = False,
    check_mode: bool = False,
) -> dict:
    """The reboot record for what is known so far (see the module docstring for the steps).

    Keys: status (go before the reboot ran, then rebooted; pending, not_needed, would_reboot),
    reason, guests (running when the reboot was decided), drain (None, or tasks, undrain_tasks,
    guests_before, guests_after, note), undrain (none, after_verify, now), and
    undrain_if_verify_fails.
    """
    g = _gate(gate)
    status = g.get("status") or PENDING
    reason = g.get("reason") or ""
    record = {
        "status": status,
        "reason": reason,
        "guests": 0,
        "drain": None,
        "undrain": UNDRAIN_NONE,
        "undrain_if_verify_fails": False,
    }
    if status not in (GO, WOULD_REBOOT):
        return record
    before = count(guests) or 0
    drained = drain_due(gate, guests, drain_tasks, drain_always)
    after_n = count(guests_after) if drained and not check_mode else None
    left = 0 if (drained and check_mode) else (after_n if after_n is not None else before)
    record["guests"] = before if check_mode else left
    if drained:
        record["drain"] = {
            "tasks": drain_tasks,
            "undrain_tasks": undrain_tasks,
            "guests_before": before,
            "guests_after": after_n,
            "note": "",
        }
    may_reboot = left == 0 or bool(allow_running)

    if check_mode:
        if not may_reboot:
            record["status"] = PENDING
            record["reason"] = (
                f"check mode: {_guests(before, guests)} running and no drain tasks (vmscape_drain_tasks) "
                "would empty the host: the reboot would stay pending"
            )
        else:
            record["status"] = WOULD_REBOOT  # the gate's reason; the drain note says the rest
    elif not may_reboot:
        record["status"] = PENDING
        where = _guests(left, guests_after if after_n is not None else guests)
        if drained:
            record["reason"] = f"{where} still running after the drain tasks {drain_tasks}: reboot pending"
        else:
            record["reason"] = (
                f"{where} running and no drain tasks (vmscape_drain_tasks) emptied the host: reboot pending"
            )
    elif reboot is None:
        record["status"] = GO
        record["reason"] = "reboot required to apply the plan" + (
            f"; drained {before} guest(s) with {drain_tasks}" if drained else ""
        )
    elif isinstance(reboot, Mapping) and not reboot.get("skipped") and reboot.get("rebooted", True):
        record["status"] = REBOOTED
        record["reason"] = f"rebooted in {reboot.get('elapsed', '?')} s"
        if left:
            record["reason"] += f" with {_guests(left, guests)} running (vmscape_reboot_allow_running_guests)"
    else:
        record["status"] = PENDING
        record["reason"] = "the reboot task did not run: reboot pending"

    if drained and undrain_tasks:
        record["undrain"] = UNDRAIN_NOW if record["status"] == PENDING else UNDRAIN_AFTER_VERIFY
        record["undrain_if_verify_fails"] = bool(undrain_on_verify_failure)
    if drained:
        record["drain"]["note"] = _drain_note(record)
    return record


def _drain_note(record: Mapping) -> str:
    d = record["drain"]
    head = f"drained with {d['tasks']} ({d['guests_before']} guest(s))"
    if record["status"] == WOULD_REBOOT:
        head = f"would drain with {d['tasks']} ({d['guests_before']} guest(s), check mode)"
    if not d["undrain_tasks"]:
        return head + "; no vmscape_undrain_tasks: the host stays drained"
    if record["undrain"] == UNDRAIN_NOW:
        return head + f"; not rebooted, undrain with {d['undrain_tasks']}"
    return head + f"; undrain with {d['undrain_tasks']} after verification"


def undrain_due(record, verified: bool = True) -> bool:
    """Whether the undrain tasks run now (after the verification step; ``verified`` = it passed)."""
    if not isinstance(record, Mapping) or not isinstance(record.get("drain"), Mapping):
        return False
    state = record.get("undrain")
    if state == UNDRAIN_NOW:
        return True
    if state == UNDRAIN_AFTER_VERIFY:
        return bool(verified) or bool(record.get("undrain_if_verify_fails"))
    return False


def undrained(record, verified: bool = True) -> dict:
    """The record after the undrain step: undrain done or withheld, and the note saying why."""
    if not isinstance(record, Mapping) or not isinstance(record.get("drain"), Mapping):
        return dict(record) if isinstance(record, Mapping) else {}
    out = dict(record)
    drain = dict(record["drain"])
    out["drain"] = drain
    state = record.get("undrain")
    head = drain["note"].split("; ", 1)[0]
    verb = "would undrain" if record.get("status") == WOULD_REBOOT else "undrained"
    if state not in (UNDRAIN_NOW, UNDRAIN_AFTER_VERIFY):
        return out
    if undrain_due(record, verified):
        out["undrain"] = UNDRAIN_DONE
        if state == UNDRAIN_NOW:
            drain["note"] = f"{head}; not rebooted, {verb} with {drain['undrain_tasks']}"
        elif verified:
            drain["note"] = f"{head}; {verb} with {drain['undrain_tasks']} after verification"
        else:
            drain["note"] = (
                f"{head}; {verb} with {drain['undrain_tasks']} although the verification failed "
                "(vmscape_undrain_on_verify_failure)"
            )
    else:
        out["undrain"] = UNDRAIN_WITHHELD
        drain["note"] = (
            f"{head}; left drained: the verification failed, so {drain['undrain_tasks']} did not run "
            "(run it once the host is fixed, or set vmscape_undrain_on_verify_failure)"
        )
    return out


def failure(record, failed_result) -> dict:
    """After a failing drain or reboot step: {"undrain": bool, "msg": str} (the host stays failed).

    ``record`` is ``outcome(gate, guests, ...)`` as far as known before the failure.
    """
    result = failed_result if isinstance(failed_result, Mapping) else {}
    cause = str(result.get("msg") or result.get("stderr") or "failed").strip()
    drain = record.get("drain") if isinstance(record, Mapping) else None
    went_down = bool(result.get("rebooted"))
    if not isinstance(drain, Mapping):
        undrain = False
        tail = "no drain ran"
    elif went_down:
        undrain = False
        tail = "the host went down and did not come back in time: left drained (undrain it once it is back)"
    elif not drain.get("undrain_tasks"):
        undrain = False
        tail = "not rebooted; no vmscape_undrain_tasks to undo the drain"
    else:
        undrain = True
        tail = f"not rebooted; undrained with {drain['undrain_tasks']}"
    return {"undrain": undrain, "msg": f"{cause} ({tail})"}
