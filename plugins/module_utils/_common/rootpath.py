# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host paths read under an alternative root directory (a captured snapshot or ``/``).

Target side: standard library only, importable by Python 3.6+.

Facts always name files by their *host* path (``/boot/vmlinuz-...``); these helpers turn
such a path into the file to open under ``root``. Symbolic links are followed inside the
root: an absolute link target (``/boot/vmlinuz -> /boot/vmlinuz-6.1.0-56-amd64`` in a
snapshot) is resolved under ``root`` again, never on the machine running the code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import posixpath
import stat

_MAX_LINKS = 40
# Upper bound for a read without an explicit limit (boot configuration, journals): far above any
# real file of that kind, far below what would hurt a hypervisor's memory.
DEFAULT_LIMIT = 64 * 1024 * 1024
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symbolic link"),
)


def normalize_root(root):
    root = root or "/"
    return os.path.abspath(root)


def host_join(*parts):
    """Join host path components into a normalized absolute host path."""
    path = posixpath.join("/", *[p.lstrip("/") if i else p for i, p in enumerate(parts)])
    return posixpath.normpath(path) if path != "/" else path


def resolve(root, host_path):
    """Return (real_path_under_root, resolved_host_path) for ``host_path``.

    Each symlink met on the way is followed within ``root`` (an absolute target restarts at
    ``root``, ``..`` stops at ``root``). A dangling link yields the path that would have been
    opened (opening it then fails normally); a loop raises OSError(ELOOP) naming ``host_path``.
    """
    root = normalize_root(root)
    parts = [p for p in host_path.split("/") if p and p != "."]
    done = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        cand = os.path.join(root, *([*done, part]))
        if os.path.islink(cand):
            hops += 1
            if hops > _MAX_LINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links (a link loop)", host_path)
            target = os.readlink(cand)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        done.append(part)
    return (os.path.join(root, *done) if done else root), "/" + "/".join(done)


def under(root, host_path):
    """The path to open for ``host_path`` under ``root`` (symlinks followed inside root)."""
    return resolve(root, host_path)[0]


def kind_of(st):
    """What a stat result is, in words ("a FIFO", ...), or None for a regular file."""
    for test, name in _KINDS:
        if test(st.st_mode):
            return name
    return None if stat.S_ISREG(st.st_mode) else "not a regular file"


def _not_regular(path, what):
    if what == "a directory":  # the system's own words, as open() + read() would say
        return OSError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    return OSError(errno.EINVAL, "not a regular file (%s); refusing to read it" % what, path)


def open_regular(path, follow=True):
    """Open a *real* path for reading as a binary file object, only when it is a regular file.

    Never blocks (``O_NONBLOCK`` while opening: a FIFO is refused, not waited on), never opens a
    device (checked with stat before opening, and with fstat after, in case it changed), and with
    ``follow=False`` refuses a symbolic link as the last component (``O_NOFOLLOW``).
    """
    st = os.stat(path) if follow else os.lstat(path)
    what = kind_of(st)
    if what is not None:
        raise _not_regular(path, what)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        what = kind_of(st)
        if what is not None:
            raise _not_regular(path, what)
        fl = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, fl & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_real(path, limit=None, follow=True):
    """Bytes of a real path (a regular file), at most ``limit`` + 1 bytes; ``limit`` None means
    "the whole file, refused (EFBIG) when larger than DEFAULT_LIMIT"."""
    with open_regular(path, follow=follow) as f:
        if limit is not None:
            return f.read(limit + 1)
        data = f.read(DEFAULT_LIMIT + 1)
    if len(data) > DEFAULT_LIMIT:
        raise OSError(errno.EFBIG, "larger than %d bytes; refusing to read it" % DEFAULT_LIMIT, path)
    return data


def read_optional(path, limit=None, follow=True):
    """The bytes of a real path (a regular file, see ``read_real``), or None when it does not exist.

    FIFOs, devices and directories raise OSError (never read, never waited on); a file larger than
    the bound (DEFAULT_LIMIT unless ``limit``) raises OSError(EFBIG); with ``follow=False`` a
    symbolic link raises OSError too.
    """
    try:
        data = read_real(path, limit, follow=follow)
    except (IOError, OSError) as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    if limit is not None and len(data) > limit:
        raise OSError(errno.EFBIG, "larger than %d bytes; refusing to read it" % limit, path)
    return data


def open_file(root, host_path):
    """A binary file object for ``host_path`` under ``root``: links followed inside root only,
    regular files only (see ``open_regular``). Raises OSError naming the host path."""
    real = under(root, host_path)
    try:
        return open_regular(real, follow=False)
    except OSError as e:
        raise OSError(e.errno, e.strerror, host_path) from None


def read_bytes(root, host_path, limit=None):
    """Read a regular file under ``root`` (at most ``limit`` bytes + 1 when given). Raises OSError."""
    real = under(root, host_path)
    try:
        return read_real(real, limit, follow=False)
    except OSError as e:
        raise OSError(e.errno, e.strerror, host_path) from None


def read_text(root, host_path, limit=None):
    """Read a small text file as str (UTF-8, undecodable bytes escaped)."""
    data = read_bytes(root, host_path, limit)
    return data.decode("utf-8", "backslashreplace")


def exists(root, host_path):
    """Whether ``host_path`` exists under ``root`` (False for a link loop or a link leaving nothing)."""
    try:
        return os.path.exists(under(root, host_path))
    except OSError:
        return False


def isfile(root, host_path):
    """Whether ``host_path`` is a regular file under ``root`` (False for a loop, FIFO, device)."""
    try:
        return os.path.isfile(under(root, host_path))
    except OSError:
        return False


def isdir(root, host_path):
    """Whether ``host_path`` is a directory under ``root`` (False for a loop)."""
    try:
        return os.path.isdir(under(root, host_path))
    except OSError:
        return False


def listdir(root, host_path):
    """Sorted names in a host directory, [] when it is absent or unreadable."""
    try:
        return sorted(os.listdir(under(root, host_path)))
    except OSError:
        return []


def describe_oserror(host_path, exc):
    """``"<path>: <reason>"`` for warnings and errors, reason from the errno."""
    reason = exc.strerror or str(exc)
    return "%s: %s" % (host_path, reason)
