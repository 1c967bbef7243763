# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/vmscape_upgrade.py on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmscape_upgrade
short_description: Install a kernel that knows VMSCAPE, or microcode with IBPB, when the plan needs one
version_added: 0.2.0
description:
  - The upgrade stage of fleetsec.vmscape (docs/upgrade.md). Acts only when the plan
    (M(fleetsec.vmscape.vmscape_plan)) says C(kernel_upgrade) (the next-boot kernel has no VMSCAPE
    support) or C(blocked) because the CPU lacks IBPB; otherwise it returns at once without contacting
    the host.
  - Kernel - asks the host's package manager (M(fleetsec.vmscape.kernel_packages)) what the
    configured repositories offer, prefers the distribution's meta-package of the running flavour (Debian
    C(linux-image-amd64)/C(-cloud-amd64)/C(-rt-amd64), Ubuntu C(linux-image-generic) or the installed HWE
    meta, Proxmox C(proxmox-default-kernel)/C(proxmox-kernel-X.Y), EL C(kernel), SUSE C(kernel-default)),
    else a fixed kernel already installed but not booted, else the newest versioned package of the same
    flavour newer than the running one. Each candidate is downloaded and its image probed (never its
    version number); the first that knows VMSCAPE is installed with C(ansible.builtin.apt),
    C(ansible.builtin.dnf) or C(ansible.builtin.dnf5) (SUSE - C(community.general.zypper) when that
    collection is installed, else an C(unsupported) result). The running kernel stays installed as the
    fallback boot entry. The new kernel is made the next boot (M(fleetsec.vmscape.boot_default)) when the
    boot configuration pins another one, the facts are gathered again and the plan is made for the new
    kernel, so the configure stage writes its C(vmscape=) in the same run and one reboot applies both.
  - When no candidate knows VMSCAPE, nothing changes and the plan stays C(kernel_upgrade) with the reason
    C(no fixed kernel in the configured repositories (newest - X)).
  - Microcode - when the CPU lacks IBPB and the planner says IBPB would let it mitigate, the vendor package
    (Debian/Ubuntu C(intel-microcode)/C(amd64-microcode), EL C(microcode_ctl)/C(linux-firmware), SUSE
    C(ucode-intel)/C(ucode-amd)) is installed; the plan then assumes IBPB after the reboot and the verify
    stage checks that the CPU shows it.
  - O(mode), O(allow_remove_mitigations_off) and O(probe_image) are used for the facts gathered and the
    plan made for the new kernel after an install.
  - Check mode (and a snapshot O(root)) reports which package and version would be installed and that the
    final verdict depends on it; nothing is downloaded or installed.
  - A fault (package manager locked, repository unreachable or broken, C(/boot) too small, a kernel that
    installs but cannot become the default) fails the host with the reason; it keeps booting its previous
    kernel.
author:
  - fleetsec engineering (@fleetsec)
extends_documentation_fragment:
  - fleetsec.vmscape.policy
  - fleetsec.vmscape.probe_image
attributes:
  action:
    support: full
    description: Runs on the controller and executes the modules named above on the target.
  async:
    support: none
    description: Not supported.
  bypass_host_loop:
    support: none
    description: Per host.
  check_mode:
    support: full
    description: Reports what would be installed; downloads and installs nothing.
  diff_mode:
    support: none
    description: Package installs have no diff; the boot default change is reported in RV(upgrade).
  facts:
    support: full
    description:
      - Returns the new C(vmscape_plan) (with C(upgrade), a summary of the stage) and, after an install,
        fresh C(vmscape) facts.
  platform:
    support: full
    platforms: posix
    description: Debian, Ubuntu, Proxmox VE (apt); RHEL-family and Fedora (dnf, dnf5, yum); SUSE with community.general.
options:
  plan:
    description: The host's plan (C(ansible_facts.vmscape_plan)).
    type: dict
    required: true
  facts:
    description: The host's C(ansible_facts.vmscape) the plan was made from.
    type: dict
    required: true
  root:
    description: Directory treated as the host's root; other than C(/) nothing is installed (a snapshot).
    type: path
    default: /
  enabled:
    description: Install packages; V(false) only reports that a kernel or microcode upgrade is needed.
    type: bool
    default: true
  microcode:
    description: Install the vendor microcode package when the CPU lacks IBPB.
    type: bool
    default: true
  package:
    description: Install this kernel package instead of choosing one (still probed before it is installed).
    type: str
    default: ''
  version:
    description: With O(package), the version to install (default - the candidate version of the package manager).
    type: str
    default: ''
  refresh_cache:
    description: Refresh the package lists before looking (C(apt-get update), C(dnf makecache)).
    type: bool
    default: true
  cache_valid_time:
    description: apt - do not refresh lists younger than this many seconds.
    type: int
    default: 3600
  lock_timeout:
    description: Seconds to wait for the package manager's lock before failing the host.
    type: int
    default: 120
  set_default:
    description: Make the new kernel the default boot entry when the boot configuration pins another one.
    type: bool
    default: true
  max_probes:
    description: How many candidate kernels to download and probe at most.
    type: int
    default: 3
  tmpdir:
    description: Where candidate packages are downloaded for probing (deleted afterwards).
    type: path
    default: /var/tmp
"""

EXAMPLES = r"""
- name: Upgrade where the plan needs a kernel or microcode
  fleetsec.vmscape.vmscape_upgrade:
    plan: "{{ ansible_facts['vmscape_plan'] }}"
    facts: "{{ ansible_facts['vmscape'] }}"

- name: Only report what would be installed
  fleetsec.vmscape.vmscape_upgrade:
    plan: "{{ ansible_facts['vmscape_plan'] }}"
    facts: "{{ ansible_facts['vmscape'] }}"
    enabled: false
"""

RETURN = r"""
upgrade:
  description:
    - C(status) - V(not_needed), V(disabled), V(unsupported), V(no_fix), V(would_install), V(installed) or V(failed);
      C(reasons); C(kernel) (C(before), C(after), C(package), C(version), C(candidates), C(probes), C(newest),
      C(default)); C(microcode); C(installs) (module, packages, seconds); C(seconds) (the whole stage).
  returned: always
  type: dict
plan:
  description:
    - The plan after the stage - for the new kernel after an install, else the given plan with the
      stage's reason added.
  returned: success
  type: dict
"""
