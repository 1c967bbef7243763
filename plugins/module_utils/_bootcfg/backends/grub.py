# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``grub`` backend: edit the GRUB defaults, regenerate grub.cfg, check what was generated.

Target side: standard library only, importable by Python 3.6+.

The change is planned by ``_bootcfg.grub_defaults`` (where a token is written, and why); the
regeneration is ``update-grub``, else ``grub-mkconfig -o /boot/grub/grub.cfg``, else
``grub2-mkconfig -o /boot/grub2/grub.cfg`` (never over an EFI stub; with
``--update-bls-cmdline`` where grub2-mkconfig has it and BLS entries are used; then
``proxmox-boot-tool refresh`` on Proxmox). The BLS backends regenerate through ``regen_commands``
too. Afterwards the ``10_linux`` entries of grub.cfg must carry the request, the real
``grub-script-check`` must accept the file and the menu must be bootable (``_bootcfg.menu_check``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_cfg as _grub_cfg
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults_edit as _grub_defaults_edit
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernel_cmdline_file as _kcmd
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import menu_check as _menu_check
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.atomic_write import read_bytes
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.base import Backend
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.commands import (
    chroot_problem,
    command_for_root,
    find_tool,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Command, Plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import (
    check_result,
    token_key,
    token_spans,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.text import decode


def linux_lines(data, path):
    """[(line_no, [args after the kernel path])] of the Linux entries 10_linux wrote (custom entries
    are the admin's; a ``linux`` line naming no kernel boots nothing and is left out); None when the
    file has no such section."""
    lines = _grub_cfg.parse(decode(data), path).linux_section_lines()
    if lines is None:
        return None
    return [(ln.line, [raw for _s, _e, raw in token_spans(ln.args_text)]) for ln in lines if ln.image is not None]


def check_grub_cfg(path, request):
    """(problems, warnings) for the generated grub.cfg's Linux entries."""
    data = read_bytes(path)
    if data is None:
        return ["%s was not written" % path], []
    if not data.strip():
        return ["%s is empty" % path], []
    lines = linux_lines(data, path)
    if lines is None:
        return [], ["%s has no 10_linux section (BLS or custom); its entries were not checked" % path]
    if not lines:
        return [], ["%s has no Linux entries (no kernel installed?); nothing to check" % path]
    problems = []
    for no, args in lines:
        for p in check_result(args, args, request, strict=False):
            problems.append("%s:%d: %s" % (path, no, p))
    if not request.everywhere:
        for name, _value, key in request.sets:
            if not any(token_key(raw) == key for _no, args in lines for raw in args):
                problems.append("%s: no Linux entry carries %s" % (path, name))
    return problems, []


def regen_commands(root, plan, bls=False):
    """Fill plan.regen (or plan.regen_skipped) for GRUB; return the grub.cfg host path or None."""
    tool = None
    for name in ("update-grub", "grub-mkconfig", "grub2-mkconfig"):
        if find_tool(root, (name,)):
            tool = name
            break
    if tool is None:
        plan.regen_skipped = "no update-grub, grub-mkconfig or grub2-mkconfig found under %s" % root
        return None
    if os.path.abspath(root) != "/":
        problem = chroot_problem(root)
        if problem:
            plan.regen_skipped = problem
            return None
    cfg = _grub_cfg.target(root, tool)
    if tool == "update-grub":
        argv = ["update-grub"]
    else:
        argv = [tool, "-o", cfg]
        if tool == "grub2-mkconfig" and bls and supports_update_bls_cmdline(root):
            argv.append("--update-bls-cmdline")
    real_cfg = _rootpath.under(root, cfg)
    touches = [real_cfg, real_cfg + ".new"]
    plan.regen.append(Command(command_for_root(root, argv), "regenerate %s" % cfg, touches=touches))
    if _kcmd.proxmox_managed(root) and find_tool(root, ("proxmox-boot-tool",)):
        plan.regen.append(
            Command(
                command_for_root(root, ["proxmox-boot-tool", "refresh"]), "copy kernels and configuration to the ESPs"
            )
        )
    return cfg


def supports_update_bls_cmdline(root):
    """grub2-mkconfig takes --update-bls-cmdline (RHEL 9.3+, Fedora 39+): read its own source."""
    hp = find_tool(root, ("grub2-mkconfig",))
    if hp is None:
        return False
    data = read_bytes(_rootpath.under(root, hp)) or b""
    return b"--update-bls-cmdline" in data


def add_regeneration(root, plan, request):
    """Regeneration of grub.cfg and its check for ``request``; the grub.cfg host path or None.

    Shared by a change and by a restore from the journal, so both regenerate the same way.
    """
    cfg = regen_commands(root, plan)
    if cfg is not None:
        real_cfg = _rootpath.under(root, cfg)
        before = _menu_check.default_boot(root, "grub")[0]
        plan.verify_regen = lambda: check_generated(root, cfg, real_cfg, request, plan, before)
    return cfg


def check_generated(root, cfg, real_cfg, request, plan, before):
    """(problems, warnings) after update-grub/grub-mkconfig: the 10_linux entries carry the
    request, grub-script-check accepts the file, the menu is bootable (``_menu_check.check``)."""
    problems, warnings = check_grub_cfg(real_cfg, request)
    data = read_bytes(real_cfg)
    if data is None or not data.strip():
        return problems, warnings
    problems.extend(_menu_check.script_check(root, cfg, command_for_root, find_tool))
    lines = linux_lines(data, cfg)
    expected = plan.expected_cmdline() if plan.expected_cmdline is not None else None
    p2, w2 = _menu_check.check(
        root, plan.backend, before, expected, real_cfg, [args for _n, args in lines] if lines else None
    )
    return problems + p2, warnings + w2


def build_plan(root, request):
    """The complete plan of the ``grub`` backend."""
    plan = Plan("grub", root)
    gp = _grub_defaults_edit.plan_defaults(root, request)
    plan.steps.extend(gp.changes)
    plan.warnings.extend(gp.warnings)
    plan.effective_before = " ".join(gp.tokens_before)
    plan.effective_after = " ".join(gp.tokens_after)
    plan.verify = lambda: _grub_defaults_edit.verify_defaults(root, request, gp.linux_after, gp.default_after)
    plan.expected_cmdline = lambda: list(gp.tokens_after)
    cfg = add_regeneration(root, plan, request)
    if cfg is not None:
        real_cfg = _rootpath.under(root, cfg)
        if not plan.changes_files and os.path.isfile(real_cfg):
            problems, _w = check_grub_cfg(real_cfg, request)
            if problems:
                plan.regen_stale = "%s is out of date: %s" % (cfg, problems[0])
    return plan


class GrubBackend(Backend):
    name = "grub"

    def plan(self, root, request):
        return build_plan(root, request)

    def regenerate(self, root, plan, request):
        return add_regeneration(root, plan, request)


BACKEND = GrubBackend()
