"""Every field of the facts document the plan reads, with its type, whether null is allowed and
the exact refusal (found by `make mutation`). The table is written from docs/facts-schema.md
(schema 2): one row per field, so a field whose check is weakened or renamed fails a row."""

import pytest
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.facts_schema import PlanError, read_facts

# (path, type names as the message spells them, null allowed)
FIELDS = [
    ("root", "str", False),
    ("observation", "Mapping", False),
    ("observation.id", "str", False),
    ("observation.time", "int or float", False),
    ("observation.boot_id", "str", True),
    ("observation.run", "str", True),
    ("observation.host", "str", True),
    ("cpu", "Mapping", False),
    ("kernel", "Mapping", False),
    ("boot_kernel", "Mapping", False),
    ("cmdline", "Mapping", False),
    ("bootloader", "Mapping", False),
    ("cpu.vendor", "str", True),
    ("cpu.family", "int", True),
    ("cpu.model", "int", True),
    ("cpu.stepping", "int", True),
    ("cpu.microcode", "str", True),
    ("cpu.model_name", "str", True),
    ("cpu.flags", "list", True),
    ("cpu.flags_reason", "str", True),
    ("cpu.bugs", "list", True),
    ("cpu.bugs_reason", "str", True),
    ("cpu.hypervisor", "bool", True),
    ("cpu.ibpb", "bool", True),
    ("cpu.bhi_ctrl", "bool", True),
    ("cpu.bhi_ctrl_reason", "str", True),
    ("kernel.release", "str", True),
    ("kernel.version", "str", True),
    ("kernel.version_source", "str", True),
    ("kernel.distro_version", "str", True),
    ("kernel.proc_version", "str", True),
    ("boot_kernel.image_check", "Mapping", False),
    ("boot_kernel.release", "str", True),
    ("boot_kernel.source", "str", True),
    ("boot_kernel.source_reason", "str", True),
    ("boot_kernel.image", "str", True),
    ("boot_kernel.version", "str", True),
    ("boot_kernel.version_source", "str", True),
    ("boot_kernel.distro_version", "str", True),
    ("boot_kernel.knows_vmscape", "bool", True),
    ("boot_kernel.bhb_series", "bool", True),
    ("boot_kernel.config_mitigation_vmscape", "bool", True),
    ("boot_kernel.evidence", "list", False),
    ("boot_kernel.probe_errors", "list", False),
    ("boot_kernel.image_check.ok", "bool", True),
    ("boot_kernel.image_check.problems", "list", False),
    ("boot_kernel.is_running", "bool", False),
    ("sysfs", "Mapping", True),
    ("sysfs_reason", "str", True),
    ("cmdline.tokens", "list", True),
    ("cmdline.reason", "str", True),
    ("bootloader.tokens", "list", True),
    ("bootloader.configured_cmdline_reason", "str", True),
    ("bootloader.backend", "str", False),
]


def doc(path=None, value=None, delete=False):
    f = facts(bugs=["vmscape"])
    if path is None:
        return f
    cur = f
    *parents, last = path.split(".")
    for part in parents:
        cur = cur[part]
    if delete:
        del cur[last]
    else:
        cur[last] = value
    return f


def refusal(f):
    with pytest.raises(PlanError) as err:
        read_facts(f)
    return str(err.value)


def wrong_value(names):
    # a value of none of the allowed types (a float is fine where a number is: use a str then)
    return "x" if "float" in names else 2.5


@pytest.mark.parametrize(("path", "names", "nullable"), FIELDS, ids=[f[0] for f in FIELDS])
def test_every_field_has_its_type(path, names, nullable):
    bad = wrong_value(names)
    expected = f"facts.{path}: expected {names}{' or null' if nullable else ''}, got {bad!r}"
    assert refusal(doc(path, bad)) == expected
    if names != "bool":  # True is no int, no str, no list
        assert refusal(doc(path, True)).endswith(", got True")


@pytest.mark.parametrize(("path", "names", "nullable"), FIELDS, ids=[f[0] for f in FIELDS])
def test_every_field_is_required(path, names, nullable):
    assert refusal(doc(path, delete=True)) == (
        f"facts.{path}: missing (is this the output of fleetsec.vmscape.vmscape_facts?)"
    )


NULL_NEEDS = {  # a null that needs a companion (the schema's cross-checks)
    "cpu.flags": ("cpu.flags_reason", "flags missing from cpuinfo"),
    "cpu.bugs": ("cpu.bugs_reason", "bugs missing from cpuinfo"),
    "sysfs": ("sysfs_reason", "sysfs not mounted"),
    "boot_kernel.source": ("boot_kernel.release", None),
}


@pytest.mark.parametrize(("path", "names", "nullable"), FIELDS, ids=[f[0] for f in FIELDS])
def test_null_is_unknown_where_allowed(path, names, nullable):
    f = doc(path, None)
    if path in NULL_NEEDS:
        other, value = NULL_NEEDS[path]
        cur = f
        *parents, last = other.split(".")
        for part in parents:
            cur = cur[part]
        cur[last] = value
    if path == "cpu.flags":
        f["cpu"]["hypervisor"] = f["cpu"]["ibpb"] = None
    if path in ("cpu.hypervisor", "cpu.ibpb"):  # unknown only when the flags line is
        f["cpu"]["flags"], f["cpu"]["flags_reason"] = None, "flags missing from cpuinfo"
    if nullable:
        read_facts(f)
    else:
        assert refusal(f) == f"facts.{path}: expected {names}, got None"


def test_cross_checks():
    f = doc("cpu.flags", None)
    assert refusal(f) == "facts.cpu.flags_reason: null although cpu.flags is null (why is it unknown?)"
    assert refusal(doc("cpu.bugs", None)) == (
        "facts.cpu.bugs_reason: null although cpu.bugs is null (why is it unknown?)"
    )
    assert refusal(doc("cpu.hypervisor", None)) == "facts.cpu.hypervisor/ibpb: null although cpu.flags is known"
    assert refusal(doc("cpu.ibpb", None)) == "facts.cpu.hypervisor/ibpb: null although cpu.flags is known"
    f = doc("boot_kernel.image_check", {"ok": False, "problems": [], "size": 0, "modules_dir": None})
    assert refusal(f) == "facts.boot_kernel.image_check.problems: empty although image_check.ok is false"
    f["boot_kernel"]["image_check"]["problems"] = ["/boot/vmlinuz-x: 0 bytes"]
    assert read_facts(f).boot.image_problems == ("/boot/vmlinuz-x: 0 bytes",)
    assert refusal(doc("boot_kernel.source", None)) == (
        "facts.boot_kernel.source: null although boot_kernel.release is known"
    )
    assert refusal(doc("sysfs", None)) == "facts.sysfs_reason: null although sysfs is null (why is it unknown?)"
    assert refusal(doc("sysfs", {3: "x"})) == "facts.sysfs[3]: expected a string or null, got 'x'"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("cpu.family", 0x10E, None),
        ("cpu.family", 0, None),
        ("cpu.model", 0xFF, None),
        ("cpu.stepping", 0xF, None),
        ("cpu.stepping", -1, "facts.cpu.stepping: -1 is not an x86 CPU stepping (0..0xf)"),
        ("cpu.model", -1, "facts.cpu.model: -1 is not an x86 CPU model (0..0xff)"),
        ("kernel.release", "6.1.0-56-amd64", None),
        ("kernel.release", "a" * 128, None),
        ("kernel.release", "a" * 129, f"facts.kernel.release: {'a' * 80!r:.80} is not a kernel release"),
        ("kernel.release", "-rc1", "facts.kernel.release: '-rc1' is not a kernel release"),
        ("kernel.version", "6.1", None),
        ("kernel.version", "6", "facts.kernel.version: '6' is not an upstream version X.Y[.Z]"),
        ("boot_kernel.version_source", "image_banner", None),
        (
            "boot_kernel.version_source",
            "proc_version",
            "facts.boot_kernel.version_source: 'proc_version' is not one of image_header, image_banner, release",
        ),
        (
            "kernel.version_source",
            "image_header",
            "facts.kernel.version_source: 'image_header' is not one of proc_version, version_signature, release",
        ),
        (
            "boot_kernel.source",
            "somewhere",
            "facts.boot_kernel.source: 'somewhere' is not one of grub_cfg, grubenv_saved, bls, systemd_boot, "
            "newest_installed, running",
        ),
        ("cpu.bugs", ["vmscape", None], "facts.cpu.bugs[1]: expected str, got None"),
        ("boot_kernel.evidence", [1], "facts.boot_kernel.evidence[0]: expected str, got 1"),
        ("observation.time", 1764600000, None),
        ("cmdline.tokens", ["ro"], "facts.cmdline.tokens[0]: expected a token with a name, got 'ro'"),
        (
            "bootloader.tokens",
            [{"name": "ro", "value": None}, {"name": None}],
            "facts.bootloader.tokens[1]: expected a token with a name, got {'name': None}",
        ),
    ],
)
def test_values_at_their_limits(path, value, message):
    f = doc(path, value)
    if message is None:
        read_facts(f)
    else:
        assert refusal(f) == message


def test_the_typed_view():
    f = doc()
    f["cpu"]["flags"] = ["fpu", "ibpb"]
    f["sysfs"] = {"vmscape": "Vulnerable", "retbleed": None}
    obs = read_facts(f)
    assert obs.root == "/" and obs.observation_id == "0" * 32 and obs.backend == "grub"
    assert (obs.cpu.vendor, obs.cpu.family, obs.cpu.model, obs.cpu.stepping) == ("GenuineIntel", 6, 85, 4)
    assert obs.cpu.flags == ("fpu", "ibpb") and obs.cpu.bugs == ("vmscape",)
    assert (obs.cpu.hypervisor, obs.cpu.ibpb, obs.cpu.bhi_ctrl) == (False, True, False)
    assert (obs.kernel.release, obs.kernel.version, obs.kernel.version_source) == (
        "6.1.0-56-amd64",
        "6.1.192",
        "proc_version",
    )
    b = obs.boot
    assert (b.release, b.source, b.image, b.version, b.version_source) == (
        "6.1.0-56-amd64",
        "grub_cfg",
        "/boot/vmlinuz-6.1.0-56-amd64",
        "6.1.192",
        "image_header",
    )
    assert (b.knows_vmscape, b.bhb_series, b.image_ok, b.image_problems, b.evidence) == (True, False, True, (), ())
    assert obs.cmdline == (("BOOT_IMAGE", "/boot/vmlinuz"), ("root", "/dev/vda1"), ("ro", None), ("quiet", None))
    assert obs.next_cmdline == obs.cmdline and obs.cmdline_reason is None
    assert obs.sysfs == {"vmscape": "Vulnerable", "retbleed": None} and obs.sysfs_reason is None


def test_another_schema_says_to_gather_again():
    f = facts()
    f["schema"] = 1
    with pytest.raises(PlanError) as err:
        read_facts(f)
    assert str(err.value) == (
        "facts.schema: 1 is not supported: this collection reads schema 2 "
        "(gather again with fleetsec.vmscape.vmscape_facts of this collection)"
    )


def test_a_next_boot_version_that_is_not_upstream():
    f = facts()
    f["boot_kernel"]["version"] = "6.1.0-56-amd64"
    with pytest.raises(PlanError) as err:
        read_facts(f)
    assert str(err.value) == "facts.boot_kernel.version: '6.1.0-56-amd64' is not an upstream version X.Y[.Z]"
