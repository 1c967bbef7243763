"""A change taken through the one apply path (``_bootcfg.apply.Session.apply`` with
``_bootcfg.change.Change``): what the result says, what the journal records, what is warned about
(found by `make mutation`: only the end-to-end module tests looked at these fields).

Roots are written by hand: Debian's /etc/default/grub and a grub.cfg as grub-mkconfig writes its
10_linux section; systemd-boot's loader.conf and /etc/kernel/cmdline. Regeneration is never run:
the stand-in update-grub only has to exist for the plan to name it, and chroot (which needs root
and /proc, /sys, /dev mounted in the root) is declared possible for the GRUB backend only where a
test says so.
"""

import json

import pytest
from grub_root import defaults, grub_cfg, run_session, write
from grub_root import grub_root as make_root

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import journal
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.change import Change
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request

SET = build_request({"vmscape": "ibpb"}, [])
JOURNAL = "var/lib/fleetsec-vmscape/kernel_cmdline-journal.json"


@pytest.fixture
def grub_root(tmp_path, monkeypatch):
    # update-grub only has to exist for the plan to name it: never run here
    return make_root(
        tmp_path / "root",
        monkeypatch,
        defaults("console=ttyS0"),
        grub_cfg("console=ttyS0", menu_options=" --class debian"),
        "#!/bin/sh\nexit 1\n",
        kernel=False,
    )


def apply(root, check_mode=False, regenerate=True, backup=True, backend="auto"):
    change = Change(SET, backend) if backend != "auto" else Change(SET)
    result, warnings, _runner = run_session(root, change, check_mode=check_mode, regenerate=regenerate, backup=backup)
    return result, warnings


def test_a_preview_names_the_backend_the_command_lines_and_the_regeneration(grub_root):
    result, warnings = apply(grub_root, check_mode=True)
    assert {k: result[k] for k in ("changed", "backend", "backend_reason", "files", "journal_entry")} == {
        "changed": True,
        "backend": "grub",
        "backend_reason": "/etc/default/grub (GRUB defaults, update-grub/grub-mkconfig)",
        "files": [f"{grub_root}/etc/default/grub"],
        "journal_entry": None,
    }
    assert (result["previous_cmdline"], result["effective_cmdline"]) == ("console=ttyS0", "console=ttyS0 vmscape=ibpb")
    assert (result["regenerate_commands"], result["regenerate_skipped"]) == (
        [["chroot", str(grub_root), "update-grub"]],
        None,
    )
    assert (result["notes"], warnings) == ([], [])


def test_a_change_without_regeneration_is_journaled_and_says_when_it_takes_effect(grub_root):
    result, warnings = apply(grub_root, regenerate=False)
    assert result["changed"] is True and result["regenerated"] is False
    assert warnings == [f"configuration changed; it takes effect after chroot {grub_root} update-grub"]
    entries = json.loads((grub_root / JOURNAL).read_text())["entries"]
    assert [(e["id"], e["run"], e["params"], e["effective_cmdline"]) for e in entries] == [
        (result["journal_entry"], result["journal_entry"], {"vmscape": "ibpb"}, "console=ttyS0 vmscape=ibpb")
    ]
    assert journal.load(str(grub_root)).entries[0]["files"][0]["path"] == "/etc/default/grub"
    assert (
        grub_root / "etc/default/grub"
    ).read_text() == 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="console=ttyS0 vmscape=ibpb"\n'


def test_without_backups_there_is_no_journal_entry(grub_root):
    result, _warnings = apply(grub_root, regenerate=False, backup=False)
    assert result["changed"] is True and result["journal_entry"] is None and result["backups"] == {}
    assert not (grub_root / JOURNAL).exists()


def test_an_out_of_date_grub_cfg_is_a_reason_to_regenerate_only_when_regenerating(grub_root):
    write(grub_root, "etc/default/grub", 'GRUB_CMDLINE_LINUX="console=ttyS0 vmscape=ibpb"\n')  # done, not generated
    result, warnings = apply(grub_root, check_mode=True)
    assert (result["changed"], result["files"], warnings) == (True, [], [])
    assert result["notes"] == [
        f"/boot/grub/grub.cfg is out of date: {grub_root}/boot/grub/grub.cfg:3: "
        "vmscape occurs 0 times (want exactly once)"
    ]
    result, warnings = apply(grub_root, check_mode=True, regenerate=False)
    assert (result["changed"], result["notes"], warnings) == (False, [], [])
    result, warnings = apply(grub_root, regenerate=False)  # nothing written: nothing to warn about
    assert (result["changed"], result["journal_entry"], warnings) == (False, None, [])


def test_a_corrupt_journal_stops_a_change_before_anything_is_touched(grub_root):
    write(grub_root, JOURNAL, "{not json")
    with pytest.raises(BootConfigError) as err:
        apply(grub_root, regenerate=False)
    assert str(err.value) == (
        f"{grub_root}/{JOURNAL}:1:2: not valid JSON (Expecting property name enclosed in double quotes); "
        "the journal was left as it is (fix it, or move it away to start a new one)"
    )
    assert (grub_root / "etc/default/grub").read_text() == 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="console=ttyS0"\n'
    result, _warnings = apply(grub_root, regenerate=False, backup=False)  # without backups it is not read
    assert result["changed"] is True


def test_a_forced_backend_is_used_and_said_so(grub_root):
    write(grub_root, "etc/kernel/cmdline", "root=/dev/vda2 rw\n")
    result, _warnings = apply(grub_root, check_mode=True, backend="systemd-boot")
    assert (result["backend"], result["backend_reason"]) == ("systemd-boot", "forced")
    assert (result["previous_cmdline"], result["effective_cmdline"]) == (
        "root=/dev/vda2 rw",
        "root=/dev/vda2 rw vmscape=ibpb",
    )
