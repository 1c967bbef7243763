# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleetsec.vmscape.vmscape_plan: the decision runs on the controller.

Facts come from the ``facts`` option, else (when no ``root`` is given) from ``ansible_facts.vmscape``
of the host, but only when they were observed in this run for this host (``_observe.action_facts``);
otherwise from one run of fleetsec.vmscape.vmscape_facts on the target.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.fleetsec.vmscape.plugins.module_utils import _specs
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import PlanError, make_plan
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.policy import MODES, PolicyError
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._observe.action_facts import GATHERED, observed_facts

ARGUMENT_SPEC = {
    "facts": {"type": "dict"},
    "root": {"type": "path"},  # no default: without one, facts of this run at hand are used
    **_specs.spec(
        mode=_specs.MODE,
        allow_remove_mitigations_off=_specs.ALLOW_REMOVE_MITIGATIONS_OFF,
        probe_image=_specs.PROBE_IMAGE,
    ),
}


def summary(plan: dict) -> str:
    action = plan["action"]
    if action == "set":
        params = " ".join(f"{k}={v}" for k, v in plan["cmdline"].items())
        removes = "".join(f" remove {k}=" for k in plan.get("cmdline_remove") or [])
        reboot = "reboot required" if plan["reboot_required"] else "no reboot needed"
        return f"set {params}{removes}: expect {plan['expected_sysfs']!r} ({reboot})"
    last = plan["reasons"][-1] if plan["reasons"] else ""
    return f"{action}: {last}"


def plan_for(args: dict, facts: dict, task: str) -> tuple[dict | None, str | None]:
    """The plan for ``facts`` under the task's policy options, or an error message naming ``task``."""
    # The mode is checked here too so that the error names the variable operators set.
    if args["mode"] not in MODES:
        raise AnsibleActionFail(f"vmscape_mode / mode: {args['mode']!r} is not one of {', '.join(MODES)}")
    policy = {"mode": args["mode"], "allow_remove_mitigations_off": args["allow_remove_mitigations_off"]}
    try:
        return make_plan(facts, policy), None
    except (PlanError, PolicyError) as exc:
        return None, f"{task}: {exc}"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        given = args["facts"]
        if given is None and args["root"] is None:
            given = (task_vars.get("ansible_facts") or {}).get("vmscape")
        obs = observed_facts(self, task_vars, given, args["root"], args["probe_image"])
        error = obs["error"]
        if not error:
            plan, error = plan_for(args, obs["facts"], "vmscape_plan")
        if error:
            result.update(failed=True, msg=error)
            return result

        result["changed"] = False
        result["plan"] = plan
        result["msg"] = summary(plan)
        result["facts_source"] = obs["source"]
        if obs["note"]:
            result["facts_note"] = obs["note"]
        result["ansible_facts"] = {"vmscape_plan": plan}
        if obs["source"] == GATHERED:
            result["ansible_facts"]["vmscape"] = obs["facts"]
        return result
