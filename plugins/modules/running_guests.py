#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: running_guests
short_description: List the virtual machines running on a hypervisor host
version_added: 0.1.0
description:
  - Reports the guests running on a host right now, so that a reboot can be refused or
    preceded by draining them (for example live migration).
  - Three signals are combined; processes holding C(/dev/kvm) open, processes named like a
    virtual machine monitor (C(qemu-system-*), C(qemu-kvm), C(firecracker), C(cloud-hypervisor),
    C(crosvm)), and running libvirt domains from libvirt's runtime state directory.
  - Read-only; standard library only.
author:
  - fleetsec engineering (@fleetsec)
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with C(/proc).
extends_documentation_fragment:
  - fleetsec.vmscape.snapshot_root
seealso:
  - module: fleetsec.vmscape.vmscape_facts
"""

EXAMPLES = r"""
- name: Refuse to reboot a host that still runs guests
  fleetsec.vmscape.running_guests:
  register: guests
  failed_when: guests.count > 0
"""

RETURN = r"""
count:
  description: Number of running guests (the larger of the process count and the libvirt domain count).
  returned: always
  type: int
  sample: 2
processes:
  description: VMM processes found.
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 4242, "name": "qemu-system-x86_64", "holds_dev_kvm": true}]
libvirt_domains:
  description: Names of running libvirt domains.
  returned: always
  type: list
  elements: str
  sample: [web01]
unreadable_processes:
  description: Processes whose open files could not be inspected (run with privileges to see all).
  returned: always
  type: int
  sample: 0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetsec.vmscape.plugins.module_utils import _specs
from ansible_collections.fleetsec.vmscape.plugins.module_utils._reboot.running_guests import running_guests


def main():
    module = AnsibleModule(argument_spec=_specs.spec(root=_specs.ROOT), supports_check_mode=True)
    result = running_guests(module.params["root"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
