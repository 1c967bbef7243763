#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: reboot_signals
short_description: Leave the standard pending-reboot signals and a node_exporter metrics file for VMSCAPE
version_added: 0.1.0
description:
  - For hosts that assess and stage themselves (C(ansible-pull), playbook C(fleetsec.vmscape.pull))
    and never reboot from Ansible, leaves the signals that the host's own reboot tooling and the
    monitoring read.
  - On Debian and Ubuntu (C(/etc/debian_version) present), when a reboot is needed, creates
    C(/run/reboot-required) (C(*** System restart required ***), shown by motd) and adds the line
    C(fleetsec-vmscape) to C(/run/reboot-required.pkgs), which unattended-upgrades
    (C(Unattended-Upgrade::Automatic-Reboot)), kured and needrestart honour. When no reboot is
    needed any more, removes that line, and removes C(/run/reboot-required) only when it holds
    the text this module writes and no other line of the C(.pkgs) file asks for a reboot. Other
    lines are never touched; a reboot clears both files (tmpfs).
  - Writes the host's VMSCAPE state to O(textfile_dir)/C(fleetsec_vmscape.prom) for the
    node_exporter textfile collector, atomically - C(fleetsec_vmscape_info) (labels - status,
    action, mode, expected, observed, kernel, next_kernel; value 1), C(fleetsec_vmscape_status)
    (one series per verdict, 1 for the host's), C(fleetsec_vmscape_mitigated),
    C(fleetsec_vmscape_reboot_required) and C(fleetsec_vmscape_last_run_timestamp_seconds).
  - Standard library only; runs with Python 3.6+ on the host.
options:
  root:
    description: Directory treated as the host's root (all paths are resolved inside it).
    type: path
    default: /
  plan:
    description: The host's plan (C(ansible_facts['vmscape_plan'])).
    type: dict
    required: true
  status:
    description:
      - The host's verdict (C(ansible_facts['vmscape_verify'].status)) - V(pass), V(pending),
        V(blocked), V(kernel_upgrade), V(fail).
      - Default - V(pass) when the plan says the host is compliant, else V(pending) when the plan
        needs a reboot, else the plan's action.
    type: str
  observed:
    description: The vmscape string the running kernel reports (for the metrics' labels).
    type: str
  reboot_required:
    description:
      - Whether the staged configuration waits for a reboot. Default - the plan needs a reboot
        and the verdict is not V(pass).
    type: bool
  reboot_required_file:
    description:
      - V(auto) writes the Debian/Ubuntu signal where C(/etc/debian_version) exists, V(always)
        everywhere, V(never) nowhere.
    type: str
    choices: [auto, always, never]
    default: auto
  textfile_dir:
    description:
      - Directory of the node_exporter textfile collector (C(--collector.textfile.directory));
        Debian's package reads C(/var/lib/prometheus/node-exporter). Nothing is written when the
        directory does not exist (node_exporter not installed there); an empty value turns the
        metrics off.
    type: path
    default: /var/lib/prometheus/node-exporter
attributes:
  check_mode:
    description: Reports what would change and writes nothing.
    support: full
  diff_mode:
    description: Shows the signal files before and after.
    support: full
  platform:
    description: Linux.
    support: full
    platforms: linux
notes:
  - Needs root (C(become)) to write C(/run) and the textfile directory.
  - The metrics file is rewritten at every run (its timestamp); the task reports changed only
    when the state in it or a reboot signal changes.
author:
  - fleetsec engineering (@fleetsec)
"""

EXAMPLES = r"""
- name: Leave the pending-reboot signals
  fleetsec.vmscape.reboot_signals:
    plan: "{{ ansible_facts['vmscape_plan'] }}"
    status: "{{ ansible_facts['vmscape_verify'].status }}"
    observed: "{{ ansible_facts['vmscape_verify'].observed }}"
  become: true
"""

RETURN = r"""
reboot_required:
  description: Whether the host now signals a pending reboot for VMSCAPE.
  returned: always
  type: bool
status:
  description: The verdict written to the metrics.
  returned: always
  type: str
files:
  description: Host paths written or removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
prom_file:
  description: Host path of the metrics file, null when the textfile directory does not exist.
  returned: always
  type: str
reboot_required_file:
  description: Whether the Debian/Ubuntu signal applies to this host.
  returned: always
  type: bool
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._reboot.signals import (
    SignalError,
    render_prom,
    sync_prom,
    sync_reboot_required,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import SIGNAL_MODES


def _state(params):
    plan = params["plan"] or {}
    status = params["status"]
    if not status:
        if plan.get("compliant"):
            status = "pass"
        elif plan.get("reboot_required"):
            status = "pending"
        else:
            status = str(plan.get("action") or "unknown")
    required = params["reboot_required"]
    if required is None:
        required = bool(plan.get("reboot_required")) and status != "pass"
    kernels = plan.get("kernels") or {}
    return {
        "status": status,
        "reboot_required": required,
        "action": plan.get("action"),
        "mode": plan.get("mode"),
        "expected": plan.get("expected_sysfs"),
        "observed": params["observed"] if params["observed"] is not None else plan.get("observed_current"),
        "kernel": (kernels.get("running") or {}).get("release"),
        "next_kernel": (kernels.get("next_boot") or {}).get("release"),
    }


def _without_timestamp(text):
    stamp = "fleetsec_vmscape_last_run_timestamp"
    return "\n".join(line for line in (text or "").splitlines() if not line.startswith(stamp))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            plan=dict(type="dict", required=True),
            status=dict(type="str"),
            observed=dict(type="str"),
            reboot_required=dict(type="bool"),
            reboot_required_file=dict(type="str", default="auto", choices=list(SIGNAL_MODES)),
            textfile_dir=dict(type="path", default="/var/lib/prometheus/node-exporter"),
        ),
        supports_check_mode=True,
    )
    root = module.params["root"]
    state = _state(module.params)
    result = dict(changed=False, status=state["status"], reboot_required=state["reboot_required"], files=[],
                  prom_file=None)  # fmt: skip
    diffs = []
    mode = module.params["reboot_required_file"]
    debian = _rootpath.exists(root, "/etc/debian_version")
    result["reboot_required_file"] = mode == "always" or (mode == "auto" and debian)
    try:
        if result["reboot_required_file"]:
            changes = sync_reboot_required(root, state["reboot_required"], module.check_mode)
            for host_path, before, after in changes:
                result["files"].append(host_path)
                diffs.append({"before_header": host_path if before is not None else "(absent)",
                              "after_header": host_path if after is not None else "(removed)",
                              "before": before or "", "after": after or ""})  # fmt: skip
            result["changed"] = bool(changes)
        directory = module.params["textfile_dir"]
        if directory and os.path.isdir(_rootpath.under(root, directory)):
            text = render_prom(state, time.time())
            host_path, before = sync_prom(root, directory, text, module.check_mode)
            result["prom_file"] = host_path
            if _without_timestamp(before) != _without_timestamp(text):
                result["changed"] = True
                result["files"].append(host_path)
                diffs.append({"before_header": host_path, "after_header": host_path,
                              "before": before or "", "after": text})  # fmt: skip
    except SignalError as exc:
        module.fail_json(msg=str(exc), **result)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
