"""verify(): the whole verdict, per path, written out by hand (found by `make mutation`).

Every path of plugins/plugin_utils/_verify/verify.py is checked on the complete returned
dict, so a changed key, a changed reason text or a reason in another order fails.
"""

from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._verify.verify import verify

IBPB = "Mitigation: IBPB before exit to userspace"
KERNEL = "6.1.0-56-amd64"  # the running kernel of plan_helpers.facts(), reported by verify
SET_IBPB = {"action": "set", "cmdline": {"vmscape": "ibpb"}, "cmdline_remove": [], "expected_sysfs": IBPB}


def test_rebooted_pass_is_the_whole_record():
    out = verify(dict(SET_IBPB, reboot_required=True), facts(cmdline="ro vmscape=ibpb", sysfs={"vmscape": IBPB}), True)
    assert out == {
        "status": "pass",
        "expected": IBPB,
        "observed": IBPB,
        "sysfs_ok": True,
        "cmdline_ok": True,
        "rebooted": True,
        "kernel": KERNEL,
        "reasons": [],
    }


def test_rebooted_fail_lists_sysfs_first_then_every_cmdline_problem():
    plan = dict(SET_IBPB, cmdline_remove=["mitigations"], reboot_required=True)
    f = facts(cmdline="ro mitigations=off vmscape=off vmscape", sysfs={"vmscape": "Vulnerable\n"})
    out = verify(plan, f, True)
    assert out == {
        "status": "fail",
        "expected": IBPB,
        "observed": "Vulnerable",
        "sysfs_ok": False,
        "cmdline_ok": False,
        "rebooted": True,
        "kernel": KERNEL,
        "reasons": [
            f"sysfs vmscape reports 'Vulnerable', expected {IBPB!r}",
            "/proc/cmdline has vmscape=off vmscape, expected exactly vmscape=ibpb",
            "/proc/cmdline still has mitigations=, which the plan removes",
        ],
    }


def test_a_missing_parameter_is_shown_as_nothing():
    out = verify(dict(SET_IBPB, reboot_required=True), facts(cmdline="ro", sysfs={"vmscape": IBPB}), True)
    assert out["status"] == "fail" and out["sysfs_ok"] is True and out["cmdline_ok"] is False
    assert out["reasons"] == ["/proc/cmdline has nothing, expected exactly vmscape=ibpb"]


def test_a_bare_flag_is_shown_without_a_value():
    out = verify(dict(SET_IBPB, reboot_required=True), facts(cmdline="ro vmscape", sysfs={"vmscape": IBPB}), True)
    assert out["reasons"] == ["/proc/cmdline has vmscape, expected exactly vmscape=ibpb"]


def test_parameter_names_match_with_dashes_or_underscores():
    # the kernel treats - and _ in parameter names alike (parameq)
    plan = dict(SET_IBPB, cmdline={"spec_rstack_overflow": "ibpb-vmexit"}, reboot_required=True)
    f = facts(cmdline="ro spec-rstack-overflow=ibpb-vmexit", sysfs={"vmscape": IBPB})
    assert verify(plan, f, True)["cmdline_ok"] is True
    plan = dict(SET_IBPB, cmdline={"spec-rstack-overflow": "ibpb-vmexit"}, reboot_required=True)
    f = facts(cmdline="ro spec_rstack_overflow=ibpb-vmexit", sysfs={"vmscape": IBPB})
    assert verify(plan, f, True)["cmdline_ok"] is True
    removal = dict(SET_IBPB, cmdline={}, cmdline_remove=["spec-rstack-overflow"], reboot_required=True)
    out = verify(removal, facts(cmdline="ro spec_rstack_overflow=off", sysfs={"vmscape": IBPB}), True)
    assert out["reasons"] == ["/proc/cmdline still has spec-rstack-overflow=, which the plan removes"]


def test_pending_is_the_whole_record():
    f = facts(cmdline="ro vmscape=off", sysfs={"vmscape": "Vulnerable"})
    out = verify(dict(SET_IBPB, reboot_required=True), f, False)
    assert out == {
        "status": "pending",
        "expected": IBPB,
        "observed": "Vulnerable",
        "sysfs_ok": False,
        "cmdline_ok": False,
        "rebooted": False,
        "kernel": KERNEL,
        "reasons": [
            f"sysfs vmscape reports 'Vulnerable', expected {IBPB!r}",
            "/proc/cmdline has vmscape=off, expected exactly vmscape=ibpb",
            "configuration staged; the reboot that applies it is pending",
        ],
    }


def test_already_mitigated_without_the_parameter_passes_with_a_note():
    out = verify(dict(SET_IBPB, reboot_required=False), facts(cmdline="ro", sysfs={"vmscape": IBPB}), False)
    assert out == {
        "status": "pass",
        "expected": IBPB,
        "observed": IBPB,
        "sysfs_ok": True,
        "cmdline_ok": False,
        "rebooted": False,
        "kernel": KERNEL,
        "reasons": ["already mitigated; the configured parameters apply from the next boot"],
    }


def test_not_rebooted_and_not_set_keeps_the_sysfs_reason_only():
    # action none with drift: the sysfs reason stays, no "already mitigated" note
    out = verify({"action": "none", "expected_sysfs": "Not affected"}, facts(sysfs={"vmscape": IBPB}), False)
    assert out["status"] == "fail"
    assert out["reasons"] == [f"sysfs vmscape reports {IBPB!r}, expected 'Not affected'"]
    # set, no reboot needed, sysfs wrong and the cmdline right: fail, no note either
    f = facts(cmdline="ro vmscape=ibpb", sysfs={"vmscape": "Vulnerable"})
    out = verify(dict(SET_IBPB, reboot_required=False), f, False)
    assert out["status"] == "fail" and out["cmdline_ok"] is True
    assert out["reasons"] == [f"sysfs vmscape reports 'Vulnerable', expected {IBPB!r}"]


def test_blocked_puts_the_plans_last_reason_first():
    plan = {
        "action": "blocked",
        "expected_sysfs": "Vulnerable",
        "reasons": ["Intel family 0x6 model 0x55", "mitigations=off on a G1 kernel defeats vmscape="],
    }
    out = verify(plan, facts(sysfs={"vmscape": "Vulnerable"}), False)
    assert out == {
        "status": "blocked",
        "expected": "Vulnerable",
        "observed": "Vulnerable",
        "sysfs_ok": True,
        "cmdline_ok": True,
        "rebooted": False,
        "kernel": KERNEL,
        "reasons": ["mitigations=off on a G1 kernel defeats vmscape="],
    }
    drift = verify(plan, facts(sysfs={"vmscape": IBPB}), True)
    assert drift["status"] == "blocked"
    assert drift["reasons"] == [
        "mitigations=off on a G1 kernel defeats vmscape=",
        f"sysfs vmscape reports {IBPB!r}, expected 'Vulnerable'",
    ]
    assert verify(dict(plan, reasons=[]), facts(sysfs={"vmscape": "Vulnerable"}), False)["reasons"] == []
    three = dict(plan, reasons=["a", "b", "the last reason"])
    assert verify(three, facts(sysfs={"vmscape": "Vulnerable"}), False)["reasons"] == ["the last reason"]
    one = dict(plan, reasons=["the only reason"])
    assert verify(one, facts(sysfs={"vmscape": "Vulnerable"}), False)["reasons"] == ["the only reason"]


def test_kernel_upgrade_and_a_missing_file():
    out = verify({"action": "kernel_upgrade", "expected_sysfs": None}, facts(sysfs={}), True)
    assert out == {
        "status": "kernel_upgrade",
        "expected": None,
        "observed": None,
        "sysfs_ok": True,
        "cmdline_ok": True,
        "rebooted": True,
        "kernel": KERNEL,
        "reasons": [],
    }
    odd = verify({"action": "none", "expected_sysfs": None}, facts(sysfs={"vmscape": 5}), False)
    assert odd["observed"] is None and odd["status"] == "pass"  # a non-string is no reading
