# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleetsec.vmscape.vmscape_reboot_gate: decided on the controller's clock."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.fleetsec.vmscape.plugins.module_utils import _specs
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot.gate import GateError, gate

ARGUMENT_SPEC = {
    "plan": {"type": "dict", "required": True},
    **_specs.spec(policy=_specs.REBOOT_POLICY),
    "window": {"type": "str"},
    "days": {"type": "list", "elements": "str"},
    "timezone": {"type": "str"},
    "not_before": {"type": "str"},
    "not_after": {"type": "str"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars or {})
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            decision = gate(
                args["plan"],
                policy=args["policy"],
                window=args["window"],
                days=args["days"],
                check_mode=self._task.check_mode,
                timezone=args["timezone"],
                not_before=args["not_before"],
                not_after=args["not_after"],
            )
        except GateError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(changed=False, gate=decision, msg=f"{decision['status']}: {decision['reason']}")
        return result
