"""``make mutation``: mutmut over the decision core and the boot-config editor, scored per file.

    python -m tools.mutation.run [--mutate plugins/module_utils/_common/cmdline.py ...] [--jobs 2]

What it does (docs/testing.md, "Mutation testing"):

1. Builds (or refreshes) a scratch workspace ``build/mutation/``. mutmut names a mutant after
   the module path of the file it mutated, with a leading ``src.`` dropped, and activates it only
   when the running function's ``__module__`` has that name. The collection is imported as
   ``ansible_collections.fleetsec.vmscape.plugins...``, so the workspace holds a copy of
   ``plugins/`` at ``src/ansible_collections/fleetsec/vmscape/plugins``. mutmut copies it to
   ``mutants/src/...`` and writes the mutants there; ``mutants/`` also gets a fresh copy of
   ``tests/`` (symlinks kept: the snapshot fixtures contain links) and the links the tests use to
   find the collection (``mutants/collections/ansible_collections/fleetsec/vmscape``) and the
   repository (``docs``, ``tools``, ...: read only). The tests then import the mutated code
   exactly as they import the real code; the repository itself is never modified. Generated
   mutants are kept between runs and regenerated only for files that changed (``--fresh``
   regenerates all); which test reaches which function is recorded anew on every run.
2. Runs ``mutmut run`` there. mutmut runs the fast suite (``tests/unit``, no QEMU) once to record
   which test calls which function, then runs every mutant in a forked process against only the
   tests that reached the mutated function, fastest first, stopping at the first failure.
   Hypothesis uses the ``mutation`` profile (tests/hypothesis_profiles.py).
3. Scores each file: killed (a test failed, or the mutant hung and hit the timeout) over all
   mutants minus the ones listed in ``tools/mutation/equivalent.yaml`` (judged by hand: no test
   can tell them from the original; each with the reason). Mutants no test reached count as
   surviving.
4. Writes ``docs/mutation-score.json`` (the committed summary; with ``--mutate`` only those
   files' rows are replaced; the other rows and the runs measured before are kept), the score
   and equivalents sections of docs/testing.md, and
   ``build/mutation/survivors.md`` (every surviving mutant with its diff) for the next round
   of tests.

The workspace records which files a finished run mutated (``ran.json``: each file with the
date and the SHA-256 of the source it ran on). ``--report-only`` scores a workspace again without
running anything; it refuses files the workspace holds no finished run of (mutmut generates every
file's mutants, so a workspace built with a narrower ``--mutate`` has the other files' mutants
too, all "not checked": scored, they would count as not killed) and files whose source changed
since their run, naming them, and leaves docs/ alone.

mutmut mutates code inside functions only: module-level tables (the kernel table rows, the
regexes) are data and are checked by the table tests and the oracle, not by this run.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "build" / "mutation"
PKG = Path("src/ansible_collections/fleetsec/vmscape")
SUMMARY = REPO / "docs" / "mutation-score.json"
EQUIVALENT = REPO / "tools" / "mutation" / "equivalent.yaml"
TESTING_MD = REPO / "docs" / "testing.md"
README = REPO / "README.md"
MUTMUT_VERSION = "3.8.1"  # pinned in pyproject.toml ([project.optional-dependencies] mutation)
TARGET = 90.0

# The files issue 12 names: the decision core (every plugin_utils/_decide/*.py, so a new module of
# the core is mutated without an edit here, and the verification) and the boot-config editor. The
# editor is what issue 12 named as _grub_shell, _grub_defaults, _cmdline, _cpuinfo, _kernel_version,
# _atomic_write, _boot_backend, _bls, _systemd_boot and _grubenv, in the files issue 13 split them
# into (docs/DESIGN.md "Where code lives"): the GRUB defaults' reader, editor, grub.cfg reader and
# backend; _boot_backend's token rules, plans, commands, apply path, detector and backend protocol;
# the BLS reader and backends; systemd-boot's loader, /etc/kernel/cmdline reader and editor, the
# installed kernels and its backend; the UTF-8 helpers the readers shared (_common/text.py).
_DECIDE = REPO / "plugins" / "plugin_utils" / "_decide"
FILES = [
    *sorted(str(p.relative_to(REPO)) for p in _DECIDE.glob("*.py") if p.name != "__init__.py"),
    "plugins/plugin_utils/_verify/verify.py",
    "plugins/plugin_utils/_reboot/gate.py",
    "plugins/plugin_utils/_report/fleet_report.py",
    "plugins/module_utils/_bootcfg/grub_shell.py",
    "plugins/module_utils/_bootcfg/grub_defaults.py",
    "plugins/module_utils/_bootcfg/grub_defaults_edit.py",
    "plugins/module_utils/_bootcfg/grub_cfg.py",
    "plugins/module_utils/_bootcfg/backends/grub.py",
    "plugins/module_utils/_common/cmdline.py",
    "plugins/module_utils/_common/text.py",
    "plugins/module_utils/_facts/cpuinfo.py",
    "plugins/module_utils/_facts/kernel_version.py",
    "plugins/module_utils/_bootcfg/atomic_write.py",
    "plugins/module_utils/_bootcfg/tokens.py",
    "plugins/module_utils/_bootcfg/plan.py",
    "plugins/module_utils/_bootcfg/commands.py",
    "plugins/module_utils/_bootcfg/apply.py",
    "plugins/module_utils/_bootcfg/change.py",
    "plugins/module_utils/_bootcfg/restore.py",
    "plugins/module_utils/_bootcfg/current.py",
    "plugins/module_utils/_bootcfg/detect.py",
    "plugins/module_utils/_bootcfg/errors.py",
    "plugins/module_utils/_bootcfg/backends/base.py",
    "plugins/module_utils/_bootcfg/bls.py",
    "plugins/module_utils/_bootcfg/backends/bls.py",
    "plugins/module_utils/_bootcfg/loader.py",
    "plugins/module_utils/_bootcfg/kernel_cmdline_file.py",
    "plugins/module_utils/_bootcfg/kernel_cmdline_edit.py",
    "plugins/module_utils/_bootcfg/kernels.py",
    "plugins/module_utils/_bootcfg/backends/systemd_boot.py",
    "plugins/module_utils/_bootcfg/grubenv.py",
]

# What the copied tests read from the repository root (read only), and what the collection
# loader expects next to plugins/.
REPO_LINKS = ["docs", "tools", "meta", "roles", "playbooks", "inventories", "galaxy.yml", "ansible.cfg", "bench"]
COLLECTION_LINKS = ["meta", "roles", "playbooks", "galaxy.yml", "docs"]

# Unit-test modules left out of the mutation run: they drive the whole kernel_cmdline module or
# the action plugins end to end (real sh, stand-in update-grub, a module run in a subprocess, the
# journal's restore) or sweep the plan over every snapshot, a second or more per test, and they
# reach almost every function of the boot-config editor or the decision core. Run against every
# mutant they reach, they alone would cost about 40 CPU-hours (mutmut's estimate from the recorded
# durations: the tests of a surviving mutant all run). They stay in `make unit`; the mutation
# score is what the focused unit tests catch. test_facts_direct sends the collector's source to a
# fresh ``python -I -S``, where the mutated code's import of mutmut cannot be satisfied.
SLOW_TESTS = [
    "tests/unit/plugins/modules/test_kernel_cmdline_journal.py",
    "tests/unit/plugins/modules/test_kernel_cmdline_corpus.py",
    "tests/unit/plugins/modules/test_kernel_cmdline_module.py",
    "tests/unit/plugins/modules/test_bootcfg_agreement.py",
    "tests/unit/plugins/action/test_action_plugins.py",
    "tests/unit/plugins/plugin_utils/_decide/test_evidence_metamorphic.py",
    "tests/unit/plugins/plugin_utils/_observe/test_facts_direct.py",
]

RAN = "ran.json"  # in the workspace: the files a finished run mutated there (see the docstring)
KILLED = {"killed", "timeout", "segfault"}
PROGRESS = re.compile(r"(\d+)/(\d+)\s+🎉 (\d+) 🫥 (\d+)\s+⏰ (\d+)\s+🤔 (\d+)\s+🙁 (\d+)")


def module_glob(f):
    """mutmut's name pattern for every mutant of repository file ``f``."""
    return ".".join(("ansible_collections", "fleetsec", "vmscape", *Path(f).with_suffix("").parts, "*"))


TIMEOUT_MULTIPLIER = 5.0


def mutmut_config(timeout_multiplier=TIMEOUT_MULTIPLIER):
    src = [str(PKG / f) for f in FILES]
    selection = ["tests/unit", *(f"--ignore={t}" for t in SLOW_TESTS)]
    return "\n".join(
        [
            "[tool.mutmut]",
            f"source_paths = [{json.dumps(str(PKG / 'plugins'))}]",
            # every file is mutated (generation is cached); --mutate picks the mutants that run
            f"only_mutate = {json.dumps(src)}",
            # the fast suite: unit tests only (no QEMU, no lab), without the end-to-end ones
            f"pytest_add_cli_args_test_selection = {json.dumps(selection)}",
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:xdist"]',
            # A hanging mutant (a parser loop that no longer advances) is stopped after
            # (estimated time of its tests + 2 s) x 5 of wall time; the default x 15 let a few
            # dozen of them cost minutes each. --timeout-multiplier for a loaded machine.
            f"timeout_multiplier = {float(timeout_multiplier)}",
            "timeout_constant = 2.0",
            "use_git_change_detection = false",
            "",
        ]
    )


def pytest_config():
    """The repository's [tool.pytest.ini_options], for the copied tests."""
    text = (REPO / "pyproject.toml").read_text()
    start = text.index("[tool.pytest.ini_options]")
    end = text.find("\n[", start + 1)
    return text[start : end if end != -1 else len(text)].rstrip() + "\n"


def _ignore(_dir, names):
    return {n for n in names if n in ("__pycache__", ".hypothesis", ".pytest_cache", "output") or n.endswith(".pyc")}


def sync_tree(src, dst):
    """Make ``dst`` hold ``src``'s .py files; a file is rewritten (new mtime) only when it changed,
    so mutmut regenerates the mutants of changed files only."""
    wanted = set()
    for path in src.rglob("*"):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        rel = path.relative_to(src)
        wanted.add(rel)
        target = dst / rel
        if target.is_file() and target.read_bytes() == path.read_bytes():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    for path in list(dst.rglob("*")):
        if path.is_file() and path.relative_to(dst) not in wanted:
            path.unlink()


def _but_timeouts(config):
    """A workspace's settings without the timeout multiplier: mutmut keeps every verdict when only
    that changes, except the timeouts (it runs those again)."""
    return [ln for ln in config.splitlines() if not ln.startswith("timeout_multiplier =")]


def prepare(work, fresh, timeout_multiplier=TIMEOUT_MULTIPLIER):
    """The workspace: kept between runs (mutant generation is cached by mtime), except what the
    results depend on: the tests are copied again and the test-to-function map is rebuilt."""
    config = mutmut_config(timeout_multiplier) + "\n" + pytest_config()
    old = work / "pyproject.toml"
    if work.exists() and (fresh or not old.is_file() or _but_timeouts(old.read_text()) != _but_timeouts(config)):
        # another file list or setting: a file mutmut once copied unmutated would stay so
        shutil.rmtree(work)
    (work / PKG).mkdir(parents=True, exist_ok=True)
    sync_tree(REPO / "plugins", work / PKG / "plugins")
    old.write_text(config)

    mutants = work / "mutants"
    # mutmut writes a file's mutants, then its .meta; a generation that was stopped in between
    # leaves a mutant file newer than its source (so mutmut would keep it as "unmodified") but
    # truncated, or without its .meta: such a file is generated again.
    for f in FILES:
        out = mutants / PKG / f
        meta = out.with_name(out.name + ".meta")
        if out.exists() and (not meta.exists() or meta.stat().st_mtime < out.stat().st_mtime):
            out.unlink()
            meta.unlink(missing_ok=True)
    (mutants / "mutmut-stats.json").unlink(missing_ok=True)
    if (mutants / "tests").exists():
        shutil.rmtree(mutants / "tests")
    shutil.copytree(REPO / "tests", mutants / "tests", symlinks=True, ignore=_ignore)
    (mutants / PKG).mkdir(parents=True, exist_ok=True)
    links = [(mutants / PKG / name, REPO / name) for name in COLLECTION_LINKS]
    links += [(mutants / name, REPO / name) for name in REPO_LINKS]
    links += [
        (mutants / "collections/ansible_collections/fleetsec/vmscape", Path("../../..") / PKG),
        (mutants / "plugins", PKG / "plugins"),
    ]
    for link, target in links:
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def record_run(work, files, date):
    """After a mutmut run over ``files`` finished: their results in ``work`` are this run's."""
    path = work / RAN
    ran = json.loads(path.read_text()) if path.is_file() else {}
    for f in files:
        ran[f] = {"run": date, "sha256": _sha256(work / PKG / f)}
    path.write_text(json.dumps(dict(sorted(ran.items())), indent=1) + "\n")


def forget_runs(work, files):
    """Before a run changes ``files``' results: until it finishes they are no finished run's."""
    path = work / RAN
    if path.is_file():
        ran = json.loads(path.read_text())
        path.write_text(json.dumps({f: r for f, r in ran.items() if f not in files}, indent=1) + "\n")


def report_only_problems(work, files):
    """Why ``files`` cannot be scored from ``work`` without a run: [(file, reason)], empty if they can."""
    path = work / RAN
    ran = json.loads(path.read_text()) if path.is_file() else {}
    problems = []
    for f in files:
        if f not in ran:
            problems.append((f, "no finished run in this workspace"))
        elif _sha256(work / PKG / f) != ran[f]["sha256"]:
            problems.append((f, f"the workspace's copy changed since its run of {ran[f]['run']}"))
        elif _sha256(REPO / f) != ran[f]["sha256"]:
            problems.append((f, f"changed in the repository since its run of {ran[f]['run']}"))
    return problems


def refuse_report_only(work, files):
    problems = report_only_problems(work, files)
    if not problems:
        return
    path = work / RAN
    ran = sorted(json.loads(path.read_text())) if path.is_file() else []
    ok = [f for f in files if f not in dict(problems)]
    lines = [f"--report-only: {work} cannot score {len(problems)} of the {len(files)} file(s) asked for:"]
    lines += [f"  {f}: {why}" for f, why in problems]
    lines.append(f"  files with a finished run there: {', '.join(ran) if ran else 'none'}")
    if ok:
        lines.append("  score only those (--mutate " + " --mutate ".join(ok) + "),")
        lines.append("  or run the others (--mutate FILE, --rerun-survivors to go on where a run stopped).")
    else:
        lines.append("  run them (--mutate FILE, --rerun-survivors to go on where a run stopped).")
    lines.append(f"Nothing was written: {SUMMARY}, {TESTING_MD} and {README} are as they were.")
    raise SystemExit("\n".join(lines))


def check_results(work, files):
    """mutmut rewrites a file's results (``<file>.meta``, JSON) after every mutant, in place: a run
    stopped by a signal in the middle of that write leaves it cut off, and mutmut then fails on it
    without naming it. Name such a file and what to do."""
    for f in files:
        meta = work / "mutants" / PKG / (f + ".meta")
        try:
            json.loads(meta.read_text()) if meta.is_file() else None
        except ValueError as e:
            raise SystemExit(
                f"{meta}: not valid JSON ({e}): a run was stopped while mutmut wrote it. Its results up to "
                "that point are in the part that is there (exit_code_by_key comes first); repair it, or delete "
                f"it and {meta.with_suffix('')} to generate the mutants of {f} again (their results are lost)."
            ) from None


def load_equivalents():
    """Entries either name one mutant (``removed`` and ``added`` lines) or a rule (``replace: [old,
    new]``: every single-line mutant of ``function`` (``*``: any) that is its line with ``old``
    replaced by ``new``)."""
    entries = yaml.safe_load(EQUIVALENT.read_text()) or []
    for e in entries:
        shape = {"removed", "added"} if "replace" not in e else {"replace"}
        missing = ({"file", "function", "why"} | shape) - set(e)
        if missing:
            raise SystemExit(f"{EQUIVALENT}: entry {e!r} lacks {sorted(missing)}")
        if e["file"] not in FILES:
            raise SystemExit(f"{EQUIVALENT}: {e['file']} is not in the mutation set")
    return entries


def matches(entry, f, survivor):
    if entry["file"] != f or entry["function"] not in ("*", survivor["function"]):
        return False
    if "replace" in entry:
        old, new = entry["replace"]
        removed, added = survivor["removed"], survivor["added"]
        return len(removed) == len(added) == 1 and old in removed[0] and removed[0].replace(old, new) == added[0]
    return [x.strip() for x in entry["removed"]] == survivor["removed"] and [
        x.strip() for x in entry["added"]
    ] == survivor["added"]


def diff_lines(diff):
    removed = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    added = [ln[1:].strip() for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    return removed, added


def mutants_with_status(work, files, wanted):
    """Names of the mutants of ``files`` whose last result was ``wanted`` (e.g. "timeout")."""
    from mutmut.stats import status_by_exit_code

    names = []
    for f in files:
        meta = work / "mutants" / PKG / (f + ".meta")
        if meta.is_file():
            codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
            names += [n for n, code in sorted(codes.items()) if status_by_exit_code.get(code) == wanted]
    return names


def run_mutmut(work, jobs, files, names=None):
    log = work / "mutmut.log"
    env = dict(os.environ, HYPOTHESIS_PROFILE="mutation", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)
    # naming the mutants re-runs them all, whatever an earlier run found
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *(names or map(module_glob, files))]
    last = ""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env)
        while proc.poll() is None:
            time.sleep(30)
            tail = log.read_bytes()[-4000:].decode("utf-8", "replace")
            found = PROGRESS.findall(tail)
            if found:
                done, total, killed, no_tests, timeout, suspicious, survived = found[-1]
                line = (
                    f"  {done}/{total} mutants: {killed} killed, {timeout} timeout, {survived} survived, "
                    f"{no_tests} no tests, {suspicious} suspicious  (load {os.getloadavg()[0]:.1f})"
                )
                if line != last:
                    print(line, flush=True)
                    last = line
    if proc.returncode != 0:
        tail = log.read_bytes()[-3000:].decode("utf-8", "replace")
        raise SystemExit(f"mutmut run failed (exit {proc.returncode}); {log}:\n{tail}")


def collect(work, files):
    """Per file: counts by status and the surviving mutants with their diffs."""
    sys.path.insert(0, str(work))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        from mutmut.mutation.data import SourceFileMutationData
        from mutmut.mutation.diff_apply import get_diff_for_mutant
        from mutmut.stats import status_by_exit_code
        from mutmut.utils.format_utils import orig_function_and_class_names_from_key

        result = {}
        for f in files:
            data = SourceFileMutationData(path=PKG / f)
            data.load()
            counts, survivors = {}, []
            for name, code in sorted(data.exit_code_by_key.items(), key=lambda kv: _mutant_order(kv[0])):
                status = status_by_exit_code[code]
                counts[status] = counts.get(status, 0) + 1
                if status in KILLED or status == "not checked":
                    continue
                func, cls = orig_function_and_class_names_from_key(name)
                removed, added = diff_lines(get_diff_for_mutant(name, path=PKG / f))
                survivors.append(
                    {
                        "mutant": name.rpartition(".")[2],
                        "function": f"{cls}.{func}" if cls else func,
                        "status": status,
                        "removed": removed,
                        "added": added,
                    }
                )
            result[f] = {"counts": counts, "survivors": survivors}
        return result
    finally:
        os.chdir(cwd)


def _mutant_order(name):
    base, _, n = name.rpartition("__mutmut_")
    return base, int(n) if n.isdigit() else 0


def score(files_result, equivalents):
    rows = {}
    used = {}
    for f, res in files_result.items():
        counts = res["counts"]
        total = sum(counts.values())
        killed = sum(counts.get(s, 0) for s in KILLED)
        equivalent, open_ = [], []
        for s in res["survivors"]:
            match = next((i for i, e in enumerate(equivalents) if matches(e, f, s)), None)
            if match is None:
                open_.append(s)
            else:
                used[match] = used.get(match, 0) + 1
                equivalent.append(s)
        scored = total - len(equivalent)
        rows[f] = {
            "mutants": total,
            "killed": counts.get("killed", 0),
            "timeout": counts.get("timeout", 0) + counts.get("segfault", 0),
            "survived": counts.get("survived", 0),
            "no_tests": counts.get("no tests", 0),
            "not_checked": counts.get("not checked", 0),
            "other": sum(v for k, v in counts.items() if k not in KILLED | {"survived", "no tests", "not checked"}),
            "equivalent": len(equivalent),
            "score": round(100.0 * killed / scored, 1) if scored else 100.0,
            "not_killed": [{k: s[k] for k in ("function", "status", "removed", "added")} for s in open_],
        }
    return rows, used


def survivors_md(files_result, rows):
    out = ["# Surviving mutants of the last `make mutation` run", ""]
    out.append("Not in tools/mutation/equivalent.yaml: kill them with a test, or judge them equivalent there.")
    for f, row in rows.items():
        if not row["not_killed"]:
            continue
        out += ["", f"## {f} ({len(row['not_killed'])})", ""]
        for s in row["not_killed"]:
            out.append(f"- `{s['function']}` ({s['status']})")
            out.append("  ```diff")
            out += [f"  - {ln}" for ln in s["removed"]] + [f"  + {ln}" for ln in s["added"]]
            out.append("  ```")
    return "\n".join(out) + "\n"


def table_md(summary):
    rows = summary["files"]
    out = [
        "| file | mutants | killed | timeout | survived | no test reached | equivalent | score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in FILES:
        if f not in rows:
            continue
        r = rows[f]
        mark = "" if r["score"] >= TARGET else " **(below target)**"
        if r.get("not_checked"):
            mark += f" ({r['not_checked']} not run yet, counted as not killed)"
        out.append(
            f"| {f.removeprefix('plugins/')} | {r['mutants']} | {r['killed']} | {r['timeout']} | {r['survived']} "
            f"| {r['no_tests']} | {r['equivalent']} | {r['score']:.1f} %{mark} |"
        )
    t = summary["totals"]
    out.append(
        f"| **all** | {t['mutants']} | {t['killed']} | {t['timeout']} | {t['survived']} | {t['no_tests']} "
        f"| {t['equivalent']} | {t['score']:.1f} % |"
    )
    return "\n".join(out)


def equivalents_md(equivalents, used):
    out = []
    order = sorted(
        range(len(equivalents)), key=lambda i: (FILES.index(equivalents[i]["file"]), equivalents[i]["function"])
    )
    for i in order:
        e = equivalents[i]
        if "replace" in e:
            change = f"every `{e['replace'][0]}` -> `{e['replace'][1]}`"
        else:
            change = "; ".join(
                [f"`{r}` -> `{a}`" for r, a in zip(e["removed"], e["added"], strict=False)]
                or [f"`{r}` removed" for r in e["removed"]]
            )
        n = used.get(i, 0)
        count = f" ({n} mutants)" if n > 1 else ""
        out.append(f"- `{e['file'].removeprefix('plugins/')}` `{e['function']}`: {change}{count}. {e['why'].strip()}")
    return "\n".join(out) if out else "(none)"


def replace_section(text, name, body):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"{TESTING_MD}: markers {begin} / {end} missing")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def replace_inline(text, name, body, where):
    """Replace what stands between ``<!-- name:begin -->`` and ``<!-- name:end -->`` on one line."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    m = re.search(re.escape(begin) + r"[^\n]*?" + re.escape(end), text)
    if not m:
        raise SystemExit(f"{where}: markers {begin} ... {end} (on one line) missing")
    return text[: m.start()] + begin + body + end + text[m.end() :]


def readme_line(summary):
    """The one-line quote in README's testing section."""
    t, rows = summary["totals"], summary["files"]
    below = [f.removeprefix("plugins/") for f in FILES if f in rows and rows[f]["score"] < TARGET]
    scores = [rows[f]["score"] for f in FILES if f in rows]
    dates = sorted({rows[f]["run"][:10] for f in FILES if f in rows})
    files = f"{len(rows)} files" if len(rows) == len(FILES) else f"{len(rows)} of the {len(FILES)} files"
    line = (
        f"{t['mutants']} mutants in {files}, {t['score']:.1f} % of the non-equivalent ones killed "
        f"(per file {min(scores):.1f} to {max(scores):.1f} %; target 90 % per file"
    )
    line += f", not met by {', '.join(below)}" if below else ", met by every file"
    partial = [
        f"{f.removeprefix('plugins/')} ({rows[f]['not_checked']} of {rows[f]['mutants']} not run yet)"
        for f in FILES
        if f in rows and rows[f].get("not_checked")
    ]
    if partial:
        line += f"; partly run: {', '.join(partial)}"
    return line + f"; {'runs' if len(dates) > 1 else 'run'} of {' to '.join(dates[:1] + dates[1:][-1:])})."


def totals(rows):
    keys = ("mutants", "killed", "timeout", "survived", "no_tests", "not_checked", "other", "equivalent")
    t = {k: sum(r[k] for r in rows.values()) for k in keys}
    scored = t["mutants"] - t["equivalent"]
    t["score"] = round(100.0 * (t["killed"] + t["timeout"]) / scored, 1) if scored else 100.0
    return t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mutate", action="append", default=[], help="repository path(s) of the files to mutate")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    p.add_argument("--workdir", type=Path, default=WORK)
    p.add_argument("--fresh", action="store_true", help="rebuild the workspace (regenerate every mutant)")
    p.add_argument("--no-write", action="store_true", help="print the scores, leave docs/ alone")
    p.add_argument("--report-only", action="store_true", help="score an existing workspace, do not run mutmut")
    p.add_argument(
        "--rerun-timeouts",
        action="store_true",
        help="run again only the mutants whose last result was a timeout (a loaded machine can make a slow "
        "test look like a hang: mutmut's timeout is wall time; run this when it is quieter); with "
        "--rerun-survivors, the mutants of both kinds",
    )
    p.add_argument(
        "--rerun-survivors",
        action="store_true",
        help="run again only the mutants that survived, reached no test or were not checked last time (after "
        "adding tests: a killed mutant stays killed while the code is the same; run a file whose code changed "
        "whole, without this option)",
    )
    p.add_argument(
        "--timeout-multiplier",
        type=float,
        default=TIMEOUT_MULTIPLIER,
        help="a mutant is stopped as hanging after (estimated time of its tests + 2 s) x this, of wall time "
        f"(default {TIMEOUT_MULTIPLIER:g}); raise it where other work starves this run of CPU, or slow tests are "
        "taken for hangs. mutmut then runs again every mutant that timed out (name them: --rerun-timeouts)",
    )
    args = p.parse_args(argv)

    files = [m for arg in args.mutate for m in re.split(r"[,\s]+", arg) if m] or list(FILES)
    unknown = [f for f in files if f not in FILES]
    if unknown:
        raise SystemExit(f"not in the mutation set (tools/mutation/run.py FILES): {unknown}")

    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    t0 = time.monotonic()
    if args.report_only:
        check_results(args.workdir, files)
        refuse_report_only(args.workdir, files)
    else:
        print(f"mutation: {len(files)} file(s), {args.jobs} job(s), workspace {args.workdir}", flush=True)
        prepare(args.workdir, args.fresh, args.timeout_multiplier)
        check_results(args.workdir, files)
        forget_runs(args.workdir, files)
        names = None
        if args.rerun_timeouts or args.rerun_survivors:  # both: the mutants of either kind
            wanted = ("timeout",) if args.rerun_timeouts else ()
            wanted += ("survived", "no tests", "not checked") if args.rerun_survivors else ()
            names = sorted({n for s in wanted for n in mutants_with_status(args.workdir, files, s)})
            print(f"  {len(names)} mutant(s) whose last result was: {', '.join(wanted)}", flush=True)
        if names != []:
            run_mutmut(args.workdir, args.jobs, files, names)
        record_run(args.workdir, files, started.strftime("%Y-%m-%d %H:%M UTC"))
    wall = time.monotonic() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()

    files_result = collect(args.workdir, files)
    equivalents = load_equivalents()
    rows, used = score(files_result, equivalents)
    (args.workdir / "survivors.md").write_text(survivors_md(files_result, rows))

    run = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "files": files,
        "wall_s": round(wall),
        "cpu_s": round(usage.ru_utime + usage.ru_stime),
        "jobs": args.jobs,
        "load_before": [round(x, 1) for x in load_before],
        "load_after": [round(x, 1) for x in load_after],
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "mutmut": MUTMUT_VERSION,
        "hypothesis_profile": "mutation",
    }
    # A run replaces only its files' rows (a full run: all of them); the last five runs are kept
    # with their wall time, CPU time and load.
    summary = {"target_percent": TARGET, "runs": [], "files": {}}
    if SUMMARY.exists():
        summary = json.loads(SUMMARY.read_text())
    for f, row in rows.items():
        summary["files"][f] = {**row, "run": run["date"]}
    summary["files"] = {f: summary["files"][f] for f in FILES if f in summary["files"]}
    if not args.report_only:  # scoring an existing workspace measures no run
        summary["runs"] = [*summary["runs"], run][-5:]
    summary["totals"] = totals(summary["files"])

    print()
    print(table_md(summary))
    print()
    print(
        f"wall {run['wall_s']} s, CPU {run['cpu_s']} s, {args.jobs} jobs on {run['cores']} cores, "
        f"load {load_before[0]:.1f} -> {load_after[0]:.1f}; survivors: {args.workdir / 'survivors.md'}"
    )
    stale = [e for i, e in enumerate(equivalents) if e["file"] in files and i not in used]
    for e in stale:
        print(f"equivalent.yaml entry matched no survivor (code or tests changed?): {e['file']} {e['function']}")
    below = [f for f in files if rows[f]["score"] < TARGET]
    if not args.no_write:
        SUMMARY.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
        text = TESTING_MD.read_text()
        text = replace_section(text, "mutation-score", table_md(summary))
        text = replace_section(text, "mutation-equivalents", equivalents_md(equivalents, used))
        TESTING_MD.write_text(text)
        README.write_text(replace_inline(README.read_text(), "mutation-summary", readme_line(summary), README))
        print(f"wrote {SUMMARY}, the mutation sections of {TESTING_MD}, {README}")
    if below:
        print(f"below the {TARGET:.0f} % target: {', '.join(below)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
