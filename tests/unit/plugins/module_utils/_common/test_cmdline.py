"""The kernel cmdline tokenizer follows lib/cmdline.c next_arg and parse_args."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import (
    format_token,
    last_value,
    split_raw,
    tokenize,
    validate_param,
    values_of,
)


def names_values(text):
    tokens, init = tokenize(text)
    return [(t.name, t.value) for t in tokens], init


@pytest.mark.parametrize(
    ("text", "params", "init"),
    [
        ("ro quiet", [("ro", None), ("quiet", None)], []),
        ("  root=UUID=ab-cd\tro\n", [("root", "UUID=ab-cd"), ("ro", None)], []),
        ('foo="a b" bar', [("foo", "a b"), ("bar", None)], []),
        ('"foo=a b" bar', [("foo", "a b"), ("bar", None)], []),
        ('foo=a"b c"d', [("foo", 'a"b c"d')], []),  # quotes inside a value stay
        ('"quoted flag"', [("quoted flag", None)], []),
        ("=value", [("=value", None)], []),  # '=' at index 0 is not a separator
        ("a=", [("a", "")], []),
        ("ro -- single vmscape=off", [("ro", None)], ["single", "vmscape=off"]),
        ('ro "--" init', [("ro", None)], ["init"]),
        ("ro --x", [("ro", None), ("--x", None)], []),
        ('unterminated="a b', [("unterminated", "a b")], []),
        ("", [], []),
    ],
)
def test_kernel_quoting_rules(text, params, init):
    assert names_values(text) == (params, init)


def test_raw_keeps_quotes_and_order():
    assert split_raw('a "b c"  d="e f"') == ["a", '"b c"', 'd="e f"']


def test_values_in_order_and_dash_underscore_equivalence():
    tokens, _ = tokenize("vmscape=off spec-rstack-overflow=ibpb vmscape=ibpb spec_rstack_overflow=off")
    assert values_of(tokens, "vmscape") == ["off", "ibpb"]
    assert values_of(tokens, "spec_rstack_overflow") == ["ibpb", "off"]
    assert last_value(tokens, "spec-rstack-overflow") == "off"
    assert last_value(tokens, "absent", "dflt") == "dflt"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("vmscape", "ibpb; reboot"),
        ("vmscape", "$(id)"),
        ("vmscape", "`id`"),
        ("vmscape", "a b"),
        ("vmscape", 'x"y'),
        ("vmscape", "x'y"),
        ("vmscape", "on\nGRUB_CMDLINE_LINUX=x"),
        ("vm scape", "on"),
        ("$x", "on"),
        ("", "on"),
        ("vmscape", 5),
    ],
)
def test_validate_refuses_unsafe(name, value):
    assert validate_param(name, value) is not None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("vmscape", "ibpb"),
        ("mitigations", "auto,nosmt"),
        ("root", "UUID=1-2"),
        ("kvm.nx_huge_pages", "off"),
        ("ro", None),
    ],
)
def test_validate_accepts_normal_params(name, value):
    assert validate_param(name, value) is None


_SAFE_NAME = st.from_regex(r"[a-z][a-z0-9_.]{0,8}", fullmatch=True).filter(lambda n: n != "--")
_SAFE_VALUE = st.none() | st.from_regex(r"[A-Za-z0-9_.,:+@%/=\-]{0,10}", fullmatch=True)


@given(st.lists(st.tuples(_SAFE_NAME, _SAFE_VALUE), max_size=12))
def test_format_then_tokenize_round_trips(pairs):
    text = " ".join(format_token(n, v) for n, v in pairs)
    assert names_values(text) == ([(n, v) for n, v in pairs], [])
