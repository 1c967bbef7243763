# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A rollback as a plan: what the reboot and verify stages do after kernel_cmdline restored a change.

Pure, controller side (the role's rollback entry point calls it through the filters of
plugins/filter/vmscape_rollback.py). The input is the plan vmscape_plan made with mode ``none``
after the restore (it predicts what the restored configuration gives, changing nothing) and the
registered result of the restore (M(fleetsec.vmscape.kernel_cmdline) with ``restore``).
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import ROLLBACK_MODE

NOTHING_JOURNALED = "no journaled change to restore"  # kernel_cmdline's message for an empty journal


def _entry(restore: Mapping) -> Mapping | None:
    entry = restore.get("restored_entry")
    return entry if isinstance(entry, Mapping) else None


def restore_failed(restore) -> bool:
    """Whether the restore failed the host: any refusal except an empty journal (a host never changed
    by kernel_cmdline, or changed with backup false, has nothing to roll back: reported, not failed)."""
    if not isinstance(restore, Mapping) or not restore.get("failed"):
        return False
    return NOTHING_JOURNALED not in str(restore.get("msg") or "")


def in_place(restore) -> bool:
    """Whether the restored configuration is in place: restored now, or by an earlier run (the entry
    says restored) whose reboot may still be pending."""
    if not isinstance(restore, Mapping):
        return False
    entry = _entry(restore)
    return bool(restore.get("changed")) or (entry is not None and entry.get("restored") is not None)


def reason(restore, check_mode: bool = False) -> str:
    """What the rollback did, for the plan's reasons (and the report)."""
    restore = restore if isinstance(restore, Mapping) else {}
    entry = _entry(restore)
    if entry is None:
        return f"nothing to roll back: {restore.get('msg') or ''}"
    if restore.get("changed"):
        done = " would be restored" if check_mode else " restored"
    else:
        done = " already restored"
    cmdline = restore.get("effective_cmdline")
    return f'rollback: journal entry {entry.get("id")}{done}; the next boot gets "{cmdline}"'


def plan(predicted, restore, check_mode: bool = False) -> dict:
    """The rollback as a plan for the reboot and verify stages.

    ``predicted``: vmscape_plan's plan (mode none) of the host after the restore. The action is
    ``set`` when the restored configuration is in place, else ``none``; it needs a reboot when the
    host does not already report what that configuration gives - in check mode, where nothing was
    restored yet, when the restore would change something.
    """
    predicted = predicted if isinstance(predicted, Mapping) else {}
    restore = restore if isinstance(restore, Mapping) else {}
    placed = in_place(restore)
    entry = _entry(restore)
    if check_mode and restore.get("changed"):
        reboot = placed
    else:
        reboot = placed and predicted.get("observed_current") != predicted.get("expected_sysfs")
    out = dict(predicted)
    out.update(
        {
            "action": "set" if placed else "none",
            "mode": ROLLBACK_MODE,
            "cmdline": {},
            "cmdline_remove": [],
            "restored_entry": entry.get("id") if entry is not None else None,
            "reboot_required": bool(reboot),
            "reasons": [*(predicted.get("reasons") or []), reason(restore, check_mode)],
        }
    )
    return out
