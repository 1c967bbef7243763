# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change journal of kernel_cmdline, and the restore of a journaled change.

Target side: standard library only, importable by Python 3.6+.

Every change kernel_cmdline makes with ``backup: true`` is recorded in
``<root>/var/lib/fleetsec-vmscape/kernel_cmdline-journal.json`` (directory 0700, file 0600,
written atomically under an exclusive lock of the directory), oldest entry first, at most
``KEEP`` entries::

    {"format": 1,
     "entries": [{"id": "20251125T100000.123456Z-4711",   # UTC time + pid, strictly increasing
                  "time": "2025-11-25T10:00:00Z",
                  "params": {"vmscape": "ibpb"}, "remove": [],
                  "backend": "grub",
                  "previous_cmdline": "console=ttyS0", "effective_cmdline": "console=ttyS0 vmscape=ibpb",
                  "files": [{"path": "/etc/default/grub",           # host paths (under root)
                             "backup": "/etc/default/grub.4711.2025-11-25@10:00:00~",
                             "backup_sha256": "<sha256 of the backup>",
                             "sha256": "<sha256 of the file after the change; null: deleted>",
                             "existed": true, "generated": false}, ...],
                  "restored": null}]}

``restored`` becomes ``{"time", "effective_cmdline", "files": [{"path", "backup",
"backup_sha256", "sha256"}]}`` once the entry is restored (the backups there are copies of
the files as they were just before the restore). An entry owns the backups it names: when
it falls out of the journal they are deleted, and no other file ever is.

A restore of an entry is planned by ``_bootcfg.restore`` and carried out by ``_bootcfg.apply``
like a change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fcntl
import hashlib
import json
import os
import re

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import BACKENDS

JOURNAL_DIR = "/var/lib/fleetsec-vmscape"
JOURNAL_FILE = JOURNAL_DIR + "/kernel_cmdline-journal.json"
FORMAT = 1
KEEP = 50
MAX_JOURNAL = 64 * 1024 * 1024
ID_RE = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-\d+\Z")
_ID_TIME = "%Y%m%dT%H%M%S.%fZ"
_SHA_RE = re.compile(r"^[0-9a-f]{64}\Z")
_BACKUP_SUFFIX_RE = r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d(?:\.\d+)?~\Z"


class JournalError(BootConfigError):
    """The journal cannot be read or written; the message names the file."""


def sha256(data):
    return None if data is None else hashlib.sha256(data).hexdigest()


def journal_paths(root):
    """(directory, file) real paths of the journal under ``root`` (the directory's links followed
    inside root; the file itself is never a link: it is read and written as it is)."""
    directory = _rootpath.under(root, JOURNAL_DIR)
    return directory, os.path.join(directory, os.path.basename(JOURNAL_FILE))


def host_path(root, real):
    """The host path of a real path under ``root`` (``/`` + its path relative to root)."""
    root = _rootpath.normalize_root(root)
    if root == "/":
        return real
    rel = os.path.relpath(real, root)
    if rel == ".." or rel.startswith("../"):
        raise JournalError("%s is not under %s" % (real, root))
    return "/" + rel if rel != "." else "/"


def owns_backup(path, backup):
    """Whether ``backup`` is named like a backup of ``path`` made by this module."""
    return bool(re.match(re.escape(path) + _BACKUP_SUFFIX_RE, backup))


# --------------------------------------------------------------------------- reading
def _fail(path, where, what):
    raise JournalError(
        "%s: %s%s; the journal was left as it is (fix it, or move it away to start a new one)"
        % (path, "%s: " % where if where else "", what)
    )


def _check_str(path, where, value, name, nullable=False):
    if value is None and nullable:
        return
    if not isinstance(value, str):
        _fail(path, where, "%s is not a string%s" % (name, " or null" if nullable else ""))


def _check_host_path(path, where, value, name, nullable=False):
    _check_str(path, where, value, name, nullable)
    if value is not None and (not value.startswith("/") or os.path.normpath(value) != value or "\x00" in value):
        _fail(path, where, "%s %r is not a normalized absolute path" % (name, value))


def _check_sha(path, where, value, name, nullable=True):
    if value is None and nullable:
        return
    if not isinstance(value, str) or not _SHA_RE.match(value):
        _fail(path, where, "%s %r is not a sha256 (64 lowercase hex digits)" % (name, value))


def _check_file_record(path, where, rec, restored=False):
    if not isinstance(rec, dict):
        _fail(path, where, "not an object")
    _check_host_path(path, where, rec.get("path"), "path")
    _check_host_path(path, where, rec.get("backup"), "backup", nullable=True)
    if rec.get("backup") is not None and not owns_backup(rec["path"], rec["backup"]):
        _fail(path, where, "backup %r is not named like a backup of %s" % (rec["backup"], rec["path"]))
    _check_sha(path, where, rec.get("backup_sha256"), "backup_sha256")
    _check_sha(path, where, rec.get("sha256"), "sha256")
    if (rec.get("backup") is None) != (rec.get("backup_sha256") is None):
        _fail(path, where, "backup and backup_sha256 must both be set or both be null")
    if not restored:
        for key in ("existed", "generated"):
            if not isinstance(rec.get(key), bool):
                _fail(path, where, "%s is not true/false" % key)
        if rec["existed"] and rec.get("backup") is None:
            _fail(path, where, "existed before the change but has no backup")


def _check_entry(path, n, entry, previous_id):
    where = "entries[%d]" % n
    if not isinstance(entry, dict):
        _fail(path, where, "not an object")
    eid = entry.get("id")
    if not isinstance(eid, str) or not ID_RE.match(eid):
        _fail(path, where, "id %r is not like 20251125T100000.123456Z-4711" % (eid,))
    where = "entries[%d] (id %s)" % (n, eid)
    if previous_id is not None and _id_time(eid) <= _id_time(previous_id):
        _fail(path, where, "ids are not increasing (after %s)" % previous_id)
    _check_str(path, where, entry.get("time"), "time")
    if not isinstance(entry.get("params"), dict):
        _fail(path, where, "params is not an object")
    for k, v in entry["params"].items():
        _check_str(path, where, v, "params.%s" % k, nullable=True)
    if not isinstance(entry.get("remove"), list):
        _fail(path, where, "remove is not a list")
    for v in entry["remove"]:
        _check_str(path, where, v, "remove[]")
    if entry.get("backend") not in BACKENDS:
        _fail(path, where, "backend %r is not one of %s" % (entry.get("backend"), ", ".join(BACKENDS)))
    _check_str(path, where, entry.get("previous_cmdline"), "previous_cmdline", nullable=True)
    _check_str(path, where, entry.get("effective_cmdline"), "effective_cmdline", nullable=True)
    files = entry.get("files")
    if not isinstance(files, list) or not files:
        _fail(path, where, "files is not a non-empty list")
    seen = set()
    for i, rec in enumerate(files):
        _check_file_record(path, "%s files[%d]" % (where, i), rec)
        if rec["path"] in seen:
            _fail(path, "%s files[%d]" % (where, i), "%s is listed twice" % rec["path"])
        seen.add(rec["path"])
    restored = entry.get("restored")
    if restored is not None:
        if not isinstance(restored, dict):
            _fail(path, where, "restored is not an object or null")
        _check_str(path, where, restored.get("time"), "restored.time")
        _check_str(path, where, restored.get("effective_cmdline"), "restored.effective_cmdline", nullable=True)
        if not isinstance(restored.get("files"), list):
            _fail(path, where, "restored.files is not a list")
        for i, rec in enumerate(restored["files"]):
            _check_file_record(path, "%s restored.files[%d]" % (where, i), rec, restored=True)


def _id_time(eid):
    return datetime.datetime.strptime(eid.split("-", 1)[0], _ID_TIME)


class Journal(object):
    """The journal's content: ``entries`` oldest first; ``exists`` whether the file exists."""

    def __init__(self, path, entries, exists):
        self.path = path
        self.entries = entries
        self.exists = exists

    def find(self, ref):
        """The entry ``ref`` names: ``latest`` (the newest entry) or an id; JournalError otherwise."""
        if not self.entries:
            raise JournalError(
                "%s: no journaled change to restore (the journal %s)"
                % (self.path, "is empty" if self.exists else "does not exist")
            )
        if ref == "latest":
            return self.entries[-1]
        for entry in self.entries:
            if entry["id"] == ref:
                return entry
        ids = [e["id"] for e in self.entries[-5:]]
        raise JournalError("%s: no entry %s (newest: %s)" % (self.path, ref, ", ".join(reversed(ids))))

    def to_bytes(self):
        data = {"format": FORMAT, "entries": self.entries}
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")


def parse(data, path):
    """A Journal from the file's bytes; JournalError naming the file (and line) when corrupt."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        _fail(path, None, "not UTF-8 text (byte %d)" % e.start)
    except ValueError as e:
        lineno = getattr(e, "lineno", None)
        if lineno is not None:
            raise JournalError(
                "%s:%d:%d: not valid JSON (%s); the journal was left as it is (fix it, or move it away to "
                "start a new one)" % (path, lineno, e.colno, e.msg)
            ) from None
        _fail(path, None, "not valid JSON (%s)" % e)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("entries"), list):
        _fail(path, None, 'not a kernel_cmdline journal ({"format": %d, "entries": [...]})' % FORMAT)
    previous = None
    for n, entry in enumerate(doc["entries"]):
        _check_entry(path, n, entry, previous)
        previous = entry["id"]
    return Journal(path, doc["entries"], True)


def load(root):
    """The journal under ``root`` (empty when the file does not exist). Raises JournalError."""
    _d, path = journal_paths(root)
    try:
        data = _atomic_write.read_bytes(path, MAX_JOURNAL, follow=False)
    except (IOError, OSError) as e:
        raise JournalError(
            "%s: cannot read the journal: %s; the journal was left as it is" % (path, e.strerror or e)
        ) from None
    if data is None:
        return Journal(path, [], False)
    return parse(data, path)


# --------------------------------------------------------------------------- writing
def _ensure_dir(directory):
    if os.path.isdir(directory):
        return
    parent = os.path.dirname(directory)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    os.mkdir(directory, 0o700)
    os.chmod(directory, 0o700)


class _Locked(object):
    """Exclusive lock of the journal directory while the journal is read, changed and written."""

    def __init__(self, root):
        self.directory, self.path = journal_paths(root)
        self.fd = None

    def __enter__(self):
        try:
            _ensure_dir(self.directory)
            self.fd = os.open(self.directory, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except (IOError, OSError) as e:
            if self.fd is not None:
                os.close(self.fd)
            raise JournalError(
                "%s: cannot lock the journal directory: %s" % (self.directory, e.strerror or e)
            ) from None
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the lock
        return False


def _save(journal):
    try:
        _atomic_write.atomic_write(journal.path, journal.to_bytes(), 0o600)
    except (IOError, OSError) as e:
        raise JournalError("%s: cannot write the journal: %s" % (journal.path, e.strerror or e)) from None


def _now():
    return datetime.datetime.now(_utc())


def _utc():
    return datetime.timezone.utc


def new_id(entries, now):
    """``<UTC time with microseconds>Z-<pid>``, later than every id in ``entries``."""
    t = now.astimezone(_utc()).replace(tzinfo=None)
    if entries:
        last = _id_time(entries[-1]["id"])
        if t <= last:
            t = last + datetime.timedelta(microseconds=1)
    return "%s-%d" % (t.strftime(_ID_TIME), os.getpid())


def _file_record(root, real, before, backup_real, generated):
    return {
        "path": host_path(root, real),
        "backup": host_path(root, backup_real) if backup_real else None,
        "backup_sha256": sha256(before) if backup_real else None,
        "sha256": sha256(_atomic_write.read_bytes(real)),
        "existed": before is not None,
        "generated": generated,
    }


def change_entry(root, request, plan, res):
    """The journal entry (without id) for a change ``execute`` just made (its result ``res``)."""
    snap = res["snapshot"]
    files = []
    for real in res["files"] + res["regenerated_files"]:
        before = snap.files.get(real)
        backup = res["backups"].get(real)
        if before is not None and backup is None:
            raise JournalError("cannot journal the change: %s existed but no backup of it was made" % real)
        files.append(_file_record(root, real, before, backup, real in res["regenerated_files"]))
    return {
        "params": dict((name, value) for name, value, _k in request.sets),
        "remove": [name for name, _k in request.removes],
        "backend": plan.backend,
        "previous_cmdline": plan.effective_before,
        "effective_cmdline": plan.effective_after,
        "files": files,
        "restored": None,
    }


def _owned_backups(entry):
    out = []
    for rec in entry["files"] + ((entry.get("restored") or {}).get("files") or []):
        if rec.get("backup"):
            out.append((rec["path"], rec["backup"], rec.get("backup_sha256")))
    return out


def _drop_backups(root, entry):
    """Delete the backups ``entry`` owns (named like ours, content as recorded); warnings."""
    warnings = []
    for path, backup, digest in _owned_backups(entry):
        if not owns_backup(path, backup):
            continue
        real = _rootpath.under(root, backup)
        try:
            data = _atomic_write.read_bytes(real)
            if data is None:
                continue
            if digest is not None and sha256(data) != digest:
                warnings.append(
                    "%s (backup of journal entry %s) changed since it was made; left in place" % (real, entry["id"])
                )
                continue
            _atomic_write.remove_file(real)
        except (IOError, OSError) as e:
            warnings.append("%s: cannot delete the backup of journal entry %s: %s" % (real, entry["id"], e))
    return warnings


def record_change(root, entry, keep=None, now=None):
    """Append ``entry``; drop the oldest beyond ``keep`` (KEEP). Returns warnings.

    The entry keeps the id it carries (the run's id, also in its intent) when that is later than
    every id in the journal; otherwise (or without one) it gets a new one.

    Raises JournalError before anything is written. The backups of dropped entries are
    deleted after the journal is written, best effort (failures are warnings).
    """
    with _Locked(root):
        journal = load(root)
        wanted = entry.get("id")
        last = journal.entries[-1]["id"] if journal.entries else None
        if not (wanted and ID_RE.match(wanted) and (last is None or _id_time(wanted) > _id_time(last))):
            entry["id"] = new_id(journal.entries, now or _now())
        entry["time"] = (now or _now()).astimezone(_utc()).strftime("%Y-%m-%dT%H:%M:%SZ")
        journal.entries.append(entry)
        keep = keep or KEEP
        dropped = journal.entries[:-keep] if len(journal.entries) > keep else []
        journal.entries = journal.entries[len(dropped) :]
        _save(journal)
    warnings = []
    for old in dropped:
        warnings.extend(_drop_backups(root, old))
    return warnings


def mark_restored(root, entry_id, restored):
    """Record ``restored`` in the entry ``entry_id``; JournalError (before writing) when it cannot."""
    with _Locked(root):
        journal = load(root)
        entry = journal.find(entry_id)
        if entry.get("restored") is not None:
            raise JournalError(
                "%s: entry %s was restored by another run meanwhile (%s)"
                % (journal.path, entry_id, entry["restored"]["time"])
            )
        entry["restored"] = restored
        _save(journal)
    return entry


def restored_record(root, plan, res, effective_cmdline, now=None):
    """The ``restored`` value for an entry just restored by ``execute`` (result ``res``)."""
    snap = res["snapshot"]
    files = []
    for real in sorted(set(res["files"] + res["regenerated_files"])):
        before = snap.files.get(real)
        backup = res["backups"].get(real)
        rec = _file_record(root, real, before, backup, real in res["regenerated_files"])
        files.append(dict((k, rec[k]) for k in ("path", "backup", "backup_sha256", "sha256")))
    return {
        "time": (now or _now()).astimezone(_utc()).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "effective_cmdline": effective_cmdline,
        "files": files,
    }
