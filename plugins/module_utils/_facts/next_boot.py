# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which kernel boots next, and with which command line: the boot menu, else a guess that says so.

Target side: standard library only, importable by Python 3.6+.

Order of evidence:
1. the default entry of the boot menu (``_bootcfg.menu``: GRUB's grub.cfg with grubenv and BLS
   entries, or systemd-boot's loader.conf and entries);
2. the newest installed kernel (``_bootcfg.kernels``), named a guess in ``source_reason``;
3. the running kernel, named a guess too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernel_cmdline_file as _kcmd
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import kernels as _kernels
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import menu as _menu
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.kernel_version import version_key


def find_boot_kernel(root, running_release):
    """Return (boot, menu, warnings).

    ``boot``: {release, source, image, source_reason}: ``source_reason`` is None when the kernel is
    the one the boot configuration names, else why it is a guess (no readable configuration, a
    default kept where it cannot be read). ``menu``: {configured_cmdline, configured_cmdline_reason}
    of the menu's default entry (the reason is set when the cmdline is null).
    """
    warnings = []
    boot, menu, tried = _menu.default_boot(root, warnings)
    if menu is None:
        none_found = "no boot loader configuration found (%s)" % "; ".join(tried)
        menu = {"configured_cmdline": None, "configured_cmdline_reason": none_found}
        try:  # kernel-install's command line, for the kernels it will add
            text = _kcmd.read_file(root)
        except BootConfigError:
            text = None
        if text and text.strip():
            menu = {"configured_cmdline": " ".join(text.split()), "configured_cmdline_reason": None}
    menu = {
        "configured_cmdline": menu["configured_cmdline"],
        "configured_cmdline_reason": menu["configured_cmdline_reason"],
    }
    if boot is None or not boot.get("release"):
        why = menu.get("configured_cmdline_reason") or "the boot configuration names no kernel"
        installed = dict((k.release, k.image) for k in _kernels.installed(root))
        if installed:
            rel = max(installed, key=version_key)
            boot = {
                "release": rel,
                "source": "newest_installed",
                "image": installed[rel],
                "source_reason": "%s: guessed the newest installed kernel" % why,
            }
        elif running_release:
            img = None
            for cand in ("/boot/vmlinuz-%s" % running_release, "/usr/lib/modules/%s/vmlinuz" % running_release):
                if _rootpath.isfile(root, cand):
                    img = cand
                    break
            boot = {
                "release": running_release,
                "source": "running",
                "image": img,
                "source_reason": "%s and no installed kernel image found: assumed the running kernel" % why,
            }
        else:
            boot = {
                "release": None,
                "source": None,
                "image": None,
                "source_reason": "%s, no installed kernel image found and the running kernel is unknown" % why,
            }
    return boot, menu, warnings
