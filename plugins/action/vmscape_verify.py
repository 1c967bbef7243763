# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleetsec.vmscape.vmscape_verify: fresh facts, compared on the controller.

Given ``facts`` are used only when the host was not rebooted and they were observed in this run for
this host (``_observe.action_facts``); after a reboot, or for anything else, vmscape_facts runs again.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.fleetsec.vmscape.plugins.module_utils import _specs
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._observe.action_facts import GATHERED, observed_facts
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._verify.verify import FAIL, verify

ARGUMENT_SPEC = {
    "plan": {"type": "dict", "required": True},
    "rebooted": {"type": "bool", "default": False},
    "facts": {"type": "dict"},
    **_specs.spec(root=_specs.ROOT),
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        obs = observed_facts(self, task_vars, args["facts"], args["root"], "never", reuse=not args["rebooted"])
        facts, error = obs["facts"], obs["error"]
        if error:
            result.update(failed=True, msg=error)
            return result
        if obs["source"] == GATHERED:
            result["ansible_facts"] = {"vmscape": facts}
        outcome = verify(args["plan"], facts, args["rebooted"])
        result.setdefault("ansible_facts", {})["vmscape_verify"] = outcome
        result["verify"] = outcome
        result["facts_source"] = obs["source"]
        if obs["note"] and args["facts"] is not None and not args["rebooted"]:
            result["facts_note"] = obs["note"]
        result["changed"] = False
        result["msg"] = f"{outcome['status']}: " + ("; ".join(outcome["reasons"]) or f"reports {outcome['observed']!r}")
        if outcome["status"] == FAIL:
            result["failed"] = True
        return result
