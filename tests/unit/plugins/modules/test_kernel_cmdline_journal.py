"""kernel_cmdline's change journal and ``restore``: writing, bounding, restoring latest/by id,
idempotence, deleting created files, refusing files changed after the entry (and ``force``),
check mode proven by checksums, corrupt journals, restore-on-failure, and a change+restore
round trip over the whole corpus (tests/data/bootcfg) that must give byte-identical files.

Regeneration runs a stand-in ``update-grub`` in the scratch root that really sources the GRUB
defaults with /bin/sh and writes grub.cfg's 10_linux section from them, so a restore's
regeneration is checked on what the restored files say (the real grub-mkconfig round trip
is in tests/integration/test_grub_mkconfig_real.py).
"""

import datetime
import hashlib
import json
import os
import re
import stat
import subprocess

import pytest
from skip_policy import missing
from test_kernel_cmdline_corpus import OPS, op_args
from test_kernel_cmdline_support import copy_case, run_module, tree_state, write

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults as _grub_defaults
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import journal as _cmdline_journal

GRUB_MAIN = os.path.join("etc", "default", "grub")
JOURNAL_REL = os.path.join("var", "lib", "fleetsec-vmscape", "kernel_cmdline-journal.json")
BACKUP_RE = re.compile(r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d(\.\d+)?~$")


def run(args, check_mode=False):
    return run_module(dict({"restore": None, "force": False}, **args), check_mode=check_mode)


def ok(args, check_mode=False):
    res, failed = run(args, check_mode)
    assert not failed, res["msg"]
    return res


def journal(root):
    with open(os.path.join(root, JOURNAL_REL)) as f:
        return json.load(f)


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def sha(path):
    return hashlib.sha256(read(path, "rb")).hexdigest()


def config_state(root):
    """tree_state without our backups and the journal: what must come back byte for byte."""
    return {
        k: v
        for k, v in tree_state(root).items()
        if not BACKUP_RE.search(k) and not k.startswith(os.path.join("var", "lib", "fleetsec-vmscape"))
    }


UPDATE_GRUB = """#!/bin/sh
set -e
R='{root}'
if [ -e "$R/fail-regeneration" ]; then echo "grub-probe: error: disk not found" >&2; exit 1; fi
. "$R/etc/default/grub"
for x in "$R"/etc/default/grub.d/*.cfg; do if [ -e "$x" ]; then . "$x"; fi; done
cat > "$R/boot/grub/grub.cfg" <<EOF
### BEGIN /etc/grub.d/10_linux ###
menuentry 'Debian GNU/Linux' {{
	linux	/boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 ro $GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT
}}
menuentry 'Debian GNU/Linux (recovery mode)' {{
	linux	/boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 ro single $GRUB_CMDLINE_LINUX
}}
### END /etc/grub.d/10_linux ###
EOF
"""


def grub_tree(tmp_path, case="debian12-serial-vmscape-off"):
    """A corpus case with the update-grub stand-in and a grub.cfg generated from its defaults."""
    root = copy_case(case, tmp_path)
    write(os.path.join(root, "usr", "sbin", "update-grub"), UPDATE_GRUB.format(root=root), 0o755)
    os.makedirs(os.path.join(root, "boot", "grub"))
    # the kernel the generated entries boot: the module checks the menu's default entry boots it
    write(os.path.join(root, "boot", "vmlinuz-6.1.0-28-amd64"), "MZ fake kernel image\n")
    subprocess.run([os.path.join(root, "usr", "sbin", "update-grub")], check=True)
    return root


def linux_lines(root):
    with open(os.path.join(root, "boot", "grub", "grub.cfg")) as f:
        return [line.split()[4:] for line in f if line.strip().startswith("linux")]


# --------------------------------------------------------------------------- the journal
def test_change_writes_a_journal_entry(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    original = sha(os.path.join(root, GRUB_MAIN))
    res = ok({"root": root, "params": {"vmscape": "ibpb"}})
    path = os.path.join(root, JOURNAL_REL)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    doc = journal(root)
    assert doc["format"] == 1 and len(doc["entries"]) == 1
    entry = doc["entries"][0]
    assert entry["id"] == res["journal_entry"]
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}\.\d{{6}}Z-{os.getpid()}", entry["id"])
    # the id is the run's (taken when the run starts), the time when the entry is recorded: on a
    # loaded machine the two can lie in different seconds, never in the wrong order
    started = datetime.datetime.strptime(entry["id"][:15], "%Y%m%dT%H%M%S")
    recorded = datetime.datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert datetime.timedelta(0) <= recorded - started < datetime.timedelta(seconds=60)
    assert entry["params"] == {"vmscape": "ibpb"} and entry["remove"] == []
    assert entry["backend"] == "grub"
    assert entry["previous_cmdline"] == "console=tty0 console=ttyS0,115200n8 vmscape=off"
    assert entry["effective_cmdline"] == res["effective_cmdline"]
    assert entry["restored"] is None
    (rec,) = entry["files"]
    assert rec["path"] == "/etc/default/grub"  # host path, not the scratch path
    assert rec["backup"] == res["backups"][os.path.join(root, GRUB_MAIN)][len(root) :]
    assert rec["sha256"] == sha(os.path.join(root, GRUB_MAIN)) != original
    assert rec["backup_sha256"] == original == sha(root + rec["backup"])
    assert rec["existed"] is True and rec["generated"] is False


def test_no_entry_without_a_change_in_check_mode_or_without_backups(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    ok({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    assert not os.path.exists(os.path.join(root, "var"))
    res = ok({"root": root, "params": {"vmscape": "ibpb"}, "backup": False})
    assert res["changed"] and res["journal_entry"] is None
    assert not os.path.exists(os.path.join(root, "var"))
    res = ok({"root": root, "params": {"vmscape": "force"}})
    res2 = ok({"root": root, "params": {"vmscape": "force"}})  # idempotent: no second entry
    assert not res2["changed"] and res2["journal_entry"] is None
    assert [e["id"] for e in journal(root)["entries"]] == [res["journal_entry"]]


def test_generated_files_are_backed_up_and_journaled(tmp_path, direct_regen):
    root = grub_tree(tmp_path)
    cfg = os.path.join(root, "boot", "grub", "grub.cfg")
    cfg_before = sha(cfg)
    res = ok({"root": root, "params": {"vmscape": "ibpb"}})
    assert res["regenerated"] and res["regenerated_files"] == [cfg]
    assert sha(res["backups"][cfg]) == cfg_before
    assert not [n for n in os.listdir(os.path.dirname(cfg)) if n.startswith("grub.cfg.new.")]  # .new unchanged
    files = {r["path"]: r for r in journal(root)["entries"][0]["files"]}
    assert sorted(files) == ["/boot/grub/grub.cfg", "/etc/default/grub"]
    assert files["/boot/grub/grub.cfg"]["generated"] is True
    assert files["/boot/grub/grub.cfg"]["sha256"] == sha(cfg)
    assert files["/boot/grub/grub.cfg"]["backup_sha256"] == cfg_before


def test_ids_are_strictly_increasing_even_when_the_clock_goes_back():
    later = datetime.datetime(2025, 11, 25, 10, 0, 0, 5, tzinfo=datetime.UTC)
    first = _cmdline_journal.new_id([], later)
    earlier = later - datetime.timedelta(hours=1)
    second = _cmdline_journal.new_id([{"id": first}], earlier)
    assert first.startswith("20251125T100000.000005Z-")
    assert second.startswith("20251125T100000.000006Z-")


def test_journal_is_bounded_and_drops_only_the_backups_it_owns(tmp_path, monkeypatch):
    monkeypatch.setattr(_cmdline_journal, "KEEP", 3)
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    grub = os.path.join(root, GRUB_MAIN)
    foreign = grub + ".1.2020-01-01@00:00:00~"  # named like ours, not in the journal
    write(foreign, "admin's own copy\n")
    backups = []
    for value in ("ibpb", "force", "ibpb", "force", "ibpb"):
        res = ok({"root": root, "params": {"vmscape": value}})
        backups.append(res["backups"][grub])
    # tamper with a backup of the oldest entry left (the next change drops it): it is left in place
    with open(backups[2], "a") as f:
        f.write("# edited by hand\n")
    res = ok({"root": root, "params": {"vmscape": "force"}})
    backups.append(res["backups"][grub])
    entries = journal(root)["entries"]
    assert len(entries) == 3
    assert [e["files"][0]["backup"] for e in entries] == [b[len(root) :] for b in backups[-3:]]
    kept = {root + e["files"][0]["backup"] for e in entries}
    assert all(os.path.exists(b) for b in kept)
    assert any("changed since it was made" in w for w in res["warnings"])
    # left: the kept entries' backups, the tampered one, the admin's copy; nothing else
    # (names repeat within one second and pid once a dropped backup is gone: compare sets)
    left = {os.path.join(root, "etc", "default", n) for n in os.listdir(os.path.join(root, "etc", "default"))}
    assert left == kept | {backups[2], foreign, grub}
    assert read(backups[2]).endswith("# edited by hand\n")


# --------------------------------------------------------------------------- restore
def test_restore_latest_gives_the_files_back_and_is_idempotent(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    original = config_state(root)
    change = ok({"root": root, "params": {"vmscape": "ibpb"}})
    grub = os.path.join(root, GRUB_MAIN)
    changed_bytes = read(grub, "rb")
    res = ok({"root": root, "restore": "latest"})
    assert res["changed"] and res["files"] == [grub]
    assert config_state(root) == original
    assert res["effective_cmdline"] == "console=tty0 console=ttyS0,115200n8 vmscape=off"
    assert res["previous_cmdline"] == change["effective_cmdline"]
    assert res["diff"][0]["before"] == changed_bytes.decode() and "vmscape=off" in res["diff"][0]["after"]
    entry = res["restored_entry"]
    assert entry["id"] == change["journal_entry"] and entry["restored"]["effective_cmdline"] == res["effective_cmdline"]
    (rec,) = entry["restored"]["files"]
    assert rec["path"] == "/etc/default/grub" and read(root + rec["backup"], "rb") == changed_bytes
    assert journal(root)["entries"][0]["restored"] == entry["restored"]
    # a second restore changes nothing and says why
    state = tree_state(root)
    again = ok({"root": root, "restore": "latest"})
    assert not again["changed"] and again["files"] == []
    assert any("already restored" in n for n in again["notes"])
    assert again["effective_cmdline"] == res["effective_cmdline"]
    assert tree_state(root) == state
    assert ok({"root": root, "restore": "latest"}, check_mode=True)["changed"] is False


def test_restore_by_id_and_the_order_of_changes(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    original = config_state(root)
    first = ok({"root": root, "params": {"vmscape": "ibpb"}})["journal_entry"]
    after_first = config_state(root)
    second = ok({"root": root, "params": {"vmscape": "force"}})["journal_entry"]
    # the first change's file was changed again by the second: refused, nothing touched
    state = tree_state(root)
    res, failed = run({"root": root, "restore": first})
    assert failed and first in res["msg"] and os.path.join(root, GRUB_MAIN) in res["msg"]
    assert "force: true" in res["msg"]
    assert tree_state(root) == state
    # undo the second, then the first: back to the start
    assert ok({"root": root, "restore": second})["restored_entry"]["id"] == second
    assert config_state(root) == after_first
    res = ok({"root": root, "restore": first})
    assert res["restored_entry"]["id"] == first and res["changed"]
    assert config_state(root) == original
    # latest is the newest entry, already restored: nothing more
    assert not ok({"root": root, "restore": "latest"})["changed"]


def test_restore_deletes_files_the_change_created(tmp_path):
    root = copy_case("no-main-file", tmp_path)
    original = config_state(root)
    res = ok({"root": root, "params": {"vmscape": "ibpb"}})
    dropin = os.path.join(root, _grub_defaults.DROPIN.lstrip("/"))
    assert res["files"] == [dropin] and res["backups"] == {}
    (rec,) = journal(root)["entries"][0]["files"]
    assert rec["existed"] is False and rec["backup"] is None and rec["backup_sha256"] is None
    check = ok({"root": root, "restore": "latest"}, check_mode=True)
    assert check["diff"][0]["after_header"] == "/dev/null" and os.path.exists(dropin)
    res = ok({"root": root, "restore": "latest"})
    assert not os.path.exists(dropin) and res["files"] == [dropin]
    assert config_state(root) == original
    # the deleted file's last content is kept as a backup owned by the entry
    (rec,) = res["restored_entry"]["restored"]["files"]
    assert rec["sha256"] is None and "vmscape=ibpb" in read(root + rec["backup"])


def test_file_changed_after_the_entry_is_refused_unless_forced(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    original = config_state(root)
    ok({"root": root, "params": {"vmscape": "ibpb"}})
    grub = os.path.join(root, GRUB_MAIN)
    with open(grub, "a") as f:
        f.write("GRUB_TIMEOUT=7\n")
    state = tree_state(root)
    journal_bytes = read(os.path.join(root, JOURNAL_REL), "rb")
    for check_mode in (True, False):
        res, failed = run({"root": root, "restore": "latest"}, check_mode=check_mode)
        assert failed and grub in res["msg"] and "changed after it" in res["msg"]
        assert tree_state(root) == state
    assert read(os.path.join(root, JOURNAL_REL), "rb") == journal_bytes
    res = ok({"root": root, "restore": "latest", "force": True})
    assert any("overwritten (force)" in n for n in res["notes"])
    assert config_state(root) == original
    (rec,) = res["restored_entry"]["restored"]["files"]
    assert read(root + rec["backup"]).endswith("GRUB_TIMEOUT=7\n")  # the hand edit is kept aside


def test_forced_restore_of_a_deleted_file_takes_the_backups_owner_and_mode(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    grub = os.path.join(root, GRUB_MAIN)
    os.chown(grub, 65534, 65534)
    os.chmod(grub, 0o640)
    original = read(grub, "rb")
    ok({"root": root, "params": {"vmscape": "ibpb"}})
    os.unlink(grub)
    res, failed = run({"root": root, "restore": "latest"})
    assert failed and "deleted" in res["msg"]
    ok({"root": root, "restore": "latest", "force": True})
    st = os.stat(grub)
    assert read(grub, "rb") == original
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)


def test_restore_keeps_owner_mode_and_selinux_context(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    grub = os.path.join(root, GRUB_MAIN)
    ok({"root": root, "params": {"vmscape": "ibpb"}})
    os.chown(grub, 65534, 65534)  # whatever the file has now is what it keeps
    os.chmod(grub, 0o600)
    context = b"system_u:object_r:bootloader_etc_t:s0\x00"
    try:
        os.setxattr(grub, "security.selinux", context)
    except OSError:
        missing("this filesystem does not store security.selinux (extended attributes in the security namespace)")
    inode = os.stat(grub).st_ino
    ok({"root": root, "restore": "latest"})
    st = os.stat(grub)
    assert st.st_ino != inode  # atomic: replaced by rename
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o600)
    assert os.getxattr(grub, "security.selinux") == context


def test_missing_or_changed_backup_is_refused_even_with_force(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    res = ok({"root": root, "params": {"vmscape": "ibpb"}})
    backup = res["backups"][os.path.join(root, GRUB_MAIN)]
    with open(backup, "a") as f:
        f.write("# edited\n")
    res, failed = run({"root": root, "restore": "latest", "force": True})
    assert failed and backup in res["msg"] and "changed since it was made" in res["msg"]
    os.unlink(backup)
    res, failed = run({"root": root, "restore": "latest", "force": True})
    assert failed and backup in res["msg"] and "is missing" in res["msg"]
    assert journal(root)["entries"][0]["restored"] is None


def test_restore_check_mode_touches_nothing_and_shows_the_diff(tmp_path, direct_regen):
    root = grub_tree(tmp_path)
    ok({"root": root, "params": {"vmscape": "ibpb"}})
    state = tree_state(root)
    res = ok({"root": root, "restore": "latest"}, check_mode=True)
    assert tree_state(root) == state
    assert res["changed"] and res["commands"] == []
    grub = os.path.join(root, GRUB_MAIN)
    cfg = os.path.join(root, "boot", "grub", "grub.cfg")
    assert res["files"] == sorted([grub, cfg])
    by_file = {d["before_header"]: d for d in res["diff"]}
    assert "vmscape=ibpb" in by_file[grub]["before"] and "vmscape=off" in by_file[grub]["after"]
    assert "vmscape=ibpb" in by_file[cfg]["before"] and "vmscape=off" in by_file[cfg]["after"]
    assert res["effective_cmdline"] == "console=tty0 console=ttyS0,115200n8 vmscape=off"
    assert res["restored_entry"]["restored"] is None


def test_restore_regenerates_and_the_generated_config_goes_back(tmp_path, direct_regen):
    root = grub_tree(tmp_path)
    original = config_state(root)
    before_lines = linux_lines(root)
    ok({"root": root, "params": {"vmscape": "ibpb"}})
    assert all(line.count("vmscape=ibpb") == 1 for line in linux_lines(root))
    res = ok({"root": root, "restore": "latest"})
    assert res["regenerated"] and [c["rc"] for c in res["commands"]] == [0]
    assert linux_lines(root) == before_lines
    assert config_state(root) == original


def test_failed_regeneration_during_restore_puts_everything_back(tmp_path, direct_regen):
    root = grub_tree(tmp_path)
    ok({"root": root, "params": {"vmscape": "ibpb"}})
    write(os.path.join(root, "fail-regeneration"), "")
    state = tree_state(root)
    res, failed = run({"root": root, "restore": "latest"})
    assert failed and "disk not found" in res["msg"] and "every file was restored" in res["msg"]
    assert tree_state(root) == state  # files, grub.cfg, journal (not marked), no new backups
    os.unlink(os.path.join(root, "fail-regeneration"))
    assert ok({"root": root, "restore": "latest"})["changed"]


def test_generated_file_changed_since_is_regenerated_not_put_back(tmp_path, direct_regen):
    root = grub_tree(tmp_path)
    before_lines = linux_lines(root)
    ok({"root": root, "params": {"vmscape": "ibpb"}})
    cfg = os.path.join(root, "boot", "grub", "grub.cfg")
    with open(cfg, "a") as f:  # e.g. a kernel update regenerated it
        f.write("# regenerated by a kernel update\n")
    # without regeneration the stale copy would be put back over a newer one: refused
    state = tree_state(root)
    res, failed = run({"root": root, "restore": "latest", "regenerate": False})
    assert failed and cfg in res["msg"]
    assert tree_state(root) == state
    res = ok({"root": root, "restore": "latest"})
    assert any(cfg in n and "regenerated, not put back" in n for n in res["notes"])
    assert res["regenerated"] and linux_lines(root) == before_lines


def test_restore_without_regeneration_puts_the_generated_files_back(tmp_path, direct_regen):
    root = grub_tree(tmp_path)
    original = config_state(root)
    ok({"root": root, "params": {"vmscape": "ibpb"}})
    res = ok({"root": root, "restore": "latest", "regenerate": False})
    assert not res["regenerated"] and config_state(root) == original
    assert any("takes effect after" in w for w in res["warnings"])


def test_journal_write_failure_undoes_the_change(tmp_path, monkeypatch):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    state = tree_state(root)

    def broken(journal):
        raise _cmdline_journal.JournalError(f"{journal.path}: cannot write the journal: No space left on device")

    monkeypatch.setattr(_cmdline_journal, "_save", broken)
    res, failed = run({"root": root, "params": {"vmscape": "ibpb"}})
    assert failed and "No space left" in res["msg"] and "every file was restored" in res["msg"]
    assert tree_state(root) == state  # no backup left either


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": 1, "entries": [\n  {"id": ', "kernel_cmdline-journal.json:2:"),
        ("\xff\xfe", "not UTF-8"),
        ('{"format": 2, "entries": []}', "not a kernel_cmdline journal"),
        ('{"format": 1, "entries": [{"id": "x"}]}', "entries[0]: id 'x'"),
    ],
)
@pytest.mark.parametrize("mode", ["change", "restore"])
@pytest.mark.parametrize("check_mode", [False, True])
def test_corrupt_journal_is_an_error_naming_the_file(tmp_path, text, message, mode, check_mode):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    path = os.path.join(root, JOURNAL_REL)
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(text.encode("utf-8", "surrogateescape") if text != "\xff\xfe" else b"\xff\xfe")
    state = tree_state(root)
    args = {"root": root, "params": {"vmscape": "ibpb"}} if mode == "change" else {"root": root, "restore": "latest"}
    res, failed = run(args, check_mode=check_mode)
    assert failed and path in res["msg"] and message in res["msg"]
    assert "left as it is" in res["msg"]
    assert tree_state(root) == state


def test_journal_naming_a_foreign_file_as_backup_is_refused(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    ok({"root": root, "params": {"vmscape": "ibpb"}})
    doc = journal(root)
    doc["entries"][0]["files"][0]["backup"] = "/etc/shadow"
    with open(os.path.join(root, JOURNAL_REL), "w") as f:
        json.dump(doc, f)
    res, failed = run({"root": root, "restore": "latest"})
    assert failed and "files[0]: backup '/etc/shadow' is not named like a backup of /etc/default/grub" in res["msg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"restore": "latest", "params": {"vmscape": "ibpb"}}, "cannot be combined"),
        ({"restore": "yesterday"}, "neither latest nor a journal entry id"),
        ({"restore": "latest"}, "no journaled change to restore (the journal does not exist)"),
        ({"restore": "20251125T100000.123456Z-1"}, "no journaled change"),
        ({"params": {"vmscape": "ibpb"}, "force": True}, "force is only used with restore"),
    ],
)
def test_restore_argument_errors(tmp_path, args, message):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    state = tree_state(root)
    res, failed = run(dict(args, root=root))
    assert failed and message in res["msg"]
    assert tree_state(root) == state


def test_unknown_id_lists_the_newest(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    eid = ok({"root": root, "params": {"vmscape": "ibpb"}})["journal_entry"]
    res, failed = run({"root": root, "restore": "20200101T000000.000000Z-1"})
    assert failed and "no entry 20200101T000000.000000Z-1" in res["msg"] and eid in res["msg"]


def test_an_entry_restored_meanwhile_is_not_restored_twice(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    eid = ok({"root": root, "params": {"vmscape": "ibpb"}})["journal_entry"]
    _cmdline_journal.mark_restored(root, eid, {"time": "x", "effective_cmdline": None, "files": []})
    with pytest.raises(_cmdline_journal.JournalError, match="restored by another run meanwhile"):
        _cmdline_journal.mark_restored(root, eid, {"time": "y", "effective_cmdline": None, "files": []})


# --------------------------------------------------------------------------- corpus round trip
@pytest.mark.parametrize(("case", "op", "spec"), OPS, ids=[f"{c}-{o}" for c, o, _s in OPS])
def test_corpus_change_then_restore_is_byte_identical(case, op, spec, tmp_path):
    root = copy_case(case, tmp_path)
    original = config_state(root)
    res = ok(dict(op_args(op, spec), root=root))
    if not res["changed"]:
        assert res["journal_entry"] is None and not os.path.exists(os.path.join(root, JOURNAL_REL))
        return
    entry = journal(root)["entries"][-1]
    assert entry["id"] == res["journal_entry"]
    assert sorted(root + r["path"] for r in entry["files"]) == sorted(res["files"])
    check = ok({"root": root, "restore": "latest"}, check_mode=True)
    assert sorted(check["files"]) == sorted(res["files"])
    assert check["effective_cmdline"] == res["previous_cmdline"]
    back = ok({"root": root, "restore": "latest"})
    assert back["changed"]
    assert config_state(root) == original
    assert back["effective_cmdline"] == res["previous_cmdline"], back["warnings"]


# --------------------------------------------------------------------------- found on the way
def test_unquoted_value_with_an_edited_token_and_an_append(tmp_path):
    """Found by hypothesis (test_grub_shell_properties): GRUB_CMDLINE_LINUX=vmscape (a bare flag,
    unquoted) with params {vmscape: force, nosmt: null} edited the token and replaced the whole
    literal for the append on the same bytes, and was refused as conflicting."""
    root = tmp_path / "root"
    write(str(root / GRUB_MAIN), 'GRUB_CMDLINE_LINUX=vmscape\nGRUB_CMDLINE_LINUX_DEFAULT=""\n')
    res = ok({"root": str(root), "params": {"vmscape": "force", "nosmt": None}})
    assert (root / GRUB_MAIN).read_text() == 'GRUB_CMDLINE_LINUX="vmscape=force nosmt"\nGRUB_CMDLINE_LINUX_DEFAULT=""\n'
    assert res["effective_cmdline"] == "vmscape=force nosmt"
    write(str(root / GRUB_MAIN), "GRUB_CMDLINE_LINUX=mitigations=off\n")
    ok({"root": str(root), "params": {"nosmt": None}, "remove": ["mitigations"]})
    assert (root / GRUB_MAIN).read_text() == 'GRUB_CMDLINE_LINUX="nosmt"\n'
