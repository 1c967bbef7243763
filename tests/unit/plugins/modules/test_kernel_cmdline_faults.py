"""Unit tests of the fault handling of kernel_cmdline (the system-level fault suite, with real
kills, full disks and real update-grub runs, is tests/faults): the run lock, the write-ahead
intent and its recovery, bounded commands, bounded reads under a root, the kernel's argument
splitting, one-off boot parameters, bounded decompression, and the boot menu checks."""

import bz2
import fcntl
import hashlib
import json
import os
import re
import stat
import sys
import threading
import time
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_kernel_cmdline_support import copy_case, run_module, tree_state, write

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import intent as _cmdline_intent
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import (
    kernel_cmdline_file as _kernel_cmdline_file,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import run_lock as _run_lock
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import cmdline as _cmdline
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import command_runner as _command_runner
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts import kernel_probe as _kernel_probe


# --------------------------------------------------------------------------- the kernel's splitting
def next_arg_reference(text):
    """lib/cmdline.c next_arg, transcribed character by character (the reference for split_raw)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\n\v\f\r":
            i += 1
        if i >= n:
            break
        start, quoted = i, False
        if text[i] == '"':
            quoted = True
            i += 1
        while i < n and not (text[i] in " \t\n\v\f\r" and not quoted):
            if text[i] == '"':
                quoted = not quoted
            i += 1
        out.append(text[start:i])
    return out


@given(st.text(alphabet=' \t\n"=ab-_.\\x', max_size=60))
def test_split_raw_is_the_kernels_next_arg(text):
    assert _cmdline.split_raw(text) == next_arg_reference(text)


def test_trailing_newline_is_refused_in_names_and_values():
    assert _cmdline.validate_param("vmscape", "ibpb\n")
    assert _cmdline.validate_param("vmscape\n", "ibpb")
    assert _cmdline.validate_param("vmscape", "ibpb") is None


# --------------------------------------------------------------------------- reads under a root
def test_fifo_device_and_loop_are_refused_without_blocking(tmp_path):
    root = tmp_path / "r"
    (root / "x").mkdir(parents=True)
    os.mkfifo(root / "x" / "fifo")
    os.mknod(root / "x" / "zero", 0o444 | stat.S_IFCHR, os.makedev(1, 5))
    (root / "x" / "loop").symlink_to("loop")
    t = time.monotonic()
    with pytest.raises(OSError, match="a FIFO"):
        _rootpath.read_bytes(str(root), "/x/fifo", 10)
    with pytest.raises(OSError, match="a character device"):
        _rootpath.read_bytes(str(root), "/x/zero", 10)
    with pytest.raises(OSError, match="link loop") as e:
        _rootpath.read_bytes(str(root), "/x/loop", 10)
    assert e.value.filename == "/x/loop"
    assert time.monotonic() - t < 5
    assert not _rootpath.exists(str(root), "/x/loop") and not _rootpath.isfile(str(root), "/x/fifo")


def test_links_never_leave_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    root = tmp_path / "r"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "abs").symlink_to(outside / "secret")
    (root / "a" / "b" / "rel").symlink_to("../../../../../../../" + str(outside / "secret").lstrip("/"))
    for name in ("abs", "rel"):
        real = _rootpath.under(str(root), "/a/b/" + name)
        assert real.startswith(str(root) + "/")
        with pytest.raises(OSError):
            _rootpath.read_bytes(str(root), "/a/b/" + name)


# --------------------------------------------------------------------------- the run lock
def test_second_run_is_busy_and_names_the_holder(tmp_path):
    root = str(tmp_path)
    with _run_lock.RunLock(root, 5, "change vmscape=ibpb") as held:
        with pytest.raises(_run_lock.LockBusy) as e:
            _run_lock.RunLock(root, 0.5, "another").__enter__()
        msg = str(e.value)
        assert msg.startswith("busy: ") and f"pid {os.getpid()}" in msg and "change vmscape=ibpb" in msg
        assert held.path in msg
    # released: the file is gone and the next run gets the lock at once, nothing stale
    assert not os.path.exists(held.path)
    with _run_lock.RunLock(root, 1, "next") as again:
        assert again.recovered is None


def test_waiting_run_gets_the_lock_when_the_holder_finishes(tmp_path):
    root = str(tmp_path)
    first = _run_lock.RunLock(root, 5, "first").__enter__()
    got = []

    def second():
        with _run_lock.RunLock(root, 10, "second") as lk:
            got.append(lk.waited)

    th = threading.Thread(target=second)
    th.start()
    time.sleep(0.6)
    assert not got
    first.__exit__(None, None, None)
    th.join(10)
    assert got and got[0] >= 0.4


def test_a_dead_holders_record_is_reported_as_stale(tmp_path):
    root = str(tmp_path)
    lk = _run_lock.RunLock(root, 1, "x")
    path = lk._lock_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:  # what a SIGKILLed holder leaves: its record, no flock
        json.dump({"pid": 999999, "comm": "python3", "started": time.time() - 60, "what": "change"}, f)
    with lk:
        assert "stale run lock of pid 999999" in lk.recovered and "not running" in lk.recovered


def test_lock_is_held_by_a_command_the_run_started(tmp_path):
    root = str(tmp_path)
    lk = _run_lock.RunLock(root, 1, "x").__enter__()
    res = _command_runner.run(
        [sys.executable, "-c", f"import fcntl; fcntl.flock({lk.fd}, fcntl.LOCK_EX | fcntl.LOCK_NB); print('ok')"],
        10,
        pass_fds=(lk.fd,),
    )
    assert res.rc == 0 and res.out.strip() == "ok"  # same open file: the child holds it too
    fd = os.open(lk.path, os.O_RDONLY)
    try:
        with pytest.raises(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    lk.__exit__(None, None, None)


# --------------------------------------------------------------------------- bounded commands
def test_command_output_is_cut_and_the_deadline_kills_the_group(tmp_path):
    res = _command_runner.run(["/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; echo END >&2; exit 3"], 30)
    assert res.rc == 3 and not res.timed_out
    assert len(res.out) < _command_runner.HEAD + _command_runner.TAIL + 200 and res.cut == 3000000 - 65536
    assert res.summary() == "END"
    marker = tmp_path / "child-alive"
    t = time.monotonic()
    res = _command_runner.run(["/bin/sh", "-c", f"(sleep 30; touch {marker}) & sleep 30"], 1)
    assert res.timed_out and res.rc is None and time.monotonic() - t < 10
    time.sleep(0.5)
    assert not marker.exists()


# --------------------------------------------------------------------------- intent and recovery
def _sha(b):
    return hashlib.sha256(b).hexdigest()


def _intent(root, files, ready=True, dirs=()):
    doc = {
        "format": 1,
        "kind": "kernel_cmdline-intent",
        "id": "20251125T100000.123456Z-4711",
        "pid": 4711,
        "time": "2025-11-25T10:00:00Z",
        "op": "change",
        "restore_of": None,
        "ready": ready,
        "keep_backups": True,
        "files": files,
        "dirs": list(dirs),
    }
    _cmdline_intent.write(root, doc)
    return doc


def test_recovery_puts_back_removes_created_and_keeps_nothing(tmp_path):
    root = str(tmp_path)
    write(os.path.join(root, "etc/default/grub"), "NEW\n")
    write(os.path.join(root, "etc/default/grub.4711.2025-11-25@10:00:00~"), "OLD\n")
    write(os.path.join(root, "etc/default/grub.d/99-fleetsec-vmscape.cfg"), "created\n")
    write(os.path.join(root, "boot/grub/grub.cfg.new"), "half\n")
    write(os.path.join(root, "etc/default/.grub.abc.fleetsec-tmp"), "partial")
    _intent(
        root,
        [
            {
                "path": "/etc/default/grub",
                "backup": "/etc/default/grub.4711.2025-11-25@10:00:00~",
                "sha256_before": _sha(b"OLD\n"),
            },
            {"path": "/etc/default/grub.d/99-fleetsec-vmscape.cfg", "backup": None, "sha256_before": None},
        ],
        dirs=[{"path": "/boot/grub", "names": []}],
    )
    notes, warnings = _cmdline_intent.recover(root)
    assert "rolled back" in notes[0] and warnings == []
    assert _atomic_write.read_bytes(os.path.join(root, "etc/default/grub")) == b"OLD\n"
    assert sorted(os.listdir(os.path.join(root, "etc/default"))) == ["grub", "grub.d"]
    assert os.listdir(os.path.join(root, "etc/default/grub.d")) == []
    assert os.listdir(os.path.join(root, "boot/grub")) == []
    assert _cmdline_intent.read(root) is None


def test_recovery_with_a_missing_backup_deletes_nothing(tmp_path):
    root = str(tmp_path)
    write(os.path.join(root, "etc/default/grub"), "NEW\n")
    doc = _intent(
        root,
        [
            {
                "path": "/etc/default/grub",
                "backup": "/etc/default/grub.4711.2025-11-25@10:00:00~",
                "sha256_before": "0" * 64,
            }
        ],
    )
    before = tree_state(root)
    with pytest.raises(_cmdline_intent.JournalError, match=r"is missing.*Nothing was deleted"):
        _cmdline_intent.recover(root)
    assert tree_state(root) == before and _cmdline_intent.read(root) == doc


def test_recovery_before_ready_only_removes_partial_backups(tmp_path):
    root = str(tmp_path)
    write(os.path.join(root, "etc/default/grub"), "OLD\n")
    write(os.path.join(root, "etc/default/grub.4711.2025-11-25@10:00:00~"), "OL")  # cut short
    _intent(
        root,
        [
            {
                "path": "/etc/default/grub",
                "backup": "/etc/default/grub.4711.2025-11-25@10:00:00~",
                "sha256_before": _sha(b"OLD\n"),
            }
        ],
        ready=False,
    )
    write(os.path.join(root, "etc/default/grub.4712.2025-11-25@10:00:00~"), "someone else's")
    notes, warnings = _cmdline_intent.recover(root)
    assert "had not changed anything yet" in notes[0] and warnings == []
    # the copy cut short by the kill (a beginning of the unchanged file) goes; nothing else
    assert sorted(os.listdir(os.path.join(root, "etc/default"))) == ["grub", "grub.4712.2025-11-25@10:00:00~"]
    assert _atomic_write.read_bytes(os.path.join(root, "etc/default/grub")) == b"OLD\n"


def test_corrupt_intent_stops_every_writing_run(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    path = _cmdline_intent.intent_path(root)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write('{"kind": "kernel_cmdline-intent", "secret": "hunter2"')
    before = tree_state(root)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}, "restore": None, "force": False})
    assert failed and "cannot be trusted" in res["msg"] and "hunter2" not in res["msg"]
    assert tree_state(root) == before


# --------------------------------------------------------------------------- atomic restore when full
def test_put_back_renames_the_backup_when_the_disk_is_full(tmp_path, monkeypatch):
    path = tmp_path / "grub"
    path.write_text("NEW\n")
    backup = _atomic_write.backup_file(str(path), b"OLD\n")
    path.write_text("NEW\n")

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_atomic_write, "atomic_write", full)
    assert _atomic_write.put_back(str(path), b"OLD\n", backup) == "renamed"
    assert path.read_text() == "OLD\n" and not os.path.exists(backup)


# --------------------------------------------------------------------------- systemd-boot one-offs
def test_one_off_parameters_never_reach_etc_kernel_cmdline(tmp_path):
    root = copy_case("sdboot-no-cmdline-file", tmp_path)
    proc = os.path.join(root, "proc", "cmdline")
    write(
        proc,
        "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro systemd.unit=rescue.target init=/bin/bash single rd.break "
        "emergency rescue S 1 rd.shell systemd.debug-shell quiet\n",
    )
    usr = os.path.join(root, "usr", "lib", "kernel", "cmdline")
    if os.path.exists(usr):
        os.remove(usr)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}, "restore": None, "force": False})
    assert not failed, res["msg"]
    with open(os.path.join(root, "etc", "kernel", "cmdline")) as f:
        assert f.read().split() == ["root=/dev/vda1", "ro", "quiet", "vmscape=ibpb"]
    assert any("one-off boot parameters" in w and "systemd.unit=rescue.target" in w for w in res["warnings"])


def test_one_off_list_matches_like_kernel_names():
    toks = ["rd.break=pre-mount", "systemd.debug-shell=1", "s", "S", "10", "-s", "x", "rd.breakfast"]
    kept, dropped = _kernel_cmdline_file.without_one_off(toks)
    assert kept == ["10", "x", "rd.breakfast"]
    assert dropped == ["rd.break=pre-mount", "systemd.debug-shell=1", "s", "S", "-s"]


# --------------------------------------------------------------------------- bounded decompression
def test_decompression_is_bounded_per_step_and_in_all(tmp_path, monkeypatch):
    data = bz2.compress(b"\0" * (8 << 20))
    path = tmp_path / "img"
    path.write_bytes(data)
    with open(path, "rb") as f:
        stream = _kernel_probe.StdlibStream(f, "bzip2", 0, None, max_bytes=3 << 20, deadline=time.monotonic() + 60)
        sizes = [len(c) for c in stream]
    assert max(sizes) <= _kernel_probe._CHUNK_OUT and sum(sizes) <= 3 << 20
    assert stream.bounded and "size limit" in stream.error
    gz = zlib.compressobj(9, zlib.DEFLATED, 31)
    path.write_bytes(gz.compress(b"\0" * (8 << 20)) + gz.flush())
    with open(path, "rb") as f:
        stream = _kernel_probe.StdlibStream(f, "gzip", 0, None, max_bytes=64 << 20, deadline=time.monotonic() - 1)
        assert list(stream) == [] and "time limit" in stream.error


def test_system_map_lines_are_bounded(tmp_path):
    path = tmp_path / "System.map"
    path.write_bytes(b"x" * (300 * 1024) + b"\n" + b"ffffffff81000000 T vmscape_select_mitigation\n" * 3)
    with open(path, "rb") as f:
        lines = list(_kernel_probe.bounded_lines(f, limit=1 << 20, max_line=4096))
    assert max(len(x) for x in lines) <= 4096
    with open(path, "rb") as f, pytest.raises(_kernel_probe.ProbeError, match="larger than"):
        list(_kernel_probe.bounded_lines(f, limit=100 * 1024))


# --------------------------------------------------------------------------- shell errors
def test_parse_errors_never_echo_the_files_text(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    write(os.path.join(root, "etc", "shadow"), "root:$6$s3cr3t-hash$:19000:0:99999:7:::\nx ) y\n")
    os.makedirs(os.path.join(root, "etc", "default", "grub.d"), exist_ok=True)
    os.symlink("/etc/shadow", os.path.join(root, "etc", "default", "grub.d", "50.cfg"))
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}, "restore": None, "force": False})
    assert failed and re.search(r"etc/shadow:\d+: ", res["msg"])
    assert "s3cr3t" not in json.dumps(res)
