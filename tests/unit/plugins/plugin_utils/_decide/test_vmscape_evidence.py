"""The evidence order (docs/DESIGN.md "Evidence"): the strongest evidence present decides, and
missing evidence falls back to the next source or to blocked naming what is missing; never to a
more confident answer. Expected values are written from the facts document (cited per test)."""

import pytest
from plan_helpers import ABSENT, facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import (
    IBPB_EXIT,
    IBPB_VMEXIT,
    NOT_AFFECTED,
    VULNERABLE,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import make_plan

AMD = "AuthenticAMD"
RHEL9 = {"version": "5.14.0", "release": "5.14.0-570.el9.x86_64"}


def reasons(plan):
    return " | ".join(plan["reasons"])


def no_bugs_line(f):
    f["cpu"]["bugs"] = None
    f["cpu"]["bugs_reason"] = "/proc/cpuinfo: boot CPU has no 'bugs' line"
    return f


def rhel(**kw):
    f = facts(**{**RHEL9, **kw})
    f["kernel"]["version_source"] = "release"
    f["boot_kernel"]["version_source"] = "release"
    return f


# --- cpuinfo bugs: an absent line is not a line without vmscape (issue 9 example 1) ------------


def test_absent_bugs_line_is_not_a_line_without_vmscape():
    # Zen 5 on a distribution kernel whose 5.14 branch has no facts §4 list: only the running
    # kernel's bugs line could tell whether its list has family 0x1a.
    listed = make_plan(rhel(vendor=AMD, family=0x1A, model=0x02, bugs=["spectre_v2", "vmscape"]))
    assert (listed["action"], listed["cmdline"]) == ("set", {"vmscape": "ibpb"})
    not_listed = make_plan(rhel(vendor=AMD, family=0x1A, model=0x02, bugs=["spectre_v2"]))
    assert (not_listed["action"], not_listed["cmdline"]) == ("set", {"vmscape": "force"})
    # no bugs line: whether the list has the CPU is unknown; force gives the same string in both
    # cases (facts §3: force sets the bug), so the plan hedges with it and says why
    unknown = make_plan(rhel(vendor=AMD, family=0x1A, model=0x02, bugs=None))
    assert (unknown["action"], unknown["cmdline"], unknown["expected_sysfs"]) == (
        "set",
        {"vmscape": "force"},
        IBPB_EXIT,
    )
    assert "lists this CPU is unknown" in reasons(unknown) and "no 'bugs' line" in reasons(unknown)
    # a pinned ibpb cannot hedge: its outcome depends on the unknown list
    pinned = make_plan(rhel(vendor=AMD, family=0x1A, model=0x02, bugs=None), {"mode": "ibpb"})
    assert pinned["action"] == "blocked"
    assert "whether the kernel's CPU list has this CPU" in reasons(pinned)
    assert "'Not affected'" in reasons(pinned)


def test_present_empty_bugs_line_on_bare_metal_is_evidence():
    plan = make_plan(rhel(vendor=AMD, family=0x1A, model=0x02, bugs=[]))
    assert plan["evidence"]["next_boot_lists_cpu"] == {
        "value": False,
        "source": "cpuinfo_bugs",
        "detail": "cpuinfo bugs does not list vmscape on bare metal",
    }


def test_bugs_line_outranks_the_branch_table():
    # facts §4: 6.1 lacks AMD 0x1a; a bugs line that lists vmscape (the kernel set the bug) wins
    plan = make_plan(facts(vendor=AMD, family=0x1A, model=0x02, bugs=["vmscape"]))
    assert plan["evidence"]["next_boot_lists_cpu"]["source"] == "cpuinfo_bugs"
    assert plan["cmdline"] == {"vmscape": "ibpb"}
    table = make_plan(facts(vendor=AMD, family=0x1A, model=0x02))  # no bugs line: the table decides
    assert table["evidence"]["next_boot_lists_cpu"]["source"] == "tables"
    assert table["cmdline"] == {"vmscape": "force"}


def test_forced_running_kernel_bugs_say_nothing_about_the_list():
    f = rhel(vendor=AMD, family=0x1A, model=0x02, bugs=["vmscape"], cmdline="ro vmscape=force")
    plan = make_plan(f)
    assert plan["evidence"]["running_lists_cpu"]["value"] is None
    assert plan["cmdline"] == {"vmscape": "force"}  # force mitigates whether or not it is listed


# --- the running kernel's sysfs: a next boot that is the running kernel (issue 9 example 2) ----


def test_unprobed_next_boot_that_is_the_running_kernel_uses_running_sysfs():
    # RHEL 9: the image was not probed (probe_image=never, System.map unreadable), but the kernel
    # that boots again is the running one, whose sysfs has the vmscape file: it knows VMSCAPE.
    f = rhel(knows=None, bugs=["vmscape"], sysfs={"vmscape": IBPB_EXIT})
    f["boot_kernel"]["knows_vmscape"] = None
    plan = make_plan(f)
    assert plan["evidence"]["next_boot_knows_vmscape"]["source"] == "sysfs"
    assert (plan["action"], plan["cmdline"], plan["expected_sysfs"]) == ("set", {"vmscape": "ibpb"}, IBPB_EXIT)
    assert plan["compliant"] is True


def test_predating_upstream_version_alone_is_not_kernel_upgrade():
    # facts §4: "a version number alone does not prove support" - 5.14.0 predates the backports
    f = rhel(knows=None, sysfs={"vmscape": ABSENT})
    f["sysfs"] = None
    f["sysfs_reason"] = "/sys/devices/system/cpu/vulnerabilities: Permission denied"
    f["boot_kernel"]["knows_vmscape"] = None
    plan = make_plan(f)
    assert plan["action"] == "blocked"
    assert "predates VMSCAPE, which distributions backport" in reasons(plan)
    assert "Permission denied" in reasons(plan)


def test_version_at_or_past_the_backport_is_positive_evidence():
    # facts §2: 6.12.47+ carries the stable backport (G1)
    f = facts(version="6.12.50", release="6.12.50-custom", knows=None, sysfs={"vmscape": ABSENT})
    f["sysfs"], f["sysfs_reason"] = None, "/sys/devices/system/cpu/vulnerabilities: No such file or directory"
    f["sysfs_reason"] = None
    f["sysfs"] = {"retbleed": "Mitigation: IBRS", "spec_rstack_overflow": "Not affected"}
    f["kernel"]["release"] = "6.1.0-56-amd64"  # the running kernel differs (no sysfs claim about the next)
    f["boot_kernel"]["knows_vmscape"] = None
    plan = make_plan(f)
    assert plan["evidence"]["next_boot_knows_vmscape"]["source"] == "version"
    assert plan["kernels"]["next_boot"]["generation"] == "G1"


def test_running_kernel_without_the_file_does_not_know_it():
    plan = make_plan(facts(version="6.16.3", release="6.16.3+deb13-amd64", knows=None, sysfs={"vmscape": ABSENT}))
    assert plan["evidence"]["running_knows_vmscape"]["source"] == "sysfs"
    assert plan["action"] == "kernel_upgrade"


def test_sysfs_outranks_a_contradicting_probe():
    f = facts(sysfs={"vmscape": IBPB_EXIT}, bugs=["vmscape"])
    f["boot_kernel"]["knows_vmscape"] = False  # a broken probe
    plan = make_plan(f)
    assert plan["evidence"]["next_boot_knows_vmscape"]["source"] == "sysfs"
    assert plan["action"] == "set"


def test_rebuilt_release_in_place_is_not_the_running_kernel():
    f = facts(sysfs={"vmscape": IBPB_EXIT}, bugs=["vmscape"], knows=None)
    f["kernel"]["distro_version"] = "6.1.192-2"
    f["boot_kernel"].update(distro_version="6.1.192-3", knows_vmscape=None)
    plan = make_plan(f)
    assert plan["evidence"]["next_boot_is_running"]["value"] is False
    assert "on disk is build 6.1.192-3, the running kernel build 6.1.192-2" in reasons(plan)
    # the next build's support is then taken from its own evidence: the version 6.1.192 (G1)
    assert plan["evidence"]["next_boot_knows_vmscape"]["source"] == "version"


# --- generations of a distribution backport ----------------------------------------------------


def test_backport_generation_unknown_blocks_only_where_it_matters():
    # facts §2: mitigations=off wins on G1, an explicit ibpb still mitigates on G2
    plain = make_plan(rhel(bugs=["vmscape"]))
    assert plain["kernels"]["next_boot"]["generation"] == "G1|G2"
    assert plain["action"] == "set" and plain["expected_sysfs"] == IBPB_EXIT
    off = make_plan(rhel(bugs=["vmscape"], cmdline="ro mitigations=off"))
    assert off["action"] == "blocked"
    assert "which generation the kernel is" in reasons(off)
    assert "'Mitigation: IBPB before exit to userspace'" in reasons(off) and "'Vulnerable'" in reasons(off)


def test_exact_debian_version_fixes_the_generation():
    plan = make_plan(facts(version="6.1.192", cmdline="ro mitigations=off", bugs=["vmscape"]))
    assert plan["kernels"]["next_boot"]["generation"] == "G1"
    assert plan["evidence"]["next_boot_generation"]["source"] == "tables"
    assert plan["action"] == "blocked" and "mitigations=off" in reasons(plan)


# --- retbleed / SRSO, guest and IBPB flags -----------------------------------------------------


@pytest.mark.parametrize("missing", ["retbleed", "spec_rstack_overflow"])
def test_absent_retbleed_or_srso_blocks_naming_the_file(missing):
    plan = make_plan(facts(bugs=["vmscape"], sysfs={missing: ABSENT}))
    assert plan["action"] == "blocked"
    assert f"{missing} absent" in reasons(plan)
    assert {IBPB_EXIT, IBPB_VMEXIT} <= {s for s in (IBPB_EXIT, IBPB_VMEXIT) if repr(s) in reasons(plan)}


def test_one_file_saying_ibpb_is_enough():
    plan = make_plan(
        facts(
            vendor=AMD, family=0x17, model=0x31, sysfs={"retbleed": "Mitigation: IBPB", "spec_rstack_overflow": ABSENT}
        )
    )
    assert plan["expected_sysfs"] == IBPB_VMEXIT


def test_no_flags_line_means_guest_unknown():
    f = facts(bugs=["vmscape"])
    f["cpu"].update(flags=None, flags_reason="/proc/cpuinfo: boot CPU has no 'flags' line", hypervisor=None, ibpb=None)
    plan = make_plan(f)
    assert plan["action"] == "blocked"
    assert "cannot tell a guest from bare metal (/proc/cpuinfo: boot CPU has no 'flags' line)" in reasons(plan)
    assert plan["predicted_current"] is None and plan["prediction_matches"] is None
    assert "whether this is a guest" in reasons(plan)  # why the running kernel's string is unknown
    pinned = make_plan(f, {"mode": "ibpb"})
    assert pinned["action"] == "blocked" and "whether the CPU has IBPB" in reasons(pinned)


def test_unknown_bhi_ctrl_keeps_ibpb_on_g3():
    # vmscape=ibpb gives IBPB whether or not the CPU enumerates BHI_CTRL (facts §2 G3 column)
    f = facts(model=0x97, bhi_ctrl=None, bhb=True, version="7.4.1", release="7.4.1-amd64")
    f["cpu"]["bhi_ctrl_reason"] = "/dev/cpu/0/cpuid: absent"
    plan = make_plan(f)
    assert (plan["action"], plan["mode"], plan["expected_sysfs"]) == ("set", "ibpb", IBPB_EXIT)
    assert "/dev/cpu/0/cpuid: absent" in reasons(plan)


# --- the next boot: known, bootable, parameters readable (issue 11: never reboot into a bad kernel)


@pytest.mark.parametrize(
    "problem",
    [
        "/boot/vmlinuz-6.1.0-56-amd64: 0 bytes",
        "/boot/vmlinuz-6.1.0-56-amd64: Permission denied",
        "no modules directory for 6.1.0-56-amd64 (/lib/modules, /usr/lib/modules)",
    ],
)
def test_bad_next_boot_image_is_blocked_never_rebooted_into(problem):
    f = facts(cmdline="ro vmscape=off", sysfs={"vmscape": VULNERABLE}, bugs=["vmscape"])
    f["boot_kernel"]["image_check"] = {"ok": False, "problems": [problem], "size": 0, "modules_dir": None}
    plan = make_plan(f)
    assert plan["action"] == "blocked" and plan["reboot_required"] is False and plan["cmdline"] == {}
    assert f"never rebooting into 6.1.0-56-amd64: {problem}" in reasons(plan)


def test_guessed_next_boot_is_blocked():
    f = facts(bugs=["vmscape"])
    f["boot_kernel"]["source"] = "newest_installed"
    f["boot_kernel"]["source_reason"] = "no boot loader configuration found (/boot/grub/grub.cfg): guessed ..."
    plan = make_plan(f)
    assert plan["action"] == "blocked" and "grub.cfg" in reasons(plan)


def test_unknown_next_boot_parameters_are_blocked():
    f = facts(bugs=["vmscape"])
    f["bootloader"].update(
        configured_cmdline=None,
        tokens=None,
        configured_cmdline_reason="BLS entry x takes $kernelopts from /boot/grub2/grubenv, which is absent",
    )
    plan = make_plan(f)
    assert plan["action"] == "blocked" and "$kernelopts" in reasons(plan)


def test_guest_and_unaffected_stay_none_whatever_is_missing():
    g = no_bugs_line(facts(hypervisor=True, sysfs={"vmscape": NOT_AFFECTED}))
    g["boot_kernel"]["image_check"] = {"ok": False, "problems": ["x: 0 bytes"], "size": 0, "modules_dir": None}
    assert make_plan(g)["action"] == "none"
    assert make_plan(no_bugs_line(facts(model=0x6A, sysfs={"vmscape": NOT_AFFECTED})))["action"] == "none"


def test_plan_lists_the_evidence_it_used():
    plan = make_plan(facts(bugs=["vmscape"], sysfs={"vmscape": IBPB_EXIT}))
    ev = plan["evidence"]
    assert {k: v["source"] for k, v in ev.items()} == {
        "next_boot_is_running": "boot_config",
        "running_knows_vmscape": "sysfs",
        "running_generation": "tables",
        "running_lists_cpu": "cpuinfo_bugs",
        "next_boot_knows_vmscape": "sysfs",
        "next_boot_generation": "tables",
        "next_boot_lists_cpu": "cpuinfo_bugs",
        "guest": "cpuinfo",
        "ibpb": "cpuinfo",
        "bhi_ctrl": "cpuid",
        "ibpb_on_vmexit": "sysfs",
    }
    assert ev["next_boot_generation"]["detail"] == (
        "upstream 6.1.192 from the running kernel's build string in /proc/version: G1 (facts §2 generations)"
    )
