"""Run a module and SIGKILL it at its N-th state-changing step (fault injection, test-only).

    python killpoint.py N path/to/module.py args.json

Counts every call that changes or commits file-system state or starts/ends a command -
os.rename/replace/unlink/rmdir/mkdir/fsync/ftruncate/pwrite/write, and subprocess.Popen
(before the command starts) and Popen.wait (after it ended) - and at the N-th one sends
SIGKILL to its own process, like the OOM killer or `kill -9` would: no cleanup runs, open files
are not flushed further, commands already started keep running. With N = 0 nothing is killed
and the number of events is written to stderr as ``KILLPOINT-EVENTS <n>`` (a dry run, to pick
N uniformly among the steps of a real run). The module itself runs unmodified (runpy, as
``__main__``).
"""

import os
import runpy
import signal
import subprocess
import sys

TARGET = int(sys.argv[1])
MODULE, ARGS = sys.argv[2], sys.argv[3]
COUNT = [0]


def event(name):
    COUNT[0] += 1
    if COUNT[0] == TARGET:
        os.kill(os.getpid(), signal.SIGKILL)


def wrap(mod, name):
    real = getattr(mod, name)

    def hooked(*a, **k):
        event(name)
        out = real(*a, **k)
        event(name + " done")
        return out

    setattr(mod, name, hooked)


for fn in ("rename", "replace", "unlink", "rmdir", "mkdir", "fsync", "ftruncate", "pwrite", "write"):
    wrap(os, fn)

_popen_init = subprocess.Popen.__init__
_popen_wait = subprocess.Popen.wait


def popen_init(self, *a, **k):
    event("popen")
    _popen_init(self, *a, **k)
    event("popen started")


def popen_wait(self, *a, **k):
    out = _popen_wait(self, *a, **k)
    event("wait done")
    return out


subprocess.Popen.__init__ = popen_init
subprocess.Popen.wait = popen_wait

sys.argv = [MODULE, ARGS]
try:
    runpy.run_path(MODULE, run_name="__main__")
finally:
    if TARGET == 0:
        sys.stderr.write(f"KILLPOINT-EVENTS {COUNT[0]}\n")
