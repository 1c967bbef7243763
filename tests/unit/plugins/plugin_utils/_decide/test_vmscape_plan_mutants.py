"""make_plan, whole plans and every reading of the facts (found by `make mutation`).

Decisions (action, mode, values, expected strings) come from ../shared/vmscape-facts.md; the
reason texts are the plan's documented explanations, pinned so that a changed branch shows.
Each test names the facts rule it follows.
"""

import pytest
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import (
    BHB_EXIT,
    IBPB_EXIT,
    IBPB_VMEXIT,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import PlanError, make_plan
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.policy import Policy

SKYLAKE_WHY = "Intel family 0x6 model 0x55: Sandy Bridge..Comet Lake generation, BTB variant"
BTB_IBPB = "CPU affected by the BTB variant: vmscape=ibpb"
EXPECT_IBPB = f"expect after boot: {IBPB_EXIT!r}"
G1_VIEW = {"release": "6.1.0-56-amd64", "version": "6.1.192", "generation": "G1", "lists_cpu": True}


def check(plan, **want):
    for key, value in want.items():
        assert plan[key] == value, key


def test_srso_ibpb_on_vmexit_alone_gives_ibpb_on_vmexit():
    # facts §3: SRSO using IBPB-on-VMEXIT overrides the choice (seen on Zen 3, docs/testing.md)
    sysfs = {"spec_rstack_overflow": "Mitigation: IBPB on VMEXIT only", "vmscape": IBPB_VMEXIT}
    plan = make_plan(facts(vendor="AuthenticAMD", family=0x19, model=0x01, sysfs=sysfs))
    assert plan["expected_sysfs"] == IBPB_VMEXIT and plan["compliant"] is True
    assert "retbleed or SRSO already uses IBPB: the kernel reports IBPB on VMEXIT (facts §3)" in plan["reasons"]


@pytest.mark.parametrize(
    ("where", "tokens", "message"),
    [
        ("cmdline", ["ro"], "facts.cmdline.tokens[0]: expected a token with a name, got 'ro'"),
        (
            "cmdline",
            [{"name": "ro"}, {"value": "x"}],
            "facts.cmdline.tokens[1]: expected a token with a name, got {'value': 'x'}",
        ),
        (
            "bootloader",
            [{"name": "vmscape", "value": 3}],
            "facts.bootloader.tokens[0]: value must be a string or null, got 3",
        ),
        (
            "bootloader",
            [{"name": 5, "value": "x"}],
            "facts.bootloader.tokens[0]: expected a token with a name, got {'name': 5, 'value': 'x'}",
        ),
    ],
)
def test_bad_tokens_name_the_list_and_index(where, tokens, message):
    f = facts()
    f[where]["tokens"] = tokens
    with pytest.raises(PlanError) as err:
        make_plan(f)
    assert str(err.value) == message


def test_a_policy_object_is_taken_as_it_is():
    plan = make_plan(facts(), Policy(mode="force", allow_remove_mitigations_off=True))
    assert plan["cmdline"] == {"vmscape": "force"}
    assert plan["policy"] == {"mode": "force", "allow_remove_mitigations_off": True}


# --- whole plans: every field, every reason (found by `make mutation`) -------------------------

RUNNING_KNOWS = (
    "running kernel 6.1.0-56-amd64 knows VMSCAPE: yes (sysfs: /sys/devices/system/cpu/vulnerabilities/vmscape "
    "present (running kernel))"
)
VD_6_1 = "upstream 6.1.192 from the running kernel's build string in /proc/version"


def ibpb_now(**kw):
    """Debian 12's 6.1.192 on Skylake-SP printing what G1 prints by default on a listed CPU
    (facts §2/§3: IBPB before exit to userspace)."""
    return facts(sysfs={"vmscape": IBPB_EXIT}, **kw)


def test_whole_plan_of_a_debian_host_already_mitigated_by_default():
    view = {"release": "6.1.0-56-amd64", "version": "6.1.192", "generation": "G1", "generations": ["G1"],
            "knows_vmscape": True, "lists_cpu": True}  # fmt: skip
    knows = {"value": True, "source": "sysfs",
             "detail": "/sys/devices/system/cpu/vulnerabilities/vmscape present (running kernel)"}  # fmt: skip
    gen = {"value": ["G1"], "source": "tables", "detail": f"{VD_6_1}: G1 (facts §2 generations)"}
    listed = {"value": True, "source": "tables", "detail": "the 6.1 branch's list has it (facts §4)"}
    assert make_plan(ibpb_now()) == {
        "action": "set",
        "mode": "ibpb",
        "cmdline": {"vmscape": "ibpb"},
        "cmdline_remove": [],
        "expected_sysfs": IBPB_EXIT,
        "predicted_current": IBPB_EXIT,
        "observed_current": IBPB_EXIT,
        "prediction_matches": True,
        "reboot_required": False,  # it prints the string already; the parameter pins it
        "compliant": True,
        "config_in_place": False,
        "next_boot_cmdline": "root=/dev/vda1 ro quiet vmscape=ibpb",  # BOOT_IMAGE is the loader's, not ours
        "reasons": [SKYLAKE_WHY, RUNNING_KNOWS, BTB_IBPB, EXPECT_IBPB],
        "warnings": [],
        "cpu_class": "btb",
        "cpu": {
            "vendor": "GenuineIntel",
            "family": 6,
            "model": 0x55,
            "stepping": 4,
            "id": "0x6/0x55/4",
            "model_name": "test",
            "microcode": "0x1",
            "bhi_ctrl": False,
            "ibpb": True,
            "hypervisor": False,
        },
        "kernels": {"running": view, "next_boot": view},
        "evidence": {
            "next_boot_is_running": {
                "value": True,
                "source": "boot_config",
                "detail": "the running kernel 6.1.0-56-amd64 boots again",
            },
            "running_knows_vmscape": knows,
            "running_generation": gen,
            "running_lists_cpu": listed,
            "next_boot_knows_vmscape": knows,
            "next_boot_generation": gen,
            "next_boot_lists_cpu": listed,
            "guest": {"value": False, "source": "cpuinfo", "detail": "'hypervisor' not in cpuinfo flags"},
            "ibpb": {"value": True, "source": "cpuinfo", "detail": "'ibpb' in cpuinfo flags"},
            "bhi_ctrl": {
                "value": False,
                "source": "cpuid",
                "detail": "BHI_CTRL = 0 (CPUID leaf 7 through /dev/cpu/0/cpuid)",
            },
            "ibpb_on_vmexit": {
                "value": False,
                "source": "sysfs",
                "detail": "neither retbleed nor spec_rstack_overflow uses IBPB",
            },
        },
        "observation_id": "0" * 32,
        "policy": {"mode": "auto", "allow_remove_mitigations_off": False},
    }


def test_cpu_summary_of_an_incomplete_identity():
    f = ibpb_now()
    f["cpu"].update(model=None, stepping=None)
    assert make_plan(f)["cpu"]["id"] == "0x6/?"
    f["cpu"].update(family=None, vendor=None)
    plan = make_plan(f)
    assert plan["cpu"]["id"] == "?/?"
    assert plan["reasons"][0] == "CPU identity unknown: /proc/cpuinfo has no 'vendor_id', 'cpu family', 'model' line"
    assert (plan["action"], plan["cpu_class"]) == ("blocked", "unknown")


def test_parameter_in_place_and_a_reboot_that_changes_the_string():
    plan = make_plan(ibpb_now(cmdline="ro vmscape=ibpb"))
    check(plan, action="set", config_in_place=True, reboot_required=False, next_boot_cmdline="ro vmscape=ibpb")
    # the same parameter twice is not "in place": the configuration still changes
    assert make_plan(ibpb_now(cmdline="ro vmscape=ibpb vmscape=ibpb"))["config_in_place"] is False
    off = make_plan(facts(sysfs={"vmscape": "Vulnerable"}, cmdline="ro vmscape=off"))
    check(off, action="set", config_in_place=False, compliant=False, reboot_required=True,
          predicted_current="Vulnerable", prediction_matches=True, next_boot_cmdline="ro vmscape=ibpb")  # fmt: skip


@pytest.mark.parametrize(
    ("f", "policy", "action", "expected", "compliant", "tail"),
    [
        (ibpb_now(), {"mode": "none"}, "none", IBPB_EXIT, True,
         ["vmscape_mode is none: the boot configuration is left alone"]),
        (facts(hypervisor=True, sysfs={"vmscape": "Not affected"}), None, "none", "Not affected", True,
         ["guest (hypervisor flag): the kernel never sets the bug in a guest; nothing to do"]),
        (facts(family=6, model=0x6A, sysfs={"vmscape": "Not affected"}), None, "none", "Not affected", True,
         ["CPU not affected: nothing to do"]),
        (facts(family=6, model=0x99, sysfs={"vmscape": "Not affected"}), None, "blocked", "Not affected", False,
         ["unknown CPU: cannot decide safely; pin vmscape_mode for this host after checking it"]),
        (ibpb_now(), {"mode": "bhb"}, "blocked", IBPB_EXIT, False,
         ["vmscape_mode pinned to bhb by policy: vmscape=on",
          "vmscape_mode bhb needs a G3 kernel and a CPU with BHI_CTRL; not applicable here"]),
        (facts(ibpb=False, sysfs={"vmscape": "Vulnerable"}), None, "blocked", "Vulnerable", False,
         [BTB_IBPB, "the CPU lacks IBPB (old microcode): update the microcode first"]),
        (facts(cmdline="ro mitigations=off", sysfs={"vmscape": "Vulnerable"}), None, "blocked", "Vulnerable", False,
         [BTB_IBPB, "mitigations=off on this G1 kernel defeats vmscape=ibpb: reported, not changed "
                    "(set vmscape_allow_remove_mitigations_off to remove it)"]),
        (facts(cmdline="ro mitigations=off", sysfs={"vmscape": "Vulnerable"}), {"allow_remove_mitigations_off": True},
         "set", IBPB_EXIT, False,
         [BTB_IBPB, "mitigations=off is removed as vmscape_allow_remove_mitigations_off allows", EXPECT_IBPB]),
        (facts(version="6.18.1", release="6.18.1-1-amd64", cmdline="ro mitigations=auto,no_guest_host",
               sysfs={"vmscape": "Vulnerable"}), {"mode": "force"}, "blocked", "Vulnerable", False,
         ["vmscape_mode pinned to force by policy: vmscape=force",
          "attack-vector control no_guest_host gates vmscape=force on this G2 kernel"]),
        (facts(family=6, model=0x97, bhi_ctrl=True, bhb=True, sysfs={"vmscape": BHB_EXIT}), None, "set", BHB_EXIT,
         True,
         ["BHI-only CPU with BHI_CTRL on a G3 kernel: vmscape=on selects BHB clear (~1% cost)",
          f"expect after boot: {BHB_EXIT!r}"]),
        (ibpb_now(family=6, model=0x97, bhi_ctrl=False, bhb=True), None, "set", IBPB_EXIT, True,
         ["CPU does not enumerate BHI_CTRL: BHB clear unavailable; vmscape=ibpb", EXPECT_IBPB]),
        (ibpb_now(family=6, model=0x97, bhi_ctrl=True), None, "set", IBPB_EXIT, True,
         ["BHI-only CPU: BHB clear needs a kernel with the BHB series (G3); this G1 kernel offers IBPB only: "
          "vmscape=ibpb", EXPECT_IBPB]),
        (facts(vendor="AuthenticAMD", family=0x1A, model=2, sysfs={"vmscape": "Not affected"}), None, "set",
         IBPB_EXIT, False,
         ["next-boot kernel 6.1.0-56-amd64 does not list this CPU (the 6.1 branch's list lacks it (facts §4)): "
          "vmscape=force; a newer kernel (6.12+) is the better fix", EXPECT_IBPB]),
    ],
)  # fmt: skip
def test_reasons_of_each_branch(f, policy, action, expected, compliant, tail):
    plan = make_plan(f, policy)
    assert (plan["action"], plan["expected_sysfs"], plan["compliant"]) == (action, expected, compliant)
    assert plan["reasons"][1] == RUNNING_KNOWS.replace("6.1.0-56-amd64", f["kernel"]["release"])
    assert plan["reasons"][2:] == tail
    assert plan["warnings"] == []
    if action in ("blocked", "kernel_upgrade"):
        assert plan["mode"] == "none" and plan["cmdline"] == {} and plan["reboot_required"] is False
    else:
        assert "wanted_mode" not in plan


def test_blocked_plans_keep_the_mode_they_wanted():
    plan = make_plan(ibpb_now(cmdline="ro mitigations=off"))
    assert (plan["mode"], plan["wanted_mode"]) == ("none", "ibpb")
    plan = make_plan(ibpb_now(), {"mode": "bhb"})
    assert plan["mode"] == "none" and "wanted_mode" not in plan  # blocked before a mode was taken


def test_hypervisor_unknown_blocks_and_names_the_missing_line():
    f = ibpb_now()
    f["cpu"].update(flags=None, flags_reason="/proc/cpuinfo: no flags line", hypervisor=None, ibpb=None)
    plan = make_plan(f)
    assert plan["action"] == "blocked" and plan["expected_sysfs"] is None and plan["predicted_current"] is None
    assert plan["reasons"][2:] == [
        "cannot predict the running kernel's string: the running kernel 6.1.0-56-amd64 could print any of "
        "'Mitigation: IBPB before exit to userspace', 'Not affected', 'Vulnerable'; unknown whether this is a "
        "guest: /proc/cpuinfo: no flags line; whether the CPU has IBPB: /proc/cpuinfo: no flags line",
        "cannot tell a guest from bare metal (/proc/cpuinfo: no flags line); not changing anything",
    ]
    assert plan["prediction_matches"] is None


def test_next_boot_of_another_kernel():
    upgrade = make_plan(ibpb_now(boot_release="6.1.0-99-amd64", boot_version="6.1.100", boot_knows=False))
    probe = "probe of 6.1.0-99-amd64: no probe evidence"
    assert upgrade["reasons"][2:] == [
        "next boot changes kernel: 6.1.0-56-amd64 -> 6.1.0-99-amd64",
        f"next-boot kernel 6.1.0-99-amd64 knows VMSCAPE: no (probe: {probe})",
        f"kernel upgrade required: the next-boot kernel has no VMSCAPE mitigation ({probe})",
    ]
    check(upgrade, action="kernel_upgrade", expected_sysfs=None, compliant=False, mode="none")
    f = ibpb_now(boot_release="6.1.0-99-amd64", boot_version="6.1.100")
    f["boot_kernel"]["knows_vmscape"] = None
    unknown = make_plan(f)
    detail = (
        "probe of 6.1.0-99-amd64: nothing answered; no probe evidence; version: upstream 6.1.100 from its image's "
        "bzImage header predates VMSCAPE, which distributions backport"
    )
    assert unknown["reasons"][3:] == [
        f"next-boot kernel 6.1.0-99-amd64 knows VMSCAPE: unknown (unknown: {detail})",
        f"cannot tell whether next-boot kernel 6.1.0-99-amd64 knows VMSCAPE; not changing anything: {detail}",
    ]
    check(unknown, action="blocked", expected_sysfs=None, compliant=False)


def test_a_model_that_disagrees_with_the_kernel_is_a_warning():
    plan = make_plan(facts(sysfs={"vmscape": "Vulnerable"}))
    assert plan["warnings"] == [
        "model disagrees with the running kernel: predicted 'Mitigation: IBPB before exit to userspace', "
        "kernel reports 'Vulnerable'"
    ]
    assert plan["prediction_matches"] is False and plan["reboot_required"] is True
    # without sysfs there is nothing to disagree with
    f = facts()
    f.update(sysfs=None, sysfs_reason="/sys not mounted")
    f["cpu"]["bugs"] = ["vmscape"]
    f["cpu"]["bugs_reason"] = None
    plan = make_plan(f)
    assert plan["warnings"] == [] and plan["observed_current"] is None


def test_running_parameters_unknown():
    f = ibpb_now()
    f["cmdline"].update(tokens=None, reason="/proc/cmdline unreadable")
    plan = make_plan(f)
    assert "cannot predict the running kernel's string: /proc/cmdline unreadable" in plan["reasons"]
    assert (plan["predicted_current"], plan["prediction_matches"]) == (None, None)


def test_only_the_unknowns_that_change_the_string_are_named():
    # facts §3: on a BTB-variant CPU (Skylake) BHI_CTRL plays no part, so its being unknown is not
    # named, while the guest flag and IBPB (both unknown without a flags line) are
    f = ibpb_now(bhi_ctrl=None)
    f["cpu"].update(flags=None, flags_reason="/proc/cpuinfo: no flags line", hypervisor=None, ibpb=None)
    plan = make_plan(f)
    assert plan["reasons"][2] == (
        "cannot predict the running kernel's string: the running kernel 6.1.0-56-amd64 could print any of "
        "'Mitigation: IBPB before exit to userspace', 'Not affected', 'Vulnerable'; unknown whether this is a "
        "guest: /proc/cpuinfo: no flags line; whether the CPU has IBPB: /proc/cpuinfo: no flags line"
    )


def test_a_kernel_that_may_have_no_vmscape_file_says_so():
    # nothing tells whether the running kernel knows VMSCAPE (no sysfs, no bugs line, no probe, no
    # version): it may be a G0 kernel without the file (facts §2)
    f = facts(knows=None)
    f.update(sysfs=None, sysfs_reason="/sys not mounted")
    f["kernel"]["version"] = None
    f["boot_kernel"].update(version=None, knows_vmscape=None)
    reason = make_plan(f)["reasons"][2]
    assert reason.startswith(
        "cannot predict the running kernel's string: the running kernel 6.1.0-56-amd64 could print any of "
        "'(no vmscape file)', 'Mitigation: IBPB before exit to userspace', 'Mitigation: IBPB on VMEXIT', "
        "'Not affected'; unknown which generation the kernel is: "
    )


# --- what the next boot prints when nothing is changed (facts §6.1), and its compliance --------
NOT_AFFECTED = "Not affected"


def test_a_guest_with_unreadable_boot_parameters_says_the_next_boot_is_unknown():
    # facts §3: a guest never gets the bug: nothing to do, but what the next boot prints is unknown
    f = facts(hypervisor=True, sysfs={"vmscape": NOT_AFFECTED})
    reason = "/etc/default/grub: line 3: unterminated quote"
    f["bootloader"].update(configured_cmdline=None, tokens=None, configured_cmdline_reason=reason)
    plan = make_plan(f)
    assert plan["reasons"][0] == SKYLAKE_WHY + " (running as a guest)"
    assert plan["reasons"][2:] == [
        "guest (hypervisor flag): the kernel never sets the bug in a guest; nothing to do",
        f"what the next boot will print is unknown: the next boot's kernel parameters are unknown ({reason})",
    ]
    check(plan, action="none", expected_sysfs=None, compliant=False, reboot_required=False)


def test_a_guest_whose_next_kernel_may_not_know_vmscape():
    f = facts(hypervisor=True, sysfs={"vmscape": NOT_AFFECTED}, boot_release="6.1.0-99-amd64", boot_version="6.1.100")
    f["boot_kernel"]["knows_vmscape"] = None
    detail = (
        "probe of 6.1.0-99-amd64: nothing answered; no probe evidence; version: upstream 6.1.100 from its image's "
        "bzImage header predates VMSCAPE, which distributions backport"
    )
    plan = make_plan(f)
    assert plan["reasons"][-1] == (
        f"what the next boot will print is unknown: whether next-boot kernel 6.1.0-99-amd64 knows VMSCAPE is "
        f"unknown ({detail})"
    )
    check(plan, action="none", expected_sysfs=None, compliant=False)


def test_mode_none_with_unknown_flags_names_what_the_next_boot_could_print():
    f = ibpb_now()
    f["cpu"].update(flags=None, flags_reason="/proc/cpuinfo: no flags line", hypervisor=None, ibpb=None)
    plan = make_plan(f, {"mode": "none"})
    assert plan["reasons"][-2:] == [
        "vmscape_mode is none: the boot configuration is left alone",
        "what the next boot will print is unknown: the next-boot kernel 6.1.0-56-amd64 could print any of "
        "'Mitigation: IBPB before exit to userspace', 'Not affected', 'Vulnerable'; unknown whether this is a "
        "guest: /proc/cpuinfo: no flags line; whether the CPU has IBPB: /proc/cpuinfo: no flags line",
    ]
    check(plan, action="none", expected_sysfs=None, compliant=False)


def test_a_guest_on_a_kernel_without_the_file_is_compliant_as_predicted():
    # facts §2: a G0 kernel has no vmscape file; nothing to do in a guest, and nothing is what it shows
    plan = make_plan(facts(hypervisor=True, knows=False))
    check(plan, action="none", expected_sysfs=None, observed_current=None, compliant=True)
    # a guest whose kernel reports something else than predicted is not compliant
    plan = make_plan(facts(hypervisor=True, sysfs={"vmscape": "Vulnerable"}))
    check(plan, action="none", expected_sysfs=NOT_AFFECTED, observed_current="Vulnerable", compliant=False)


# --- pinned bhb (facts §6.4: BHB clear needs a G3 kernel and BHI_CTRL) ---------------------------
BHB_NOT_HERE = "vmscape_mode bhb needs a G3 kernel and a CPU with BHI_CTRL; not applicable here"


@pytest.mark.parametrize(
    ("bhb", "bhi_ctrl"),
    [(False, True), (True, False)],
    ids=["G1-kernel-with-BHI_CTRL", "G3-kernel-without-BHI_CTRL"],
)
def test_pinned_bhb_needs_both_a_g3_kernel_and_bhi_ctrl(bhb, bhi_ctrl):
    plan = make_plan(ibpb_now(family=6, model=0x97, bhi_ctrl=bhi_ctrl, bhb=bhb), {"mode": "bhb"})
    assert plan["reasons"][2:] == ["vmscape_mode pinned to bhb by policy: vmscape=on", BHB_NOT_HERE]
    # blocked, and the next boot prints what it prints today (G1/G3 default on a listed CPU: IBPB)
    check(plan, action="blocked", expected_sysfs=IBPB_EXIT, mode="none", cmdline={})
    assert "wanted_mode" not in plan  # blocked before a mode was taken


def test_pinned_bhb_on_a_g3_kernel_with_bhi_ctrl_but_no_ibpb_is_set():
    # BHB clear uses no IBPB (facts §3): old microcode does not stop it
    f = facts(family=6, model=0x97, bhi_ctrl=True, ibpb=False, bhb=True, sysfs={"vmscape": "Vulnerable"})
    check(make_plan(f, {"mode": "bhb"}), action="set", expected_sysfs=BHB_EXIT, mode="bhb", cmdline={"vmscape": "on"})


def test_a_pinned_value_that_misses_on_an_unlisted_cpu_says_what_it_would_give():
    # the kernel's list lacks the CPU (cpuinfo bugs without vmscape, bare metal): vmscape=on sets no
    # bug, so the kernel keeps printing "Not affected" (facts §3); the missing IBPB is not the reason
    f = facts(family=6, model=0x97, bhi_ctrl=True, ibpb=False, bhb=True, bugs=[], sysfs={"vmscape": NOT_AFFECTED})
    plan = make_plan(f, {"mode": "bhb"})
    assert plan["reasons"][2:] == [
        "vmscape_mode pinned to bhb by policy: vmscape=on",
        "vmscape=on would give 'Not affected' on this kernel",
    ]
    check(plan, action="blocked", expected_sysfs=NOT_AFFECTED)
    zen5 = facts(vendor="AuthenticAMD", family=0x1A, model=2, sysfs={"vmscape": NOT_AFFECTED})
    plan = make_plan(zen5, {"mode": "ibpb"})
    assert plan["reasons"][-1] == "vmscape=ibpb would give 'Not affected' on this kernel"
    check(plan, action="blocked", expected_sysfs=NOT_AFFECTED)


# --- BHI-only CPUs on backported kernels (facts §2: which generation a backport copies is open) --
def test_bhi_only_cpu_on_a_backport_that_may_carry_the_bhb_series():
    plan = make_plan(ibpb_now(family=6, model=0x97, bhi_ctrl=True, bhb=None, version=None))
    assert plan["reasons"][-2:] == [
        "BHI-only CPU: whether next-boot kernel 6.1.0-56-amd64 carries the BHB series is unknown: vmscape=ibpb",
        EXPECT_IBPB,
    ]
    assert plan["kernels"]["next_boot"]["generation"] == "G1|G2|G3"


def test_bhi_only_cpu_on_a_backport_without_the_bhb_series():
    plan = make_plan(ibpb_now(family=6, model=0x97, bhi_ctrl=True, bhb=False, version=None))
    assert plan["reasons"][-2:] == [
        "BHI-only CPU: BHB clear needs a kernel with the BHB series (G3); this G1|G2 kernel offers IBPB only: "
        "vmscape=ibpb",
        EXPECT_IBPB,
    ]


def test_a_cpu_list_nobody_could_read_gives_force():
    # facts §3: force sets the bug whether or not the list has the CPU
    plan = make_plan(facts(vendor="AuthenticAMD", family=0x1A, model=2, version=None, sysfs={"vmscape": NOT_AFFECTED}))
    assert plan["reasons"][-2:] == [
        "whether next-boot kernel 6.1.0-56-amd64 lists this CPU is unknown (cpuinfo bugs: /proc/cpuinfo: boot CPU "
        "has no 'bugs' line; no facts §4 list for upstream version unknown): vmscape=force mitigates either way",
        EXPECT_IBPB,
    ]
    check(plan, action="set", mode="force", cmdline={"vmscape": "force"}, expected_sysfs=IBPB_EXIT)


def test_every_image_problem_is_named():
    f = ibpb_now()
    problems = ["/boot/vmlinuz-6.1.0-56-amd64: truncated", "/lib/modules/6.1.0-56-amd64 missing"]
    f["boot_kernel"]["image_check"] = {"ok": False, "problems": problems, "size": 10, "modules_dir": None}
    plan = make_plan(f)
    assert plan["reasons"][-1] == "never rebooting into 6.1.0-56-amd64: " + "; ".join(problems)
    check(plan, action="blocked", expected_sysfs=None)


def test_unknown_retbleed_and_srso_leave_the_value_open():
    # without sysfs nobody knows whether retbleed/SRSO use IBPB, which turns the string into
    # "IBPB on VMEXIT" (facts §3): the plan names the kernel and what it could print
    f = facts()
    f.update(sysfs=None, sysfs_reason="/sys not mounted")
    plan = make_plan(f)
    assert plan["reasons"][-1] == (
        "vmscape=ibpb: the next-boot kernel 6.1.0-56-amd64 could print any of 'Mitigation: IBPB before exit to "
        "userspace', 'Mitigation: IBPB on VMEXIT'; unknown whether retbleed/SRSO use IBPB: sysfs: /sys not mounted"
    )
    check(plan, action="blocked")


def test_mitigations_off_on_a_backport_of_unknown_generation_blocks_and_keeps_the_prediction():
    # facts §2/§3: mitigations=off defeats vmscape= on G1 but not on G2; a backport of unknown
    # generation could do either, while today it prints "Vulnerable" whatever its generation
    plan = make_plan(facts(version=None, cmdline="ro mitigations=off", sysfs={"vmscape": "Vulnerable"}))
    assert plan["reasons"][-1] == (
        "vmscape=ibpb: the next-boot kernel 6.1.0-56-amd64 could print any of 'Mitigation: IBPB before exit to "
        "userspace', 'Vulnerable'; unknown which generation the kernel is: VMSCAPE here is a distribution backport "
        "(upstream version unknown): which of G1, G2 it behaves like (facts §2) is not known"
    )
    check(plan, action="blocked", expected_sysfs="Vulnerable", compliant=False)
