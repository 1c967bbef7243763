# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``grubby`` and ``grubenv`` backends: GRUB with Boot Loader Specification entries (RHEL 8+, Fedora).

Target side: standard library only, importable by Python 3.6+.

Both change every source a boot can take its parameters from, so the default entry, the other
entries (rescue included, like ``grubby --update-kernel=ALL``) and kernels installed later agree:
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
backend: never runs grubby. The entries are read by ``_bootcfg.bls``, grubenv by
``_bootcfg.grubenv``, the default entry is ``_bootcfg.menu.bls_default`` (as the facts see it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import bls as _bls
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import current as _current
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults as _grub_defaults
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults_edit as _grub_defaults_edit
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grubenv as _grubenv
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernel_cmdline_edit as _kcmd_edit
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import menu_check as _menu_check
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.atomic_write import read_bytes
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as _grub
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.base import Backend
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.bls import ENTRIES_DIR
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.commands import find_tool
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Command, FileChange, Plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import (
    check_result,
    edit_segments,
    token_key,
    token_spans,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import split_raw
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.text import encode


def _grubby_hazard(entries, request):
    """Why grubby's substring matching would mangle another token, or None."""
    for e in entries:
        for _s, _e, raw in token_spans(e.options_text or ""):
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
    st = _current.BlsConfig(root)
    if not st.entries:
        raise BootConfigError("no BLS entries in %s under %s" % (ENTRIES_DIR, root))
    plan = Plan(backend, root)
    uses_kernelopts = _bls.uses_kernelopts(st.entries)
    keys = request.keys
    for var in ("tuned_params",):
        val = st.env.get(var, "")
        for _s, _e, raw in token_spans(val):
            if token_key(raw) in keys:
                raise BootConfigError(
                    "%s: %s=%r contains %s, which tuned manages; change the tuned profile "
                    "instead" % (st.env_real, var, val, raw)
                )
    st.check()

    # 1. GRUB defaults (grub2-mkconfig input) and /etc/kernel/cmdline (kernel-install input).
    gp = None
    if os.path.isfile(_rootpath.under(root, _grub_defaults.MAIN)):
        gp = _grub_defaults_edit.plan_defaults(root, request)
        plan.steps.extend(gp.changes)
        plan.warnings.extend(gp.warnings)
    kc = _kcmd_edit.plan(root, request, create=False)
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
                st.env_real, read_bytes(st.env_real), block.to_bytes(), writer=writer, label=st.grubenv.resolved
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
            entry_changes.append(FileChange(e.real_path, encode(e.text), encode(new_text), label=e.host_path))
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
    default = st.default
    plan.effective_before = " ".join(_bls.effective_tokens(default, st.env))
    if default is not None:
        after_text = _bls.expand(" ".join(new_options.get(default.id, [])), new_env)
        plan.effective_after = " ".join(raw for _s, _e, raw in token_spans(after_text))
    else:
        plan.effective_after = plan.effective_before

    before_eff = dict((e.id, _bls.effective_tokens(e, st.env)) for e in st.entries)
    expected_defaults = (gp.linux_after, gp.default_after) if gp is not None else None
    expected_kc = kc.tokens_after if kc is not None else None

    def verify(strict=True):
        problems = []
        now = _current.BlsConfig(root)
        for e in now.entries:
            if e.id not in before_eff or not e.options:
                continue
            for p in check_result(before_eff[e.id], _bls.effective_tokens(e, now.env), request, strict=strict):
                problems.append("%s: %s" % (e.real_path, p))
        if "kernelopts" in st.env and now.env.get("kernelopts") is not None:
            kb = [r for _s, _e, r in token_spans(st.env["kernelopts"])]
            ka = [r for _s, _e, r in token_spans(now.env["kernelopts"])]
            for p in check_result(kb, ka, request, strict=strict):
                problems.append("%s kernelopts: %s" % (st.env_real, p))
        if strict and expected_defaults is not None:
            problems.extend(_grub_defaults_edit.verify_defaults(root, request, *expected_defaults))
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
    cfg = _grub.regen_commands(root, plan, bls=True)
    if plan.regen:
        entries_real = _rootpath.under(root, ENTRIES_DIR)
        for cmd in plan.regen:
            cmd.touch_globs.append((entries_real, "*.conf"))
            if env_real:
                cmd.touches.append(env_real)
        before = _menu_check.default_boot(root, plan.backend)[0]
        real_cfg = _rootpath.under(root, cfg)

        def verify():
            problems, warnings = verify_regen()
            data = read_bytes(real_cfg)
            if data is None or not data.strip():
                problems.append("%s is %s" % (real_cfg, "missing" if data is None else "empty"))
                return problems, warnings
            problems.extend(_menu_check.script_check(root, cfg, _grub.command_for_root, _grub.find_tool))
            expected = plan.expected_cmdline() if plan.expected_cmdline is not None else None
            p2, w2 = _menu_check.check(root, plan.backend, before, expected, real_cfg)
            return problems + p2, warnings + w2

        plan.verify_regen = verify


def check_entries(root, request):
    """Problems when an entry (options expanded with grubenv) does not carry ``request``: set once, removed never."""
    now = _current.BlsConfig(root)
    problems = []
    for e in now.entries:
        if not e.options:
            continue
        toks = _bls.effective_tokens(e, now.env)
        for p in check_result(toks, toks, request, strict=False):
            problems.append("%s: %s" % (e.real_path, p))
    return problems


def add_regeneration_for_restore(root, plan, request):
    """The regeneration of a restore: grub2-mkconfig, then every entry checked against ``request``."""
    env = _grubenv.load(root)
    add_regeneration(root, plan, None if env.absent else env.real_path, lambda: (check_entries(root, request), []))


class _BlsBackend(Backend):
    def plan(self, root, request):
        return build_plan(root, request, self.name)

    def regenerate(self, root, plan, request):
        add_regeneration_for_restore(root, plan, request)


class GrubbyBackend(_BlsBackend):
    name = "grubby"


class GrubenvBackend(_BlsBackend):
    name = "grubenv"


GRUBBY = GrubbyBackend()
GRUBENV = GrubenvBackend()
