"""/proc/cpuinfo stanza boundaries, truncation and exact messages (found by `make mutation`).

Inputs are written here in the kernel's x86 layout (``key<TAB>: value``, a blank line after
every processor; arch/x86/kernel/cpu/proc.c show_cpuinfo ends each stanza with "\\n\\n").
"""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.cpuinfo import CpuinfoError, parse_cpuinfo

FULL = [
    ("vendor_id", "GenuineIntel"),
    ("cpu family", "6"),
    ("model", "85"),
    ("model name", "Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz"),
    ("stepping", "4"),
    ("microcode", "0x2007006"),
    ("flags", "fpu ibpb"),
    ("bugs", "spectre_v2 vmscape"),
]


def stanza(n, fields=FULL, skip=()):
    return "".join(f"{k}\t: {v}\n" for k, v in [("processor", str(n)), *fields] if k not in skip)


def parse(text):
    return parse_cpuinfo(text, "/x/cpuinfo")


def test_a_blank_line_ends_a_stanza_even_when_it_lacks_keys_of_the_first():
    # processor 1 lacks microcode but was closed by its blank line: whole, kept, no warning
    text = stanza(0) + "\n" + stanza(1, skip=("microcode",)) + "\n"
    cpu, warnings = parse(text)
    assert cpu["processors"] == 2 and cpu["identities_differ"] is True
    assert warnings == [
        "/x/cpuinfo: 1 processor(s) differ from the boot CPU (first: processor 1: microcode None != 0x2007006)"
    ]


def test_a_last_stanza_without_its_blank_line_and_missing_keys_is_dropped():
    text = stanza(0) + "\n" + stanza(1, skip=("microcode", "flags", "bugs"))
    cpu, warnings = parse(text)
    assert warnings == ["/x/cpuinfo:11: last processor stanza (processor 1) is truncated; ignored"]
    assert cpu["processors"] == 2 and cpu["identities_differ"] is False


def test_a_last_stanza_cut_mid_line_is_dropped_even_with_every_key():
    text = stanza(0) + "\n" + stanza(1)[:-3]  # "vmscape" cut to "vmsca", no newline
    _cpu, warnings = parse(text)
    assert warnings == ["/x/cpuinfo:11: last processor stanza (processor 1) is truncated; ignored"]


def test_stanzas_without_blank_lines_between_them():
    text = stanza(0) + stanza(1) + stanza(2, skip=("bugs",))
    cpu, warnings = parse(text)
    assert cpu["processors"] == 3
    assert warnings == ["/x/cpuinfo:19: last processor stanza (processor 2) is truncated; ignored"]
    two, w2 = parse(stanza(0) + stanza(1))
    assert two["processors"] == 2 and w2 == [] and two["identities_differ"] is False


def test_the_only_stanza_cut_mid_line_keeps_its_whole_lines():
    text = stanza(0)[: -len("vmscape\n")]  # cut inside the bugs line
    cpu, warnings = parse(text)
    assert warnings == [
        "/x/cpuinfo:1: the only processor stanza is truncated after line 9; using the complete lines",
        "/x/cpuinfo: boot CPU has no 'bugs' line",
    ]
    assert cpu["bugs"] is None and cpu["flags"] == ["fpu", "ibpb"]  # the cut line: unknown, not empty


def test_a_value_may_contain_colons():
    fields = [(k, "QEMU: Virtual CPU: 2.5+") if k == "model name" else (k, v) for k, v in FULL]
    cpu, _w = parse(stanza(0, fields) + "\n")
    assert cpu["model_name"] == "QEMU: Virtual CPU: 2.5+"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("processor\t: 0\n\x00", "/x/cpuinfo:2: binary data (NUL byte), not a cpuinfo file"),
        ("processor\t: 0\n\t: value\n", "/x/cpuinfo:2: empty key: '\\t: value'"),
        (
            "processor\t: 0\n" + "x" * 100 + "\n",
            "/x/cpuinfo:2: not a 'key : value' line: '" + "x" * 80 + "'",
        ),
        ("processor\t: 0\n: " + "v" * 100 + "\n", "/x/cpuinfo:2: empty key: ': " + "v" * 78 + "'"),
        ("processor\t: 0\nmodel\t: 0x5g\n", "/x/cpuinfo:2: 'model' is not an integer ('0x5g')"),
        ("processor\t: 0\nstepping\t: four\n", "/x/cpuinfo:2: 'stepping' is not an integer ('four')"),
        ("processor\t: 0\ncpu family\t: 6.5\n", "/x/cpuinfo:2: 'cpu family' is not an integer ('6.5')"),
    ],
)
def test_errors_are_exact(text, message):
    with pytest.raises(CpuinfoError) as err:
        parse(text)
    assert str(err.value) == message


def test_missing_identity_lines_are_warned_about():
    cpu, warnings = parse("processor\t: 0\nflags\t: fpu\n\n")
    assert warnings == [
        "/x/cpuinfo: boot CPU has no 'vendor_id' line",
        "/x/cpuinfo: boot CPU has no 'cpu family' line",
        "/x/cpuinfo: boot CPU has no 'model' line",
        "/x/cpuinfo: boot CPU has no 'bugs' line",
    ]
    assert (cpu["bugs"], cpu["bugs_reason"]) == (None, "/x/cpuinfo: boot CPU has no 'bugs' line")


def test_hex_and_decimal_integers():
    fields = [(k, {"cpu family": "0x19", "model": " 17 ", "stepping": "0X1"}.get(k, v)) for k, v in FULL]
    cpu, _w = parse(stanza(0, fields) + "\n")
    assert (cpu["family"], cpu["model"], cpu["stepping"]) == (0x19, 17, 1)
