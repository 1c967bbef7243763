"""The kernel model's command-line parsing and the rules no test pinned before `make mutation`.

Expected strings follow ../shared/vmscape-facts.md §2 (handlers run per token in order; unknown
values are ignored; mitigations=auto,<vectors> on G2+; on/force/ibpb override on G3) and §3.
"""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_model import (
    CmdlineEffects,
    CpuCaps,
    parse_effects,
    predict,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import (
    BHB_EXIT,
    G1,
    G2,
    G3,
    IBPB_EXIT,
    IBPB_VMEXIT,
    VULNERABLE,
)

LISTED = CpuCaps(listed=True, hypervisor=False, ibpb=True, bhi_ctrl=False)
BHI = CpuCaps(listed=True, hypervisor=False, ibpb=True, bhi_ctrl=True)
NO_IBPB = CpuCaps(listed=True, hypervisor=False, ibpb=False, bhi_ctrl=False)


def params(text):
    out = []
    for word in text.split():
        name, sep, value = word.partition("=")
        out.append((name, value if sep else None))
    return out


@pytest.mark.parametrize(
    ("generation", "cmdline", "effects"),
    [
        (G2, "", CmdlineEffects()),
        (G2, "mitigations=off", CmdlineEffects(mitigations_off=True, guest_host_vector=False)),
        (G2, "mitigations=off mitigations=auto", CmdlineEffects(mitigations_off=False, guest_host_vector=False)),
        (G2, "mitigations=auto,no_guest_host", CmdlineEffects(guest_host_vector=False)),
        (G2, "mitigations=auto,nosmt,no_guest_host", CmdlineEffects(guest_host_vector=False)),
        (G2, "mitigations=auto,nosmt", CmdlineEffects()),
        (G2, "mitigations=x,no_guest_host", CmdlineEffects()),  # an unknown head: no vectors read
        (G1, "mitigations=auto,no_guest_host", CmdlineEffects()),  # G1 does not consult vectors
        (G2, "mitigations", CmdlineEffects()),  # a bare flag: the handler gets NULL
        (G2, "retbleed=off spectre_v2=off", CmdlineEffects()),  # other parameters' off is not mitigations=off
        (G2, "vmscape=force", CmdlineEffects(force_bug=True)),
        (G3, "vmscape=force", CmdlineEffects(vmscape="on", force_bug=True)),
        (G3, "vmscape=off vmscape=auto", CmdlineEffects(vmscape="auto")),
        (G3, "vmscape=on", CmdlineEffects(vmscape="on")),
        (G2, "vmscape=ibpb", CmdlineEffects(vmscape="ibpb")),
        (G2, "vmscape=off", CmdlineEffects(vmscape="none")),
        (G1, "vmscape=auto", CmdlineEffects(ignored=["auto"])),
    ],
)
def test_parse_effects_exactly(generation, cmdline, effects):
    assert parse_effects(generation, params(cmdline)) == effects


@pytest.mark.parametrize(
    ("generation", "caps", "cmdline", "expected"),
    [
        # handlers run for every token in order: a bare or unknown vmscape does not stop them
        (G1, LISTED, "vmscape vmscape=off", VULNERABLE),
        (G1, LISTED, "vmscape=bogus vmscape=off", VULNERABLE),
        (G2, LISTED, "vmscape=on vmscape=off", VULNERABLE),
        # a later mitigations=auto undoes mitigations=off (G1 reads only off/auto)
        (G1, LISTED, "mitigations=off mitigations=auto", IBPB_EXIT),
        (G1, LISTED, "retbleed=off", IBPB_EXIT),
        # G2 attack vectors after other options
        (G2, LISTED, "mitigations=auto,nosmt,no_guest_host", VULNERABLE),
        (G2, LISTED, "mitigations=auto,nosmt", IBPB_EXIT),
        # G3: auto obeys the vectors, off is off, ibpb needs IBPB, auto after off counts
        (G3, BHI, "mitigations=auto,no_guest_host vmscape=off vmscape=auto", VULNERABLE),
        (G3, BHI, "vmscape=off vmscape=auto", BHB_EXIT),
        (G3, BHI, "vmscape=off", VULNERABLE),
        (G3, LISTED, "vmscape=off", VULNERABLE),
        (G3, NO_IBPB, "vmscape=ibpb", VULNERABLE),
        (G3, NO_IBPB, "", VULNERABLE),
        (G3, LISTED, "", IBPB_EXIT),
    ],
)
def test_predict_in_order(generation, caps, cmdline, expected):
    assert predict(generation, caps, params(cmdline), False) == expected


def test_ibpb_on_vmexit_is_off_unless_said():
    assert predict(G1, LISTED, []) == IBPB_EXIT
    assert predict(G1, LISTED, [], True) == IBPB_VMEXIT
    # without IBPB nothing uses it: the retbleed/SRSO strings cannot show IBPB either
    assert predict(G2, NO_IBPB, [], True) == VULNERABLE
