# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A model of the kernel's VMSCAPE decision: which string sysfs will print.

Pure: inputs are a kernel generation, whether the kernel lists the CPU, CPU capabilities,
the command line tokens in order, and the *observed* retbleed/SRSO sysfs strings. It follows
arch/x86/kernel/cpu/bugs.c as described in facts §2 and §3 (cited per rule below), and is
checked against real Debian kernels by the oracle test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import (
    BHB_EXIT,
    G0,
    G1,
    G3,
    IBPB_EXIT,
    IBPB_VMEXIT,
    NOT_AFFECTED,
    VALUES_BY_GENERATION,
    VULNERABLE,
)

# Internal mitigation choices, like enum vmscape_mitigations.
_NONE = "none"
_AUTO = "auto"
_IBPB = "ibpb"  # explicit vmscape=ibpb
_ON = "on"  # G3: auto + override attack-vector controls


def _norm(name: str) -> str:
    return name.replace("-", "_")


@dataclass
class CmdlineEffects:
    """What the early parameters relevant to VMSCAPE amount to, parsed in order."""

    vmscape: str = _AUTO
    force_bug: bool = False
    mitigations_off: bool = False
    guest_host_vector: bool = True  # attack vector "guest_host" (G2+); False after no_guest_host
    ignored: list[str] = field(default_factory=list)  # vmscape values this kernel ignores


def parse_effects(generation: str, params: Iterable[tuple[str, str | None]]) -> CmdlineEffects:
    """Apply early params in command-line order (the kernel calls each handler per token).

    ``params`` are (name, value) pairs of the kernel's own parameters (before ``--``).
    """
    eff = CmdlineEffects()
    known = VALUES_BY_GENERATION[generation]
    for name, value in params:
        key = _norm(name)
        if key == "vmscape":
            if value is None:
                continue  # early_param handler gets NULL: -EINVAL, nothing changes
            if value not in known:
                # facts §2 "unknown value": ignored, default kept
                eff.ignored.append(value)
                continue
            if value == "off":
                eff.vmscape = _NONE
            elif value == "ibpb":
                eff.vmscape = _IBPB
            elif value == "force":
                # facts §2/§3: force sets the bug even off-list or in a guest; G1/G2: mode auto;
                # G3: like "on" (facts §2: "on/force also mitigate" and override vectors).
                eff.force_bug = True
                eff.vmscape = _ON if generation == G3 else _AUTO
            elif value == "auto":
                eff.vmscape = _AUTO
            elif value == "on":
                eff.vmscape = _ON
        elif key == "mitigations" and value is not None:
            head, _sep, rest = value.partition(",")
            if head == "off":
                eff.mitigations_off = True
                eff.guest_host_vector = False  # off clears every attack vector (G2+)
            elif head == "auto":
                eff.mitigations_off = False
            if generation != G1 and head == "auto" and rest:
                # attack-vector controls (G2+); G1 does not consult them (facts §2).
                for opt in rest.split(","):
                    if opt == "no_guest_host":
                        eff.guest_host_vector = False
    return eff


@dataclass(frozen=True)
class CpuCaps:
    listed: bool  # the kernel's list marks the CPU affected (bare metal)
    hypervisor: bool
    ibpb: bool
    bhi_ctrl: bool | None


def ibpb_elsewhere(retbleed: str | None, srso: str | None) -> bool:
    """retbleed using IBPB or SRSO using IBPB-on-VMEXIT (facts §3 "IBPB on VMEXIT").

    Read from the *observed* sysfs strings, never from the cmdline (facts §2: retbleed=ibpb
    on Intel leaves retbleed at IBRS).
    """
    r = (retbleed or "").strip()
    s = (srso or "").strip()
    retbleed_ibpb = r == "Mitigation: IBPB" or r.startswith("Mitigation: IBPB;")
    srso_vmexit = s.startswith("Mitigation: IBPB on VMEXIT")
    return retbleed_ibpb or srso_vmexit


def predict(
    generation: str,
    caps: CpuCaps,
    params: Iterable[tuple[str, str | None]],
    ibpb_on_vmexit: bool = False,
) -> str | None:
    """The vmscape sysfs string this kernel prints; None when it has no vmscape file (G0)."""
    if generation == G0:
        return None
    eff = parse_effects(generation, params)
    # facts §3: the bug is set for listed CPUs on bare metal only, or by vmscape=force.
    bug = (caps.listed and not caps.hypervisor) or eff.force_bug
    if not bug:
        return NOT_AFFECTED
    mode = eff.vmscape
    if generation == G1:
        # facts §2 G1: mitigations=off wins over everything; no IBPB -> Vulnerable.
        if eff.mitigations_off or not caps.ibpb:
            return VULNERABLE
        if mode == _NONE:
            result = VULNERABLE
        else:
            result = IBPB_EXIT
    elif generation == G3:
        # facts §2 G3: on/force/ibpb override mitigations=off and attack vectors; auto obeys.
        if mode == _NONE:
            result = VULNERABLE
        elif mode == _AUTO and not eff.guest_host_vector:
            result = VULNERABLE
        elif mode == _IBPB:
            result = IBPB_EXIT if caps.ibpb else VULNERABLE
        elif caps.bhi_ctrl:
            result = BHB_EXIT  # facts §2: BHI_CTRL parts get BHB clear, even without IBPB
        else:
            result = IBPB_EXIT if caps.ibpb else VULNERABLE
    else:  # G2
        # facts §2 G2: only the default (auto, also after force) obeys mitigations=off and
        # attack vectors; an explicit ibpb still mitigates. No IBPB -> Vulnerable.
        if not caps.ibpb or mode == _NONE:
            result = VULNERABLE
        elif mode == _AUTO and not eff.guest_host_vector:
            result = VULNERABLE
        else:
            result = IBPB_EXIT
    # facts §3: retbleed IBPB / SRSO IBPB-on-VMEXIT override the choice, even vmscape=off
    # (on G1 only once past the mitigations=off / no-IBPB early exit above).
    if ibpb_on_vmexit and caps.ibpb:
        return IBPB_VMEXIT
    return result
