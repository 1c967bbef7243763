# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""External commands with a deadline and bounded output (regeneration: update-grub, grubby, ...).

Target side: standard library only, importable by Python 3.6+.

AnsibleModule.run_command has no timeout and keeps the whole output in memory (an update-grub
that printed 50 MB came back whole in the task result). ``run`` here:

- starts the command in its own session (process group), stdin from /dev/null, ``LC_ALL=C``;
- reads stdout and stderr as they come, keeping only the first ``HEAD`` and the last ``TAIL``
  bytes of each (the bytes cut are counted and said);
- at the deadline sends SIGTERM to the whole process group, SIGKILL after ``GRACE`` seconds, and
  reports ``timed_out``; a process the command left running in its group after it exited, holding
  its output open, is killed the same way;
- passes ``pass_fds`` (the run lock) to the command, so the lock stays held while anything the
  command started is still running, even if this process is killed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import selectors
import signal
import subprocess
import time

HEAD = 16 * 1024
TAIL = 48 * 1024
GRACE = 5.0
# After the command exited, how long output may still come from what it left running.
LINGER = 2.0


class _Capture(object):
    """First HEAD and last TAIL bytes of a stream, and how many were cut in between."""

    def __init__(self):
        self.head = bytearray()
        self.tail = bytearray()
        self.cut = 0

    def add(self, data):
        room = HEAD - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail += data
        if len(self.tail) > TAIL:
            drop = len(self.tail) - TAIL
            del self.tail[:drop]
            self.cut += drop

    def text(self):
        out = bytes(self.head)
        if self.cut:
            out += b"\n[... %d bytes of output cut ...]\n" % self.cut
        out += bytes(self.tail)
        return out.decode("utf-8", "replace")


class Result(object):
    def __init__(self, argv, rc, out, err, timed_out, seconds, cut):
        self.argv = argv
        self.rc = rc  # None when killed at the deadline
        self.out = out
        self.err = err
        self.timed_out = timed_out
        self.seconds = seconds
        self.cut = cut  # bytes of output not kept

    def summary(self, limit=2000):
        """The end of the output for a one-line message: stderr, else stdout, at most ``limit``."""
        text = (self.err or self.out or "").strip()
        if len(text) > limit:
            text = "[...] " + text[-limit:]
        return text


def _kill_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except OSError as e:
        if e.errno != errno.ESRCH:
            raise


def run(argv, timeout, env=None, pass_fds=(), cwd=None):
    """Run ``argv`` (argv[0] an absolute path); return a Result. Never raises for the command's
    own failures (exit status, timeout); raises OSError when it cannot be started."""
    full_env = dict(os.environ)
    full_env.update({"LC_ALL": "C", "LANG": "C"})
    full_env.update(env or {})
    start = time.monotonic()
    proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        cwd=cwd,
        close_fds=True,
        pass_fds=tuple(pass_fds),
        start_new_session=True,
    )
    pgid = proc.pid
    caps = {proc.stdout.fileno(): _Capture(), proc.stderr.fileno(): _Capture()}
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    sel = selectors.DefaultSelector()
    for f in (proc.stdout, proc.stderr):
        sel.register(f, selectors.EVENT_READ)
    deadline = start + timeout
    exited_at = None
    lingering = False
    try:
        while sel.get_map():
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > LINGER:
                lingering = True
                break
            if now >= deadline:
                break
            wait = deadline - now
            if exited_at is not None:
                wait = min(wait, LINGER - (now - exited_at))
            for key, _ev in sel.select(max(0.0, min(wait, 0.5))):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                caps[key.fd].add(data)
        if not sel.get_map() and proc.poll() is None:
            # Output closed but the command still runs: wait for it until the deadline.
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    finally:
        sel.close()
        timed_out = proc.poll() is None
        if timed_out:
            # The deadline passed: end the whole process group (TERM, then KILL).
            _kill_group(pgid, signal.SIGTERM)
            try:
                proc.wait(GRACE)
            except subprocess.TimeoutExpired:
                pass
            _kill_group(pgid, signal.SIGKILL)
        elif lingering:
            # The command exited but what it started still holds its output open.
            _kill_group(pgid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    seconds = time.monotonic() - start
    out, err = caps[out_fd], caps[err_fd]
    return Result(
        list(argv),
        None if timed_out else proc.returncode,
        out.text(),
        err.text(),
        timed_out,
        seconds,
        out.cut + err.cut,
    )
