# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file replacement that keeps owner, mode and SELinux context; backups; snapshots.

Target side: standard library only, importable by Python 3.6+.

``atomic_write`` writes a temporary file in the same directory, gives it the owner, group,
mode and ``security.selinux`` extended attribute of the file it replaces (a new file gets
the requested mode and the directory's default context), fsyncs it, renames it over the
target and fsyncs the directory: a reader (or a crash) sees the old or the new file, never
a mix. ``backup_file`` names backups like Ansible's ``backup_local``
(``<file>.<pid>.<YYYY-MM-DD@HH:MM:SS>~``); the trailing ``~`` keeps them out of the globs
that read configuration (``grub.d/*.cfg``, ``loader/entries/*.conf``). A backup is written from
the bytes the caller already read (so it is exactly what was snapshotted), with ``O_EXCL``, and
fsynced with its directory before it is relied on.

Reads (``read_bytes``) open regular files only, never block on a FIFO and are bounded
(``_rootpath.read_real``). ``put_back`` restores a file from its backup atomically and, when the
file system is full (ENOSPC, EDQUOT) or out of inodes, by renaming the backup over the file,
which needs neither.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fnmatch
import os
import stat
import tempfile
import time

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

SELINUX_XATTR = "security.selinux"
_NO_XATTR = (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)


TEMP_SUFFIX = ".fleetsec-tmp"
# Errors that mean "no room": blocks (ENOSPC), quota (EDQUOT), and inodes (ENOSPC as well).
NO_ROOM = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


read_bytes = _rootpath.read_optional  # the bytes of a regular file, or None when it does not exist


def temp_name_pattern(path):
    """fnmatch pattern of the temporary files ``atomic_write`` makes for ``path``."""
    return ".%s.*%s" % (os.path.basename(path), TEMP_SUFFIX)


def get_selinux_context(path):
    """The raw ``security.selinux`` attribute of ``path`` (bytes) or None."""
    if not hasattr(os, "getxattr"):
        return None
    try:
        return os.getxattr(path, SELINUX_XATTR, follow_symlinks=False)
    except OSError as e:
        if e.errno in _NO_XATTR or e.errno == errno.ENOENT:
            return None
        raise


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, data, mode=0o644):
    """Replace ``path`` with ``data`` (bytes) atomically, keeping its owner/mode/SELinux context."""
    directory = os.path.dirname(path) or "."
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
        st = None
    context = get_selinux_context(path) if st is not None else None
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path), suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if st is not None:
                os.fchmod(f.fileno(), stat.S_IMODE(st.st_mode))
                if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
            else:
                os.fchmod(f.fileno(), mode)
            if context is not None:
                try:
                    os.setxattr(tmp, SELINUX_XATTR, context)
                except OSError as e:
                    if e.errno not in _NO_XATTR:
                        raise
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def remove_file(path):
    try:
        os.unlink(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
    _fsync_dir(os.path.dirname(path) or ".")


def backup_name(path, now=None):
    ext = time.strftime("%Y-%m-%d@%H:%M:%S~", time.localtime(now if now is not None else time.time()))
    return "%s.%s.%s" % (path, os.getpid(), ext)


def free_backup_name(path, taken=()):
    """A backup name for ``path`` that does not exist yet (and is not in ``taken``)."""
    dest = backup_name(path)
    n = 1
    while os.path.lexists(dest) or dest in taken:
        dest = "%s.%d~" % (backup_name(path)[:-1], n)
        n += 1
    return dest


def backup_file(path, data=None, dest=None):
    """Copy ``path`` to a new timestamped backup (content, mode, owner, times, SELinux context);
    return its name. ``data``: the bytes to write (what the caller read), else the file's;
    ``dest``: the name to use (chosen beforehand with ``free_backup_name``), which must not exist.

    The copy is created with O_EXCL, written in full and fsynced with its directory; on any error
    (ENOSPC, no inode left) the partial copy is removed and the error raised.
    """
    st = os.stat(path)
    if data is None:
        data = read_bytes(path)
    if dest is None:
        dest = free_backup_name(path)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), stat.S_IMODE(st.st_mode))
            try:
                os.fchown(f.fileno(), st.st_uid, st.st_gid)
            except OSError:
                pass
            os.fsync(f.fileno())
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
        context = get_selinux_context(path)
        if context is not None:
            try:
                os.setxattr(dest, SELINUX_XATTR, context)
            except OSError:
                pass
    except BaseException:
        try:
            os.unlink(dest)
        except OSError:
            pass
        raise
    _fsync_dir(os.path.dirname(dest) or ".")
    return dest


def put_back(path, data, backup=None):
    """Make ``path`` hold ``data`` again (None: remove it). Returns "written", "renamed" (the
    backup was renamed over the file because the file system has no room: the backup is gone,
    it *is* the file now), "removed" or "unchanged".

    The rename fallback needs ``backup`` to hold exactly ``data`` (the caller checked it).
    """
    current = read_bytes(path)
    if current == data:
        return "unchanged"
    if data is None:
        remove_file(path)
        return "removed"
    try:
        atomic_write(path, data)
        return "written"
    except (IOError, OSError) as e:
        if e.errno not in NO_ROOM or backup is None or not os.path.isfile(backup):
            raise
    os.rename(backup, path)
    _fsync_dir(os.path.dirname(path) or ".")
    return "renamed"


class Snapshot(object):
    """Contents of files (and of directory globs) taken before a change, to put them back.

    ``add_file(path)`` remembers one file (or its absence); ``add_glob(dir, pattern)``
    remembers every matching file and, on restore, also removes matching files that did
    not exist at snapshot time; ``add_dir(dir)`` remembers the names in a directory a command
    writes to, so that files the command created there (``grub.cfg.new``, anything a broken
    command leaves) can be removed. Only regular files are remembered: a symbolic link or other
    entry in a glob is left alone (never read, never rewritten).
    """

    def __init__(self):
        self.files = {}
        self.globs = []
        self.dirs = {}

    def add_file(self, path):
        if path not in self.files:
            self.files[path] = read_bytes(path)

    def add_glob(self, directory, pattern):
        self.globs.append((directory, pattern))
        for name in _glob(directory, pattern):
            self.add_file(os.path.join(directory, name))

    def add_dir(self, directory):
        if directory not in self.dirs:
            self.dirs[directory] = _names(directory)

    def new_in_dirs(self):
        """[(path, kind)] of entries that appeared in the remembered directories since."""
        out = []
        for directory, names in sorted(self.dirs.items()):
            if names is None:
                continue
            for name in sorted(set(_names(directory) or ()) - set(names)):
                path = os.path.join(directory, name)
                if path in self.files:
                    continue
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                kind = "file" if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode) else "other"
                out.append((path, kind))
        return out

    def changed_paths(self):
        """Paths whose content now differs from the snapshot (including new glob matches)."""
        out = []
        for directory, pattern in self.globs:
            for name in _glob(directory, pattern):
                path = os.path.join(directory, name)
                if path not in self.files:
                    out.append(path)
        for path, before in self.files.items():
            if read_bytes(path) != before:
                out.append(path)
        return sorted(set(out))

    def restore(self, backups=None, consumed=None):
        """Put every remembered file back; remove new glob matches and files created in the
        remembered directories. Returns (errors, removed, left): error strings, paths removed,
        and new entries left alone (directories and other non-files, named in the report).

        ``backups`` (path -> backup) allows the rename fallback of ``put_back`` when the file
        system is full; the backups used that way are added to ``consumed``.
        """
        errors = []
        removed = []
        left = []
        backups = backups or {}
        for directory, pattern in self.globs:
            for name in _glob(directory, pattern):
                path = os.path.join(directory, name)
                if path not in self.files:
                    try:
                        remove_file(path)
                        removed.append(path)
                    except OSError as e:
                        errors.append("%s: %s" % (path, e.strerror or e))
        for path, kind in self.new_in_dirs():
            if kind != "file":
                left.append(path)
                continue
            try:
                remove_file(path)
                removed.append(path)
            except OSError as e:
                errors.append("%s: %s" % (path, e.strerror or e))
        for path, before in sorted(self.files.items()):
            try:
                how = put_back(path, before, backups.get(path))
                if how == "renamed" and consumed is not None:
                    consumed.add(backups[path])
                if how == "removed":
                    removed.append(path)
                if read_bytes(path) != before:
                    errors.append("%s: does not hold its previous content after restoring it" % path)
            except (IOError, OSError) as e:
                errors.append("%s: %s" % (path, e.strerror or e))
        return errors, sorted(set(removed)), left


def _names(directory):
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return None


def _glob(directory, pattern):
    names = _names(directory) or []
    out = []
    for n in names:
        if not fnmatch.fnmatchcase(n, pattern):
            continue
        try:
            st = os.lstat(os.path.join(directory, n))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.append(n)
    return out
