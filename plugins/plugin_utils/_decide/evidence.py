# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the observations say about each question the plan asks, strongest evidence first.

Pure, controller side. The order (docs/DESIGN.md, "Evidence"; facts §5 "How to find out"):

1. the running kernel's sysfs (the vmscape file's presence; retbleed / spec_rstack_overflow),
2. the running kernel's cpuinfo ``bugs`` line,
3. the probe of the next-boot kernel's files (System.map, config, decompressed image),
4. the per-branch tables of the facts document (§2 backport starts, §4 CPU lists), applied to a
   kernel whose upstream version shows it got VMSCAPE from that stable branch or mainline,
5. the upstream version alone, and only as positive evidence: a version at or past the backport
   start says the kernel has the stable code; a version before it says nothing, because
   distributions backport (facts §4: "a version number alone does not prove support").

An answer is ``None`` when no source tells; its ``detail`` then names what is missing. Absent
evidence is never read as negative evidence: no ``bugs`` line is not a ``bugs`` line without
vmscape, an unprobed image is not an image without VMSCAPE, an unreadable sysfs directory is not
one without a vmscape file.
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.facts_schema import Observed
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_model import ibpb_elsewhere
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import (
    G0,
    G1,
    G2,
    G3,
    branch_of,
    classify_cpu,
    generation_from_version,
    listed_by_branch,
    listed_by_every_branch,
    parse_version,
)

VULN_DIR = "/sys/devices/system/cpu/vulnerabilities"

# Evidence sources, strongest first (the order above); "cpuinfo" and "cpuid" are the CPU's own.
SYSFS = "sysfs"
BUGS = "cpuinfo_bugs"
PROBE = "probe"
TABLES = "tables"
VERSION = "version"
CPUINFO = "cpuinfo"
CPUID = "cpuid"
BOOT_CONFIG = "boot_config"
UNKNOWN = "unknown"

# Versions printed by a distribution's build string (Debian "Debian 6.1.192-2", Ubuntu's
# version_signature / banner "(Ubuntu 5.15.0-91.101-generic 5.15.131)"): the upstream base the
# package was built from. A version taken from the release string ("5.14.0-570.el9") is only the
# leading digits, which RHEL-family and SUSE kernels never move.
_BUILD_STRING_SOURCES = ("proc_version", "version_signature", "image_header", "image_banner")


@dataclass(frozen=True)
class Answer:
    value: object  # None: unknown
    source: str  # one of the sources above
    detail: str  # the evidence, or what is missing

    def as_dict(self) -> dict:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"value": value, "source": self.source, "detail": self.detail}


@dataclass(frozen=True)
class KernelEvidence:
    """One kernel (running or next boot) as the evidence describes it."""

    label: str
    release: str | None
    version: str | None
    version_detail: str
    knows: Answer  # does it know VMSCAPE (vmscape= parameter, sysfs file)?
    generations: Answer  # candidate generations (tuple) for a kernel that knows it
    listed: Answer  # does its CPU list include this CPU (bare metal, no force)?

    @property
    def name(self) -> str:
        return f"{self.label} kernel {self.release or '?'}"


def _version_of(obs: Observed, same_build: bool, boot: bool) -> tuple[str | None, bool, str]:
    """(upstream version, from a build string?, how it was found) for the running or next kernel;
    a kernel that is the same build as the running one gets the better of both versions."""
    cands = []
    k, b = obs.kernel, obs.boot
    if not boot or same_build:
        cands.append((k.version, k.version_source, "the running kernel's " + _where(k.version_source)))
    if boot or same_build:
        cands.append((b.version, b.version_source, "its image's " + _where(b.version_source)))
    for version, source, where in cands:
        if version and source in _BUILD_STRING_SOURCES:
            return version, True, f"upstream {version} from {where}"
    for version, _source, where in cands:
        if version:
            missing = "no distribution build string in /proc/version, /proc/version_signature or the image"
            return version, False, f"{version} from {where} ({missing})"
    return None, False, "upstream version unknown"


def _where(source: str | None) -> str:
    return {
        "proc_version": "build string in /proc/version",
        "version_signature": "/proc/version_signature",
        "image_header": "bzImage header",
        "image_banner": "Linux banner",
        "release": "release string",
    }.get(source or "", "release string")


def same_build(obs: Observed) -> Answer:
    """Is the next-boot kernel the running kernel (same release and, where both are printed, the
    same distribution build)? A package reinstalled in place keeps the release, not the build."""
    k, b = obs.kernel, obs.boot
    if not b.release or not k.release:
        return Answer(None, UNKNOWN, "next-boot or running kernel release unknown")
    if b.release != k.release:
        return Answer(False, BOOT_CONFIG, f"next boot changes kernel: {k.release} -> {b.release}")
    if k.distro_version and b.distro_version and k.distro_version != b.distro_version:
        return Answer(
            False,
            PROBE,
            f"{b.release} on disk is build {b.distro_version}, the running kernel build {k.distro_version}",
        )
    return Answer(True, BOOT_CONFIG, f"the running kernel {k.release} boots again")


def _positive_version(version: str | None) -> str | None:
    """The generation an upstream version proves (facts §2), or None when it proves nothing."""
    gen = generation_from_version(parse_version(version))
    return gen if gen in (G1, G2) else None


def _probe_answer(obs: Observed) -> Answer:
    b = obs.boot
    facts_ev = "; ".join(b.evidence) or "no probe evidence"
    if b.knows_vmscape is not None:
        return Answer(b.knows_vmscape, PROBE, f"probe of {b.release}: {facts_ev}")
    errs = "; ".join(b.probe_errors) or "nothing answered"
    return Answer(None, UNKNOWN, f"probe of {b.release}: {errs}; {facts_ev}")


def kernel_knows(obs: Observed, running: bool, same: Answer) -> tuple[Answer, str | None, bool, str]:
    """(knows VMSCAPE?, version, version from a build string?, version detail)."""
    version, exact, vdetail = _version_of(obs, same.value is True, boot=not running)
    tried = []
    if running or same.value is True:
        # 1. sysfs: the vmscape file exists iff the running kernel knows VMSCAPE (facts §3).
        if obs.sysfs is not None:
            present = "vmscape" in obs.sysfs
            return (
                Answer(present, SYSFS, f"{VULN_DIR}/vmscape {'present' if present else 'absent'} (running kernel)"),
                version,
                exact,
                vdetail,
            )
        tried.append(f"sysfs: {obs.sysfs_reason}")
        # 2. cpuinfo bugs: "vmscape" only appears when the kernel knows the bug (facts §3).
        if obs.cpu.bugs is not None and "vmscape" in obs.cpu.bugs:
            return Answer(True, BUGS, "cpuinfo bugs lists vmscape (running kernel)"), version, exact, vdetail
        tried.append("cpuinfo bugs: " + (obs.cpu.bugs_reason or "does not list vmscape (no proof either way)"))
    if not running or same.value is True:
        # 3. the probe of the next-boot kernel's files.
        probe = _probe_answer(obs)
        if probe.value is not None:
            return probe, version, exact, vdetail
        tried.append(probe.detail)
    # 4./5. the version, positive only.
    gen = _positive_version(version)
    if gen is not None:
        return Answer(True, VERSION, f"{vdetail}: at or past the VMSCAPE backport (facts §2)"), version, exact, vdetail
    tried.append(f"version: {vdetail}" + (" predates VMSCAPE, which distributions backport" if version else ""))
    return Answer(None, UNKNOWN, "; ".join(tried)), version, exact, vdetail


def generations(knows: Answer, version: str | None, vdetail: str, bhb: bool | None) -> Answer:
    """Candidate generations (facts §2) of a kernel: one when the evidence fixes it."""
    if knows.value is False:
        return Answer((G0,), knows.source, "does not know VMSCAPE: " + knows.detail)
    if knows.value is None:
        return Answer((G0, G1, G2), UNKNOWN, "whether it knows VMSCAPE is unknown: " + knows.detail)
    gen = _positive_version(version)
    if gen is not None:
        return Answer((gen,), TABLES, f"{vdetail}: {gen} (facts §2 generations)")
    # A distribution's own backport: which upstream behaviour it copied is not in the facts
    # document; a vendor kernel may even carry the BHB series unless the probe ruled it out.
    cands = (G1, G2) if bhb is False else (G1, G2, G3)
    return Answer(
        cands,
        UNKNOWN,
        f"VMSCAPE here is a distribution backport ({vdetail}): which of {', '.join(cands)} it behaves like "
        "(facts §2) is not known",
    )


def listing(obs: Observed, running_view: bool, knows: Answer, version: str | None, vdetail: str) -> Answer:
    """Does the kernel's CPU list include this CPU (what it does on bare metal without force)?"""
    cpu = obs.cpu
    if cpu.family is None or cpu.model is None:
        return Answer(None, UNKNOWN, "CPU identity incomplete in /proc/cpuinfo")
    cls = classify_cpu(cpu.vendor, cpu.family, cpu.model)
    if not cls.affected and cls.kind == "unaffected":
        return Answer(False, TABLES, cls.why + " (facts §4)")
    if knows.value is not True:
        return Answer(None, UNKNOWN, "the kernel's VMSCAPE support is unknown")
    if running_view:
        forced = any(n.replace("-", "_") == "vmscape" and v == "force" for n, v in obs.cmdline or ())
        if cpu.bugs is not None and obs.cmdline is not None and not forced:
            if "vmscape" in cpu.bugs:
                return Answer(True, BUGS, "cpuinfo bugs lists vmscape: the running kernel set the bug")
            if cpu.hypervisor is False:
                return Answer(False, BUGS, "cpuinfo bugs does not list vmscape on bare metal")
    if _positive_version(version) is not None:
        listed = listed_by_branch(parse_version(version), cpu.vendor, cpu.family, cpu.model)
        if listed is not None:
            branch = ".".join(map(str, branch_of(parse_version(version)) or ()))
            return Answer(listed, TABLES, f"the {branch} branch's list {'has' if listed else 'lacks'} it (facts §4)")
    if listed_by_every_branch(cpu.vendor, cpu.family, cpu.model):
        return Answer(True, TABLES, "every CPU list of facts §4 (newest and each stable branch's) has it")
    missing = []
    if running_view:
        missing.append(
            "cpuinfo bugs: "
            + (cpu.bugs_reason or ("vmscape=force set" if obs.cmdline else obs.cmdline_reason or "unusable"))
        )
    missing.append(f"no facts §4 list for {vdetail}")
    return Answer(None, UNKNOWN, "; ".join(missing))


def view(obs: Observed, running: bool, same: Answer) -> KernelEvidence:
    knows, version, _exact, vdetail = kernel_knows(obs, running, same)
    # The probe describes the next-boot image: it applies to the running kernel only when that
    # is the same build.
    bhb = obs.boot.bhb_series if (not running or same.value is True) else None
    gens = generations(knows, version, vdetail, bhb)
    # G3 only from the probe of the next-boot image (facts §5: the BHB string / symbols); no
    # released kernel carries the BHB series, so no version implies it (facts §2).
    if bhb is True and knows.value is True:
        gens = Answer((G3,), PROBE, "probe found the BHB series: " + "; ".join(obs.boot.evidence))
    listed = listing(obs, running or same.value is True, knows, version, vdetail)
    release = obs.kernel.release if running else obs.boot.release
    return KernelEvidence("running" if running else "next-boot", release, version, vdetail, knows, gens, listed)


def ibpb_on_vmexit(obs: Observed) -> Answer:
    """retbleed using IBPB or SRSO using IBPB on VMEXIT makes the kernel report "IBPB on VMEXIT"
    (facts §3); read from the observed sysfs strings (facts §2)."""
    if obs.sysfs is None:
        return Answer(None, UNKNOWN, f"sysfs: {obs.sysfs_reason}")
    files = {"retbleed": obs.sysfs.get("retbleed"), "spec_rstack_overflow": obs.sysfs.get("spec_rstack_overflow")}
    if ibpb_elsewhere(files["retbleed"], files["spec_rstack_overflow"]):
        return Answer(True, SYSFS, "retbleed or spec_rstack_overflow uses IBPB")
    missing = [
        f"{VULN_DIR}/{n} {'absent' if n not in obs.sysfs else 'unreadable'}" for n, v in files.items() if v is None
    ]
    if missing:
        return Answer(None, UNKNOWN, "; ".join(missing))
    return Answer(False, SYSFS, "neither retbleed nor spec_rstack_overflow uses IBPB")


def cpu_flag(obs: Observed, name: str) -> Answer:
    value = getattr(obs.cpu, name)
    if value is None:
        return Answer(None, UNKNOWN, obs.cpu.flags_reason or "cpuinfo flags unknown")
    return Answer(value, CPUINFO, f"'{name}' {'in' if value else 'not in'} cpuinfo flags")


def bhi_ctrl(obs: Observed) -> Answer:
    if obs.cpu.bhi_ctrl is None:
        return Answer(None, UNKNOWN, f"BHI_CTRL unknown: {obs.cpu.bhi_ctrl_reason or 'not read'}")
    return Answer(
        obs.cpu.bhi_ctrl, CPUID, f"BHI_CTRL = {int(obs.cpu.bhi_ctrl)} (CPUID leaf 7 through /dev/cpu/0/cpuid)"
    )
