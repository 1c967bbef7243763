# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd-boot's own files: ``loader/loader.conf`` and the directories of its entries.

Target side: standard library only, importable by Python 3.6+.

The ESP is mounted at ``/efi``, ``/boot`` or ``/boot/efi``, checked in that order as bootctl(1)
does (``--esp-path``: "If not specified, /efi/, /boot/, and /boot/efi/ are checked in turn");
systemd-boot keeps ``loader/loader.conf`` and ``loader/entries/*.conf`` there (the entries are BLS
type #1 files, read by ``_bootcfg.bls``). Only a ``loader.conf`` (``bootctl install`` always
writes one) makes a directory systemd-boot's: ``/boot/loader/entries`` alone also belongs to GRUB's
``blscfg`` on Fedora/RHEL.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

LOADER_DIRS = ("/efi/loader", "/boot/loader", "/boot/efi/loader")
MAX_CONF = 64 * 1024


def loader_dirs(root):
    """The host ``loader`` directories holding a loader.conf, in bootctl's order."""
    return [d for d in LOADER_DIRS if _rootpath.exists(root, d + "/loader.conf")]


def entry_dirs(root):
    """Every ``loader/entries`` directory present (the ones kernel-install and proxmox-boot-tool write)."""
    return [d + "/entries" for d in LOADER_DIRS if _rootpath.isdir(root, d + "/entries")]


def default_pattern(text):
    """The ``default`` of a loader.conf's text (a glob, ``@saved``, ``@default``), or None."""
    default = None
    for line in (text or "").split("\n"):
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and parts[0] == "default":
            default = parts[1].strip()
    return default
