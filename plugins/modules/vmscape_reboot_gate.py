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
  - The window is evaluated when the task runs, on the wall clock of O(timezone) (an IANA name
    through Python's zoneinfo on the controller; the controller's local time when omitted), so a
    long rolling run stops rebooting once the window closes and reports the remaining hosts
    pending, with the next opening.
  - Every option is checked before anything is decided; a wrong window, day, timezone or date
    fails with a message naming the variable.
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
    description:
      - Maintenance window C(HH:MM-HH:MM) on a 24-hour clock, may wrap past midnight (a wrapping
        window belongs to the day it starts); the whole day when omitted.
      - With O(policy=window) at least one of O(window), O(days), O(not_before), O(not_after) is needed.
    type: str
  days:
    description:
      - Days the window opens; C(mon) .. C(sun), C(monday) .. C(sunday), or ranges such as
        C(mon-fri) or C(fri-mon). Every day when omitted.
    type: list
    elements: str
  timezone:
    description:
      - IANA timezone name (C(Europe/Berlin), C(America/New_York), C(UTC)) the window, days and dates
        are read in, resolved with Python's zoneinfo on the controller (system tz database or the
        C(tzdata) package). The controller's local time when omitted.
      - Daylight saving time follows the zone; a wall-clock time skipped by a change does not occur,
        one repeated by a change is inside the window both times.
    type: str
  not_before:
    description:
      - No reboot before this date (C(YYYY-MM-DD), the start of that day) or date and time
        (C(YYYY-MM-DD HH:MM)) in O(timezone). Quote it in YAML.
    type: str
  not_after:
    description:
      - No reboot after this date (C(YYYY-MM-DD), through the end of that day) or from this date
        and time on (C(YYYY-MM-DD HH:MM)) in O(timezone). Must be later than O(not_before).
    type: str
"""

EXAMPLES = r"""
- name: Reboot only between 22:00 and 04:00 on weekends
  fleetsec.vmscape.vmscape_reboot_gate:
    plan: "{{ ansible_facts['vmscape_plan'] }}"
    policy: window
    window: "22:00-04:00"
    days: [sat, sun]
  register: gate

- name: Nights from Monday to Friday in Berlin during the first week of December
  fleetsec.vmscape.vmscape_reboot_gate:
    plan: "{{ ansible_facts['vmscape_plan'] }}"
    policy: window
    window: "01:00-05:00"
    days: [mon-fri]
    timezone: Europe/Berlin
    not_before: "2026-12-01"
    not_after: "2026-12-05"
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
      description: Why; for a closed window also the window's time now and the next opening.
      type: str
    next_opening:
      description:
        - When the window opens next (ISO 8601 in the window's timezone), null when it never opens
          again within O(not_after).
      returned: when the window is closed
      type: str
msg:
  description: Status and reason in one line.
  returned: success
  type: str
"""
