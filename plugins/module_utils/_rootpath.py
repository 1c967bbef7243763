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
import os
import posixpath

_MAX_LINKS = 40


def normalize_root(root):
    root = root or "/"
    return os.path.abspath(root)


def host_join(*parts):
    """Join host path components into a normalized absolute host path."""
    path = posixpath.join("/", *[p.lstrip("/") if i else p for i, p in enumerate(parts)])
    return posixpath.normpath(path) if path != "/" else path


def resolve(root, host_path):
    """Return (real_path_under_root, resolved_host_path) for ``host_path``.

    Each symlink met on the way is followed within ``root``. A dangling or looping link
    yields the path that would have been opened (opening it then fails normally).
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
                raise OSError(errno.ELOOP, "too many levels of symbolic links", host_path)
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


def read_bytes(root, host_path, limit=None):
    """Read a file (at most ``limit`` bytes + 1 when given). Raises OSError."""
    with open(under(root, host_path), "rb") as f:
        if limit is None:
            return f.read()
        return f.read(limit + 1)


def read_text(root, host_path, limit=None):
    """Read a small text file as str (UTF-8, undecodable bytes escaped)."""
    data = read_bytes(root, host_path, limit)
    return data.decode("utf-8", "backslashreplace")


def exists(root, host_path):
    return os.path.exists(under(root, host_path))


def isfile(root, host_path):
    return os.path.isfile(under(root, host_path))


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
