"""``_bootcfg.apply``'s run of kernel_cmdline (``Session``: its defaults, the run lock, the
interrupted run it finds, the commands it runs, the write-ahead intent it hands ``execute``) and
the pieces of the module's result it fills (``new_result``, ``report_predicted``,
``report_executed``, ``warn_not_regenerated``, ``run_id``, the failure texts) (found by
`make mutation`: only the end-to-end module tests, which the run leaves out, looked at these).

Roots are Debian's /etc/default/grub written by hand. Where a regeneration runs, update-grub is a
stand-in shell script run by the real /bin/sh instead of through chroot (which needs root and
mounted /proc, /sys, /dev; chroot is declared possible): the session's runner is replaced by one
that runs the script directly and looks at the intent file meanwhile. Commands of the real runner
(``Session.runner``) are the real /bin/sh and /bin/echo. Expected values are written by hand.
"""

import datetime
import json
import os
import time
import types
from pathlib import Path

import pytest
from grub_root import defaults, grub_cfg, grub_root, run_session, update_grub, write

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import intent as _intent
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import run_lock as _run_lock
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.apply import (
    Session,
    _describe_restore,
    _failure_text,
    _now_text,
    new_result,
    report_executed,
    report_predicted,
    run_id,
    warn_not_regenerated,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.change import Change
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Command, FileChange
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.restore import Restore
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request

DEFAULTS = defaults("console=ttyS0")
CHANGED = defaults("console=ttyS0 vmscape=ibpb")
JOURNAL = "var/lib/fleetsec-vmscape/kernel_cmdline-journal.json"


@pytest.fixture
def root(tmp_path, monkeypatch):
    return grub_root(tmp_path / "root", monkeypatch, DEFAULTS, grub_cfg("console=ttyS0"))


def apply(root, op, monkeypatch, check_mode=False, regenerate=True):
    return run_session(root, op, monkeypatch, check_mode=check_mode, regenerate=regenerate)


SET = build_request({"vmscape": "ibpb"}, [])


# --------------------------------------------------------------------------- the result's pieces
def test_new_result_has_every_key_the_module_returns_empty():
    assert new_result() == {
        "changed": False,
        "backend": None,
        "backend_reason": None,
        "files": [],
        "backups": {},
        "diff": [],
        "unified_diff": "",
        "previous_cmdline": None,
        "effective_cmdline": None,
        "regenerated": False,
        "regenerate_commands": [],
        "regenerate_skipped": None,
        "regenerated_files": [],
        "commands": [],
        "notes": [],
        "journal_entry": None,
        "restored_entry": None,
    }
    assert new_result()["notes"] is not new_result()["notes"]


def test_a_prediction_is_reported_per_file_in_path_order():
    result = new_result()
    report_predicted(
        result,
        [FileChange("/r/etc/kernel/cmdline", None, b"quiet\n"), FileChange("/r/etc/default/grub", b"A=1\n", b"A=2\n")],
    )
    assert result["files"] == ["/r/etc/default/grub", "/r/etc/kernel/cmdline"]
    assert result["diff"] == [
        {
            "before_header": "/r/etc/default/grub",
            "after_header": "/r/etc/default/grub",
            "before": "A=1\n",
            "after": "A=2\n",
        },
        {"before_header": "/dev/null", "after_header": "/r/etc/kernel/cmdline", "before": "", "after": "quiet\n"},
    ]
    assert result["unified_diff"] == (
        "--- /r/etc/default/grub (before)\n+++ /r/etc/default/grub (after)\n@@ -1 +1 @@\n-A=1\n+A=2\n"
        "--- /dev/null\n+++ /r/etc/kernel/cmdline (after)\n@@ -0,0 +1 @@\n+quiet\n"
    )


def test_an_execution_is_reported_from_the_files_as_they_are_now(tmp_path):
    a, b = tmp_path / "a.cfg", tmp_path / "b.cfg"
    a.write_text("x=2\n")
    b.write_text("new\n")
    res = {
        "files": [str(a), str(b)],
        "regenerated_files": ["/r/boot/grub/grub.cfg"],
        "backups": {str(a): str(a) + ".bak~"},
        "commands": [{"cmd": ["update-grub"], "rc": 0, "seconds": 0.1}],
        "regenerated": True,
        "snapshot": types.SimpleNamespace(files={str(a): b"x=1\n", str(b): None}),
    }
    result = new_result()
    report_executed(result, res)
    assert {k: result[k] for k in ("files", "regenerated_files", "backups", "commands", "regenerated", "changed")} == {
        "files": [str(a), str(b)],
        "regenerated_files": ["/r/boot/grub/grub.cfg"],
        "backups": {str(a): str(a) + ".bak~"},
        "commands": [{"cmd": ["update-grub"], "rc": 0, "seconds": 0.1}],
        "regenerated": True,
        "changed": True,
    }
    assert result["diff"] == [
        {"before_header": str(a), "after_header": str(a), "before": "x=1\n", "after": "x=2\n"},
        {"before_header": "/dev/null", "after_header": str(b), "before": "", "after": "new\n"},
    ]
    assert result["unified_diff"] == (
        f"--- {a} (before)\n+++ {a} (after)\n@@ -1 +1 @@\n-x=1\n+x=2\n"
        f"--- /dev/null\n+++ {b} (after)\n@@ -0,0 +1 @@\n+new\n"
    )


def test_when_a_change_takes_effect_is_said_only_when_not_regenerated():
    regen = [
        Command(["chroot", "/r", "update-grub"], "x"),
        Command(["chroot", "/r", "proxmox-boot-tool", "refresh"], "y"),
    ]
    said = []
    warn_not_regenerated(said.append, types.SimpleNamespace(regen_skipped=None, regen=regen), False)
    warn_not_regenerated(said.append, types.SimpleNamespace(regen_skipped=None, regen=regen), True)
    warn_not_regenerated(said.append, types.SimpleNamespace(regen_skipped=None, regen=[]), False)
    warn_not_regenerated(said.append, types.SimpleNamespace(regen_skipped="no update-grub", regen=[]), True)
    assert said == [
        "configuration changed; it takes effect after chroot /r update-grub && chroot /r proxmox-boot-tool refresh",
        "configuration changed but not regenerated: no update-grub",
    ]


def test_failure_texts():
    assert _failure_text(OSError(28, "No space left on device")) == "write: No space left on device"
    assert _failure_text(OSError(13, "Permission denied", "/boot/grub/grub.cfg")) == (
        "/boot/grub/grub.cfg: Permission denied"
    )
    assert _describe_restore(["/a: EIO", "/b: EROFS"], [], [], ["/a.bak~", "/b.bak~"]) == (
        "; restoring the previous files FAILED for: /a: EIO; /b: EROFS; the backups are kept (/a.bak~, /b.bak~) "
        "and the next run puts the files back from them"
    )
    assert _describe_restore([], ["/x", "/y"], ["/d1", "/d2"], []) == (
        "; every file was restored to its previous content; removed what this run created: /x, /y; "
        "left in place (directories it created): /d1, /d2"
    )


@pytest.fixture
def kolkata(monkeypatch):
    """A local time zone 5:30 ahead of UTC: the texts are UTC whatever the host's zone is."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_written_in_utc(kolkata):
    ist = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    assert _now_text(datetime.datetime(2026, 12, 2, 9, 4, 5, tzinfo=ist)) == "2026-12-02T03:34:05Z"
    assert _now_text(datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)) == "2026-01-02T03:04:05Z"


def test_a_run_id_is_later_than_every_journaled_one(root, monkeypatch, kolkata):
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    rid, text = run_id(str(root))  # no journal
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    assert before <= t <= before + datetime.timedelta(seconds=60)
    assert rid.startswith(t.strftime("%Y%m%dT%H%M%S")) and rid.endswith(f"Z-{os.getpid()}")
    # a journal whose newest entry is later than now (a clock set back since)
    _change, _w, _r = apply(root, Change(SET), monkeypatch)
    doc = json.loads((root / JOURNAL).read_text())
    doc["entries"][-1]["id"] = "20990101T000000.000000Z-1"
    (root / JOURNAL).write_text(json.dumps(doc))
    assert run_id(str(root))[0] == f"20990101T000000.000001Z-{os.getpid()}"
    again, _w, _r = apply(root, Restore("20990101T000000.000000Z-1"), monkeypatch)
    assert again["restored_entry"]["restored"]["run"] == f"20990101T000000.000001Z-{os.getpid()}"
    (root / JOURNAL).write_text("{ not json")
    assert run_id(str(root))[0] < "20990101"  # a journal that cannot be read does not stop the id


# --------------------------------------------------------------------------- Session
def test_session_defaults(root):
    s = Session(str(root), "kernel_cmdline vmscape=ibpb")
    assert (s.root, s.what, s.check_mode, s.lock_timeout, s.regenerate_timeout, s.backup, s.regenerate) == (
        str(root),
        "kernel_cmdline vmscape=ibpb",
        False,
        300,
        600,
        True,
        True,
    )
    assert (s.lock, s.notes) == (None, [])
    # without bin_path a command outside the standard directories is not found
    res = s.runner()(["no-such-tool-vmscape"])
    assert (res.rc, res.err) == (127, "no-such-tool-vmscape: command not found")
    finder = lambda name: "/opt/bin/" + name  # noqa: E731
    s = Session(str(root), "w", bin_path=finder, regenerate_timeout=30, lock_timeout=5)
    assert (s.bin_path, s.regenerate_timeout, s.lock_timeout) == (finder, 30, 5)
    assert Session(str(root), "w", regenerate_timeout=0).regenerate_timeout == 600


def test_the_lock_is_held_with_what_runs_and_given_to_commands(root):
    with Session(str(root), "kernel_cmdline restore latest") as s:
        record = json.loads(Path(s.lock.path).read_text())
        assert (record["what"], record["pid"], record["root"]) == (
            "kernel_cmdline restore latest",
            os.getpid(),
            str(root),
        )
        fd = s.lock.fd
        res = s.runner()(["sh", "-c", f"if [ -e /proc/self/fd/{fd} ]; then echo inherited; else echo closed; fi"])
        assert (res.rc, res.out, res.argv[0]) == (0, "inherited\n", "/usr/bin/sh")
    assert s.lock is None
    s.__exit__(None, None, None)  # a second exit is harmless


def test_a_busy_lock_is_refused_naming_the_root(root):
    with (
        _run_lock.RunLock(str(root), 0, "the other run"),
        pytest.raises(BootConfigError) as err,
        Session(str(root), "test", lock_timeout=0),
    ):
        pass
    assert str(err.value).startswith(
        f"busy: another kernel_cmdline run is changing the boot configuration under {root}; its lock "
    )
    assert "Waited 0 s (lock_timeout); nothing was changed." in str(err.value)


def test_a_stale_lock_record_is_a_note(root):
    path = _run_lock.RunLock(str(root), 0)._lock_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(json.dumps({"pid": 2147483646, "what": "an old run", "host": "h", "started": 0}) + "\n")
    with Session(str(root), "test") as s:
        (note,) = s.notes
    assert note.startswith("stale run lock of ") and note.endswith(" recovered: that run did not finish")
    assert "2147483646" in note


def test_an_interrupted_run_is_warned_about_in_check_mode_and_undone_otherwise(root, monkeypatch):
    # an interrupted change: its intent written (files snapshotted, nothing written yet)
    snap = _atomic_write.Snapshot()
    grub = str(root / "etc/default/grub")
    snap.add_file(grub)
    run = _intent.IntentRun(str(root), "20261202T030000.000001Z-4711", "change", "2026-12-02T03:00:00Z")
    run.begin(snap, {grub: _atomic_write.free_backup_name(grub, set())})
    warnings = []
    with Session(str(root), "test", check_mode=True, warn=warnings.append) as s:
        assert s.lock is None
    assert warnings == [
        f"an interrupted kernel_cmdline run (pid {os.getpid()}, 20261202T030000.000001Z-4711) left "
        f"{root}/var/lib/fleetsec-vmscape/kernel_cmdline-intent.json; the next run without check mode undoes it "
        "first, so this preview may differ from what that run does"
    ]
    warnings = []
    with Session(str(root), "test", warn=warnings.append) as s:
        notes = list(s.notes)
    assert notes and warnings[: len(notes)] == notes and None not in warnings
    assert not (root / "var/lib/fleetsec-vmscape/kernel_cmdline-intent.json").exists()
    result = new_result()
    with Session(str(root), "test", regenerate=False) as s:
        s.notes.append("a note of the session")
        s.apply(Change(SET), result)
    assert result["notes"][0] == "a note of the session"


def test_commands_are_found_like_root_finds_them_or_said_missing(root, tmp_path):
    tool = write(tmp_path, "opt/bin/vmscape-tool", '#!/bin/sh\necho found "$@"\n', 0o755)
    s = Session(str(root), "test", check_mode=True, bin_path=lambda name: str(tool) if name == "vmscape-tool" else None)
    run = s.runner()
    res = run(["vmscape-tool", "a"])
    assert (res.argv, res.rc, res.out) == ([str(tool), "a"], 0, "found a\n")
    res = run(["/bin/echo", "echo"])
    assert (res.argv, res.rc, res.out) == (["/bin/echo", "echo"], 0, "echo\n")
    res = run(["no-such-tool-vmscape", "x"])
    assert (res.argv, res.rc, res.out, res.err, res.timed_out, res.seconds, res.cut) == (
        ["no-such-tool-vmscape", "x"],
        127,
        "",
        "no-such-tool-vmscape: command not found",
        False,
        0.0,
        0,
    )
    res = run([str(tmp_path / "absent")])
    assert (res.argv, res.rc, res.out, res.err, res.timed_out, res.seconds, res.cut) == (
        [str(tmp_path / "absent")],
        126,
        "",
        f"{tmp_path}/absent: No such file or directory",
        False,
        0.0,
        0,
    )


# --------------------------------------------------------------------------- Session.apply
def test_the_intent_of_a_run_names_it_while_it_runs(root, monkeypatch):
    change, _warnings, runner = apply(root, Change(SET), monkeypatch)
    (doc,) = runner.intents
    assert {k: doc[k] for k in ("id", "op", "restore_of", "ready", "keep_backups", "pid")} == {
        "id": change["journal_entry"],
        "op": "change",
        "restore_of": None,
        "ready": True,
        "keep_backups": True,
        "pid": os.getpid(),
    }
    assert doc["time"].endswith("Z") and doc["time"][:4] == change["journal_entry"][:4]
    assert {f["path"] for f in doc["files"]} == {"/etc/default/grub", "/boot/grub/grub.cfg", "/boot/grub/grub.cfg.new"}
    restore, _warnings, runner = apply(root, Restore("latest"), monkeypatch)
    (doc,) = runner.intents
    assert (doc["op"], doc["restore_of"], doc["id"]) == (
        "restore",
        change["journal_entry"],
        restore["restored_entry"]["restored"]["run"],
    )
    assert not (root / "var/lib/fleetsec-vmscape/kernel_cmdline-intent.json").exists()


def test_a_preview_that_only_regenerates_an_out_of_date_grub_cfg_is_a_change(root, monkeypatch):
    write(root, "etc/default/grub", CHANGED)  # already set; grub.cfg still without it
    preview, _warnings, runner = apply(root, Change(SET), monkeypatch, check_mode=True)
    assert (preview["changed"], preview["files"], runner.calls) == (True, [], [])


def test_a_run_reports_the_files_the_diff_and_the_commands(root, monkeypatch):
    change, warnings, _runner = apply(root, Change(SET), monkeypatch)
    r = str(root)
    assert (change["files"], change["regenerated_files"], warnings) == (
        [f"{r}/etc/default/grub"],
        [f"{r}/boot/grub/grub.cfg"],
        [],
    )
    assert list(change["backups"]) == [f"{r}/boot/grub/grub.cfg", f"{r}/etc/default/grub"]
    assert [c["cmd"] for c in change["commands"]] == [["chroot", r, "update-grub"]]
    assert change["diff"] == [
        {
            "before_header": f"{r}/etc/default/grub",
            "after_header": f"{r}/etc/default/grub",
            "before": DEFAULTS,
            "after": CHANGED,
        }
    ]
    assert change["unified_diff"] == (
        f"--- {r}/etc/default/grub (before)\n+++ {r}/etc/default/grub (after)\n@@ -1,2 +1,2 @@\n GRUB_DEFAULT=0\n"
        '-GRUB_CMDLINE_LINUX="console=ttyS0"\n+GRUB_CMDLINE_LINUX="console=ttyS0 vmscape=ibpb"\n'
    )
    assert (root / "boot/grub/grub.cfg").read_text() == grub_cfg("console=ttyS0 vmscape=ibpb")


def test_a_failed_regeneration_gives_its_output_and_puts_everything_back(root, monkeypatch):
    write(root, "usr/sbin/update-grub", "#!/bin/sh\necho 'grub-mkconfig: boom' >&2\nexit 3\n", 0o755)
    with pytest.raises(BootConfigError) as err:
        apply(root, Change(SET), monkeypatch)
    result, warnings, _r = run_session.last
    assert result["output"] == "grub-mkconfig: boom\n"
    assert str(err.value).startswith(f"chroot {root} update-grub failed (rc=3): grub-mkconfig: boom")
    assert (root / "etc/default/grub").read_text() == DEFAULTS and warnings == []


def test_warnings_of_the_check_after_regeneration_are_passed_on_failing_or_not(root, monkeypatch):
    # a grub.cfg without a 10_linux section (an admin's own entry): its entries are not checked (a warning)
    custom = update_grub(root, section="40_custom")
    write(root, "usr/sbin/update-grub", custom, 0o755)
    change, warnings, _r = apply(root, Change(SET), monkeypatch)
    assert change["changed"] is True
    assert (
        f"{root}/boot/grub/grub.cfg has no 10_linux section (BLS or custom); its entries were not checked" in warnings
    )
    # the same, with a syntax error grub-script-check finds: the warning is given with the failure
    write(root, "usr/sbin/update-grub", f"#!/bin/sh\nprintf 'if true; then\\n' > '{root}/boot/grub/grub.cfg'\n", 0o755)
    with pytest.raises(BootConfigError):
        apply(root, Change(build_request({"vmscape": "off"}, [])), monkeypatch)
    result, warnings, _r = run_session.last
    assert (
        f"{root}/boot/grub/grub.cfg has no 10_linux section (BLS or custom); its entries were not checked" in warnings
    )
    assert result["output"] == ""
