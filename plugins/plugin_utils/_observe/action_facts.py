# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by the collection's action plugins: facts observed in *this* run, else one vmscape_facts run.

A persistent fact cache (AWX/AAP keep one per host: the ``jsonfile`` cache plugin) hands a new run
the ``ansible_facts.vmscape`` of an earlier one, and nothing in the document says so. Every action
that gathers therefore stamps the document on the controller: ``observation.run`` (this Ansible
run) and ``observation.host`` (the inventory host). A document is used only when both match the
current task (and its ``root``, when one is asked for); anything else - a cached document, one
gathered through ``gather_facts`` (no stamp), another host's - is not used, and vmscape_facts runs
again: the same single module run the task makes when it is given no facts at all. Reusing stale
observations is impossible; the audit's cost stays one module run per host (docs/performance.md).

The run: ansible-core gives every task of a run a ``_uuid`` of the form
``<node mac 8>-<node mac 4>-<random 4>-<random 4>-<counter 12>`` (``ansible.utils.vars.get_unique_id``);
the random part is drawn once per ansible/ansible-playbook process and inherited by its forked
workers, so the first four groups name the run. Should that form ever change, no run is identified,
no document is reused, and every action observes for itself (correct, one module run more).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._observe import facts_direct as _facts_direct

FACTS_MODULE = "fleetsec.vmscape.vmscape_facts"
_TASK_UUID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4})-[0-9a-f]{12}\Z")

GATHERED = "gathered"  # observed by this task
GIVEN = "given"  # a document observed earlier in this run (by this collection's actions)


def current_run(action) -> str | None:
    """The id of the Ansible run ``action``'s task belongs to, or None when it cannot be told."""
    m = _TASK_UUID.match(str(getattr(getattr(action, "_task", None), "_uuid", "") or ""))
    return m.group(1) if m else None


def stamp(facts: dict, action, task_vars: Mapping) -> dict:
    """Mark a document this task observed as observed in this run, for this host."""
    obs = facts.get("observation")
    if isinstance(obs, dict):
        obs["run"] = current_run(action)
        obs["host"] = task_vars.get("inventory_hostname")
    return facts


def _norm(root) -> str:
    return os.path.normpath(str(root or "/"))


def not_usable(facts, action, task_vars: Mapping, root: str | None) -> str | None:
    """Why a given document must not be used by this task (None: observed in this run, here)."""
    if not isinstance(facts, Mapping):
        return "not a facts document"
    obs = facts.get("observation")
    run = current_run(action)
    if not isinstance(obs, Mapping) or not obs.get("run"):
        return (
            "it carries no observation.run: not gathered by this collection's actions in this run "
            "(a fact cache, gather_facts, or an older schema)"
        )
    if run is None:
        return "this run cannot be identified, so no earlier observation is trusted"
    if obs.get("run") != run:
        return f"observed in another run ({obs.get('run')}; this run is {run}), e.g. kept by a fact cache"
    host = task_vars.get("inventory_hostname")
    if obs.get("host") != host:
        return f"observed on {obs.get('host')!r}, not on {host!r}"
    if root is not None and _norm(facts.get("root")) != _norm(root):
        return f"observed under root {facts.get('root')!r}, not {root!r}"
    return None


def gather_facts(action, task_vars: dict, root: str, probe_image: str = "auto") -> tuple[dict | None, str | None]:
    """Execute fleetsec.vmscape.vmscape_facts through ``action`` (an ActionBase) and stamp it.

    Returns (facts, None) or (None, error message). Where module pipelining is on, the collector
    runs without AnsiballZ (_observe.facts_direct: same code, one command, less host CPU).
    """
    if _facts_direct.usable(action):
        facts, error = _facts_direct.gather(action, task_vars, root, probe_image)
        return (stamp(facts, action, task_vars), None) if facts is not None else (None, error)
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
    return stamp(facts, action, task_vars), None


def observed_facts(action, task_vars: dict, given, root: str | None, probe_image: str, reuse: bool = True) -> dict:
    """The document to decide on: ``given`` when it was observed in this run for this host (and
    ``reuse``), else one vmscape_facts run. Returns a dict with ``facts`` (or None), ``source``
    (GATHERED or GIVEN), ``note`` (why a given document was not used, or None) and ``error``."""
    note = None
    if given is not None:
        why = not_usable(given, action, task_vars, root) if reuse else "after a reboot, facts are observed again"
        if why is None:
            return {"facts": given, "source": GIVEN, "note": None, "error": None}
        note = f"the facts at hand were not used ({why}); observed again"
    facts, error = gather_facts(action, task_vars, root or "/", probe_image)
    return {"facts": facts, "source": GATHERED, "note": note, "error": error}
