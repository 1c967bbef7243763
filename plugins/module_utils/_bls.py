# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""BLS backends for GRUB with Boot Loader Specification entries (RHEL/Rocky/Alma 8+, Fedora, CentOS Stream).

Target side: standard library only, importable by Python 3.6+.

What boots next on these hosts: GRUB's ``blscfg`` reads /boot/loader/entries/*.conf; the
``options`` line of each entry is the kernel command line, after GRUB expands the
variables in it from grubenv (/boot/grub2/grubenv): RHEL 8 writes ``options $kernelopts
$tuned_params`` and keeps the parameters in grubenv's ``kernelopts``; RHEL 9 and Fedora
write the parameters literally (``options root=... ro crashkernel=... $tuned_params``).

Both backends change every source a boot can take its parameters from, so the default
entry, the other entries (rescue included, like ``grubby --update-kernel=ALL``) and
kernels installed later agree:
- each entry's literal ``options`` (the kept/new token goes there unless the entry takes
  ``$kernelopts``, where it goes into ``kernelopts``);
- grubenv ``kernelopts`` when present (written through grub2-editenv/grub-editenv when
  installed, else by this code, byte-compatible);
- /etc/kernel/cmdline when present (kernel-install uses it for new kernels on EL9+);
- GRUB_CMDLINE_LINUX in the GRUB defaults (grub2-mkconfig rebuilds kernelopts on EL8
  and, with ``--update-bls-cmdline`` on EL9.3+, the entries' options from it).
``$tuned_params`` belongs to tuned: a named parameter found there is refused.

``grubby`` backend: on the real host (root ``/``) with the ``grubby`` binary installed,
entries are changed by ``grubby --update-kernel=ALL [--remove-args=...] --args=...`` and
the result is checked against the plan; elsewhere (another root, no grubby, entries using
``$kernelopts``, or another token containing the parameter name, which grubby's
substring-based sed would mangle) the entry files are edited directly. ``grubenv``
backend: never runs grubby.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.fleetsec.vmscape.plugins.module_utils import _boot_menu, _grub_defaults, _grubenv, _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._atomic_write import read_bytes
from ansible_collections.fleetsec.vmscape.plugins.module_utils._boot_backend import (
    BootConfigError,
    Command,
    FileChange,
    Plan,
    check_result,
    edit_segments,
    find_tool,
    token_key,
    token_spans,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._cmdline import split_raw
from ansible_collections.fleetsec.vmscape.plugins.module_utils._systemd_boot import plan_kernel_cmdline

ENTRIES_DIR = "/boot/loader/entries"
GRUBENV_PATHS = ("/boot/grub2/grubenv", "/boot/grub/grubenv")
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_KEY_RE = re.compile(r"^(\s*)(\S+)(\s*)(.*?)(\r?)\Z")


def _decode(data):
    return data.decode("utf-8", "surrogateescape")


def _encode(text):
    return text.encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------- versions
def rpmvercmp(a, b):
    """-1/0/1 like rpm's rpmvercmp (alphanumeric segments; numbers beat letters, ~ sorts first)."""
    if a == b:
        return 0
    seg = re.compile(r"(~|\^|[0-9]+|[A-Za-z]+)")
    sa = seg.findall(a)
    sb = seg.findall(b)
    for i in range(min(len(sa), len(sb))):
        x, y = sa[i], sb[i]
        if x == y:
            continue
        if x == "~" or y == "~":
            return -1 if x == "~" else 1
        # "^" sorts after the end of a version but before anything else (rpm 4.15+)
        if x == "^" or y == "^":
            return -1 if x == "^" else 1
        xn, yn = x.isdigit(), y.isdigit()
        if xn and yn:
            xi, yi = int(x), int(y)
            if xi != yi:
                return -1 if xi < yi else 1
            continue
        if xn != yn:
            return 1 if xn else -1
        return -1 if x < y else 1
    if len(sa) == len(sb):
        return 0
    longer = sa if len(sa) > len(sb) else sb
    nxt = longer[min(len(sa), len(sb))]
    if nxt == "~":
        # a pre-release of the shorter version: older ("1.0~rc1" < "1.0")
        return -1 if longer is sa else 1
    return 1 if longer is sa else -1


class _VersionKey(object):
    def __init__(self, version):
        self.version = version

    def __lt__(self, other):
        return rpmvercmp(self.version, other.version) < 0

    def __eq__(self, other):
        return rpmvercmp(self.version, other.version) == 0


# --------------------------------------------------------------------------- entries
class Entry(object):
    """One BLS entry file; ``lines`` keep the text, ``options`` index the options lines."""

    def __init__(self, host_path, real_path, text):
        self.host_path = host_path
        self.real_path = real_path
        self.text = text
        self.id = os.path.basename(host_path)[: -len(".conf")]
        self.lines = text.split("\n")
        self.fields = {}
        self.options = []  # [(line_index, prefix, value, suffix)]
        for i, line in enumerate(self.lines):
            m = _KEY_RE.match(line)
            if not m or not m.group(2) or m.group(2).startswith("#"):
                continue
            key = m.group(2)
            self.fields.setdefault(key, m.group(4))
            if key == "options":
                self.options.append((i, m.group(1) + key + m.group(3), m.group(4), m.group(5)))

    @property
    def version(self):
        return self.fields.get("version") or self.id

    @property
    def options_text(self):
        return " ".join(v for _i, _p, v, _s in self.options)

    def uses(self, var):
        return any(var in _vars_in(v) for _i, _p, v, _s in self.options)

    def render(self, new_values):
        lines = list(self.lines)
        for n, (i, prefix, _v, suffix) in enumerate(self.options):
            value = new_values[n]
            if not value:
                prefix = prefix.rstrip()
            elif prefix == prefix.rstrip():
                prefix += " "
            lines[i] = prefix + value + suffix
        return "\n".join(lines)


def _vars_in(text):
    return [m.group(1) or m.group(2) for m in _VAR_RE.finditer(text)]


def expand(text, env):
    """GRUB's expansion of $var/${var} in an options line (unset = empty)."""
    return _VAR_RE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


def read_entries(root):
    out = []
    for name in _rootpath.listdir(root, ENTRIES_DIR):
        if not name.endswith(".conf"):
            continue
        hp = ENTRIES_DIR + "/" + name
        real = _rootpath.under(root, hp)
        if not os.path.isfile(real):
            continue
        out.append(Entry(hp, real, _decode(read_bytes(real))))
    # blscfg lists the newest version first
    out.sort(key=lambda e: (_VersionKey(e.version), e.id), reverse=True)
    return out


def entries_use_kernelopts(root):
    return any(e.uses("kernelopts") for e in read_entries(root))


def find_grubenv(root):
    """(host_path, real_path) of the grubenv GRUB loads, following symlinks (EL8 EFI: ESP)."""
    for hp in GRUBENV_PATHS:
        real, resolved = _rootpath.resolve(root, hp)
        if os.path.isfile(real):
            return resolved, real
    return None, None


def default_entry(entries, env):
    saved = env.get("saved_entry")
    if saved:
        for e in entries:
            if e.id == saved or e.fields.get("title") == saved:
                return e
    return entries[0] if entries else None


def effective_tokens(entry, env):
    text = expand(entry.options_text, env) if entry is not None else ""
    return [raw for _s, _e, raw in token_spans(text)]


# --------------------------------------------------------------------------- planning
class BlsState(object):
    def __init__(self, root):
        self.root = root
        self.entries = read_entries(root)
        self.env_host, self.env_real = find_grubenv(root)
        self.env_block = None
        self.env = {}
        if self.env_real:
            self.env_block = _grubenv.parse(read_bytes(self.env_real), self.env_real)
            self.env = self.env_block.as_dict()


def _grubby_hazard(entries, request):
    """Why grubby's substring matching would mangle another token, or None."""
    for e in entries:
        for _s, _e, raw in token_spans(e.options_text):
            key = token_key(raw)
            for name, _v, k in request.sets:
                if name in raw and key != k:
                    return "%s: %r contains %r" % (e.real_path, raw, name)
            for name, k in request.removes:
                if name in raw and key != k:
                    return "%s: %r contains %r" % (e.real_path, raw, name)
    return None


def grubby_tool(root, backend):
    """The grubby binary to run, or None: only for the grubby backend on the real root."""
    if backend != "grubby" or os.path.abspath(root) != "/":
        return None
    return find_tool(root, ("grubby",))


def build_plan(root, request, backend):
    """Plan for the ``grubby`` or ``grubenv`` backend."""
    st = BlsState(root)
    if not st.entries:
        raise BootConfigError("no BLS entries in %s under %s" % (ENTRIES_DIR, root))
    plan = Plan(backend, root)
    uses_kernelopts = any(e.uses("kernelopts") for e in st.entries)
    keys = request.keys
    for var in ("tuned_params",):
        val = st.env.get(var, "")
        for _s, _e, raw in token_spans(val):
            if token_key(raw) in keys:
                raise BootConfigError(
                    "%s: %s=%r contains %s, which tuned manages; change the tuned profile "
                    "instead" % (st.env_real, var, val, raw)
                )
    if uses_kernelopts and "kernelopts" not in st.env:
        raise BootConfigError(
            "the BLS entries use $kernelopts but %s has no kernelopts (grub.cfg's fallback "
            "would apply); run grub2-mkconfig first" % (st.env_real or "/boot/grub2/grubenv")
        )

    # 1. GRUB defaults (grub2-mkconfig input) and /etc/kernel/cmdline (kernel-install input).
    gp = None
    if os.path.isfile(_rootpath.under(root, _grub_defaults.MAIN)):
        gp = _grub_defaults.plan_defaults(root, request)
        plan.steps.extend(gp.changes)
        plan.warnings.extend(gp.warnings)
    kc = plan_kernel_cmdline(root, request, create=False)
    if kc is not None:
        plan.steps.extend([c for c in [kc.change] if c is not None])

    # 2. grubenv kernelopts.
    new_env = dict(st.env)
    env_change = None
    if "kernelopts" in st.env:
        segs, _b, _a = edit_segments([st.env["kernelopts"]], request, home=True)
        new_env["kernelopts"] = segs[0]
        if segs[0] != st.env["kernelopts"]:
            block = _grubenv.parse(read_bytes(st.env_real), st.env_real)
            block.set("kernelopts", segs[0])
            writer = None
            tool = find_tool("/", _grubenv.EDITENV_TOOLS)
            if tool:
                writer = _grubenv.editenv_writer(tool, st.env_real, "kernelopts", segs[0])
            env_change = FileChange(
                st.env_real, read_bytes(st.env_real), block.to_bytes(), writer=writer, label=st.env_host
            )

    # 3. entries.
    entry_changes = []
    new_options = {}
    for e in st.entries:
        values = [v for _i, _p, v, _s in e.options]
        if not values:
            new_options[e.id] = []
            continue
        home = not e.uses("kernelopts")
        segs, _b, _a = edit_segments(values, request, home=home)
        new_options[e.id] = segs
        new_text = e.render(segs)
        if new_text != e.text:
            entry_changes.append(FileChange(e.real_path, _encode(e.text), _encode(new_text), label=e.host_path))
    no_options = [e.id for e in st.entries if not e.options and request.sets]
    if no_options:
        plan.warnings.append("BLS entries without an options line were left alone: %s" % ", ".join(no_options))

    # How entries are changed: grubby (real host) or direct edits.
    grubby = grubby_tool(root, backend)
    why_not = None
    if grubby and uses_kernelopts:
        why_not = "entries use $kernelopts (grubby versions treat it differently)"
    elif grubby:
        why_not = _grubby_hazard(st.entries, request)
    if grubby and why_not:
        plan.notes.append("grubby not used: %s; entry files edited directly" % why_not)
        grubby = None
    if env_change is not None:
        plan.steps.append(env_change)
    if grubby and entry_changes:
        argv = [grubby, "--update-kernel=ALL"]
        removes = []
        for name, k in request.removes:
            count = max(sum(1 for _s, _e, r in token_spans(e.options_text) if token_key(r) == k) for e in st.entries)
            removes.extend([name] * count)
        for name, _v, k in request.sets:
            count = max(sum(1 for _s, _e, r in token_spans(e.options_text) if token_key(r) == k) for e in st.entries)
            removes.extend([name] * count)
        if removes:
            argv.append("--remove-args=%s" % " ".join(removes))
        if request.sets:
            argv.append("--args=%s" % " ".join(n if v is None else "%s=%s" % (n, v) for n, v, _k in request.sets))
        entries_real = _rootpath.under(root, ENTRIES_DIR)
        touches = [st.env_real] if st.env_real else []
        plan.steps.append(
            Command(argv, "grubby", touches=touches, touch_globs=[(entries_real, "*.conf")], predicted=entry_changes)
        )
        plan.notes.append("entries changed with %s" % " ".join(argv))
    else:
        plan.steps.extend(entry_changes)

    # Effective command line of the default entry.
    default = default_entry(st.entries, st.env)
    plan.effective_before = " ".join(effective_tokens(default, st.env))
    if default is not None:
        after_text = expand(" ".join(new_options.get(default.id, [])), new_env)
        plan.effective_after = " ".join(raw for _s, _e, raw in token_spans(after_text))
    else:
        plan.effective_after = plan.effective_before

    before_eff = dict((e.id, effective_tokens(e, st.env)) for e in st.entries)
    expected_defaults = (gp.linux_after, gp.default_after) if gp is not None else None
    expected_kc = kc.tokens_after if kc is not None else None

    def verify(strict=True):
        problems = []
        now = BlsState(root)
        for e in now.entries:
            if e.id not in before_eff or not e.options:
                continue
            for p in check_result(before_eff[e.id], effective_tokens(e, now.env), request, strict=strict):
                problems.append("%s: %s" % (e.real_path, p))
        if "kernelopts" in st.env and now.env.get("kernelopts") is not None:
            kb = [r for _s, _e, r in token_spans(st.env["kernelopts"])]
            ka = [r for _s, _e, r in token_spans(now.env["kernelopts"])]
            for p in check_result(kb, ka, request, strict=strict):
                problems.append("%s kernelopts: %s" % (st.env_real, p))
        if strict and expected_defaults is not None:
            problems.extend(_grub_defaults.verify_defaults(root, request, *expected_defaults))
        if strict and expected_kc is not None:
            problems.extend(kc.verify())
        return problems

    plan.verify = verify

    def expected_cmdline():
        return split_raw(plan.effective_after or "")

    plan.expected_cmdline = expected_cmdline
    add_regeneration(root, plan, st.env_real, lambda: (verify(strict=False), []))
    return plan


def add_regeneration(root, plan, env_real, verify_regen):
    """grub2-mkconfig (it may rewrite the entries and grubenv too) and the check afterwards.

    Shared by a change and by a restore from the journal, so both regenerate the same way.
    """
    cfg = _grub_defaults.regen_commands(root, plan, bls=True)
    if plan.regen:
        entries_real = _rootpath.under(root, ENTRIES_DIR)
        for cmd in plan.regen:
            cmd.touch_globs.append((entries_real, "*.conf"))
            if env_real:
                cmd.touches.append(env_real)
        before = _boot_menu.default_boot(root, plan.backend)[0]
        real_cfg = _rootpath.under(root, cfg)

        def verify():
            problems, warnings = verify_regen()
            data = read_bytes(real_cfg)
            if data is None or not data.strip():
                problems.append("%s is %s" % (real_cfg, "missing" if data is None else "empty"))
                return problems, warnings
            problems.extend(
                _boot_menu.script_check(root, cfg, _grub_defaults.command_for_root, _grub_defaults.find_tool)
            )
            expected = plan.expected_cmdline() if plan.expected_cmdline is not None else None
            p2, w2 = _boot_menu.check(root, plan.backend, before, expected, real_cfg)
            return problems + p2, warnings + w2

        plan.verify_regen = verify


def check_entries(root, request):
    """Problems when an entry (options expanded with grubenv) does not carry ``request``: set once, removed never."""
    now = BlsState(root)
    problems = []
    for e in now.entries:
        if not e.options:
            continue
        toks = effective_tokens(e, now.env)
        for p in check_result(toks, toks, request, strict=False):
            problems.append("%s: %s" % (e.real_path, p))
    return problems


def add_regeneration_for_restore(root, plan, request):
    """The regeneration of a restore: grub2-mkconfig, then every entry checked against ``request``."""
    _host, env_real = find_grubenv(root)
    add_regeneration(root, plan, env_real, lambda: (check_entries(root, request), []))
