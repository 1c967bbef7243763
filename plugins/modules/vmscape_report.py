# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/vmscape_report.py on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmscape_report
short_description: The VMSCAPE fleet report as a task - set_stats artifacts, merged reports of several runs
version_added: 0.1.0
description:
  - Without O(inputs) and O(documents), builds the fleet report of this run from the results the
    collection's tasks registered on every host the play targets (failed and unreachable hosts
    included; hosts the run did not reach are left out), and returns it as C(set_stats) data
    under C(vmscape_report_run_<run id>) (AWX shows them as the job's artifacts and hands them to
    later nodes of a workflow). The collection's playbooks end with this task.
  - With O(inputs) or O(documents), merges the reports of several runs (for example the job
    slices of an AWX job template, or one run per site) into one fleet report; a host reported by
    several runs keeps the entry of the run that finished last, and is listed in
    C(report.meta.duplicates).
  - Writes the JSON and HTML files when O(dest) is given. Run it once per play (C(run_once)).
author:
  - fleetsec engineering (@fleetsec)
attributes:
  action:
    support: full
    description: Runs on the controller.
  async:
    support: none
    description: Not applicable.
  bypass_host_loop:
    support: none
    description: Use C(run_once).
  check_mode:
    support: full
    description: Reads only (it writes O(dest) files in check mode too, as reports are output).
  diff_mode:
    support: none
    description: Changes nothing on hosts.
  platform:
    support: full
    platforms: posix
    description: The controller.
options:
  pattern:
    description:
      - Host pattern of the run to report (with C(--limit) applied). Default V(all).
    type: str
  inputs:
    description:
      - JSON reports to merge - files, directories (every C(*.json) in them) or glob patterns.
    type: list
    elements: path
    default: []
  documents:
    description:
      - Report documents to merge, for example the C(vmscape_report_run_*) artifacts an AWX
        workflow passes on as extra variables.
    type: list
    elements: raw
    default: []
  dest:
    description:
      - Directory to write C(vmscape-<time>-<run id>[-merged].json) and C(.html) into (created).
    type: path
  template:
    description: Jinja2 template of the HTML page instead of the role's C(templates/fleet_report.html.j2).
    type: path
  set_stats:
    description: Return the report as C(set_stats) data (C(vmscape_report_run_<run id>)).
    type: bool
    default: true
  rows:
    description: Hosts listed in RV(summary) - V(all), V(problems), or V(auto) (all up to 100 hosts).
    type: str
    choices: [auto, all, problems]
    default: auto
seealso:
  - module: fleetsec.vmscape.vmscape_audit
"""

EXAMPLES = r"""
- name: Publish the report of this run as set_stats artifacts
  fleetsec.vmscape.vmscape_report:
    pattern: "{{ vmscape_hosts | default('all') }}"
  run_once: true

- name: Merge the reports of four job slices written into one directory
  fleetsec.vmscape.vmscape_report:
    inputs: [/srv/vmscape-reports]
    dest: /srv/vmscape-reports/merged
  register: merged
  delegate_to: localhost
  run_once: true

- name: Show the merged summary
  ansible.builtin.debug:
    msg: "{{ merged.summary }}"
"""

RETURN = r"""
report:
  description: The report - C(meta), C(columns), C(totals) (per result, action, CPU class, kernel) and C(rows).
  returned: always
  type: dict
summary:
  description: The terminal summary, one line per element.
  returned: always
  type: list
  elements: str
files:
  description: Paths of the written C(json) and C(html) files.
  returned: when O(dest) is given
  type: dict
msg:
  description: Totals in one line.
  returned: always
  type: str
"""
