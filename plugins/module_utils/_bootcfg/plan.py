# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a backend plans: file changes and commands, the command line before and after, the checks.

Target side: standard library only, importable by Python 3.6+.

A backend produces a ``Plan``: ordered steps (file writes, commands), the effective command
line before and after, regeneration commands and the checks to run after each phase. A restore
is a ``Plan`` too (its steps put a journal entry's files back); ``_bootcfg.apply.execute`` carries
out either the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.text import decode


class FileChange(object):
    """New content for one file. ``path`` is the real path (under root, symlinks resolved)."""

    def __init__(self, path, before, after, mode=0o644, writer=None, label=None):
        self.path = path
        self.before = before  # bytes or None (absent)
        self.after = after  # bytes or None (delete)
        self.mode = mode
        self.writer = writer  # callable(runner) doing the write, default atomic_write
        self.label = label or path

    @property
    def changed(self):
        return self.before != self.after


class Command(object):
    """A command run as a step (e.g. grubby), with the files it is expected to change."""

    def __init__(self, argv, description, touches=(), touch_globs=(), predicted=()):
        self.argv = list(argv)
        self.description = description
        self.touches = list(touches)
        self.touch_globs = list(touch_globs)
        self.predicted = list(predicted)  # FileChange list used for check/diff mode and backups


class Plan(object):
    def __init__(self, backend, root):
        self.backend = backend
        self.root = root
        self.steps = []
        self.effective_before = None
        self.effective_after = None
        self.regen = []  # Command list
        self.regen_skipped = None  # reason string when regeneration cannot run here
        self.regen_stale = None  # reason string when the generated config is out of date
        self.verify = None  # callable() -> problems after the steps
        self.verify_regen = None  # callable() -> (problems, warnings) after regeneration
        self.expected_cmdline = None  # callable() -> tokens the default entry must carry, in order
        self.warnings = []
        self.notes = []

    def predicted_changes(self):
        out = []
        for step in self.steps:
            if isinstance(step, FileChange):
                if step.changed:
                    out.append(step)
            else:
                out.extend(c for c in step.predicted if c.changed)
        return out

    @property
    def changes_files(self):
        return bool(self.predicted_changes())


def unified_diff(path, before, after):
    a = decode(before).splitlines(True)
    b = decode(after).splitlines(True)
    lines = difflib.unified_diff(
        a,
        b,
        "%s (before)" % path if before is not None else "/dev/null",
        "%s (after)" % path if after is not None else "/dev/null",
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def diff_entry(path, before, after):
    return {
        "before_header": path if before is not None else "/dev/null",
        "after_header": path if after is not None else "/dev/null",
        "before": decode(before),
        "after": decode(after),
    }
