"""/proc/cpuinfo parser: real-looking inputs from Intel, AMD, Hygon, guests, and broken files."""

import pytest
from facts_fixtures import CPUINFO

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.cpuinfo import CpuinfoError, parse_cpuinfo


def parse(name):
    return parse_cpuinfo((CPUINFO / name).read_text(), "/proc/cpuinfo")


def test_skylake_sp_two_sockets():
    cpu, warnings = parse("intel-skylake-sp-2s.txt")
    assert (cpu["vendor"], cpu["family"], cpu["model"], cpu["stepping"]) == ("GenuineIntel", 6, 85, 4)
    assert cpu["microcode"] == "0x2007006"
    assert cpu["model_name"] == "Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz"
    assert cpu["processors"] == 4
    assert cpu["sockets"] == 2
    assert cpu["identities_differ"] is False
    assert cpu["hypervisor"] is False
    assert cpu["ibpb"] is True
    assert cpu["flags"][:3] == ["fpu", "vme", "de"]
    assert cpu["bugs"][-1] == "vmscape"
    assert warnings == []


def test_mixed_microcode_across_sockets_is_reported():
    cpu, warnings = parse("intel-mixed-microcode-2s.txt")
    assert cpu["identities_differ"] is True
    assert cpu["microcode"] == "0x2007006"  # boot CPU wins
    assert any("processor 2" in w and "microcode 0x2006e05 != 0x2007006" in w for w in warnings)


@pytest.mark.parametrize(
    ("name", "vendor", "family", "model", "stepping"),
    [
        ("amd-epyc-genoa.txt", "AuthenticAMD", 0x19, 17, 1),
        ("hygon-dhyana.txt", "HygonGenuine", 0x18, 1, 1),
        ("intel-raptorlake.txt", "GenuineIntel", 6, 0xB7, 1),
        ("amd-epyc-kvm-guest-real.txt", "AuthenticAMD", 25, 17, 1),
    ],
)
def test_vendors(name, vendor, family, model, stepping):
    cpu, _w = parse(name)
    assert (cpu["vendor"], cpu["family"], cpu["model"], cpu["stepping"]) == (vendor, family, model, stepping)


def test_unknown_vendor_is_reported_not_rejected():
    cpu, warnings = parse("unknown-vendor.txt")
    assert cpu["vendor"] == "CentaurHauls"
    assert cpu["family"] == 7
    assert cpu["bugs"] == ["spectre_v1", "spectre_v2", "spec_store_bypass"]
    assert cpu["ibpb"] is False
    assert warnings == []


def test_guest_without_stepping_and_microcode():
    cpu, _w = parse("kvm-guest.txt")
    assert cpu["hypervisor"] is True
    assert cpu["stepping"] is None
    assert cpu["microcode"] is None
    assert cpu["sockets"] == 1  # no physical id lines
    assert cpu["processors"] == 2


def test_real_guest_capture():
    cpu, _w = parse("amd-epyc-kvm-guest-real.txt")
    assert cpu["hypervisor"] is True
    assert "vmscape" not in cpu["bugs"]


def test_truncated_last_stanza_is_dropped_with_warning():
    cpu, warnings = parse("intel-truncated.txt")
    assert cpu["processors"] == 3  # the cut processor still exists
    assert cpu["identities_differ"] is False
    assert any("truncated" in w and "processor 2" in w and w.startswith("/proc/cpuinfo:") for w in warnings)


def test_truncated_only_stanza_keeps_complete_lines():
    cpu, warnings = parse("intel-truncated-only.txt")
    assert cpu["family"] == 6 and cpu["model"] == 85
    # the cut flags line is not trusted: unknown, not "no flags" (so not "no hypervisor flag")
    assert cpu["flags"] is None and cpu["hypervisor"] is None and cpu["ibpb"] is None
    assert cpu["flags_reason"] == "/proc/cpuinfo: boot CPU has no 'flags' line"
    assert any("only processor stanza is truncated" in w for w in warnings)


def test_missing_final_blank_line_is_not_truncation():
    text = (CPUINFO / "intel-skylake-sp-2s.txt").read_text().rstrip("\n") + "\n"
    cpu, warnings = parse_cpuinfo(text)
    assert cpu["processors"] == 4
    assert warnings == []


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("not-cpuinfo.txt", r"^/proc/cpuinfo:1: not a 'key : value' line"),
        ("bad-family.txt", r"^/proc/cpuinfo:3: 'cpu family' is not an integer"),
    ],
)
def test_unparseable_names_file_and_line(name, pattern):
    with pytest.raises(CpuinfoError, match=pattern):
        parse(name)


def test_binary_garbage():
    data = (CPUINFO / "garbage.bin").read_bytes().decode("latin-1")
    with pytest.raises(CpuinfoError, match=r"^/proc/cpuinfo:1: binary data"):
        parse_cpuinfo(data)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty(text):
    with pytest.raises(CpuinfoError, match="empty file"):
        parse_cpuinfo(text)


def test_stanza_not_starting_with_processor():
    with pytest.raises(CpuinfoError, match=r":1: stanza does not start with 'processor'"):
        parse_cpuinfo("vendor_id : GenuineIntel\nprocessor : 0\n")


def test_hex_family_accepted():
    cpu, _w = parse_cpuinfo("processor\t: 0\nvendor_id\t: X\ncpu family\t: 0x19\nmodel\t: 1\nflags\t: a b\n\n")
    assert cpu["family"] == 25


def test_missing_identity_lines_warn():
    cpu, warnings = parse_cpuinfo("processor\t: 0\nflags\t: fpu\n\n")
    assert cpu["vendor"] is None and cpu["family"] is None and cpu["model"] is None
    assert any("'vendor_id'" in w for w in warnings)


def test_absent_bugs_line_is_unknown_not_empty():
    """x86 kernels print "bugs\t\t:" even with no bug set; a stanza without it was cut or edited."""
    cpu, warnings = parse_cpuinfo(
        "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t: 85\nflags\t: fpu ibpb\n\n"
    )
    assert cpu["bugs"] is None
    assert cpu["bugs_reason"] == "/proc/cpuinfo: boot CPU has no 'bugs' line"
    assert cpu["bugs_reason"] in warnings
    assert (cpu["flags"], cpu["flags_reason"], cpu["ibpb"], cpu["hypervisor"]) == (["fpu", "ibpb"], None, True, False)


def test_present_empty_bugs_line_is_an_empty_list():
    cpu, warnings = parse_cpuinfo(
        "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t: 106\nflags\t: fpu\nbugs\t\t:\n\n"
    )
    assert (cpu["bugs"], cpu["bugs_reason"]) == ([], None)
    assert warnings == []
