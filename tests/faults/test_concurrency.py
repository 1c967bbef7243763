"""Two real kernel_cmdline runs on one host at the same time, a busy lock, a stale lock.

- Two changes of different parameters started together (update-grub slowed down so they
  overlap): both must succeed and both changes must be in the configuration, grub.cfg and the
  journal (a lost update would drop one); two ``restore: latest`` give the original back.
- A change racing a restore of an earlier change: both succeed, in some order.
- A run that finds the lock held longer than ``lock_timeout`` fails with "busy", naming the
  process that holds it, and changes nothing.
- A holder killed with SIGKILL while update-grub hangs: its orphaned update-grub keeps the lock
  (it inherited it); a run meanwhile is "busy" naming that process; once it is gone the next run
  gets the lock, reports the stale lock and undoes the interrupted change.
"""

import json
import os
import re
import signal
import time

from harness import Sandbox

A = {"params": {"vmscape": "ibpb"}}
B = {"params": {"nowatchdog": None}}
ROUNDS = 3


def _tokens(cfg_text):
    return [line.split() for line in cfg_text.splitlines() if line.strip().startswith("linux")]


def _both(sb, first, second, delay=0.05):
    p1 = sb.start(first)
    time.sleep(delay)
    p2 = sb.start(second)
    out = []
    for p in (p1, p2):
        o, e = p.communicate(timeout=300)
        from harness import parse_result

        out.append((parse_result(o), e.decode("utf-8", "replace")))
    return out


def test_two_changes_at_once_both_land(tmp_path, tally):
    t = tally("concurrency: two changes at once", f"{ROUNDS} rounds of 2 simultaneous changes (different parameters)")
    problems = []
    for r in range(ROUNDS):
        sb = Sandbox(tmp_path / f"round-{r}", mode="slow")
        original = sb.config()
        first, second = (A, B) if r % 2 == 0 else (B, A)
        results = _both(sb, first, second)
        t.injected += 1
        t.runs += 2
        for res, err in results:
            if not res or res.get("failed"):
                problems.append(f"round {r}: a run failed: {(res or {}).get('msg') or err[-300:]}")
            else:
                t.succeeded += 1
        cfg = (sb.boot / "grub" / "grub.cfg").read_text()
        normal = [toks for toks in _tokens(cfg) if "single" not in toks]
        if not normal or not all("vmscape=ibpb" in toks and "nowatchdog" in toks for toks in normal):
            t.data_lost += 1
            problems.append(f"round {r}: a change reported successful is missing from grub.cfg")
        entries = (sb.journal() or {}).get("entries", [])
        if len(entries) != 2:
            t.data_lost += 1
            problems.append(f"round {r}: {len(entries)} journal entries, want 2")
        bootable, _why = sb.judge()
        t.unbootable += int(not bootable)
        undo_all(sb, t)
        if sb.config() != original:
            t.data_lost += 1
            problems.append(f"round {r}: undoing both changes did not give the original configuration back")
    assert not problems, "\n".join(map(str, problems))


def test_change_racing_a_restore(tmp_path, tally):
    t = tally("concurrency: change racing a restore", f"{ROUNDS} rounds: restore: latest and a new change at once")
    problems = []
    for r in range(ROUNDS):
        sb = Sandbox(tmp_path / f"round-{r}", mode="slow")
        original = sb.config()
        res, _rc, _s, err = sb.run_module(A)
        assert res and not res.get("failed"), err
        first, second = ({"restore": "latest"}, B) if r % 2 == 0 else (B, {"restore": "latest"})
        results = _both(sb, first, second)
        t.injected += 1
        t.runs += 3
        for res, err in results:
            if not res or res.get("failed"):
                problems.append(f"round {r}: {(res or {}).get('msg') or err[-300:]}")
            else:
                t.succeeded += 1
        cfg = (sb.boot / "grub" / "grub.cfg").read_text()
        normal = [toks for toks in _tokens(cfg) if "single" not in toks]
        # Serializable: the lock lets one run first. Restore first: it undoes A (the latest
        # entry then), B lands. Change first: B is the latest entry, the restore undoes B.
        restore_res = results[0][0] if "restore" in first else results[1][0]
        undid = ((restore_res or {}).get("restored_entry") or {}).get("params", {})
        want_a, want_b = ("vmscape" not in undid), ("nowatchdog" not in undid)
        if not normal or not all(
            ("vmscape=ibpb" in toks) == want_a and ("nowatchdog" in toks) == want_b for toks in normal
        ):
            t.data_lost += 1
            problems.append(f"round {r}: grub.cfg is not what one order of the two runs gives (undid {undid})")
        bootable, _why = sb.judge()
        t.unbootable += int(not bootable)
        undo_all(sb, t)
        if sb.config() != original:
            t.data_lost += 1
            problems.append(f"round {r}: the original configuration did not come back")
    assert not problems, "\n".join(map(str, problems))


def undo_all(sb, t):
    """Restore every journaled change not restored yet, newest first (``latest`` is always the
    newest entry; an older one is restored by its id)."""
    for e in reversed((sb.journal() or {}).get("entries", [])):
        if e.get("restored") is None:
            res, _rc, _s, err = sb.run_module({"restore": e["id"]})
            t.runs += 1
            assert res and not res.get("failed"), (res or {}).get("msg") or err


def _holders_named(msg):
    return "busy" in msg and "held by" in msg and "recorded holder: pid" in msg


def test_busy_lock_names_the_holder_and_changes_nothing(tmp_path, tally):
    t = tally("concurrency: busy lock", "a run waits 2 s for a run whose update-grub hangs")
    sb = Sandbox(tmp_path / "sb", mode="hang")
    before = sb.files()
    holder = sb.start(dict(A, regenerate_timeout=8))
    time.sleep(2.5)  # the holder is in its update-grub by now
    res, _rc, _s, err = sb.run_module(dict(B, lock_timeout=2))
    t.injected += 1
    t.runs += 2
    msg = (res or {}).get("msg", "")
    ok = bool(res and res.get("failed")) and _holders_named(msg) and str(holder.pid) in msg
    t.clear_errors += int(ok)
    holder.communicate(timeout=120)
    assert ok, msg or err[-500:]
    assert sb.files() == before  # the holder timed out and put everything back; B touched nothing
    bootable, why = sb.judge()
    t.unbootable += int(not bootable)
    assert bootable, why
    sb.set_mode("honest")
    res, _rc, _s, err = sb.run_module(B)
    t.runs += 1
    assert res and not res.get("failed"), err
    t.succeeded += 1


def test_stale_lock_after_sigkill_is_recovered(tmp_path, tally):
    t = tally("concurrency: stale lock (holder killed)", "SIGKILL of a run whose update-grub hangs")
    sb = Sandbox(tmp_path / "sb", mode="hang")
    original = sb.config()
    holder = sb.start(A)
    time.sleep(2.5)
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=60)
    t.injected += 1
    t.runs += 1
    # the orphaned update-grub still holds the lock it inherited
    res, _rc, _s, err = sb.run_module(dict(B, lock_timeout=2))
    t.runs += 1
    msg = (res or {}).get("msg", "")
    assert res and res.get("failed") and "busy" in msg, msg or err
    assert "update-grub" in msg or "sleep" in msg or "sh" in msg, msg  # the process that holds it
    t.clear_errors += 1
    bootable, why = sb.judge()
    t.unbootable += int(not bootable)
    assert bootable, why  # /etc/default/grub may be new, grub.cfg is still the old one
    # end the orphan (its session) like an operator would, with the pid the message names
    pids = [int(p) for p in re.findall(r"(\d+) \(", msg.split("held by:", 1)[1].split(";", 1)[0])]
    assert pids, msg
    for pid in pids:
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except OSError:
            pass
    assert sb.wait_quiet(30)
    sb.set_mode("honest")
    res, _rc, _s, err = sb.run_module(B)
    t.runs += 1
    assert res and not res.get("failed"), err
    text = json.dumps(res.get("notes")) + json.dumps(res.get("warnings"))
    assert "stale run lock" in text and "rolled back" in text, text
    t.clear_errors += 1
    t.succeeded += 1
    res, _rc, _s, err = sb.run_module({"restore": "latest"})
    t.runs += 1
    if sb.config() != original:
        t.data_lost += 1
    assert sb.config() == original
