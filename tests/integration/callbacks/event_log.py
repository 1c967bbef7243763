# Test-only callback (not shipped): one JSON line per task start and per host result, with the
# time, into $EVENT_LOG_FILE. Enable with ANSIBLE_CALLBACK_PLUGINS=tests/integration/callbacks and
# ANSIBLE_CALLBACKS_ENABLED=fleetsec.vmscape.vmscape_report,event_log.
from __future__ import annotations

DOCUMENTATION = """
name: event_log
type: aggregate
short_description: task starts and per-host results with times, as JSON lines (tests only)
description: Lets the integration tests check the order of tasks per host and the reboot batches.
requirements:
  - enable in callbacks_enabled; EVENT_LOG_FILE names the output file
"""

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from ansible.plugins.callback import CallbackBase  # noqa: E402


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "event_log"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, **event):
        path = os.environ.get("EVENT_LOG_FILE")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps(dict(event, t=time.time()), default=str) + "\n")

    def v2_playbook_on_play_start(self, play):
        self._write(event="play", name=play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write(event="task", task=task.get_name())

    def _result(self, status, result):
        r = result._result
        self._write(
            event=status,
            host=result._host.get_name(),
            task=result._task.get_name(),
            msg=r.get("msg") if isinstance(r.get("msg"), str) else None,
        )

    def v2_runner_on_ok(self, result):
        self._result("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("failed", result)

    def v2_runner_on_skipped(self, result):
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)
