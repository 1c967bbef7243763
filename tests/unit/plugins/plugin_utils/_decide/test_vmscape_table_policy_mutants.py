"""CPU classes with their reasons, branch arithmetic and the policy allow-list, exactly
(found by `make mutation`). Classes follow ../shared/vmscape-facts.md §4."""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import kernel_table as kt
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.policy import (
    Policy,
    PolicyError,
    validate_policy,
)


@pytest.mark.parametrize(
    ("vendor", "family", "model", "kind", "why"),
    [
        (kt.INTEL, 6, 0x55, "btb", "Intel family 0x6 model 0x55: Sandy Bridge..Comet Lake generation, BTB variant"),
        (kt.INTEL, 6, 0x97, "bhi", "Intel family 0x6 model 0x97: Alder Lake or newer, BHI variant only"),
        (kt.INTEL, 6, 0x6A, "unaffected", "Intel family 0x6 model 0x6a: not in the kernel's VMSCAPE list"),
        (kt.INTEL, 6, 0x29, "unaffected", "Intel family 0x6 model 0x29: not in the kernel's VMSCAPE list"),
        (kt.INTEL, 6, 0xC0, "unknown", "Intel family 0x6 model 0xc0: model not in the facts document's tables"),
        (kt.INTEL, 5, 0x02, "unaffected", "Intel family 0x5 model 0x2: not in any kernel's VMSCAPE list"),
        (kt.INTEL, 15, 0x04, "unaffected", "Intel family 0xf model 0x4: not in any kernel's VMSCAPE list"),
        (kt.INTEL, 16, 0x01, "unknown", "Intel family 0x10 model 0x1: family not covered by the facts document"),
        (kt.INTEL, 19, 0x01, "unknown", "Intel family 0x13 model 0x1: family not covered by the facts document"),
        (kt.AMD, 0x19, 0x01, "btb", "AMD family 0x19 model 0x1: Zen family, BTB variant"),
        (kt.AMD, 0x16, 0x30, "unaffected", "AMD family 0x16 model 0x30: pre-Zen, not in the kernel's VMSCAPE list"),
        (kt.AMD, 0x1B, 0x00, "unknown", "AMD family 0x1b model 0x0: family newer than the facts document"),
        (kt.HYGON, 0x18, 0x00, "btb", "Hygon family 0x18 model 0x0: Zen-based, BTB variant"),
        (kt.HYGON, 0x19, 0x01, "unknown", "Hygon family 0x19 model 0x1: family not covered by the facts document"),
        (
            "CentaurHauls",
            6,
            0x0F,
            "unknown",
            "vendor 'CentaurHauls' family 0x6 model 0xf: not covered by the facts document",
        ),
    ],
)
def test_classify_cpu_kind_and_reason(vendor, family, model, kind, why):
    assert kt.classify_cpu(vendor, family, model) == kt.CpuClass(kind, why)


def test_branch_of_and_known_lists():
    assert kt.branch_of(kt.Version.parse("6.1.192")) == (6, 1)
    assert kt.branch_of(kt.Version.parse("6.1")) == (6, 1)
    assert kt.Version.parse("6.1") == kt.Version(6, 1, 0)
    assert kt.Version.parse("6.1.192") == kt.Version(6, 1, 192)
    with pytest.raises(ValueError, match=r"^not an upstream kernel version: '6\.x'$"):
        kt.Version.parse("6.x")
    assert kt.branch_of(None) is None
    assert kt.branch_list_known(None) is False
    assert kt.branch_list_known(kt.Version.parse("5.4.300")) is False
    assert kt.branch_list_known(kt.Version.parse("6.6.110")) is True
    assert kt.branch_list_known(kt.Version.parse("6.12.1")) is True


def test_policy_defaults_and_explicit_nulls():
    assert validate_policy(None) == Policy("auto", False)
    assert validate_policy({}) == Policy("auto", False)
    assert validate_policy({"mode": None}) == Policy("auto", False)
    assert validate_policy({"mode": "off", "allow_remove_mitigations_off": True}) == Policy("off", True)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (["ibpb"], "policy must be a mapping, got list"),
        (
            {"modes": "x", "allow": 1},
            "unknown policy key(s): 'allow', 'modes'; allowed: mode, allow_remove_mitigations_off",
        ),
        ({"mode": "bhb "}, "vmscape_mode: 'bhb ' is not one of auto, bhb, ibpb, force, off, none"),
        (
            {"allow_remove_mitigations_off": "yes"},
            "vmscape_allow_remove_mitigations_off: 'yes' is not a boolean",
        ),
    ],
)
def test_policy_errors_are_exact(policy, message):
    with pytest.raises(PolicyError) as err:
        validate_policy(policy)
    assert str(err.value) == message
