"""The kernel's quote stripping of one argument and the refusals of unsafe parameters, exactly
(found by `make mutation`). Expected values follow lib/cmdline.c next_arg: a leading quote is
dropped and with it the last character when that is a quote; a value's own leading quote is
dropped with its closing one; a quote at the end of an unquoted argument stays."""

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import parse_token, validate_param


def fields(raw):
    t = parse_token(raw)
    return t.raw, t.name, t.value


def test_quotes_the_kernel_keeps():
    assert fields("quiet") == ("quiet", "quiet", None)
    assert fields('quiet"') == ('quiet"', 'quiet"', None)  # not quoted: the trailing quote stays
    assert fields('"quiet"') == ('"quiet"', "quiet", None)
    assert fields('a=b"') == ('a=b"', "a", 'b"')
    assert fields('"a=b"') == ('"a=b"', "a", "b")
    assert fields('a="b"') == ('a="b"', "a", "b")


def test_refusals_name_the_parameter_and_value():
    assert validate_param("bad name", None) == "invalid kernel parameter name 'bad name'"
    assert validate_param(7, None) == "invalid kernel parameter name 7"
    assert validate_param("vmscape", 1) == "invalid value for vmscape: 1 is not a string"
    assert validate_param("vmscape", "a;b") == (
        "invalid value for vmscape: 'a;b' (allowed: letters, digits and . , : + @ % / = -; "
        "no spaces, quotes, shell or GRUB metacharacters)"
    )
    assert validate_param("vmscape", "ibpb") is None
    assert validate_param("nosmt", None) is None
