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
that read configuration (``grub.d/*.cfg``, ``loader/entries/*.conf``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fnmatch
import os
import shutil
import stat
import tempfile
import time

SELINUX_XATTR = "security.selinux"
_NO_XATTR = (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)


def read_bytes(path):
    """The file's bytes, or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError) as e:
        if e.errno == errno.ENOENT:
            return None
        raise


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
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path), suffix=".fleetsec-tmp")
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


def backup_file(path):
    """Copy ``path`` (content, mode, times, xattrs, owner) to a timestamped backup; return its name."""
    dest = backup_name(path)
    n = 1
    while os.path.exists(dest):
        dest = "%s.%d~" % (backup_name(path)[:-1], n)
        n += 1
    shutil.copy2(path, dest)
    st = os.stat(path)
    try:
        os.chown(dest, st.st_uid, st.st_gid)
    except OSError:
        pass
    context = get_selinux_context(path)
    if context is not None:
        try:
            os.setxattr(dest, SELINUX_XATTR, context)
        except OSError:
            pass
    return dest


class Snapshot(object):
    """Contents of files (and of directory globs) taken before a change, to put them back.

    ``add_file(path)`` remembers one file (or its absence); ``add_glob(dir, pattern)``
    remembers every matching file and, on restore, also removes matching files that did
    not exist at snapshot time.
    """

    def __init__(self):
        self.files = {}
        self.globs = []

    def add_file(self, path):
        if path not in self.files:
            self.files[path] = read_bytes(path)

    def add_glob(self, directory, pattern):
        self.globs.append((directory, pattern))
        for name in _glob(directory, pattern):
            self.add_file(os.path.join(directory, name))

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

    def restore(self):
        """Put every remembered file back; return the list of errors (strings)."""
        errors = []
        for directory, pattern in self.globs:
            for name in _glob(directory, pattern):
                path = os.path.join(directory, name)
                if path not in self.files:
                    try:
                        remove_file(path)
                    except OSError as e:
                        errors.append("%s: %s" % (path, e))
        for path, before in sorted(self.files.items()):
            try:
                current = read_bytes(path)
                if current == before:
                    continue
                if before is None:
                    remove_file(path)
                else:
                    atomic_write(path, before)
            except (IOError, OSError) as e:
                errors.append("%s: %s" % (path, e))
        return errors


def _glob(directory, pattern):
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
