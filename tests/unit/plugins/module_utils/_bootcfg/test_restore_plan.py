"""The restore plan (``_bootcfg.restore.plan_restore``, ``restored_request``, the writer that puts a
deleted file back) and a restore taken through ``Session.apply`` with the regeneration running
(found by `make mutation`: test_restore_session never regenerates, so what a restore does with
generated files, the check it hands the regeneration and the backups' metadata were untested).

Journal entries are written by hand in the format ``_bootcfg.journal`` documents; their
checksums are computed here with hashlib from the bytes the test wrote. The root is Debian's
/etc/default/grub; update-grub is a stand-in shell script run by the real /bin/sh (it sources the
defaults the way grub-mkconfig does and writes one normal and one recovery entry), because the
real command needs chroot, root and mounted /proc, /sys, /dev: the session's runner is replaced by
one that runs the script directly, and chroot is declared possible.
"""

import hashlib
import os
import types

import pytest
from grub_root import (
    LINUX,
    LINUX_AND_DEFAULT,
    StandInRunner,
    defaults,
    grub_cfg,
    grub_root,
    run_session,
    update_grub,
    write,
)
from skip_policy import needs_root

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import restore as _restore
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.apply import execute
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as grub_backend
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.change import Change
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.restore import (
    Restore,
    plan_restore,
    restored_request,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request

DEFAULTS = defaults("console=ttyS0", "quiet")
CHANGED = defaults("console=ttyS0 vmscape=ibpb", "quiet")


def cfg_text(linux, default):
    """grub.cfg as the stand-in writes it, written out by hand."""
    return grub_cfg(f"{linux} {default}", recovery=linux)


def sha(text):
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


@pytest.fixture
def root(tmp_path, monkeypatch):
    r = tmp_path / "root"
    stand_in = update_grub(r, LINUX_AND_DEFAULT, recovery=LINUX)  # one normal and one recovery entry
    return grub_root(r, monkeypatch, DEFAULTS, cfg_text("console=ttyS0", "quiet"), stand_in)


class Recording:
    """The real GRUB backend, keeping the request a restore hands its regeneration."""

    name = "grub"

    def __init__(self):
        self.requests = []

    def regenerate(self, root, plan, request):
        self.requests.append(request)
        return grub_backend.BACKEND.regenerate(root, plan, request)

    def read(self, root):
        return grub_backend.BACKEND.read(root)


def rec(root, rel, now, backup, existed=True, generated=False):
    """A journal file record: ``now`` what the change left (None: deleted), ``backup`` the copy."""
    record = {
        "path": "/" + rel,
        "backup": None,
        "backup_sha256": None,
        "sha256": None if now is None else sha(now),
        "existed": existed,
        "generated": generated,
    }
    if existed:
        write(root, rel + ".4711.bak~", backup)
        record.update(backup="/" + rel + ".4711.bak~", backup_sha256=sha(backup))
    return record


def entry(files, params=None, remove=(), previous="console=ttyS0 quiet"):
    return {
        "id": "20261202T030000.000001Z-4711",
        "params": params if params is not None else {"vmscape": "ibpb"},
        "remove": list(remove),
        "backend": "grub",
        "previous_cmdline": previous,
        "files": files,
        "restored": None,
    }


def steps(plan):
    return [(s.path, s.before, s.after, s.label, s.writer is not None) for s in plan.steps]


# --------------------------------------------------------------------------- restored_request
def test_restored_request_follows_what_the_restored_line_says():
    e = {"params": {"vmscape": "ibpb", "foo-bar": "1"}, "remove": ["mitigations", "nosmt"]}
    sets, removes = restored_request(["console=ttyS0", "vmscape=off", "foo_bar=x=y", "nosmt", "--", "mitigations"], e)
    # one token: set to its value (name as written, value after the first "="); none: removed;
    # what follows "--" is init's, not the kernel's
    assert sets == [("vmscape", "off", "vmscape"), ("foo_bar", "x=y", "foo_bar"), ("nosmt", None, "nosmt")]
    assert removes == [("mitigations", "mitigations")]


def test_restored_request_names_each_parameter_once_and_leaves_doubles_unchecked():
    e = {"params": {"a-b": "1", "vmscape": "off"}, "remove": ["a_b", "vmscape", "gone", "gone"]}
    sets, removes = restored_request(["a_b=2", "vmscape=ibpb", "vmscape=off"], e)
    assert (sets, removes) == ([("a_b", "2", "a_b")], [("gone", "gone")])


# --------------------------------------------------------------------------- plan_restore
def test_each_file_goes_back_to_its_backup_or_is_deleted(root):
    write(root, "etc/default/grub", CHANGED)
    write(root, "etc/default/grub.d/vmscape.cfg", "GRUB_CMDLINE_LINUX=x\n")
    e = entry(
        [
            rec(root, "etc/default/grub.d/vmscape.cfg", "GRUB_CMDLINE_LINUX=x\n", None, existed=False),
            rec(root, "etc/default/grub", CHANGED, DEFAULTS),
        ]
    )
    backend = Recording()
    rp = plan_restore(str(root), e, backend, lambda: None, regenerate=False)
    r = str(root)
    assert (rp.entry, rp.notes, rp.plan.backend, rp.plan.root) == (e, [], "grub", r)
    assert steps(rp.plan) == [
        (
            f"{r}/etc/default/grub.d/vmscape.cfg",
            b"GRUB_CMDLINE_LINUX=x\n",
            None,
            "/etc/default/grub.d/vmscape.cfg",
            False,
        ),
        (f"{r}/etc/default/grub", CHANGED.encode(), DEFAULTS.encode(), "/etc/default/grub", True),
    ]
    assert rp.plan.regen_skipped is None
    assert [c.argv for c in rp.plan.regen] == [["chroot", r, "update-grub"]]
    assert rp.plan.effective_after == "console=ttyS0 quiet"
    assert rp.plan.expected_cmdline() == []
    # the check handed to the regeneration: filled in only after the files are back
    (check,) = backend.requests
    assert (check.sets, check.removes, check.everywhere) == ([], [], False)


def test_verify_says_which_file_is_not_back_then_fills_the_regeneration_check(root):
    write(root, "etc/default/grub", CHANGED)
    e = entry([rec(root, "etc/default/grub", CHANGED, DEFAULTS)], params={"vmscape": "ibpb"}, remove=["nosmt"])
    backend = Recording()
    restored = ["console=ttyS0 quiet vmscape=off"]
    rp = plan_restore(str(root), e, backend, lambda: restored[0])
    check = backend.requests[0]
    assert rp.plan.verify() == [f"{root}/etc/default/grub does not hold what was restored"]
    assert (check.sets, check.removes) == ([], [])  # not filled while a file is not back
    write(root, "etc/default/grub", DEFAULTS)
    assert rp.plan.verify() == []
    assert (check.sets, check.removes, check.everywhere) == (
        [("vmscape", "off", "vmscape")],
        [("nosmt", "nosmt")],
        False,
    )
    assert rp.plan.expected_cmdline() == ["console=ttyS0", "quiet", "vmscape=off"]
    restored[0] = None  # a configuration that gives nothing: no tokens, every parameter removed
    assert rp.plan.verify() == [] and rp.plan.expected_cmdline() == []
    assert (check.sets, check.removes) == ([], [("vmscape", "vmscape"), ("nosmt", "nosmt")])


def test_a_generated_file_changed_since_is_left_to_the_regeneration(root):
    cfg_after_change = cfg_text("console=ttyS0 vmscape=ibpb", "quiet")
    kernel_update = cfg_after_change + "# regenerated by a kernel update\n"
    write(root, "boot/grub/grub.cfg", kernel_update)
    write(root, "etc/default/grub", CHANGED)
    e = entry(
        [
            rec(root, "boot/grub/grub.cfg", cfg_after_change, cfg_text("console=ttyS0", "quiet"), generated=True),
            rec(root, "etc/default/grub", CHANGED, DEFAULTS),
        ]
    )
    rp = plan_restore(str(root), e, Recording(), lambda: None)
    assert rp.notes == [
        f"{root}/boot/grub/grub.cfg changed since entry 20261202T030000.000001Z-4711 (sha256 "
        f"{sha(kernel_update)[:12]}, journaled {sha(cfg_after_change)[:12]}); it is regenerated, not put back"
    ]
    assert [s[0] for s in steps(rp.plan)] == [f"{root}/etc/default/grub"]


@pytest.mark.parametrize("why", ["regenerate false", "no update-grub"])
def test_a_generated_file_changed_since_is_a_conflict_when_nothing_regenerates(root, why):
    cfg_after_change = cfg_text("console=ttyS0 vmscape=ibpb", "quiet")
    write(root, "boot/grub/grub.cfg", cfg_after_change + "# edited\n")
    if why == "no update-grub":
        (root / "usr/sbin/update-grub").unlink()
    e = entry([rec(root, "boot/grub/grub.cfg", cfg_after_change, "old\n", generated=True)])
    with pytest.raises(BootConfigError) as err:
        plan_restore(str(root), e, Recording(), lambda: None, regenerate=why != "regenerate false")
    assert str(err.value) == (
        f"journal entry 20261202T030000.000001Z-4711: changed after it: {root}/boot/grub/grub.cfg (sha256 "
        f"{sha(cfg_after_change + '# edited' + chr(10))[:12]}, journaled {sha(cfg_after_change)[:12]}); "
        "refusing to overwrite (force: true restores anyway)"
    )


def test_every_conflict_is_named_deleted_and_created_files_too(root):
    write(root, "etc/default/grub", CHANGED + "# edited\n")
    write(root, "etc/default/grub.d/vmscape.cfg", "X=1\n")
    e = entry(
        [
            rec(root, "etc/default/grub.d/gone.cfg", "Y=1\n", "Y=0\n"),  # deleted since
            rec(root, "etc/default/grub.d/vmscape.cfg", None, "X=0\n"),  # the change deleted it; it is back
            rec(root, "etc/default/grub", CHANGED, DEFAULTS),
        ]
    )
    with pytest.raises(BootConfigError) as err:
        plan_restore(str(root), e, Recording(), lambda: None)
    assert str(err.value) == (
        f"journal entry 20261202T030000.000001Z-4711: changed after it: {root}/etc/default/grub.d/gone.cfg "
        f"(deleted), {root}/etc/default/grub.d/vmscape.cfg (sha256 {sha('X=1' + chr(10))[:12]}, journaled -), "
        f"{root}/etc/default/grub (sha256 {sha(CHANGED + '# edited' + chr(10))[:12]}, journaled {sha(CHANGED)[:12]}); "
        "refusing to overwrite (force: true restores anyway)"
    )
    # forced: every one of them is put back, and each is named
    rp = plan_restore(str(root), e, Recording(), lambda: None, force=True)
    assert len(rp.notes) == 3 and all(n.endswith("; overwritten (force)") for n in rp.notes)
    assert rp.notes[0] == (
        f"{root}/etc/default/grub.d/gone.cfg changed since entry 20261202T030000.000001Z-4711 (deleted); "
        "overwritten (force)"
    )
    assert [(s[0], s[1], s[2]) for s in steps(rp.plan)] == [
        (f"{root}/etc/default/grub.d/gone.cfg", None, b"Y=0\n"),
        (f"{root}/etc/default/grub.d/vmscape.cfg", b"X=1\n", b"X=0\n"),
        (f"{root}/etc/default/grub", (CHANGED + "# edited\n").encode(), DEFAULTS.encode()),
    ]


def test_missing_or_changed_backups_are_all_named_and_nothing_is_planned(root):
    write(root, "etc/default/grub", CHANGED)
    write(root, "boot/grub/grub.cfg", "cfg after\n")
    e = entry(
        [
            rec(root, "etc/default/grub", CHANGED, DEFAULTS),
            rec(root, "boot/grub/grub.cfg", "cfg after\n", "cfg before\n", generated=True),
        ]
    )
    (root / "etc/default/grub.4711.bak~").unlink()
    write(root, "boot/grub/grub.cfg.4711.bak~", "cfg tampered\n")
    with pytest.raises(BootConfigError) as err:
        plan_restore(str(root), e, Recording(), lambda: None)
    assert str(err.value) == (
        f"cannot restore journal entry 20261202T030000.000001Z-4711: the backup {root}/etc/default/grub.4711.bak~ "
        f"of {root}/etc/default/grub is missing; the backup {root}/boot/grub/grub.cfg.4711.bak~ of "
        f"{root}/boot/grub/grub.cfg changed since it was made"
    )


# --------------------------------------------------------------------------- the writer
@pytest.fixture
def umask0():
    """No umask: the modes asked for are the modes given."""
    old = os.umask(0)
    yield
    os.umask(old)


@needs_root("giving a file another owner needs root")
def test_a_deleted_file_comes_back_with_the_backups_mode_and_owner_in_a_new_directory(root, umask0):
    backup = write(root, "etc/default/grub.d/vmscape.cfg.4711.bak~", "X=0\n", 0o600)
    os.chown(backup, 4321, 4322)
    (root / "etc/default/grub.d/vmscape.cfg.4711.bak~").rename(root / "vmscape.cfg.bak~")
    (root / "etc/default/grub.d").rmdir()
    e = entry([{**rec(root, "unused", "X=1\n", "X=0\n"), "path": "/etc/default/grub.d/vmscape.cfg"}])
    e["files"][0].update(backup="/vmscape.cfg.bak~", backup_sha256=sha("X=0\n"))
    rp = plan_restore(str(root), e, Recording(), lambda: None, force=True)
    execute(rp.plan, StandInRunner(root), regenerate=False)
    st = os.stat(root / "etc/default/grub.d/vmscape.cfg")
    assert (root / "etc/default/grub.d/vmscape.cfg").read_text() == "X=0\n"
    assert (oct(st.st_mode & 0o7777), st.st_uid, st.st_gid) == ("0o600", 4321, 4322)
    assert oct(os.stat(root / "etc/default/grub.d").st_mode & 0o7777) == "0o755"


@needs_root("giving a file another owner needs root")
def test_a_file_that_exists_keeps_its_own_owner_and_mode(root):
    write(root, "etc/default/grub", CHANGED, 0o640)
    os.chown(root / "etc/default/grub", 1111, 1112)
    e = entry([rec(root, "etc/default/grub", CHANGED, DEFAULTS)])
    os.chown(root / "etc/default/grub.4711.bak~", 4321, 4322)
    os.chmod(root / "etc/default/grub.4711.bak~", 0o600)
    rp = plan_restore(str(root), e, Recording(), lambda: None)
    execute(rp.plan, StandInRunner(root), regenerate=False)
    st = os.stat(root / "etc/default/grub")
    assert (root / "etc/default/grub").read_text() == DEFAULTS
    assert (oct(st.st_mode & 0o7777), st.st_uid, st.st_gid) == ("0o640", 1111, 1112)


def test_the_backups_selinux_context_is_given_to_a_file_put_back(root, monkeypatch):
    """SELinux cannot run here: the context read from the backup and the xattr call are recorded
    (the stand-ins have the signatures of atomic_write.get_selinux_context and os.setxattr)."""
    calls = []
    monkeypatch.setattr(
        _atomic_write, "get_selinux_context", lambda p: calls.append(("get", p)) or b"system_u:object_r:etc_t:s0"
    )
    monkeypatch.setattr(_restore.os, "setxattr", lambda *a: calls.append(("set", *a)))
    write(root, "etc/default/grub.d/x.cfg.4711.bak~", "X=0\n")
    e = entry([rec(root, "etc/default/grub.d/x.cfg", "X=1\n", "X=0\n")])
    rp = plan_restore(str(root), e, Recording(), lambda: None, force=True)
    rp.plan.steps[0].writer(None, [])
    r = str(root)
    assert ("set", f"{r}/etc/default/grub.d/x.cfg", "security.selinux", b"system_u:object_r:etc_t:s0") in calls
    assert ("get", f"{r}/etc/default/grub.d/x.cfg.4711.bak~") in calls
    assert (root / "etc/default/grub.d/x.cfg").read_text() == "X=0\n"


@pytest.mark.parametrize("code", ["ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EPERM"])
def test_a_filesystem_without_xattrs_is_no_failure_other_errors_are(root, monkeypatch, code):
    import errno

    def setxattr(*_a):
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))

    monkeypatch.setattr(_atomic_write, "get_selinux_context", lambda p: b"system_u:object_r:etc_t:s0")
    monkeypatch.setattr(_restore.os, "setxattr", setxattr)
    write(root, "etc/default/grub.d/x.cfg.4711.bak~", "X=0\n")
    e = entry([rec(root, "etc/default/grub.d/x.cfg", "X=1\n", "X=0\n")])
    writer = plan_restore(str(root), e, Recording(), lambda: None, force=True).plan.steps[0].writer
    if code == "EPERM":
        with pytest.raises(OSError):
            writer(None, [])
    else:
        writer(None, [])
    assert (root / "etc/default/grub.d/x.cfg").read_text() == "X=0\n"


def test_without_a_context_on_the_backup_no_xattr_is_set(root, monkeypatch):
    calls = []
    monkeypatch.setattr(_atomic_write, "get_selinux_context", lambda p: None)
    monkeypatch.setattr(_restore.os, "setxattr", lambda *a: calls.append(a))
    write(root, "etc/default/grub.d/x.cfg.4711.bak~", "X=0\n")
    e = entry([rec(root, "etc/default/grub.d/x.cfg", "X=1\n", "X=0\n")])
    plan_restore(str(root), e, Recording(), lambda: None, force=True).plan.steps[0].writer(None, [])
    assert calls == []


# --------------------------------------------------------------------------- through Session.apply
def apply(root, op, monkeypatch, check_mode=False, regenerate=True):
    result, warnings, runner = run_session(root, op, monkeypatch, check_mode=check_mode, regenerate=regenerate)
    return result, warnings, runner.calls


def test_a_regenerated_change_restored_with_its_regeneration(root, monkeypatch):
    change, warnings, calls = apply(root, Change(build_request({"vmscape": "ibpb"}, [])), monkeypatch)
    assert (root / "boot/grub/grub.cfg").read_text() == cfg_text("console=ttyS0 vmscape=ibpb", "quiet")
    assert (change["regenerated"], warnings) == (True, [])
    entry_id = change["journal_entry"]

    op = Restore("latest")
    assert op.describe() == "restore latest"
    preview, warnings, calls = apply(root, op, monkeypatch, check_mode=True)
    assert (preview["changed"], preview["regenerate_skipped"], calls, warnings) == (True, None, [], [])
    assert preview["restored_entry"]["id"] == entry_id and preview["restored_entry"]["restored"] is None

    op = Restore(entry_id, backend="grub")
    done, warnings, calls = apply(root, op, monkeypatch)
    r = str(root)
    assert (done["backend"], done["backend_reason"]) == ("grub", "forced")
    assert (done["changed"], done["regenerated"], warnings, calls) == (True, True, [], [["chroot", r, "update-grub"]])
    assert (done["previous_cmdline"], done["effective_cmdline"]) == (
        "console=ttyS0 vmscape=ibpb quiet",
        "console=ttyS0 quiet",
    )
    assert (root / "etc/default/grub").read_text() == DEFAULTS
    assert (root / "boot/grub/grub.cfg").read_text() == cfg_text("console=ttyS0", "quiet")
    restored = done["restored_entry"]
    assert restored["id"] == entry_id and op.restore_of == entry_id and op.entry["id"] == entry_id
    assert restored["restored"]["effective_cmdline"] == "console=ttyS0 quiet"
    assert restored["restored"]["run"] > entry_id  # this run's id, later than the entry's
    assert sorted(f["path"] for f in restored["restored"]["files"]) == ["/boot/grub/grub.cfg", "/etc/default/grub"]


def test_a_restore_whose_regeneration_still_carries_the_parameter_is_undone(root, monkeypatch):
    apply(root, Change(build_request({"vmscape": "ibpb"}, [])), monkeypatch)
    # an update-grub that keeps writing the changed line (a stale template, say)
    write(
        root,
        "usr/sbin/update-grub",
        update_grub(
            root,
            "${GRUB_CMDLINE_LINUX} vmscape=ibpb ${GRUB_CMDLINE_LINUX_DEFAULT}",
            recovery="${GRUB_CMDLINE_LINUX} vmscape=ibpb",
        ),
        0o755,
    )
    with pytest.raises(BootConfigError) as err:
        apply(root, Restore("latest"), monkeypatch)
    assert "after regeneration: " in str(err.value)
    assert "vmscape still occurs 1 times" in str(err.value)
    assert (root / "etc/default/grub").read_text() == CHANGED  # put back as it was before the restore


def test_a_restore_of_a_parameter_only_normal_entries_get_passes(root, monkeypatch):
    """GRUB_CMDLINE_LINUX_DEFAULT is not given to the recovery entry: the restored vmscape=off there
    is checked on the normal entry only (everywhere false)."""
    write(root, "etc/default/grub", DEFAULTS.replace('"quiet"', '"quiet vmscape=off"'))
    write(root, "boot/grub/grub.cfg", cfg_text("console=ttyS0", "quiet vmscape=off"))
    _change, _w, _c = apply(root, Change(build_request({"vmscape": "ibpb"}, [])), monkeypatch)
    assert "vmscape=ibpb" in (root / "boot/grub/grub.cfg").read_text()
    done, warnings, _c = apply(root, Restore("latest"), monkeypatch)
    assert (done["changed"], done["effective_cmdline"], warnings) == (True, "console=ttyS0 quiet vmscape=off", [])
    assert (root / "boot/grub/grub.cfg").read_text() == cfg_text("console=ttyS0", "quiet vmscape=off")


def test_a_restore_that_cannot_regenerate_says_so(root, monkeypatch):
    apply(root, Change(build_request({"vmscape": "ibpb"}, [])), monkeypatch)
    (root / "usr/sbin/update-grub").unlink()
    done, warnings, calls = apply(root, Restore("latest"), monkeypatch)
    skipped = f"no update-grub, grub-mkconfig or grub2-mkconfig found under {root}"
    assert (done["changed"], done["regenerated"], done["regenerate_skipped"], calls) == (True, False, skipped, [])
    assert warnings == [f"configuration changed but not regenerated: {skipped}"]
    assert (root / "etc/default/grub").read_text() == DEFAULTS


def test_a_restore_that_does_not_give_the_old_line_back_warns(root, monkeypatch):
    change, _w, _c = apply(root, Change(build_request({"vmscape": "ibpb"}, [])), monkeypatch)
    # another file that feeds the line changed since: grub.d/*.cfg is sourced after the main file
    write(root, "etc/default/grub.d/extra.cfg", 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX nosmt"\n')
    done, warnings, _c = apply(root, Restore("latest"), monkeypatch, regenerate=False)
    entry_id = change["journal_entry"]
    assert done["effective_cmdline"] == "console=ttyS0 nosmt quiet"
    assert warnings == [
        f"after restoring journal entry {entry_id} the configuration gives 'console=ttyS0 nosmt quiet', not "
        "'console=ttyS0 quiet' as before that change (another file changed since?)",
        f"configuration changed; it takes effect after chroot {root} update-grub",
    ]


@pytest.mark.parametrize(
    ("regenerate", "regen", "skipped", "predicted", "expected"),
    [
        (True, ["update-grub"], None, ["a change"], True),
        (False, ["update-grub"], None, ["a change"], False),
        (True, [], None, ["a change"], False),
        (True, ["update-grub"], "no update-grub", ["a change"], False),
        (True, ["update-grub"], None, [], False),
    ],
)
def test_a_preview_counts_a_regeneration_only_of_a_restore_that_changes_files(
    regenerate, regen, skipped, predicted, expected
):
    session = types.SimpleNamespace(regenerate=regenerate)
    plan = types.SimpleNamespace(regen=regen, regen_skipped=skipped)
    assert Restore("latest").will_regenerate(session, plan, predicted) is expected


def test_a_new_restore_knows_nothing_yet():
    op = Restore("20261202T030000.000001Z-4711")
    assert (op.ref, op.backend, op.force, op.kind) == ("20261202T030000.000001Z-4711", "auto", False, "restore")
    assert (op.restore_of, op.entry, op.chosen) == (None, None, None)


def test_a_grub_cfg_regenerated_since_the_change_is_regenerated_again_not_refused(root, monkeypatch):
    change, _w, _c = apply(root, Change(build_request({"vmscape": "ibpb"}, [])), monkeypatch)
    kernel_update = cfg_text("console=ttyS0 vmscape=ibpb", "quiet") + "# regenerated by a kernel update\n"
    write(root, "boot/grub/grub.cfg", kernel_update)
    done, warnings, calls = apply(root, Restore("latest"), monkeypatch)
    journaled = sha(cfg_text("console=ttyS0 vmscape=ibpb", "quiet"))[:12]
    assert done["notes"] == [
        f"{root}/boot/grub/grub.cfg changed since entry {change['journal_entry']} (sha256 {sha(kernel_update)[:12]}, "
        f"journaled {journaled}); it is regenerated, not put back"
    ]
    assert (done["changed"], done["regenerated"], warnings, len(calls)) == (True, True, [], 1)
    assert (root / "boot/grub/grub.cfg").read_text() == cfg_text("console=ttyS0", "quiet")
    assert (root / "etc/default/grub").read_text() == DEFAULTS


def test_without_regeneration_a_grub_cfg_changed_since_is_a_conflict(root, monkeypatch):
    change, _w, _c = apply(root, Change(build_request({"vmscape": "ibpb"}, [])), monkeypatch)
    write(root, "boot/grub/grub.cfg", cfg_text("console=ttyS0 vmscape=ibpb", "quiet") + "# kernel update\n")
    with pytest.raises(BootConfigError) as err:
        apply(root, Restore("latest"), monkeypatch, regenerate=False)
    assert str(err.value).startswith(
        f"journal entry {change['journal_entry']}: changed after it: {root}/boot/grub/grub.cfg (sha256 "
    )
    assert (root / "etc/default/grub").read_text() == CHANGED


def test_a_forced_restore_of_files_already_back_changes_nothing_and_says_nothing(root, monkeypatch):
    change, _w, _c = apply(root, Change(build_request({"vmscape": "ibpb"}, [])), monkeypatch, regenerate=False)
    write(root, "etc/default/grub", DEFAULTS)  # put back by hand
    done, warnings, calls = apply(root, Restore("latest", force=True), monkeypatch, regenerate=False)
    assert (done["changed"], done["files"], calls, warnings) == (False, [], [], [])
    assert done["restored_entry"]["id"] == change["journal_entry"]
