# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleetsec.vmscape.vmscape_verify: fresh facts, compared on the controller."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._action_facts import given_or_gathered
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._vmscape_verify import FAIL, verify

ARGUMENT_SPEC = {
    "plan": {"type": "dict", "required": True},
    "rebooted": {"type": "bool", "default": False},
    "facts": {"type": "dict"},
    "root": {"type": "path", "default": "/"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        facts, gathered, error = given_or_gathered(self, task_vars, args["facts"], args["root"], "never")
        if error:
            result.update(failed=True, msg=error)
            return result
        if gathered:
            result["ansible_facts"] = {"vmscape": facts}
        outcome = verify(args["plan"], facts, args["rebooted"])
        result.setdefault("ansible_facts", {})["vmscape_verify"] = outcome
        result["verify"] = outcome
        result["changed"] = False
        result["msg"] = f"{outcome['status']}: " + ("; ".join(outcome["reasons"]) or f"reports {outcome['observed']!r}")
        if outcome["status"] == FAIL:
            result["failed"] = True
        return result
