# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collect ``ansible_facts.vmscape`` (docs/facts-schema.md, schema 2) under a root directory.

Target side: standard library only, importable by Python 3.6+.

``collect_facts(root, probe_image="auto", run_command=None)`` returns the facts dict or
raises FactsError (cpuinfo unreadable or unparseable: nothing sensible can be said then).
Everything else that cannot be known becomes null plus a warning or ``*_reason``: absent or
unreadable is never reported as present and empty (docs/DESIGN.md, "Evidence").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import time
import uuid

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import current as _current
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import detect as _detect
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import tokenize
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.boot_image_check import check_boot_kernel
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.cpuid import CPUID_DEVICE, CpuidError, bhi_ctrl
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.cpuinfo import CpuinfoError, parse_cpuinfo
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.kernel_probe import probe_kernel
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.kernel_version import running_kernel
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.next_boot import find_boot_kernel
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.sysfs_vulns import read_vulnerabilities
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import BACKEND_UNKNOWN, PROBE_MODES

SCHEMA = 2
BOOT_ID = "/proc/sys/kernel/random/boot_id"
CPUINFO = "/proc/cpuinfo"
CMDLINE = "/proc/cmdline"
PROC_VERSION = "/proc/version"
VERSION_SIGNATURE = "/proc/version_signature"
OSRELEASE = "/proc/sys/kernel/osrelease"
SMALL = 64 * 1024
CPUINFO_CAP = 64 * 1024 * 1024


class FactsError(Exception):
    pass


def _read_optional(root, hp, warnings, limit=SMALL):
    """Text of a small file, None when absent (silently) or unreadable (with a warning)."""
    try:
        data = _rootpath.read_bytes(root, hp, limit)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            warnings.append(_rootpath.describe_oserror(hp, exc))
        return None
    if len(data) > limit:
        warnings.append("%s: larger than %d bytes; truncated" % (hp, limit))
        data = data[:limit]
    return data.decode("utf-8", "backslashreplace")


def collect_cpu(root, warnings, run_command=None):
    try:
        data = _rootpath.read_bytes(root, CPUINFO, CPUINFO_CAP)
    except OSError as exc:
        raise FactsError("cannot read %s" % _rootpath.describe_oserror(CPUINFO, exc)) from None
    if len(data) > CPUINFO_CAP:
        raise FactsError("%s: larger than %d bytes, not a cpuinfo file" % (CPUINFO, CPUINFO_CAP))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        msg = "%s:%d: not UTF-8 text (byte %#x), not a cpuinfo file" % (CPUINFO, line, data[exc.start])
        raise FactsError(msg) from None
    try:
        cpu, cpu_warnings = parse_cpuinfo(text, CPUINFO)
    except CpuinfoError as exc:
        raise FactsError(str(exc)) from None
    warnings.extend(cpu_warnings)
    cpu.update(read_bhi_ctrl(root, run_command))
    return cpu


def read_bhi_ctrl(root, run_command=None):
    """bhi_ctrl, bhi_ctrl_source, bhi_ctrl_reason through <root>/dev/cpu/0/cpuid."""
    real_root = _rootpath.normalize_root(root) == "/"
    path = _rootpath.under(root, CPUID_DEVICE)
    tried_modprobe = False
    while True:
        try:
            value, reason = bhi_ctrl(path, CPUID_DEVICE)
        except CpuidError as exc:
            if exc.errno == errno.ENOENT and real_root and run_command is not None and not tried_modprobe:
                tried_modprobe = True
                rc, _out, err = run_command(["modprobe", "cpuid"])
                if rc == 0:
                    continue
                return _bhi(
                    None, "%s: absent and 'modprobe cpuid' failed (rc=%d: %s)" % (CPUID_DEVICE, rc, err.strip())
                )
            reason = exc.reason
            if exc.errno == errno.ENOENT:
                reason = "%s: absent%s" % (
                    CPUID_DEVICE,
                    " after 'modprobe cpuid'" if tried_modprobe else (" in the snapshot root" if not real_root else ""),
                )
            return _bhi(None, reason)
        if value is None:
            return _bhi(None, reason)
        return {"bhi_ctrl": value, "bhi_ctrl_source": "cpuid_device", "bhi_ctrl_reason": reason}


def _bhi(value, reason):
    return {"bhi_ctrl": value, "bhi_ctrl_source": "unavailable", "bhi_ctrl_reason": reason}


def collect_facts(root="/", probe_image="auto", run_command=None):
    """Return the ``vmscape`` facts dict for ``root``.

    ``probe_image``: auto (decompress the boot kernel's image only when System.map and config
    leave a question open), always, never. ``run_command(argv) -> (rc, out, err)`` is used
    only for ``modprobe cpuid`` when root is ``/`` and the cpuid device is absent.
    """
    if probe_image not in PROBE_MODES:
        raise FactsError("probe_image must be one of %s, got %r" % (", ".join(PROBE_MODES), probe_image))
    if not os.path.isdir(_rootpath.normalize_root(root)):
        raise FactsError("root %s is not a directory" % root)
    warnings = []
    facts = {"schema": SCHEMA, "root": root, "observation": observation(root), "warnings": warnings}
    facts["cpu"] = collect_cpu(root, warnings, run_command)

    osrelease = _read_optional(root, OSRELEASE, warnings)
    proc_version = _read_optional(root, PROC_VERSION, warnings)
    signature = _read_optional(root, VERSION_SIGNATURE, warnings)
    if osrelease is None and proc_version is None:
        warnings.append("%s and %s: absent; running kernel unknown" % (OSRELEASE, PROC_VERSION))
    kernel = running_kernel(osrelease, proc_version, signature)
    facts["kernel"] = kernel

    boot, menu, boot_warnings = find_boot_kernel(root, kernel["release"])
    warnings.extend(boot_warnings)
    # BHB clear (G3) only matters on bare metal for CPUs that enumerate BHI_CTRL (or might).
    want_g3 = not facts["cpu"]["hypervisor"] and facts["cpu"]["bhi_ctrl"] is not False
    probe = probe_kernel(root, boot["release"], boot["image"], probe_image, want_g3=want_g3)
    facts["boot_kernel"] = {
        "release": boot["release"],
        "source": boot["source"],
        "source_reason": boot["source_reason"],
        "is_running": bool(boot["release"]) and boot["release"] == kernel["release"],
        "image": boot["image"],
        "version": probe["version"],
        "version_source": probe["version_source"],
        "distro_version": probe["distro_version"],
        "knows_vmscape": probe["knows_vmscape"],
        "bhb_series": probe["bhb_series"],
        "config_mitigation_vmscape": probe["config_mitigation_vmscape"],
        "evidence": probe["evidence"],
        "probe_errors": probe["probe_errors"],
        "image_check": check_boot_kernel(root, boot["release"], boot["image"]),
    }

    raw = _read_optional(root, CMDLINE, warnings)
    if raw is None:
        why = "%s: absent or unreadable; running cmdline unknown" % CMDLINE
        warnings.append(why)
        facts["cmdline"] = {"raw": None, "tokens": None, "init_args": None, "reason": why}
    else:
        raw = raw.rstrip("\n")
        tokens, init_args = tokenize(raw)
        facts["cmdline"] = {"raw": raw, "tokens": [t.as_dict() for t in tokens], "init_args": init_args, "reason": None}

    sysfs, sysfs_reason, sysfs_warnings = read_vulnerabilities(root)
    warnings.extend(sysfs_warnings)
    facts["sysfs"] = sysfs
    facts["sysfs_reason"] = sysfs_reason

    facts["bootloader"] = bootloader_facts(root, menu)
    return facts


def bootloader_facts(root, menu):
    """The ``bootloader`` section: the backend (``_bootcfg.detect``, kernel_cmdline's own detector), the
    command line of the menu's default entry (``configured_cmdline``, what boots next) and the one the
    configuration gives that entry (``source_cmdline``: what kernel_cmdline starts a change from)."""
    configured = menu.get("configured_cmdline")
    out = {
        "backend": BACKEND_UNKNOWN,
        "backend_reason": None,
        "configured_cmdline": configured,
        "configured_cmdline_reason": None if configured is not None else menu.get("configured_cmdline_reason"),
        "tokens": [t.as_dict() for t in tokenize(configured)[0]] if configured is not None else None,
        "source_cmdline": None,
        "source_cmdline_reason": None,
    }
    try:
        out["backend"], out["backend_reason"] = _detect.detect(root)
    except BootConfigError as exc:
        out["backend_reason"] = out["source_cmdline_reason"] = exc.message
        return out
    try:
        tokens, _notes = _current.tokens(root, out["backend"])
    except BootConfigError as exc:
        out["source_cmdline_reason"] = exc.message
    else:
        out["source_cmdline"] = " ".join(tokens)
    return out


def observation(root):
    """When and where these facts were observed: a random id of this observation, the target's
    clock, the boot id (``<root>/proc/sys/kernel/random/boot_id``, null when absent), and ``run`` and
    ``host``, which only the controller sets (the Ansible run and inventory host that gathered them;
    plugins/plugin_utils/_observe/action_facts.py)."""
    boot_id = None
    try:
        data = _rootpath.read_bytes(root, BOOT_ID, 64)
    except OSError:
        data = None
    if data:
        text = data.decode("ascii", "replace").strip()
        boot_id = text if len(text) == 36 else None
    return {"id": uuid.uuid4().hex, "time": round(time.time(), 3), "boot_id": boot_id, "run": None, "host": None}
