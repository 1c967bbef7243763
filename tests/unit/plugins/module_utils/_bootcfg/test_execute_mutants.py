"""``_bootcfg.apply.execute``, the step executor every backend's change goes through, checked one
path at a time on real files (found by `make mutation`: it was reached only through the end-to-end
module tests, which the mutation run leaves out).

Plans are built by hand (FileChange, Command) on files in tmp_path; commands are answered by a
runner, the executor's injection point, that records what it was asked and may change files the
way a regeneration tool would. The write-ahead intent is a recording stand-in with the interface
of ``_bootcfg.intent.IntentRun`` (begin, ready, finish). Expected values are written by hand.
"""

import errno
import os

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.apply import _Restored, execute
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Command, FileChange, Plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import command_runner as _command_runner

RESTORED = "; every file was restored to its previous content"


class Runner:
    """Answers commands: rc, output, and an optional effect on the files (a tool's writes)."""

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.calls = []

    def __call__(self, argv):
        self.calls.append(list(argv))
        rc, out, err, effect, timed_out, cut = self.answers.get(argv[0], (0, "", "", None, False, 0))
        if effect:
            effect()
        return _command_runner.Result(argv, rc, out, err, timed_out, 0.0126, cut)


def answer(rc=0, out="", err="", effect=None, timed_out=False, cut=0):
    return (rc, out, err, effect, timed_out, cut)


class Intent:
    """Records the write-ahead calls (stand-in for _bootcfg.intent.IntentRun)."""

    def __init__(self, fail_finish=False):
        self.calls = []
        self.fail_finish = fail_finish

    def begin(self, snap, backups):
        self.calls.append(("begin", sorted(snap.files), dict(backups)))

    def ready(self):
        self.calls.append(("ready",))

    def finish(self):
        self.calls.append(("finish",))
        if self.fail_finish:
            raise BootConfigError("/var/lib/x/intent.json: cannot remove it")


def change(path, after, before=b"old\n", **kw):
    return FileChange(str(path), before, after, **kw)


def files(d):
    return sorted(os.listdir(d))


# --------------------------------------------------------------------------- nothing to do
def test_a_plan_without_changes_writes_nothing(tmp_path):
    f = tmp_path / "grub"
    f.write_bytes(b"same\n")
    plan = Plan("grub", str(tmp_path))
    plan.steps.append(change(f, b"same\n", before=b"same\n"))
    plan.regen.append(Command(["update-grub"], "regenerate"))
    runner = Runner()
    result = execute(plan, runner)
    assert {k: v for k, v in result.items() if k != "snapshot"} == {
        "backups": {},
        "commands": [],
        "changed_paths": [],
        "files": [],
        "regenerated_files": [],
        "regenerated": False,
        "warnings": [],
    }
    assert runner.calls == [] and files(tmp_path) == ["grub"]


# --------------------------------------------------------------------------- a change
def test_a_change_is_written_and_its_old_content_kept_in_a_backup(tmp_path):
    f = tmp_path / "grub"
    f.write_bytes(b"old\n")
    plan = Plan("grub", str(tmp_path))
    plan.steps.append(change(f, b"new\n"))
    result = execute(plan, Runner())
    assert f.read_bytes() == b"new\n"
    [(path, backup)] = result["backups"].items()
    assert path == str(f) and _atomic_write.read_bytes(backup) == b"old\n"
    assert os.path.basename(backup).startswith("grub.") and backup.endswith("~")
    assert (result["changed_paths"], result["files"], result["regenerated_files"]) == ([str(f)], [str(f)], [])
    assert (result["commands"], result["regenerated"], result["warnings"]) == ([], False, [])
    assert files(tmp_path) == sorted(["grub", os.path.basename(backup)])


def test_without_backups_no_copy_is_left(tmp_path):
    f = tmp_path / "grub"
    f.write_bytes(b"old\n")
    plan = Plan("grub", str(tmp_path))
    plan.steps.append(change(f, b"new\n"))
    assert execute(plan, Runner(), backup=False)["backups"] == {}
    assert files(tmp_path) == ["grub"]


def test_new_files_and_directories_removals_and_writers(tmp_path):
    gone = tmp_path / "gone.cfg"
    gone.write_bytes(b"x\n")
    new = tmp_path / "etc" / "kernel" / "cmdline"
    env = tmp_path / "grubenv"
    env.write_bytes(b"env\n")
    written = []

    def writer(runner, commands):
        written.append(commands is not None)
        env.write_bytes(b"env2\n")

    plan = Plan("grub", str(tmp_path))
    plan.steps += [
        change(gone, None, before=b"x\n"),
        change(new, b"ro vmscape=ibpb\n", before=None, mode=0o600),
        change(env, b"env2\n", before=b"env\n", writer=writer),
    ]
    result = execute(plan, Runner(), backup=False)
    assert not gone.exists() and new.read_bytes() == b"ro vmscape=ibpb\n" and env.read_bytes() == b"env2\n"
    assert oct(os.stat(new).st_mode & 0o777) == "0o600"
    assert oct(os.stat(new.parent).st_mode & 0o777) == "0o755"
    assert written == [True]
    assert result["files"] == sorted([str(gone), str(new), str(env)])


# --------------------------------------------------------------------------- commands and checks
def test_a_command_step_and_regeneration_are_recorded_and_told_apart(tmp_path):
    entry = tmp_path / "entries" / "a.conf"
    entry.parent.mkdir()
    entry.write_bytes(b"options ro\n")
    cfg = tmp_path / "grub.cfg"
    cfg.write_bytes(b"old cfg\n")
    after = b"options ro vmscape=ibpb\n"
    runner = Runner(
        {
            "grubby": answer(effect=lambda: entry.write_bytes(after)),
            "grub2-mkconfig": answer(out="Generating grub configuration file ...\n", effect=lambda: cfg.write_bytes(
                b"new cfg\n")),
        }
    )  # fmt: skip
    plan = Plan("grubby", str(tmp_path))
    plan.steps.append(
        Command(["grubby", "--update-kernel=ALL"], "grubby", touch_globs=[(str(entry.parent), "*.conf")],
                predicted=[change(entry, after, before=b"options ro\n")])
    )  # fmt: skip
    plan.regen.append(Command(["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"], "regenerate", touches=[str(cfg)]))
    checked = []
    plan.verify = lambda: checked.append("verify") or []
    plan.verify_regen = lambda: (checked.append("verify_regen") or [], ["a warning from the menu check"])
    result = execute(plan, runner, backup=False)
    assert runner.calls == [["grubby", "--update-kernel=ALL"], ["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]]
    assert result["commands"] == [
        {"cmd": ["grubby", "--update-kernel=ALL"], "rc": 0, "seconds": 0.013},
        {"cmd": ["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"], "rc": 0, "seconds": 0.013},
    ]
    assert checked == ["verify", "verify_regen"]
    assert result["files"] == [str(entry)] and result["regenerated_files"] == [str(cfg)]
    assert result["regenerated"] is True and result["warnings"] == ["a warning from the menu check"]


def test_regeneration_runs_only_when_needed_and_allowed(tmp_path):
    f = tmp_path / "grub"
    f.write_bytes(b"old\n")

    def plan_with(after, **kw):
        plan = Plan("grub", str(tmp_path))
        plan.steps.append(change(f, after, before=f.read_bytes()))
        plan.regen.append(Command(["update-grub"], "regenerate"))
        for k, v in kw.items():
            setattr(plan, k, v)
        return plan

    runner = Runner()
    assert execute(plan_with(b"new\n"), runner, backup=False, regenerate=False)["regenerated"] is False
    assert execute(plan_with(b"newer\n", regen_skipped="no update-grub"), runner, backup=False)["regenerated"] is False
    assert runner.calls == []
    # nothing to change, but the generated menu is stale: regenerate all the same
    result = execute(plan_with(b"newer\n", regen_stale="grub.cfg predates the defaults"), runner, backup=False)
    assert result["regenerated"] is True and runner.calls == [["update-grub"]]


def test_a_failing_command_puts_everything_back(tmp_path):
    f = tmp_path / "grub"
    f.write_bytes(b"old\n")
    cfg = tmp_path / "boot"
    cfg.mkdir()
    (cfg / "grub.cfg").write_bytes(b"cfg\n")

    def half_written():
        (cfg / "grub.cfg.new").write_bytes(b"partial")
        (cfg / "grub.cfg").write_bytes(b"broken\n")

    runner = Runner({"update-grub": answer(1, "", "grub-probe: error: disk not found\n", half_written)})
    plan = Plan("grub", str(tmp_path))
    plan.steps.append(change(f, b"new\n"))
    plan.regen.append(Command(["update-grub"], "regenerate", touches=[str(cfg / "grub.cfg")]))
    with pytest.raises(_Restored) as err:
        execute(plan, runner)
    assert err.value.message == (
        "update-grub failed (rc=1): grub-probe: error: disk not found" + RESTORED
        + f"; removed what this run created: {cfg / 'grub.cfg.new'}"
    )  # fmt: skip
    assert err.value.output == "grub-probe: error: disk not found\n"
    assert f.read_bytes() == b"old\n" and (cfg / "grub.cfg").read_bytes() == b"cfg\n"
    assert files(tmp_path) == ["boot", "grub"] and files(cfg) == ["grub.cfg"]  # no copies left


def test_a_command_that_timed_out_and_one_with_cut_output(tmp_path):
    f = tmp_path / "grub"
    f.write_bytes(b"old\n")
    plan = Plan("grub", str(tmp_path))
    plan.steps += [change(f, b"new\n"), Command(["grubby", "--update-kernel=ALL"], "grubby")]
    with pytest.raises(_Restored) as err:
        execute(plan, Runner({"grubby": answer(None, "", "", timed_out=True)}))
    assert err.value.message == (
        "grubby --update-kernel=ALL did not finish within 0 s and was killed (with everything it started)" + RESTORED
    )
    with pytest.raises(_Restored) as err:
        execute(plan, Runner({"grubby": answer(2, "out\n", "err\n", cut=10)}))
    assert err.value.message == "grubby --update-kernel=ALL failed (rc=2): err" + RESTORED
    assert err.value.output == "out\nerr\n\n[10 bytes of output were cut]"
    assert f.read_bytes() == b"old\n"


def test_checks_that_find_problems_undo_the_change(tmp_path):
    f = tmp_path / "grub"
    f.write_bytes(b"old\n")
    plan = Plan("grub", str(tmp_path))
    plan.steps.append(change(f, b"new\n"))
    plan.verify = lambda: ["vmscape occurs 0 times", "quiet was removed"]
    with pytest.raises(_Restored) as err:
        execute(plan, Runner())
    assert err.value.message == (
        "the configuration did not come out as planned: vmscape occurs 0 times; quiet was removed" + RESTORED
    )
    assert f.read_bytes() == b"old\n"
    plan.verify = None
    plan.regen.append(Command(["update-grub"], "regenerate"))
    plan.verify_regen = lambda: (["grub.cfg is empty", "no default entry"], ["w"])
    runner = Runner({"update-grub": answer(0, "x" * 70000, "")})
    with pytest.raises(_Restored) as err:
        execute(plan, runner)
    assert err.value.message == "after regeneration: grub.cfg is empty; no default entry" + RESTORED
    assert err.value.output == "x" * 65536  # the end of the tool's output, bounded
    assert err.value.warnings == ["w"]


def test_a_failing_write_or_journal_is_undone_too(tmp_path):
    a, x = tmp_path / "a", tmp_path / "x"
    a.write_bytes(b"A\n")
    x.write_bytes(b"")  # the second write fails: its directory would have to be where a file is
    plan = Plan("grub", str(tmp_path))
    plan.steps += [change(a, b"A2\n", before=b"A\n"), change(x / "b", b"B\n", before=None)]
    with pytest.raises(_Restored) as err:
        execute(plan, Runner())
    assert err.value.message == f"{x}: File exists" + RESTORED
    assert a.read_bytes() == b"A\n" and files(tmp_path) == ["a", "x"]

    def journal(result):
        raise BootConfigError("journal: disk full", "details")

    plan.steps.pop()
    with pytest.raises(_Restored) as err:
        execute(plan, Runner(), commit=journal)
    assert (err.value.message, err.value.output) == ("journal: disk full" + RESTORED, "details")
    assert a.read_bytes() == b"A\n" and files(tmp_path) == ["a", "x"]

    def journal_io(result):
        raise OSError(errno.ENOSPC, "No space left on device", "/var/lib/journal.json")

    with pytest.raises(_Restored) as err:
        execute(plan, Runner(), commit=journal_io)
    assert err.value.message == "/var/lib/journal.json: No space left on device" + RESTORED
    seen = []
    result = execute(plan, Runner(), commit=seen.append)
    assert seen == [result] and a.read_bytes() == b"A2\n"


def test_a_step_raising_a_refusal_is_undone_with_its_output(tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b"A\n")

    def refusing(runner, commands):
        a.write_bytes(b"half\n")
        raise BootConfigError("grub2-editenv: failed", "its output")

    plan = Plan("grub", str(tmp_path))
    plan.steps.append(change(a, b"A2\n", before=b"A\n", writer=refusing))
    with pytest.raises(_Restored) as err:
        execute(plan, Runner())
    assert (err.value.message, err.value.output) == ("grub2-editenv: failed" + RESTORED, "its output")
    assert a.read_bytes() == b"A\n"


# --------------------------------------------------------------------------- write-ahead and copies
def test_the_intent_is_written_before_anything_and_finished_after(tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b"A\n")
    intent = Intent()
    plan = Plan("grub", str(tmp_path))
    plan.steps.append(change(a, b"A2\n", before=b"A\n"))
    result = execute(plan, Runner(), wal=intent)
    backup = result["backups"][str(a)]
    assert intent.calls == [("begin", [str(a)], {str(a): backup}), ("ready",), ("finish",)]
    failing = Intent(fail_finish=True)
    plan.steps[0] = change(a, b"A3\n", before=b"A2\n")
    result = execute(plan, Runner(), wal=failing)
    assert result["warnings"] == ["/var/lib/x/intent.json: cannot remove it (the next run removes it)"]


def test_a_failure_after_the_intent_finishes_it_or_says_why_not(tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b"A\n")
    plan = Plan("grub", str(tmp_path))
    plan.steps.append(change(a, b"A2\n", before=b"A\n"))
    plan.verify = lambda: ["wrong"]
    intent = Intent()
    with pytest.raises(_Restored):
        execute(plan, Runner(), wal=intent)
    assert [c[0] for c in intent.calls] == ["begin", "ready", "finish"]
    with pytest.raises(_Restored) as err:
        execute(plan, Runner(), wal=Intent(fail_finish=True))
    assert err.value.warnings == ["/var/lib/x/intent.json: cannot remove it (the next run removes it)"]


def test_a_copy_that_cannot_be_made_stops_the_run_before_any_write(tmp_path, monkeypatch):
    # stand-in for a full disk while copying (ENOSPC from the copy's write)
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"A\n")
    b.write_bytes(b"B\n")
    real = _atomic_write.backup_file

    def full(path, data=None, dest=None):
        if path == str(b):
            raise OSError(errno.ENOSPC, "No space left on device", dest)
        return real(path, data, dest)

    monkeypatch.setattr(_atomic_write, "backup_file", full)
    plan = Plan("grub", str(tmp_path))
    plan.steps += [change(a, b"A2\n", before=b"A\n"), change(b, b"B2\n", before=b"B\n")]
    intent = Intent()
    with pytest.raises(_Restored) as err:
        execute(plan, Runner(), wal=intent)
    msg = err.value.message
    assert msg.startswith(f"cannot prepare the change ({b}: cannot copy it to {b}.")
    assert msg.endswith("~: No space left on device); nothing was changed")
    assert (a.read_bytes(), b.read_bytes()) == (b"A\n", b"B\n") and files(tmp_path) == ["a", "b"]
    assert [c[0] for c in intent.calls] == ["begin", "finish"]


def test_an_intent_that_cannot_be_written_stops_the_run(tmp_path):
    a = tmp_path / "a"
    a.write_bytes(b"A\n")

    class Refusing(Intent):
        def begin(self, snap, backups):
            raise BootConfigError("/var/lib/x/intent.json: read-only file system")

    plan = Plan("grub", str(tmp_path))
    plan.steps.append(change(a, b"A2\n", before=b"A\n"))
    with pytest.raises(_Restored) as err:
        execute(plan, Runner(), wal=Refusing())
    assert err.value.message == (
        "cannot prepare the change (/var/lib/x/intent.json: read-only file system); nothing was changed"
    )
    assert a.read_bytes() == b"A\n" and files(tmp_path) == ["a"]


def test_when_restoring_fails_the_copies_are_kept_and_named(tmp_path, monkeypatch):
    a = tmp_path / "a"
    a.write_bytes(b"A\n")
    plan = Plan("grub", str(tmp_path))
    plan.steps.append(change(a, b"A2\n", before=b"A\n"))
    plan.verify = lambda: ["wrong"]

    def stuck(path, data, backup=None):  # stand-in: the file system refuses to give the file back
        raise OSError(errno.EROFS, "Read-only file system", path)

    monkeypatch.setattr(_atomic_write, "put_back", stuck)
    with pytest.raises(_Restored) as err:
        execute(plan, Runner())
    [copy] = [n for n in files(tmp_path) if n != "a"]
    assert err.value.message == (
        f"the configuration did not come out as planned: wrong; restoring the previous files FAILED for: {a}: "
        f"Read-only file system; the backups are kept ({tmp_path / copy}) and the next run puts the files back "
        "from them"
    )
    assert (tmp_path / copy).read_bytes() == b"A\n"
