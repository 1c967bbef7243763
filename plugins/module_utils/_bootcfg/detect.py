# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which boot configuration a root has: the one detector kernel_cmdline and vmscape_facts share.

Target side: standard library only, importable by Python 3.6+.

Every backend claims a root with a reason (``claim_<backend>``): ``CONFIGURED`` when the files it
edits are there, ``TRACE`` when only something it would use is (an ``/etc/kernel/cmdline`` alone,
a generated ``grub.cfg`` without GRUB defaults). ``detect`` takes the first configured claim in
``ORDER``, else the first trace:

1. systemd-boot: ``/etc/kernel/proxmox-boot-uuids`` with ``/etc/kernel/cmdline`` (Proxmox's
   proxmox-boot-tool), or a ``loader/loader.conf`` (``_bootcfg.loader``) - unless GRUB's directory
   and BLS entries are there too (GRUB then boots them), or GRUB defaults without
   ``/etc/kernel/cmdline`` (a leftover loader.conf; GRUB is what update-grub keeps current);
2. grubenv: BLS entries taking ``$kernelopts`` (RHEL 8 style, grubenv ``kernelopts``);
3. grubby: BLS entries with literal options (RHEL 9, Fedora);
4. grub: ``/etc/default/grub`` or ``/etc/default/grub.d/*.cfg``;
5. traces: ``/etc/kernel/cmdline`` (systemd-boot, kernel-install), then a generated grub.cfg
   (grub: the GRUB defaults are created by the change).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import bls as _bls
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_cfg as _grub_cfg
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernel_cmdline_file as _kcmd
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import loader as _loader
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

CONFIGURED = 2
TRACE = 1
GRUB_MAIN = "/etc/default/grub"
GRUB_DROPINS = "/etc/default/grub.d"


def _grub_defaults_present(root):
    if _rootpath.exists(root, GRUB_MAIN):
        return True
    return any(n.endswith(".cfg") for n in _rootpath.listdir(root, GRUB_DROPINS))


def _bls_entries(root):
    return [n for n in _rootpath.listdir(root, _bls.ENTRIES_DIR) if n.endswith(".conf")]


def _grub_dir_present(root):
    return _rootpath.exists(root, "/boot/grub2") or _rootpath.exists(root, "/boot/grub")


def claim_systemd_boot(root):
    kcmd = _rootpath.exists(root, _kcmd.KERNEL_CMDLINE)
    if _kcmd.proxmox_managed(root) and kcmd:
        return CONFIGURED, "%s and %s (Proxmox proxmox-boot-tool)" % (_kcmd.PROXMOX_UUIDS, _kcmd.KERNEL_CMDLINE)
    confs = _loader.loader_dirs(root)
    grub_boots_bls = _grub_dir_present(root) and _bls_entries(root)
    if confs and not grub_boots_bls and (kcmd or not _grub_defaults_present(root)):
        return CONFIGURED, "%s/loader.conf (systemd-boot)" % confs[0]
    if kcmd:
        return TRACE, "%s (kernel-install)" % _kcmd.KERNEL_CMDLINE
    return None


def _claim_bls(root, kernelopts):
    if not _bls_entries(root):
        return None
    if _bls.uses_kernelopts(_bls.read_entries(root)) != kernelopts:
        return None
    if kernelopts:
        return CONFIGURED, "BLS entries in %s use $kernelopts (RHEL 8 style grubenv)" % _bls.ENTRIES_DIR
    return CONFIGURED, "BLS entries in %s (RHEL 9 / Fedora style, grubby)" % _bls.ENTRIES_DIR


def claim_grubenv(root):
    return _claim_bls(root, True)


def claim_grubby(root):
    return _claim_bls(root, False)


def claim_grub(root):
    if _grub_defaults_present(root):
        reason = "%s (GRUB defaults, update-grub/grub-mkconfig)" % GRUB_MAIN
        confs = _loader.loader_dirs(root)
        if confs and not _rootpath.exists(root, _kcmd.KERNEL_CMDLINE):
            # Both a systemd-boot loader.conf and GRUB defaults, no /etc/kernel/cmdline: a leftover
            # of one of them; GRUB is what update-grub keeps current on such hosts.
            reason += "; %s/loader.conf exists too: force backend=systemd-boot if the host boots with it" % confs[0]
        return CONFIGURED, reason
    gdir = _grub_cfg.grub_dir(root)
    if gdir is not None and _rootpath.isfile(root, gdir + "/grub.cfg"):
        return TRACE, "%s/grub.cfg without GRUB defaults (update-grub/grub-mkconfig; the change creates them)" % gdir
    return None


ORDER = ("systemd-boot", "grubenv", "grubby", "grub")
CLAIMS = {
    "systemd-boot": claim_systemd_boot,
    "grubenv": claim_grubenv,
    "grubby": claim_grubby,
    "grub": claim_grub,
}


def detect(root):
    """Return (backend, reason) for the boot setup under ``root``; raise BootConfigError."""
    trace = None
    for name in ORDER:
        claim = CLAIMS[name](root)
        if claim is not None and claim[0] == CONFIGURED:
            return name, claim[1]
        if claim is not None and trace is None:
            trace = name, claim[1]
    if trace is not None:
        return trace
    raise BootConfigError(
        "no supported boot configuration under %s: looked for /etc/default/grub[.d], "
        "/boot/loader/entries/*.conf, loader/loader.conf, /etc/kernel/cmdline and grub.cfg" % root
    )
