"""Decompression bombs as next-boot kernel images: memory and time stay bounded.

Each bomb is 300 MiB of zeros compressed with the real tool (bzip2, xz, lzma, gzip, zstd, lz4):
a few KiB that decompress to more than the probe's limit (``MAX_DECOMPRESSED``, 256 MiB). They
are made once per machine and kept in ``$VMSCAPE_CACHE/fault-bombs/`` (compressing 300 MiB
takes ~10 s per format on a busy 2-core box).

The probe runs in a child process under ``RLIMIT_AS`` = 1 GiB (an unbounded decompression of
a 300 MiB bomb - which is what happened before: 785 bytes of bzip2 took 2.1 GB - could not even
allocate its output); the child's peak RSS comes from ``wait4``. Each must end within the probe's
time limit with the answers unknown (null, never a negative answer from a bomb) and a probe
error naming the limit. The same through the real ``vmscape_facts`` module on a snapshot root.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import COLLECTIONS, REPO

CACHE = Path(os.environ.get("VMSCAPE_CACHE", str(Path.home() / ".cache" / "fleetsec-vmscape"))) / "fault-bombs" / "v1"
MIB = 1024 * 1024
BOMB_BYTES = 300 * MIB
RLIMIT = 1024 * MIB
MAX_RSS_MIB = 200
FORMATS = {
    "bzip2": ["bzip2", "-9", "-c"],
    "xz": ["xz", "-0", "-T1", "-c"],
    "lzma": ["xz", "--format=lzma", "-0", "-c"],
    "gzip": ["gzip", "-1", "-c"],
    "zstd": ["zstd", "-1", "-q", "-c"],
    "lz4": ["lz4", "-l", "-1", "-q", "-c"],  # legacy frames, as the kernel build writes them
}
SNAPSHOT = REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake"
RELEASE = "6.1.0-56-amd64"

DRIVER = r"""
import json, resource, sys, time
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts import kernel_probe as kp
t = time.monotonic()
r = kp.probe_kernel(sys.argv[1], None, "/boot/vmlinuz-x", "always")
print(json.dumps({"seconds": time.monotonic() - t, "knows": r["knows_vmscape"], "g3": r["bhb_series"],
                  "errors": r["probe_errors"], "evidence": r["evidence"]}))
"""


def bomb(fmt):
    """The bomb file for ``fmt`` (made once, kept in the cache)."""
    path = CACHE / f"{fmt}.bin"
    if path.exists():
        return path
    if not shutil.which(FORMATS[fmt][0]):
        pytest.fail(f"{FORMATS[fmt][0]} is not installed (tools/system-packages.txt)")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        zeros = subprocess.Popen(["head", "-c", str(BOMB_BYTES), "/dev/zero"], stdout=subprocess.PIPE)
        subprocess.run(FORMATS[fmt], stdin=zeros.stdout, stdout=out, check=True)
        zeros.wait()
    tmp.rename(path)
    return path


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (RLIMIT, RLIMIT))


def test_bombs_are_bounded(tmp_path, tally):
    t = tally("decompression bombs", "300 MiB of zeros as " + ", ".join(FORMATS) + " (next-boot image)")
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    problems = []
    for fmt in FORMATS:
        root = tmp_path / fmt
        (root / "boot").mkdir(parents=True)
        shutil.copy(bomb(fmt), root / "boot" / "vmlinuz-x")
        t.injected += 1
        t.runs += 1
        # each probe in its own process, so its peak RSS is its own (wait4)
        start = time.monotonic()
        p = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=_limited,
        )
        out = p.stdout.read()
        err = p.stderr.read()
        _pid, status, usage = os.wait4(p.pid, 0)
        seconds = time.monotonic() - start
        rss = usage.ru_maxrss / 1024.0
        if status != 0:
            problems.append(f"{fmt}: the probe process died (status {status}): {err.decode()[-300:]}")
            continue
        res = json.loads(out)
        limit_hit = any("size limit" in e or "time limit" in e for e in res["errors"])
        if res["knows"] is not None or res["g3"] is not None:
            problems.append(f"{fmt}: a bomb gave an answer: knows={res['knows']} g3={res['g3']}")
        if not limit_hit:
            problems.append(f"{fmt}: no probe error naming the limit: {res['errors']}")
        else:
            t.clear_errors += 1
        if rss > MAX_RSS_MIB:
            problems.append(f"{fmt}: peak RSS {rss:.0f} MiB")
        t.notes.append(
            f"{fmt}: {os.path.getsize(root / 'boot' / 'vmlinuz-x')} bytes, peak RSS {rss:.0f} MiB, {seconds:.1f} s"
        )
    assert not problems, "\n".join(problems)


def test_facts_module_survives_a_bomb(tmp_path, tally):
    t = tally("decompression bombs: vmscape_facts", "the real facts module, probe_image=always, xz bomb as next kernel")
    root = tmp_path / "root"
    shutil.copytree(SNAPSHOT, root, symlinks=True)
    shutil.copy(bomb("xz"), root / "boot" / f"vmlinuz-{RELEASE}")
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"root": str(root), "probe_image": "always"}}))
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    p = subprocess.Popen(
        [sys.executable, str(REPO / "plugins" / "modules" / "vmscape_facts.py"), str(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=_limited,
    )
    out = p.stdout.read()
    _pid, status, usage = os.wait4(p.pid, 0)
    t.injected += 1
    t.runs += 1
    assert status == 0, out[-500:]
    res = json.loads(out)
    boot = res["ansible_facts"]["vmscape"]["boot_kernel"]
    assert any("size limit" in e for e in boot["probe_errors"]), boot["probe_errors"]
    t.clear_errors += 1
    t.succeeded += 1
    assert usage.ru_maxrss / 1024.0 < MAX_RSS_MIB
    t.notes.append(f"vmscape_facts: peak RSS {usage.ru_maxrss / 1024.0:.0f} MiB")
