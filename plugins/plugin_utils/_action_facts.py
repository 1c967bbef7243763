# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by the collection's action plugins: run vmscape_facts on the target, once."""

from __future__ import annotations

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils import _facts_direct

FACTS_MODULE = "fleetsec.vmscape.vmscape_facts"


def gather_facts(action, task_vars: dict, root: str, probe_image: str = "auto") -> tuple[dict | None, str | None]:
    """Execute fleetsec.vmscape.vmscape_facts through ``action`` (an ActionBase).

    Returns (facts, None) or (None, error message). Where module pipelining is on, the collector
    runs without AnsiballZ (_facts_direct: same code, one command, less host CPU).
    """
    if _facts_direct.usable(action):
        return _facts_direct.gather(action, task_vars, root, probe_image)
    result = action._execute_module(
        module_name=FACTS_MODULE,
        module_args={"root": root or "/", "probe_image": probe_image},
        task_vars=task_vars,
    )
    if result.get("failed"):
        return None, f"{FACTS_MODULE} failed: {result.get('msg')}"
    facts = (result.get("ansible_facts") or {}).get("vmscape")
    if not isinstance(facts, dict):
        return None, f"{FACTS_MODULE} returned no ansible_facts.vmscape"
    return facts, None


def given_or_gathered(action, task_vars: dict, facts, root: str, probe_image: str):
    """``(facts, gathered, error)``: the task's ``facts`` option, else one vmscape_facts run."""
    if facts is not None:
        return facts, False, None
    facts, error = gather_facts(action, task_vars, root, probe_image)
    return facts, error is None, error
