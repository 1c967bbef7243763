"""The kernel decision model, rule by rule (facts §2, §3), including what was seen on real kernels."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from plan_helpers import tokens

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_model import (
    CmdlineEffects,
    CpuCaps,
    ibpb_elsewhere,
    parse_effects,
    predict,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import (
    BHB_EXIT,
    G0,
    G1,
    G2,
    G3,
    IBPB_EXIT,
    IBPB_VMEXIT,
    NOT_AFFECTED,
    SYSFS_STRINGS,
    VULNERABLE,
)

LISTED = CpuCaps(listed=True, hypervisor=False, ibpb=True, bhi_ctrl=False)
BHI = CpuCaps(listed=True, hypervisor=False, ibpb=True, bhi_ctrl=True)
OFFLIST = CpuCaps(listed=False, hypervisor=False, ibpb=True, bhi_ctrl=False)
GUEST = CpuCaps(listed=True, hypervisor=True, ibpb=True, bhi_ctrl=False)
NO_IBPB = CpuCaps(listed=True, hypervisor=False, ibpb=False, bhi_ctrl=False)
NO_IBPB_BHI = CpuCaps(listed=True, hypervisor=False, ibpb=False, bhi_ctrl=True)


def params(cmdline):
    return [(t["name"], t["value"]) for t in tokens(cmdline)]


def p(gen, caps, cmdline="", vmexit=False):
    return predict(gen, caps, params(cmdline), vmexit)


# facts §2 "Seen by booting Debian 6.1.192 (G1) and 7.3.4 (G2) on a Skylake-SP identity".
@pytest.mark.parametrize(
    ("cmdline", "g1", "g2"),
    [
        ("", IBPB_EXIT, IBPB_EXIT),
        ("mitigations=off vmscape=ibpb", VULNERABLE, IBPB_EXIT),
        ("mitigations=auto,no_guest_host", IBPB_EXIT, VULNERABLE),
        ("mitigations=auto,no_guest_host vmscape=force", IBPB_EXIT, VULNERABLE),
        ("mitigations=auto,no_guest_host vmscape=ibpb", IBPB_EXIT, IBPB_EXIT),
        ("vmscape=off", VULNERABLE, VULNERABLE),
        ("mitigations=off", VULNERABLE, VULNERABLE),
        ("mitigations=off vmscape=force", VULNERABLE, VULNERABLE),
        ("vmscape=on", IBPB_EXIT, IBPB_EXIT),  # unknown on G1/G2: ignored, default kept
        ("vmscape=bhb", IBPB_EXIT, IBPB_EXIT),  # no such value in any kernel
        ("vmscape=force vmscape=off", VULNERABLE, VULNERABLE),  # handlers run in order
        ("vmscape=off vmscape=ibpb", IBPB_EXIT, IBPB_EXIT),
    ],
)
def test_g1_g2_skylake(cmdline, g1, g2):
    assert p(G1, LISTED, cmdline) == g1
    assert p(G2, LISTED, cmdline) == g2


def test_g0_has_no_file():
    assert p(G0, LISTED, "vmscape=ibpb") is None


@pytest.mark.parametrize("gen", [G1, G2, G3])
def test_unlisted_and_guest(gen):
    assert p(gen, OFFLIST) == NOT_AFFECTED
    assert p(gen, GUEST) == NOT_AFFECTED
    # facts §3: force sets the bug off-list and even in a guest.
    assert p(gen, OFFLIST, "vmscape=force") == IBPB_EXIT
    assert p(gen, GUEST, "vmscape=force") == IBPB_EXIT


@pytest.mark.parametrize("gen", [G1, G2])
def test_no_ibpb_is_vulnerable(gen):
    assert p(gen, NO_IBPB) == VULNERABLE
    assert p(gen, NO_IBPB, "vmscape=ibpb") == VULNERABLE
    assert p(gen, NO_IBPB_BHI) == VULNERABLE


def test_g3_bhb_clear():
    assert p(G3, BHI) == BHB_EXIT
    assert p(G3, BHI, "vmscape=on") == BHB_EXIT
    assert p(G3, BHI, "vmscape=auto") == BHB_EXIT
    assert p(G3, BHI, "vmscape=ibpb") == IBPB_EXIT  # ibpb forces IBPB even there
    assert p(G3, LISTED, "vmscape=on") == IBPB_EXIT  # no BHI_CTRL: IBPB
    assert p(G3, NO_IBPB_BHI, "vmscape=on") == BHB_EXIT  # BHB needs no IBPB
    assert p(G3, NO_IBPB, "vmscape=on") == VULNERABLE


def test_g3_overrides():
    # "on is auto plus override attack-vector controls"; on/force also survive mitigations=off.
    assert p(G3, BHI, "mitigations=auto,no_guest_host") == VULNERABLE
    assert p(G3, BHI, "mitigations=auto,no_guest_host vmscape=on") == BHB_EXIT
    assert p(G3, BHI, "mitigations=off") == VULNERABLE
    assert p(G3, BHI, "mitigations=off vmscape=on") == BHB_EXIT
    assert p(G3, BHI, "mitigations=off vmscape=force") == BHB_EXIT
    assert p(G3, LISTED, "mitigations=off vmscape=ibpb") == IBPB_EXIT


@pytest.mark.parametrize("gen", [G1, G2, G3])
def test_ibpb_on_vmexit_overrides(gen):
    assert p(gen, LISTED, "", vmexit=True) == IBPB_VMEXIT
    assert p(gen, LISTED, "vmscape=off", vmexit=True) == IBPB_VMEXIT
    assert p(gen, OFFLIST, "", vmexit=True) == NOT_AFFECTED


def test_only_the_exact_parameter_names_count():
    # The kernel matches parameter names exactly (a dash equals an underscore); "vmscape" and
    # "mitigations" contain neither, so these look-alikes are other parameters.
    look_alikes = [("vmscape_x", "off"), ("xvmscape", "off"), ("mitigation", "off"), ("Mitigations", "off")]
    assert parse_effects(G2, look_alikes) == CmdlineEffects()
    assert p(G2, LISTED, "vmscape_x=off vm-scape=off mitigation=off") == IBPB_EXIT
    assert parse_effects(G2, [("mitigations", "off")]).mitigations_off is True


def test_values_a_kernel_does_not_know_are_ignored_and_recorded():
    # facts §2: on/auto exist on G3 only; bhb nowhere
    assert parse_effects(G1, [("vmscape", "on"), ("vmscape", "bhb"), ("vmscape", "off")]).ignored == ["on", "bhb"]
    assert parse_effects(G3, [("vmscape", "on"), ("vmscape", "bhb")]).ignored == ["bhb"]


def test_bare_vmscape_flag_is_ignored():
    assert p(G1, LISTED, "vmscape") == IBPB_EXIT


@pytest.mark.parametrize(
    ("retbleed", "srso", "expected"),
    [
        ("Mitigation: IBPB", None, True),
        ("Mitigation: IBPB; SMT vulnerable", None, True),
        ("Mitigation: IBRS", None, False),
        ("Mitigation: untrained return thunk; SMT enabled with STIBP protection", None, False),
        ("Vulnerable: untrained return thunk / IBPB on non-AMD based uarch", None, False),
        (None, "Mitigation: IBPB on VMEXIT only", True),
        (None, "Mitigation: Safe RET", False),
        ("Not affected", "Not affected", False),
        (None, None, False),
    ],
)
def test_ibpb_elsewhere(retbleed, srso, expected):
    assert ibpb_elsewhere(retbleed, srso) is expected


_TOKENS = st.sampled_from(
    [
        "vmscape=off",
        "vmscape=ibpb",
        "vmscape=force",
        "vmscape=on",
        "vmscape=auto",
        "vmscape=bogus",
        "vmscape",
        "mitigations=off",
        "mitigations=auto",
        "mitigations=auto,no_guest_host",
        "mitigations=auto,nosmt",
        "retbleed=ibpb",
        "quiet",
        'foo="a b"',
    ]
)


@given(
    gen=st.sampled_from([G1, G2, G3]),
    listed=st.booleans(),
    hyp=st.booleans(),
    ibpb=st.booleans(),
    bhi=st.sampled_from([True, False, None]),
    cmd=st.lists(_TOKENS, max_size=6),
    vmexit=st.booleans(),
)
def test_prediction_is_always_a_known_string(gen, listed, hyp, ibpb, bhi, cmd, vmexit):
    caps = CpuCaps(listed=listed, hypervisor=hyp, ibpb=ibpb, bhi_ctrl=bhi)
    out = p(gen, caps, " ".join(cmd), vmexit)
    assert out in SYSFS_STRINGS
    if out == BHB_EXIT:
        assert gen == G3 and bhi
    if not any(t == "vmscape=force" for t in cmd) and (hyp or not listed):
        assert out == NOT_AFFECTED
