# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel parameters a boot configuration gives its default entry now: what kernel_cmdline starts from.

Target side: standard library only, importable by Python 3.6+.

One reading per backend, shared by the backends (``read``, and ``plan`` builds on the same state)
and by the facts (``bootloader.source_cmdline``), so what the facts report is exactly what a
change would start from:

- grub: ``GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT`` after the GRUB defaults
  (``grub_defaults``; grub-mkconfig adds ``root=``, ``ro`` and more of its own);
- grubby, grubenv: the options of the default BLS entry (``menu.bls_default``) with grubenv's
  variables expanded;
- systemd-boot: /etc/kernel/cmdline, or what kernel-install uses without it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import bls as _bls
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grubenv as _grubenv
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernel_cmdline_file as _kcmd
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import menu as _menu
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError


class BlsConfig(object):
    """The BLS side of a root: ``entries`` (newest first), ``grubenv`` (``_bootcfg.grubenv.GrubEnv``),
    ``env`` (its variables, ``{}`` when absent), ``default`` (the entry that boots by default)."""

    def __init__(self, root):
        self.root = root
        self.entries = _bls.read_entries(root)
        self.grubenv = _grubenv.load(root)
        if not self.grubenv.readable and not self.grubenv.absent:
            raise BootConfigError(self.grubenv.why)
        self.env = dict(self.grubenv.vars or {})
        self.default = _menu.bls_default(root, self.entries, self.env)

    @property
    def env_real(self):
        """The real path of grubenv (None when absent)."""
        return None if self.grubenv.absent else self.grubenv.real_path

    def check(self):
        """Refuse a configuration nothing can be planned on (no entry; $kernelopts without kernelopts)."""
        if not self.entries:
            raise BootConfigError("no BLS entries in %s under %s" % (_bls.ENTRIES_DIR, self.root))
        if _bls.uses_kernelopts(self.entries) and "kernelopts" not in self.env:
            raise BootConfigError(
                "the BLS entries use $kernelopts but %s has no kernelopts (grub.cfg's fallback "
                "would apply); run grub2-mkconfig first" % (self.env_real or self.grubenv.host_path)
            )
        return self


def bls_config(root):
    """``BlsConfig`` of ``root``, checked. Raises BootConfigError."""
    return BlsConfig(root).check()


def tokens(root, backend):
    """(tokens, notes): the parameters ``backend``'s configuration gives the default entry under ``root``.

    Raises BootConfigError exactly where kernel_cmdline would refuse to start (the message names
    the file and line).
    """
    if backend == "grub":
        # imported here: the shell follower is the largest piece of source the facts carry to a host
        # (vmscape_facts, plugin_utils/_observe/facts_direct.py), and only GRUB-defaults hosts need it
        from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults

        return grub_defaults.current(root), []
    if backend in ("grubby", "grubenv"):
        cfg = bls_config(root)
        return _bls.effective_tokens(cfg.default, cfg.env), []
    if backend == "systemd-boot":
        kc = _kcmd.read(root)
        return kc.tokens, list(kc.notes)
    raise BootConfigError("unknown boot configuration backend %r" % (backend,))
