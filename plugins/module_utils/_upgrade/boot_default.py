# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make an installed kernel the one that boots next, the way the host's boot loader expects.

Target side: standard library only, importable by Python 3.6+.

After the upgrade stage installed a fixed kernel, the host must boot it (docs/upgrade.md).
Package scripts usually take care of that (Debian's ``GRUB_DEFAULT=0`` lists the newest kernel
first; grubby's ``UPDATEDEFAULT``); when the boot configuration pins another entry, this
module changes the default through the mechanism that pins it:

- GRUB, ``GRUB_DEFAULT=saved``: ``grub-editenv <grubenv> set saved_entry=<entry>``
  (what ``grub-set-default`` does); grub.cfg stays as it is.
- GRUB, ``GRUB_DEFAULT=<index|id|title>`` (or unset): the literal value of the last
  assignment grub-mkconfig sees (followed with _bootcfg.grub_shell, never executed) is replaced by the
  new kernel's menu entry id path (``gnulinux-advanced-<uuid>>gnulinux-<rel>-advanced-<uuid>``),
  then grub.cfg is regenerated. A value built from quotes, variables or code is refused.
- BLS with grubby (RHEL-family): ``grubby --set-default /boot/vmlinuz-<rel>``.
- systemd-boot: ``default`` in loader.conf names the new kernel's entry.

The boot configuration is read with _bootcfg's readers (the one detector, grub.cfg, the GRUB
defaults, grubenv, BLS entries, loader.conf), as the facts and kernel_cmdline read it. Every write
goes through _bootcfg.apply's execute (backups, restore on failure), under kernel_cmdline's lock;
the result is checked by reading the boot configuration again as the facts do
(_facts.next_boot.find_boot_kernel): the new kernel must be what boots next, or every file is put
back and the module fails, so the host keeps booting its previous kernel.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import bls as _bls
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import detect as _detect
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_cfg as _grub_cfg
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults as _grub_defaults
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grubenv as _grubenv
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import loader as _loader
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import menu as _menu
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as _grub_backend
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.commands import find_tool
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_shell import ShellError, follow
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Command, FileChange, Plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.text import decode, encode
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.next_boot import find_boot_kernel

GRUB_DEFAULT = "GRUB_DEFAULT"
_SAFE_SPEC = re.compile(r"^[A-Za-z0-9._+~:>-]+$")
_PLAIN_VALUE = re.compile(r"""^(?:"[^"\\$`]*"|'[^']*'|[A-Za-z0-9._+~:>-]*)$""")


def _walk(node, path):
    for child in node.children:
        if child.kind == "submenu":
            yield from _walk(child, [*path, child])
        elif child.kind == "menuentry":
            yield [*path, child]


def grub_entry_for(root, release):
    """(grub.cfg host path, entry spec, title) of the first non-recovery entry booting ``release``."""
    gdir = _grub_cfg.grub_dir(root)
    if gdir is None or not _rootpath.isfile(root, gdir + "/grub.cfg"):
        return None, None, None
    hp = gdir + "/grub.cfg"
    try:
        text = decode(_rootpath.read_bytes(root, hp, _grub_cfg.MAX_CFG))
    except OSError as exc:
        raise BootConfigError(_rootpath.describe_oserror(hp, exc)) from None
    for chain in _walk(_grub_cfg.parse(text, hp).tree, []):
        entry = chain[-1]
        if entry.linux is None or _menu.release_from_image(entry.linux) != release:
            continue
        args = entry.args or []
        if "single" in args or "recovery" in (entry.title or "").lower() or "recovery" in (entry.id or ""):
            continue
        if all(node.id for node in chain):
            spec = ">".join(node.id for node in chain)
        else:
            spec = ">".join(node.title or "" for node in chain)
        return hp, spec, entry.title
    return hp, None, None


def next_boot_release(root, running=None):
    """The release that boots next, as the facts see it (``bootloader`` / ``boot_kernel``)."""
    boot, _menu_info, _warnings = find_boot_kernel(root, running)
    return boot.get("release")


def _grub_default_state(root):
    files = _grub_defaults.load(root)
    try:
        state = follow([(f.real_path, f.text) for f in files], watched=(GRUB_DEFAULT,))
    except ShellError as exc:
        raise BootConfigError("GRUB_DEFAULT cannot be followed safely: %s" % exc) from None
    return files, state


def _replace_default(files, state, spec):
    """FileChange setting GRUB_DEFAULT="spec" where its last assignment is (or appending it)."""
    last = state.last_assignment(GRUB_DEFAULT)
    if last is None or last.kind == "unset":
        main = [f for f in files if f.host_path == _grub_defaults.MAIN and f.exists]
        if not main:
            raise BootConfigError("no %s to add GRUB_DEFAULT to" % _grub_defaults.MAIN)
        f = main[0]
        text = f.text if f.text.endswith("\n") or not f.text else f.text + "\n"
        new = text + (
            "# Set by fleetsec.vmscape.boot_default: the kernel with the VMSCAPE fix boots next.\n"
            'GRUB_DEFAULT="%s"\n' % spec
        )
        return f, new
    f = files[last.src.index]
    raw = f.text[last.value_start : last.value_end]
    if not _PLAIN_VALUE.match(raw):
        raise BootConfigError(
            "%s:%d: GRUB_DEFAULT=%s is built from variables, escapes or code; refusing to change it "
            "automatically (set it to %s by hand)" % (f.real_path, last.line, raw, spec)
        )
    new = f.text[: last.value_start] + '"%s"' % spec + f.text[last.value_end :]
    return f, new


def build_plan(root, release, running=None):
    """(plan or None when nothing is to change, info dict). Raises BootConfigError."""
    backend, why = _detect.detect(root)
    info = {"backend": backend, "detected": why, "method": None, "entry": None, "previous": None}
    info["previous"] = next_boot_release(root, running)
    if info["previous"] == release:
        info["method"] = "already"
        return None, info
    plan = Plan(backend, root)

    def problems():
        now = next_boot_release(root, running)
        return ["after the change the next boot is %s, not %s" % (now, release)] if now != release else []

    def verify_next():
        return problems()

    def verify_regenerated():
        return problems(), []

    if backend == "grub":
        cfg, spec, title = grub_entry_for(root, release)
        if cfg is None:
            raise BootConfigError("no grub.cfg under %s" % root)
        if spec is None:
            raise BootConfigError(
                "%s has no menu entry for %s (update-grub did not run after the kernel was installed?)" % (cfg, release)
            )
        if not _SAFE_SPEC.match(spec):
            raise BootConfigError("the menu entry of %s (%r) has no id usable in GRUB_DEFAULT" % (release, title))
        info["entry"] = spec
        files, state = _grub_default_state(root)
        value = state.value(GRUB_DEFAULT)
        if value is not None and value.unknown is not None:
            raise BootConfigError("GRUB_DEFAULT cannot be known: %s" % value.unknown)
        if value is not None and value.text == "saved":
            info["method"] = "grubenv saved_entry"
            env = _grubenv.load(root, os.path.dirname(cfg))
            if not env.readable and not env.absent:
                raise BootConfigError(env.why)
            block = env.block if env.block is not None else _grubenv.EnvBlock.empty()
            before = None if env.absent else _read_env(env)
            block.set("saved_entry", spec)
            tool = _editenv(root)
            if tool is None:
                raise BootConfigError("GRUB_DEFAULT=saved but no grub-editenv to set saved_entry")
            real = env.real_path or _rootpath.under(root, env.host_path)
            plan.steps.append(
                FileChange(
                    real, before, block.to_bytes(), writer=_grubenv.editenv_writer(tool, real, "saved_entry", spec)
                )
            )
            plan.verify = verify_next
        else:
            info["method"] = "GRUB_DEFAULT"
            f, new = _replace_default(files, state, spec)
            plan.steps.append(FileChange(f.real_path, encode(f.text), encode(new), mode=0o644))
            cfg_hp = _grub_backend.regen_commands(root, plan)
            if cfg_hp is None:
                raise BootConfigError(
                    "GRUB_DEFAULT must change but grub.cfg cannot be regenerated: %s" % plan.regen_skipped
                )
            plan.verify_regen = verify_regenerated
        return plan, info
    if backend in ("grubby", "grubenv"):
        tool = find_tool(root, ("grubby",))
        if tool is None or _rootpath.normalize_root(root) != "/":
            raise BootConfigError("BLS entries are made the default with grubby, which is not available here")
        image = "/boot/vmlinuz-%s" % release
        info["method"] = "grubby --set-default"
        touches = [_rootpath.under(root, d + "/grubenv") for d in _grub_cfg.GRUB_DIRS]
        plan.steps.append(Command([tool, "--set-default", image], "make %s the default" % image, touches=touches))
        plan.verify = verify_next
        return plan, info
    if backend == "systemd-boot":
        for ldir in _loader.LOADER_DIRS:
            entries = _bls.read_entries(root, ldir + "/entries", warnings=[])
            match = [e.id for e in entries if e.version == release or e.id.endswith(release)]
            if not match:
                continue
            conf_hp = ldir + "/loader.conf"
            real = _rootpath.under(root, conf_hp)
            try:
                before = _rootpath.read_optional(real, _loader.MAX_CONF)
            except OSError as exc:
                raise BootConfigError(_rootpath.describe_oserror(conf_hp, exc)) from None
            text = decode(before or b"")
            line = "default %s.conf" % match[0]
            if re.search(r"(?m)^\s*default\s+\S.*$", text):
                new = re.sub(r"(?m)^\s*default\s+\S.*$", line, text, count=1)
            else:
                new = (text if text.endswith("\n") or not text else text + "\n") + line + "\n"
            info["method"] = "loader.conf default"
            info["entry"] = match[0]
            plan.steps.append(FileChange(real, before or None, encode(new), mode=0o644))
            plan.verify = verify_next
            return plan, info
        raise BootConfigError("no systemd-boot entry for %s" % release)
    raise BootConfigError("cannot make %s the default with the %s backend" % (release, backend))


def _read_env(env):
    """The bytes of the grubenv ``env`` was read from (what a failed change puts back)."""
    try:
        return _rootpath.read_optional(env.real_path, _grubenv.MAX_ENV)
    except OSError as exc:
        raise BootConfigError(_rootpath.describe_oserror(env.host_path, exc)) from None


def _editenv(root):
    """grub-editenv (grub2-editenv on EL): the host's own on /, else the controller-side one."""
    if _rootpath.normalize_root(root) == "/":
        return find_tool(root, _grubenv.EDITENV_TOOLS)
    for name in _grubenv.EDITENV_TOOLS:
        path = shutil.which(name)
        if path:
            return path
    return None
