"""Malformed facts given to the plan are refused with an error naming the field (issue 11), never
planned on; nullable fields (unknown) are accepted and decided by the evidence rules."""

import copy

import pytest
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.facts_schema import read_facts
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import PlanError, make_plan


def with_value(path, value):
    f = facts()
    cur = f
    *parents, last = path.split(".")
    for part in parents:
        cur = cur[part]
    cur[last] = value
    return f


def without(path):
    f = facts()
    cur = f
    *parents, last = path.split(".")
    for part in parents:
        cur = cur[part]
    del cur[last]
    return f


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # the examples of issue 11
        ("cpu.family", -1, "facts.cpu.family: -1 is not an x86 CPU family (0..0x10e)"),
        ("boot_kernel", "x", "facts.boot_kernel: expected Mapping, got 'x'"),
        ("schema", 1, "facts.schema: 1 is not supported: this collection reads schema 2"),
        ("schema", 3, "facts.schema: 3 is not supported"),
        ("schema", "2", "facts.schema: '2' is not supported"),
        ("schema", True, "facts.schema: True is not supported"),
        # ranges of the CPUID identity
        ("cpu.family", 0x10F, "facts.cpu.family: 271 is not an x86 CPU family (0..0x10e)"),
        ("cpu.model", 256, "facts.cpu.model: 256 is not an x86 CPU model (0..0xff)"),
        ("cpu.stepping", 16, "facts.cpu.stepping: 16 is not an x86 CPU stepping (0..0xf)"),
        ("cpu.family", 6.0, "facts.cpu.family: expected int or null, got 6.0"),
        # types
        ("cpu.hypervisor", "false", "facts.cpu.hypervisor: expected bool or null, got 'false'"),
        ("cpu.bugs", "vmscape", "facts.cpu.bugs: expected list or null, got 'vmscape'"),
        ("cpu.flags", ["fpu", 3], r"facts.cpu.flags[1]: expected str, got 3"),
        ("kernel.version", "6.1.x", "facts.kernel.version: '6.1.x' is not an upstream version X.Y[.Z]"),
        ("kernel.version", "6.1.192\n", "is not an upstream version"),
        ("kernel.version_source", "guess", "facts.kernel.version_source: 'guess' is not one of proc_version,"),
        (
            "boot_kernel.release",
            "6.1.0 ; reboot",
            "facts.boot_kernel.release: '6.1.0 ; reboot' is not a kernel release",
        ),
        ("boot_kernel.release", "../../etc", "is not a kernel release"),
        ("boot_kernel.source", "magic", "facts.boot_kernel.source: 'magic' is not one of grub_cfg"),
        ("boot_kernel.knows_vmscape", "yes", "facts.boot_kernel.knows_vmscape: expected bool or null"),
        ("boot_kernel.image_check", None, "facts.boot_kernel.image_check: expected Mapping, got None"),
        ("boot_kernel.image_check.ok", "true", "facts.boot_kernel.image_check.ok: expected bool or null"),
        ("boot_kernel.is_running", None, "facts.boot_kernel.is_running: expected bool, got None"),
        ("sysfs", ["vmscape"], "facts.sysfs: expected Mapping or null"),
        ("sysfs", {"vmscape": 1}, "facts.sysfs['vmscape']: expected a string or null, got 1"),
        ("cmdline.tokens", "ro quiet", "facts.cmdline.tokens: expected list or null"),
        ("cmdline.tokens", [{"raw": "ro"}], r"facts.cmdline.tokens[0]: expected a token with a name"),
        ("bootloader.tokens", [{"name": "a", "value": 1}], r"facts.bootloader.tokens[0]: value must be a string"),
        ("observation", None, "facts.observation: expected Mapping, got None"),
        ("observation.run", 5, "facts.observation.run: expected str or null, got 5"),
    ],
)
def test_malformed_facts_name_the_field(path, value, message):
    f = with_value(path, value)
    with pytest.raises(PlanError) as err:
        make_plan(f)
    assert message in str(err.value)


@pytest.mark.parametrize("path", ["schema", "observation", "cpu.bugs", "boot_kernel.image_check", "sysfs_reason"])
def test_missing_fields_are_named(path):
    with pytest.raises(PlanError, match=rf"^facts\.{path}: missing"):
        make_plan(without(path))


def test_null_without_a_reason_is_refused():
    f = facts(bugs=["vmscape"])
    f["cpu"]["bugs"] = None  # unknown, but the document does not say why
    with pytest.raises(PlanError, match=r"facts\.cpu\.bugs_reason: null although cpu\.bugs is null"):
        make_plan(f)
    f = facts()
    f["sysfs"] = None
    with pytest.raises(PlanError, match=r"facts\.sysfs_reason: null although sysfs is null"):
        make_plan(f)


def test_not_a_mapping():
    with pytest.raises(PlanError, match=r"^facts: expected a mapping \(ansible_facts.vmscape\), got list$"):
        make_plan([1, 2])


def test_nullable_fields_are_unknown_not_errors():
    f = facts()
    f["cpu"].update(family=None, model=None, stepping=None, microcode=None, bhi_ctrl=None)
    f["kernel"].update(release=None, version=None, version_source=None)
    plan = make_plan(f)
    assert plan["action"] == "blocked"
    assert "/proc/cpuinfo has no 'cpu family', 'model' line" in plan["reasons"][0]


def test_valid_facts_read_back_typed():
    obs = read_facts(facts(bugs=["vmscape"]))
    assert obs.cpu.family == 6 and obs.cpu.bugs == ("vmscape",)
    assert obs.cmdline[0] == ("BOOT_IMAGE", "/boot/vmlinuz")


def test_errors_do_not_echo_long_values():
    f = with_value("boot_kernel.release", "x" * 5000)
    with pytest.raises(PlanError) as err:
        make_plan(f)
    assert len(str(err.value)) < 200


def test_reading_does_not_modify_the_facts():
    f = facts(cmdline="ro mitigations=off")
    before = copy.deepcopy(f)
    make_plan(f, {"allow_remove_mitigations_off": True})
    assert f == before
