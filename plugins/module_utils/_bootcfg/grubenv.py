# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GRUB environment block (grubenv) and its ``kernelopts`` variable (RHEL 8 style BLS).

Target side: standard library only, importable by Python 3.6+.

Format, as grub-editenv (grub-common 2.06) reads and writes it: the file starts with
``# GRUB Environment Block\\n``; then lines ``name=value\\n`` (a backslash escapes the next
character: ``\\\\`` and backslash-newline stand for ``\\`` and a newline in the value) and
comment lines starting with ``#``; the rest of the file is ``#`` padding, so the block keeps
its size (1024 bytes when grub-editenv creates it; GRUB writes it in place at boot and
cannot grow it). ``set`` rewrites an existing variable in place and appends a new one after
the last line; the padding absorbs the difference. This module reproduces that byte for
byte (the tests compare with the real grub-editenv), and the backend writes through
``grub2-editenv``/``grub-editenv`` when one is installed, else atomically itself.

``load`` is the one way any code reads the grubenv GRUB loads (the one in its prefix directory,
``_bootcfg.grub_cfg.grub_dir``): the facts (saved_entry, next_entry, kernelopts), the BLS
backends (kernelopts) and the checks after a regeneration. A block GRUB itself would reject (no
signature, no newline before the padding) is unreadable, as for GRUB's ``load_env``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_cfg import grub_dir
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

SIGNATURE = b"# GRUB Environment Block\n"
MAX_ENV = 1024 * 1024  # grub-editenv makes 1024 bytes; far above any real block
EDITENV_TOOLS = ("grub2-editenv", "grub-editenv")


def _escape(value):
    out = []
    for ch in value:
        if ch in ("\\", "\n"):
            out.append("\\")
        out.append(ch)
    return "".join(out)


def _unescape(raw):
    out = []
    i = 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            out.append(raw[i + 1])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


class EnvBlock(object):
    """A parsed grubenv. ``lines`` are the raw (escaped) lines between signature and padding."""

    def __init__(self, data, path="grubenv"):
        self.path = path
        if not data.startswith(SIGNATURE):
            raise BootConfigError("%s: not a GRUB environment block (no '# GRUB Environment Block' header)" % path)
        self.size = len(data)
        end = len(data)
        while end > len(SIGNATURE) and data[end - 1 : end] == b"#":
            end -= 1
        if data[end - 1 : end] != b"\n":
            raise BootConfigError("%s: broken GRUB environment block (no newline before the # padding)" % path)
        body = data[len(SIGNATURE) : end].decode("utf-8", "surrogateescape")
        self.lines = []
        cur = []
        i = 0
        while i < len(body):
            ch = body[i]
            if ch == "\\" and i + 1 < len(body):
                cur.append(body[i : i + 2])
                i += 2
                continue
            if ch == "\n":
                self.lines.append("".join(cur))
                cur = []
            else:
                cur.append(ch)
            i += 1
        if cur:
            self.lines.append("".join(cur))

    @classmethod
    def empty(cls, size=1024):
        data = SIGNATURE + b"#" * (size - len(SIGNATURE))
        return cls(data)

    def _indexes(self, name):
        prefix = name + "="
        return [i for i, line in enumerate(self.lines) if line.startswith(prefix)]

    def items(self):
        out = []
        for line in self.lines:
            if line.startswith("#") or "=" not in line:
                continue
            name, raw = line.split("=", 1)
            out.append((name, _unescape(raw)))
        return out

    def as_dict(self):
        """Variables as GRUB's load_env sees them (a later line of the same name wins)."""
        return dict(self.items())

    def get(self, name):
        idx = self._indexes(name)
        if not idx:
            return None
        return _unescape(self.lines[idx[-1]][len(name) + 1 :])

    def set(self, name, value):
        idx = self._indexes(name)
        if len(idx) > 1:
            raise BootConfigError(
                "%s: %s is defined %d times; refusing to guess which one counts" % (self.path, name, len(idx))
            )
        line = "%s=%s" % (name, _escape(value))
        if idx:
            self.lines[idx[0]] = line
        else:
            self.lines.append(line)
        self.to_bytes()  # raises when it no longer fits

    def to_bytes(self):
        body = "".join(line + "\n" for line in self.lines).encode("utf-8", "surrogateescape")
        data = SIGNATURE + body
        if len(data) > self.size:
            raise BootConfigError(
                "%s: the GRUB environment block (%d bytes) has no room for the new value" % (self.path, self.size)
            )
        return data + b"#" * (self.size - len(data))


def parse(data, path="grubenv"):
    return EnvBlock(data, path)


class GrubEnv(object):
    """The grubenv GRUB loads, as read under a root.

    ``host_path`` (the path GRUB opens, e.g. ``/boot/grub2/grubenv``), ``real_path`` (what was
    opened under root, links followed inside it) and ``resolved`` (its host path); ``vars``: the
    variables (``{}`` for an empty block) or None when absent or unreadable; ``absent``: the file
    does not exist; ``why``: ``"<path>: reason"`` when it cannot be read or is not a block.
    """

    def __init__(self, host_path, real_path, resolved, vars_, absent, why, block=None):
        self.host_path = host_path
        self.real_path = real_path
        self.resolved = resolved
        self.vars = vars_
        self.absent = absent
        self.why = why
        self.block = block

    @property
    def readable(self):
        return self.vars is not None


def load(root, directory=None):
    """The grubenv in ``directory`` (default: GRUB's prefix, ``grub_dir``) under ``root``; never raises.

    With no GRUB directory at all the result is absent, named as on EL (``/boot/grub2/grubenv``).
    """
    directory = directory or grub_dir(root) or "/boot/grub2"
    hp = directory + "/grubenv"
    real, resolved = None, hp
    try:
        real, resolved = _rootpath.resolve(root, hp)
        data = _rootpath.read_bytes(root, hp, MAX_ENV)
    except OSError as exc:
        absent = exc.errno in (errno.ENOENT, errno.ENOTDIR)
        return GrubEnv(hp, real, resolved, None, absent, _rootpath.describe_oserror(hp, exc))
    if len(data) > MAX_ENV:
        return GrubEnv(
            hp, real, resolved, None, False, "%s: larger than %d bytes, not a GRUB environment block" % (hp, MAX_ENV)
        )
    try:
        block = EnvBlock(data, hp)
    except BootConfigError as exc:
        return GrubEnv(hp, real, resolved, None, False, exc.message)
    return GrubEnv(hp, real, resolved, block.as_dict(), False, None, block)


def editenv_writer(tool, real_path, name, value):
    """A FileChange writer that runs ``tool FILE set name=value`` and checks the bytes it wrote."""

    def write(runner, commands):
        argv = [tool, real_path, "set", "%s=%s" % (name, value)]
        res = runner(argv)
        commands.append({"cmd": argv, "rc": res.rc, "seconds": round(res.seconds, 3)})
        if res.rc != 0:
            what = "did not finish in time and was killed" if res.timed_out else "failed (rc=%s)" % res.rc
            raise BootConfigError("%s %s: %s" % (" ".join(argv), what, res.summary()), res.out + res.err)
        data = _rootpath.read_optional(real_path, MAX_ENV)
        got = EnvBlock(data or b"", real_path).get(name)
        if got != value:
            raise BootConfigError("%s: after %s, %s is %r, not %r" % (real_path, tool, name, got, value))

    return write
