# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: vmscape_fleet_report
type: aggregate
short_description: The fleet report of the collection's own playbooks, without configuration
version_added: 0.1.0
description:
  - Ansible loads callback plugins found next to a playbook (C(callback_plugins/) beside it),
    also when the playbook is imported from an installed collection (an C(import_playbook) of
    C(fleetsec.vmscape.remediate)), and runs those that do not ask to be enabled. This one is
    fleetsec.vmscape.vmscape_report under another name, so that audit.yml, remediate.yml and
    rollback.yml print the fleet summary and write the JSON and HTML report wherever they run
    (AWX, ansible-runner, a project without ansible.cfg).
  - It stays silent when fleetsec.vmscape.vmscape_report is enabled (C(callbacks_enabled)), so
    the report is printed once.
extends_documentation_fragment:
  - fleetsec.vmscape.report
"""

from ansible import constants as C

from ansible_collections.fleetsec.vmscape.plugins.callback.vmscape_report import CallbackModule as _Report

ENABLED_NAMES = ("fleetsec.vmscape.vmscape_report", "vmscape_report")


class CallbackModule(_Report):
    CALLBACK_NAME = "vmscape_fleet_report"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, display=None):
        super().__init__(display=display)
        enabled = C.config.get_config_value("CALLBACKS_ENABLED") or []
        self.disabled = any(name in enabled for name in ENABLED_NAMES)
