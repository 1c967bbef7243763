"""Removing a parameter from GRUB defaults spread over backslash-newline continuations and runs of
blanks (``grub_defaults_edit``: whole continuation lines, the blanks around a token; found by
`make mutation`).

Each edit is written out by hand, and /bin/sh judges it: the words sh sees after the edit are the
words it saw before without the removed parameter (test_kernel_cmdline_support.dash_values sources
the files the way grub-mkconfig does).
"""

import os

import pytest
from test_kernel_cmdline_support import dash_values

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_defaults_edit import plan_defaults
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request

REMOVE = build_request({}, ["vmscape"])


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # a continuation line holding only the parameter goes whole
        ('GRUB_CMDLINE_LINUX="a \\\n\tvmscape=off \\\n\tb"\n', 'GRUB_CMDLINE_LINUX="a \\\n\tb"\n'),
        ('GRUB_CMDLINE_LINUX="a \\\n\tvmscape=off \\\n"\n', 'GRUB_CMDLINE_LINUX="a \\\n"\n'),
        ('GRUB_CMDLINE_LINUX="\\\nvmscape=off \\\n b"\n', 'GRUB_CMDLINE_LINUX="\\\n b"\n'),
        # the line's own start is found after any number of lines before the assignment
        (
            'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="a \\\n\tvmscape=off \\\n\tb"\n',
            'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="a \\\n\tb"\n',
        ),
        # a tab before the backslash above, or starting the line below, separates the neighbours too
        ('GRUB_CMDLINE_LINUX="a\t\\\nvmscape=off \\\nb"\n', 'GRUB_CMDLINE_LINUX="a\t\\\nb"\n'),
        ('GRUB_CMDLINE_LINUX="a\\\n vmscape=off \\\n\tb"\n', 'GRUB_CMDLINE_LINUX="a\\\n\tb"\n'),
        # ... unless its blanks are all that separates its neighbours: then one blank stays
        ('GRUB_CMDLINE_LINUX="a\\\n\tvmscape=off \\\nb"\n', 'GRUB_CMDLINE_LINUX="a\\\n \\\nb"\n'),
        # a line with other words loses the parameter and the blanks before it
        ('GRUB_CMDLINE_LINUX="a \\\n\tvmscape=off quiet \\\n\tb"\n', 'GRUB_CMDLINE_LINUX="a \\\n quiet \\\n\tb"\n'),
        ('GRUB_CMDLINE_LINUX="a  vmscape=off  b"\n', 'GRUB_CMDLINE_LINUX="a  b"\n'),
        # first in the value: the whole run of blanks after it goes with it
        ('GRUB_CMDLINE_LINUX="vmscape=off  \t b"\n', 'GRUB_CMDLINE_LINUX="b"\n'),
        ('GRUB_CMDLINE_LINUX="a vmscape=off"\n', 'GRUB_CMDLINE_LINUX="a"\n'),
        # the blanks before it end where an expansion's blank begins: only the written one goes
        ('X=" "\nGRUB_CMDLINE_LINUX="a$X vmscape=off"\n', 'X=" "\nGRUB_CMDLINE_LINUX="a$X"\n'),
        (
            'GRUB_CMDLINE_LINUX="vmscape=off\tb"\nGRUB_CMDLINE_LINUX_DEFAULT="q  vmscape=auto"\n',
            'GRUB_CMDLINE_LINUX="b"\nGRUB_CMDLINE_LINUX_DEFAULT="q"\n',
        ),
    ],
)
def test_removal_across_continuations_and_blanks(tmp_path, before, after):
    root = tmp_path / "root"
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/grub").write_text(before)
    words_before = [v.split() for v in dash_values(str(root), tmp_path)]
    gp = plan_defaults(str(root), REMOVE)
    assert [(c.label, c.after) for c in gp.changes] == [("/etc/default/grub", after.encode())]
    (root / "etc/default/grub").write_text(after)
    words_after = [v.split() for v in dash_values(str(root), tmp_path)]
    assert words_after == [[w for w in ws if not w.startswith("vmscape=")] for ws in words_before]
    assert os.path.isfile(root / "etc/default/grub")


def test_every_copy_is_handled_the_last_set_in_place_the_others_removed(tmp_path):
    root = tmp_path / "root"
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/grub").write_text('GRUB_CMDLINE_LINUX="vmscape=off a vmscape=auto"\n')
    gp = plan_defaults(str(root), build_request({"vmscape": "ibpb"}, []))
    assert [c.after for c in gp.changes] == [b'GRUB_CMDLINE_LINUX="a vmscape=ibpb"\n']
    (root / "etc/default/grub").write_bytes(gp.changes[0].after)
    assert dash_values(str(root), tmp_path)[0].split() == ["a", "vmscape=ibpb"]
