# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts document as the plan reads it (docs/facts-schema.md, schema 2): checked, then typed.

Pure, controller side. ``read_facts(facts)`` validates every field the decision core reads and
returns an ``Observed`` view of them, or raises ``PlanError`` naming the field (``facts.cpu.family:
-1 is not an x86 CPU family (0..0x10e)``): malformed input is refused, never planned on. A field
may be null where the schema allows it (unknown); the evidence rules decide what null means
(docs/DESIGN.md, "Evidence").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import (
    BOOT_SOURCES,
    BOOT_VERSION_SOURCES,
    KERNEL_VERSION_SOURCES,
)

SCHEMA = 2

# x86 CPUID.1 identity: family = base (4 bits) + extended family (8 bits) = 0..0x10e; model =
# extended model (4 bits) << 4 | model (4 bits) = 0..0xff; stepping 4 bits (arch/x86/kernel/cpu).
MAX_FAMILY = 0xF + 0xFF
MAX_MODEL = 0xFF
MAX_STEPPING = 0xF

_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+(?:\.[0-9]+)?\Z")
# A kernel release as uname -r prints it: no whitespace, no path separator, no control characters.
_RELEASE_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+~-]{0,127}\Z")


class PlanError(ValueError):
    """The facts cannot be planned on; the message names the offending field."""


_MISSING = object()


def _field(facts: Mapping, path: str):
    cur = facts
    walked = "facts"
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            raise PlanError(f"{walked}: expected a mapping, got {cur!r:.80}")
        walked += "." + part
        if part not in cur:
            raise PlanError(f"{walked}: missing (is this the output of fleetsec.vmscape.vmscape_facts?)")
        cur = cur[part]
    return cur


def _typed(facts, path, kinds, nullable=False):
    value = _field(facts, path)
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if value is None and nullable:
        return None
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds) + (" or null" if nullable else "")
        raise PlanError(f"facts.{path}: expected {names}, got {value!r:.80}")
    return value


def _ranged(facts, path, high):
    value = _typed(facts, path, int, nullable=True)
    if value is not None and not 0 <= value <= high:
        what = path.rsplit(".", 1)[-1]
        raise PlanError(f"facts.{path}: {value} is not an x86 CPU {what} (0..{high:#x})")
    return value


def _choice(facts, path, choices, nullable=True):
    value = _typed(facts, path, str, nullable=nullable)
    if value is not None and value not in choices:
        raise PlanError(f"facts.{path}: {value!r:.80} is not one of {', '.join(choices)}")
    return value


def _matching(facts, path, regex, what):
    value = _typed(facts, path, str, nullable=True)
    if value is not None and not regex.match(value):
        raise PlanError(f"facts.{path}: {value!r:.80} is not {what}")
    return value


def _strings(facts, path, nullable=True):
    value = _typed(facts, path, list, nullable=nullable)
    if value is None:
        return None
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise PlanError(f"facts.{path}[{i}]: expected str, got {item!r:.80}")
    return tuple(value)


def _params(facts, path):
    tokens = _typed(facts, path, list, nullable=True)
    if tokens is None:
        return None
    out = []
    for i, tok in enumerate(tokens):
        if not isinstance(tok, Mapping) or not isinstance(tok.get("name"), str):
            raise PlanError(f"facts.{path}[{i}]: expected a token with a name, got {tok!r:.80}")
        value = tok.get("value")
        if value is not None and not isinstance(value, str):
            raise PlanError(f"facts.{path}[{i}]: value must be a string or null, got {value!r:.80}")
        out.append((tok["name"], value))
    return tuple(out)


@dataclass(frozen=True)
class Cpu:
    vendor: str | None
    family: int | None
    model: int | None
    stepping: int | None
    microcode: str | None
    model_name: str | None
    flags: tuple | None
    flags_reason: str | None
    bugs: tuple | None
    bugs_reason: str | None
    hypervisor: bool | None
    ibpb: bool | None
    bhi_ctrl: bool | None
    bhi_ctrl_reason: str | None


@dataclass(frozen=True)
class Kernel:
    release: str | None
    version: str | None
    version_source: str | None
    distro_version: str | None
    proc_version: str | None


@dataclass(frozen=True)
class BootKernel:
    release: str | None
    source: str | None
    source_reason: str | None
    image: str | None
    version: str | None
    version_source: str | None
    distro_version: str | None
    knows_vmscape: bool | None
    bhb_series: bool | None
    config_mitigation_vmscape: bool | None
    evidence: tuple
    probe_errors: tuple
    image_ok: bool | None
    image_problems: tuple


@dataclass(frozen=True)
class Observed:
    """What the plan may read, typed; ``None`` is unknown (with the ``*_reason`` saying why)."""

    root: str
    observation_id: str
    cpu: Cpu
    kernel: Kernel
    boot: BootKernel
    cmdline: tuple | None  # ((name, value), ...) of the running kernel
    cmdline_reason: str | None
    sysfs: Mapping | None  # file name -> str, or None when that file is unreadable
    sysfs_reason: str | None
    next_cmdline: tuple | None  # ((name, value), ...) of the next boot's configuration
    next_cmdline_reason: str | None
    backend: str


def read_facts(facts) -> Observed:
    """Validate ``facts`` (``ansible_facts.vmscape``) and return the typed view; PlanError otherwise."""
    if not isinstance(facts, Mapping):
        raise PlanError(f"facts: expected a mapping (ansible_facts.vmscape), got {type(facts).__name__}")
    schema = _field(facts, "schema")
    if isinstance(schema, bool) or schema != SCHEMA:
        raise PlanError(
            f"facts.schema: {schema!r:.40} is not supported: this collection reads schema {SCHEMA} "
            "(gather again with fleetsec.vmscape.vmscape_facts of this collection)"
        )
    _typed(facts, "observation", Mapping)
    obs_id = _typed(facts, "observation.id", str)
    _typed(facts, "observation.time", (int, float))
    _typed(facts, "observation.boot_id", str, nullable=True)
    _typed(facts, "observation.run", str, nullable=True)
    _typed(facts, "observation.host", str, nullable=True)
    for section in ("cpu", "kernel", "boot_kernel", "cmdline", "bootloader"):
        _typed(facts, section, Mapping)

    cpu = Cpu(
        vendor=_typed(facts, "cpu.vendor", str, nullable=True),
        family=_ranged(facts, "cpu.family", MAX_FAMILY),
        model=_ranged(facts, "cpu.model", MAX_MODEL),
        stepping=_ranged(facts, "cpu.stepping", MAX_STEPPING),
        microcode=_typed(facts, "cpu.microcode", str, nullable=True),
        model_name=_typed(facts, "cpu.model_name", str, nullable=True),
        flags=_strings(facts, "cpu.flags"),
        flags_reason=_typed(facts, "cpu.flags_reason", str, nullable=True),
        bugs=_strings(facts, "cpu.bugs"),
        bugs_reason=_typed(facts, "cpu.bugs_reason", str, nullable=True),
        hypervisor=_typed(facts, "cpu.hypervisor", bool, nullable=True),
        ibpb=_typed(facts, "cpu.ibpb", bool, nullable=True),
        bhi_ctrl=_typed(facts, "cpu.bhi_ctrl", bool, nullable=True),
        bhi_ctrl_reason=_typed(facts, "cpu.bhi_ctrl_reason", str, nullable=True),
    )
    for key in ("flags", "bugs"):
        if getattr(cpu, key) is None and getattr(cpu, key + "_reason") is None:
            raise PlanError(f"facts.cpu.{key}_reason: null although cpu.{key} is null (why is it unknown?)")
    if cpu.flags is not None and (cpu.hypervisor is None or cpu.ibpb is None):
        raise PlanError("facts.cpu.hypervisor/ibpb: null although cpu.flags is known")

    kernel = Kernel(
        release=_matching(facts, "kernel.release", _RELEASE_RE, "a kernel release"),
        version=_matching(facts, "kernel.version", _VERSION_RE, "an upstream version X.Y[.Z]"),
        version_source=_choice(facts, "kernel.version_source", KERNEL_VERSION_SOURCES),
        distro_version=_typed(facts, "kernel.distro_version", str, nullable=True),
        proc_version=_typed(facts, "kernel.proc_version", str, nullable=True),
    )
    _typed(facts, "boot_kernel.image_check", Mapping)
    boot = BootKernel(
        release=_matching(facts, "boot_kernel.release", _RELEASE_RE, "a kernel release"),
        source=_choice(facts, "boot_kernel.source", BOOT_SOURCES),
        source_reason=_typed(facts, "boot_kernel.source_reason", str, nullable=True),
        image=_typed(facts, "boot_kernel.image", str, nullable=True),
        version=_matching(facts, "boot_kernel.version", _VERSION_RE, "an upstream version X.Y[.Z]"),
        version_source=_choice(facts, "boot_kernel.version_source", BOOT_VERSION_SOURCES),
        distro_version=_typed(facts, "boot_kernel.distro_version", str, nullable=True),
        knows_vmscape=_typed(facts, "boot_kernel.knows_vmscape", bool, nullable=True),
        bhb_series=_typed(facts, "boot_kernel.bhb_series", bool, nullable=True),
        config_mitigation_vmscape=_typed(facts, "boot_kernel.config_mitigation_vmscape", bool, nullable=True),
        evidence=_strings(facts, "boot_kernel.evidence", nullable=False),
        probe_errors=_strings(facts, "boot_kernel.probe_errors", nullable=False),
        image_ok=_typed(facts, "boot_kernel.image_check.ok", bool, nullable=True),
        image_problems=_strings(facts, "boot_kernel.image_check.problems", nullable=False),
    )
    _typed(facts, "boot_kernel.is_running", bool)
    if boot.image_ok is False and not boot.image_problems:
        raise PlanError("facts.boot_kernel.image_check.problems: empty although image_check.ok is false")
    if boot.release is not None and boot.source is None:
        raise PlanError("facts.boot_kernel.source: null although boot_kernel.release is known")

    sysfs = _typed(facts, "sysfs", Mapping, nullable=True)
    if sysfs is not None:
        for name, value in sysfs.items():
            if not isinstance(name, str) or (value is not None and not isinstance(value, str)):
                raise PlanError(f"facts.sysfs[{name!r:.40}]: expected a string or null, got {value!r:.80}")
        sysfs = dict(sysfs)
    sysfs_reason = _typed(facts, "sysfs_reason", str, nullable=True)
    if sysfs is None and sysfs_reason is None:
        raise PlanError("facts.sysfs_reason: null although sysfs is null (why is it unknown?)")

    return Observed(
        root=_typed(facts, "root", str),
        observation_id=obs_id,
        cpu=cpu,
        kernel=kernel,
        boot=boot,
        cmdline=_params(facts, "cmdline.tokens"),
        cmdline_reason=_typed(facts, "cmdline.reason", str, nullable=True),
        sysfs=sysfs,
        sysfs_reason=sysfs_reason,
        next_cmdline=_params(facts, "bootloader.tokens"),
        next_cmdline_reason=_typed(facts, "bootloader.configured_cmdline_reason", str, nullable=True),
        backend=_typed(facts, "bootloader.backend", str),
    )
