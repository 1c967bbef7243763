# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleetsec.vmscape.vmscape_audit: observe, plan and compare in one task.

One module run on the target (vmscape_facts); the plan and the comparison run here. This is
the audit's whole per-host cost: one task, one round trip. Given ``facts`` are used only when
observed in this run for this host (``_observe.action_facts``): a fact cache never feeds the audit.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.fleetsec.vmscape.plugins.action.vmscape_plan import ARGUMENT_SPEC, plan_for, summary
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._observe.action_facts import GATHERED, observed_facts
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._verify.verify import FAIL, verify


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        obs = observed_facts(self, task_vars, args["facts"], args["root"], args["probe_image"])
        facts, error = obs["facts"], obs["error"]
        if not error:
            plan, error = plan_for(args, facts, "vmscape_audit")
        if error:
            result.update(failed=True, msg=error)
            return result
        outcome = verify(plan, facts, rebooted=False)
        result.update(changed=False, plan=plan, verify=outcome, facts_source=obs["source"])
        if obs["note"]:
            result["facts_note"] = obs["note"]
        result["ansible_facts"] = {"vmscape_plan": plan, "vmscape_verify": outcome}
        if obs["source"] == GATHERED:
            result["ansible_facts"]["vmscape"] = facts
        result["msg"] = f"{outcome['status']}: {summary(plan)}"
        if outcome["status"] == FAIL:
            result["failed"] = True
        return result
