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
    fleet table and totals, writes C(vmscape-<time>.json) and a self-contained C(vmscape-<time>.html)
    into O(report_dir), and prints their paths.
  - Hosts that fail or are unreachable are reported with the task and message, not dropped.
requirements:
  - enable in ansible.cfg (C(callbacks_enabled = fleetsec.vmscape.vmscape_report))
options:
  report_dir:
    description: Directory for the JSON and HTML reports (created when missing).
    type: path
    default: ./reports
    env:
      - name: VMSCAPE_REPORT_DIR
    ini:
      - section: vmscape_report
        key: report_dir
  write_files:
    description: Write the JSON and HTML files (the terminal summary is always printed).
    type: bool
    default: true
    env:
      - name: VMSCAPE_REPORT_FILES
    ini:
      - section: vmscape_report
        key: write_files
"""

import datetime as dt
import os
import tempfile

from ansible.plugins.callback import CallbackBase

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import FleetReport


def _write_atomic(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".vmscape-report-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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

    def v2_playbook_on_start(self, playbook):
        self.playbook = os.path.basename(getattr(playbook, "_file_name", "") or "")

    @staticmethod
    def _args(result):
        return result._host.get_name(), result._task.get_name(), result._result

    def v2_runner_on_ok(self, result):
        self.report.ok(*self._args(result))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self.report.failed(*self._args(result))

    def v2_runner_on_unreachable(self, result):
        self.report.unreachable(*self._args(result))

    def v2_playbook_on_stats(self, stats):
        if not self.report.hosts:
            return
        self._display.banner("VMSCAPE FLEET REPORT")
        self._display.display(self.report.as_text())
        if not self.get_option("write_files"):
            return
        meta = {
            "playbook": self.playbook,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": dt.datetime.now().isoformat(timespec="seconds"),
        }
        directory = os.path.abspath(self.get_option("report_dir"))
        stamp = self.started.strftime("%Y%m%dT%H%M%S")
        try:
            os.makedirs(directory, exist_ok=True)
            paths = {
                "json": os.path.join(directory, f"vmscape-{stamp}.json"),
                "html": os.path.join(directory, f"vmscape-{stamp}.html"),
            }
            _write_atomic(paths["json"], self.report.as_json(meta))
            _write_atomic(paths["html"], self.report.as_html(meta))
        except OSError as exc:
            self._display.warning(f"vmscape_report: cannot write the report into {directory}: {exc}")
            return
        self._display.display(f"JSON report: {paths['json']}")
        self._display.display(f"HTML report: {paths['html']}")
