# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The request and the token rules every backend applies (``decide``, ``edit_segments``, ``check_result``).

Target side: standard library only, importable by Python 3.6+.

Token rules (the same for every backend; ``decide``):
- ``set name=value``: afterwards exactly one token of that name (``-`` and ``_`` equal, as
  the kernel compares them). An existing token that already means the same thing is kept
  byte for byte; otherwise the *last* occurrence (the one the kernel applies today) is
  rewritten in place and every other occurrence is removed. With none, the token is
  appended at the end of the kernel's part (before a bare ``--``).
- ``remove name``: every token of that name goes.
- nothing else is touched: the other tokens keep their bytes and their order; tokens after
  a bare ``--`` belong to init and are never looked at.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import (
    PARAM_NAME_RE,
    normalize_name,
    parse_token,
    split_spans,
    validate_param,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import VMSCAPE_VALUES

# Stricter allow-lists for parameters whose values we know (vmscape-facts.md section 2: the
# values any kernel generation accepts; anything else is "Ignoring unknown vmscape=X").
KNOWN_VALUES = {
    "vmscape": VMSCAPE_VALUES,
}
# Written by the boot loader itself: setting them in the configuration would duplicate them.
BOOTLOADER_OWNED = ("BOOT_IMAGE", "initrd")


# --------------------------------------------------------------------------- request
class Request(object):
    """Validated parameters: ``sets`` [(name, value, key)] in order, ``removes`` [(name, key)].

    ``everywhere``: every generated entry must carry each set parameter (a change puts it where
    all entries get it). A restore puts back whatever was there, which may be a place only some
    entries get (GRUB_CMDLINE_LINUX_DEFAULT is not given to recovery entries): with False an
    entry may lack a set parameter, but none may carry it twice or with another value, and
    backends with several entries check that at least one carries it.
    """

    def __init__(self, sets, removes, everywhere=True):
        self.sets = sets
        self.removes = removes
        self.everywhere = everywhere

    @property
    def keys(self):
        return set(k for _n, _v, k in self.sets) | set(k for _n, k in self.removes)

    def set_for(self, key):
        for name, value, k in self.sets:
            if k == key:
                return name, value
        return None

    def describe(self):
        out = ["%s=%s" % (n, v) if v is not None else n for n, v, _k in self.sets]
        out += ["-%s" % n for n, _k in self.removes]
        return " ".join(out)


def build_request(params, remove):
    """Validate user input; raise BootConfigError before anything is read or written."""
    params = params or {}
    remove = remove or []
    if not isinstance(params, dict):
        raise BootConfigError("params must be a dictionary of kernel parameter names to values")
    if not isinstance(remove, (list, tuple)):
        raise BootConfigError("remove must be a list of kernel parameter names")
    sets = []
    seen = {}
    for name in params:
        value = params[name]
        if isinstance(value, bool):
            raise BootConfigError(
                "params.%s: got the boolean %s; YAML turns unquoted on/off/yes/no/true/false into booleans. "
                'Quote the value, e.g. %s: "%s"' % (name, value, name, "on" if value else "off")
            )
        if isinstance(value, int):
            value = str(value)
        err = validate_param(name, value)
        if err:
            raise BootConfigError("params: %s" % err)
        if name in BOOTLOADER_OWNED:
            raise BootConfigError("params: %s is written by the boot loader itself; refusing to set it" % name)
        allowed = KNOWN_VALUES.get(normalize_name(name))
        if allowed is not None and value not in allowed:
            raise BootConfigError(
                "params: %s=%s is not a value the kernel accepts (allowed: %s)" % (name, value, ", ".join(allowed))
            )
        key = normalize_name(name)
        if key in seen:
            raise BootConfigError("params: %s and %s are the same kernel parameter" % (seen[key], name))
        seen[key] = name
        sets.append((name, value, key))
    removes = []
    for name in remove:
        if not isinstance(name, str) or not PARAM_NAME_RE.match(name):
            raise BootConfigError("remove: invalid kernel parameter name %r" % (name,))
        key = normalize_name(name)
        if key in seen:
            raise BootConfigError("%s is both in params and in remove" % name)
        seen[key] = name
        removes.append((name, key))
    if not sets and not removes:
        raise BootConfigError("nothing to do: give params and/or remove")
    return Request(sets, removes)


# --------------------------------------------------------------------------- token rules
def token_key(raw):
    return parse_token(raw).key


def desired_raw(raw, name, value):
    """Keep ``raw`` when the kernel already reads it as name=value, else the canonical form."""
    tok = parse_token(raw)
    if tok.key == normalize_name(name) and tok.value == value:
        return raw
    return name if value is None else "%s=%s" % (name, value)


def decide(raws, request, home=True, after_dashes=False):
    """Apply the token rules to a list of raw tokens.

    Returns ``(actions, insert, result)``: ``actions`` maps token index -> new raw (str) or
    None (delete); ``insert`` is None or ``(index, [raw, ...])`` meaning "insert before
    token ``index``" (``len(raws)`` = at the end); ``result`` is the new token list.
    ``home`` says whether missing ``set`` tokens belong in this list; ``after_dashes`` marks
    a list that continues after a ``--`` (all of it goes to init).
    """
    keys = request.keys
    occurrences = {}
    dashes_at = None
    in_init = after_dashes
    for i, raw in enumerate(raws):
        if in_init:
            continue
        if raw == "--":
            in_init = True
            dashes_at = i
            continue
        key = token_key(raw)
        if key in keys:
            occurrences.setdefault(key, []).append(i)
    actions = {}
    missing = []
    for name, value, key in request.sets:
        occ = occurrences.get(key, [])
        if home and occ:
            keep = occ[-1]
            new = desired_raw(raws[keep], name, value)
            if new != raws[keep]:
                actions[keep] = new
            for i in occ[:-1]:
                actions[i] = None
        else:
            for i in occ:
                actions[i] = None
            if home:
                missing.append(name if value is None else "%s=%s" % (name, value))
    for _name, key in request.removes:
        for i in occurrences.get(key, []):
            actions[i] = None
    insert = None
    if missing and not after_dashes:
        insert = (dashes_at if dashes_at is not None else len(raws), missing)
    result = []
    for i, raw in enumerate(raws):
        if insert is not None and i == insert[0]:
            result.extend(insert[1])
        if i in actions:
            if actions[i] is not None:
                result.append(actions[i])
        else:
            result.append(raw)
    if insert is not None and insert[0] == len(raws):
        result.extend(insert[1])
    return actions, insert, result


def kernel_part(raws):
    """Tokens before a bare ``--`` and the init part (``--`` included)."""
    if "--" in raws:
        i = raws.index("--")
        return raws[:i], raws[i:]
    return list(raws), []


def check_result(before, after, request, strict=True):
    """Problems (list of str) when ``after`` does not satisfy the request given ``before``.

    Always: each set name occurs exactly once with its value, each removed name never.
    ``strict``: additionally every other token is kept, in order, and the init part equal.
    """
    problems = []
    kb, ib = kernel_part(before)
    ka, ia = kernel_part(after)
    for name, value, key in request.sets:
        found = [parse_token(r) for r in ka if token_key(r) == key]
        if not found and not request.everywhere:
            continue
        if len(found) != 1:
            problems.append("%s occurs %d times (want exactly once)" % (name, len(found)))
        elif found[0].value != value:
            problems.append("%s has the value %r (want %r)" % (name, found[0].value, value))
    for name, key in request.removes:
        n = sum(1 for r in ka if token_key(r) == key)
        if n:
            problems.append("%s still occurs %d times" % (name, n))
    if strict:
        keys = request.keys
        others_b = [r for r in kb if token_key(r) not in keys]
        others_a = [r for r in ka if token_key(r) not in keys]
        if others_b != others_a:
            problems.append("other parameters changed: %r -> %r" % (" ".join(others_b), " ".join(others_a)))
        if ib != ia:
            problems.append("arguments after -- changed: %r -> %r" % (" ".join(ib), " ".join(ia)))
    return problems


def token_spans(text):
    """[(start, end, raw)] for each token of ``text`` (kernel splitting rules)."""
    return [(start, end, text[start:end]) for start, end in split_spans(text)]


_BLANKS = " \t"


def _merge_deletions(seg_edits):
    """Deletions that took neighbouring blanks may overlap each other: join them."""
    dels = sorted((s, e) for s, e, r in seg_edits if r == "")
    others = [x for x in seg_edits if x[2] != ""]
    merged = []
    for s, e in dels:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return others + [(s, e, "") for s, e in merged]


def edit_segments(segments, request, home=True, drop_emptied=False):
    """Apply the token rules to text split in segments (lines, options lines, one value).

    Tokens never span segments. Edits are made in place: a replaced token keeps its
    position, a deleted token takes the blanks before it (or after it, at the start of a
    segment) with it, a missing token is appended after the last kernel token (or before
    ``--``). With ``drop_emptied`` a segment that only becomes blank is dropped.
    Returns ``(new_segments, tokens_before, tokens_after)``.
    """
    spans = []
    for si, seg in enumerate(segments):
        for start, end, raw in token_spans(seg):
            spans.append((si, start, end, raw))
    raws = [s[3] for s in spans]
    actions, insert, result = decide(raws, request, home=home)
    edits = {}  # segment -> list of (start, end, replacement)
    for i, new in actions.items():
        si, start, end, _raw = spans[i]
        seg = segments[si]
        if new is not None:
            edits.setdefault(si, []).append((start, end, new))
            continue
        b = start
        while b > 0 and seg[b - 1] in _BLANKS:
            b -= 1
        if b < start and b > 0:
            edits.setdefault(si, []).append((b, end, ""))
        else:
            e = end
            while e < len(seg) and seg[e] in _BLANKS:
                e += 1
            edits.setdefault(si, []).append((start, e, ""))
    out = list(segments)
    for si, seg_edits in edits.items():
        seg = out[si]
        for start, end, repl in sorted(_merge_deletions(seg_edits), key=lambda e: (e[0], e[1]), reverse=True):
            seg = seg[:start] + repl + seg[end:]
        out[si] = seg
    if insert is not None:
        # Second pass on the edited text, so the anchor is a token that is still there.
        text = " ".join(insert[1])
        spans = [(si, s, e, raw) for si, seg in enumerate(out) for s, e, raw in token_spans(seg)]
        dashes = [sp for sp in spans if sp[3] == "--"]
        if dashes:
            si, start, _end, _raw = dashes[0]
            out[si] = out[si][:start] + text + " " + out[si][start:]
        elif spans:
            si, _start, end, _raw = spans[-1]
            out[si] = out[si][:end] + " " + text + out[si][end:]
        else:
            if not out:
                out = [""]
                segments = [""]
            si = len(out) - 1
            seg = out[si]
            pos = len(seg.rstrip("\n"))
            sep = "" if pos == 0 or seg[pos - 1] in _BLANKS else " "
            out[si] = seg[:pos] + sep + text + seg[pos:]
        edits.setdefault(si, [])
    if drop_emptied:
        out = [seg for si, seg in enumerate(out) if not (si in edits and not seg.strip() and segments[si].strip())]
    return out, raws, result


def edit_text(text, request, home=True):
    """``edit_segments`` for one string; returns (new_text, tokens_before, tokens_after)."""
    segs, before, after = edit_segments([text], request, home=home)
    return segs[0], before, after
