"""make_plan, whole plans and every reading of the facts (found by `make mutation`).

Decisions (action, mode, values, expected strings) come from ../shared/vmscape-facts.md; the
reason texts are the plan's documented explanations, pinned so that a changed branch shows.
Each test names the facts rule it follows.
"""

import copy

import pytest
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._vmscape_kernel_table import (
    IBPB_EXIT,
    IBPB_VMEXIT,
    NOT_AFFECTED,
    VULNERABLE,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._vmscape_plan import PlanError, make_plan
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._vmscape_policy import Policy

SKYLAKE_WHY = "Intel family 0x6 model 0x55: Sandy Bridge..Comet Lake generation, BTB variant"
BTB_IBPB = "CPU affected by the BTB variant: vmscape=ibpb"
EXPECT_IBPB = f"expect after boot: {IBPB_EXIT!r}"
G1_VIEW = {"release": "6.1.0-56-amd64", "version": "6.1.192", "generation": "G1", "lists_cpu": True}


def check(plan, **want):
    for key, value in want.items():
        assert plan[key] == value, key


def test_skylake_with_vmscape_off_whole_plan():
    # facts §2 G1, §3, §6.4: BTB CPU on 6.1.192 with vmscape=off: Vulnerable now, ibpb next
    plan = make_plan(
        facts(cmdline="BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro vmscape=off", sysfs={"vmscape": VULNERABLE})
    )
    check(
        plan,
        action="set",
        mode="ibpb",
        cmdline={"vmscape": "ibpb"},
        cmdline_remove=[],
        expected_sysfs=IBPB_EXIT,
        predicted_current=VULNERABLE,
        observed_current=VULNERABLE,
        prediction_matches=True,
        reboot_required=True,
        compliant=False,
        config_in_place=False,
        next_boot_cmdline="root=/dev/vda1 ro vmscape=ibpb",
        reasons=[SKYLAKE_WHY, BTB_IBPB, EXPECT_IBPB],
        warnings=[],
        cpu_class="btb",
        cpu={
            "vendor": "GenuineIntel",
            "family": 6,
            "model": 85,
            "stepping": 4,
            "id": "0x6/0x55/4",
            "model_name": "test",
            "microcode": "0x1",
            "bhi_ctrl": False,
            "ibpb": True,
            "hypervisor": False,
        },
        kernels={"running": G1_VIEW, "next_boot": G1_VIEW},
        policy={"mode": "auto", "allow_remove_mitigations_off": False},
    )
    assert "wanted_mode" not in plan


def test_cpu_summary_without_a_stepping_or_the_cpu_details():
    f = facts()
    f["cpu"]["stepping"] = None
    del f["cpu"]["model_name"], f["cpu"]["microcode"]
    cpu = make_plan(f)["cpu"]
    assert (cpu["stepping"], cpu["id"], cpu["model_name"], cpu["microcode"]) == (None, "0x6/0x55", None, None)


def test_guest_whole_plan():
    # facts §3/§6.1: the hypervisor bit: the kernel never sets the bug; nothing to do
    plan = make_plan(facts(hypervisor=True, sysfs={"vmscape": NOT_AFFECTED}))
    check(
        plan,
        action="none",
        mode="none",
        cmdline={},
        expected_sysfs=NOT_AFFECTED,
        predicted_current=NOT_AFFECTED,
        compliant=True,
        reboot_required=False,
        config_in_place=None,
        cpu_class="guest",
        reasons=[
            SKYLAKE_WHY + " (running as a guest)",
            "guest (hypervisor flag): the kernel never sets the bug in a guest; nothing to do",
        ],
    )
    assert plan["cpu"]["hypervisor"] is True


def test_distribution_backport_reasons():
    # facts §4: distributions backport on their own schedule; a probe that found VMSCAPE on a
    # 5.4 kernel means G1 behaviour, and cpuinfo's bugs line says whether it lists the CPU
    f = facts(version="5.4.300", release="5.4.0-300-generic", bugs=["vmscape"], sysfs={"vmscape": IBPB_EXIT})
    plan = make_plan(f)
    view = {"release": "5.4.0-300-generic", "version": "5.4.300", "generation": "G1", "lists_cpu": True}
    check(plan, action="set", mode="ibpb", kernels={"running": view, "next_boot": view})
    backport = "the probe found VMSCAPE support that the upstream version predates; assuming a distribution backport with G1 behaviour"  # noqa: E501
    assert plan["reasons"] == [
        SKYLAKE_WHY,
        f"running kernel 5.4.0-300-generic (upstream 5.4.300): {backport}",
        f"next-boot kernel 5.4.0-300-generic (upstream 5.4.300): {backport}",
        "running kernel's CPU list is not in the facts document; cpuinfo bugs lists vmscape",
        "next-boot kernel's CPU list is not in the facts document; cpuinfo bugs lists vmscape",
        BTB_IBPB,
        EXPECT_IBPB,
    ]
    unlisted = make_plan(facts(version="5.4.300", release="5.4.0-300-generic", bugs=["spectre_v2"]))
    assert (
        "running kernel's CPU list is not in the facts document; cpuinfo bugs does not list vmscape"
        in (unlisted["reasons"])
    )
    assert unlisted["mode"] == "force" and unlisted["kernels"]["next_boot"]["lists_cpu"] is False


def test_unknown_upstream_version_with_a_probe_that_found_support():
    f = facts(version=None, release="5.14.0-custom", bugs=["vmscape"])
    plan = make_plan(f)
    assert (
        "running kernel 5.14.0-custom: the probe found VMSCAPE support that the upstream version is unknown for; "
        "assuming a distribution backport with G1 behaviour"
    ) in plan["reasons"]
    assert plan["kernels"]["running"] == {
        "release": "5.14.0-custom",
        "version": None,
        "generation": "G1",
        "lists_cpu": True,
    }


def test_force_on_the_cmdline_or_a_guest_make_the_bugs_line_useless():
    # vmscape=force sets the bug whatever the list says (facts §3): the bugs line proves nothing
    forced = make_plan(
        facts(version="5.4.300", release="5.4.0-300-generic", bugs=["vmscape"], cmdline="ro vmscape=force")
    )
    assert not any("cpuinfo bugs" in r for r in forced["reasons"])
    assert forced["kernels"]["running"]["lists_cpu"] is None
    other = make_plan(facts(version="5.4.300", release="5.4.0-300-generic", bugs=["vmscape"], cmdline="ro vmscape=off"))
    assert any("cpuinfo bugs lists vmscape" in r for r in other["reasons"])
    guest = make_plan(facts(version="5.4.300", release="5.4.0-300-generic", bugs=["vmscape"], hypervisor=True))
    assert not any("cpuinfo bugs" in r for r in guest["reasons"])


def test_support_not_probed_uses_the_version_and_says_so():
    f = facts(version="6.12.117", release="6.12.117-amd64")
    f["boot_kernel"]["knows_vmscape"] = None
    f["boot_kernel"]["bhb_series"] = None
    f["sysfs"] = {}
    plan = make_plan(f)
    not_probed = "(upstream 6.12.117): support not probed; generation G1 from the upstream version"
    assert plan["reasons"][:3] == [
        SKYLAKE_WHY,
        f"running kernel 6.12.117-amd64 {not_probed}",
        f"next-boot kernel 6.12.117-amd64 {not_probed}",
    ]
    assert plan["kernels"]["running"]["generation"] == "G1"


def test_running_kernel_knowledge_from_the_sysfs_file_when_not_probed():
    # the presence of the vmscape file tells that the running kernel knows VMSCAPE
    f = facts(version=None, release="5.14.0-custom", sysfs={"vmscape": IBPB_EXIT}, bugs=["vmscape"])
    f["boot_kernel"]["knows_vmscape"] = None
    plan = make_plan(f)
    assert plan["kernels"]["running"]["generation"] == "G1"
    assert plan["predicted_current"] == IBPB_EXIT
    # other sysfs files but no vmscape file: this kernel does not know it
    f = facts(version=None, release="5.14.0-custom", sysfs={"retbleed": "Mitigation: IBRS"})
    f["boot_kernel"]["knows_vmscape"] = None
    plan = make_plan(f)
    assert plan["kernels"]["running"]["generation"] == "G0" and plan["predicted_current"] is None
    assert (
        "running kernel 5.14.0-custom does not know VMSCAPE (no vmscape= parameter, no sysfs file)" in plan["reasons"]
    )
    # nothing at all: the plan cannot tell, and blocks
    f = facts(version=None, release="5.14.0-custom", sysfs={})
    f["boot_kernel"]["knows_vmscape"] = None
    plan = make_plan(f)
    assert plan["kernels"]["running"]["generation"] is None and plan["action"] == "blocked"
    assert (
        "running kernel 5.14.0-custom: neither the probe nor the version tells whether it knows VMSCAPE"
        in (plan["reasons"])
    )


def test_a_g3_next_boot_kernel_is_named_in_the_reasons():
    plan = make_plan(facts(model=0x97, bhi_ctrl=True, bhb=True, version="7.4.1", release="7.4.1-amd64"))
    assert (
        "running kernel 7.4.1-amd64 (upstream 7.4.1) carries the BHB series (G3: vmscape=auto/on select BHB clear)"
        in (plan["reasons"])
    )


def test_next_boot_kernel_differs():
    f = facts(release="6.1.0-56-amd64", boot_release="6.12.117-amd64", boot_version="6.12.117")
    plan = make_plan(f)
    # the probe looked at the next-boot kernel: the running one's support comes from its version
    assert plan["reasons"][:4] == [
        SKYLAKE_WHY,
        "running kernel 6.1.0-56-amd64 (upstream 6.1.192): support not probed; generation G1 from the upstream version",
        "next boot changes kernel: 6.1.0-56-amd64 -> 6.12.117-amd64",
        BTB_IBPB,
    ]
    assert plan["kernels"]["next_boot"] == {
        "release": "6.12.117-amd64",
        "version": "6.12.117",
        "generation": "G1",
        "lists_cpu": True,
    }


def test_same_release_counts_as_the_running_kernel_even_if_is_running_says_false():
    f = facts()
    f["boot_kernel"]["is_running"] = False
    plan = make_plan(f)
    assert not any("next boot changes kernel" in r for r in plan["reasons"])
    # is_running true with another release string (a symlinked /boot/vmlinuz): the same kernel
    f = facts(boot_release="6.1.0-56-amd64-link")
    f["boot_kernel"]["is_running"] = True
    assert not any("next boot changes kernel" in r for r in make_plan(f)["reasons"])


def test_unknown_next_boot_kernel_assumes_the_running_one():
    f = facts()
    f["boot_kernel"]["release"] = None
    plan = make_plan(f)
    assert plan["reasons"][1] == "next-boot kernel unknown; assuming the running kernel boots again"
    assert plan["kernels"]["next_boot"] == plan["kernels"]["running"] == G1_VIEW


def test_srso_ibpb_on_vmexit_alone_gives_ibpb_on_vmexit():
    # facts §3: SRSO using IBPB-on-VMEXIT overrides the choice (seen on Zen 3, docs/testing.md)
    sysfs = {"spec_rstack_overflow": "Mitigation: IBPB on VMEXIT only", "vmscape": IBPB_VMEXIT}
    plan = make_plan(facts(vendor="AuthenticAMD", family=0x19, model=0x01, sysfs=sysfs))
    assert plan["expected_sysfs"] == IBPB_VMEXIT and plan["compliant"] is True
    assert "retbleed or SRSO already uses IBPB: the kernel reports IBPB on VMEXIT (facts §3)" in plan["reasons"]


def test_without_the_boot_configuration_the_running_cmdline_is_used_minus_boot_image():
    f = facts(cmdline="BOOT_IMAGE=/boot/vmlinuz-6.1 BOOT-IMAGE=/x root=/dev/vda1 ro vmscape=off")
    del f["bootloader"]["tokens"]
    plan = make_plan(f)
    assert "next-boot cmdline not readable from the boot configuration; using the running cmdline" in plan["reasons"]
    # BOOT-IMAGE is BOOT_IMAGE for the kernel (dashes equal underscores in names)
    assert plan["next_boot_cmdline"] == "root=/dev/vda1 ro vmscape=ibpb"


def test_minimal_facts_are_enough():
    minimal = {
        "cpu": {"family": 6, "model": 0x55, "hypervisor": False, "ibpb": True},
        "cmdline": {"tokens": [{"name": "ro", "value": None}]},
    }
    plan = make_plan(minimal)
    # no vendor: unknown CPU, no kernel facts at all: blocked, nothing predicted
    assert plan["action"] == "blocked" and plan["cpu_class"] == "unknown"
    assert plan["cpu"]["vendor"] is None and plan["kernels"]["running"]["release"] is None
    assert plan["reasons"][:2] == [
        "vendor None family 0x6 model 0x55: not covered by the facts document",
        "next-boot kernel unknown; assuming the running kernel boots again",
    ]
    nulls = copy.deepcopy(minimal)
    nulls["cpu"].update(vendor="GenuineIntel", bhi_ctrl=None, bugs=None)
    nulls.update(sysfs=None, bootloader={"tokens": None}, kernel={"release": None, "version": None})
    nulls["boot_kernel"] = {"release": None, "is_running": None, "knows_vmscape": None, "bhb_series": None}
    assert make_plan(nulls)["action"] == "blocked"


def test_optional_fields_are_still_type_checked():
    for path, value, message in [
        ("cpu.bhi_ctrl", "yes", "facts.cpu.bhi_ctrl: expected bool, got 'yes'"),
        ("kernel.release", 6, "facts.kernel.release: expected str, got 6"),
        ("sysfs", ["vmscape"], "facts.sysfs: expected Mapping, got ['vmscape']"),
        ("boot_kernel.is_running", 1, "facts.boot_kernel.is_running: expected bool, got 1"),
        ("cpu.ibpb", 1, "facts.cpu.ibpb: expected bool, got 1"),
        ("cpu.family", True, "facts.cpu.family: expected int, got True"),
    ]:
        f = facts()
        section, key = path.split(".") if "." in path else (path, None)
        if key is None:
            f[section] = value
        else:
            f[section][key] = value
        with pytest.raises(PlanError) as err:
            make_plan(f)
        assert str(err.value) == message


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


def test_facts_must_be_a_mapping():
    with pytest.raises(PlanError) as err:
        make_plan(["cpu"])
    assert str(err.value) == "facts: expected a mapping (ansible_facts.vmscape), got list"
    with pytest.raises(
        PlanError, match=r"^facts\.cpu\.family: missing \(is this the output of fleetsec\.vmscape\.vmscape_facts\?\)$"
    ):
        make_plan({})


def test_a_policy_object_is_taken_as_it_is():
    plan = make_plan(facts(), Policy(mode="force", allow_remove_mitigations_off=True))
    assert plan["cmdline"] == {"vmscape": "force"}
    assert plan["policy"] == {"mode": "force", "allow_remove_mitigations_off": True}
