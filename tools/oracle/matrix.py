"""The oracle matrix: which (kernel, CPU profile, cmdline) cases are booted, and why some are pruned.

Full matrix asked for: every profile x every kernel x the cmdlines below. A cold boot under TCG takes
4-7 s (measured, docs/testing.md); ~1000 boots on 2 cores would take ~45 min, so the matrix is pruned
(everything is cached, reruns take seconds). The pruning follows one rule: a cmdline is booted on a
profile when that profile can show something its class representative does not.

* ``FULL`` profiles (one per behaviour class: Intel BTB, Intel BHI, Intel missing from the 6.1 list,
  AMD Zen 2 with retbleed/SRSO, AMD missing from the 6.1 list) get every cmdline on every kernel
  that knows VMSCAPE: each class's whole behaviour (off, ibpb, force, on, mitigations=off, the
  attack-vector controls and the G1/G2 differences between them).
* The other profiles of the same classes get ``REDUCED`` cmdlines: the default (is this model on
  each kernel's affected list, which mitigation) and vmscape=force (what force does for a model
  the list lacks). Their other cmdlines repeat the class representative's behaviour: they are in
  ``REDUCED_WIDE`` and booted with ``ORACLE_WIDE=1`` (``make oracle ORACLE_WIDE=1``), not in
  ``make test``.
* Not-affected identities and the guest get ``UNAFFECTED`` cmdlines (default, ibpb, force, and
  force under attack-vector controls, where G2 gates force).
* The pre-VMSCAPE kernel (6.16.3) gets the default for every profile (no vmscape file whatever the
  cmdline; the plan must say "kernel upgrade required") and vmscape=ibpb for the ``FULL`` ones
  (an unknown parameter changes nothing; ``ORACLE_WIDE=1``: for every profile).
* 6.17.8 (G2 early) gets the FULL profiles only.
* The SMT profile (2 threads on one core: SMT on, and no STIBP under TCG) gets the default and
  vmscape=off: it is there for the "SMT on, STIBP is required" warning and to show that SMT does
  not change the sysfs string.

Measured with an empty cache (docs/testing.md): 482 cases / 512 boots before the REDUCED and
pre-VMSCAPE sets were narrowed (2026-12-02), 35 min on the loaded CI-like machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tools.oracle.kernels import KernelSpec, load_specs
from tools.oracle.profiles import Profile, load_profiles

CORE = [
    "",
    "vmscape=off",
    "vmscape=ibpb",
    "vmscape=force",
    "vmscape=on",
    "mitigations=off",
    "mitigations=auto,no_guest_host",
    "mitigations=off vmscape=ibpb",
    "mitigations=auto,no_guest_host vmscape=force",
]
EXTRA_FULL = ["mitigations=auto,no_guest_host vmscape=ibpb", "vmscape=bhb"]
AMD_EXTRA = ["retbleed=ibpb", "spec_rstack_overflow=ibpb-vmexit"]
AMD_17_EXTRA = ["vmscape=off retbleed=ibpb"]
REDUCED = ["", "vmscape=force"]
REDUCED_WIDE = [*REDUCED, "vmscape=off", "mitigations=off vmscape=ibpb", "mitigations=auto,no_guest_host"]
UNAFFECTED = ["", "vmscape=ibpb", "vmscape=force", "mitigations=auto,no_guest_host vmscape=force"]
PRE_VMSCAPE = [""]
PRE_VMSCAPE_FULL = ["", "vmscape=ibpb"]
SMT = ["", "vmscape=off"]

FULL = {"intel-skylake-sp", "intel-alderlake", "intel-sierraforest", "amd-zen2", "amd-zen5"}
UNAFFECTED_PROFILES = {"intel-icelake-sp", "intel-tigerlake", "guest-skylake-sp"}
SMT_PROFILES = {"intel-cascadelake-smt"}
PRE_VMSCAPE_KERNELS = {"deb-6.16-pre"}
FULL_ONLY_KERNELS = {"deb-6.17.8"}


@dataclass(frozen=True)
class Case:
    kernel: str
    profile: str
    cmdline: str  # extra parameters after "console=ttyS0 panic=-1"; "" = none

    @property
    def id(self) -> str:
        return f"{self.kernel}|{self.profile}|{self.cmdline or 'none'}"


def wide_matrix() -> bool:
    """``ORACLE_WIDE=1``: boot the non-representative profiles with every class cmdline too."""
    return os.environ.get("ORACLE_WIDE", "") not in ("", "0")


def cmdlines_for(kernel: KernelSpec, profile: Profile) -> list[str]:
    amd = profile.vendor_amd_like
    wide = wide_matrix()
    if kernel.id in PRE_VMSCAPE_KERNELS:
        return PRE_VMSCAPE_FULL if wide or profile.id in FULL else PRE_VMSCAPE
    if kernel.id in FULL_ONLY_KERNELS and profile.id not in FULL:
        return []
    if profile.id in UNAFFECTED_PROFILES:
        return UNAFFECTED
    if profile.id in SMT_PROFILES:
        return SMT
    if profile.id in FULL:
        out = CORE + EXTRA_FULL
    else:
        out = list(REDUCED_WIDE if wide else REDUCED)
    if amd:
        out = out + AMD_EXTRA
    if "family=23," in profile.cpu:
        out = out + AMD_17_EXTRA
    return out


def cases(kernel_ids=None, profile_ids=None) -> list[Case]:
    out = []
    for k in load_specs():
        if kernel_ids and k.id not in kernel_ids:
            continue
        for p in load_profiles():
            if profile_ids and p.id not in profile_ids:
                continue
            out.extend(Case(k.id, p.id, c) for c in cmdlines_for(k, p))
    return out


def full_size() -> int:
    """Size of the unpruned matrix (every profile x kernel x CORE, plus the AMD extras)."""
    n = 0
    for _k in load_specs():
        for p in load_profiles():
            n += len(CORE) + (len(AMD_EXTRA) if p.vendor_amd_like else 0) + (1 if "family=23," in p.cpu else 0)
    return n


if __name__ == "__main__":
    cs = cases()
    print(f"{len(cs)} cases (unpruned: {full_size()})")
