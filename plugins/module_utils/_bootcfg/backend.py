# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every kernel_cmdline backend shares: the request, the token rules, the plan and its execution.

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

A backend produces a ``Plan``: ordered steps (file writes, commands), the effective command
line before and after, regeneration commands and the checks to run after each phase.
``execute`` runs it with backups, verifies, regenerates, verifies again, and on any failure
puts every file back (including what the regeneration wrote) and raises.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import fnmatch
import os
import posixpath

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import (
    PARAM_NAME_RE,
    normalize_name,
    parse_token,
    split_spans,
    validate_param,
)

BACKENDS = ("grub", "grubby", "grubenv", "systemd-boot")

# Stricter allow-lists for parameters whose values we know (vmscape-facts.md section 2: the
# values any kernel generation accepts; anything else is "Ignoring unknown vmscape=X").
KNOWN_VALUES = {
    "vmscape": ("off", "ibpb", "force", "on", "auto"),
}
# Written by the boot loader itself: setting them in the configuration would duplicate them.
BOOTLOADER_OWNED = ("BOOT_IMAGE", "initrd")

SEARCH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


class BootConfigError(Exception):
    """A refusal or failure with a message meant for the user (file and line when known)."""

    def __init__(self, message, output=None):
        Exception.__init__(self, message)
        self.message = message
        self.output = output


class _Restored(BootConfigError):
    """Raised by ``execute`` after it has put the files back (``warnings``: what to emit)."""

    def __init__(self, message, output=None, warnings=None):
        BootConfigError.__init__(self, message, output)
        self.warnings = list(warnings or [])


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


# --------------------------------------------------------------------------- plans
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


def _decode(data):
    return "" if data is None else data.decode("utf-8", "surrogateescape")


def unified_diff(path, before, after):
    a = _decode(before).splitlines(True)
    b = _decode(after).splitlines(True)
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
        "before": _decode(before),
        "after": _decode(after),
    }


# --------------------------------------------------------------------------- running
def find_tool(root, names, dirs=SEARCH_DIRS):
    """First of ``names`` found executable under ``root`` in ``dirs``: the host path, or None."""
    for name in names:
        for d in dirs:
            hp = posixpath.join(d, name)
            real = _rootpath.under(root, hp)
            if os.path.isfile(real) and os.access(real, os.X_OK):
                return hp
    return None


def chroot_problem(root):
    """None when commands can run chrooted into ``root``, else the reason they cannot."""
    if os.geteuid() != 0:
        return "chroot needs root privileges"
    missing = [d for d in ("/proc", "/sys", "/dev") if not os.path.ismount(os.path.join(root, d.lstrip("/")))]
    if missing:
        return (
            "%s is not prepared for chroot (%s not mounted there); regenerate inside it (chroot %s <command>) "
            "after mounting them" % (root, ", ".join(missing), root)
        )
    return None


def command_for_root(root, argv):
    """``argv`` as run for ``root``: as is on ``/``, through chroot otherwise."""
    if os.path.abspath(root) == "/":
        return list(argv)
    return ["chroot", root, *list(argv)]


def _describe_restore(errors, removed, left, kept):
    """The truthful end of a failure message: what was put back, what could not be."""
    if errors:
        msg = "; restoring the previous files FAILED for: %s" % "; ".join(errors)
        if kept:
            msg += "; the backups are kept (%s) and the next run puts the files back from them" % ", ".join(kept)
        return msg
    msg = "; every file was restored to its previous content"
    if removed:
        msg += "; removed what this run created: %s" % ", ".join(removed)
    if left:
        msg += "; left in place (directories it created): %s" % ", ".join(left)
    return msg


def execute(plan, runner, backup=True, regenerate=True, commit=None, wal=None):
    """Carry out ``plan``. Returns a result dict; raises BootConfigError after restoring.

    Every file a step or a regeneration command may write (grub.cfg, BLS entries, grubenv, loader
    entries, the edited sources) is read first, and the directories the commands write to are
    listed. With ``wal`` (a ``_cmdline_intent.IntentRun``) the run is write-ahead: the intent is
    recorded (backup names), every existing file is copied to its backup and fsynced, the intent
    is marked ready - and only then is anything written; a run killed at any later point is
    undone by the next one. ``backup`` decides whether the copies of changed files are kept
    (and journaled by ``commit``); the copies of files that did not change are always deleted.

    ``commit(result)``, when given, runs last, inside the same guard: if it raises, every file is
    put back as after any other failure (the change journal is written there, so a change is
    either journaled or undone). Any failure puts every file back, removes what the commands
    created in the directories they write to, checks the files, and only when all of that
    worked deletes the copies (else they are kept and named, and the intent stays for the next
    run).
    """
    snap = _atomic_write.Snapshot()
    warnings = []
    predicted = plan.predicted_changes()
    for step in plan.steps:
        if isinstance(step, FileChange):
            snap.add_file(step.path)
        else:
            for p in step.touches:
                snap.add_file(p)
            for d, pat in step.touch_globs:
                snap.add_glob(d, pat)
                snap.add_dir(d)
            for c in step.predicted:
                snap.add_file(c.path)
    step_files = set(snap.files)
    step_globs = list(snap.globs)
    run_regen = bool(regenerate and plan.regen and not plan.regen_skipped and (predicted or plan.regen_stale))
    if run_regen:
        for cmd in plan.regen:
            for p in cmd.touches:
                snap.add_file(p)
                snap.add_dir(os.path.dirname(p))
            for d, pat in cmd.touch_globs:
                snap.add_glob(d, pat)
                snap.add_dir(d)
    commands = []
    if not predicted and not run_regen:
        return {
            "backups": {},
            "commands": commands,
            "changed_paths": [],
            "files": [],
            "regenerated_files": [],
            "snapshot": snap,
            "regenerated": False,
            "warnings": warnings,
        }
    # Copies of every file that exists, made before anything is written.
    backups = {}
    taken = set()
    for path in sorted(snap.files):
        if snap.files[path] is not None:
            backups[path] = _atomic_write.free_backup_name(path, taken)
            taken.add(backups[path])
    made = []

    def drop_copies(keep=()):
        errors = []
        for b in sorted(backups.values()):
            if b in keep or b not in made:
                continue
            try:
                _atomic_write.remove_file(b)
            except OSError as e:
                errors.append("%s: %s" % (b, e.strerror or e))
        return errors

    try:
        if wal is not None:
            wal.begin(snap, backups)
        for path in sorted(backups):
            made.append(backups[path])  # (a partial copy is removed by backup_file itself)
            try:
                _atomic_write.backup_file(path, snap.files[path], backups[path])
            except (IOError, OSError) as e:
                raise OSError(e.errno, "cannot copy it to %s: %s" % (backups[path], e.strerror or e), path) from None
            d = os.path.dirname(path)
            if d in snap.dirs and snap.dirs[d] is not None:
                snap.dirs[d] = sorted(set(snap.dirs[d]) | {os.path.basename(backups[path])})
        if wal is not None:
            wal.ready()
    except (BootConfigError, IOError, OSError) as e:
        if isinstance(e, BootConfigError):
            why = e.message
        else:
            why = "%s: %s" % (getattr(e, "filename", None) or "write", e.strerror or e)
        errors = drop_copies()
        if wal is not None and not errors:
            try:
                wal.finish()
            except BootConfigError as e2:
                errors.append(e2.message)
        msg = "cannot prepare the change (%s); nothing was changed" % why
        if errors:
            msg += "; cleaning up failed for: %s (the next run removes them)" % "; ".join(errors)
        raise _Restored(msg) from None

    consumed = set()

    def fail(message, output=None):
        errors, removed, left = snap.restore(backups, consumed)
        kept = []
        if errors:
            kept = [b for b in made if b not in consumed]
        else:
            for e in drop_copies(keep=consumed):
                warnings.append("cannot delete the copy %s" % e)
            if wal is not None:
                try:
                    wal.finish()
                except BootConfigError as e:
                    warnings.append("%s (the next run removes it)" % e.message)
        raise _Restored(message + _describe_restore(errors, removed, left, kept), output, warnings)

    try:
        for step in plan.steps:
            if isinstance(step, FileChange):
                if not step.changed:
                    continue
                if step.writer is not None:
                    step.writer(runner, commands)
                elif step.after is None:
                    _atomic_write.remove_file(step.path)
                else:
                    directory = os.path.dirname(step.path)
                    if not os.path.isdir(directory):
                        os.makedirs(directory, 0o755)
                    _atomic_write.atomic_write(step.path, step.after, step.mode)
            else:
                res = runner(step.argv)
                commands.append({"cmd": step.argv, "rc": res.rc, "seconds": round(res.seconds, 3)})
                if res.rc != 0:
                    fail(_command_failure(step.argv, res), _output(res))
        if plan.verify is not None:
            problems = plan.verify()
            if problems:
                fail("the configuration did not come out as planned: %s" % "; ".join(problems))
        regen_output = ""
        if run_regen:
            for cmd in plan.regen:
                res = runner(cmd.argv)
                commands.append({"cmd": cmd.argv, "rc": res.rc, "seconds": round(res.seconds, 3)})
                regen_output += _output(res)
                if res.rc != 0:
                    fail(_command_failure(cmd.argv, res), _output(res))
            if plan.verify_regen is not None:
                problems, regen_warnings = plan.verify_regen()
                warnings.extend(regen_warnings)
                if problems:
                    fail("after regeneration: %s" % "; ".join(problems), regen_output[-65536:])
    except _Restored:
        raise
    except BootConfigError as e:
        fail(e.message, e.output)
    except (IOError, OSError) as e:
        fail("%s: %s" % (getattr(e, "filename", None) or "write", e.strerror or e))

    def from_steps(path):
        if path in step_files:
            return True
        return any(
            os.path.dirname(path) == d and fnmatch.fnmatchcase(os.path.basename(path), pat) for d, pat in step_globs
        )

    try:
        changed_paths = snap.changed_paths()
        kept = dict((p, b) for p, b in backups.items() if p in changed_paths) if backup else {}
        result = {
            "backups": kept,
            "commands": commands,
            "changed_paths": changed_paths,
            "files": [p for p in changed_paths if from_steps(p)],
            "regenerated_files": [p for p in changed_paths if not from_steps(p)],
            "snapshot": snap,
            "regenerated": bool(run_regen),
            "warnings": warnings,
        }
        if commit is not None:
            commit(result)
    except _Restored:
        raise
    except BootConfigError as e:
        fail(e.message, e.output)
    except (IOError, OSError) as e:
        fail("%s: %s" % (getattr(e, "filename", None) or "write", e.strerror or e))
    # Done: the journal (if any) owns the kept copies; the intent goes, then the other copies.
    if wal is not None:
        try:
            wal.finish()
        except BootConfigError as e:
            warnings.append("%s (the next run removes it)" % e.message)
    for e in drop_copies(keep=set(result["backups"].values())):
        warnings.append("cannot delete the copy %s" % e)
    return result


def _command_failure(argv, res):
    """A one-line, bounded, truthful description of a failed command."""
    name = " ".join(argv)
    if res.timed_out:
        head = "%s did not finish within %d s and was killed (with everything it started)" % (name, res.seconds)
    else:
        head = "%s failed (rc=%s)" % (name, res.rc)
    summary = res.summary()
    return "%s: %s" % (head, summary) if summary else head


def _output(res):
    out = (res.out or "") + (res.err or "")
    if res.cut:
        out += "\n[%d bytes of output were cut]" % res.cut
    return out


# --------------------------------------------------------------------------- detection
ESP_LOADER_DIRS = ("/boot/efi/loader", "/efi/loader", "/boot/loader")


def _exists(root, hp):
    return os.path.exists(_rootpath.under(root, hp))


def _grub_defaults_present(root):
    if _exists(root, "/etc/default/grub"):
        return True
    return any(n.endswith(".cfg") for n in _rootpath.listdir(root, "/etc/default/grub.d"))


def proxmox_managed(root):
    return _exists(root, "/etc/kernel/proxmox-boot-uuids")


def bls_entries_dir_entries(root):
    return [n for n in _rootpath.listdir(root, "/boot/loader/entries") if n.endswith(".conf")]


def detect(root):
    """Return (backend, reason) for the boot setup under ``root``; raise BootConfigError."""
    kcmd = _exists(root, "/etc/kernel/cmdline")
    if proxmox_managed(root) and kcmd:
        return "systemd-boot", "/etc/kernel/proxmox-boot-uuids and /etc/kernel/cmdline (Proxmox proxmox-boot-tool)"
    loader_conf = [d for d in ESP_LOADER_DIRS if _exists(root, d + "/loader.conf")]
    grub2 = _exists(root, "/boot/grub2") or _exists(root, "/boot/grub")
    grub_defaults = _grub_defaults_present(root)
    also = ""
    if loader_conf and not (grub2 and bls_entries_dir_entries(root)):
        if kcmd or not grub_defaults:
            return "systemd-boot", "%s/loader.conf (systemd-boot)" % loader_conf[0]
        # Both a systemd-boot loader.conf and GRUB defaults, no /etc/kernel/cmdline: a leftover
        # of one of them; GRUB is what update-grub keeps current on such hosts.
        also = "; %s/loader.conf exists too: force backend=systemd-boot if the host boots with it" % loader_conf[0]
    entries = bls_entries_dir_entries(root)
    if entries:
        from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import bls as _bls

        if _bls.entries_use_kernelopts(root):
            return "grubenv", "BLS entries in /boot/loader/entries use $kernelopts (RHEL 8 style grubenv)"
        return "grubby", "BLS entries in /boot/loader/entries (RHEL 9 / Fedora style, grubby)"
    if grub_defaults:
        return "grub", "/etc/default/grub (GRUB defaults, update-grub/grub-mkconfig)" + also
    if kcmd:
        return "systemd-boot", "/etc/kernel/cmdline (kernel-install)"
    raise BootConfigError(
        "no supported boot configuration under %s: looked for /etc/default/grub[.d], "
        "/boot/loader/entries/*.conf, loader/loader.conf and /etc/kernel/cmdline" % root
    )
