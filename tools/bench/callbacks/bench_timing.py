# Benchmark-only callback (not shipped in the collection): per-task wall time across the fleet.
# Enable with ANSIBLE_CALLBACK_PLUGINS=tools/bench/callbacks and
# ANSIBLE_CALLBACKS_ENABLED=fleetsec.vmscape.vmscape_report,bench_timing; BENCH_TIMING_FILE=<json>.
from __future__ import annotations

DOCUMENTATION = """
name: bench_timing
type: aggregate
short_description: per-task wall time (summed over serial batches) written to BENCH_TIMING_FILE
description: Benchmark helper of tools/bench; ansible-core has no profile_tasks callback.
requirements:
  - enable in callbacks_enabled
"""

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from ansible.plugins.callback import CallbackBase  # noqa: E402


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.t0 = time.monotonic()
        self.current = None
        self.started = None
        self.tasks = {}  # name -> {"seconds", "starts", "results"}
        self.order = []

    def _close(self):
        if self.current is not None:
            entry = self.tasks[self.current]
            entry["seconds"] += time.monotonic() - self.started
        self.current = None

    def _open(self, name):
        self._close()
        if name not in self.tasks:
            self.tasks[name] = {"seconds": 0.0, "starts": 0, "results": 0}
            self.order.append(name)
        self.tasks[name]["starts"] += 1
        self.current, self.started = name, time.monotonic()

    def v2_playbook_on_play_start(self, play):
        self._open("(play start) " + play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._open(task.get_name())

    def v2_playbook_on_handler_task_start(self, task):
        self._open("(handler) " + task.get_name())

    def _result(self, *_args, **_kwargs):
        if self.current is not None:
            self.tasks[self.current]["results"] += 1

    v2_runner_on_ok = v2_runner_on_failed = v2_runner_on_skipped = v2_runner_on_unreachable = _result

    def v2_playbook_on_stats(self, stats):
        self._close()
        path = os.environ.get("BENCH_TIMING_FILE")
        doc = {
            "total": time.monotonic() - self.t0,
            "tasks": [{"task": n, **self.tasks[n]} for n in self.order],
        }
        if path:
            with open(path, "w") as fh:
                json.dump(doc, fh, indent=1)
