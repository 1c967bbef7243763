# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host-wide lock every writing run of kernel_cmdline holds from before it reads the
configuration until it has finished (change, regeneration, journal).

Target side: standard library only, importable by Python 3.6+.

Two runs on one host (two controllers, a retried AWX job, a human with ansible-playbook) would
otherwise both read the configuration, both write it, and the second write would silently drop
the first change, or one run's restore would erase the other's change.

The lock is ``flock(LOCK_EX)`` on a file in the host's ``/run/fleetsec-vmscape/`` (0700; a tmpfs,
so nothing survives a reboot and nothing is written into the configuration being changed):
``kernel_cmdline.lock`` for root ``/``, ``kernel_cmdline-<dev>-<inode>.lock`` for another root
(the root directory's identity, so two paths to one tree share a lock). A holder writes its
record (pid, command, start time, boot id, what it does) into the file and removes the file when
it is done, while still holding the lock; a run that locked a file that was removed meanwhile
starts over, so removing never lets two runs in. The kernel drops an flock when the last
descriptor of it closes, so a holder that died (SIGKILL, OOM) never leaves a *held* lock: the
next run gets it and finds the dead holder's record still there, which it reports as a stale
lock recovered. What a dead holder can leave is half-done work, which the write-ahead intent of
``_bootcfg.intent`` undoes before anything else. A run that finds the lock busy waits up to its
timeout and then fails naming who holds it (from /proc/locks and the descriptors in /proc).

Commands the run starts (update-grub, ...) inherit the descriptor, so the lock stays held while
anything the run started is still writing, even after the run itself was killed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import socket
import tempfile
import time

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

LOCK_DIR = "/run/fleetsec-vmscape"
_POLL = 0.2
_MAX_RECORD = 4096


class LockBusy(Exception):
    """The lock is held by another run; the message names it."""


class LockError(Exception):
    """The lock file cannot be created or locked (not a busy lock)."""


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read(64).strip()
    except (IOError, OSError):
        return None


def _comm(pid):
    """The command name of a process (its ``comm``, at most 16 characters), or None."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read(64).strip() or None
    except (IOError, OSError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def holders(path):
    """Pids holding an flock on ``path`` according to /proc/locks (empty when unknown)."""
    try:
        st = os.stat(path)
        with open("/proc/locks") as f:
            lines = f.read(1 << 20).splitlines()
    except (IOError, OSError):
        return []
    want = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    out = []
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4711 fd:01:1234 0 EOF" ("->" marks waiters)
        if "->" in parts or "FLOCK" not in parts:
            continue
        for i, p in enumerate(parts):
            if p == want and i > 0:
                try:
                    out.append(int(parts[i - 1]))
                except ValueError:
                    pass
    return sorted(set(out))


def openers(path, limit=100000):
    """Pids with a descriptor open on ``path`` (like ``fuser``): who keeps an flock alive after
    the process that took it died (a command it started). Scans at most ``limit`` descriptors."""
    try:
        st = os.stat(path)
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except (IOError, OSError):
        return []
    out = []
    seen = 0
    for pid in pids:
        d = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(d)
        except OSError:
            continue
        for fd in fds:
            seen += 1
            if seen > limit:
                return sorted(set(out))
            try:
                fst = os.stat(os.path.join(d, fd))
            except OSError:
                continue
            if (fst.st_dev, fst.st_ino) == (st.st_dev, st.st_ino):
                out.append(pid)
                break
    return sorted(set(out))


def _read_record(fd):
    try:
        data = os.pread(fd, _MAX_RECORD, 0)
        rec = json.loads(data.decode("utf-8")) if data.strip() else None
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def _describe(rec):
    if not rec:
        return "no holder recorded"
    out = "pid %s" % rec.get("pid")
    if rec.get("comm"):
        out += " (%s)" % rec["comm"]
    if isinstance(rec.get("started"), (int, float)):
        out += ", started %s (%d s ago)" % (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rec["started"])),
            max(0, int(time.time() - rec["started"])),
        )
    if rec.get("what"):
        out += ", %s" % rec["what"]
    return out


class RunLock(object):
    """``with RunLock(root, timeout, what): ...`` - raises LockBusy / LockError on enter.

    ``fd`` is the locked descriptor (pass it to commands); ``recovered`` describes a stale
    record left by a holder that did not release the lock (it died), else None.
    """

    def __init__(self, root, timeout, what=""):
        self.root = root
        self.timeout = timeout
        self.what = what
        self.path = None
        self.fd = None
        self.recovered = None
        self.waited = 0.0

    def _lock_path(self):
        st = os.stat(self.root)
        name = "kernel_cmdline.lock"
        if os.path.abspath(self.root) != "/":
            name = "kernel_cmdline-%d-%d.lock" % (st.st_dev, st.st_ino)
        directory = LOCK_DIR
        if os.geteuid() != 0 and not os.access("/run", os.W_OK):
            directory = os.path.join(tempfile.gettempdir(), "fleetsec-vmscape-%d" % os.geteuid())
        return os.path.join(directory, name)

    def _open(self):
        directory = os.path.dirname(self.path)
        try:
            os.mkdir(directory, 0o700)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
        st = os.lstat(directory)
        if not os.path.isdir(directory) or os.path.islink(directory) or st.st_uid != os.geteuid():
            raise OSError(errno.EPERM, "not a directory owned by this user", directory)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        self.fd = os.open(self.path, flags | os.O_NONBLOCK, 0o600)
        what = _rootpath.kind_of(os.fstat(self.fd))
        if what is not None:
            raise OSError(errno.EINVAL, "not a regular file (%s)" % what, self.path)

    def _same_file(self):
        """Whether the locked descriptor is still the file at ``path`` (not removed meanwhile)."""
        try:
            a, b = os.fstat(self.fd), os.stat(self.path)
        except OSError:
            return False
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    def __enter__(self):
        start = time.monotonic()
        while True:
            try:
                self.path = self._lock_path()
                self._open()
            except (IOError, OSError) as e:
                self._close()
                raise LockError("%s: cannot open the run lock: %s" % (self.path, e.strerror or e)) from None
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if self._same_file():
                    break
                self._close()  # the holder removed it after we opened it: start over
                continue
            except (IOError, OSError) as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    self._close()
                    raise LockError("%s: cannot lock: %s" % (self.path, e.strerror or e)) from None
            self.waited = time.monotonic() - start
            if self.waited >= self.timeout:
                rec = _read_record(self.fd)
                pids = [p for p in holders(self.path) if _alive(p)] or [
                    p for p in openers(self.path) if p != os.getpid()
                ]
                held_by = ", ".join("%d (%s)" % (p, _comm(p) or "?") for p in pids) or "unknown"
                self._close()
                raise LockBusy(
                    "busy: another kernel_cmdline run is changing the boot configuration under %s; its lock "
                    "%s is held by: %s; recorded holder: %s. Waited %d s (lock_timeout); nothing was changed. "
                    "Run again when it has finished."
                    % (self.root, self.path, held_by, _describe(rec), int(self.waited))
                )
            self._close()
            time.sleep(_POLL)
        previous = _read_record(self.fd)
        if previous:
            same_boot = previous.get("boot_id") == _boot_id()
            pid = previous.get("pid")
            state = "not running" if not isinstance(pid, int) or not same_boot or not _alive(pid) else "running"
            self.recovered = "stale run lock of %s (%s%s) recovered: that run did not finish" % (
                _describe(previous),
                state,
                "" if same_boot else ", before the last reboot",
            )
        self._write(
            {
                "pid": os.getpid(),
                "comm": _comm(os.getpid()),
                "started": time.time(),
                "what": self.what,
                "root": self.root,
            }
        )
        return self

    def _write(self, extra):
        rec = {"host": socket.gethostname(), "boot_id": _boot_id()}
        rec.update(extra)
        data = json.dumps(rec, sort_keys=True).encode("utf-8") + b"\n"
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, data[:_MAX_RECORD], 0)
        except (IOError, OSError):
            pass  # the record is informative; the flock is what excludes

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __exit__(self, *exc):
        if self.fd is not None:
            # Removed while still held: whoever opened it meanwhile notices and starts over.
            try:
                if self._same_file():
                    os.unlink(self.path)
            except OSError:
                pass
            self._close()  # closing drops the flock (once commands holding it have exited too)
        return False
