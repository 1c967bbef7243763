"""The GRUB defaults editor checks its own edit before anything is written: it follows the edited
files again and refuses unless they give exactly the planned command lines (issue 12 named
"disabling the post-edit self-check" among the planted faults no test caught).

The faults here are planted on purpose, by replacing the editor's ``_Edits.apply`` (which turns
the planned edits into file texts) with a broken one; /etc/default/grub is written by hand as
Debian ships it.
"""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults_edit
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request

SET = build_request({"vmscape": "ibpb"}, [])


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc/default").mkdir(parents=True)
    (tmp_path / "etc/default/grub").write_text('GRUB_CMDLINE_LINUX="ro"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    return tmp_path


def test_an_edit_that_lost_the_change_is_refused(root, monkeypatch):
    monkeypatch.setattr(grub_defaults_edit._Edits, "apply", lambda self: {})
    with pytest.raises(BootConfigError) as err:
        grub_defaults_edit.plan_defaults(str(root), SET)
    assert str(err.value) == (
        "internal check failed: after editing, GRUB_CMDLINE_LINUX would be 'ro' and GRUB_CMDLINE_LINUX_DEFAULT "
        "'quiet' instead of 'ro vmscape=ibpb' and 'quiet'; nothing was written"
    )


def test_an_edit_that_changed_the_other_variable_is_refused(root, monkeypatch):
    edited = 'GRUB_CMDLINE_LINUX="ro vmscape=ibpb"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet x"\n'
    monkeypatch.setattr(grub_defaults_edit._Edits, "apply", lambda self: {0: edited})
    with pytest.raises(BootConfigError) as err:
        grub_defaults_edit.plan_defaults(str(root), SET)
    assert str(err.value) == (
        "internal check failed: after editing, GRUB_CMDLINE_LINUX would be 'ro vmscape=ibpb' and "
        "GRUB_CMDLINE_LINUX_DEFAULT 'quiet x' instead of 'ro vmscape=ibpb' and 'quiet'; nothing was written"
    )


def test_an_edit_the_shell_cannot_follow_is_refused(root, monkeypatch):
    monkeypatch.setattr(grub_defaults_edit._Edits, "apply", lambda self: {0: 'GRUB_CMDLINE_LINUX="ro\n'})
    with pytest.raises(BootConfigError) as err:
        grub_defaults_edit.plan_defaults(str(root), SET)
    assert str(err.value) == (
        f"internal check failed: the edited files cannot be followed ({root}/etc/default/grub:1: unterminated "
        "double quote); nothing was written"
    )


def test_the_real_edit_passes_its_check(root):
    gp = grub_defaults_edit.plan_defaults(str(root), SET)
    assert [(c.label, c.after) for c in gp.changes] == [
        ("/etc/default/grub", b'GRUB_CMDLINE_LINUX="ro vmscape=ibpb"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    ]
    assert (gp.tokens_before, gp.tokens_after) == (["ro", "quiet"], ["ro", "vmscape=ibpb", "quiet"])
    assert [f.host_path for f in gp.files] == ["/etc/default/grub"]
