# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a change of the GRUB defaults is written (read by ``_bootcfg.grub_defaults``).

Target side: standard library only, importable by Python 3.6+.

Where the change is written (the decision, also in the module documentation):
- A parameter that is already present is edited *where it is*: its bytes in whichever file
  and assignment produced it are replaced, duplicates are deleted. Nothing else moves.
- A missing parameter is appended inside the value of the *last* assignment of
  ``GRUB_CMDLINE_LINUX`` (the one whose value grub-mkconfig ends up with, wherever it is),
  so it reaches every entry, recovery ones included, and every kernel installed later
  (their postinst runs update-grub, which reads the same files). A copy in
  ``GRUB_CMDLINE_LINUX_DEFAULT`` is removed, as it would duplicate the token.
- Only when nothing assigns ``GRUB_CMDLINE_LINUX`` (or a file unsets it last) is a new
  assignment added: at the end of /etc/default/grub, or, when that file does not exist, in
  the drop-in /etc/default/grub.d/99-fleetsec-vmscape.cfg.
Why not always a last-sorting drop-in: it cannot remove or replace a token set elsewhere
(the result would carry two ``vmscape=``), "last" depends on the names of the other
drop-ins and on the shell's collation (bash on RHEL sorts by locale), and Debian's grub-pc
postinst already carries /etc/default/grub's GRUB_CMDLINE_LINUX across upgrades.
After editing, the new files are followed again and the result must equal the planned
token lists exactly, or nothing is written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_defaults import (
    DEFAULT,
    DROPIN,
    DROPIN_HEADER,
    LINUX,
    MAIN,
    DefaultsFile,
    evaluate,
    load,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import FileChange
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import decide, token_key, token_spans
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.text import encode

_SAFE_LITERAL = re.compile(r"^[A-Za-z0-9_.,:+@%/=\-]*\Z")
_UNSAFE_IN_SOURCE = set("'\"\\$`")
_BLANKS = " \t"


class _Edits(object):
    """Source edits per file index: {(start, end): replacement}."""

    def __init__(self, files):
        self.files = files
        self.by_file = {}

    def add(self, idx, start, end, repl):
        edits = self.by_file.setdefault(idx, {})
        key = (start, end)
        if key in edits:
            if edits[key] != repl:
                raise BootConfigError(
                    "%s: the same text feeds both %s and %s in conflicting ways; edit it by hand"
                    % (self.files[idx].real_path, LINUX, DEFAULT)
                )
            return
        if repl == "":  # deletions that took neighbouring blanks may overlap: join them
            for (s, e), r in list(edits.items()):
                if r == "" and s < end and start < e:
                    del edits[(s, e)]
                    start, end = min(s, start), max(e, end)
        for (s, e), _r in edits.items():
            if s < end and start < e:
                raise BootConfigError(
                    "%s: overlapping edits near offset %d; edit it by hand" % (self.files[idx].real_path, start)
                )
        edits[(start, end)] = repl

    def apply(self):
        out = {}
        for idx, edits in self.by_file.items():
            text = self.files[idx].text
            for (s, e), repl in sorted(edits.items(), reverse=True):
                text = text[:s] + repl + text[e:]
            out[idx] = text
        return out


def _source_range(files, value, start, end, raw):
    """(file_index, src_start) when value[start:end] is one plain run of a single file, else None."""
    origins = value.origins[start:end]
    if not origins or any(o is None for o in origins):
        return None
    idx, p0 = origins[0]
    for k, o in enumerate(origins):
        if o != (idx, p0 + k):
            return None
    text = files[idx].text
    if text[p0 : p0 + len(raw)] != raw or any(c in _UNSAFE_IN_SOURCE for c in raw):
        return None
    return idx, p0


def _blank_run(files, value, start, step):
    """Source range of the blanks next to value[start] going ``step`` (-1 before, +1 after)."""
    k = start
    idx = None
    positions = []
    while True:
        j = k - 1 if step < 0 else k
        if j < 0 or j >= len(value.text) or value.text[j] not in _BLANKS:
            break
        o = value.origins[j]
        if o is None:
            break
        if idx is None:
            idx = o[0]
        if o[0] != idx or files[idx].text[o[1]] != value.text[j]:
            break
        if positions and abs(o[1] - positions[-1]) != 1:
            break
        positions.append(o[1])
        k = j if step < 0 else j + 1
    if not positions:
        return None
    return idx, min(positions), max(positions) + 1


def _where(files, value, start):
    o = value.origins[start] if start < len(value.origins) else None
    if o is None:
        return "an expansion"
    f = files[o[0]]
    line = f.text.count("\n", 0, o[1]) + 1
    return "%s:%d" % (f.real_path, line)


def _continuation_line(text, p0, raw):
    """(start, end) of a whole line holding only ``raw`` inside a backslash-newline continuation.

    ``GRUB_CMDLINE_LINUX="a \\`` / ``<tab>vmscape=off \\`` / ``<tab>b"``: deleting the middle line
    keeps the continuation intact, where deleting the token alone would leave a blank line.
    """
    start = text.rfind("\n", 0, p0) + 1
    end = text.find("\n", p0)
    if start < 2 or end < 0 or text[start - 2 : start] != "\\\n":
        return None
    line = text[start : end + 1]
    if not line.endswith("\\\n") or line[:-2].strip() != raw:
        return None
    nxt = text[end + 1 : end + 2]
    if not (text[start - 3 : start - 2] in (" ", "\t") or nxt in (" ", "\t")):
        return None  # the deleted line's blanks are the only separator left
    return start, end + 1


def _token_edits(files, edits, value, tokens_spans, actions, var):
    for i, new in actions.items():
        start, end, raw = tokens_spans[i]
        rng = _source_range(files, value, start, end, raw)
        if rng is None:
            raise BootConfigError(
                "%s: the token %r of %s is built from quotes, escapes or variables; refusing to edit it "
                "automatically, change it by hand" % (_where(files, value, start), raw, var)
            )
        idx, p0 = rng
        if new is not None:
            edits.add(idx, p0, p0 + len(raw), new)
            continue
        line = _continuation_line(files[idx].text, p0, raw)
        if line is not None:
            edits.add(idx, line[0], line[1], "")
            continue
        before = _blank_run(files, value, start, -1)
        if before is not None and before[0] == idx and before[2] == p0:
            edits.add(idx, before[1], p0 + len(raw), "")
            continue
        after = _blank_run(files, value, end, +1)
        if after is not None and after[0] == idx and after[1] == p0 + len(raw):
            edits.add(idx, p0, after[2], "")
        else:
            edits.add(idx, p0, p0 + len(raw), "")


def _append_to_assignment(files, edits, assignment, new_tokens):
    """Edits appending ``new_tokens`` at the end of the assignment's value."""
    idx = assignment.src.index
    text = files[idx].text
    value = assignment.value
    joined = " ".join(new_tokens)
    sep = "" if (not value.text or value.text[-1] in _BLANKS + "\n") else " "
    parts = assignment.parts or []
    vs, ve = assignment.value_start, assignment.value_end
    last = parts[-1] if parts else None
    if last is not None and last[0] in ("dq", "sq") and last[3] == ve - 1:
        edits.add(idx, ve - 1, ve - 1, sep + joined)
    elif last is not None and len(parts) == 1 and last[0] == "lit" and _SAFE_LITERAL.match(text[vs:ve]):
        # Quote the literal by two insertions, so an edit of a token inside it (vmscape ->
        # vmscape=force) does not collide with the append.
        if edits.by_file.get(idx, {}).get((vs, ve)) == "":
            sep = ""  # the whole literal goes: no blank before the new tokens
        edits.add(idx, vs, vs, '"')
        edits.add(idx, ve, ve, '%s%s"' % (sep, joined))
    else:
        edits.add(idx, ve, ve, '"%s%s"' % (sep, joined))


class GrubDefaultsPlan(object):
    """The planned edit of the GRUB defaults; ``changes`` are FileChange objects."""

    def __init__(self):
        self.changes = []
        self.linux_before = []
        self.default_before = []
        self.linux_after = []
        self.default_after = []
        self.files = []
        self.warnings = []

    @property
    def tokens_before(self):
        return self.linux_before + self.default_before

    @property
    def tokens_after(self):
        return self.linux_after + self.default_after


def plan_defaults(root, request):
    """Plan the edit of the GRUB defaults under ``root``. Raises BootConfigError."""
    files = load(root)
    state, lt, dt, lv, dv = evaluate(files)
    gp = GrubDefaultsPlan()
    gp.files = files
    gp.linux_before, gp.default_before = lt, dt
    l_actions, l_insert, l_result = decide(lt, request, home=True)
    d_actions, _d_insert, d_result = decide(dt, request, home=False, after_dashes="--" in lt)
    gp.linux_after, gp.default_after = l_result, d_result
    edits = _Edits(files)
    if lv is not None:
        _token_edits(files, edits, lv, token_spans(lv.text), l_actions, LINUX)
    if dv is not None:
        _token_edits(files, edits, dv, token_spans(dv.text), d_actions, DEFAULT)
    new_texts = edits.apply()
    new_file = None
    if l_insert is not None:
        pos, new_tokens = l_insert
        last = state.last_assignment(LINUX)
        if pos < len(lt):  # before "--": write "tok -- " in place of "--"
            spans = token_spans(lv.text)
            _token_edits(files, edits, lv, spans, {pos: " ".join(new_tokens) + " --"}, LINUX)
        elif last is not None and last.kind == "assign":
            _append_to_assignment(files, edits, last, new_tokens)
        else:
            # Nothing assigns it, or a file unsets it last: a new assignment after that point.
            line = '%s="$%s %s"\n' % (LINUX, LINUX, " ".join(new_tokens))
            main = [i for i, f in enumerate(files) if f.host_path == MAIN]
            if last is not None:
                main = [last.src.index]
            if main:
                idx = main[0]
                text = files[idx].text
                addition = ("" if not text or text.endswith("\n") else "\n") + line
                edits.add(idx, len(text), len(text), addition)
            else:
                new_file = DefaultsFile(DROPIN, _rootpath.under(root, DROPIN), DROPIN_HEADER + line, exists=False)
        new_texts = edits.apply()
    # Verify by following the edited files again.
    after_files = []
    for i, f in enumerate(files):
        after_files.append(DefaultsFile(f.host_path, f.real_path, new_texts.get(i, f.text)))
    if new_file is not None:
        existing = [f for f in after_files if f.host_path == DROPIN]
        if existing:
            raise BootConfigError(
                "%s exists but does not assign %s last; edit it by hand" % (new_file.real_path, LINUX)
            )
        after_files.append(new_file)
        after_files.sort(key=lambda f: (f.host_path != MAIN, f.host_path.encode("utf-8", "surrogateescape")))
    try:
        _s2, lt2, dt2, _lv2, _dv2 = evaluate(after_files)
    except BootConfigError as e:
        raise BootConfigError(
            "internal check failed: the edited files cannot be followed (%s); nothing was written" % e
        ) from None
    if lt2 != l_result or dt2 != d_result:
        raise BootConfigError(
            "internal check failed: after editing, %s would be %r and %s %r instead of %r and %r; nothing was "
            "written" % (LINUX, " ".join(lt2), DEFAULT, " ".join(dt2), " ".join(l_result), " ".join(d_result))
        )
    gp.warnings = _dead_occurrences(files, state, request)
    for i, f in enumerate(files):
        if i in new_texts and new_texts[i] != f.text:
            if not f.exists:
                raise BootConfigError("%s is not a regular file; refusing to write it" % f.real_path)
            gp.changes.append(FileChange(f.real_path, encode(f.text), encode(new_texts[i]), label=f.host_path))
    if new_file is not None:
        gp.changes.append(FileChange(new_file.real_path, None, encode(new_file.text), label=DROPIN))
    return gp


def _dead_occurrences(files, state, request):
    """Warnings for named parameters in assignments a later one overrides (left as they are)."""
    keys = request.keys
    # Where the named parameters that do reach the kernel start (a few origins, not every
    # character's: the values can be megabytes).
    live = set()
    for name in (LINUX, DEFAULT):
        v = state.value(name)
        if v is not None:
            live.update(v.origins[s] for s, _e, raw in token_spans(v.text) if token_key(raw) in keys)
    out = []
    for a in state.assignments:
        if a.kind != "assign" or a.value is None:
            continue
        for start, _end, raw in token_spans(a.value.text):
            o = a.value.origins[start]
            if o is not None and o not in live and token_key(raw) in keys:
                out.append(
                    "%s:%d: %s in an assignment of %s that a later one overrides; left as it is (it "
                    "does not reach the kernel)" % (files[o[0]].real_path, a.line, raw, a.name)
                )
    return out


def verify_defaults(root, request, expected_linux, expected_default):
    """Problems (list) when the files on disk do not give the expected token lists."""
    try:
        _s, lt, dt, _lv, _dv = evaluate(load(root))
    except BootConfigError as e:
        return [str(e)]
    problems = []
    if lt != expected_linux or dt != expected_default:
        problems.append(
            "%s=%r %s=%r on disk, planned %r and %r"
            % (LINUX, " ".join(lt), DEFAULT, " ".join(dt), " ".join(expected_linux), " ".join(expected_default))
        )
    return problems
