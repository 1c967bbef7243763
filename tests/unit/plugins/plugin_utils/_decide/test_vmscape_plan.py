"""make_plan: every rule of facts §6, the policy allow-list and bad facts."""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import (
    BHB_EXIT,
    IBPB_EXIT,
    IBPB_VMEXIT,
    NOT_AFFECTED,
    VULNERABLE,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import PlanError, make_plan
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.policy import PolicyError

AMD = "AuthenticAMD"


def reasons(plan):
    return " | ".join(plan["reasons"])


def test_skylake_on_61_gets_ibpb_and_no_reboot_when_already_mitigated():
    plan = make_plan(facts(sysfs={"vmscape": IBPB_EXIT + "\n"}))
    assert plan["action"] == "set" and plan["mode"] == "ibpb"
    assert plan["cmdline"] == {"vmscape": "ibpb"}
    assert plan["expected_sysfs"] == IBPB_EXIT
    assert plan["predicted_current"] == IBPB_EXIT
    assert plan["observed_current"] == IBPB_EXIT
    assert plan["prediction_matches"] is True
    assert plan["compliant"] is True and plan["reboot_required"] is False
    assert plan["config_in_place"] is False


def test_vmscape_off_host_needs_reboot():
    f = facts(cmdline="root=/dev/vda1 ro vmscape=off", sysfs={"vmscape": VULNERABLE})
    plan = make_plan(f)
    assert plan["predicted_current"] == VULNERABLE
    assert plan["cmdline"] == {"vmscape": "ibpb"}
    assert plan["next_boot_cmdline"] == "root=/dev/vda1 ro vmscape=ibpb"
    assert plan["reboot_required"] is True and plan["compliant"] is False


def test_config_in_place_after_configuration_but_before_reboot():
    f = facts(cmdline="ro vmscape=off", boot_cmdline="ro vmscape=ibpb", sysfs={"vmscape": VULNERABLE})
    plan = make_plan(f)
    assert plan["config_in_place"] is True
    assert plan["reboot_required"] is True


def test_alder_lake_bhi_ctrl_on_g1_kernel_gets_ibpb_with_reason():
    plan = make_plan(facts(model=0x97, bhi_ctrl=True, sysfs={"vmscape": IBPB_EXIT}))
    assert plan["mode"] == "ibpb" and plan["cmdline"] == {"vmscape": "ibpb"}
    assert "BHB clear needs a kernel with the BHB series" in reasons(plan)
    assert plan["cpu_class"] == "bhi"


def test_alder_lake_bhi_ctrl_on_g3_kernel_gets_bhb():
    plan = make_plan(facts(model=0x97, bhi_ctrl=True, bhb=True, version="7.4.1"))
    assert plan["mode"] == "bhb" and plan["cmdline"] == {"vmscape": "on"}
    assert plan["expected_sysfs"] == BHB_EXIT
    assert plan["kernels"]["next_boot"]["generation"] == "G3"


@pytest.mark.parametrize("bhi_ctrl", [False, None])
def test_alder_lake_without_readable_bhi_ctrl_on_g3_gets_ibpb(bhi_ctrl):
    plan = make_plan(facts(model=0x97, bhi_ctrl=bhi_ctrl, bhb=True, version="7.4.1"))
    assert plan["mode"] == "ibpb" and plan["expected_sysfs"] == IBPB_EXIT


def test_btb_cpu_on_g3_kernel_stays_ibpb():
    plan = make_plan(facts(model=0x55, bhb=True, version="7.4.1"))
    assert plan["cmdline"] == {"vmscape": "ibpb"}


def test_zen5_on_61_is_forced_with_upgrade_advice():
    f = facts(vendor=AMD, family=0x1A, model=0x02, sysfs={"vmscape": NOT_AFFECTED})
    plan = make_plan(f)
    assert plan["predicted_current"] == NOT_AFFECTED
    assert plan["mode"] == "force" and plan["cmdline"] == {"vmscape": "force"}
    assert plan["expected_sysfs"] == IBPB_EXIT
    assert "newer kernel" in reasons(plan)
    assert plan["reboot_required"] is True


def test_zen5_on_612_gets_ibpb():
    plan = make_plan(facts(vendor=AMD, family=0x1A, model=0x02, version="6.12.117"))
    assert plan["mode"] == "ibpb"


def test_stale_list_on_g2_with_attack_vector_off_is_blocked():
    f = facts(vendor=AMD, family=0x1A, version="6.6.110", cmdline="ro mitigations=auto,no_guest_host")
    # 6.6 is G1: attack vectors not consulted, force works.
    assert make_plan(f)["action"] == "set"


def test_mitigations_off_on_g1_is_reported_not_changed():
    f = facts(cmdline="ro mitigations=off", sysfs={"vmscape": VULNERABLE})
    plan = make_plan(f)
    assert plan["action"] == "blocked" and plan["cmdline"] == {} and plan["mode"] == "none"
    assert plan["wanted_mode"] == "ibpb"
    assert plan["expected_sysfs"] == VULNERABLE
    assert "mitigations=off" in reasons(plan)
    assert plan["compliant"] is False and plan["reboot_required"] is False


def test_mitigations_off_removed_only_when_allowed():
    f = facts(cmdline="ro mitigations=off", sysfs={"vmscape": VULNERABLE})
    plan = make_plan(f, {"allow_remove_mitigations_off": True})
    assert plan["action"] == "set"
    assert plan["cmdline"] == {"vmscape": "ibpb"} and plan["cmdline_remove"] == ["mitigations"]
    assert plan["expected_sysfs"] == IBPB_EXIT


def test_mitigations_off_on_g2_explicit_ibpb_still_mitigates():
    f = facts(version="7.3.4", release="7.3.4+deb13-amd64", cmdline="ro mitigations=off")
    plan = make_plan(f)
    assert plan["action"] == "set" and plan["cmdline_remove"] == []
    assert plan["predicted_current"] == VULNERABLE and plan["expected_sysfs"] == IBPB_EXIT


def test_guest_does_nothing():
    plan = make_plan(facts(hypervisor=True, sysfs={"vmscape": NOT_AFFECTED}))
    assert plan["action"] == "none" and plan["cmdline"] == {}
    assert plan["expected_sysfs"] == NOT_AFFECTED and plan["compliant"] is True
    assert plan["cpu_class"] == "guest"


def test_unaffected_cpu_does_nothing():
    plan = make_plan(facts(model=0x6A, sysfs={"vmscape": NOT_AFFECTED}))
    assert plan["action"] == "none" and plan["compliant"] is True


def test_unknown_cpu_is_blocked_until_pinned():
    plan = make_plan(facts(model=0xC0))
    assert plan["action"] == "blocked" and "unknown CPU" in reasons(plan)
    pinned = make_plan(facts(model=0xC0), {"mode": "force"})
    assert pinned["action"] == "set" and pinned["cmdline"] == {"vmscape": "force"}


def test_kernel_without_vmscape_needs_upgrade():
    f = facts(version="6.16.3", release="6.16.3+deb13-amd64", knows=False)
    plan = make_plan(f)
    assert plan["action"] == "kernel_upgrade" and plan["expected_sysfs"] is None
    assert plan["predicted_current"] is None and plan["prediction_matches"] is True


def test_installed_newer_kernel_boots_next():
    f = facts(
        version="6.16.3",
        release="6.16.3+deb13-amd64",
        knows=False,
        boot_release="6.12.117+deb12-amd64",
        boot_version="6.12.117",
        boot_knows=True,
    )
    plan = make_plan(f)
    assert plan["action"] == "set" and plan["reboot_required"] is True
    assert plan["predicted_current"] is None
    assert "next boot changes kernel" in reasons(plan)


def test_distribution_backport_detected_by_probe():
    # An Ubuntu-style 5.4 kernel that knows VMSCAPE although 5.4 has no stable backport (facts §2):
    # which upstream behaviour the backport copied (G1 or G2) is unknown, and no facts §4 list
    # covers it: the running kernel's bugs line tells whether it lists the CPU.
    f = facts(version="5.4.300", release="5.4.0-300-generic", bugs=["spectre_v2", "vmscape"])
    plan = make_plan(f)
    assert plan["kernels"]["running"]["generation"] == "G1|G2"
    assert plan["kernels"]["running"]["lists_cpu"] is True
    assert plan["evidence"]["next_boot_lists_cpu"]["source"] == "cpuinfo_bugs"
    # vmscape=ibpb gives the same string on G1 and G2 with this cmdline: the plan can commit
    assert plan["mode"] == "ibpb" and plan["expected_sysfs"] == IBPB_EXIT
    not_listed = make_plan(facts(version="5.4.300", release="5.4.0-300-generic", bugs=["spectre_v2"]))
    assert not_listed["mode"] == "force"


def test_retbleed_ibpb_gives_ibpb_on_vmexit():
    sysfs = {"retbleed": "Mitigation: IBPB; SMT vulnerable", "vmscape": IBPB_VMEXIT}
    plan = make_plan(facts(vendor=AMD, family=0x17, model=0x31, cmdline="ro retbleed=ibpb", sysfs=sysfs))
    assert plan["predicted_current"] == IBPB_VMEXIT and plan["expected_sysfs"] == IBPB_VMEXIT
    assert plan["compliant"] is True


def test_no_ibpb_is_blocked_with_microcode_reason():
    plan = make_plan(facts(ibpb=False))
    assert plan["action"] == "blocked" and "microcode" in reasons(plan)


def test_model_disagreement_is_reported():
    plan = make_plan(facts(sysfs={"vmscape": VULNERABLE}))
    assert plan["prediction_matches"] is False
    assert plan["warnings"] and "disagrees" in plan["warnings"][0]


def test_existing_vmscape_tokens_are_replaced_by_exactly_one():
    f = facts(cmdline="ro vmscape=force quiet vmscape=on")
    plan = make_plan(f)
    assert plan["next_boot_cmdline"] == "ro quiet vmscape=ibpb"


@pytest.mark.parametrize(
    ("mode", "value"),
    [("ibpb", "ibpb"), ("force", "force"), ("off", "off")],
)
def test_pinned_modes(mode, value):
    plan = make_plan(facts(), {"mode": mode})
    assert plan["cmdline"] == {"vmscape": value} and plan["mode"] == mode


def test_pinned_off_expects_vulnerable():
    assert make_plan(facts(), {"mode": "off"})["expected_sysfs"] == VULNERABLE


def test_pinned_none_changes_nothing():
    plan = make_plan(facts(cmdline="ro vmscape=off", sysfs={"vmscape": VULNERABLE}), {"mode": "none"})
    assert plan["action"] == "none" and plan["cmdline"] == {}
    assert plan["compliant"] is True  # the host shows what its configuration gives


def test_pinned_bhb_without_g3_is_blocked():
    plan = make_plan(facts(model=0x97, bhi_ctrl=True), {"mode": "bhb"})
    assert plan["action"] == "blocked"


@pytest.mark.parametrize(
    "policy",
    [
        {"mode": "ibpb; reboot"},
        {"mode": "$(id)"},
        {"mode": "bhb\n"},
        {"mode": 3},
        {"mode": "IBPB"},
        {"allow_remove_mitigations_off": "yes"},
        {"surprise": True},
        ["ibpb"],
    ],
)
def test_policy_outside_allow_list_is_a_clear_error(policy):
    with pytest.raises(PolicyError) as err:
        make_plan(facts(), policy)
    assert "vmscape_mode" in str(err.value) or "policy" in str(err.value) or "allow_remove" in str(err.value)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("cpu.family", "6", "facts.cpu.family: expected int"),
        ("cpu.model", "0x55", "facts.cpu.model: expected int or null"),
        ("cpu.hypervisor", "no", "facts.cpu.hypervisor: expected bool"),
        ("cmdline.tokens", "ro quiet", "facts.cmdline.tokens: expected list"),
    ],
)
def test_bad_facts_name_the_field(path, value, message):
    f = facts()
    section, key = path.split(".")
    f[section][key] = value
    with pytest.raises(PlanError, match=message.replace(".", r"\.")):
        make_plan(f)


def test_missing_section_is_named():
    f = facts()
    del f["cpu"]
    with pytest.raises(
        PlanError, match=r"^facts\.cpu: missing \(is this the output of fleetsec\.vmscape\.vmscape_facts\?\)"
    ):
        make_plan(f)


def test_bool_is_not_an_int():
    f = facts()
    f["cpu"]["family"] = True
    with pytest.raises(PlanError, match=r"facts\.cpu\.family"):
        make_plan(f)


def test_plan_does_not_modify_facts():
    f = facts(cmdline="ro mitigations=off")
    before = copy.deepcopy(f)
    make_plan(f, {"allow_remove_mitigations_off": True})
    assert f == before


_CPUS = [
    ("GenuineIntel", 6, 0x55),
    ("GenuineIntel", 6, 0x97),
    ("GenuineIntel", 6, 0xAF),
    ("GenuineIntel", 6, 0x6A),
    ("AuthenticAMD", 0x1A, 0x02),
    ("AuthenticAMD", 0x19, 0x01),
    ("HygonGenuine", 0x18, 0x00),
]
_VERSIONS = ["5.10.250", "5.15.200", "6.1.192", "6.6.110", "6.12.117", "6.16.3", "6.17.8", "7.3.4"]
_CMDS = ["", "vmscape=off", "mitigations=off", "mitigations=auto,no_guest_host", "vmscape=force", "retbleed=ibpb"]


@settings(deadline=None)  # a plan takes ~1 ms; the first example pays the imports
@given(
    cpu=st.sampled_from(_CPUS),
    version=st.sampled_from(_VERSIONS),
    cmd=st.lists(st.sampled_from(_CMDS), max_size=3),
    hyp=st.booleans(),
    ibpb=st.booleans(),
    bhi=st.sampled_from([True, False, None]),
    bhb=st.booleans(),
    allow=st.booleans(),
)
def test_plan_invariants(cpu, version, cmd, hyp, ibpb, bhi, bhb, allow):
    from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import (
        G0,
        generation_from_version,
        parse_version,
    )

    knows = generation_from_version(parse_version(version)) != G0
    f = facts(
        vendor=cpu[0], family=cpu[1], model=cpu[2], version=version, cmdline=" ".join(cmd),
        hypervisor=hyp, ibpb=ibpb, bhi_ctrl=bhi, bhb=bhb and knows, knows=knows,
    )  # fmt: skip
    plan = make_plan(f, {"allow_remove_mitigations_off": allow})
    assert plan["action"] in ("none", "set", "kernel_upgrade", "blocked")
    assert set(plan["cmdline"]) <= {"vmscape"}
    assert set(plan["cmdline"].values()) <= {"on", "ibpb", "force"}
    assert set(plan["cmdline_remove"]) <= ({"mitigations"} if allow else set())
    if plan["action"] == "set":
        assert plan["expected_sysfs"] in (IBPB_EXIT, IBPB_VMEXIT, BHB_EXIT)
        assert plan["next_boot_cmdline"].split().count("vmscape=" + plan["cmdline"]["vmscape"]) == 1
    else:
        assert plan["cmdline"] == {}
    if hyp:
        assert plan["action"] == "none"
    if plan["expected_sysfs"] == BHB_EXIT:
        assert bhi is True and bhb
    assert plan["reboot_required"] == (plan["action"] == "set" and not plan["compliant"])
