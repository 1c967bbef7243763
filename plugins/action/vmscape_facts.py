# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleetsec.vmscape.vmscape_facts: run the module, stamp what it observed.

The module runs on the target as before (one module run); on the way back the controller marks
``ansible_facts.vmscape.observation`` with this Ansible run and host (``_observe.action_facts.stamp``), so
that the collection's actions later in the same run can use the document instead of observing
again, while a copy kept by a fact cache for a later run cannot be used.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._observe.action_facts import FACTS_MODULE, stamp


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        result.update(self._execute_module(module_name=FACTS_MODULE, module_args=self._task.args, task_vars=task_vars))
        facts = (result.get("ansible_facts") or {}).get("vmscape")
        if isinstance(facts, dict):
            stamp(facts, self, task_vars)
        return result
