"""Each evidence question answered in full: value, source and the detail text (found by
`make mutation`: the plan tests read the answers' values, rarely what they say).

Expected values are written by hand: the values from the facts document (§2 backport starts:
6.1.152 and 6.12.47 start G1 on their branches, 6.17.7 starts G2; §3: the vmscape file and the
``bugs`` entry exist only in kernels that know VMSCAPE; §4: Skylake-SP 0x55 is on every list, Zen 5
(family 0x1a) is missing from the 6.1 list), the texts from the sources each answer names
(plugins/plugin_utils/_decide/evidence.py's docstring order), so a changed word in a detail
shows up here as it would in a host's plan reasons.
"""

from dataclasses import replace

import pytest
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import evidence as ev
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.facts_schema import read_facts

VULN = "/sys/devices/system/cpu/vulnerabilities"
NO_BUILD = "no distribution build string in /proc/version, /proc/version_signature or the image"
AMD = "AuthenticAMD"


def obs(kernel=None, boot=None, cpu=None, **kw):
    """The typed observation of plan_helpers.facts(**kw), with fields of kernel/boot/cpu replaced."""
    o = read_facts(facts(**kw))
    return replace(
        o,
        kernel=replace(o.kernel, **(kernel or {})),
        boot=replace(o.boot, **(boot or {})),
        cpu=replace(o.cpu, **(cpu or {})),
    )


def answer(a):
    return (a.value, a.source, a.detail)


SAME = ev.Answer(True, ev.BOOT_CONFIG, "same")
OTHER = ev.Answer(False, ev.BOOT_CONFIG, "other")


# --- Answer / KernelEvidence --------------------------------------------------------------------


def test_answer_as_dict_lists_tuples():
    assert ev.Answer(("G1", "G2"), "unknown", "d").as_dict() == {"value": ["G1", "G2"], "source": "unknown",
                                                                  "detail": "d"}  # fmt: skip
    assert ev.Answer(None, "unknown", "x").as_dict() == {"value": None, "source": "unknown", "detail": "x"}


def test_kernel_evidence_name():
    a = ev.Answer(None, "unknown", "")
    assert ev.KernelEvidence("running", "6.1.0-56-amd64", None, "", a, a, a).name == "running kernel 6.1.0-56-amd64"
    assert ev.KernelEvidence("next-boot", None, None, "", a, a, a).name == "next-boot kernel ?"


# --- where the upstream version came from -------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("proc_version", "build string in /proc/version"),
        ("version_signature", "/proc/version_signature"),
        ("image_header", "bzImage header"),
        ("image_banner", "Linux banner"),
        ("release", "release string"),
        (None, "release string"),
        ("something new", "release string"),
    ],
)
def test_where(source, text):
    assert ev._where(source) == text


def test_version_of_the_running_and_the_next_kernel():
    o = obs(version="6.1.192", boot_version="6.12.47", boot_release="6.12.47-1-amd64")
    assert ev._version_of(o, same_build=False, boot=False) == (
        "6.1.192", True, "upstream 6.1.192 from the running kernel's build string in /proc/version"
    )  # fmt: skip
    assert ev._version_of(o, same_build=False, boot=True) == (
        "6.12.47", True, "upstream 6.12.47 from its image's bzImage header"
    )  # fmt: skip
    # the same build: the running kernel's version first, when it comes from a build string
    assert ev._version_of(o, same_build=True, boot=True)[0] == "6.1.192"


def test_version_of_prefers_a_build_string_over_a_release_string():
    o = obs(kernel={"version": "5.14.0", "version_source": "release"},
            boot={"version": "5.14.21", "version_source": "image_banner"})  # fmt: skip
    assert ev._version_of(o, same_build=True, boot=False) == (
        "5.14.21", True, "upstream 5.14.21 from its image's Linux banner"
    )  # fmt: skip
    assert ev._version_of(o, same_build=False, boot=False) == (
        "5.14.0", False, f"5.14.0 from the running kernel's release string ({NO_BUILD})"
    )  # fmt: skip


def test_version_of_a_release_string_only_and_of_nothing():
    o = obs(kernel={"version": None, "version_source": "release"},
            boot={"version": "5.14.0", "version_source": "release"})  # fmt: skip
    assert ev._version_of(o, same_build=True, boot=False) == (
        "5.14.0", False, f"5.14.0 from its image's release string ({NO_BUILD})"
    )  # fmt: skip
    assert ev._version_of(o, same_build=False, boot=False) == (None, False, "upstream version unknown")
    # a build-string source without a version is no version
    o = obs(kernel={"version": None, "version_source": "proc_version"}, boot={"version": None})
    assert ev._version_of(o, same_build=True, boot=True) == (None, False, "upstream version unknown")


# --- is the next boot the running kernel? -------------------------------------------------------


def test_same_build():
    assert answer(ev.same_build(obs(boot={"release": None}))) == (
        None, "unknown", "next-boot or running kernel release unknown"
    )  # fmt: skip
    assert answer(ev.same_build(obs(kernel={"release": None})))[0] is None
    assert answer(ev.same_build(obs(boot_release="6.1.0-57-amd64"))) == (
        False, "boot_config", "next boot changes kernel: 6.1.0-56-amd64 -> 6.1.0-57-amd64"
    )  # fmt: skip
    rebuilt = obs(kernel={"distro_version": "6.1.192-1"}, boot={"distro_version": "6.1.192-2"})
    assert answer(ev.same_build(rebuilt)) == (
        False, "probe", "6.1.0-56-amd64 on disk is build 6.1.192-2, the running kernel build 6.1.192-1"
    )  # fmt: skip
    same = (True, "boot_config", "the running kernel 6.1.0-56-amd64 boots again")
    assert answer(ev.same_build(obs())) == same
    assert answer(ev.same_build(obs(kernel={"distro_version": "6.1.192-1"}))) == same  # one side unknown
    assert answer(ev.same_build(obs(boot={"distro_version": "6.1.192-2"}))) == same
    both = obs(kernel={"distro_version": "6.1.192-1"}, boot={"distro_version": "6.1.192-1"})
    assert answer(ev.same_build(both)) == same


# --- does the kernel know VMSCAPE? --------------------------------------------------------------


def test_positive_version():
    assert ev._positive_version("6.1.152") == "G1"  # facts §2: the 6.1 backport starts there
    assert ev._positive_version("6.1.151") is None  # before it: says nothing (distributions backport)
    assert ev._positive_version("6.17.7") == "G2"
    assert ev._positive_version("6.17.6") == "G1"
    assert ev._positive_version(None) is None
    assert ev._positive_version("6.2") is None  # a branch without backport


def test_probe_answer():
    known = obs(boot={"knows_vmscape": True, "evidence": ("System.map: vmscape_select_mitigation", "config")})
    assert answer(ev._probe_answer(known)) == (
        True, "probe", "probe of 6.1.0-56-amd64: System.map: vmscape_select_mitigation; config"
    )  # fmt: skip
    assert answer(ev._probe_answer(obs(boot={"knows_vmscape": False}))) == (
        False, "probe", "probe of 6.1.0-56-amd64: no probe evidence"
    )  # fmt: skip
    unknown = obs(boot={"knows_vmscape": None, "probe_errors": ("no System.map", "image: zstd missing")})
    assert answer(ev._probe_answer(unknown)) == (
        None, "unknown", "probe of 6.1.0-56-amd64: no System.map; image: zstd missing; no probe evidence"
    )  # fmt: skip
    silent = obs(boot={"knows_vmscape": None, "evidence": ("config: no CONFIG_MITIGATION_VMSCAPE",)})
    assert answer(ev._probe_answer(silent)) == (
        None, "unknown", "probe of 6.1.0-56-amd64: nothing answered; config: no CONFIG_MITIGATION_VMSCAPE"
    )  # fmt: skip


def running_unknown(**kw):
    """The running kernel's sysfs unreadable and no bugs line: only the version can still tell."""
    o = obs(**kw)
    return replace(o, sysfs=None, sysfs_reason="/sys not mounted")


def test_knows_from_sysfs_presence():
    vd = "upstream 6.1.192 from the running kernel's build string in /proc/version"
    assert ev.kernel_knows(obs(), running=True, same=OTHER) == (
        ev.Answer(True, "sysfs", f"{VULN}/vmscape present (running kernel)"), "6.1.192", True, vd
    )  # fmt: skip
    got = ev.kernel_knows(obs(knows=False), running=True, same=OTHER)[0]
    assert answer(got) == (False, "sysfs", f"{VULN}/vmscape absent (running kernel)")
    # the next boot that is the running kernel reads the running kernel's sysfs
    assert answer(ev.kernel_knows(obs(boot_knows=False), running=False, same=SAME)[0])[:2] == (True, "sysfs")


def test_knows_from_the_bugs_line():
    o = running_unknown(bugs=["spectre_v2", "vmscape"])
    assert answer(ev.kernel_knows(o, running=True, same=OTHER)[0]) == (
        True, "cpuinfo_bugs", "cpuinfo bugs lists vmscape (running kernel)"
    )  # fmt: skip


def test_knows_from_the_version_only_when_it_proves_it():
    vd = "upstream 6.1.192 from the running kernel's build string in /proc/version"
    assert answer(ev.kernel_knows(running_unknown(), running=True, same=OTHER)[0]) == (
        True, "version", f"{vd}: at or past the VMSCAPE backport (facts §2)"
    )  # fmt: skip
    old = running_unknown(version="6.1.100", bugs=["spectre_v2"])
    old = replace(old, cpu=replace(old.cpu, bugs_reason=None))
    assert answer(ev.kernel_knows(old, running=True, same=OTHER)[0]) == (
        None,
        "unknown",
        "sysfs: /sys not mounted; cpuinfo bugs: does not list vmscape (no proof either way); version: "
        "upstream 6.1.100 from the running kernel's build string in /proc/version predates VMSCAPE, which "
        "distributions backport",
    )
    nothing = running_unknown(kernel={"version": None, "version_source": "release"})
    assert answer(ev.kernel_knows(nothing, running=True, same=OTHER)[0]) == (
        None,
        "unknown",
        "sysfs: /sys not mounted; cpuinfo bugs: /proc/cpuinfo: boot CPU has no 'bugs' line; "
        "version: upstream version unknown",
    )


def test_knows_of_the_next_boot_from_its_probe_then_its_version():
    nxt = obs(boot_release="6.12.47-1-amd64", boot_version="6.12.47", boot_knows=False)
    assert answer(ev.kernel_knows(nxt, running=False, same=OTHER)[0]) == (
        False, "probe", "probe of 6.12.47-1-amd64: no probe evidence"
    )  # fmt: skip
    unprobed = obs(boot_release="6.12.40-1-amd64", boot_version="6.12.40", boot={"knows_vmscape": None})
    assert ev.kernel_knows(unprobed, running=False, same=OTHER) == (
        ev.Answer(
            None,
            "unknown",
            "probe of 6.12.40-1-amd64: nothing answered; no probe evidence; version: upstream 6.12.40 from its "
            "image's bzImage header predates VMSCAPE, which distributions backport",
        ),
        "6.12.40",
        True,
        "upstream 6.12.40 from its image's bzImage header",
    )
    # the running kernel's own sources are not asked for another kernel
    unprobed = replace(unprobed, cpu=replace(unprobed.cpu, bugs=("vmscape",)))
    assert ev.kernel_knows(unprobed, running=False, same=OTHER)[0].value is None
    # the same build without sysfs or bugs line: the probe of its image answers
    same = running_unknown(boot={"knows_vmscape": True})
    assert answer(ev.kernel_knows(same, running=True, same=SAME)[0]) == (
        True, "probe", "probe of 6.1.0-56-amd64: no probe evidence"
    )  # fmt: skip


# --- generations --------------------------------------------------------------------------------


def test_generations():
    no = ev.Answer(False, "sysfs", "file absent")
    assert answer(ev.generations(no, "6.12.47", "vd", None)) == (("G0",), "sysfs", "does not know VMSCAPE: file absent")
    unknown = ev.Answer(None, "unknown", "nothing")
    assert answer(ev.generations(unknown, "6.12.47", "vd", None)) == (
        ("G0", "G1", "G2"), "unknown", "whether it knows VMSCAPE is unknown: nothing"
    )  # fmt: skip
    yes = ev.Answer(True, "sysfs", "present")
    assert answer(ev.generations(yes, "6.12.47", "upstream 6.12.47", None)) == (
        ("G1",), "tables", "upstream 6.12.47: G1 (facts §2 generations)"
    )  # fmt: skip
    assert ev.generations(yes, "6.18.1", "vd", None).value == ("G2",)
    assert answer(ev.generations(yes, "5.14.0", "5.14.0 from x", False)) == (
        ("G1", "G2"),
        "unknown",
        "VMSCAPE here is a distribution backport (5.14.0 from x): which of G1, G2 it behaves like (facts §2) "
        "is not known",
    )
    assert ev.generations(yes, "5.14.0", "vd", None).value == ("G1", "G2", "G3")
    assert ev.generations(yes, None, "vd", True).value == ("G1", "G2", "G3")


def test_view_takes_g3_only_from_the_probe():
    bhb = obs(boot={"bhb_series": True, "evidence": ("image: 'Clear BHB before exit to userspace'",)})
    v = ev.view(bhb, running=False, same=SAME)
    assert (v.label, v.release) == ("next-boot", "6.1.0-56-amd64")
    assert answer(v.generations) == (
        ("G3",), "probe", "probe found the BHB series: image: 'Clear BHB before exit to userspace'"
    )  # fmt: skip
    # the running kernel of another build: the image's probe says nothing about it
    r = ev.view(bhb, running=True, same=OTHER)
    assert (r.label, r.generations.value) == ("running", ("G1",))
    # a kernel that does not know VMSCAPE stays G0 whatever the probe found
    assert ev.view(obs(knows=False, boot={"bhb_series": True}), running=True, same=SAME).generations.value == ("G0",)
    # the same build: the running view uses the probe's BHB answer too
    assert ev.view(bhb, running=True, same=SAME).generations.value == ("G3",)
    # release of the view: the kernel it describes
    nxt = ev.view(obs(boot_release="6.12.47-1-amd64", boot_version="6.12.47"), running=False, same=OTHER)
    assert (nxt.release, nxt.version, nxt.version_detail) == (
        "6.12.47-1-amd64", "6.12.47", "upstream 6.12.47 from its image's bzImage header"
    )  # fmt: skip
    assert ev.view(obs(boot_release="6.12.47-1-amd64"), running=True, same=OTHER).release == "6.1.0-56-amd64"


# --- does the kernel's CPU list include this CPU? -----------------------------------------------

YES = ev.Answer(True, "sysfs", "present")


def test_listing_needs_the_cpu_identity_and_knowledge():
    for cpu in ({"family": None}, {"model": None}):
        assert answer(ev.listing(obs(cpu=cpu), True, YES, "6.1.192", "vd")) == (
            None, "unknown", "CPU identity incomplete in /proc/cpuinfo"
        )  # fmt: skip
    old_amd = obs(vendor=AMD, family=0x15, model=0x02)
    assert answer(ev.listing(old_amd, True, YES, "6.1.192", "vd")) == (
        False, "tables", "AMD family 0x15 model 0x2: pre-Zen, not in the kernel's VMSCAPE list (facts §4)"
    )  # fmt: skip
    unknown_intel = obs(family=6, model=0x99)  # not in the facts document's tables: not a "no"
    assert ev.listing(unknown_intel, True, ev.Answer(None, "unknown", ""), "6.1.192", "vd").detail == (
        "the kernel's VMSCAPE support is unknown"
    )
    assert answer(ev.listing(obs(), True, ev.Answer(False, "sysfs", ""), "6.1.192", "vd")) == (
        None, "unknown", "the kernel's VMSCAPE support is unknown"
    )  # fmt: skip


def test_listing_from_the_running_kernels_bugs_line():
    listed = obs(bugs=["vmscape"])
    assert answer(ev.listing(listed, True, YES, None, "vd")) == (
        True, "cpuinfo_bugs", "cpuinfo bugs lists vmscape: the running kernel set the bug"
    )  # fmt: skip
    bare = obs(bugs=["spectre_v2"], vendor=AMD, family=0x1A, model=0x02)
    assert answer(ev.listing(bare, True, YES, None, "vd")) == (
        False, "cpuinfo_bugs", "cpuinfo bugs does not list vmscape on bare metal"
    )  # fmt: skip
    # not the running view (another kernel boots next): the bugs line is not this kernel's
    assert ev.listing(bare, False, YES, None, "vd").source == "unknown"
    # a guest: the hypervisor may hide the bug; forced: force sets it whatever the list says
    guest = obs(bugs=["spectre_v2"], hypervisor=True, vendor=AMD, family=0x1A, model=0x02)
    assert ev.listing(guest, True, YES, None, "vd").source == "unknown"
    for forced in ("vmscape=force", "vmscape=off vmscape=force"):
        f = obs(bugs=["vmscape"], cmdline=f"ro {forced}", vendor=AMD, family=0x1A, model=0x02)
        assert answer(ev.listing(f, True, YES, None, "vd")) == (
            None, "unknown", "cpuinfo bugs: vmscape=force set; no facts §4 list for vd"
        )  # fmt: skip
    not_forced = obs(bugs=["vmscape"], cmdline="ro vmscape=ibpb", vendor=AMD, family=0x1A, model=0x02)
    assert ev.listing(not_forced, True, YES, None, "vd").value is True
    # the running command line unknown: the bugs line cannot tell whether force set the bug
    no_cmdline = replace(obs(bugs=["vmscape"], vendor=AMD, family=0x1A, model=0x02), cmdline=None,
                         cmdline_reason="/proc/cmdline unreadable")  # fmt: skip
    assert answer(ev.listing(no_cmdline, True, YES, None, "vd")) == (
        None, "unknown", "cpuinfo bugs: /proc/cmdline unreadable; no facts §4 list for vd"
    )  # fmt: skip
    no_cmdline = replace(no_cmdline, cmdline_reason=None)
    assert ev.listing(no_cmdline, True, YES, None, "vd").detail == "cpuinfo bugs: unusable; no facts §4 list for vd"


def test_listing_from_the_branch_tables():
    zen5 = obs(vendor=AMD, family=0x1A, model=0x02)  # no bugs line
    assert answer(ev.listing(zen5, True, YES, "6.1.192", "vd")) == (
        False, "tables", "the 6.1 branch's list lacks it (facts §4)"
    )  # fmt: skip
    assert answer(ev.listing(zen5, True, YES, "6.12.47", "vd")) == (
        True, "tables", "the 6.12 branch's list has it (facts §4)"
    )  # fmt: skip
    # a version before the branch's backport proves nothing; Zen 5 is not on every list
    assert answer(ev.listing(zen5, False, YES, "6.1.100", "6.1.100 from x")) == (
        None, "unknown", "no facts §4 list for 6.1.100 from x"
    )  # fmt: skip
    assert ev.listing(zen5, True, YES, "5.14.0", "5.14.0 from x").detail == (
        "cpuinfo bugs: /proc/cpuinfo: boot CPU has no 'bugs' line; no facts §4 list for 5.14.0 from x"
    )
    skylake = obs()  # 6/0x55: on every list
    assert answer(ev.listing(skylake, True, YES, "5.14.0", "vd")) == (
        True, "tables", "every CPU list of facts §4 (newest and each stable branch's) has it"
    )  # fmt: skip


# --- IBPB elsewhere, CPU flags, BHI_CTRL --------------------------------------------------------


def test_ibpb_on_vmexit():
    assert answer(ev.ibpb_on_vmexit(replace(obs(), sysfs=None, sysfs_reason="/sys not mounted"))) == (
        None, "unknown", "sysfs: /sys not mounted"
    )  # fmt: skip
    assert answer(ev.ibpb_on_vmexit(obs(sysfs={"retbleed": "Mitigation: IBPB"}))) == (
        True, "sysfs", "retbleed or spec_rstack_overflow uses IBPB"
    )  # fmt: skip
    srso = obs(vendor=AMD, family=0x19, model=0x01, sysfs={"spec_rstack_overflow": "Mitigation: IBPB on VMEXIT only"})
    assert ev.ibpb_on_vmexit(srso).value is True
    assert answer(ev.ibpb_on_vmexit(obs())) == (False, "sysfs", "neither retbleed nor spec_rstack_overflow uses IBPB")
    gone = replace(obs(), sysfs={"vmscape": None})
    assert answer(ev.ibpb_on_vmexit(gone)) == (
        None, "unknown", f"{VULN}/retbleed absent; {VULN}/spec_rstack_overflow absent"
    )  # fmt: skip
    unreadable = replace(obs(), sysfs={"retbleed": None, "spec_rstack_overflow": "Not affected"})
    assert answer(ev.ibpb_on_vmexit(unreadable)) == (None, "unknown", f"{VULN}/retbleed unreadable")
    # one file saying IBPB is enough even when the other is missing
    assert ev.ibpb_on_vmexit(replace(obs(), sysfs={"retbleed": "Mitigation: IBPB"})).value is True


def test_cpu_flag_and_bhi_ctrl():
    assert answer(ev.cpu_flag(obs(), "ibpb")) == (True, "cpuinfo", "'ibpb' in cpuinfo flags")
    assert answer(ev.cpu_flag(obs(hypervisor=False), "hypervisor")) == (
        False, "cpuinfo", "'hypervisor' not in cpuinfo flags"
    )  # fmt: skip
    no_flags = obs(cpu={"ibpb": None, "flags": None, "flags_reason": "/proc/cpuinfo: no flags line"})
    assert answer(ev.cpu_flag(no_flags, "ibpb")) == (None, "unknown", "/proc/cpuinfo: no flags line")
    assert ev.cpu_flag(obs(cpu={"ibpb": None, "flags_reason": None}), "ibpb").detail == "cpuinfo flags unknown"
    assert answer(ev.bhi_ctrl(obs(bhi_ctrl=True))) == (
        True, "cpuid", "BHI_CTRL = 1 (CPUID leaf 7 through /dev/cpu/0/cpuid)"
    )  # fmt: skip
    assert answer(ev.bhi_ctrl(obs(bhi_ctrl=False)))[2] == "BHI_CTRL = 0 (CPUID leaf 7 through /dev/cpu/0/cpuid)"
    assert answer(ev.bhi_ctrl(obs(cpu={"bhi_ctrl": None, "bhi_ctrl_reason": "no /dev/cpu/0/cpuid"}))) == (
        None, "unknown", "BHI_CTRL unknown: no /dev/cpu/0/cpuid"
    )  # fmt: skip
    assert ev.bhi_ctrl(obs(cpu={"bhi_ctrl": None})).detail == "BHI_CTRL unknown: not read"
