# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/vmscape_reboot_gate.py on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmscape_reboot_gate
short_description: Decide whether a host may reboot now to apply its VMSCAPE plan
version_added: 0.1.0
description:
  - Combines the plan of M(fleetsec.vmscape.vmscape_plan), the operator's reboot policy and an
    optional maintenance window into one verdict; V(go), V(pending), V(not_needed) or, in check
    mode, V(would_reboot).
  - Hosts that already report what their plan expects never need a reboot.
  - The window is evaluated on the controller's local clock when the task runs, so a long
    rolling run stops rebooting once the window closes and reports the remaining hosts pending.
author:
  - fleetsec engineering (@fleetsec)
attributes:
  action:
    support: full
    description: Runs on the controller only.
  async:
    support: none
    description: Not applicable.
  bypass_host_loop:
    support: none
    description: Per host.
  check_mode:
    support: full
    description: Returns V(would_reboot) instead of V(go).
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    support: full
    platforms: posix
    description: Any.
options:
  plan:
    description: The host's plan.
    type: dict
    required: true
  policy:
    description:
      - V(now) reboots hosts that need it; V(stage) only stages the configuration and reports the
        reboot pending; V(window) reboots only inside O(window).
    type: str
    default: now
    choices: [now, stage, window]
  window:
    description: Maintenance window C(HH:MM-HH:MM) on a 24-hour clock, may wrap past midnight.
    type: str
  days:
    description: Days the window opens (C(mon) .. C(sun)); every day when omitted.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Reboot only between 22:00 and 04:00 on weekends
  fleetsec.vmscape.vmscape_reboot_gate:
    plan: "{{ ansible_facts['vmscape_plan'] }}"
    policy: window
    window: "22:00-04:00"
    days: [sat, sun]
  register: gate
"""

RETURN = r"""
gate:
  description: The verdict.
  returned: success
  type: dict
  contains:
    status:
      description: V(go), V(pending), V(not_needed) or V(would_reboot).
      type: str
    reason:
      description: Why.
      type: str
msg:
  description: Status and reason in one line.
  returned: success
  type: str
"""
