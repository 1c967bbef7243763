"""tools/mutation/run.py's ``--report-only``: it scores only files the workspace holds a finished run
of, and refuses the others by name, writing nothing (a workspace built with a narrower --mutate
holds every file's mutants, the others all "not checked": scored, they counted as not killed).

mutmut itself is not run: ``collect`` (which reads mutmut's results) is replaced by results
written by hand, ``prepare`` and ``run_mutmut`` by recorders; docs/mutation-score.json,
docs/testing.md and README are copies in tmp_path. Expected texts and rows are written by hand.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root: tools/ is not installed

from tools.mutation import run

TEXT = "plugins/module_utils/_common/text.py"
ERRORS = "plugins/module_utils/_bootcfg/errors.py"
TESTING = (
    "# Testing\n<!-- mutation-score:begin -->\nold table\n<!-- mutation-score:end -->\n"
    "<!-- mutation-equivalents:begin -->\nold list\n<!-- mutation-equivalents:end -->\n"
)
README = "Mutation: <!-- mutation-summary:begin -->old line<!-- mutation-summary:end -->\n"
OLD_RUN = {"date": "2026-12-01 23:21 UTC", "files": [TEXT, ERRORS], "wall_s": 60, "cpu_s": 50, "jobs": 1}


def row(mutants, killed, survived, score, run_date):
    return {
        "mutants": mutants,
        "killed": killed,
        "timeout": 0,
        "survived": survived,
        "no_tests": 0,
        "not_checked": 0,
        "other": 0,
        "equivalent": 0,
        "score": score,
        "not_killed": [],
        "run": run_date,
    }


@pytest.fixture
def docs(tmp_path, monkeypatch):
    """The three files the tool writes, as copies; returns their paths."""
    summary = {
        "target_percent": 90.0,
        "runs": [OLD_RUN],
        "files": {
            TEXT: row(20, 20, 0, 100.0, "2026-12-01 23:21 UTC"),
            ERRORS: row(6, 6, 0, 100.0, "2026-12-01 23:21 UTC"),
        },
        "totals": {},
    }
    paths = {
        "SUMMARY": tmp_path / "mutation-score.json",
        "TESTING_MD": tmp_path / "testing.md",
        "README": tmp_path / "README.md",
    }
    paths["SUMMARY"].write_text(json.dumps(summary))
    paths["TESTING_MD"].write_text(TESTING)
    paths["README"].write_text(README)
    for name, path in paths.items():
        monkeypatch.setattr(run, name, path)
    return paths


@pytest.fixture
def work(tmp_path):
    """A workspace holding copies of text.py and errors.py as the run mutated them."""
    w = tmp_path / "work"
    for f in (TEXT, ERRORS):
        dst = w / run.PKG / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run.REPO / f, dst)
    return w


def snapshot(paths):
    return {name: path.read_text() for name, path in paths.items()}


def refused(argv):
    with pytest.raises(SystemExit) as err:
        run.main(argv)
    return str(err.value)


def no_collect(*_a):
    raise AssertionError("a refused --report-only must not read mutmut's results")


def test_a_workspace_that_ran_one_file_refuses_the_other_and_writes_nothing(work, docs, monkeypatch):
    run.record_run(work, [TEXT], "2026-12-02 06:10 UTC")
    monkeypatch.setattr(run, "collect", no_collect)
    before = snapshot(docs)
    message = refused(["--report-only", "--workdir", str(work), "--mutate", TEXT, "--mutate", ERRORS])
    assert message == (
        f"--report-only: {work} cannot score 1 of the 2 file(s) asked for:\n"
        "  plugins/module_utils/_bootcfg/errors.py: no finished run in this workspace\n"
        "  files with a finished run there: plugins/module_utils/_common/text.py\n"
        "  score only those (--mutate plugins/module_utils/_common/text.py),\n"
        "  or run the others (--mutate FILE, --rerun-survivors to go on where a run stopped).\n"
        f"Nothing was written: {docs['SUMMARY']}, {docs['TESTING_MD']} and {docs['README']} are as they were."
    )
    assert snapshot(docs) == before
    assert not (work / "survivors.md").exists()


def test_without_mutate_every_file_is_asked_for_so_a_narrow_workspace_is_refused(work, docs, monkeypatch):
    run.record_run(work, [TEXT], "2026-12-02 06:10 UTC")
    monkeypatch.setattr(run, "collect", no_collect)
    before = snapshot(docs)
    message = refused(["--report-only", "--workdir", str(work)])
    first, *rest = message.split("\n")
    assert (
        first == f"--report-only: {work} cannot score {len(run.FILES) - 1} of the {len(run.FILES)} file(s) asked for:"
    )
    assert f"  {ERRORS}: no finished run in this workspace" in rest
    assert f"  {TEXT}: no finished run in this workspace" not in rest
    assert snapshot(docs) == before


def test_a_workspace_without_a_record_has_no_finished_run(work, docs, monkeypatch):
    """An older run.py's workspace (or a run that was stopped): nothing in it can be scored."""
    monkeypatch.setattr(run, "collect", no_collect)
    message = refused(["--report-only", "--workdir", str(work), "--mutate", TEXT])
    assert message.split("\n")[1:4] == [
        "  plugins/module_utils/_common/text.py: no finished run in this workspace",
        "  files with a finished run there: none",
        "  run them (--mutate FILE, --rerun-survivors to go on where a run stopped).",
    ]


def test_a_source_changed_since_its_run_is_refused(work, docs, monkeypatch, tmp_path):
    run.record_run(work, [TEXT, ERRORS], "2026-12-02 06:10 UTC")
    monkeypatch.setattr(run, "collect", no_collect)
    (work / run.PKG / TEXT).write_text((work / run.PKG / TEXT).read_text() + "\n# edited\n")
    repo = tmp_path / "repo"  # a repository whose errors.py changed after the run
    for f in (TEXT, ERRORS):
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run.REPO / f, repo / f)
    (repo / ERRORS).write_text((repo / ERRORS).read_text() + "\n# edited\n")
    monkeypatch.setattr(run, "REPO", repo)
    message = refused(["--report-only", "--workdir", str(work), "--mutate", f"{TEXT},{ERRORS}"])
    assert message.split("\n")[:3] == [
        f"--report-only: {work} cannot score 2 of the 2 file(s) asked for:",
        "  plugins/module_utils/_common/text.py: the workspace's copy changed since its run of 2026-12-02 06:10 UTC",
        "  plugins/module_utils/_bootcfg/errors.py: changed in the repository since its run of 2026-12-02 06:10 UTC",
    ]


def test_a_file_the_workspace_ran_is_scored_and_the_other_rows_and_runs_stay(work, docs, monkeypatch):
    run.record_run(work, [TEXT], "2026-12-02 06:10 UTC")
    survivor = {
        "mutant": "x__mutmut_3",
        "function": "f",
        "status": "survived",
        "removed": ["a = 1"],
        "added": ["a = 2"],
    }
    results = {TEXT: {"counts": {"killed": 17, "timeout": 1, "survived": 2}, "survivors": [survivor, survivor]}}
    monkeypatch.setattr(run, "collect", lambda workdir, files: {f: results[f] for f in files})
    assert run.main(["--report-only", "--workdir", str(work), "--mutate", TEXT]) == 0
    summary = json.loads(docs["SUMMARY"].read_text())
    assert summary["runs"] == [OLD_RUN]  # scoring again measures no run
    assert summary["files"][ERRORS] == row(6, 6, 0, 100.0, "2026-12-01 23:21 UTC")
    text_row = summary["files"][TEXT]
    assert {k: text_row[k] for k in ("mutants", "killed", "timeout", "survived", "equivalent", "score")} == {
        "mutants": 20,
        "killed": 17,
        "timeout": 1,
        "survived": 2,
        "equivalent": 0,
        "score": 90.0,
    }
    assert summary["totals"]["mutants"] == 26 and summary["totals"]["survived"] == 2
    assert "| module_utils/_common/text.py | 20 | 17 | 1 | 2 | 0 | 0 | 90.0 % |" in docs["TESTING_MD"].read_text()
    assert (work / "survivors.md").exists()


def test_a_finished_run_records_its_files_with_the_source_it_ran(work, docs, monkeypatch):
    calls = []
    monkeypatch.setattr(run, "prepare", lambda workdir, fresh, multiplier: calls.append(("prepare", multiplier)))
    monkeypatch.setattr(run, "run_mutmut", lambda workdir, jobs, files, names=None: calls.append(("run", files)))
    results = {TEXT: {"counts": {"killed": 20}, "survivors": []}}
    monkeypatch.setattr(run, "collect", lambda workdir, files: {f: results[f] for f in files})
    assert run.main(["--workdir", str(work), "--mutate", TEXT, "--jobs", "1"]) == 0
    assert calls == [("prepare", 5.0), ("run", [TEXT])]
    ran = json.loads((work / "ran.json").read_text())
    assert list(ran) == [TEXT]
    assert len(ran[TEXT]["sha256"]) == 64 and ran[TEXT]["run"].endswith(" UTC")
    assert run.report_only_problems(work, [TEXT]) == []
    assert json.loads(docs["SUMMARY"].read_text())["runs"][0] == OLD_RUN  # kept, the new run after it


def test_a_run_that_stops_records_nothing_and_forgets_the_earlier_run(work, docs, monkeypatch):
    def stopped(*_a, **_k):
        raise SystemExit("mutmut run failed (exit -15)")

    run.record_run(work, [TEXT, ERRORS], "2026-12-02 06:10 UTC")  # both finished earlier

    monkeypatch.setattr(run, "prepare", lambda workdir, fresh, multiplier: None)
    monkeypatch.setattr(run, "run_mutmut", stopped)
    with pytest.raises(SystemExit):
        run.main(["--workdir", str(work), "--mutate", TEXT, "--jobs", "1"])
    # text.py's results are partly this run's now: only errors.py is still a finished run
    assert list(json.loads((work / "ran.json").read_text())) == [ERRORS]


def test_both_rerun_options_run_the_mutants_of_either_kind(work, docs, monkeypatch):
    by_status = {"timeout": ["m3"], "survived": ["m1", "m4"], "no tests": [], "not checked": ["m2"]}
    monkeypatch.setattr(run, "mutants_with_status", lambda workdir, files, status: by_status[status])
    monkeypatch.setattr(run, "prepare", lambda workdir, fresh, multiplier: None)
    ran = []
    monkeypatch.setattr(run, "run_mutmut", lambda workdir, jobs, files, names=None: ran.append(names))
    monkeypatch.setattr(run, "collect", lambda workdir, files: {TEXT: {"counts": {"killed": 20}, "survivors": []}})
    argv = ["--workdir", str(work), "--mutate", TEXT, "--jobs", "1", "--no-write"]
    run.main([*argv, "--rerun-timeouts", "--rerun-survivors"])
    run.main([*argv, "--rerun-timeouts"])
    run.main([*argv, "--rerun-survivors"])
    assert ran == [["m1", "m2", "m3", "m4"], ["m3"], ["m1", "m2", "m4"]]


def test_results_cut_off_by_a_stopped_run_are_named(work, docs, monkeypatch):
    meta = work / "mutants" / run.PKG / (TEXT + ".meta")
    meta.parent.mkdir(parents=True)
    meta.write_text('{\n    "exit_code_by_key": {\n        "a": 1,\n        "b"')
    run.record_run(work, [TEXT], "2026-12-02 06:10 UTC")
    monkeypatch.setattr(run, "collect", no_collect)
    before = snapshot(docs)
    message = refused(["--report-only", "--workdir", str(work), "--mutate", TEXT])
    assert message.startswith(f"{meta}: not valid JSON (Expecting ':' delimiter: line 4 column 12 (char 55)): ")
    assert message.endswith(
        f"delete it and {meta.with_suffix('')} to generate the mutants of {TEXT} again (their results are lost)."
    )
    assert snapshot(docs) == before


def test_a_new_timeout_multiplier_keeps_the_workspace_other_settings_do_not():
    five, fifteen = run.mutmut_config(), run.mutmut_config(15)
    assert "timeout_multiplier = 5.0" in five.splitlines() and "timeout_multiplier = 15.0" in fifteen.splitlines()
    assert run._but_timeouts(five) == run._but_timeouts(fifteen)
    constant = five.replace("timeout_constant = 2.0", "timeout_constant = 3.0")
    assert run._but_timeouts(constant) != run._but_timeouts(five)
