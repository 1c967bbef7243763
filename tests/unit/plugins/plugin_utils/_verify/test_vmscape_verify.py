"""Post-boot verification against the plan made before the reboot."""

from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._verify.verify import verify

IBPB = "Mitigation: IBPB before exit to userspace"
PLAN = {"action": "set", "cmdline": {"vmscape": "ibpb"}, "cmdline_remove": [], "expected_sysfs": IBPB}


def test_rebooted_host_passes_when_sysfs_and_cmdline_match():
    f = facts(cmdline="ro vmscape=ibpb", sysfs={"vmscape": IBPB + "\n"})
    out = verify(dict(PLAN, reboot_required=True), f, rebooted=True)
    assert out["status"] == "pass" and out["reasons"] == []


def test_rebooted_host_fails_on_wrong_sysfs():
    f = facts(cmdline="ro vmscape=ibpb", sysfs={"vmscape": "Vulnerable"})
    out = verify(dict(PLAN, reboot_required=True), f, rebooted=True)
    assert out["status"] == "fail"
    assert "reports 'Vulnerable', expected" in out["reasons"][0]


def test_rebooted_host_fails_when_cmdline_lacks_or_duplicates_the_param():
    f = facts(cmdline="ro", sysfs={"vmscape": IBPB})
    assert verify(dict(PLAN, reboot_required=True), f, rebooted=True)["status"] == "fail"
    f = facts(cmdline="ro vmscape=ibpb vmscape=ibpb", sysfs={"vmscape": IBPB})
    out = verify(dict(PLAN, reboot_required=True), f, rebooted=True)
    assert out["status"] == "fail" and "exactly vmscape=ibpb" in out["reasons"][0]


def test_removed_param_must_be_gone():
    plan = dict(PLAN, cmdline_remove=["mitigations"], reboot_required=True)
    f = facts(cmdline="ro mitigations=off vmscape=ibpb", sysfs={"vmscape": IBPB})
    assert verify(plan, f, rebooted=True)["status"] == "fail"


def test_not_rebooted_is_pending_or_pass():
    f = facts(cmdline="ro vmscape=off", sysfs={"vmscape": "Vulnerable"})
    assert verify(dict(PLAN, reboot_required=True), f, rebooted=False)["status"] == "pending"
    f = facts(cmdline="ro", sysfs={"vmscape": IBPB})
    out = verify(dict(PLAN, reboot_required=False), f, rebooted=False)
    assert out["status"] == "pass" and "next boot" in out["reasons"][0]


def test_blocked_and_upgrade_are_reported_not_failed():
    f = facts(sysfs={"vmscape": "Vulnerable"})
    blocked = {"action": "blocked", "expected_sysfs": "Vulnerable", "reasons": ["mitigations=off defeats it"]}
    assert verify(blocked, f, rebooted=False)["status"] == "blocked"
    upgrade = {"action": "kernel_upgrade", "expected_sysfs": None}
    assert verify(upgrade, facts(sysfs={}), rebooted=False)["status"] == "kernel_upgrade"


def test_drift_on_a_host_with_nothing_to_do_fails():
    f = facts(hypervisor=True, sysfs={"vmscape": IBPB})
    out = verify({"action": "none", "expected_sysfs": "Not affected"}, f, rebooted=False)
    assert out["status"] == "fail"


UPGRADED = dict(
    PLAN,
    reboot_required=True,
    upgrade={"status": "installed", "kernel_before": "6.16.3+deb13-amd64", "kernel_after": "7.3.4+deb13-amd64"},
)


def test_after_an_upgrade_the_new_kernel_must_be_running():
    ok = facts(release="7.3.4+deb13-amd64", version="7.3.4", cmdline="ro vmscape=ibpb", sysfs={"vmscape": IBPB})
    out = verify(UPGRADED, ok, rebooted=True)
    assert (out["status"], out["kernel"]) == ("pass", "7.3.4+deb13-amd64")
    fell_back = facts(
        release="6.16.3+deb13-amd64", version="6.16.3", cmdline="ro vmscape=ibpb", sysfs={"vmscape": IBPB}
    )
    out = verify(UPGRADED, fell_back, rebooted=True)
    assert out["status"] == "fail"
    assert out["reasons"] == [
        "running kernel 6.16.3+deb13-amd64, not the upgraded 7.3.4+deb13-amd64 (did the boot loader fall back?)"
    ]


def test_microcode_installed_for_ibpb_must_show_it():
    plan = dict(
        PLAN,
        reboot_required=True,
        upgrade={"status": "installed", "expects_ibpb": True, "microcode": "intel-microcode"},
    )
    out = verify(plan, facts(ibpb=False, cmdline="ro vmscape=ibpb", sysfs={"vmscape": "Vulnerable"}), rebooted=True)
    assert out["status"] == "fail"
    assert out["reasons"][-1] == "the CPU still lacks IBPB after installing intel-microcode"
    out = verify(plan, facts(ibpb=True, cmdline="ro vmscape=ibpb", sysfs={"vmscape": IBPB}), rebooted=True)
    assert out["status"] == "pass"
