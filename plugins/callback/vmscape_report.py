# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: vmscape_report
type: aggregate
short_description: VMSCAPE fleet summary at the end of the run, plus a JSON file and an HTML page
version_added: 0.1.0
description:
  - Collects what fleetsec.vmscape's tasks return per host (plan, boot configuration, reboot,
    verification) and every failure or unreachable host, and at the end of the playbook prints a
    fleet table and totals, writes C(vmscape-<time>-<run id>.json) and a self-contained
    C(vmscape-<time>-<run id>.html) into O(report_dir), and prints their paths.
  - Hosts that fail or are unreachable are reported with the task and message, not dropped.
  - The collection's playbooks (C(fleetsec.vmscape.audit), C(remediate), C(rollback)) carry their
    own copy of this callback (C(playbooks/callback_plugins)), which Ansible loads without any
    configuration, so the summary is there under AWX or ansible-runner too. Enable this one for
    playbooks of your own that use the role; the copy then stays silent.
requirements:
  - enable in ansible.cfg (C(callbacks_enabled = fleetsec.vmscape.vmscape_report)) for playbooks
    other than the collection's
extends_documentation_fragment:
  - fleetsec.vmscape.report
"""

import datetime as dt
import os
from collections.abc import Mapping

from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_version

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.files import run_id, write_report
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import FleetReport
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.html import ReportTemplateError

# extra variable -> option it overrides
EXTRA_VAR_OPTIONS = {
    "vmscape_report_dir": "report_dir",
    "vmscape_report_files": "write_files",
    "vmscape_report_template": "report_template",
}


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fleetsec.vmscape.vmscape_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self.report = FleetReport()
        self.playbook = None
        self.started = dt.datetime.now()
        self.extra_vars: dict = {}
        self.merged: list[list[str]] = []  # summaries of fleetsec.vmscape.vmscape_report merge tasks

    def v2_playbook_on_start(self, playbook):
        self.playbook = os.path.basename(getattr(playbook, "_file_name", "") or "")

    def v2_playbook_on_play_start(self, play):
        try:
            self.extra_vars = dict(play.get_variable_manager().extra_vars)
        except AttributeError:
            pass

    @staticmethod
    def _args(result):
        return result._host.get_name(), result._task.get_name(), result._result

    def v2_runner_on_ok(self, result):
        host, task, res = self._args(result)
        report = res.get("report")
        if isinstance(report, Mapping) and (report.get("meta") or {}).get("merged") and res.get("summary"):
            files = res.get("files") or {}
            self.merged.append([*res["summary"], *(f"{k.upper()} report: {v}" for k, v in sorted(files.items()))])
            return
        self.report.ok(host, task, res)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self.report.failed(*self._args(result))

    def v2_runner_on_unreachable(self, result):
        self.report.unreachable(*self._args(result))

    def _setting(self, option):
        for var, opt in EXTRA_VAR_OPTIONS.items():
            if opt == option and self.extra_vars.get(var) not in (None, ""):
                return self.extra_vars[var]
        return self.get_option(option)

    def meta(self) -> dict:
        cli = context.CLIARGS or {}
        meta = {
            "playbook": self.playbook,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": dt.datetime.now().isoformat(timespec="seconds"),
            "check_mode": bool(cli.get("check")),
            "limit": cli.get("subset") or None,
            "run_id": run_id(self.extra_vars),
            "ansible_version": ansible_version,
        }
        for name in ("awx_job_id", "awx_job_template_name", "awx_workflow_job_id"):
            if self.extra_vars.get(name) not in (None, ""):
                meta[name] = self.extra_vars[name]
        return meta

    def v2_playbook_on_stats(self, stats):
        for lines in self.merged:
            self._display.banner("VMSCAPE FLEET REPORT (merged)")
            self._display.display("\n".join(lines))
        if not self.report.hosts:
            return
        self._display.banner("VMSCAPE FLEET REPORT")
        self._display.display(self.report.as_text(self.get_option("terminal_rows")))
        if not _truthy(self._setting("write_files")):
            return
        meta = self.meta()
        directory = os.path.abspath(os.path.expanduser(str(self._setting("report_dir"))))
        stem = f"vmscape-{self.started.strftime('%Y%m%dT%H%M%S')}-{meta['run_id']}"
        try:
            paths = write_report(self.report, meta, directory, stem, self._setting("report_template"))
        except (OSError, ReportTemplateError) as exc:
            self._display.warning(f"vmscape_report: cannot write the report into {directory}: {exc}")
            return
        self._display.display(f"JSON report: {paths['json']}")
        self._display.display(f"HTML report: {paths['html']}")
