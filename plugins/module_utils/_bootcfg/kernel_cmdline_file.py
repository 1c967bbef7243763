# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``/etc/kernel/cmdline``: the one reader and editor of the kernel command line kernel-install uses.

Target side: standard library only, importable by Python 3.6+.

kernel-install (systemd 252, Debian bookworm: /usr/lib/kernel/install.d/90-loaderentry.install)
builds each entry's ``options`` from /etc/kernel/cmdline with ``tr -s "$IFS" ' '``: every
run of spaces, tabs and newlines becomes one space, so the file may span several lines and
has no comment syntax (a ``#`` line would reach the kernel). Without the file it falls back
to /usr/lib/kernel/cmdline, then to /proc/cmdline minus BOOT_IMAGE= and initrd= (``read``
follows the same order). Proxmox's proxmox-boot-tool reads the same file for its systemd-boot
ESPs; RHEL 9+ kernel-install uses it for new kernels (the BLS backends keep it in step).

``kernel_cmdline_edit`` plans a change of the file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import (
    normalize_name,
    parse_token,
    split_raw,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.text import decode

KERNEL_CMDLINE = "/etc/kernel/cmdline"
USR_CMDLINE = "/usr/lib/kernel/cmdline"
PROC_CMDLINE = "/proc/cmdline"
PROXMOX_UUIDS = "/etc/kernel/proxmox-boot-uuids"

# Parameters a running kernel may have been booted with *once* (typed at the boot menu, set by
# `systemctl reboot --boot-loader-entry`/a rescue procedure): written into /etc/kernel/cmdline
# they would come back at every boot, and kernel-install would put them into every new entry
# (systemd issue #18456: "single" persisted that way). They are never carried over from
# /proc/cmdline. Compared like kernel parameter names (- and _ equal); a name matches with or
# without a value. Sources: systemd's kernel-command-line(7) (boot targets, debug shells,
# systemd.run), dracut.cmdline(7) (rd.break, rd.shell, rd.emergency, rd.debug), initramfs-tools
# (break=), the kernel's init=/rdinit=.
ONE_OFF_PARAMS = (
    # boot into another target or a shell
    "systemd.unit",
    "rd.systemd.unit",
    "emergency",
    "rescue",
    "single",
    "s",
    "S",
    "1",
    "-s",
    "-b",
    "init",
    "rdinit",
    # debug shells, breakpoints, interactive confirmation
    "systemd.debug_shell",
    "rd.systemd.debug_shell",
    "systemd.confirm_spawn",
    "systemd.break",
    "rd.systemd.break",
    "rd.break",
    "rd.shell",
    "rd.emergency",
    "rd.debug",
    "break",
    # commands run once at boot
    "systemd.run",
    "systemd.run_success_action",
    "systemd.run_failure_action",
)
_ONE_OFF_KEYS = frozenset(n.replace("-", "_") if not n.startswith("-") else n for n in ONE_OFF_PARAMS)


def proxmox_managed(root):
    """proxmox-boot-tool keeps the ESPs (its list of their UUIDs exists)."""
    return _rootpath.exists(root, PROXMOX_UUIDS)


def _tokens(text):
    return split_raw(text)


def is_one_off(raw):
    """Whether a raw token is one of ONE_OFF_PARAMS (with or without a value)."""
    name = parse_token(raw).name
    key = name if name.startswith("-") else normalize_name(name)
    return key in _ONE_OFF_KEYS


def without_one_off(tokens):
    """(kept, dropped): ``tokens`` without the one-off boot parameters (init's arguments after a
    bare ``--`` included; a ``--`` left with nothing after it goes too)."""
    kept = [t for t in tokens if t == "--" or not is_one_off(t)]
    dropped = [t for t in tokens if t != "--" and is_one_off(t)]
    if kept and kept[-1] == "--" and "--" in tokens and tokens[-1] != "--":
        kept.pop()
    return kept, dropped


class KernelCmdline(object):
    """What kernel-install would use: ``text`` of /etc/kernel/cmdline (``data``: its bytes) or, when
    it is absent (``data`` None), of its fallback; ``notes`` say which fallback; ``tokens``."""

    def __init__(self, real_path, data, text, notes):
        self.real_path = real_path
        self.data = data
        self.text = text
        self.notes = notes

    @property
    def tokens(self):
        return _tokens(self.text)


def read_file(root):
    """The text of /etc/kernel/cmdline itself (no fallback); BootConfigError ``"<path>: reason"``."""
    try:
        return _rootpath.read_text(root, KERNEL_CMDLINE, _rootpath.DEFAULT_LIMIT)
    except OSError as exc:
        raise BootConfigError(_rootpath.describe_oserror(KERNEL_CMDLINE, exc)) from None


def read(root):
    """The command line kernel-install uses under ``root``. Raises BootConfigError when /etc/kernel/cmdline,
    /usr/lib/kernel/cmdline and /proc/cmdline are all missing (or one cannot be read)."""
    real, _resolved = _rootpath.resolve(root, KERNEL_CMDLINE)
    try:
        data = _rootpath.read_optional(real)
        if data is not None:
            return KernelCmdline(real, data, decode(data), [])
        usr = _rootpath.read_optional(_rootpath.under(root, USR_CMDLINE))
        if usr is not None:
            return KernelCmdline(real, None, decode(usr), ["%s created from %s" % (KERNEL_CMDLINE, USR_CMDLINE)])
        proc = _rootpath.read_optional(_rootpath.under(root, PROC_CMDLINE))
    except (IOError, OSError) as e:
        raise BootConfigError("%s: %s" % (getattr(e, "filename", None) or real, e.strerror or e)) from None
    if proc is None:
        raise BootConfigError(
            "%s, %s and /proc/cmdline are all missing under %s; cannot tell which parameters "
            "kernel-install would use" % (KERNEL_CMDLINE, USR_CMDLINE, root)
        )
    toks = [t for t in _tokens(decode(proc)) if not t.startswith(("BOOT_IMAGE=", "initrd="))]
    kept, dropped = without_one_off(toks)
    notes = ["%s created from the running kernel's /proc/cmdline (kernel-install's own fallback)" % KERNEL_CMDLINE]
    if dropped:
        notes.append(
            "one-off boot parameters of the running kernel not carried into %s (they would come back at every "
            "boot): %s" % (KERNEL_CMDLINE, " ".join(dropped))
        )
    return KernelCmdline(real, None, " ".join(kept) + "\n", notes)
