# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write-ahead intent of a kernel_cmdline run, and the recovery of a run that was interrupted.

Target side: standard library only, importable by Python 3.6+.

Before the first byte of the boot configuration is written, a writing run records what it is
about to touch in ``<root>/var/lib/fleetsec-vmscape/kernel_cmdline-intent.json`` (0600, atomic,
fsynced with its directory)::

    {"format": 1, "kind": "kernel_cmdline-intent",
     "id": "20251125T100000.123456Z-4711",        # also the journal entry id of the change
     "pid": 4711, "time": "2025-11-25T10:00:00Z",
     "op": "change" | "restore", "restore_of": null | "<entry id>",
     "ready": true,                              # false: backups were still being made
     "keep_backups": true,                       # backup: true (the journal will own them)
     "files": [{"path": "/etc/default/grub",     # host paths
                "backup": "/etc/default/grub.4711.2025-11-25@10:00:00~",   # null: did not exist
                "sha256_before": "<sha256>"}],                          # null: did not exist
     "dirs": [{"path": "/boot/grub", "names": ["fonts", "grub.cfg", ...]}]}

in two steps: first with ``ready: false`` (names of the backups about to be made), then, once
every backup is written and fsynced, ``ready: true``. Only then is anything else written. The
run removes the file when it has finished: after the journal entry (which then owns the
backups), or after every file was put back and checked.

A run killed at any point (SIGKILL, OOM, power loss) therefore leaves either nothing, or an
intent from which the next writing run - which holds the run lock, so the interrupted run and
everything it started are gone - undoes it before doing anything else (``recover``):

- ``ready: false``: nothing was written yet; partial backups are deleted (only when the file
  they copy still has ``sha256_before``), the intent removed.
- the intent's id is in the journal (a change) or marks the restored entry (a restore): the run
  had finished; only the intent and the backups it did not keep are removed.
- otherwise every file goes back to ``sha256_before`` from its backup (atomically, or by renaming
  the backup when the file system is full), files that did not exist are removed, new regular
  files in the recorded directories (what a regeneration command created) are removed, the
  run's temporary files are removed; every file is read back and checked. Only then are the
  intent and the backups deleted. A backup that is missing or changed while its file does not
  hold ``sha256_before`` stops the recovery with an error naming both, and nothing is deleted.

An intent that does not parse or check out (corrupted) stops every writing run with its file
name and the problem, never its content; it is never deleted by this code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fnmatch
import json
import os
import re

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.journal import (
    ID_RE,
    JOURNAL_DIR,
    JournalError,
    host_path,
    load,
    owns_backup,
    sha256,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

INTENT_FILE = JOURNAL_DIR + "/kernel_cmdline-intent.json"
KIND = "kernel_cmdline-intent"
_SHA_RE = re.compile(r"^[0-9a-f]{64}\Z")
_NAME_RE = re.compile(r"^[^/\x00]{1,255}\Z")
_MAX_INTENT = 16 * 1024 * 1024


def intent_path(root):
    """The intent file's real path: its directory's links followed inside root, never its own."""
    return os.path.join(_rootpath.under(root, JOURNAL_DIR), os.path.basename(INTENT_FILE))


def _corrupt(path, what):
    raise JournalError(
        "%s: %s; the record of an interrupted kernel_cmdline run cannot be trusted, so nothing was touched. "
        "Compare the files it names with their backups (<file>.<pid>.<date>~) by hand, then move it away" % (path, what)
    )


def _norm(value):
    return isinstance(value, str) and value.startswith("/") and os.path.normpath(value) == value and "\x00" not in value


def _check(path, doc):
    if not isinstance(doc, dict) or doc.get("kind") != KIND or doc.get("format") != 1:
        _corrupt(path, "not a kernel_cmdline intent record")
    if not isinstance(doc.get("id"), str) or not ID_RE.match(doc["id"]):
        _corrupt(path, "id is not like 20251125T100000.123456Z-4711")
    if not isinstance(doc.get("pid"), int) or isinstance(doc.get("pid"), bool):
        _corrupt(path, "pid is not a number")
    if doc.get("op") not in ("change", "restore"):
        _corrupt(path, "op is not change or restore")
    rof = doc.get("restore_of")
    if rof is not None and (not isinstance(rof, str) or not ID_RE.match(rof)):
        _corrupt(path, "restore_of is not a journal entry id")
    for key in ("ready", "keep_backups"):
        if not isinstance(doc.get(key), bool):
            _corrupt(path, "%s is not true/false" % key)
    files = doc.get("files")
    if not isinstance(files, list):
        _corrupt(path, "files is not a list")
    seen = set()
    for i, rec in enumerate(files):
        where = "files[%d]" % i
        if not isinstance(rec, dict) or not _norm(rec.get("path")):
            _corrupt(path, "%s: path is not a normalized absolute path" % where)
        if rec["path"] in seen:
            _corrupt(path, "%s: listed twice" % where)
        seen.add(rec["path"])
        backup, digest = rec.get("backup"), rec.get("sha256_before")
        if (backup is None) != (digest is None):
            _corrupt(path, "%s: backup and sha256_before must both be set or both be null" % where)
        if backup is not None and (not _norm(backup) or not owns_backup(rec["path"], backup)):
            _corrupt(path, "%s: backup is not named like a backup of its file" % where)
        if digest is not None and (not isinstance(digest, str) or not _SHA_RE.match(digest)):
            _corrupt(path, "%s: sha256_before is not a sha256" % where)
    dirs = doc.get("dirs")
    if not isinstance(dirs, list):
        _corrupt(path, "dirs is not a list")
    for i, d in enumerate(dirs):
        if not isinstance(d, dict) or not _norm(d.get("path")) or not isinstance(d.get("names"), list):
            _corrupt(path, "dirs[%d] is not {path, names}" % i)
        if not all(isinstance(n, str) and _NAME_RE.match(n) for n in d["names"]):
            _corrupt(path, "dirs[%d]: a name is not a file name" % i)


def read(root):
    """The intent left under ``root`` (a dict) or None. JournalError when it is corrupt."""
    path = intent_path(root)
    try:
        data = _atomic_write.read_bytes(path, _MAX_INTENT, follow=False)
    except (IOError, OSError) as e:
        raise JournalError("%s: cannot read it: %s; nothing was touched" % (path, e.strerror or e)) from None
    if data is None:
        return None
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        _corrupt(path, "not UTF-8 text (byte %d)" % e.start)
    except ValueError as e:
        where = ("line %d column %d: " % (e.lineno, e.colno)) if getattr(e, "lineno", None) else ""
        _corrupt(path, "%snot valid JSON (%s)" % (where, getattr(e, "msg", "parse error")))
    _check(path, doc)
    return doc


def write(root, doc, created=None):
    """Write the intent atomically (0600, directory 0700), fsynced. Raises JournalError.

    Directories made on the way are appended to ``created`` (outermost first)."""
    path = intent_path(root)
    directory = os.path.dirname(path)
    try:
        missing = []
        d = directory
        while not os.path.isdir(d) and d != os.path.dirname(d):
            missing.append(d)
            d = os.path.dirname(d)
        for d in reversed(missing):
            os.mkdir(d, 0o700 if d == directory else 0o755)
            if created is not None:
                created.append(d)
        data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")
        _atomic_write.atomic_write(path, data, 0o600)
    except (IOError, OSError) as e:
        raise JournalError("%s: cannot record the intent of this run: %s" % (path, e.strerror or e)) from None


def clear(root):
    path = intent_path(root)
    try:
        _atomic_write.remove_file(path)
    except (IOError, OSError) as e:
        raise JournalError("%s: cannot remove it: %s" % (path, e.strerror or e)) from None


def build(root, run_id, op, restore_of, keep_backups, snapshot, backups, now_text):
    """The intent document for ``execute``'s snapshot and the backup names planned/made."""
    files = []
    for real in sorted(snapshot.files):
        before = snapshot.files[real]
        files.append(
            {
                "path": host_path(root, real),
                "backup": host_path(root, backups[real]) if before is not None else None,
                "sha256_before": sha256(before),
            }
        )
    dirs = []
    for real, names in sorted(snapshot.dirs.items()):
        if names is None:
            continue
        # The backups this run makes there are not "files the command created".
        ours = [os.path.basename(b) for p, b in backups.items() if os.path.dirname(b) == real]
        dirs.append({"path": host_path(root, real), "names": sorted(set(names) | set(ours))})
    return {
        "format": 1,
        "kind": KIND,
        "id": run_id,
        "pid": os.getpid(),
        "time": now_text,
        "op": op,
        "restore_of": restore_of,
        "ready": False,
        "keep_backups": bool(keep_backups),
        "files": files,
        "dirs": dirs,
    }


# --------------------------------------------------------------------------- recovery
def _finished(root, doc):
    """Whether the run of ``doc`` had completed (its journal record is there)."""
    journal = load(root)
    for entry in journal.entries:
        if doc["op"] == "change" and (entry.get("run") == doc["id"] or entry["id"] == doc["id"]):
            return entry
        if doc["op"] == "restore" and entry["id"] == doc["restore_of"]:
            restored = entry.get("restored") or {}
            if restored.get("run") == doc["id"]:
                return entry
    return None


def _owned_by(entry):
    out = set()
    if entry is None:
        return out
    for rec in entry["files"] + ((entry.get("restored") or {}).get("files") or []):
        if rec.get("backup"):
            out.add(rec["backup"])
    return out


def _delete_backups(root, doc, keep=(), partial_ok=False):
    """Delete the intent's backups (only ours: named like backups of the file, with the recorded
    content - or, with ``partial_ok``, a beginning of the file's current content, when the copy
    was cut short by a kill and the file is verified unchanged); returns warnings."""
    warnings = []
    for rec in doc["files"]:
        hb = rec.get("backup")
        if not hb or hb in keep or not owns_backup(rec["path"], hb):
            continue
        real = _rootpath.under(root, hb)
        try:
            data = _atomic_write.read_bytes(real)
            if data is None:
                continue
            partial = False
            if partial_ok:
                current = _atomic_write.read_bytes(_rootpath.under(root, rec["path"])) or b""
                partial = current.startswith(data)
            if sha256(data) != rec["sha256_before"] and not partial:
                warnings.append("%s: not the content recorded for it; left in place" % real)
                continue
            _atomic_write.remove_file(real)
        except (IOError, OSError) as e:
            warnings.append("%s: cannot delete it: %s" % (real, e.strerror or e))
    return warnings


def _temp_files(directory, base):
    pattern = _atomic_write.temp_name_pattern(os.path.join(directory, base))
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names if fnmatch.fnmatchcase(n, pattern)]


def recover(root):
    """Undo (or tidy up after) a run that was interrupted. Returns (notes, warnings).

    Must be called with the run lock held. Raises JournalError when the intent is corrupt or
    a file cannot be put back (then nothing is deleted: the intent and the backups stay).
    """
    path = intent_path(root)
    doc = read(root)
    if doc is None:
        return [], []
    what = "an interrupted kernel_cmdline run (pid %d, %s, started %s)" % (doc["pid"], doc["id"], doc["time"])
    if not doc["ready"]:
        # Backups were being made; nothing else had been written.
        problems = []
        for rec in doc["files"]:
            if rec["sha256_before"] is None:
                continue
            real = _rootpath.under(root, rec["path"])
            try:
                now = sha256(_atomic_write.read_bytes(real))
            except (IOError, OSError) as e:
                now = "unreadable (%s)" % (e.strerror or e)
            if now != rec["sha256_before"]:
                problems.append(real)
        if problems:
            raise JournalError(
                "%s: %s was making backups, yet %s changed since; not touching anything: check by hand, then "
                "move %s away" % (path, what, ", ".join(problems), path)
            )
        warnings = _delete_backups(root, doc, partial_ok=True)
        clear(root)
        return ["%s had not changed anything yet; its partial backups were removed" % what], warnings
    entry = _finished(root, doc)
    if entry is not None:
        keep = _owned_by(entry) if doc["keep_backups"] else set()
        warnings = _delete_backups(root, doc, keep=keep)
        clear(root)
        return ["%s had finished (journal entry %s); its intent record was removed" % (what, entry["id"])], warnings
    # Roll back.
    problems = []
    put_back = []
    removed = []
    left = []
    consumed = set()
    for rec in doc["files"]:
        real = _rootpath.under(root, rec["path"])
        try:
            current = _atomic_write.read_bytes(real)
            if rec["sha256_before"] is None:
                if current is not None:
                    _atomic_write.remove_file(real)
                    removed.append(real)
                continue
            if sha256(current) == rec["sha256_before"]:
                continue
            breal = _rootpath.under(root, rec["backup"])
            data = _atomic_write.read_bytes(breal)
            if data is None or sha256(data) != rec["sha256_before"]:
                problems.append(
                    "%s: its backup %s is %s" % (real, breal, "missing" if data is None else "not what was recorded")
                )
                continue
            how = _atomic_write.put_back(real, data, breal)
            if how == "renamed":
                consumed.add(rec["backup"])
            put_back.append(real)
        except (IOError, OSError) as e:
            problems.append("%s: %s" % (real, e.strerror or e))
    for d in doc["dirs"]:
        real_dir = _rootpath.under(root, d["path"])
        known = set(d["names"])
        for r in doc["files"]:
            for hp in (r["path"], r.get("backup")):
                if hp and os.path.dirname(hp) == d["path"]:
                    known.add(os.path.basename(hp))
        try:
            names = os.listdir(real_dir)
        except OSError:
            continue
        for name in sorted(set(names) - known):
            p = os.path.join(real_dir, name)
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    left.append(p)
                    continue
                _atomic_write.remove_file(p)
                removed.append(p)
            except (IOError, OSError) as e:
                problems.append("%s: %s" % (p, e.strerror or e))
    for rec in doc["files"]:
        real = _rootpath.under(root, rec["path"])
        for tmp in _temp_files(os.path.dirname(real), os.path.basename(real)):
            try:
                _atomic_write.remove_file(tmp)
                removed.append(tmp)
            except (IOError, OSError) as e:
                if e.errno != errno.ENOENT:
                    problems.append("%s: %s" % (tmp, e.strerror or e))
    # Check every file before anything is deleted.
    for rec in doc["files"]:
        real = _rootpath.under(root, rec["path"])
        try:
            ok = sha256(_atomic_write.read_bytes(real)) == rec["sha256_before"]
        except (IOError, OSError):
            ok = False
        if not ok and not any(p.startswith(real + ":") for p in problems):
            problems.append("%s: does not hold its content from before that run" % real)
    if problems:
        raise JournalError(
            "%s: cannot undo %s: %s. Nothing was deleted (the intent record and the backups are kept); fix "
            "that and run again" % (path, what, "; ".join(problems))
        )
    warnings = _delete_backups(root, doc, keep=consumed)
    clear(root)
    note = "%s was rolled back before this run: %s" % (
        what,
        ", ".join(
            x
            for x in (
                "put back %s" % ", ".join(put_back) if put_back else "",
                "removed %s" % ", ".join(removed) if removed else "",
            )
            if x
        )
        or "nothing had been written yet",
    )
    if left:
        warnings.append("%s: directories created by it were left in place: %s" % (what, ", ".join(left)))
    return [note], warnings


class IntentRun(object):
    """The write-ahead hooks ``_bootcfg.apply.execute`` calls: ``begin`` (intent with the backup
    names, ready false), ``ready`` (every backup written and fsynced), ``finish`` (intent removed)."""

    def __init__(self, root, run_id, op, now_text, restore_of=None, keep_backups=True):
        self.root = root
        self.run_id = run_id
        self.op = op
        self.now_text = now_text
        self.restore_of = restore_of
        self.keep_backups = keep_backups
        self.doc = None
        self.created = []

    def begin(self, snapshot, backups):
        self.doc = build(
            self.root, self.run_id, self.op, self.restore_of, self.keep_backups, snapshot, backups, self.now_text
        )
        write(self.root, self.doc, self.created)

    def ready(self):
        self.doc["ready"] = True
        write(self.root, self.doc, self.created)

    def finish(self):
        clear(self.root)
        # Directories made only for the intent (backup: false on an image) do not stay behind.
        for d in reversed(self.created):
            try:
                os.rmdir(d)
            except OSError:
                break
