# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Take a kernel's image, config and System.map out of a package file, nothing else.

Target side: standard library only, importable by Python 3.6+.

A downloaded kernel package is probed before anything is installed (docs/upgrade.md): its
files are streamed and only those the probe needs (``/boot/vmlinuz-<rel>``, ``config-<rel>``,
``System.map-<rel>``, ``/usr/lib/modules/<rel>/{vmlinuz,config,System.map}``) are written
into a scratch directory laid out as a root, so fleetsec.vmscape's kernel probe reads them as
it reads an installed kernel. The tools that know the formats do the unpacking:
``dpkg-deb --fsys-tarfile`` (.deb, any compression dpkg supports) and ``rpm2cpio`` (.rpm);
the tar and cpio streams are read here. Every member is bounded in size, only regular files
are written, names are checked (no ``..``, no absolute paths) and opened with O_NOFOLLOW.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import subprocess
import tarfile
import tempfile
import threading

WANTED = (
    re.compile(r"^boot/(?P<kind>vmlinuz|vmlinux|config|System\.map)-(?P<rel>[A-Za-z0-9._+~-]+)$"),
    re.compile(r"^(?:usr/)?lib/modules/(?P<rel>[A-Za-z0-9._+~-]+)/(?P<kind>vmlinuz|config|System\.map)$"),
)
MEMBER_CAP = 512 * 1024 * 1024
STREAM_CAP = 8 * 1024 * 1024 * 1024
_CHUNK = 1024 * 1024


class ArchiveError(Exception):
    pass


def wanted(name):
    """(normalized path, release, kind) when the probe needs this member, else None."""
    path = name
    while path.startswith("./"):
        path = path[2:]
    path = path.lstrip("/")
    if ".." in path.split("/"):
        return None
    for rx in WANTED:
        m = rx.match(path)
        if m:
            return path, m.group("rel"), m.group("kind")
    return None


def _write(dest_root, path, reader, size):
    if size > MEMBER_CAP:
        raise ArchiveError("%s: %d bytes, more than the %d allowed for a kernel file" % (path, size, MEMBER_CAP))
    target = os.path.join(dest_root, path)
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o700)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o600)
    left = size
    with os.fdopen(fd, "wb") as out:
        while left > 0:
            data = reader(min(_CHUNK, left))
            if not data:
                raise ArchiveError("%s: archive ended inside the file" % path)
            out.write(data)
            left -= len(data)
    return target


class _Pipe(object):
    """A program reading a file and writing a stream; killed when the reader stops early."""

    def __init__(self, argv, timeout):
        self.argv = argv
        self.errfile = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        # Not run_command: the stream (hundreds of MiB) is read as it comes, never held whole.
        self.proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.errfile
        )
        self.timer = threading.Timer(timeout, self._expire)
        self.timer.daemon = True
        self.expired = False
        self.timer.start()

    def _expire(self):
        self.expired = True
        try:
            self.proc.kill()
        except OSError:
            pass

    def close(self, complete):
        if complete:
            # what follows the end-of-archive marker (tar records, cpio padding): drained, so
            # the program is not killed by a closed pipe and its exit status means something
            drained = 0
            while drained < 1024 * 1024:
                data = self.proc.stdout.read(_CHUNK)
                if not data:
                    break
                drained += len(data)
        self.timer.cancel()
        if self.proc.poll() is None and not complete:
            self.proc.kill()
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        rc = self.proc.wait()
        self.errfile.seek(0)
        err = self.errfile.read(4096).decode("utf-8", "replace").strip()
        self.errfile.close()
        if self.expired:
            raise ArchiveError("%s: timed out" % " ".join(self.argv))
        if complete and rc != 0:
            raise ArchiveError("%s exited %d: %s" % (" ".join(self.argv), rc, err.splitlines()[-1] if err else ""))


class _Bounded(object):
    """A file-like view of a pipe that refuses more than STREAM_CAP bytes."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def read(self, n=-1):
        data = self.raw.read(n if n is not None and n >= 0 else _CHUNK)
        self.count += len(data)
        if self.count > STREAM_CAP:
            raise ArchiveError("package stream larger than %d bytes" % STREAM_CAP)
        return data


def extract_deb(path, dest_root, dpkg_deb, timeout=600):
    """Write the wanted members of a .deb under dest_root; return [(path, release, kind, size)]."""
    pipe = _Pipe([dpkg_deb, "--fsys-tarfile", path], timeout)
    found = []
    complete = False
    try:
        try:
            with tarfile.open(fileobj=_Bounded(pipe.proc.stdout), mode="r|") as tar:
                for member in tar:
                    hit = wanted(member.name)
                    if hit is None or not member.isreg():
                        continue
                    fobj = tar.extractfile(member)
                    _write(dest_root, hit[0], fobj.read, member.size)
                    found.append((hit[0], hit[1], hit[2], member.size))
        except tarfile.TarError as exc:
            raise ArchiveError("%s: not a readable package (%s)" % (path, exc)) from None
        complete = True
    finally:
        pipe.close(complete)
    return found


def _read_exact(stream, n):
    out = b""
    while len(out) < n:
        data = stream.read(n - len(out))
        if not data:
            raise ArchiveError("cpio archive ended early")
        out += data
    return out


def read_cpio(stream, dest_root):
    """Write the wanted members of a newc/crc cpio stream (rpm2cpio's output) under dest_root."""
    found = []
    while True:
        head = _read_exact(stream, 110)
        magic = head[:6]
        if magic not in (b"070701", b"070702"):
            raise ArchiveError("not a newc cpio archive (magic %r)" % magic)
        try:
            fields = [int(head[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        except ValueError:
            raise ArchiveError("corrupt cpio header") from None
        mode, filesize, namesize = fields[1], fields[6], fields[11]
        if namesize > 4096:
            raise ArchiveError("cpio member name of %d bytes" % namesize)
        name = _read_exact(stream, namesize)[:-1].decode("utf-8", "surrogateescape")
        _read_exact(stream, (-(110 + namesize)) % 4)
        if name == "TRAILER!!!":
            return found
        hit = wanted(name)
        if hit is not None and (mode & 0o170000) == 0o100000:
            _write(dest_root, hit[0], stream.read, filesize)
            found.append((hit[0], hit[1], hit[2], filesize))
        else:
            left = filesize
            while left > 0:
                data = stream.read(min(_CHUNK, left))
                if not data:
                    raise ArchiveError("cpio archive ended inside %s" % name)
                left -= len(data)
        _read_exact(stream, (-filesize) % 4)


def extract_rpm(path, dest_root, rpm2cpio, timeout=600):
    """Write the wanted members of an .rpm under dest_root (through rpm2cpio)."""
    pipe = _Pipe([rpm2cpio, path], timeout)
    complete = False
    try:
        found = read_cpio(_Bounded(pipe.proc.stdout), dest_root)
        complete = True
    finally:
        pipe.close(complete)
    return found
