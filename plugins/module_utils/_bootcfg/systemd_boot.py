# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd-boot / kernel-install / Proxmox backend: /etc/kernel/cmdline.

Target side: standard library only, importable by Python 3.6+.

kernel-install (systemd 252, Debian bookworm: /usr/lib/kernel/install.d/90-loaderentry.install)
builds each entry's ``options`` from /etc/kernel/cmdline with ``tr -s "$IFS" ' '``: every
run of spaces, tabs and newlines becomes one space, so the file may span several lines and
has no comment syntax (a ``#`` line would reach the kernel). Without the file it falls back
to /usr/lib/kernel/cmdline, then to /proc/cmdline minus BOOT_IMAGE= and initrd=. Proxmox's
proxmox-boot-tool reads the same file for its systemd-boot ESPs.

The file is edited token by token in place (lines are kept; a line emptied by a removal is
dropped). When it does not exist it is created from what kernel-install would have used, so
nothing else changes. Regeneration: ``proxmox-boot-tool refresh`` on Proxmox, else
``kernel-install add <version> <image> [<initrd>]`` for each installed kernel.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import menu_check as _boot_menu
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.atomic_write import read_bytes
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.commands import (
    chroot_problem,
    command_for_root,
    find_tool,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.detect import ESP_LOADER_DIRS, proxmox_managed
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Command, FileChange, Plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import (
    check_result,
    edit_segments,
    token_spans,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import normalize_name, parse_token

# Parameters a running kernel may have been booted with *once* (typed at the boot menu, set by
# `systemctl reboot --boot-loader-entry`/a rescue procedure): written into /etc/kernel/cmdline
# they would come back at every boot, and kernel-install would put them into every new entry
# (systemd issue #18456: "single" persisted that way). They are never carried over from
# /proc/cmdline. Compared like kernel parameter names (- and _ equal); a name matches with or
# without a value. Sources: systemd's kernel-command-line(7) (boot targets, debug shells,
# systemd.run), dracut.cmdline(7) (rd.break, rd.shell, rd.emergency, rd.debug), initramfs-tools
# (break=), the kernel's init=/rdinit=.
ONE_OFF_PARAMS = (
    # boot into another target or a shell
    "systemd.unit",
    "rd.systemd.unit",
    "emergency",
    "rescue",
    "single",
    "s",
    "S",
    "1",
    "-s",
    "-b",
    "init",
    "rdinit",
    # debug shells, breakpoints, interactive confirmation
    "systemd.debug_shell",
    "rd.systemd.debug_shell",
    "systemd.confirm_spawn",
    "systemd.break",
    "rd.systemd.break",
    "rd.break",
    "rd.shell",
    "rd.emergency",
    "rd.debug",
    "break",
    # commands run once at boot
    "systemd.run",
    "systemd.run_success_action",
    "systemd.run_failure_action",
)
_ONE_OFF_KEYS = frozenset(n.replace("-", "_") if not n.startswith("-") else n for n in ONE_OFF_PARAMS)
KERNEL_CMDLINE = "/etc/kernel/cmdline"
USR_CMDLINE = "/usr/lib/kernel/cmdline"
MODULES_DIRS = ("/lib/modules", "/usr/lib/modules")


def _decode(data):
    return data.decode("utf-8", "surrogateescape")


def _encode(text):
    return text.encode("utf-8", "surrogateescape")


def _tokens(text):
    return [raw for _s, _e, raw in token_spans(text)]


class KernelCmdlinePlan(object):
    def __init__(self, root, real_path, change, tokens_before, tokens_after, request):
        self.root = root
        self.real_path = real_path
        self.change = change
        self.tokens_before = tokens_before
        self.tokens_after = tokens_after
        self.request = request

    def verify(self):
        data = read_bytes(self.real_path)
        if data is None:
            if self.change is None and self.tokens_after == self.tokens_before:
                return []  # left absent on purpose: kernel-install's fallback gives the same
            return ["%s is missing" % self.real_path]
        now = _tokens(_decode(data))
        if now != self.tokens_after:
            return ["%s holds %r, planned %r" % (self.real_path, " ".join(now), " ".join(self.tokens_after))]
        return []


def _fallback_cmdline(root, warnings):
    """What kernel-install uses when /etc/kernel/cmdline is absent."""
    data = read_bytes(_rootpath.under(root, USR_CMDLINE))
    if data is not None:
        warnings.append("%s created from %s" % (KERNEL_CMDLINE, USR_CMDLINE))
        return _decode(data)
    data = read_bytes(_rootpath.under(root, "/proc/cmdline"))
    if data is None:
        raise BootConfigError(
            "%s, %s and /proc/cmdline are all missing under %s; cannot tell which parameters "
            "kernel-install would use" % (KERNEL_CMDLINE, USR_CMDLINE, root)
        )
    toks = [t for t in _tokens(_decode(data)) if not t.startswith(("BOOT_IMAGE=", "initrd="))]
    kept, dropped = without_one_off(toks)
    warnings.append(
        "%s created from the running kernel's /proc/cmdline (kernel-install's own fallback)" % KERNEL_CMDLINE
    )
    if dropped:
        warnings.append(
            "one-off boot parameters of the running kernel not carried into %s (they would come back at every "
            "boot): %s" % (KERNEL_CMDLINE, " ".join(dropped))
        )
    return " ".join(kept) + "\n"


def is_one_off(raw):
    """Whether a raw token is one of ONE_OFF_PARAMS (with or without a value)."""
    name = parse_token(raw).name
    key = name if name.startswith("-") else normalize_name(name)
    return key in _ONE_OFF_KEYS


def without_one_off(tokens):
    """(kept, dropped): ``tokens`` without the one-off boot parameters (init's arguments after a
    bare ``--`` included; a ``--`` left with nothing after it goes too)."""
    kept = [t for t in tokens if t == "--" or not is_one_off(t)]
    dropped = [t for t in tokens if t != "--" and is_one_off(t)]
    if kept and kept[-1] == "--" and "--" in tokens and tokens[-1] != "--":
        kept.pop()
    return kept, dropped


def plan_kernel_cmdline(root, request, create=True, warnings=None):
    """Plan the edit of /etc/kernel/cmdline; None when absent and ``create`` is False."""
    real, _resolved = _rootpath.resolve(root, KERNEL_CMDLINE)
    data = read_bytes(real)
    if data is None:
        if not create:
            return None
        before_bytes = None
        text = _fallback_cmdline(root, warnings if warnings is not None else [])
    else:
        before_bytes = data
        text = _decode(data)
    lines = text.split("\n")
    new_lines, tokens_before, tokens_after = edit_segments(lines, request, home=True, drop_emptied=True)
    new_text = "\n".join(new_lines)
    if not tokens_before and tokens_after:
        new_text = " ".join(tokens_after) + "\n"
    if before_bytes is None and tokens_after == tokens_before:
        change = None  # kernel-install's fallback already gives the wanted parameters
    elif before_bytes is None or _encode(new_text) != before_bytes:
        change = FileChange(real, before_bytes, _encode(new_text), label=KERNEL_CMDLINE)
    else:
        change = None
    return KernelCmdlinePlan(root, real, change, tokens_before, tokens_after, request)


def installed_kernels(root):
    """[(version, image_host_path, initrd_host_path_or_None)] for kernels with modules and an image."""
    seen = set()
    out = []
    for md in MODULES_DIRS:
        for kver in _rootpath.listdir(root, md):
            if kver in seen or not os.path.isdir(_rootpath.under(root, md + "/" + kver)):
                continue
            image = None
            for cand in ("/boot/vmlinuz-%s" % kver, "%s/%s/vmlinuz" % (md, kver)):
                if os.path.isfile(_rootpath.under(root, cand)):
                    image = cand
                    break
            if image is None:
                continue
            initrd = None
            for cand in ("/boot/initrd.img-%s" % kver, "/boot/initramfs-%s.img" % kver):
                if os.path.isfile(_rootpath.under(root, cand)):
                    initrd = cand
                    break
            seen.add(kver)
            out.append((kver, image, initrd))
    return sorted(out)


def loader_entry_dirs(root):
    return [
        _rootpath.under(root, d + "/entries")
        for d in ESP_LOADER_DIRS
        if os.path.isdir(_rootpath.under(root, d + "/entries"))
    ]


def _read_entry_options(path):
    data = read_bytes(path)
    if data is None:
        return None, None
    linux = None
    opts = []
    for line in _decode(data).splitlines():
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        if parts[0] == "linux":
            linux = parts[1] if len(parts) > 1 else ""
        elif parts[0] == "options":
            opts.append(parts[1] if len(parts) > 1 else "")
    return linux, " ".join(opts)


def check_loader_entries(root, request):
    """(problems, warnings) for the systemd-boot entries kernel-install/proxmox-boot-tool wrote."""
    dirs = loader_entry_dirs(root)
    problems = []
    checked = 0
    for d in dirs:
        for name in sorted(os.listdir(d)):
            if not name.endswith(".conf"):
                continue
            linux, opts = _read_entry_options(os.path.join(d, name))
            if linux is None:
                continue
            checked += 1
            toks = _tokens(opts)
            for p in check_result(toks, toks, request, strict=False):
                problems.append("%s: %s" % (os.path.join(d, name), p))
    warnings = []
    if not checked:
        warnings.append(
            "no systemd-boot entries found under %s to check (the ESP may not be mounted)" % ", ".join(ESP_LOADER_DIRS)
        )
    return problems, warnings


def build_plan(root, request):
    plan = Plan("systemd-boot", root)
    kc = plan_kernel_cmdline(root, request, create=True, warnings=plan.warnings)
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
    touch_globs = [(d, "*.conf") for d in loader_entry_dirs(root)]
    if proxmox_managed(root):
        if not find_tool(root, ("proxmox-boot-tool",)):
            plan.regen_skipped = "/etc/kernel/proxmox-boot-uuids exists but proxmox-boot-tool is missing"
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
        kernels = installed_kernels(root)
        if not kernels:
            plan.regen_skipped = "no installed kernel (modules directory plus image) found under %s" % root
            return
        for kver, image, initrd in kernels:
            argv = ["kernel-install", "add", kver, image] + ([initrd] if initrd else [])
            plan.regen.append(
                Command(command_for_root(root, argv), "kernel-install add %s" % kver, touch_globs=touch_globs)
            )
    before = _boot_menu.default_boot(root, "systemd-boot")[0]

    def verify():
        problems, warnings = check_loader_entries(root, request)
        expected = plan.expected_cmdline() if plan.expected_cmdline is not None else None
        p2, w2 = _boot_menu.check(root, "systemd-boot", before, expected)
        return problems + p2, warnings + w2

    plan.verify_regen = verify
