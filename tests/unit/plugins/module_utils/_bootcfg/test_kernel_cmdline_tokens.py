"""Token rules (decide / edit_segments / check_result) and request validation.

Property tests (hypothesis): random token lists, including the parameter under another
value, duplicates, names differing only in -/_, bare flags, quoted values and a ``--``
separating init's arguments, survive set/remove round trips.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import (
    build_request,
    check_result,
    decide,
    edit_segments,
    edit_text,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import split_raw

NAMES = ["vmscape", "vmscape_x", "xvmscape", "quiet", "foo-bar", "foo_bar", "mitigations", "console", "nosmt"]
VALUES = [None, "off", "ibpb", "force", "auto,nosmt", "ttyS0,115200", '"a b"', ""]


@st.composite
def token(draw):
    name = draw(st.sampled_from(NAMES))
    value = draw(st.sampled_from(VALUES))
    return name if value is None else f"{name}={value}"


token_lists = st.lists(token(), max_size=12)
blanks = st.sampled_from([" ", "  ", "\t", " \t "])


@st.composite
def cmdline_text(draw):
    toks = draw(token_lists)
    if draw(st.booleans()):
        toks = [*toks, "--", *draw(st.lists(token(), max_size=3))]
    seps = [draw(blanks) for _ in toks]
    lead = draw(st.sampled_from(["", " "]))
    trail = draw(st.sampled_from(["", " ", "  ", "\n"]))
    return lead + "".join(t + s for t, s in zip(toks, seps, strict=True)).rstrip(" \t") + trail


def kernel(tokens):
    return tokens[: tokens.index("--")] if "--" in tokens else tokens


def others(tokens, keys):
    return [t for t in kernel(tokens) if t.split("=", 1)[0].replace("-", "_") not in keys]


SET_IBPB = build_request({"vmscape": "ibpb"}, [])
SET_FORCE = build_request({"vmscape": "force"}, [])
REMOVE = build_request({}, ["vmscape"])
SET_MULTI = build_request({"vmscape": "ibpb", "foo-bar": "1", "nosmt": None}, ["mitigations"])


@settings(max_examples=examples(300))
@given(token_lists)
def test_set_then_remove_restores_the_other_tokens(tokens):
    _a, _i, after_set = decide(tokens, SET_IBPB)
    assert [t for t in kernel(after_set) if t.startswith("vmscape=")] == ["vmscape=ibpb"]
    _a, _i, after_remove = decide(after_set, REMOVE)
    assert after_remove == [t for t in tokens if t.split("=", 1)[0] != "vmscape"]


@settings(max_examples=examples(300))
@given(token_lists)
def test_set_twice_equals_set_once(tokens):
    once = decide(tokens, SET_MULTI)[2]
    actions, insert, twice = decide(once, SET_MULTI)
    assert twice == once
    assert actions == {} and insert is None


@settings(max_examples=examples(300))
@given(token_lists, st.sampled_from([SET_IBPB, SET_FORCE, REMOVE, SET_MULTI]))
def test_decide_satisfies_the_strict_check(tokens, request):
    after = decide(tokens, request)[2]
    assert check_result(tokens, after, request) == []


@settings(max_examples=examples(300))
@given(cmdline_text(), st.sampled_from([SET_IBPB, REMOVE, SET_MULTI]))
def test_text_edits_give_exactly_the_decided_tokens(text, request):
    new, before, after = edit_text(text, request)
    assert split_raw(text) == before
    assert split_raw(new) == after
    assert check_result(before, after, request) == []
    again, _b, after2 = edit_text(new, request)
    assert again == new and after2 == after
    if "--" in before:  # init's arguments are left exactly as they were
        assert new[new.index("--") :] == text[text.index("--") :]


@settings(max_examples=examples(200))
@given(st.lists(cmdline_text(), min_size=1, max_size=4), st.sampled_from([SET_IBPB, REMOVE]))
def test_segments_keep_their_count_and_order(segments, request):
    segments = [s.replace("\n", "") for s in segments]
    new, before, after = edit_segments(segments, request)
    assert len(new) == len(segments)
    assert [t for s in new for t in split_raw(s)] == after
    assert check_result(before, after, request) == []


def test_existing_equivalent_token_is_kept_byte_for_byte():
    # the kernel strips the quotes and compares names with - and _ equal
    assert decide(['vmscape="ibpb"', "quiet"], SET_IBPB)[0] == {}
    req = build_request({"foo-bar": "1"}, [])
    assert decide(["foo_bar=1"], req)[2] == ["foo_bar=1"]


def test_last_occurrence_is_the_one_kept_and_rewritten():
    actions, insert, result = decide(["vmscape=off", "a", "vmscape=force", "b"], SET_IBPB)
    assert actions == {0: None, 2: "vmscape=ibpb"} and insert is None
    assert result == ["a", "vmscape=ibpb", "b"]


def test_missing_token_goes_before_init_arguments():
    assert decide(["quiet", "--", "single", "vmscape=off"], SET_IBPB)[2] == [
        "quiet",
        "vmscape=ibpb",
        "--",
        "single",
        "vmscape=off",
    ]


def test_not_home_list_only_loses_tokens():
    assert decide(["quiet", "vmscape=off"], SET_IBPB, home=False)[2] == ["quiet"]


def test_check_result_reports_problems():
    req = SET_IBPB
    assert "occurs 2 times" in check_result([], ["vmscape=ibpb", "vmscape=ibpb"], req)[0]
    assert "has the value 'off'" in check_result([], ["vmscape=off"], req)[0]
    assert "other parameters changed" in check_result(["a", "b"], ["b", "a", "vmscape=ibpb"], req)[0]
    assert check_result(["a", "b"], ["b", "a", "vmscape=ibpb"], req, strict=False) == []


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "value",
    ["ibpb off", 'ib"pb', "ib'pb", "ibpb;reboot", "$(reboot)", "`reboot`", "ibpb\nquiet", "a\tb", "${X}"],
)
def test_unsafe_values_are_refused(value):
    with pytest.raises(BootConfigError) as e:
        build_request({"nosmt_x": value}, [])
    assert "invalid value" in e.value.message


@pytest.mark.parametrize("value", ["ibpb", "off", "force", "on", "auto"])
def test_vmscape_allow_list(value):
    assert build_request({"vmscape": value}, []).sets == [("vmscape", value, "vmscape")]


@pytest.mark.parametrize("value", ["bhb", "IBPB", "1", None, ""])
def test_vmscape_values_outside_the_allow_list(value):
    with pytest.raises(BootConfigError) as e:
        build_request({"vmscape": value}, [])
    assert "vmscape" in e.value.message


def test_yaml_booleans_are_refused_with_a_hint():
    with pytest.raises(BootConfigError) as e:
        build_request({"vmscape": False}, [])
    assert 'vmscape: "off"' in e.value.message


@pytest.mark.parametrize(
    ("params", "remove", "text"),
    [
        ({"foo-bar": "1", "foo_bar": "2"}, [], "same kernel parameter"),
        ({"vmscape": "ibpb"}, ["vmscape"], "both in params and in remove"),
        ({}, [], "nothing to do"),
        ({"BOOT_IMAGE": "/x"}, [], "boot loader itself"),
        ({"bad name": "1"}, [], "invalid kernel parameter name"),
        ({}, ["vm;scape"], "invalid kernel parameter name"),
        ({}, [None], "invalid kernel parameter name"),
    ],
)
def test_request_errors(params, remove, text):
    with pytest.raises(BootConfigError) as e:
        build_request(params, remove)
    assert text in e.value.message


def test_integers_become_strings():
    assert build_request({"loglevel": 3}, []).sets == [("loglevel", "3", "loglevel")]


def test_check_of_a_restore_lets_an_entry_lack_a_parameter_but_not_carry_it_wrong():
    """A restore may put a parameter back where only some entries get it (GRUB_CMDLINE_LINUX_DEFAULT)."""
    change = build_request({"vmscape": "off"}, [])
    restore = build_request({"vmscape": "off"}, [])
    restore.everywhere = False
    recovery = ["single", "console=ttyS0"]
    assert check_result(recovery, recovery, change) == ["vmscape occurs 0 times (want exactly once)"]
    assert check_result(recovery, recovery, restore) == []
    wrong = ["quiet", "vmscape=ibpb"]
    assert check_result(wrong, wrong, restore) == ["vmscape has the value 'ibpb' (want 'off')"]
    twice = ["vmscape=off", "vmscape=off"]
    assert check_result(twice, twice, restore) == ["vmscape occurs 2 times (want exactly once)"]
