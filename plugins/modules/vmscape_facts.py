#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmscape_facts
short_description: Observe what decides the VMSCAPE (CVE-2025-40300) mitigation of a Linux host
version_added: "0.1.0"
description:
  - Reads the CPU identity (C(/proc/cpuinfo), BHI_CTRL from CPUID leaf 7 subleaf 2 through
    C(/dev/cpu/0/cpuid)), the running kernel and its command line, every file of
    C(/sys/devices/system/cpu/vulnerabilities), the kernel that boots next (default boot
    entry of GRUB, BLS or systemd-boot; the newest installed kernel as fallback) and what that
    kernel supports (from its C(System.map), C(config) and, when needed, its decompressed image).
  - Returns them as the C(vmscape) fact (schema 2, see C(docs/facts-schema.md)). Observations
    only; the decision is made by M(fleetsec.vmscape.vmscape_plan). What cannot be known is null
    with a reason (absent or unreadable is never reported as present and empty).
  - Run as a task, the controller stamps C(observation.run) and C(observation.host) on the result, so
    the collection's actions later in the same run use it instead of observing again; a copy kept by
    a fact cache (AWX) is never used by a later run. Gathered through C(gather_facts) it carries no
    stamp, and the collection's actions observe again (one module run each).
  - Usable as a facts module of C(gather_facts) (C(ansible_facts_modules) or C(FACTS_MODULES)),
    one module run per host, no other commands except C(modprobe cpuid) and, for zstd or lz4
    compressed images, C(zstd -dc) / C(lz4 -dc).
  - When the cpuid device is absent and O(root=/), the module loads the C(cpuid) driver
    once with C(modprobe cpuid) (also in check mode, as it only adds a read-only device).
  - Standard library only; runs with any Python 3.6+ on the host.
extends_documentation_fragment:
  - fleetsec.vmscape.snapshot_root
  - fleetsec.vmscape.probe_image
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: linux
notes:
  - Reading C(/dev/cpu/0/cpuid), the C(System.map) of Ubuntu kernels and the vulnerabilities
    of some files needs root (C(become)); without it C(cpu.bhi_ctrl) is null with a reason.
  - A value that cannot be known is null and the reason is in C(warnings) or the field's
    C(*_reason); the module fails only when C(/proc/cpuinfo) is unreadable or not cpuinfo.
author:
  - fleetsec engineering (@fleetsec)
"""

EXAMPLES = r"""
- name: Gather the vmscape fact
  fleetsec.vmscape.vmscape_facts:

- name: Assess a captured snapshot of a host
  fleetsec.vmscape.vmscape_facts:
    root: /srv/snapshots/hv042
    probe_image: always

- name: Show what boots next
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.vmscape.boot_kernel.release }} knows VMSCAPE:
      {{ ansible_facts.vmscape.boot_kernel.knows_vmscape }}

# Collect it in the same round trip as the setup facts, through gather_facts.
# Either set ANSIBLE_FACTS_MODULES=ansible.builtin.setup,fleetsec.vmscape.vmscape_facts
# (or [defaults] facts_modules in ansible.cfg), or per play:
- name: Assess hypervisor hosts
  hosts: kvm_hosts
  gather_facts: true
  vars:
    ansible_facts_modules:
      - ansible.builtin.setup
      - fleetsec.vmscape.vmscape_facts
  module_defaults:
    fleetsec.vmscape.vmscape_facts:
      root: "{{ vmscape_root | default('/') }}"
  tasks:
    - name: Report
      ansible.builtin.debug:
        var: ansible_facts.vmscape.sysfs.vmscape
"""

RETURN = r"""
ansible_facts:
  description: Facts added to C(ansible_facts).
  returned: always
  type: dict
  contains:
    vmscape:
      description:
        - Observations that decide the VMSCAPE mitigation (C(docs/facts-schema.md), schema 1).
      returned: always
      type: dict
      contains:
        schema:
          description: Schema version of this fact.
          type: int
          returned: always
          sample: 2
        observation:
          description:
            - C(id) (random, one per module run), C(time) (the target's clock), C(boot_id) (null when absent),
              C(run) and C(host) (set on the controller by the action that ran the module; null otherwise).
          type: dict
          returned: always
        sysfs_reason:
          description: Why C(sysfs) is null (the vulnerabilities directory cannot be listed), else null.
          type: str
          returned: always
        root:
          description: The O(root) option as given.
          type: str
          returned: always
          sample: /
        warnings:
          description: Human-readable "<path> - what went wrong" strings.
          type: list
          elements: str
          returned: always
        cpu:
          description:
            - Boot CPU (first processor of C(/proc/cpuinfo)) - C(vendor), C(family), C(model),
              C(stepping), C(microcode), C(model_name), C(flags), C(bugs) (each null when its line is absent,
              with C(flags_reason) / C(bugs_reason)), C(hypervisor),
              C(ibpb), C(processors), C(sockets), C(identities_differ), and
              C(bhi_ctrl) (CPUID.(EAX=7,ECX=2):EDX[4], null when unknowable),
              C(bhi_ctrl_source) (cpuid_device or unavailable), C(bhi_ctrl_reason).
          type: dict
          returned: always
          sample:
            vendor: GenuineIntel
            family: 6
            model: 85
            stepping: 4
            microcode: "0x2007006"
            hypervisor: false
            ibpb: true
            processors: 56
            sockets: 2
            identities_differ: false
            bhi_ctrl: false
            bhi_ctrl_source: cpuid_device
            bhi_ctrl_reason: null
        kernel:
          description:
            - The running kernel - C(release), upstream C(version) (or null),
              C(version_source) (proc_version, version_signature or release),
              C(proc_version) (raw line), C(distro_version).
          type: dict
          returned: always
          sample:
            release: 6.1.0-56-amd64
            version: 6.1.192
            version_source: proc_version
            distro_version: 6.1.192-2
        boot_kernel:
          description:
            - The kernel that boots next - C(release), C(source) (grub_cfg, grubenv_saved, bls,
              systemd_boot, newest_installed or running), C(source_reason) (null when the boot configuration
              names it, else why it is a guess), C(is_running), C(image) (host path),
              C(version), C(version_source) (image_header, image_banner, release), C(distro_version),
              C(knows_vmscape), C(bhb_series), C(config_mitigation_vmscape) (true, false or null),
              C(evidence) and C(probe_errors) (lists of strings), C(image_check) (C(ok), C(problems), C(size),
              C(modules_dir); an empty, unreadable, truncated or non-bzImage image, or a missing modules
              directory, makes C(ok) false).
          type: dict
          returned: always
          sample:
            release: 6.1.0-56-amd64
            source: grub_cfg
            is_running: true
            image: /boot/vmlinuz-6.1.0-56-amd64
            version: 6.1.192
            version_source: image_header
            distro_version: 6.1.192-2
            knows_vmscape: true
            bhb_series: false
            config_mitigation_vmscape: true
            evidence: ["/boot/config-6.1.0-56-amd64: CONFIG_MITIGATION_VMSCAPE=y"]
            probe_errors: []
        cmdline:
          description:
            - The running kernel command line - C(raw), C(tokens) (list of dicts with C(raw),
              C(name), C(value), kernel quoting rules), C(init_args) (after a bare C(--)) and C(reason)
              (why they are null).
          type: dict
          returned: always
        sysfs:
          description:
            - Every file of C(/sys/devices/system/cpu/vulnerabilities) by name, raw string with
              one trailing newline stripped (null when unreadable); absent files have no key; null
              (with C(sysfs_reason)) when the directory cannot be listed.
          type: dict
          returned: always
          sample:
            vmscape: "Mitigation: IBPB before exit to userspace"
        bootloader:
          description:
            - Next-boot configuration - C(backend) (grub, grubby, grubenv, systemd-boot or
              unknown; the detector M(fleetsec.vmscape.kernel_cmdline) uses) and C(backend_reason),
              C(configured_cmdline) of the menu's default entry (or null, with C(configured_cmdline_reason))
              and its C(tokens), and C(source_cmdline), the parameters the configuration gives that entry as
              M(fleetsec.vmscape.kernel_cmdline) reads them before a change (its
              RV(fleetsec.vmscape.kernel_cmdline#module:previous_cmdline); null with C(source_cmdline_reason)
              where it would refuse the configuration).
          type: dict
          returned: always
          sample:
            backend: grub
            backend_reason: /etc/default/grub (GRUB defaults, update-grub/grub-mkconfig)
            configured_cmdline: root=UUID=0a1b ro quiet
            source_cmdline: quiet
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetsec.vmscape.plugins.module_utils import _specs
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import FactsError, collect_facts


def main():
    module = AnsibleModule(
        argument_spec=_specs.spec(root=_specs.ROOT, probe_image=_specs.PROBE_IMAGE),
        supports_check_mode=True,
    )

    def run_command(argv):
        path = module.get_bin_path(argv[0], opt_dirs=["/sbin", "/usr/sbin"])
        if path is None:
            return 127, "", "%s not found" % argv[0]
        return module.run_command([path, *argv[1:]])

    try:
        facts = collect_facts(module.params["root"], module.params["probe_image"], run_command)
    except FactsError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, ansible_facts={"vmscape": facts})


if __name__ == "__main__":
    main()
