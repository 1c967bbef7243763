# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A change of the kernel parameters: the operation ``_bootcfg.apply.Session.apply`` carries out.

Target side: standard library only, importable by Python 3.6+.

Prepare: the journal must be readable (a corrupt one stops the change before anything is
touched), the backend is detected or forced (``_bootcfg.backends``), it plans the change. Commit
(inside ``execute``'s guard, so a change is either journaled or undone): with backups, a change
of the configuration gets a journal entry - a run that only regenerated an out-of-date grub.cfg
does not, or it would become the "latest" change a rollback restores.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import journal as _journal
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.apply import warn_not_regenerated
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import registry as _backends


class Change(object):
    kind = "change"
    restore_of = None

    def __init__(self, request, backend="auto"):
        self.request = request
        self.backend = backend
        self.journal_warnings = []

    def describe(self):
        return "change %s" % self.request.describe()

    def prepare(self, session, result):
        root = session.root
        if session.backup:
            _journal.load(root)  # a corrupt journal stops the change before anything is touched
        backend, reason = _backends.select(root, self.backend)
        result["backend"], result["backend_reason"] = backend.name, reason
        plan = backend.plan(root, self.request)
        result["previous_cmdline"] = plan.effective_before
        result["effective_cmdline"] = plan.effective_after
        result["regenerate_commands"] = [c.argv for c in plan.regen]
        result["regenerate_skipped"] = plan.regen_skipped
        result["notes"].extend(plan.notes)
        for msg in plan.warnings:
            session.warn(msg)
        if plan.regen_stale and session.regenerate:
            result["notes"].append(plan.regen_stale)
        return plan

    def will_regenerate(self, session, plan, predicted):
        return bool(session.regenerate and plan.regen and not plan.regen_skipped and (predicted or plan.regen_stale))

    def commit(self, session, plan, res, run_id, result):
        if session.backup and res["files"]:
            entry = _journal.change_entry(session.root, self.request, plan, res)
            entry["id"] = entry["run"] = run_id
            self.journal_warnings.extend(_journal.record_change(session.root, entry))
            result["journal_entry"] = entry["id"]

    def finish(self, session, plan, predicted, res, result):
        for msg in self.journal_warnings:
            session.warn(msg)
        if predicted and not res["regenerated"]:
            warn_not_regenerated(session.warn, plan, session.regenerate)
