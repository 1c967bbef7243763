"""Property tests: parsers of host files never crash with anything but their own clear error."""

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.bls import Entry
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_cfg import (
    grub_words,
    parse,
    resolve_default,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grubenv import EnvBlock
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts import kernel_probe as kp
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.cpuinfo import CpuinfoError, parse_cpuinfo
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.kernel_version import running_kernel, version_key

LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "processor\t: 0",
                "processor\t: 1",
                "vendor_id\t: GenuineIntel",
                "cpu family\t: 6",
                "model\t\t: 85",
                "stepping\t: 4",
                "flags\t\t: fpu ibpb hypervisor",
                "",
                "physical id\t: 1",
                "microcode\t: 0x1",
                "bugs\t\t: vmscape",
            ]
        ),
        st.text(max_size=30),
    ),
    max_size=30,
)


@settings(max_examples=examples(300))
@given(LINES)
def test_cpuinfo_parses_or_raises_its_own_error(lines):
    text = "\n".join(lines)
    try:
        cpu, warnings = parse_cpuinfo(text, "/proc/cpuinfo")
    except CpuinfoError as exc:
        assert str(exc).startswith("/proc/cpuinfo")
        return
    assert cpu["processors"] >= 1
    assert isinstance(warnings, list)


@settings(max_examples=examples(300))
@given(st.text(max_size=200), st.text(max_size=20))
def test_grub_text_never_crashes(text, spec):
    grub_words(text, {})
    grub_words(text, None)
    cfg = parse(text)
    resolve_default(cfg.tree, spec)
    cfg.linux_section_lines()
    cfg.images()
    try:
        EnvBlock(text.encode("utf-8", "surrogatepass"), "/boot/grub/grubenv").as_dict()
    except BootConfigError as exc:
        assert exc.message.startswith("/boot/grub/grubenv: ")
    entry = Entry("/boot/loader/entries/x.conf", "/x.conf", text)
    entry.variables()
    assert entry.options_text is None or isinstance(entry.options_text, str)


@settings(max_examples=examples(200))
@given(st.text(max_size=120), st.text(max_size=120), st.text(max_size=60))
def test_version_parsers_never_crash(a, b, c):
    k = running_kernel(a, b, c)
    assert k["version"] is None or k["version"][0].isdigit()
    version_key(a)


@settings(max_examples=examples(200))
@given(st.binary(min_size=0, max_size=0x600))
def test_bzimage_header_never_crashes(blob):
    kp.parse_bzimage_header(blob)
    kp.parse_bzimage_header(blob[:0x202] + b"HdrS" + blob[0x206:] + b"\0" * 0x300)
