"""Failing, hanging and lying regeneration commands (update-grub) during a change.

Every faulty run must fail with a message that says what happened (bounded in size), leave
the GRUB defaults and grub.cfg byte for byte as they were, remove what the command created,
leave no copy and no intent behind, and the host bootable (the judge). An honest command -
the stand-in and the real grub-mkconfig - must succeed and give a bootable menu carrying the
parameter; a custom-only menu (no 10_linux section) succeeds with the warning saying so.
"""

import json
import time

import pytest

CHANGE = {"params": {"vmscape": "ibpb"}}

FAULTS = [
    # mode, extra module args, words the message must contain
    ("fail", {}, ["update-grub failed (rc=1)", "not found"]),
    ("fail-50mb", {}, ["update-grub failed (rc=1)", "out of cheese"]),
    ("hang", {"regenerate_timeout": 3}, ["did not finish within 3 s and was killed"]),
    ("hang-child", {"regenerate_timeout": 3}, ["did not finish within 3 s and was killed"]),
    ("extra-files-fail", {}, ["failed (rc=2)", "grub.cfg.bak"]),
    ("empty", {}, ["is empty"]),
    ("no-linux", {}, ["no bootable default entry"]),
    ("truncated", {}, ["grub-script-check rejects"]),
    ("drop-param", {}, ["vmscape occurs 0 times"]),
    ("missing-kernel", {}, ["kernel image does not exist"]),
    ("real-then-truncate", {}, ["grub-script-check rejects"]),
]


def test_faulty_regeneration_changes_nothing_and_says_why(tmp_path, tally):
    t = tally("regeneration: failing/hanging/lying", "update-grub: " + ", ".join(m for m, _a, _w in FAULTS))
    from harness import Sandbox

    problems = []
    for mode, extra, words in FAULTS:
        sb = Sandbox(tmp_path / mode, mode=mode)
        before = sb.files()
        start = time.monotonic()
        res, _rc, seconds, err = sb.run_module(dict(CHANGE, **extra))
        t.runs += 1
        t.injected += 1
        assert res is not None, err
        after = sb.files()
        lost = after != before or sb.intent_exists()
        bootable, why = sb.judge()
        t.data_lost += int(lost)
        t.unbootable += int(not bootable)
        msg = res.get("msg", "")
        clear = bool(res.get("failed")) and all(w in msg for w in words) and len(msg) < 8192
        t.clear_errors += int(clear)
        size = len(json.dumps(res))
        if not clear or lost or not bootable or size > 256 * 1024:
            problems.append((mode, msg[:600], lost, why, size))
        if mode.startswith("hang"):
            # the deadline, the TERM grace and the module's own start, nothing more
            assert time.monotonic() - start < 3 + 5 + 30, mode
        t.notes.append(f"{mode}: {seconds:.1f} s, result {size} bytes")
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("mode", ["honest", "real"])
def test_honest_regeneration_succeeds_and_boots(tmp_path, tally, mode):
    t = tally(f"regeneration: honest ({mode})", "stand-in grub-mkconfig" if mode == "honest" else "real grub-mkconfig")
    from harness import Sandbox

    sb = Sandbox(tmp_path / "sb", mode=mode)
    res, _rc, _s, err = sb.run_module(CHANGE)
    t.runs += 1
    assert res is not None and not res.get("failed"), (res, err)
    t.succeeded += 1
    bootable, why = sb.judge()
    t.unbootable += int(not bootable)
    assert bootable, why
    cfg = (sb.boot / "grub" / "grub.cfg").read_text()
    linux = [line for line in cfg.splitlines() if line.strip().startswith("linux")]
    assert linux and all(line.split().count("vmscape=ibpb") == 1 for line in linux)
    res, _rc, _s, err = sb.run_module({"restore": "latest"})
    t.runs += 1
    assert not res.get("failed"), res
    assert "vmscape=ibpb" not in (sb.boot / "grub" / "grub.cfg").read_text()


def test_menu_without_10_linux_section_warns(tmp_path, tally):
    t = tally("regeneration: custom-only menu", "grub.cfg without a 10_linux section (warning)")
    from harness import Sandbox

    sb = Sandbox(tmp_path / "sb", mode="custom-only")
    res, _rc, _s, err = sb.run_module(CHANGE)
    t.runs += 1
    t.injected += 1
    assert res is not None and not res.get("failed"), (res, err)
    t.succeeded += 1
    assert "no 10_linux section" in json.dumps(res.get("warnings")), res.get("warnings")
    bootable, why = sb.judge()
    t.unbootable += int(not bootable)
    assert bootable, why
