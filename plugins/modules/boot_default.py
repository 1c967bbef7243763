#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: boot_default
short_description: Make an installed kernel the one that boots next
version_added: "0.2.0"
description:
  - Used by the upgrade stage of fleetsec.vmscape after a fixed kernel was installed and the boot
    configuration still pins another one. Changes the default through the mechanism that pins it -
    GRUB C(GRUB_DEFAULT=saved) (C(grub-editenv ... set saved_entry=)), another C(GRUB_DEFAULT) value
    (the literal value of its last assignment in C(/etc/default/grub) or a drop-in becomes the new
    kernel's menu entry id path, then grub.cfg is regenerated), grubby (C(--set-default)) or systemd-boot
    (C(default) in C(loader.conf)).
  - A C(GRUB_DEFAULT) built from variables or code is refused. The result is read back; unless the
    kernel named by O(release) boots next, every file is restored and the module fails.
  - Nothing changes when O(release) already boots next.
options:
  release:
    description: Kernel release (C(uname -r) form) that must boot next; it must be installed.
    type: str
    required: true
  root:
    description: Directory treated as the host's root.
    type: path
    default: /
  running:
    description: The running kernel's release (used when the boot configuration names no kernel).
    type: str
  backup:
    description: Keep a copy of each changed file (C(<file>.<pid>.<time>~)).
    type: bool
    default: true
extends_documentation_fragment:
  - fleetsec.vmscape.boot_config_run
attributes:
  check_mode:
    description: Reports what would change.
    support: full
  diff_mode:
    description: Returns the planned file changes.
    support: full
  platform:
    description: Linux with GRUB, GRUB + BLS (grubby) or systemd-boot.
    support: full
    platforms: linux
author:
  - fleetsec engineering (@fleetsec)
"""

EXAMPLES = r"""
- name: Boot the fixed kernel next
  fleetsec.vmscape.boot_default:
    release: 7.3.4+deb13-amd64
"""

RETURN = r"""
backend:
  description: Detected boot configuration backend.
  returned: always
  type: str
  sample: grub
method:
  description: How the default was set (V(already) when nothing had to change).
  returned: always
  type: str
  sample: GRUB_DEFAULT
entry:
  description: The menu entry (GRUB id path) or loader entry now the default.
  returned: when changed
  type: str
  sample: gnulinux-advanced-0a1b>gnulinux-7.3.4+deb13-amd64-advanced-0a1b
previous:
  description: The kernel release that booted next before.
  returned: always
  type: str
files:
  description: Files changed (or that would change).
  returned: always
  type: list
  elements: str
backups:
  description: Backup copies by file.
  returned: when changed
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetsec.vmscape.plugins.module_utils import _specs
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.apply import Session, execute
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import diff_entry
from ansible_collections.fleetsec.vmscape.plugins.module_utils._upgrade.boot_default import build_plan


def run_module(module):
    """Plan; in check mode report; else plan again under kernel_cmdline's lock (_bootcfg.apply.Session:
    an interrupted kernel_cmdline run is undone first, commands bounded) and carry it out."""
    p = module.params
    result = dict(changed=False, files=[], backups={}, diff=[])

    def fail(exc):
        module.fail_json(msg="cannot make %s the next boot: %s" % (p["release"], exc), **result)

    try:
        plan, info = build_plan(p["root"], p["release"], p["running"])
    except BootConfigError as exc:
        fail(exc)
    result.update(backend=info["backend"], method=info["method"], entry=info["entry"], previous=info["previous"])
    if plan is None:
        module.exit_json(**result)
    predicted = plan.predicted_changes()
    result["files"] = sorted(c.path for c in predicted)
    result["diff"] = [diff_entry(c.path, c.before, c.after) for c in predicted]
    if module.check_mode:
        result["changed"] = bool(predicted) or bool(plan.steps)
        module.exit_json(**result)
    session = Session(
        p["root"],
        "boot_default %s" % p["release"],
        warn=module.warn,
        bin_path=lambda name: module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin", "/usr/local/sbin"]),
        lock_timeout=p["lock_timeout"],
        regenerate_timeout=p["regenerate_timeout"],
        backup=p["backup"],
    )
    try:
        with session:
            plan, info = build_plan(p["root"], p["release"], p["running"])  # again, under the lock
            if plan is None:
                result.update(method=info["method"], files=[], diff=[])
                module.exit_json(**result)
            res = execute(plan, session.runner(), backup=p["backup"], regenerate=True)
    except BootConfigError as exc:
        fail(exc)
    result["changed"] = True
    result["files"] = res["files"]
    result["backups"] = res["backups"]
    result["regenerated_files"] = res["regenerated_files"]
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            release=dict(type="str", required=True),
            running=dict(type="str"),
            backup=dict(type="bool", default=True),
            **_specs.spec(
                root=_specs.ROOT,
                lock_timeout=_specs.LOCK_TIMEOUT,
                regenerate_timeout=_specs.REGENERATE_TIMEOUT,
            ),
        ),
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
