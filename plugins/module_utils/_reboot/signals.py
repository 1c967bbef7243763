# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The signals a host leaves when the VMSCAPE mitigation is staged and waits for a reboot.

Target side: standard library only, importable by Python 3.6+.

* Debian/Ubuntu's pending-reboot convention: ``/run/reboot-required`` exists (its text is shown
  by motd and update-notifier) and ``/run/reboot-required.pkgs`` lists, one per line, what asks
  for the reboot (packages' postinst scripts append their names; unattended-upgrades' automatic
  reboot, kured and needrestart read them). The line this collection adds is ``PKGS_LINE``;
  other lines are never touched. Both live on tmpfs: a reboot clears them.
* A node_exporter textfile-collector file (``fleetsec_vmscape.prom``): the VMSCAPE state of the
  host as metrics named after Prometheus' conventions (``fleetsec_vmscape_`` prefix, base units,
  ``_info`` for labels-only metadata, one series per state for the verdict).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import stat

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath

REBOOT_REQUIRED = "/run/reboot-required"
REBOOT_REQUIRED_PKGS = "/run/reboot-required.pkgs"
REBOOT_REQUIRED_TEXT = "*** System restart required ***\n"
PKGS_LINE = "fleetsec-vmscape"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
PROM_NAME = "fleetsec_vmscape.prom"
STATUSES = ("pass", "pending", "blocked", "kernel_upgrade", "fail")
MAX_SIGNAL_FILE = 1024 * 1024


class SignalError(Exception):
    pass


def _escape(value):
    """A label value in the text exposition format: backslash, double quote and newline escaped."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs):
    return "{" + ",".join('%s="%s"' % (k, _escape(v)) for k, v in pairs) + "}"


def render_prom(state, now):
    """The .prom text for ``state`` (status, reboot_required, action, mode, expected, observed,
    kernel, next_kernel, reason) at Unix time ``now``."""
    status = state.get("status") or "unknown"
    lines = [
        "# HELP fleetsec_vmscape_info VMSCAPE (CVE-2025-40300) plan of this host; the value is always 1.",
        "# TYPE fleetsec_vmscape_info gauge",
        "fleetsec_vmscape_info%s 1"
        % _labels(
            [
                ("status", status),
                ("action", state.get("action")),
                ("mode", state.get("mode")),
                ("expected", state.get("expected")),
                ("observed", state.get("observed")),
                ("kernel", state.get("kernel")),
                ("next_kernel", state.get("next_kernel")),
            ]
        ),
        "# HELP fleetsec_vmscape_status Verdict of the last run, one series per verdict (1 for the host's).",
        "# TYPE fleetsec_vmscape_status gauge",
    ]
    known = STATUSES if status in STATUSES else (*STATUSES, status)
    lines += ["fleetsec_vmscape_status%s %d" % (_labels([("status", s)]), 1 if s == status else 0) for s in known]
    lines += [
        "# HELP fleetsec_vmscape_mitigated 1 when the running kernel reports the mitigation the plan expects.",
        "# TYPE fleetsec_vmscape_mitigated gauge",
        "fleetsec_vmscape_mitigated %d" % (1 if status == "pass" else 0),
        "# HELP fleetsec_vmscape_reboot_required 1 when the mitigation is staged and takes effect at the next boot.",
        "# TYPE fleetsec_vmscape_reboot_required gauge",
        "fleetsec_vmscape_reboot_required %d" % (1 if state.get("reboot_required") else 0),
        "# HELP fleetsec_vmscape_last_run_timestamp_seconds When fleetsec.vmscape last assessed this host.",
        "# TYPE fleetsec_vmscape_last_run_timestamp_seconds gauge",
        "fleetsec_vmscape_last_run_timestamp_seconds %.3f" % now,
    ]
    return "\n".join(lines) + "\n"


def updated_pkgs(text, required):
    """The new content of reboot-required.pkgs: ``PKGS_LINE`` added (once) or removed, every other
    line kept in its place. None when nothing changes."""
    lines = text.splitlines() if text else []
    ours = [i for i, line in enumerate(lines) if line.strip() == PKGS_LINE]
    if required:
        if ours:
            return None
        lines.append(PKGS_LINE)
    else:
        if not ours:
            return None
        lines = [line for i, line in enumerate(lines) if i not in ours]
    return "\n".join(lines) + "\n" if lines else ""


def _read(path):
    """Text of a regular file (bounded), None when absent; refuses anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None
        raise SignalError("%s: %s" % (path, e.strerror or e)) from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise SignalError("%s: not a regular file; left alone" % path)
        data = f.read(MAX_SIGNAL_FILE + 1)
    if len(data) > MAX_SIGNAL_FILE:
        raise SignalError("%s: larger than %d bytes; left alone" % (path, MAX_SIGNAL_FILE))
    return data.decode("utf-8", "replace")


class _Locked(object):
    """Exclusive flock of a directory while its signal files are read, changed and written (two
    runs at once: an ansible-pull timer and an operator's run)."""

    def __init__(self, directory):
        self.directory = directory
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.directory, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as e:
            if self.fd is not None:
                os.close(self.fd)
            raise SignalError("%s: cannot lock: %s" % (self.directory, e.strerror or e)) from None
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        return False


def reboot_required_changes(root, required):
    """[(host path, old text or None, new text or None to remove)] that make the Debian signal say ``required``;
    /run/reboot-required is removed only when it says what this module writes and no other
    line of the .pkgs file asks for the reboot."""
    flag = _read(_rootpath.under(root, REBOOT_REQUIRED))
    pkgs = _read(_rootpath.under(root, REBOOT_REQUIRED_PKGS))
    changes = []
    new_pkgs = updated_pkgs(pkgs, required)
    if new_pkgs is not None:
        changes.append((REBOOT_REQUIRED_PKGS, pkgs, new_pkgs if new_pkgs else None))
    remaining = new_pkgs if new_pkgs is not None else (pkgs or "")
    if required and flag is None:
        changes.append((REBOOT_REQUIRED, None, REBOOT_REQUIRED_TEXT))
    elif not required and flag == REBOOT_REQUIRED_TEXT and not remaining.strip():
        changes.append((REBOOT_REQUIRED, flag, None))
    return changes


def _apply(root, changes):
    for host_path, _before, text in changes:
        path = _rootpath.under(root, host_path)
        try:
            if text is None:
                _atomic_write.remove_file(path)
            else:
                _atomic_write.atomic_write(path, text.encode("utf-8"), 0o644)
        except OSError as e:
            raise SignalError(_rootpath.describe_oserror(host_path, e)) from None


def sync_reboot_required(root, required, check_mode=False):
    """Make /run/reboot-required(.pkgs) under ``root`` say ``required``; the changes made (or, in
    check mode, that would be made). The files are read and written under one lock of /run."""
    directory = _rootpath.under(root, os.path.dirname(REBOOT_REQUIRED))
    if not os.path.isdir(directory):
        raise SignalError("%s: no such directory" % os.path.dirname(REBOOT_REQUIRED))
    if check_mode:
        return reboot_required_changes(root, required)
    with _Locked(directory):
        changes = reboot_required_changes(root, required)
        _apply(root, changes)
    return changes


def sync_prom(root, textfile_dir, text, check_mode=False):
    """Write ``text`` as <textfile_dir>/fleetsec_vmscape.prom (atomically: node_exporter never reads
    half a file; the temporary name does not end in .prom). Returns (host path, previous text)."""
    host_path = _rootpath.host_join(textfile_dir, PROM_NAME)
    path = _rootpath.under(root, host_path)
    before = _read(path)
    if not check_mode:
        with _Locked(os.path.dirname(path)):
            _apply(root, [(host_path, before, text)])
    return host_path, before
