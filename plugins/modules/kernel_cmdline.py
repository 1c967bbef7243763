#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kernel_cmdline
short_description: Set or remove kernel parameters in the configuration the next boot uses
version_added: "0.1.0"
description:
  - "Makes the next boot get exactly the requested kernel parameters, for example
    O(params={vmscape: ibpb}) (afterwards exactly one C(vmscape=ibpb) token) or
    O(remove=[vmscape]) (afterwards none). Every other token keeps its bytes and its order;
    tokens after a bare C(--) (init's arguments) are never touched; C(mitigations=off) and
    the like change only when named."
  - "Backends (detected with O(backend=auto), or forced):
    V(grub) - C(/etc/default/grub) plus C(/etc/default/grub.d/*.cfg) (Debian, Ubuntu, SUSE,
    Proxmox with GRUB), regenerated with C(update-grub), else C(grub-mkconfig -o /boot/grub/grub.cfg),
    else C(grub2-mkconfig -o /boot/grub2/grub.cfg);
    V(grubby) - BLS entries C(/boot/loader/entries/*.conf) with literal options (RHEL/Rocky/Alma 9,
    Fedora, CentOS Stream), changed with C(grubby --update-kernel=ALL) on the real host when grubby is
    installed, else edited directly;
    V(grubenv) - BLS entries using C($kernelopts) from C(/boot/grub2/grubenv) (RHEL 8 family);
    V(systemd-boot) - C(/etc/kernel/cmdline), then C(kernel-install add) for each installed kernel or
    C(proxmox-boot-tool refresh) on Proxmox."
  - "The GRUB defaults are shell that grub-mkconfig sources in order (the main file, then the
    drop-ins in byte order). They are never executed: a shell subset (assignments, quotes,
    backslash-newline, C($VAR)/C(${VAR}) expansions, C(export), C(unset), comments, heredocs,
    if/case/loops/functions) is parsed and followed the way C(/bin/sh) would, and the effective
    command line is C(GRUB_CMDLINE_LINUX) + C(GRUB_CMDLINE_LINUX_DEFAULT) after all files.
    Code that could change those variables in a way that cannot be followed (command substitution,
    assignment inside if/case/loops/functions/&&/||, C(eval), C(.)/C(source), C(read),
    bash-only C(+=) or arrays) is refused with the file and line; unrelated code is tolerated."
  - "Where the GRUB change is written: an existing parameter is edited where it is (its bytes in the
    file and assignment that produced it; duplicates deleted); a missing one is appended inside the
    value of the last assignment of C(GRUB_CMDLINE_LINUX), so every entry (recovery entries too, which
    do not get C(GRUB_CMDLINE_LINUX_DEFAULT)) and every kernel installed later (its postinst runs
    update-grub) gets it; a copy in C(GRUB_CMDLINE_LINUX_DEFAULT) is removed. Only when nothing assigns
    C(GRUB_CMDLINE_LINUX) is a line added, to C(/etc/default/grub) or, when that file does not exist,
    to the drop-in C(/etc/default/grub.d/99-fleetsec-vmscape.cfg). A last-sorting drop-in is not used
    otherwise because it cannot remove a token set elsewhere (two C(vmscape=) would result), \"last\"
    depends on other drop-ins' names and on the shell's collation (bash on RHEL sorts by locale), and
    Debian's grub-pc postinst carries C(/etc/default/grub)'s values across upgrades."
  - Before writing, the edited files are followed again and must give exactly the planned token lists;
    after writing, the files are read back and checked; after regeneration the generated entries
    (the C(linux) lines of grub.cfg's 10_linux section, the BLS entries, the systemd-boot entries) must
    carry each set parameter exactly once. If any step or check fails, every file is put back
    (generated ones included), backups made by this run are deleted, and the task fails with the
    command's output.
  - Writes are atomic (temporary file + rename in the same directory) and keep owner, group, mode and
    the SELinux context (C(security.selinux) extended attribute). grubenv is written with
    C(grub2-editenv)/C(grub-editenv) when installed (GRUB rewrites that block in place at boot).
  - "One run at a time, write-ahead: every run that may write holds a host-wide lock (see O(lock_timeout))
    from before it reads the configuration; before anything is written it records its intent
    (C(<root>/var/lib/fleetsec-vmscape/kernel_cmdline-intent.json): the files it may write, their backups
    and checksums) and copies every such file (fsynced). A run killed at any point is undone by the next
    run, which says so; a full file system or no free inode at any step leaves the previous configuration
    (or the intent for the next run). Copies are deleted only after a restore was checked."
  - "The regenerated menu is checked, not trusted: grub.cfg not empty and accepted by the real
    C(grub-script-check), the default entry booting a kernel image that exists and is not empty, the
    previous default kernel still offered, the configured command line on the default entry; otherwise
    every file is put back and the task fails. Commands are bounded (O(regenerate_timeout), output cut)."
  - "systemd-boot: when C(/etc/kernel/cmdline) is created from C(/proc/cmdline), one-off boot parameters
    are never carried over (C(systemd.unit), C(init), C(single), C(rd.break), C(emergency), C(rescue),
    C(s), C(S), C(1), C(rd.shell), C(systemd.debug_shell) and more; docs/kernel_cmdline.md has the list)."
  - "Change journal: a run that changes the configuration with O(backup=true) appends an entry to
    C(<root>/var/lib/fleetsec-vmscape/kernel_cmdline-journal.json) (directory 0700, file 0600, written
    atomically under a lock): its id, the UTC time, O(params), O(remove), the backend, the command line
    before and after, and for every file written (generated ones such as grub.cfg included) its path,
    its backup and the backup's sha256, its sha256 after the change, and whether it existed before. The
    last 50 entries are kept; the backups an entry names are deleted when it falls out, no other file
    is. The journal is written inside the change: if that fails, the change is undone. A corrupt journal
    fails the task with the file (and line) before anything is touched."
  - "Restore (O(restore)): puts the files of a journal entry back from its backups (owner, mode and
    SELinux context kept), deletes the files the change created, regenerates like a change (same
    commands and checks, everything put back if anything fails) and marks the entry restored; a
    restored entry is not restored again (C(changed=false)). A file changed after the entry (its
    sha256 differs) is refused unless O(force=true). A generated file changed since (a kernel update
    regenerates grub.cfg) is not a conflict when the regeneration runs: it is regenerated, not put back."
  - Standard library only; runs with any Python 3.6+ on the host.
options:
  params:
    description:
      - Kernel parameters to set, name to value. Afterwards each occurs exactly once with that value.
      - "A null value sets a bare flag (C(nosmt)). Values are restricted to letters, digits and
        C(. , : + @ % / = -); spaces, quotes, C(;), C($(), backticks and newlines are refused before
        anything is read. Known parameters have stricter lists (C(vmscape) - V(off), V(ibpb), V(force),
        V(on), V(auto))."
      - "Quote C(off)/C(on) in YAML (C(vmscape: \"off\")); an unquoted one arrives as a boolean and is
        refused."
    type: dict
    default: {}
  remove:
    description:
      - Kernel parameter names to remove, every occurrence (C(-) and C(_) are the same, as for the kernel).
    type: list
    elements: str
    default: []
  root:
    description:
      - Directory holding the system to change instead of C(/) (a mounted image, a snapshot, a test
        tree). Files are read and written under it; symbolic links are followed inside it.
      - With a root other than C(/), regeneration runs as C(chroot <root> <command>) when C(<root>/proc),
        C(<root>/sys) and C(<root>/dev) are mount points, and is skipped with a warning (and
        RV(regenerate_skipped)) otherwise. C(grubby) is only used on C(/).
    type: path
    default: /
  backend:
    description:
      - Which boot configuration to change; V(auto) detects it (C(/etc/kernel/proxmox-boot-uuids) with
        C(/etc/kernel/cmdline) or a systemd-boot C(loader.conf) - V(systemd-boot); BLS entries - V(grubenv)
        when they use C($kernelopts), else V(grubby); GRUB defaults - V(grub); C(/etc/kernel/cmdline) -
        V(systemd-boot)).
    type: str
    choices: [auto, grub, grubby, grubenv, systemd-boot]
    default: auto
  regenerate:
    description:
      - Regenerate the boot loader's configuration after a change (or when the generated grub.cfg is
        found out of date). With V(false) the change takes effect once the regeneration command runs
        (a kernel update does it).
    type: bool
    default: true
  backup:
    description:
      - Keep a timestamped copy (C(<file>.<pid>.<YYYY-MM-DD@HH:MM:SS>~)) of every file changed, the files
        the regeneration rewrites (grub.cfg, BLS and loader entries, grubenv) included.
        The trailing C(~) keeps copies out of C(grub.d/*.cfg) and C(entries/*.conf).
      - With V(true) a change is recorded in the change journal (see O(restore)); with V(false) it is not
        and cannot be restored by this module.
      - With O(restore), the copies are of the files as they were before the restore; they belong to the
        restored journal entry.
    type: bool
    default: true
  restore:
    description:
      - Restore a journaled change instead of making one - V(latest) (the newest entry of the journal) or
        the id of an entry (RV(journal_entry) of the change, e.g. V(20251125T100000.123456Z-4711)).
      - The entry's files go back to their backups and the files the change created are deleted, then the
        configuration is regenerated as after a change. Cannot be combined with O(params) or O(remove).
      - With V(latest), an entry already restored is reported unchanged; an older change is restored by
        its id.
    type: str
  force:
    description:
      - With O(restore), also overwrite files that changed after the journal entry (by default such a
        restore is refused, naming the files). A missing or changed backup is refused even so.
    type: bool
    default: false
extends_documentation_fragment:
  - fleetsec.vmscape.boot_config_run
attributes:
  check_mode:
    support: full
    description: Nothing is written (the journal neither) and no command runs; RV(diff) shows what would change,
      for O(restore) too.
  diff_mode:
    support: full
    description: One before/after pair per changed file; RV(unified_diff) has the same as text.
  platform:
    support: full
    platforms: [posix]
    description: Linux hosts booting with GRUB (defaults or BLS) or systemd-boot/kernel-install.
notes:
  - "Found while testing with the real tools (Debian 12): grub-mkconfig gives recovery entries only
    C(GRUB_CMDLINE_LINUX) (after C(single)), never C(GRUB_CMDLINE_LINUX_DEFAULT); it writes the kernel
    path relative to the mount the file lives on (a bind-mounted /boot shows the bind source); dash
    (C(/bin/sh)) sorts C(grub.d/*.cfg) by bytes whatever the locale and does not field-split
    C(export VAR=$X), but bash does sort by locale; grub-editenv keeps the file size even when it is
    not 1024 bytes, rewrites the file in place (not atomically) and escapes C(\\) and newline
    with a backslash; systemd 252's kernel-install reads C(/etc/kernel/cmdline) with C(tr -s \"$IFS\"
    ' '), so it has no comment syntax."
  - "grubby could not be run here (not packaged in Debian). Its upstream C(grubby-bls) removes
    arguments with C(sed s,NAME[^ ]*,,) (first match only, substring match) - so this module passes
    a removed name once per occurrence and does not use grubby when another token contains the name."
  - The effective command line returned is the parameter list of the configuration (for GRUB,
    C(GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT); grub-mkconfig adds C(root=) and C(ro) itself).
  - See C(docs/kernel_cmdline.md) in the collection for the details.
author:
  - fleetsec engineering (@fleetsec)
"""

EXAMPLES = r"""
- name: Use IBPB for VMSCAPE from the next boot on
  fleetsec.vmscape.kernel_cmdline:
    params:
      vmscape: ibpb
  register: cmdline

- name: Reboot when the next boot's command line changed
  ansible.builtin.reboot:
  when: cmdline.changed

- name: Remove vmscape= again (rollback)
  fleetsec.vmscape.kernel_cmdline:
    remove: [vmscape]

- name: Turn the mitigation off explicitly (quote off, or YAML makes it a boolean)
  fleetsec.vmscape.kernel_cmdline:
    params:
      vmscape: "off"

- name: Prepare a mounted image without regenerating its grub.cfg
  fleetsec.vmscape.kernel_cmdline:
    root: /mnt/image
    backend: grub
    params:
      vmscape: ibpb
    regenerate: false
    backup: false

- name: Preview the change on a host (check mode with diff)
  fleetsec.vmscape.kernel_cmdline:
    params:
      vmscape: force
  check_mode: true
  diff: true

- name: Restore the boot configuration as it was before the latest change
  fleetsec.vmscape.kernel_cmdline:
    restore: latest
  register: rollback

- name: Restore one journaled change, even though a file changed after it
  fleetsec.vmscape.kernel_cmdline:
    restore: 20251125T100000.123456Z-4711
    force: true
"""

RETURN = r"""
changed:
  description: Whether a file was (or in check mode would be) changed or the configuration regenerated.
  returned: always
  type: bool
backend:
  description: The backend used.
  returned: always
  type: str
  sample: grub
backend_reason:
  description: Why that backend (what was found), or C(forced).
  returned: always
  type: str
  sample: /etc/default/grub (GRUB defaults, update-grub/grub-mkconfig)
files:
  description: Files changed (or that would change), real paths under O(root).
  returned: always
  type: list
  elements: str
  sample: [/etc/default/grub]
backups:
  description: Backup copy of each changed file that existed before, by file.
  returned: always
  type: dict
  sample: {/etc/default/grub: "/etc/default/grub.4711.2025-11-25@10:00:00~"}
diff:
  description: Before/after pairs, one per changed file (Ansible's diff format).
  returned: always
  type: list
  elements: dict
  contains:
    before_header:
      description: The file (or C(/dev/null) when it is created).
      type: str
    after_header:
      description: The file (or C(/dev/null) when it is deleted).
      type: str
    before:
      description: Content before.
      type: str
    after:
      description: Content after.
      type: str
unified_diff:
  description: Unified diffs of every changed file.
  returned: always
  type: str
  sample: "--- /etc/default/grub (before)\n+++ /etc/default/grub (after)\n..."
previous_cmdline:
  description: Parameters the default entry got from the configuration before this run (before the restore).
  returned: always
  type: str
  sample: console=ttyS0 quiet
effective_cmdline:
  description:
    - Parameters the default boot entry gets next boot from the configuration, after this run (in
      check mode, what it would be; for O(restore), the entry's RV(restored_entry.previous_cmdline)).
    - For GRUB, C(GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT); grub-mkconfig adds C(root=) and C(ro).
  returned: always
  type: str
  sample: console=ttyS0 vmscape=ibpb quiet
regenerated:
  description: Whether the regeneration commands ran.
  returned: always
  type: bool
regenerate_commands:
  description: The regeneration commands for this host (run, or to run).
  returned: always
  type: list
  elements: list
  sample: [[update-grub]]
regenerate_skipped:
  description: Why regeneration cannot run here (no tool, a root that is not ready for chroot), or null.
  returned: always
  type: str
regenerated_files:
  description: Generated files that changed (e.g. C(/boot/grub/grub.cfg)).
  returned: always
  type: list
  elements: str
commands:
  description: Commands that ran, with their return codes.
  returned: always
  type: list
  elements: dict
notes:
  description: How the change was made where it matters (e.g. grubby used or not and why).
  returned: always
  type: list
  elements: str
journal_entry:
  description: Id of the change journal entry this run wrote (a change with O(backup=true)), else null.
  returned: always
  type: str
  sample: 20251125T100000.123456Z-4711
restored_entry:
  description:
    - With O(restore), the journal entry (after marking it restored; as it was in check mode); else null.
    - Host paths (under O(root)).
  returned: always
  type: dict
  contains:
    id:
      description: The entry's id.
      type: str
    time:
      description: When the change was made (UTC, ISO 8601).
      type: str
    params:
      description: The parameters the change set.
      type: dict
    remove:
      description: The parameters the change removed.
      type: list
      elements: str
    backend:
      description: The backend of the change.
      type: str
    previous_cmdline:
      description: The command line before the change (what a restore gives back).
      type: str
    effective_cmdline:
      description: The command line after the change.
      type: str
    files:
      description: Every file the change wrote - C(path), C(backup), C(backup_sha256), C(sha256) (after the
        change; null when deleted), C(existed) (before the change), C(generated) (written by the regeneration).
      type: list
      elements: dict
    restored:
      description: Null until restored; then C(time), C(effective_cmdline) and C(files) (C(path), C(backup) made
        before the restore, C(backup_sha256), C(sha256) after the restore).
      type: dict
output:
  description: Output of the command that failed (the first 16 KiB and the last 48 KiB of each stream).
  returned: failure
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetsec.vmscape.plugins.module_utils import _specs
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.apply import Session, new_result
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.change import Change
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.journal import ID_RE
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.restore import Restore
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import RESTORE_LATEST


def operation(params):
    """The Change or Restore the parameters ask for; BootConfigError before anything is read."""
    if params.get("restore") is not None:
        ref = params["restore"]
        if params["params"] or params["remove"]:
            raise BootConfigError("restore cannot be combined with params or remove")
        if ref != RESTORE_LATEST and not ID_RE.match(ref):
            raise BootConfigError(
                "restore: %r is neither latest nor a journal entry id (like 20251125T100000.123456Z-4711)" % ref
            )
        return Restore(ref, params["backend"], force=params.get("force", False))
    if params.get("force"):
        raise BootConfigError("force is only used with restore")
    return Change(build_request(params["params"], params["remove"]), params["backend"])


def check_root(params):
    for key in ("lock_timeout", "regenerate_timeout"):
        if params.get(key) is not None and params[key] < 1:
            raise BootConfigError("%s must be at least 1 (seconds)" % key)
    root = os.path.abspath(params["root"] or "/")
    if not os.path.isdir(root):
        raise BootConfigError("root %s is not a directory" % root)
    return root


def run_module(module):
    """Validate, then take the change or restore through ``_bootcfg.apply``'s one path."""
    p = module.params
    result = new_result()
    root = None
    try:
        op = operation(p)
        root = check_root(p)
        session = Session(
            root,
            op.describe(),
            check_mode=module.check_mode,
            warn=module.warn,
            bin_path=lambda name: module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin", "/usr/local/sbin"]),
            lock_timeout=p.get("lock_timeout", 300),
            regenerate_timeout=p.get("regenerate_timeout") or 600,
            backup=p["backup"],
            regenerate=p["regenerate"],
        )
        with session:
            session.apply(op, result)
    except BootConfigError as e:
        module.fail_json(msg=e.message, **result)
    except (IOError, OSError) as e:
        module.fail_json(msg="%s: %s" % (getattr(e, "filename", None) or root, e.strerror or e), **result)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            params=dict(type="dict", default={}),
            remove=dict(type="list", elements="str", default=[]),
            regenerate=dict(type="bool", default=True),
            backup=dict(type="bool", default=True),
            restore=dict(type="str"),
            force=dict(type="bool", default=False),
            **_specs.spec(
                root=_specs.ROOT,
                backend=_specs.BACKEND,
                lock_timeout=_specs.LOCK_TIMEOUT,
                regenerate_timeout=_specs.REGENERATE_TIMEOUT,
            ),
        ),
        mutually_exclusive=[["restore", "params"], ["restore", "remove"]],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
