# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry of kernel_cmdline's backends (the protocol: ``backends.base``).

Target side: standard library only, importable by Python 3.6+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import detect as _detect
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import bls as _bls_backends
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as _grub_backend
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import (
    systemd_boot as _systemd_boot_backend,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import BACKENDS

REGISTRY = dict(
    (b.name, b)
    for b in (_grub_backend.BACKEND, _bls_backends.GRUBBY, _bls_backends.GRUBENV, _systemd_boot_backend.BACKEND)
)


def get(name):
    """The backend called ``name``; BootConfigError for any other name."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise BootConfigError(
            "unknown boot configuration backend %r (known: %s)" % (name, ", ".join(BACKENDS))
        ) from None


def select(root, name="auto"):
    """(backend, reason): ``name`` when forced, else the one ``_bootcfg.detect`` finds."""
    if name != "auto":
        return get(name), "forced"
    found, reason = _detect.detect(root)
    return get(found), reason
