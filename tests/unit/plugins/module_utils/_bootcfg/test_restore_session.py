"""A journaled change restored through the one apply path (``_bootcfg.restore.Restore`` with
``Session.apply``): the preview, a file changed since the entry (refused, or overwritten with
force and said so), an entry already restored, an empty journal (found by `make mutation`: only the
end-to-end module tests reached restore.py).

The root is Debian's /etc/default/grub written by hand; the stand-in update-grub is never run
(regenerate false) and chroot is declared possible. Checksums are computed here with hashlib from
the bytes the test wrote.
"""

import hashlib

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.apply import Session, new_result
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as grub_backend
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.change import Change
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.restore import Restore
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request

BEFORE = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="console=ttyS0"\n'
AFTER = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="console=ttyS0 vmscape=ibpb"\n'
JOURNAL = "var/lib/fleetsec-vmscape/kernel_cmdline-journal.json"


@pytest.fixture
def root(tmp_path, monkeypatch):
    r = tmp_path / "root"
    (r / "etc/default").mkdir(parents=True)
    (r / "etc/default/grub").write_text(BEFORE)
    (r / "usr/sbin").mkdir(parents=True)
    (r / "usr/sbin/update-grub").write_text("#!/bin/sh\nexit 1\n")
    (r / "usr/sbin/update-grub").chmod(0o755)
    monkeypatch.setattr(grub_backend, "chroot_problem", lambda r: None)
    return r


def apply(root, op, check_mode=False):
    warnings, result = [], new_result()
    with Session(str(root), "test", check_mode=check_mode, warn=warnings.append, regenerate=False) as s:
        s.apply(op, result)
    return result, warnings


def short(text):
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def test_nothing_journaled_is_refused_naming_the_journal(root):
    with pytest.raises(BootConfigError) as err:
        apply(root, Restore("latest"))
    assert str(err.value) == f"{root}/{JOURNAL}: no journaled change to restore (the journal does not exist)"


def test_a_change_restored_previewed_then_done_then_reported(root):
    change, _w = apply(root, Change(build_request({"vmscape": "ibpb"}, [])))
    entry = change["journal_entry"]
    preview, warnings = apply(root, Restore("latest"), check_mode=True)
    assert {k: preview[k] for k in ("changed", "backend", "backend_reason", "files", "previous_cmdline")} == {
        "changed": True,
        "backend": "grub",
        "backend_reason": f"journal entry {entry}",
        "files": [f"{root}/etc/default/grub"],
        "previous_cmdline": "console=ttyS0 vmscape=ibpb",
    }
    assert (preview["effective_cmdline"], preview["regenerate_commands"], warnings) == (
        "console=ttyS0",
        [["chroot", str(root), "update-grub"]],
        [],
    )
    assert (root / "etc/default/grub").read_text() == AFTER  # a preview changes nothing

    done, warnings = apply(root, Restore(entry))
    assert (done["changed"], done["effective_cmdline"], done["restored_entry"]["id"]) == (True, "console=ttyS0", entry)
    assert done["restored_entry"]["restored"]["run"] != entry
    assert warnings == [f"configuration changed; it takes effect after chroot {root} update-grub"]
    assert (root / "etc/default/grub").read_text() == BEFORE

    again, warnings = apply(root, Restore("latest"))
    assert (again["changed"], again["files"], again["previous_cmdline"], again["effective_cmdline"], warnings) == (
        False,
        [],
        "console=ttyS0",
        "console=ttyS0",
        [],
    )
    assert again["notes"] == [
        f"journal entry {entry} was already restored ({done['restored_entry']['restored']['time']})"
    ]


def test_a_file_changed_since_the_entry_is_refused_unless_forced(root):
    entry = apply(root, Change(build_request({"vmscape": "ibpb"}, [])))[0]["journal_entry"]
    edited = AFTER + "# edited\n"
    (root / "etc/default/grub").write_text(edited)
    with pytest.raises(BootConfigError) as err:
        apply(root, Restore("latest"))
    assert str(err.value) == (
        f"journal entry {entry}: changed after it: {root}/etc/default/grub (sha256 {short(edited)}, journaled "
        f"{short(AFTER)}); refusing to overwrite (force: true restores anyway)"
    )
    assert (root / "etc/default/grub").read_text() == edited
    forced, _w = apply(root, Restore("latest", force=True))
    assert forced["notes"] == [
        f"{root}/etc/default/grub changed since entry {entry} (sha256 {short(edited)}, journaled {short(AFTER)}); "
        "overwritten (force)"
    ]
    assert (forced["changed"], (root / "etc/default/grub").read_text()) == (True, BEFORE)
