# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Linux kernels know about VMSCAPE: generations, sysfs strings, affected CPU lists.

Pure data, controller side. Every table cites its row in ../shared/vmscape-facts.md
("facts §N"); tests/unit/plugins/plugin_utils/_decide/test_vmscape_kernel_table.py checks the tables
against that document's text, and the real-kernel oracle (tests/integration/oracle) checks them against Debian kernels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple


class Version(NamedTuple):
    """An upstream kernel version X.Y[.Z]; ordered like the kernel's LINUX_VERSION_CODE."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION_RE.match(text)
        if not m:
            raise ValueError(f"not an upstream kernel version: {text!r}")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")

# --- sysfs strings (facts §3) -------------------------------------------------------------
NOT_AFFECTED = "Not affected"
VULNERABLE = "Vulnerable"
IBPB_EXIT = "Mitigation: IBPB before exit to userspace"
IBPB_VMEXIT = "Mitigation: IBPB on VMEXIT"
BHB_EXIT = "Mitigation: Clear BHB before exit to userspace"
SYSFS_STRINGS = (NOT_AFFECTED, VULNERABLE, IBPB_EXIT, IBPB_VMEXIT, BHB_EXIT)

# --- generations (facts §2) -----------------------------------------------------------------
G0 = "G0"  # no vmscape= parameter, no sysfs file
G1 = "G1"  # stable backports and 6.17-rc6..6.17.6: off|ibpb|force; mitigations=off wins
G2 = "G2"  # 6.17.7+, 6.18 .. 7.3: explicit ibpb overrides mitigations=off and attack vectors
G3 = "G3"  # BHB series (vendor/out-of-tree today): adds auto|on, BHB clear on BHI_CTRL parts
GENERATIONS = (G0, G1, G2, G3)

# vmscape= values each generation parses (facts §2 row "vmscape= values"); others are ignored
# with "VMSCAPE: Ignoring unknown vmscape=X option." and the default is kept.
VALUES_BY_GENERATION = {
    G0: frozenset(),
    G1: frozenset({"off", "ibpb", "force"}),
    G2: frozenset({"off", "ibpb", "force"}),
    G3: frozenset({"off", "ibpb", "force", "auto", "on"}),
}

# First release carrying VMSCAPE on each stable branch (facts §2, column G1).
G1_BACKPORT_START = {
    (5, 10): Version.parse("5.10.244"),
    (5, 15): Version.parse("5.15.193"),
    (6, 1): Version.parse("6.1.152"),
    (6, 6): Version.parse("6.6.106"),
    (6, 12): Version.parse("6.12.47"),
    (6, 16): Version.parse("6.16.7"),
}
# Mainline: 6.17 (merged in -rc6) is G1 up to 6.17.6; 6.17.7 and 6.18+ are G2 (facts §2).
MAINLINE_FIRST = Version.parse("6.17")
G2_FIRST = Version.parse("6.17.7")

# --- CPUs the kernel marks affected (facts §4) ----------------------------------------------
INTEL = "GenuineIntel"
AMD = "AuthenticAMD"
HYGON = "HygonGenuine"

# Intel family 6, BTB variant: Sandy Bridge .. Broadwell, Skylake generation.
INTEL_BTB_MODELS = frozenset(
    {
        0x2A, 0x2D, 0x3A, 0x3E, 0x3C, 0x45, 0x46, 0x3F, 0x3D, 0x47, 0x4F, 0x56,  # SNB..BDW
        0x4E, 0x5E, 0x55, 0x8E, 0x9E, 0x66, 0xA5, 0xA6,  # Skylake generation
    }
)  # fmt: skip
# Intel family 6, BHI variant only: Alder Lake and newer.
INTEL_BHI_MODELS = frozenset({0x97, 0x9A, 0xB7, 0xBA, 0xBF, 0xAA, 0xC5, 0xC6, 0xB5, 0xBD, 0x8F, 0xCF, 0xAD, 0xBE, 0xAF})
AMD_FAMILIES = frozenset({0x17, 0x19, 0x1A})
HYGON_FAMILIES = frozenset({0x18})

# Known NOT affected (facts §4 "Not affected" line), Intel family 6 models.
INTEL_UNAFFECTED_MODELS = frozenset(
    {
        0x6A, 0x6C, 0x7D, 0x7E,  # Ice Lake
        0x8C, 0x8D,  # Tiger Lake
        0xA7,  # Rocket Lake
        0x8A,  # Lakefield
        0xAE,  # Granite Rapids-D
        0xAC,  # Meteor Lake 0xAC
        0xCC,  # Panther Lake
        # Atoms before Gracemont: Bonnell/Saltwell, Silvermont/Airmont, Goldmont(+), Tremont
        0x1C, 0x26, 0x27, 0x35, 0x36, 0x37, 0x4A, 0x4C, 0x4D, 0x5A, 0x5D,
        0x5C, 0x5F, 0x7A, 0x86, 0x96, 0x9C,
    }
)  # fmt: skip
# Intel family 6 models before Sandy Bridge (0x2A) are in no kernel list (facts §1: the BTB
# variant starts at Sandy Bridge); AMD families before Zen (0x15/0x16 named in facts §4).
INTEL_FIRST_AFFECTED_MODEL = 0x2A
AMD_FIRST_AFFECTED_FAMILY = 0x17

# Entries missing from older stable branches' lists (facts §4 second table).
_ARROW_LAKE = {0xC5, 0xC6, 0xB5}
BRANCH_MISSING = {
    (6, 6): {"amd_families": {0x1A}, "intel_models": set()},
    (6, 1): {"amd_families": {0x1A}, "intel_models": {0xB5, 0xAF}},
    (5, 15): {"amd_families": {0x1A}, "intel_models": {0xAA, 0xAF} | _ARROW_LAKE},
    (5, 10): {"amd_families": {0x1A}, "intel_models": {0xAA, 0xBD, 0xAD, 0xCF, 0xAF} | _ARROW_LAKE},
}
# Branches whose list is complete (6.12 and every later one, facts §4 rows absent).
FULL_LIST_FROM = (6, 12)


@dataclass(frozen=True)
class CpuClass:
    """Where the newest kernel list puts a CPU."""

    kind: str  # "btb" | "bhi" | "unaffected" | "unknown"
    why: str

    @property
    def affected(self) -> bool:
        return self.kind in ("btb", "bhi")


def classify_cpu(vendor: str | None, family: int, model: int) -> CpuClass:
    """Classify by the newest (complete) list, facts §4."""
    fm = f"family 0x{family:x} model 0x{model:x}"
    if vendor == INTEL:
        if family != 6:
            if family < 6 or family == 15:
                return CpuClass("unaffected", f"Intel {fm}: not in any kernel's VMSCAPE list")
            return CpuClass("unknown", f"Intel {fm}: family not covered by the facts document")
        if model in INTEL_BHI_MODELS:
            return CpuClass("bhi", f"Intel {fm}: Alder Lake or newer, BHI variant only")
        if model in INTEL_BTB_MODELS:
            return CpuClass("btb", f"Intel {fm}: Sandy Bridge..Comet Lake generation, BTB variant")
        if model in INTEL_UNAFFECTED_MODELS or model < INTEL_FIRST_AFFECTED_MODEL:
            return CpuClass("unaffected", f"Intel {fm}: not in the kernel's VMSCAPE list")
        return CpuClass("unknown", f"Intel {fm}: model not in the facts document's tables")
    if vendor == AMD:
        if family in AMD_FAMILIES:
            return CpuClass("btb", f"AMD {fm}: Zen family, BTB variant")
        if family < AMD_FIRST_AFFECTED_FAMILY:
            return CpuClass("unaffected", f"AMD {fm}: pre-Zen, not in the kernel's VMSCAPE list")
        return CpuClass("unknown", f"AMD {fm}: family newer than the facts document")
    if vendor == HYGON:
        if family in HYGON_FAMILIES:
            return CpuClass("btb", f"Hygon {fm}: Zen-based, BTB variant")
        return CpuClass("unknown", f"Hygon {fm}: family not covered by the facts document")
    return CpuClass("unknown", f"vendor {vendor!r} {fm}: not covered by the facts document")


def parse_version(text: str | None) -> Version | None:
    if not text:
        return None
    try:
        return Version.parse(str(text))
    except ValueError:
        return None


def branch_of(version: Version | None) -> tuple[int, int] | None:
    if version is None:
        return None
    rel = version.release
    return (rel[0], rel[1] if len(rel) > 1 else 0)


def generation_from_version(version: Version | None) -> str | None:
    """Generation an upstream version implies (facts §2); None when the version is unknown.

    G3 is never implied by a version: no released kernel carries the BHB series (facts §2).
    """
    if version is None:
        return None
    branch = branch_of(version)
    if version >= G2_FIRST:
        return G2
    if version >= MAINLINE_FIRST:
        return G1
    start = G1_BACKPORT_START.get(branch)
    if start is not None and version >= start:
        return G1
    return G0


def branch_list_known(version: Version | None) -> bool:
    """Whether facts §4 tells which CPUs this branch lists."""
    branch = branch_of(version)
    if branch is None:
        return False
    return branch >= FULL_LIST_FROM or branch in BRANCH_MISSING


def listed_by_branch(version: Version | None, vendor: str | None, family: int, model: int) -> bool | None:
    """Does the kernel of this upstream version list the CPU as affected (facts §4)?

    None when the branch's list is not in the facts document (distribution backports).
    """
    cls = classify_cpu(vendor, family, model)
    if not cls.affected:
        return False
    if not branch_list_known(version):
        return None
    missing = BRANCH_MISSING.get(branch_of(version))
    if missing is None:
        return True
    if vendor in (AMD, HYGON):
        return family not in missing["amd_families"]
    return model not in missing["intel_models"]


def listed_by_every_branch(vendor: str | None, family: int, model: int) -> bool:
    """Whether every CPU list the facts document knows (facts §4: the newest list and each older
    stable branch's shorter one) marks this CPU affected. Then a kernel that knows VMSCAPE lists it
    whichever of those lists its (distribution) backport carries."""
    if not classify_cpu(vendor, family, model).affected:
        return False
    for missing in BRANCH_MISSING.values():
        if vendor in (AMD, HYGON) and family in missing["amd_families"]:
            return False
        if vendor == INTEL and model in missing["intel_models"]:
            return False
    return True
