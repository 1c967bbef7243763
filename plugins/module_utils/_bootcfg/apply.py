# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one apply path of kernel_cmdline: a change and a restore are both a ``Plan`` carried out here.

Target side: standard library only, importable by Python 3.6+.

``Session`` is one run of kernel_cmdline on a root: it holds the host-wide run lock
(``_bootcfg.run_lock``) from before the configuration is read until the run has finished, undoes
an interrupted earlier run first (``_bootcfg.intent.recover``), runs commands bounded (a timeout,
output cut, the lock passed on), and ``apply`` takes an operation - a change
(``_bootcfg.change``) or a restore (``_bootcfg.restore``) - through the same steps: prepare (the
plan, through the backend registry), predict (check mode stops there), ``execute`` write-ahead
(``_bootcfg.intent``), commit (the journal) inside the same guard, report.

``execute`` runs a plan with backups, verifies, regenerates, verifies again (the regenerated
menu too, ``_bootcfg.menu_check``), and on any failure puts every file back (including what the
regeneration wrote) and raises.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import os

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import intent as _intent
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import journal as _journal
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import run_lock as _run_lock
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.commands import find_tool
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import FileChange, diff_entry, unified_diff
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import command_runner as _command_runner


class _Restored(BootConfigError):
    """Raised by ``execute`` after it has put the files back (``warnings``: what to emit)."""

    def __init__(self, message, output=None, warnings=None):
        BootConfigError.__init__(self, message, output)
        self.warnings = list(warnings or [])


def _describe_restore(errors, removed, left, kept):
    """The truthful end of a failure message: what was put back, what could not be."""
    if errors:
        msg = "; restoring the previous files FAILED for: %s" % "; ".join(errors)
        if kept:
            msg += "; the backups are kept (%s) and the next run puts the files back from them" % ", ".join(kept)
        return msg
    msg = "; every file was restored to its previous content"
    if removed:
        msg += "; removed what this run created: %s" % ", ".join(removed)
    if left:
        msg += "; left in place (directories it created): %s" % ", ".join(left)
    return msg


def execute(plan, runner, backup=True, regenerate=True, commit=None, wal=None):
    """Carry out ``plan``. Returns a result dict; raises BootConfigError after restoring.

    Every file a step or a regeneration command may write (grub.cfg, BLS entries, grubenv, loader
    entries, the edited sources) is read first, and the directories the commands write to are
    listed. With ``wal`` (a ``_bootcfg.intent.IntentRun``) the run is write-ahead: the intent is
    recorded (backup names), every existing file is copied to its backup and fsynced, the intent
    is marked ready - and only then is anything written; a run killed at any later point is
    undone by the next one. ``backup`` decides whether the copies of changed files are kept
    (and journaled by ``commit``); the copies of files that did not change are always deleted.

    ``commit(result)``, when given, runs last, inside the same guard: if it raises, every file is
    put back as after any other failure (the change journal is written there, so a change is
    either journaled or undone). Any failure puts every file back, removes what the commands
    created in the directories they write to, checks the files, and only when all of that
    worked deletes the copies (else they are kept and named, and the intent stays for the next
    run).
    """
    run = _Execution(plan, runner, backup, regenerate, wal)
    if not run.predicted and not run.run_regen:
        return run.result()
    run.make_copies()
    run.guarded(run.apply_steps)
    run.guarded(run.regenerate)
    result = run.guarded(lambda: run.committed(commit))
    run.finish(result)
    return result


def _failure_text(e):
    return "%s: %s" % (getattr(e, "filename", None) or "write", e.strerror or e)


class _Execution(object):
    """One carrying out of a plan: what it snapshotted, the copies it made, and each step of ``execute``."""

    def __init__(self, plan, runner, backup, regenerate, wal):
        self.plan = plan
        self.runner = runner
        self.backup = backup
        self.wal = wal
        self.warnings = []
        self.commands = []
        self.backups = {}  # path -> the name of its copy
        self.made = []  # copies started (a partial copy is removed by backup_file itself)
        self.consumed = set()  # copies that became the file again (renamed back when out of space)
        self.predicted = plan.predicted_changes()
        self.run_regen = bool(
            regenerate and plan.regen and not plan.regen_skipped and (self.predicted or plan.regen_stale)
        )
        # Every file a step or a regeneration command may write is read first; the directories the
        # commands write to are listed.
        snap = self.snap = _atomic_write.Snapshot()
        for step in plan.steps:
            if isinstance(step, FileChange):
                snap.add_file(step.path)
            else:
                for p in step.touches:
                    snap.add_file(p)
                for d, pat in step.touch_globs:
                    snap.add_glob(d, pat)
                    snap.add_dir(d)
                for c in step.predicted:
                    snap.add_file(c.path)
        self.step_files = set(snap.files)
        self.step_globs = list(snap.globs)
        if self.run_regen:
            for cmd in plan.regen:
                for p in cmd.touches:
                    snap.add_file(p)
                    snap.add_dir(os.path.dirname(p))
                for d, pat in cmd.touch_globs:
                    snap.add_glob(d, pat)
                    snap.add_dir(d)

    def make_copies(self):
        """Copies of every file that exists, made (and fsynced) before anything is written; with a
        write-ahead intent, recorded first and marked ready after. Raises _Restored: nothing changed."""
        snap = self.snap
        taken = set()
        for path in sorted(snap.files):
            if snap.files[path] is not None:
                self.backups[path] = _atomic_write.free_backup_name(path, taken)
                taken.add(self.backups[path])
        try:
            if self.wal is not None:
                self.wal.begin(snap, self.backups)
            for path in sorted(self.backups):
                copy = self.backups[path]
                self.made.append(copy)
                try:
                    _atomic_write.backup_file(path, snap.files[path], copy)
                except (IOError, OSError) as e:
                    raise OSError(e.errno, "cannot copy it to %s: %s" % (copy, e.strerror or e), path) from None
                d = os.path.dirname(path)
                if d in snap.dirs and snap.dirs[d] is not None:
                    snap.dirs[d] = sorted(set(snap.dirs[d]) | {os.path.basename(copy)})
            if self.wal is not None:
                self.wal.ready()
        except (BootConfigError, IOError, OSError) as e:
            why = e.message if isinstance(e, BootConfigError) else _failure_text(e)
            errors = self.drop_copies()
            if self.wal is not None and not errors:
                try:
                    self.wal.finish()
                except BootConfigError as e2:
                    errors.append(e2.message)
            msg = "cannot prepare the change (%s); nothing was changed" % why
            if errors:
                msg += "; cleaning up failed for: %s (the next run removes them)" % "; ".join(errors)
            raise _Restored(msg) from None

    def drop_copies(self, keep=()):
        errors = []
        for b in sorted(self.backups.values()):
            if b in keep or b not in self.made:
                continue
            try:
                _atomic_write.remove_file(b)
            except OSError as e:
                errors.append("%s: %s" % (b, e.strerror or e))
        return errors

    def fail(self, message, output=None):
        """Put every file back, remove what the run created, then raise _Restored saying so (the copies
        are deleted only when that worked; else they are kept and named, and the intent stays)."""
        errors, removed, left = self.snap.restore(self.backups, self.consumed)
        kept = []
        if errors:
            kept = [b for b in self.made if b not in self.consumed]
        else:
            for e in self.drop_copies(keep=self.consumed):
                self.warnings.append("cannot delete the copy %s" % e)
            if self.wal is not None:
                try:
                    self.wal.finish()
                except BootConfigError as e:
                    self.warnings.append("%s (the next run removes it)" % e.message)
        raise _Restored(message + _describe_restore(errors, removed, left, kept), output, self.warnings)

    def guarded(self, step):
        """Run ``step``; any failure puts everything back (``fail``)."""
        try:
            return step()
        except _Restored:
            raise
        except BootConfigError as e:
            self.fail(e.message, e.output)
        except (IOError, OSError) as e:
            self.fail(_failure_text(e))

    def _run(self, argv):
        res = self.runner(argv)
        self.commands.append({"cmd": argv, "rc": res.rc, "seconds": round(res.seconds, 3)})
        return res

    def apply_steps(self):
        """The plan's file changes and commands, then its check of the result."""
        plan = self.plan
        for step in plan.steps:
            if isinstance(step, FileChange):
                if not step.changed:
                    continue
                if step.writer is not None:
                    step.writer(self.runner, self.commands)
                elif step.after is None:
                    _atomic_write.remove_file(step.path)
                else:
                    directory = os.path.dirname(step.path)
                    if not os.path.isdir(directory):
                        os.makedirs(directory, 0o755)
                    _atomic_write.atomic_write(step.path, step.after, step.mode)
            else:
                res = self._run(step.argv)
                if res.rc != 0:
                    self.fail(_command_failure(step.argv, res), _output(res))
        if plan.verify is not None:
            problems = plan.verify()
            if problems:
                self.fail("the configuration did not come out as planned: %s" % "; ".join(problems))

    def regenerate(self):
        """The regeneration commands, then the check of what they wrote (the boot menu included)."""
        if not self.run_regen:
            return
        output = ""
        for cmd in self.plan.regen:
            res = self._run(cmd.argv)
            output += _output(res)
            if res.rc != 0:
                self.fail(_command_failure(cmd.argv, res), _output(res))
        if self.plan.verify_regen is not None:
            problems, regen_warnings = self.plan.verify_regen()
            self.warnings.extend(regen_warnings)
            if problems:
                self.fail("after regeneration: %s" % "; ".join(problems), output[-65536:])

    def _from_steps(self, path):
        if path in self.step_files:
            return True
        return any(
            os.path.dirname(path) == d and fnmatch.fnmatchcase(os.path.basename(path), pat)
            for d, pat in self.step_globs
        )

    def result(self):
        changed_paths = self.snap.changed_paths() if (self.predicted or self.run_regen) else []
        kept = dict((p, b) for p, b in self.backups.items() if p in changed_paths) if self.backup else {}
        return {
            "backups": kept,
            "commands": self.commands,
            "changed_paths": changed_paths,
            "files": [p for p in changed_paths if self._from_steps(p)],
            "regenerated_files": [p for p in changed_paths if not self._from_steps(p)],
            "snapshot": self.snap,
            "regenerated": bool(self.run_regen),
            "warnings": self.warnings,
        }

    def committed(self, commit):
        """The result, after ``commit(result)`` (the journal) succeeded."""
        result = self.result()
        if commit is not None:
            commit(result)
        return result

    def finish(self, result):
        """Done: the journal (if any) owns the kept copies; the intent goes, then the other copies."""
        if self.wal is not None:
            try:
                self.wal.finish()
            except BootConfigError as e:
                self.warnings.append("%s (the next run removes it)" % e.message)
        for e in self.drop_copies(keep=set(result["backups"].values())):
            self.warnings.append("cannot delete the copy %s" % e)


def _command_failure(argv, res):
    """A one-line, bounded, truthful description of a failed command."""
    name = " ".join(argv)
    if res.timed_out:
        head = "%s did not finish within %d s and was killed (with everything it started)" % (name, res.seconds)
    else:
        head = "%s failed (rc=%s)" % (name, res.rc)
    summary = res.summary()
    return "%s: %s" % (head, summary) if summary else head


def _output(res):
    out = (res.out or "") + (res.err or "")
    if res.cut:
        out += "\n[%d bytes of output were cut]" % res.cut
    return out


# --------------------------------------------------------------------------- one run
def new_result():
    """The module's result before anything is known (every key RETURN documents)."""
    return dict(
        changed=False,
        backend=None,
        backend_reason=None,
        files=[],
        backups={},
        diff=[],
        unified_diff="",
        previous_cmdline=None,
        effective_cmdline=None,
        regenerated=False,
        regenerate_commands=[],
        regenerate_skipped=None,
        regenerated_files=[],
        commands=[],
        notes=[],
        journal_entry=None,
        restored_entry=None,
    )


def _now_text(now):
    return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_id(root):
    """The id of this run (also its journal entry's): later than every id in the journal."""
    try:
        entries = _journal.load(root).entries
    except BootConfigError:
        entries = []
    now = datetime.datetime.now(datetime.timezone.utc)
    return _journal.new_id(entries, now), _now_text(now)


def report_predicted(result, predicted):
    predicted = sorted(predicted, key=lambda c: c.path)
    result["files"] = [c.path for c in predicted]
    result["diff"] = [diff_entry(c.path, c.before, c.after) for c in predicted]
    result["unified_diff"] = "".join(unified_diff(c.path, c.before, c.after) for c in predicted)


def report_executed(result, res):
    snap = res["snapshot"]
    result["files"] = res["files"]
    result["regenerated_files"] = res["regenerated_files"]
    result["backups"] = res["backups"]
    result["commands"] = res["commands"]
    result["regenerated"] = res["regenerated"]
    for path in res["files"]:
        before = snap.files.get(path)
        now = _atomic_write.read_bytes(path)
        result["diff"].append(diff_entry(path, before, now))
        result["unified_diff"] += unified_diff(path, before, now)
    result["changed"] = bool(res["files"]) or res["regenerated"]


def warn_not_regenerated(warn, plan, regenerate):
    """Say when the change takes effect if it was not regenerated now."""
    if plan.regen_skipped:
        warn("configuration changed but not regenerated: %s" % plan.regen_skipped)
    elif not regenerate and plan.regen:
        warn("configuration changed; it takes effect after %s" % " && ".join(" ".join(c.argv) for c in plan.regen))


class Session(object):
    """One kernel_cmdline run on ``root`` (see the module docstring).

    ``warn(msg)`` emits a warning; ``bin_path(name)`` finds a command the way the module does
    (AnsibleModule.get_bin_path). Used as a context manager around ``apply``: it holds the run
    lock and recovers an interrupted run on entry (in check mode: no lock, a warning about an
    interrupted run's intent). Refusals raise BootConfigError.
    """

    def __init__(
        self,
        root,
        what,
        check_mode=False,
        warn=None,
        bin_path=None,
        lock_timeout=300,
        regenerate_timeout=600,
        backup=True,
        regenerate=True,
    ):
        self.root = root
        self.what = what
        self.check_mode = check_mode
        self.warn = warn or (lambda msg: None)
        self.bin_path = bin_path or (lambda name: None)
        self.lock_timeout = lock_timeout
        self.regenerate_timeout = regenerate_timeout or 600
        self.backup = backup
        self.regenerate = regenerate
        self.lock = None
        self.notes = []

    def __enter__(self):
        if self.check_mode:
            doc = _intent.read(self.root)
            if doc is not None:
                self.warn(
                    "an interrupted kernel_cmdline run (pid %d, %s) left %s; the next run without check mode "
                    "undoes it first, so this preview may differ from what that run does"
                    % (doc["pid"], doc["id"], _intent.intent_path(self.root))
                )
            return self
        lock = _run_lock.RunLock(self.root, self.lock_timeout, self.what)
        try:
            lock.__enter__()
        except (_run_lock.LockBusy, _run_lock.LockError) as e:
            raise BootConfigError(str(e)) from None
        self.lock = lock
        try:
            if lock.recovered:
                self.notes.append(lock.recovered)
            notes, warnings = _intent.recover(self.root)
            for n in notes:
                self.warn(n)
                self.notes.append(n)
            for w in warnings:
                self.warn(w)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self.lock is not None:
            self.lock.__exit__(None, None, None)
            self.lock = None
        return False

    def runner(self):
        """Commands run bounded (``regenerate_timeout``, output cut) and inherit the run lock."""
        lock_fd = self.lock.fd if self.lock is not None else None

        def run(argv):
            argv = list(argv)
            if not os.path.isabs(argv[0]):
                # the same search order the backends used to choose the command (find_tool):
                # /usr/local/sbin first, as in root's PATH on Debian and RHEL
                found = find_tool("/", (argv[0],)) or self.bin_path(argv[0])
                if found is None:
                    return _command_runner.Result(argv, 127, "", "%s: command not found" % argv[0], False, 0.0, 0)
                argv[0] = found
            try:
                return _command_runner.run(
                    argv, self.regenerate_timeout, pass_fds=(lock_fd,) if lock_fd is not None else ()
                )
            except OSError as e:
                return _command_runner.Result(argv, 126, "", "%s: %s" % (argv[0], e.strerror or e), False, 0.0, 0)

        return run

    def apply(self, op, result):
        """Take ``op`` (a change or a restore) through the one path; fills ``result``."""
        result["notes"].extend(self.notes)
        plan = op.prepare(self, result)
        if plan is None:
            return  # nothing to do (op said why)
        predicted = plan.predicted_changes()
        if self.check_mode:
            report_predicted(result, predicted)
            result["changed"] = bool(predicted) or op.will_regenerate(self, plan, predicted)
            return
        rid, now_text = run_id(self.root)
        wal = _intent.IntentRun(self.root, rid, op.kind, now_text, restore_of=op.restore_of, keep_backups=self.backup)
        try:
            res = execute(
                plan,
                self.runner(),
                backup=self.backup,
                regenerate=self.regenerate,
                commit=lambda r: op.commit(self, plan, r, rid, result),
                wal=wal,
            )
        except BootConfigError as e:
            for w in getattr(e, "warnings", []):
                self.warn(w)
            result["output"] = e.output or ""
            raise
        for w in res.get("warnings", []):
            self.warn(w)
        report_executed(result, res)
        op.finish(self, plan, predicted, res, result)
