"""A corrupted change journal or intent record, and backups gone or changed.

Each case starts from a host with one journaled change, damages the journal (or the intent
record of an "interrupted" run, or a backup) and then runs a change, a restore and a check-mode
preview. Every run must fail with a message naming the damaged file and what is wrong with it -
never its content (one case links the journal to a file holding a secret) - within seconds (one
case makes the journal a FIFO), and must leave the configuration and every backup as they were.
"""

import json
import os

from harness import Sandbox

CHANGE = {"params": {"vmscape": "force"}}
SECRET = "SECRET-TOKEN-5f3a9c"


def _journal_path(sb):
    return sb.varlib / "fleetsec-vmscape" / "kernel_cmdline-journal.json"


def _intent_path(sb):
    return sb.varlib / "fleetsec-vmscape" / "kernel_cmdline-intent.json"


def _edit(sb, fn):
    p = _journal_path(sb)
    doc = json.loads(p.read_text())
    fn(doc)
    p.write_text(json.dumps(doc, indent=1))


def _latest_backup(sb):
    rec = next(r for r in sb.journal()["entries"][-1]["files"] if r["path"] == "/etc/default/grub")
    return sb.etc_default / os.path.basename(rec["backup"])


def truncated(sb):
    p = _journal_path(sb)
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def garbage(sb):
    _journal_path(sb).write_bytes(b"\xff\xfe\x00garbage\x80" * 50)


def bad_id(sb):
    _edit(sb, lambda d: d["entries"][-1].__setitem__("id", "2025-13-99 not an id"))


def ids_backwards(sb):
    def fn(d):
        e = dict(d["entries"][-1])
        e["id"] = "20000101T000000.000000Z-1"
        d["entries"].append(e)

    _edit(sb, fn)


def bad_sha(sb):
    _edit(sb, lambda d: d["entries"][-1]["files"][0].__setitem__("sha256", "not-a-sha"))


def backup_outside(sb):
    _edit(sb, lambda d: d["entries"][-1]["files"][0].__setitem__("backup", "/etc/shadow"))


def path_escape(sb):
    _edit(sb, lambda d: d["entries"][-1]["files"][0].__setitem__("path", "/etc/default/../../etc/shadow"))


def secret_link(sb):
    (sb.etc_default / "secret.txt").write_text(SECRET + "\n" + SECRET + "\n")
    p = _journal_path(sb)
    p.unlink()
    p.symlink_to("/etc/default/secret.txt")  # inside the host: resolved under root, a secret file


def fifo(sb):
    p = _journal_path(sb)
    p.unlink()
    os.mkfifo(p)


def intent_garbage(sb):
    _intent_path(sb).write_text('{"format": 1, "kind": "kernel_cmdline-intent", "id": ' + SECRET)


def intent_missing_backup(sb):
    # an "interrupted" run whose backup vanished while the file differs from what it recorded
    grub = sb.etc_default / "grub"
    doc = {
        "format": 1,
        "kind": "kernel_cmdline-intent",
        "id": "20991231T235959.000000Z-4242",
        "pid": 4242,
        "time": "2099-12-31T23:59:59Z",
        "op": "change",
        "restore_of": None,
        "ready": True,
        "keep_backups": True,
        "files": [
            {
                "path": "/etc/default/grub",
                "backup": "/etc/default/grub.4242.2099-12-31@23:59:59~",
                "sha256_before": "0" * 64,
            }
        ],
        "dirs": [],
    }
    assert grub.exists()
    _intent_path(sb).write_text(json.dumps(doc))


def backup_deleted(sb):
    _latest_backup(sb).unlink()


def backup_changed(sb):
    _latest_backup(sb).write_text("GRUB_CMDLINE_LINUX='tampered'\n")


# case, damage, words every failing run's message must contain, which runs must fail
CASES = [
    ("journal truncated", truncated, ["kernel_cmdline-journal.json:", "not valid JSON"], "all"),
    ("journal not UTF-8", garbage, ["kernel_cmdline-journal.json", "not UTF-8"], "all"),
    ("entry id corrupted", bad_id, ["kernel_cmdline-journal.json", "id"], "all"),
    ("ids not increasing", ids_backwards, ["kernel_cmdline-journal.json", "not increasing"], "all"),
    ("sha256 corrupted", bad_sha, ["kernel_cmdline-journal.json", "not a sha256"], "all"),
    ("backup outside its file", backup_outside, ["kernel_cmdline-journal.json", "not named like a backup"], "all"),
    ("path with ..", path_escape, ["kernel_cmdline-journal.json", "not a normalized absolute path"], "all"),
    ("journal linked to a secret", secret_link, ["kernel_cmdline-journal.json", "symbolic link"], "all"),
    ("journal is a FIFO", fifo, ["kernel_cmdline-journal.json", "FIFO"], "all"),
    ("intent record corrupted", intent_garbage, ["kernel_cmdline-intent.json", "cannot be trusted"], "all"),
    ("intent: backup missing", intent_missing_backup, ["kernel_cmdline-intent.json", "backup", "missing"], "write"),
    ("backup deleted", backup_deleted, ["backup", "missing"], "restore"),
    ("backup changed", backup_changed, ["backup", "changed since it was made"], "restore"),
]


def _backups(sb):
    return {p.name: p.read_bytes() for p in sb.etc_default.iterdir() if p.name.endswith("~")}


def test_corrupted_journal_fails_clearly_and_touches_nothing(tmp_path, tally):
    t = tally("journal/intent corruption, backups", "; ".join(c[0] for c in CASES))
    problems = []
    for name, damage, words, which in CASES:
        sb = Sandbox(tmp_path / name.replace(" ", "-").replace(":", ""))
        res, _rc, _s, err = sb.run_module({"params": {"vmscape": "ibpb"}})
        assert res and not res.get("failed"), err
        damage(sb)
        t.injected += 1
        before, backups = sb.files(), _backups(sb)
        runs = [
            ("restore", {"restore": "latest"}),
            ("check", dict(CHANGE, _ansible_check_mode=True)),
            ("change", CHANGE),
        ]
        for label, args in runs:
            must_fail = which == "all" or (which == "write" and label != "check") or which == label
            res, _rc, seconds, err = sb.run_module(args, timeout=60)
            t.runs += 1
            msg = (res or {}).get("msg", "")
            if must_fail:
                if res and res.get("failed") and all(w in msg for w in words) and SECRET not in json.dumps(res):
                    t.clear_errors += 1
                else:
                    problems.append(f"{name} / {label}: {msg[:300] or err[-300:]}")
            if SECRET in json.dumps(res or {}):
                problems.append(f"{name} / {label}: the message echoes the file's content")
            if seconds > 45:
                problems.append(f"{name} / {label}: took {seconds:.0f} s")
            if must_fail and (sb.files() != before or _backups(sb) != backups):  # (the change runs last)
                t.data_lost += 1
                problems.append(f"{name} / {label}: a failing run changed files or backups")
        bootable, why = sb.judge()
        if not bootable:
            t.unbootable += 1
            problems.append(f"{name}: unbootable: {why}")
    assert not problems, "\n".join(map(str, problems))
