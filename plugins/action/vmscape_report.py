# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleetsec.vmscape.vmscape_report: the fleet report as a task, on the controller.

Two sources: the registered results of this run's hosts (read back from hostvars; what the
collection's playbooks publish as ``set_stats`` artifacts at their end), and report documents
of other runs (JSON files, or ``set_stats`` artifacts handed down an AWX workflow) to merge.
"""

from __future__ import annotations

import datetime as dt
import re

from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ansible_version

from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import REPORT_ROWS
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.files import (
    read_document,
    report_files,
    run_id,
    write_report,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import FleetReport, merge
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.html import ReportTemplateError

ARGUMENT_SPEC = {
    "pattern": {"type": "str"},
    "inputs": {"type": "list", "elements": "path", "default": []},
    "documents": {"type": "list", "elements": "raw", "default": []},
    "dest": {"type": "path"},
    "template": {"type": "path"},
    "set_stats": {"type": "bool", "default": True},
    "rows": {"type": "str", "default": REPORT_ROWS[0], "choices": list(REPORT_ROWS)},
}
STATS_PREFIX = "vmscape_report_run_"


def stats_key(run: str) -> str:
    """The set_stats variable of one run: unique per run, so that an AWX workflow, which merges
    the artifacts of its nodes (job slices included) key by key, keeps every run's report."""
    return STATS_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", run)


def targeted_hosts(task_vars: dict, loader, pattern: str) -> list[str]:
    """The hosts a play on ``pattern`` targets in this run (inventory groups, ``--limit``), as the
    inventory_hostnames lookup resolves patterns; failed and unreachable hosts included."""
    manager = InventoryManager(loader, parse=False)
    for group, hosts in (task_vars.get("groups") or {}).items():
        manager.add_group(group)
        for host in hosts:
            manager.add_host(host, group=group)
    limit = task_vars.get("ansible_limit")
    if limit:
        manager.subset(limit)
    return [h.name for h in manager.get_hosts(pattern=pattern)]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    BYPASS_HOST_LOOP = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        extra = {k: task_vars.get(k) for k in ("awx_job_id", "tower_job_id") if task_vars.get(k) is not None}
        run = run_id(extra)
        now = dt.datetime.now().isoformat(timespec="seconds")
        if args["inputs"] or args["documents"]:
            try:
                report, meta = self._merged(args)
            except (ValueError, OSError) as exc:
                result.update(failed=True, msg=f"vmscape_report: {exc}")
                return result
        else:
            report = FleetReport()
            try:
                hosts = targeted_hosts(task_vars, self._loader, args["pattern"] or "all")
            except AnsibleError as exc:
                result.update(failed=True, msg=f"vmscape_report: pattern {args['pattern']!r}: {exc}")
                return result
            hostvars = task_vars.get("hostvars") or {}
            for host in hosts:
                try:
                    variables = hostvars[host]
                except KeyError:
                    continue
                report.registered(host, variables)
            meta = {"playbook": task_vars.get("ansible_play_name"), "finished": now}
        meta.update(run_id=run, check_mode=bool(self._task.check_mode), ansible_version=ansible_version, **extra)
        doc = report.as_dict(meta, records=False)
        summary = report.as_text(args["rows"]).splitlines()
        if meta.get("merged"):
            sources = ", ".join(f"{s['source']} ({s['hosts']} hosts)" for s in meta["sources"])
            summary.insert(0, f"merged from {meta['merged']} runs: {sources}")
            if meta["duplicates"]:
                twice = ", ".join(meta["duplicates"])
                summary.append(f"reported by more than one run (the newest entry kept): {twice}")
        result.update(changed=False, report=doc, summary=summary)
        t = doc["totals"]
        result["msg"] = f"{t['hosts']} hosts: " + ", ".join(f"{k} {v}" for k, v in t["result"].items())
        if args["dest"]:
            stem = f"vmscape-{dt.datetime.now().strftime('%Y%m%dT%H%M%S')}-{run}"
            if args["inputs"] or args["documents"]:
                stem += "-merged"
            try:
                result["files"] = write_report(report, meta, args["dest"], stem, args["template"])
            except (OSError, ReportTemplateError) as exc:
                result.update(failed=True, msg=f"vmscape_report: cannot write the report into {args['dest']}: {exc}")
                return result
        if args["set_stats"] and t["hosts"]:
            result["ansible_stats"] = {"data": {stats_key(run): doc}, "per_host": False, "aggregate": True}
        return result

    @staticmethod
    def _merged(args):
        documents = []
        for path in report_files(args["inputs"]):
            documents.append((path, read_document(path)))
        for i, doc in enumerate(args["documents"]):
            if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
                raise ValueError(f"documents[{i}]: not a VMSCAPE fleet report (no 'rows' list)")
            meta = doc.get("meta") or {}
            documents.append((f"artifact {meta.get('run_id') or i}", doc))
        if not documents:
            raise ValueError("nothing to merge")
        return merge(documents)
