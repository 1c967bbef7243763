# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/vmscape_plan.py on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmscape_plan
short_description: Decide the optimal VMSCAPE (CVE-2025-40300) kernel setting for a host
version_added: 0.1.0
description:
  - Turns the observations of M(fleetsec.vmscape.vmscape_facts) into a plan, on the controller and
    without any I/O; it tells whether anything must change (O(mode)), which C(vmscape=) kernel parameter to
    set, the exact string C(/sys/devices/system/cpu/vulnerabilities/vmscape) must show after the
    next boot, what the running kernel should be showing now, and whether a reboot is needed.
  - Intel Alder Lake and newer CPUs that enumerate BHI_CTRL get BHB clear (C(vmscape=on)) on
    kernels carrying the BHB series; other affected CPUs get C(vmscape=ibpb); C(vmscape=force) where
    the kernel branch's CPU list misses the CPU; nothing on guests and unaffected CPUs. Kernels
    without VMSCAPE support give C(kernel_upgrade); conflicts such as C(mitigations=off) on kernels
    where it wins give C(blocked), with reasons.
  - The prediction of the current state never reads the content of the vmscape sysfs file; it
    is compared with the observed string (RV(plan.prediction_matches)).
  - Facts are taken from O(facts), else (without O(root)) from C(ansible_facts.vmscape), in both cases
    only when observed in this run for this host; else they are gathered by running
    M(fleetsec.vmscape.vmscape_facts) once on the target (always when O(root) is given and O(facts) is not).
  - What every answer rests on is in RV(plan.evidence), strongest evidence first (sysfs of the running
    kernel, its cpuinfo C(bugs) line, the probe of the next-boot kernel, the per-branch tables of the facts
    document, the upstream version); missing evidence leads to V(blocked) with a reason naming it, never to
    a more confident answer. A next-boot kernel that is not known from the boot configuration, whose image
    is empty, unreadable or truncated, or that has no modules directory is never rebooted into (V(blocked)).
extends_documentation_fragment:
  - fleetsec.vmscape.observed_facts
  - fleetsec.vmscape.policy
  - fleetsec.vmscape.probe_image
author:
  - fleetsec engineering (@fleetsec)
attributes:
  action:
    support: full
    description: Runs on the controller; only gathering facts (when needed) touches the target.
  async:
    support: none
    description: The decision is instantaneous; there is nothing to run asynchronously.
  bypass_host_loop:
    support: none
    description: Plans per host.
  check_mode:
    support: full
    description: Makes no change in any mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  facts:
    support: full
    description: Returns the plan as C(ansible_facts.vmscape_plan).
  platform:
    support: full
    platforms: posix
    description: Any target where M(fleetsec.vmscape.vmscape_facts) runs (Linux on x86).
options:
  root:
    description:
      - Gather facts from this directory instead of C(/) (a captured host snapshot), by running
        M(fleetsec.vmscape.vmscape_facts) with the same O(root).
    type: path
seealso:
  - module: fleetsec.vmscape.vmscape_facts
  - module: fleetsec.vmscape.kernel_cmdline
"""

EXAMPLES = r"""
- name: Plan from the gathered facts
  fleetsec.vmscape.vmscape_plan:
  register: vmscape

- name: Apply the planned parameters
  fleetsec.vmscape.kernel_cmdline:
    params: "{{ vmscape.plan.cmdline }}"
    remove: "{{ vmscape.plan.cmdline_remove }}"
  when: vmscape.plan.action == 'set'

- name: Assess a captured snapshot of a host
  fleetsec.vmscape.vmscape_plan:
    root: /srv/snapshots/hv042

- name: Pin IBPB on a group, whatever the CPU
  fleetsec.vmscape.vmscape_plan:
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
msg:
  description: One-line summary of the plan.
  returned: success
  type: str
  sample: "set vmscape=ibpb: expect 'Mitigation: IBPB before exit to userspace' (reboot required)"
plan:
  description: The plan; also returned as C(ansible_facts.vmscape_plan).
  returned: success
  type: dict
  contains:
    action:
      description: V(none), V(set) (write RV(plan.cmdline) to the boot configuration), V(kernel_upgrade) or V(blocked).
      type: str
      sample: set
    mode:
      description: V(bhb), V(ibpb), V(force), V(off) or V(none).
      type: str
      sample: ibpb
    wanted_mode:
      description: The mode that would have been chosen when the action is V(blocked) or V(kernel_upgrade).
      type: str
      returned: when blocked
    cmdline:
      description: Kernel parameters to set (name to value).
      type: dict
      sample: {vmscape: ibpb}
    cmdline_remove:
      description: Kernel parameter names to remove.
      type: list
      elements: str
    next_boot_cmdline:
      description: The next boot's kernel parameters once the plan is applied.
      type: str
      returned: when action is set
    expected_sysfs:
      description: The exact vmscape sysfs string after the next boot (null when the kernel has no such file).
      type: str
      sample: "Mitigation: IBPB before exit to userspace"
    predicted_current:
      description:
        - What the running kernel with the running cmdline should report, computed without reading the vmscape
          sysfs file.
      type: str
    observed_current:
      description: What the running kernel reports.
      type: str
    prediction_matches:
      description: Whether RV(plan.predicted_current) equals RV(plan.observed_current).
      type: bool
    reboot_required:
      description: Whether the host must boot to reach RV(plan.expected_sysfs).
      type: bool
    compliant:
      description:
        - Whether the host already reports RV(plan.expected_sysfs) (false for V(blocked) and V(kernel_upgrade)).
      type: bool
    config_in_place:
      description: Whether the next-boot cmdline already carries exactly the planned parameters.
      type: bool
    reasons:
      description: Why, step by step.
      type: list
      elements: str
    warnings:
      description: Inconsistencies worth a look (for example the model disagreeing with the kernel).
      type: list
      elements: str
    cpu_class:
      description: V(btb), V(bhi), V(unaffected), V(unknown) or V(guest).
      type: str
    kernels:
      description:
        - Per kernel (C(running), C(next_boot)) its release, upstream version, C(generation) (G0 to G3;
          C(G1|G2) when the evidence leaves several, listed in C(generations)), C(knows_vmscape) and
          C(lists_cpu) (true, false or null when unknown).
      type: dict
    evidence:
      description:
        - Per question the plan asked (C(next_boot_is_running), C(running_knows_vmscape), C(next_boot_knows_vmscape),
          C(next_boot_generation), C(next_boot_lists_cpu), C(guest), C(ibpb), C(bhi_ctrl), C(ibpb_on_vmexit), ...)
          its C(value), the C(source) it rests on (V(sysfs), V(cpuinfo_bugs), V(probe), V(tables), V(version),
          V(cpuinfo), V(cpuid), V(boot_config) or V(unknown)) and a C(detail) naming the evidence or what is missing.
      type: dict
    observation_id:
      description: C(observation.id) of the facts the plan was made from.
      type: str
    policy:
      description: The policy applied.
      type: dict
"""
