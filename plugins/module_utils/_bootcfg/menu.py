# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The default entry of the boot menu: which kernel boots next, and with which command line.

Target side: standard library only, importable by Python 3.6+.

Read-only, from the one reader of each format (``grub_cfg``, ``grubenv``, ``bls``, ``loader``,
``kernel_cmdline_file``); the facts (``_facts.next_boot``), the check of a regenerated menu
(``menu_check``) and the BLS backends (which entry's options are "the" command line) all resolve
the default entry here:

1. GRUB (``/boot/grub/grub.cfg`` or ``/boot/grub2/grub.cfg``): the generated ``set default=``
   lines, with grubenv's ``next_entry`` (one-shot) and ``saved_entry`` when the config refers to
   them; the default is an index path ("1>2"), an entry id or a title, resolved through
   menuentries and submenus. A ``blscfg`` command (Fedora/RHEL) inserts the BLS entries of
   ``/boot/loader/entries`` at its place, newest version first.
2. systemd-boot: ``loader/loader.conf`` ``default`` (a glob) over ``loader/entries/*.conf``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fnmatch
import posixpath
import re

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import bls as _bls
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_cfg as _grub_cfg
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grubenv as _grubenv
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernel_cmdline_file as _kcmd
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import loader as _loader
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_cfg import MenuNode, resolve_default
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

IMAGE_PREFIXES = ("vmlinuz-", "vmlinux-", "bzImage-", "kernel-")


# --------------------------------------------------------------------------- images
def release_from_image(path):
    """Kernel release from an image path, or None."""
    if not path:
        return None
    base = posixpath.basename(path)
    for prefix in IMAGE_PREFIXES:
        if base.startswith(prefix) and len(base) > len(prefix):
            return base[len(prefix) :]
    if base in ("vmlinuz", "linux", "vmlinux", "bzImage"):
        parent = posixpath.basename(posixpath.dirname(path))
        if parent and re.match(r"^[0-9]+\.[0-9]+", parent):
            return parent
    return None


def locate_image(root, path, bases=("/", "/boot")):
    """Host path of a boot entry's image path (which is relative to its partition)."""
    if not path:
        return None
    path = re.sub(r"^\([^)]*\)", "", path)  # (hd0,gpt2)/vmlinuz-...
    if not path.startswith("/"):
        path = "/" + path
    cands = [_rootpath.host_join(b, path) for b in bases]
    if "/boot/" in path:
        cands.append(path[path.index("/boot/") :])  # btrfs subvolume prefix "/@/boot/..."
    for cand in cands:
        if _rootpath.isfile(root, cand):
            return cand
    return None


# --------------------------------------------------------------------------- reading
def _read_why(root, hp, warnings, quiet_missing=True):
    """(text, None, False), or (None, "<path>: reason", absent) where ``absent`` tells a missing
    file from an unreadable one; a missing file is only warned about when not ``quiet_missing``."""
    try:
        return _rootpath.read_text(root, hp, _grub_cfg.MAX_CFG), None, False
    except OSError as exc:
        why = _rootpath.describe_oserror(hp, exc)
        absent = exc.errno in (errno.ENOENT, errno.ENOTDIR)
        if not (quiet_missing and absent):
            warnings.append(why)
        return None, why, absent


def _missing(path, why, absent):
    """``<path>, which is absent`` or ``<path>, which cannot be read (<why>)``."""
    if absent:
        return path + ", which is absent"
    return "%s, which cannot be read (%s)" % (path, why)


def _load_env(root, grub_dir, warnings):
    env = _grubenv.load(root, grub_dir)
    if not env.readable and not env.absent:
        warnings.append(env.why)
    return env


def _insert_bls(tree, entries):
    """Replace blscfg markers with menuentries built from BLS entries (GRUB's blscfg; an entry
    without a ``linux`` key makes no menu entry)."""

    def walk(node):
        new = []
        for child in node.children:
            if child.kind == "bls-marker":
                for e in entries:
                    if not e.linux:
                        continue
                    n = MenuNode("menuentry", e.title or e.id, e.id, child.line, child.section)
                    n.bls = e
                    new.append(n)
            else:
                walk(child)
                new.append(child)
        node.children = new

    walk(tree)


def _grub(root, grub_dir, cfg_text, warnings):
    """(boot dict or None, menu dict) of a GRUB setup."""
    cfg_path = grub_dir + "/grub.cfg"
    genv_file = _load_env(root, grub_dir, warnings)
    genv = genv_file.vars or {}
    cfg = _grub_cfg.parse(cfg_text, cfg_path)
    env = dict(cfg.env)
    env.update(genv)
    if cfg.blscfg_at is not None:
        _insert_bls(cfg.tree, _bls.read_entries(root, _bls.ENTRIES_DIR, warnings))
    # Which default: next_entry (one-shot) wins when the config honours it, then the last
    # unconditional value (a literal or ${saved_entry}).
    spec = None
    source = "grub_cfg"
    # Why the entry found is a guess rather than what GRUB will pick (None: it is what GRUB picks).
    # grubenv holds what grub-set-default / grub2-set-default and grub-reboot saved; when the
    # default is taken from it and it cannot be read, the next boot is unknown.
    guessed = None
    unreadable = not genv_file.readable and not genv_file.absent
    honours_next = any("next_entry" in v for v, _l in cfg.defaults)
    if honours_next and unreadable:
        guessed = "%s honours a one-shot next_entry from grubenv, which cannot be read (%s)" % (
            cfg_path,
            genv_file.why,
        )
    if honours_next and genv.get("next_entry"):
        spec, source = genv["next_entry"], "grubenv_saved"
        warnings.append("%s/grubenv: one-shot next_entry=%s boots next" % (grub_dir, spec))
    else:
        plain = [v for v, _l in cfg.defaults if "next_entry" not in v]
        if plain:
            raw = plain[-1]
            if "saved_entry" in raw:
                if not genv_file.readable:
                    guessed = "%s takes the default entry from saved_entry in %s" % (
                        cfg_path,
                        _missing(genv_file.host_path, genv_file.why, genv_file.absent),
                    )
                spec = genv.get("saved_entry") or ""
                source = "grubenv_saved"
                if not spec:
                    spec = "0"
                    source = "grub_cfg"
            else:
                spec = _grub_cfg.expand_vars(raw, env) or "0"
        else:
            spec = "0"
    entry = resolve_default(cfg.tree, spec)
    if entry is None and spec != "0":
        warnings.append("%s: default entry %r not found; GRUB falls back to the first entry" % (cfg_path, spec))
        entry = resolve_default(cfg.tree, "0")
        source = "grub_cfg"
    menu = {"configured_cmdline": None, "configured_cmdline_reason": None, "entry": entry}
    if entry is None:
        warnings.append("%s: no bootable menu entry found" % cfg_path)
        menu["configured_cmdline_reason"] = "%s: no bootable menu entry found" % cfg_path
        return None, menu
    cmdline_why = None
    if entry.bls is not None:
        source = "bls" if source == "grub_cfg" else source
        e = entry.bls
        image = locate_image(root, e.linux)
        release = e.version or release_from_image(e.linux)
        options = e.options_text
        cmdline = _grub_cfg.expand_vars(_bls.expand(options, env), {}) if options is not None else None
        raw_image = e.linux
        if options is None:
            cmdline_why = "BLS entry %s has no options line" % e.id
        elif not genv_file.readable:
            # EL8 keeps the whole cmdline in grubenv ($kernelopts): without grubenv it is unknown.
            missing = sorted(set(e.variables()) - set(cfg.env))
            if missing:
                cmdline = None
                cmdline_why = "BLS entry %s takes %s from %s" % (
                    e.id,
                    ", ".join("$" + v for v in missing),
                    _missing(genv_file.host_path, genv_file.why, genv_file.absent),
                )
    else:
        raw_image = entry.linux
        image = locate_image(root, entry.linux)
        release = release_from_image(entry.linux)
        cmdline = " ".join(entry.args) if entry.args is not None else None
        if entry.linux is None:
            warnings.append("%s:%d: default entry %r has no linux line" % (cfg_path, entry.line, entry.title))
            cmdline_why = "%s:%d: default entry %r has no linux line" % (cfg_path, entry.line, entry.title)
    if image is None and raw_image:
        warnings.append("%s: image %s of the default entry not found" % (cfg_path, raw_image))
    menu["configured_cmdline"] = cmdline
    menu["configured_cmdline_reason"] = cmdline_why
    return {"release": release, "source": source, "image": image, "source_reason": guessed}, menu


def _systemd_boot(root, warnings):
    """(boot dict or None, menu dict or None) of systemd-boot; (None, None) without a loader.conf."""
    for ldir in _loader.LOADER_DIRS:
        conf, _why, _absent = _read_why(root, ldir + "/loader.conf", warnings)
        if conf is None:
            continue
        entries = _bls.read_entries(root, ldir + "/entries", warnings)
        default = _loader.default_pattern(conf)
        chosen = None
        if default and default not in ("@saved", "@default"):
            for e in entries:
                if fnmatch.fnmatchcase(e.id, default) or fnmatch.fnmatchcase(e.name, default):
                    chosen = e
                    break
            if chosen is None:
                warnings.append("%s/loader.conf: default %r matches no entry" % (ldir, default))
        guessed = None
        if default in ("@saved", "@default"):
            guessed = "%s/loader.conf: default %s is kept in EFI variables, which a snapshot does not show" % (
                ldir,
                default,
            )
            warnings.append("%s; using the first entry" % guessed)
        if chosen is None and entries:
            chosen = entries[0]
        menu = {"configured_cmdline": None, "configured_cmdline_reason": None, "entry": chosen}
        if chosen is None:
            menu["configured_cmdline_reason"] = "%s/entries: no boot entry" % ldir
            return None, menu
        esp = ldir[: -len("/loader")] or "/"
        image = locate_image(root, chosen.linux, bases=(esp, "/", "/boot"))
        release = chosen.version or release_from_image(chosen.linux)
        if chosen.options_text is not None:
            menu["configured_cmdline"] = " ".join(chosen.options_text.split())
        else:
            try:
                menu["configured_cmdline"] = " ".join(_kcmd.read_file(root).split())
            except BootConfigError as exc:
                menu["configured_cmdline_reason"] = "%s/entries/%s has no options line and %s" % (
                    ldir,
                    chosen.name,
                    exc.message,
                )
        if image is None and chosen.linux:
            warnings.append("%s/entries/%s: image %s not found" % (ldir, chosen.name, chosen.linux))
        return {"release": release, "source": "systemd_boot", "image": image, "source_reason": guessed}, menu
    return None, None


def default_boot(root, warnings, only=None):
    """The default entry of the boot menu under ``root``: (boot, menu, tried).

    ``boot``: {release, source, image, source_reason} or None; ``menu``: {configured_cmdline,
    configured_cmdline_reason, entry} (``entry``: the grub_cfg.MenuNode or bls.Entry) or None when
    no menu was found; ``tried``: what was looked at then. ``only="systemd-boot"`` reads only
    systemd-boot's menu (the check after kernel-install).
    """
    tried = []
    if only != "systemd-boot":
        for gdir in _grub_cfg.GRUB_DIRS:
            text, why, absent = _read_why(root, gdir + "/grub.cfg", warnings)
            if text is not None:
                boot, menu = _grub(root, gdir, text, warnings)
                return boot, menu, tried
            tried.append(why if not absent else gdir + "/grub.cfg")
    boot, menu = _systemd_boot(root, warnings)
    if menu is None:
        tried.append("loader/entries under " + ", ".join(_loader.LOADER_DIRS))
    return boot, menu, tried


def bls_default(root, entries, env):
    """The BLS entry that boots by default, as GRUB picks it (``default_boot``) when grub.cfg is there
    and its default is a BLS entry; otherwise as the grub.cfg grub2-mkconfig writes for BLS would
    (``next_entry``, then ``saved_entry``: an index, id or title; else the newest entry)."""
    boot, menu, _tried = default_boot(root, [])
    node = (menu or {}).get("entry") if boot is not None else None
    if node is not None and getattr(node, "bls", None) is not None:
        for e in entries:
            if e.id == node.bls.id:
                return e
    spec = env.get("next_entry") or env.get("saved_entry")
    if spec:
        if re.match(r"^[0-9]+\Z", spec) and int(spec) < len(entries):
            return entries[int(spec)]
        for e in entries:
            if spec in (e.id, e.title):
                return e
    return entries[0] if entries else None
