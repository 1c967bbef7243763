# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the rollback entry point: the decisions of plugin_utils/_decide/rollback.py, callable
from the role's tasks (docs in the .yml files next to this one)."""

from __future__ import annotations

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import rollback as _rollback


def rollback_plan(predicted, restore, check_mode=False):
    return _rollback.plan(predicted, restore, bool(check_mode))


def rollback_failed(restore):
    return _rollback.restore_failed(restore)


class FilterModule:
    def filters(self):
        return {"rollback_plan": rollback_plan, "rollback_failed": rollback_failed}
