# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A restore of a journaled change: just another plan, carried out by ``_bootcfg.apply`` like a change.

Target side: standard library only, importable by Python 3.6+.

Every file of the journal entry goes back to its backup (or is deleted when the change created
it), in a ``Plan`` whose regeneration is the backend's own (``backend.regenerate``, the same as
for a change), with the same backups, checks, and everything put back on any failure. A file
whose sha256 is no longer the one recorded was changed after the entry: refused unless forced. A
generated file (grub.cfg, BLS or loader entries) changed since (a kernel update regenerates
them) is not a conflict when the regeneration runs: it is left to the regeneration instead of
being put back.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import stat

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import journal as _journal
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.apply import warn_not_regenerated
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import registry as _backends
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import FileChange, Plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import Request, kernel_part
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import (
    normalize_name,
    parse_token,
    split_raw,
)


def restored_request(tokens, entry):
    """What the generated entries must carry after restoring ``entry``, given the restored tokens.

    For each parameter the entry set or removed: exactly one token in ``tokens`` - set to that
    value; none - removed; several - not checked.
    """
    names = list(entry["params"]) + list(entry["remove"])
    kern, _init = kernel_part(list(tokens))
    sets, removes, seen = [], [], set()
    for name in names:
        key = normalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        found = [raw for raw in kern if parse_token(raw).key == key]
        if len(found) == 1:
            tok = parse_token(found[0])
            sets.append((found[0].split("=", 1)[0], tok.value, key))
        elif not found:
            removes.append((name, key))
    return sets, removes


def _metadata_writer(real, data, backup_real):
    """Write ``data`` to ``real`` atomically; a file absent now gets the backup's owner, mode and context."""

    def write(_runner, _commands):
        directory = os.path.dirname(real)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        existed = os.path.lexists(real)
        st = os.stat(backup_real)
        _atomic_write.atomic_write(real, data, stat.S_IMODE(st.st_mode))
        if existed:
            return
        if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            os.chown(real, st.st_uid, st.st_gid)
        context = _atomic_write.get_selinux_context(backup_real)
        if context is not None:
            try:
                os.setxattr(real, _atomic_write.SELINUX_XATTR, context)
            except OSError as e:
                if e.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise

    return write


class RestorePlan(object):
    """``plan`` (steps: the files put back or deleted; regeneration), ``notes`` and the entry."""

    def __init__(self, entry, plan, notes):
        self.entry = entry
        self.plan = plan
        self.notes = notes


def plan_restore(root, entry, backend, effective_now, force=False, regenerate=True):
    """The plan that puts ``entry``'s files back. Raises BootConfigError (nothing touched).

    ``backend.regenerate(root, plan, request)`` fills the backend's regeneration (the same as
    for a change); ``request`` is filled in after the files are back, from
    ``effective_now()`` (the restored configuration's tokens), so the generated entries are
    checked against what the restored files really say.
    """
    plan = Plan(backend.name, root)
    # What was restored may live where only some entries get it (GRUB_CMDLINE_LINUX_DEFAULT).
    check = Request([], [], everywhere=False)
    backend.regenerate(root, plan, check)
    regen_runs = bool(regenerate and plan.regen and not plan.regen_skipped)
    notes = []
    conflicts = []
    problems = []
    for rec in entry["files"]:
        real = _rootpath.under(root, rec["path"])
        current = _atomic_write.read_bytes(real)
        now_sha = _journal.sha256(current)
        if now_sha != rec["sha256"]:
            how = (
                "deleted"
                if current is None
                else "sha256 %s, journaled %s" % (now_sha[:12], (rec["sha256"] or "-")[:12])
            )
            if rec["generated"] and regen_runs:
                notes.append(
                    "%s changed since entry %s (%s); it is regenerated, not put back" % (real, entry["id"], how)
                )
                continue
            if not force:
                conflicts.append("%s (%s)" % (real, how))
                continue
            notes.append("%s changed since entry %s (%s); overwritten (force)" % (real, entry["id"], how))
        if not rec["existed"]:
            plan.steps.append(FileChange(real, current, None, label=rec["path"]))
            continue
        backup_real = _rootpath.under(root, rec["backup"])
        data = _atomic_write.read_bytes(backup_real)
        if data is None:
            problems.append("the backup %s of %s is missing" % (backup_real, real))
        elif _journal.sha256(data) != rec["backup_sha256"]:
            problems.append("the backup %s of %s changed since it was made" % (backup_real, real))
        else:
            plan.steps.append(
                FileChange(real, current, data, writer=_metadata_writer(real, data, backup_real), label=rec["path"])
            )
    if problems:
        raise BootConfigError("cannot restore journal entry %s: %s" % (entry["id"], "; ".join(problems)))
    if conflicts:
        raise BootConfigError(
            "journal entry %s: changed after it: %s; refusing to overwrite (force: true restores anyway)"
            % (entry["id"], ", ".join(conflicts))
        )

    def verify():
        out = []
        for step in plan.steps:
            if _atomic_write.read_bytes(step.path) != step.after:
                out.append("%s does not hold what was restored" % step.path)
        if not out:
            check.sets, check.removes = restored_request(split_raw(effective_now() or ""), entry)
        return out

    plan.verify = verify
    plan.expected_cmdline = lambda: split_raw(effective_now() or "")
    plan.effective_after = entry["previous_cmdline"]
    return RestorePlan(entry, plan, notes)


def current_cmdline(root, backend):
    """The parameters ``backend``'s configuration gives the default entry now."""
    return " ".join(backend.read(root)[0])


class Restore(object):
    """Restore a journal entry (``latest`` or an id): the operation ``_bootcfg.apply.Session.apply``
    carries out like a change. An entry already restored is reported, not restored again."""

    kind = "restore"

    def __init__(self, ref, backend="auto", force=False):
        self.ref = ref
        self.backend = backend
        self.force = force
        self.restore_of = None
        self.entry = None
        self.chosen = None

    def describe(self):
        return "restore %s" % self.ref

    def prepare(self, session, result):
        root = session.root
        entry = _journal.load(root).find(self.ref)
        self.entry = entry
        self.restore_of = entry["id"]
        result["restored_entry"] = entry
        if self.backend == "auto":
            backend, reason = _backends.get(entry["backend"]), "journal entry %s" % entry["id"]
        else:
            backend, reason = _backends.get(self.backend), "forced"
        self.chosen = backend
        result["backend"], result["backend_reason"] = backend.name, reason
        if entry["restored"] is not None:
            result["notes"].append(
                "journal entry %s was already restored (%s)" % (entry["id"], entry["restored"]["time"])
            )
            result["previous_cmdline"] = result["effective_cmdline"] = current_cmdline(root, backend)
            return None
        rp = plan_restore(
            root,
            entry,
            backend,
            lambda: current_cmdline(root, backend),
            force=self.force,
            regenerate=session.regenerate,
        )
        result["previous_cmdline"] = current_cmdline(root, backend)
        plan = rp.plan
        result["effective_cmdline"] = entry["previous_cmdline"]
        result["regenerate_commands"] = [c.argv for c in plan.regen]
        result["regenerate_skipped"] = plan.regen_skipped
        result["notes"].extend(list(plan.notes) + rp.notes)
        return plan

    def will_regenerate(self, session, plan, predicted):
        return bool(session.regenerate and plan.regen and not plan.regen_skipped and predicted)

    def commit(self, session, plan, res, run_id, result):
        effective = current_cmdline(session.root, self.chosen)
        record = _journal.restored_record(session.root, plan, res, effective)
        record["run"] = run_id
        result["restored_entry"] = _journal.mark_restored(session.root, self.entry["id"], record)
        result["effective_cmdline"] = effective

    def finish(self, session, plan, predicted, res, result):
        entry = self.entry
        if result["effective_cmdline"] != entry["previous_cmdline"]:
            session.warn(
                "after restoring journal entry %s the configuration gives %r, not %r as before that change "
                "(another file changed since?)" % (entry["id"], result["effective_cmdline"], entry["previous_cmdline"])
            )
        if bool(res["files"]) and not res["regenerated"]:
            warn_not_regenerated(session.warn, plan, session.regenerate)
