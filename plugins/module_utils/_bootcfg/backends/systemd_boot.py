# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``systemd-boot`` backend: /etc/kernel/cmdline, then kernel-install or proxmox-boot-tool.

Target side: standard library only, importable by Python 3.6+.

The file is planned by ``_bootcfg.kernel_cmdline_file`` (edited token by token in place; created
from kernel-install's own fallback when absent, one-off boot parameters left out). Regeneration:
``proxmox-boot-tool refresh`` on Proxmox, else ``kernel-install add <version> <image> [<initrd>]``
for each installed kernel with a modules directory (``_bootcfg.kernels``). Afterwards every
systemd-boot entry (``_bootcfg.loader``, ``_bootcfg.bls``) must carry the request and the menu
must be bootable (``_bootcfg.menu_check``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import bls as _bls
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernel_cmdline_edit as _kcmd_edit
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernel_cmdline_file as _kcmd
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernels as _kernels
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import loader as _loader
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import menu_check as _menu_check
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.base import Backend
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.commands import (
    chroot_problem,
    command_for_root,
    find_tool,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Command, Plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import check_result, token_spans
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath


def check_loader_entries(root, request):
    """(problems, warnings) for the systemd-boot entries kernel-install/proxmox-boot-tool wrote."""
    problems = []
    checked = 0
    for d in _loader.entry_dirs(root):
        for e in _bls.read_entries(root, d):
            if e.linux is None:
                continue
            checked += 1
            toks = [raw for _s, _e, raw in token_spans(e.options_text or "")]
            for p in check_result(toks, toks, request, strict=False):
                problems.append("%s: %s" % (e.real_path, p))
    warnings = []
    if not checked:
        warnings.append(
            "no systemd-boot entries found under %s to check (the ESP may not be mounted)"
            % ", ".join(_loader.LOADER_DIRS)
        )
    return problems, warnings


def build_plan(root, request):
    plan = Plan("systemd-boot", root)
    kc = _kcmd_edit.plan(root, request, create=True, warnings=plan.warnings)
    if kc.change is not None:
        plan.steps.append(kc.change)
    plan.effective_before = " ".join(kc.tokens_before)
    plan.effective_after = " ".join(kc.tokens_after)
    plan.verify = kc.verify
    plan.expected_cmdline = lambda: list(kc.tokens_after)
    add_regeneration(root, plan, request)
    return plan


def add_regeneration(root, plan, request):
    """kernel-install / proxmox-boot-tool and the check of the entries for ``request``.

    Shared by a change and by a restore from the journal, so both regenerate the same way.
    """
    if os.path.abspath(root) != "/":
        problem = chroot_problem(root)
        if problem:
            plan.regen_skipped = problem
            return
    touch_globs = [(_rootpath.under(root, d), "*.conf") for d in _loader.entry_dirs(root)]
    if _kcmd.proxmox_managed(root):
        if not find_tool(root, ("proxmox-boot-tool",)):
            plan.regen_skipped = "%s exists but proxmox-boot-tool is missing" % _kcmd.PROXMOX_UUIDS
            return
        plan.regen.append(
            Command(
                command_for_root(root, ["proxmox-boot-tool", "refresh"]),
                "proxmox-boot-tool refresh",
                touch_globs=touch_globs,
            )
        )
        plan.notes.append(
            "proxmox-boot-tool refresh writes the ESPs it mounts itself; those copies cannot be "
            "snapshotted here and are not restored if a later step fails"
        )
    else:
        if not find_tool(root, ("kernel-install",)):
            plan.regen_skipped = "kernel-install not found under %s" % root
            return
        kernels = [k for k in _kernels.installed(root) if k.modules_dir is not None]
        if not kernels:
            plan.regen_skipped = "no installed kernel (modules directory plus image) found under %s" % root
            return
        for k in kernels:
            argv = ["kernel-install", "add", k.release, k.image] + ([k.initrd] if k.initrd else [])
            plan.regen.append(
                Command(command_for_root(root, argv), "kernel-install add %s" % k.release, touch_globs=touch_globs)
            )
    before = _menu_check.default_boot(root, "systemd-boot")[0]

    def verify():
        problems, warnings = check_loader_entries(root, request)
        expected = plan.expected_cmdline() if plan.expected_cmdline is not None else None
        p2, w2 = _menu_check.check(root, "systemd-boot", before, expected)
        return problems + p2, warnings + w2

    plan.verify_regen = verify


class SystemdBootBackend(Backend):
    name = "systemd-boot"

    def plan(self, root, request):
        return build_plan(root, request)

    def regenerate(self, root, plan, request):
        add_regeneration(root, plan, request)


BACKEND = SystemdBootBackend()
