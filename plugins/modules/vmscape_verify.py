# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/vmscape_verify.py on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmscape_verify
short_description: Check that a host reports exactly the VMSCAPE mitigation its plan promised
version_added: 0.1.0
description:
  - Gathers fresh facts with M(fleetsec.vmscape.vmscape_facts) (unless O(facts) is given) and compares
    them with a plan made by M(fleetsec.vmscape.vmscape_plan) before the reboot.
  - After a reboot, the vmscape sysfs string must equal the plan's C(expected_sysfs) and the running
    kernel command line must carry exactly the planned parameters; any difference fails the host
    with the reason.
  - Without a reboot, a host whose plan needed one is reported V(pending); a host that needed none
    must already report the expected string.
  - Hosts whose plan is V(blocked) or V(kernel_upgrade) are reported as such, not failed.
  - With O(rebooted=true) O(facts) are never used; what the kernel reports after the reboot is observed
    after the reboot.
extends_documentation_fragment:
  - fleetsec.vmscape.observed_facts
  - fleetsec.vmscape.snapshot_root
author:
  - fleetsec engineering (@fleetsec)
attributes:
  action:
    support: full
    description: The comparison runs on the controller.
  async:
    support: none
    description: Not applicable.
  bypass_host_loop:
    support: none
    description: Per host.
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Changes nothing.
  facts:
    support: full
    description: Returns C(ansible_facts.vmscape_verify) (and the fresh C(ansible_facts.vmscape)).
  platform:
    support: full
    platforms: posix
    description: Where M(fleetsec.vmscape.vmscape_facts) runs.
options:
  plan:
    description: The plan returned by M(fleetsec.vmscape.vmscape_plan) before the reboot.
    type: dict
    required: true
  rebooted:
    description: Whether the host was rebooted to apply the plan.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Verify after the reboot
  fleetsec.vmscape.vmscape_verify:
    plan: "{{ ansible_facts['vmscape_plan'] }}"
    rebooted: true
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
verify:
  description: The verdict; also returned as C(ansible_facts.vmscape_verify).
  returned: success
  type: dict
  contains:
    status:
      description: V(pass), V(pending), V(blocked), V(kernel_upgrade) or V(fail).
      type: str
      sample: pass
    expected:
      description: The plan's expected sysfs string.
      type: str
    observed:
      description: What the kernel reports now.
      type: str
    sysfs_ok:
      description: Whether observed equals expected.
      type: bool
    cmdline_ok:
      description: Whether the running command line carries exactly the planned parameters.
      type: bool
    rebooted:
      description: The O(rebooted) option as given.
      type: bool
    reasons:
      description: Every difference found.
      type: list
      elements: str
msg:
  description: The verdict and its reasons in one line.
  returned: success
  type: str
"""
