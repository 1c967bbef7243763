#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kernel_packages
short_description: Ask the package manager which kernels and microcode it offers, and probe candidate kernels
version_added: "0.2.0"
description:
  - Observation for the upgrade stage of fleetsec.vmscape (M(fleetsec.vmscape.vmscape_upgrade)); changes
    nothing on the host, takes no package manager lock and does not refresh the package lists.
  - O(state=query) returns the package manager (apt, dnf, dnf5, yum, zypper), C(/etc/os-release), the
    installed packages named in O(spec), what the configured repositories offer for them
    (C(apt-cache policy), C(dnf repoquery)), the package that owns the running kernel's image and the free
    space on C(/boot) and C(/).
  - O(state=probe) takes O(candidates) in order and, for each, lets the package manager resolve what
    installing it would install (C(apt-get -s install), a simulation), then downloads the packages that
    carry a kernel (O(carriers)) into a scratch directory under O(tmpdir) (C(apt-get download),
    C(dnf download)), takes out the kernel image and config (C(dpkg-deb --fsys-tarfile), C(rpm2cpio)) and
    probes them like an installed kernel (C(vmscape) strings in the decompressed image, C(CONFIG_MITIGATION_VMSCAPE)).
    The scratch directory is deleted afterwards. A candidate that is already installed is probed in place.
  - Standard library only on the host, Python 3.6+.
options:
  state:
    description: V(query) lists packages; V(probe) resolves, downloads and probes O(candidates).
    type: str
    choices: [query, probe]
    default: query
  root:
    description:
      - Directory treated as the host's root (a snapshot with its own package state); C(apt -o Dir=),
        C(rpm --root), C(dnf --installroot).
    type: path
    default: /
  release:
    description: The running kernel's release (C(uname -r)), to find its package and its initramfs.
    type: str
  spec:
    description:
      - Package names (C(names)) and name regular expressions (C(patterns)) to ask about, per manager
        family (C(apt), C(rpm), C(zypper)); built by the controller from the running kernel.
    type: dict
    default: {}
  candidates:
    description:
      - For O(state=probe) - packages to probe in order, each a dict with C(package), C(version) and
        optionally C(release), C(installed), C(kind).
    type: list
    elements: dict
    default: []
  carriers:
    description: Regular expressions of the package names that carry a kernel image or config (group C(rel)).
    type: list
    elements: str
    default: []
  download:
    description: Download and probe; V(false) only resolves what would be installed.
    type: bool
    default: true
  stop_at_fixed:
    description: Stop at the first candidate whose kernel knows VMSCAPE.
    type: bool
    default: true
  want_g3:
    description: Also look for the BHB-clear series (only useful when the CPU may enumerate BHI_CTRL).
    type: bool
    default: true
  tmpdir:
    description: Directory for the scratch download directory.
    type: path
    default: /var/tmp
  timeout:
    description: Seconds each package manager command may take.
    type: int
    default: 900
attributes:
  check_mode:
    description: Changes nothing in any mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is nothing to diff.
    support: none
  platform:
    description: Debian, Ubuntu, Proxmox VE (apt); RHEL-family and Fedora (dnf, dnf5, yum).
    support: full
    platforms: linux
notes:
  - A download needs network access to the repositories and about twice the package size free in O(tmpdir).
author:
  - fleetsec engineering (@fleetsec)
"""

EXAMPLES = r"""
- name: What does the repository offer for the running kernel's flavour?
  fleetsec.vmscape.kernel_packages:
    release: "{{ ansible_facts['vmscape']['kernel']['release'] }}"
    spec:
      apt:
        names: [linux-image-amd64]
        patterns: ['^linux-image-(?P<rel>\d.+-amd64)$']

- name: Probe a candidate kernel before installing it
  fleetsec.vmscape.kernel_packages:
    state: probe
    candidates:
      - package: linux-image-amd64
        version: 7.3.4-1~bpo13+1
    carriers: ['^linux-image-(?P<rel>\d.+)$', '^linux-binary-(?P<rel>\d.+)$', '^linux-base-(?P<rel>\d.+)$']
"""

RETURN = r"""
packages:
  description: O(state=query) - manager, os, installed, available, running_package, space.
  returned: state == 'query'
  type: dict
  sample:
    manager: apt
    os: {id: debian, id_like: [], version_id: "13", pretty_name: Debian GNU/Linux 13 (trixie)}
    installed: [{name: linux-image-6.16.3+deb13-amd64, version: 6.16.3-1~bpo13+1}]
    available:
      linux-image-amd64: {installed: null, candidate: 7.3.4-1~bpo13+1, versions: [7.3.4-1~bpo13+1]}
    running_package:
      name: linux-image-6.16.3+deb13-amd64
      version: 6.16.3-1~bpo13+1
      path: /boot/vmlinuz-6.16.3+deb13-amd64
    space: {boot_free_bytes: 1048576000, root_free_bytes: 2097152000, running_initrd_bytes: 31457280}
probes:
  description:
    - O(state=probe) - per candidate probed, C(candidate), C(release), C(knows_vmscape) (true, false or
      null when unknown), C(bhb_series), C(version), C(evidence), C(errors), C(resolved) (what would be
      installed), C(removes), C(image_bytes), C(installed_bytes), C(download_bytes), C(downloaded), C(seconds).
  returned: state == 'probe'
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetsec.vmscape.plugins.module_utils._upgrade.kernel_packages import (
    PackagesError,
    Runner,
    probe,
    query,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="query", choices=["query", "probe"]),
            root=dict(type="path", default="/"),
            release=dict(type="str"),
            spec=dict(type="dict", default={}),
            candidates=dict(type="list", elements="dict", default=[]),
            carriers=dict(type="list", elements="str", default=[]),
            download=dict(type="bool", default=True),
            stop_at_fixed=dict(type="bool", default=True),
            want_g3=dict(type="bool", default=True),
            tmpdir=dict(type="path", default="/var/tmp"),
            timeout=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    p = module.params
    runner = Runner(p["timeout"])
    try:
        if p["state"] == "query":
            module.exit_json(changed=False, packages=query(p["root"], p["spec"], p["release"], runner))
        results = probe(
            p["root"],
            p["candidates"],
            p["carriers"],
            p["download"],
            p["tmpdir"],
            p["want_g3"],
            p["stop_at_fixed"],
            runner,
        )
        module.exit_json(changed=False, probes=results)
    except PackagesError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
