# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of the options several modules and actions share, built once from the vocabulary.

Standard library only, importable by Python 3.6+ (target-side modules use it, and the action
plugins on the controller). The documentation of these options is one doc fragment each
(plugins/doc_fragments: snapshot_root, probe_image, policy, boot_config_run); tests/unit/test_option_sources.py
checks that every module's documentation, these specs, the role's argument specs and
roles/vmscape/defaults/main.yml agree (types, defaults, choices).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import (
    AUTO,
    BACKEND_CHOICES,
    PROBE_MODES,
    REBOOT_POLICIES,
)

# A directory read instead of / (a snapshot): modules that read a host
ROOT = {"type": "path", "default": "/"}
PROBE_IMAGE = {"type": "str", "default": AUTO, "choices": list(PROBE_MODES)}
BACKEND = {"type": "str", "default": AUTO, "choices": list(BACKEND_CHOICES)}
# vmscape_plan / vmscape_audit check the mode themselves, naming the variable operators set
# (vmscape_mode): no choices here, _vocabulary.MODES in the documentation and the role's spec.
MODE = {"type": "str", "default": AUTO}
ALLOW_REMOVE_MITIGATIONS_OFF = {"type": "bool", "default": False}
REBOOT_POLICY = {"type": "str", "default": REBOOT_POLICIES[0], "choices": list(REBOOT_POLICIES)}
# modules that change the boot configuration (kernel_cmdline, boot_default): doc fragment boot_config_run
LOCK_TIMEOUT = {"type": "int", "default": 300}
REGENERATE_TIMEOUT = {"type": "int", "default": 600}


def spec(**options):
    """An argument spec of the given options (fresh copies: callers may change theirs)."""
    return dict((name, copy.deepcopy(option)) for name, option in options.items())
