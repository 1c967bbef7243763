"""SIGKILL at random points of real kernel_cmdline runs (deterministic seeds).

``killpoint.py`` counts the state-changing steps of a run (renames, unlinks, fsyncs, mkdirs,
writes, commands started and ended); seed ``s`` picks step ``N = Random(s).randint(1, steps)``
and the run SIGKILLs itself there - before the intent, between backups, between a config write
and the regeneration, while update-grub runs (it keeps running, orphaned, holding the lock),
between the journal entry and the intent's removal. Other seeds kill the module from outside
after a random delay, and some kill a ``restore: latest`` instead of a change.

After each kill: the host must be bootable as it is (as if the power went out right then:
``judge``) and its GRUB defaults must be the ones from before or exactly the intended ones,
never a mix. The next run (``restore: latest``) must undo or finish the interrupted one (saying
so) and give the original configuration back byte for byte; every fourth seed instead re-applies
the change, which must give exactly the intended configuration.
"""

import json
import os
import random
import signal
import time

import pytest
from harness import Sandbox

CHANGE = {"params": {"vmscape": "ibpb"}}
EVENT_SEEDS = list(range(52))
TIMED_SEEDS = list(range(100, 110))
RESTORE_SEEDS = list(range(200, 210))
CHUNKS = 4


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Original and intended configuration, steps of a change and of a restore, a run's duration."""
    base = tmp_path_factory.mktemp("reference")
    sb = Sandbox(base / "change")
    original = sb.config()
    t = time.monotonic()
    res, _rc, _s, err = sb.run_module(CHANGE, killpoint=0)
    duration = time.monotonic() - t
    assert res and not res.get("failed"), err
    steps = int(err.split("KILLPOINT-EVENTS")[-1].split()[0])
    intended = sb.config()
    assert intended != original
    res, _rc, _s, err = sb.run_module({"restore": "latest"}, killpoint=0)
    assert res and not res.get("failed"), err
    restore_steps = int(err.split("KILLPOINT-EVENTS")[-1].split()[0])
    assert sb.config() == original
    return {
        "original": original,
        "intended": intended,
        "steps": steps,
        "restore_steps": restore_steps,
        "duration": duration,
    }


def _interrupted_note(res):
    text = json.dumps((res or {}).get("warnings")) + json.dumps((res or {}).get("notes"))
    return "interrupted kernel_cmdline run" in text


def _one(tmp_path, ref, seed, t, kind):
    sb = Sandbox(tmp_path / f"seed-{seed}")
    rnd = random.Random(seed)
    if kind == "restore":
        res, _rc, _s, err = sb.run_module(CHANGE)
        assert res and not res.get("failed"), err
        point = rnd.randint(1, ref["restore_steps"])
        killed_args, expect_states = {"restore": "latest"}, (ref["intended"], ref["original"])
    else:
        point = rnd.randint(1, ref["steps"]) if kind == "event" else None
        killed_args, expect_states = CHANGE, (ref["original"], ref["intended"])
    if kind == "timed":
        # Most of a run is Python and Ansible starting: aim at its second half, where it writes.
        delay = rnd.uniform(0.5, 1.0) * ref["duration"]
        p = sb.start(killed_args)
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.communicate(timeout=120)
        rc = p.returncode
        where = f"{delay:.2f} s"
    else:
        _res, rc, _s, _err = sb.run_module(killed_args, killpoint=point)
        where = f"step {point}"
    t.runs += 1
    t.injected += 1
    assert sb.wait_quiet(60), f"the run lock stayed held after the kill (seed {seed})"
    problems = []
    # 1. As it is now, as if the power went out right after the kill.
    bootable, why = sb.judge()
    if not bootable:
        t.unbootable += 1
        problems.append(f"unbootable after the kill at {where}: {why}")
    now = sb.config()
    if now not in expect_states:
        t.data_lost += 1
        problems.append(f"after the kill at {where} the GRUB defaults are neither the old nor the new ones")
    had_intent = sb.intent_exists()
    # 2. The next run undoes or finishes it.
    reapply = kind == "event" and seed % 4 == 0
    if reapply:
        res, _rc, _s, err = sb.run_module(CHANGE)
        t.runs += 1
        if not res or res.get("failed") or sb.config() != ref["intended"]:
            t.data_lost += 1
            problems.append("re-applying after the kill at {}: {}".format(where, (res or {}).get("msg") or err[-300:]))
        else:
            t.succeeded += 1
    else:
        for _ in range(2):  # a killed restore may need the change's restore once more
            res, _rc, _s, err = sb.run_module({"restore": "latest"})
            t.runs += 1
            if sb.config() == ref["original"]:
                break
        if sb.config() != ref["original"]:
            t.data_lost += 1
            problems.append(f"the original configuration did not come back after the kill at {where}")
        else:
            t.succeeded += 1
    if had_intent:
        if _interrupted_note(res):
            t.clear_errors += 1
        else:
            problems.append(f"the run after the kill at {where} did not report the interrupted run")
    if sb.intent_exists():
        problems.append(f"an intent record stayed after recovery (kill at {where})")
    if sb.litter():
        problems.append(f"left behind after recovery (kill at {where}): {sb.litter()}")
    bootable, why = sb.judge()
    if not bootable:
        t.unbootable += 1
        problems.append(f"unbootable after recovery (kill at {where}): {why}")
    t.notes.append(f"seed {seed}: {where}, rc {rc}, intent left: {had_intent}")
    return problems


def _chunk(seeds, i):
    return [s for n, s in enumerate(seeds) if n % CHUNKS == i]


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_sigkill_at_every_kind_of_step(tmp_path, reference, tally, chunk):
    t = tally(
        "SIGKILL during a change (step)",
        f"{len(EVENT_SEEDS)} seeds; kill at a random state-changing step ({reference['steps']} per run)",
    )
    problems = []
    for seed in _chunk(EVENT_SEEDS, chunk):
        problems += _one(tmp_path, reference, seed, t, "event")
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("chunk", range(2))
def test_sigkill_from_outside_and_during_restore(tmp_path, reference, tally, chunk):
    t = tally("SIGKILL during a change (timed)", f"{len(TIMED_SEEDS)} seeds; kill -9 after a random delay")
    t2 = tally(
        "SIGKILL during a restore (step)",
        f"{len(RESTORE_SEEDS)} seeds; kill at a random step of restore: latest ({reference['restore_steps']} per run)",
    )
    problems = []
    for seed in TIMED_SEEDS[chunk::2]:
        problems += _one(tmp_path, reference, seed, t, "timed")
    for seed in RESTORE_SEEDS[chunk::2]:
        problems += _one(tmp_path, reference, seed, t2, "restore")
    assert not problems, "\n".join(map(str, problems))
