# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which boot configuration a root has: the one detector kernel_cmdline and vmscape_facts share.

Target side: standard library only, importable by Python 3.6+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

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
