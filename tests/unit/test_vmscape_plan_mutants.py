"""make_plan, whole plans and every reading of the facts (found by `make mutation`).

Decisions (action, mode, values, expected strings) come from ../shared/vmscape-facts.md; the
reason texts are the plan's documented explanations, pinned so that a changed branch shows.
Each test names the facts rule it follows.
"""

import pytest
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._vmscape_kernel_table import (
    IBPB_EXIT,
    IBPB_VMEXIT,
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
