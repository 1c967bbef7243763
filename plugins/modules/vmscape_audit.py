# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/vmscape_audit.py on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmscape_audit
short_description: Audit a host for VMSCAPE (CVE-2025-40300) in one task and one round trip
version_added: 0.1.0
description:
  - Runs M(fleetsec.vmscape.vmscape_facts) once on the target, then, on the controller, the
    decision of M(fleetsec.vmscape.vmscape_plan) and the comparison of
    M(fleetsec.vmscape.vmscape_verify) (without reboot). Read-only.
  - This is what C(playbooks/audit.yml) runs; its cost per host is one module execution, about the
    cost of M(ansible.builtin.ping).
  - A host whose kernel reports something other than what its plan expects, while no reboot is
    pending, fails; hosts needing a reboot are V(pending), hosts that cannot be fixed are
    V(blocked) or V(kernel_upgrade).
author:
  - fleetsec engineering (@fleetsec)
attributes:
  action:
    support: full
    description: The decision and comparison run on the controller.
  async:
    support: none
    description: Not applicable.
  bypass_host_loop:
    support: none
    description: Per host.
  check_mode:
    support: full
    description: Reads only, in every mode.
  diff_mode:
    support: none
    description: Changes nothing.
  facts:
    support: full
    description: Returns C(ansible_facts.vmscape), C(ansible_facts.vmscape_plan) and C(ansible_facts.vmscape_verify).
  platform:
    support: full
    platforms: posix
    description: Where M(fleetsec.vmscape.vmscape_facts) runs (Linux on x86).
extends_documentation_fragment:
  - fleetsec.vmscape.observed_facts
  - fleetsec.vmscape.policy
  - fleetsec.vmscape.probe_image
options:
  root:
    description: Directory read instead of C(/) (a captured host snapshot).
    type: path
seealso:
  - module: fleetsec.vmscape.vmscape_plan
  - module: fleetsec.vmscape.vmscape_verify
"""

EXAMPLES = r"""
- name: Audit the fleet
  fleetsec.vmscape.vmscape_audit:
    mode: "{{ vmscape_mode | default('auto') }}"
"""

RETURN = r"""
facts_source:
  description:
    - V(gathered) when vmscape_facts ran for this task, V(given) when facts observed earlier in this run
      for this host were used.
  returned: success
  type: str
  sample: gathered
facts_note:
  description: Why the facts at hand (O(facts), or C(ansible_facts.vmscape)) were not used.
  returned: when facts were at hand but not observed in this run for this host
  type: str
  sample: "the facts at hand were not used (observed in another run ..., e.g. kept by a fact cache); observed again"
plan:
  description: The plan, as returned by M(fleetsec.vmscape.vmscape_plan).
  returned: success
  type: dict
verify:
  description: The verdict of M(fleetsec.vmscape.vmscape_verify) for a host that was not rebooted.
  returned: success
  type: dict
msg:
  description: Verdict and plan summary in one line.
  returned: success
  type: str
"""
