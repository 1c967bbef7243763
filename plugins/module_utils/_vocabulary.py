# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's words: every status, result, mode, backend and probe value, defined once.

Standard library only, importable by Python 3.6+: the target-side modules (argument specs built
from these tuples), the controller-side decision core, the filters and the callback all import
them from here, and tests/unit/test_option_sources.py checks that the role's argument specs and
the modules' documentation offer exactly these choices.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# --- observe (vmscape_facts; docs/facts-schema.md)
PROBE_MODES = ("auto", "always", "never")  # probe_image / vmscape_probe_image
BOOT_SOURCES = ("grub_cfg", "grubenv_saved", "bls", "systemd_boot", "newest_installed", "running")
MENU_SOURCES = ("grub_cfg", "grubenv_saved", "bls", "systemd_boot")  # boot sources that are a menu's default entry
KERNEL_VERSION_SOURCES = ("proc_version", "version_signature", "release")
BOOT_VERSION_SOURCES = ("image_header", "image_banner", "release")

# --- configure (kernel_cmdline)
BACKENDS = ("grub", "grubby", "grubenv", "systemd-boot")
AUTO = "auto"
BACKEND_CHOICES = (AUTO, *BACKENDS)  # backend / vmscape_boot_backend
BACKEND_UNKNOWN = "unknown"  # the facts' backend when no boot configuration is found
RESTORE_LATEST = "latest"
# The values any kernel generation accepts for vmscape= (vmscape-facts.md section 2).
VMSCAPE_VALUES = ("off", "ibpb", "force", "on", "auto")

# --- decide (vmscape_plan; docs/DESIGN.md)
MODES = ("auto", "bhb", "ibpb", "force", "off", "none")  # policy: mode / vmscape_mode
PLAN_MODES = ("bhb", "ibpb", "force", "none")  # plan.mode (a rollback's plan: ROLLBACK_MODE)
ROLLBACK_MODE = "rollback"
ACTIONS = ("none", "set", "kernel_upgrade", "blocked")  # plan.action (KERNEL_UPGRADE, BLOCKED below)

# --- upgrade (vmscape_upgrade; docs/upgrade.md): upgrade.status, in this order
UPGRADE_STATUSES = (
    "not_needed",  # the plan needs neither a kernel nor microcode
    "disabled",  # vmscape_upgrade is false: reported only
    "unsupported",  # no usable package manager (or zypper without community.general)
    "no_fix",  # the repositories offer nothing that fixes it: reported, nothing changed
    "would_install",  # check mode or a snapshot root: what would be installed
    "installed",  # installed, the next boot is the new kernel (and/or microcode)
    "failed",  # a fault; the host keeps booting its previous kernel
)

# --- reboot (vmscape_reboot_gate, the reboot stage)
REBOOT_POLICIES = ("now", "stage", "window")  # vmscape_reboot_policy
GO = "go"  # may reboot now
WOULD_REBOOT = "would_reboot"  # a --check run would reboot now
PENDING = "pending"  # configuration staged, the reboot that applies it has not happened
NOT_NEEDED = "not_needed"  # the host already reports what its plan expects
REBOOTED = "rebooted"
# pull mode (reboot_signals): when to write /run/reboot-required - Debian/Ubuntu only, always, never
SIGNAL_MODES = ("auto", "always", "never")
GATE_STATUSES = (GO, WOULD_REBOOT, PENDING, NOT_NEEDED)  # vmscape_reboot_gate's gate.status
REBOOT_STATUSES = (GO, REBOOTED, WOULD_REBOOT, PENDING, NOT_NEEDED)  # vmscape_reboot.status

# --- verify and report
PASS = "pass"  # observed == expected (and, after a reboot, the cmdline carries the params)
BLOCKED = "blocked"  # the plan could not fix the host (reasons in the plan)
KERNEL_UPGRADE = "kernel_upgrade"  # the host needs a kernel with VMSCAPE support
FAIL = "fail"  # the host does not show what was promised
VERDICTS = (PASS, PENDING, BLOCKED, KERNEL_UPGRADE, FAIL)  # vmscape_verify's verify.status, worst last
# a host's result in the fleet report, most urgent first (the order of the totals and the HTML groups)
RESULTS = ("fail", "error", "unreachable", "unverified", BLOCKED, KERNEL_UPGRADE, PENDING, WOULD_REBOOT, PASS)
# which hosts the terminal summary lists (vmscape_report rows, the callback's terminal_rows)
REPORT_ROWS = ("auto", "all", "problems")
