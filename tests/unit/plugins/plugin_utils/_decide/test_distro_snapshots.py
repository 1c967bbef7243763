"""Distribution-kernel hosts (tests/data/distros): the plan is right on each and says which evidence
it used. Expectations are tests/data/distros/expected.yaml, written by hand (README.md there)."""

import pytest
import yaml
from distro_fixtures import BUILDERS, DISTROS

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import collect_facts
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import make_plan

EXPECTED = yaml.safe_load((DISTROS / "expected.yaml").read_text())


def test_every_host_has_expectations():
    roots = sorted(p.name for p in DISTROS.iterdir() if p.is_dir())
    assert roots == sorted(EXPECTED)
    assert len(roots) == len(BUILDERS) == 10


@pytest.mark.parametrize("builder", BUILDERS, ids=[b.__name__ for b in BUILDERS])
def test_committed_root_is_what_the_builder_writes(tmp_path, builder):
    built = builder(tmp_path)
    committed = DISTROS / built.name
    listing = sorted(str(p.relative_to(built)) for p in built.rglob("*"))
    assert listing == sorted(str(p.relative_to(committed)) for p in committed.rglob("*"))
    for p in built.rglob("*"):
        if p.is_file():
            assert p.read_bytes() == (committed / p.relative_to(built)).read_bytes(), p


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_plan_on_distribution_host(host):
    want = EXPECTED[host]
    facts = collect_facts(str(DISTROS / host))
    assert facts["warnings"] == [] or all("cpuid" in w for w in facts["warnings"]), facts["warnings"]
    plan = make_plan(facts)
    assert plan["action"] == want["action"], plan["reasons"]
    assert plan["cmdline"] == want["cmdline"], plan["reasons"]
    for key in ("expected_sysfs", "reboot_required", "compliant", "predicted_current"):
        if key in want:
            assert plan[key] == want[key], (key, plan["reasons"])
    for kernel in ("running", "next_boot"):
        for key, value in (want.get(kernel) or {}).items():
            assert plan["kernels"][kernel][key] == value, (kernel, key)
    for question, source in want.get("evidence", {}).items():
        assert plan["evidence"][question]["source"] == source, (question, plan["evidence"][question])
    text = " | ".join(plan["reasons"])
    for snippet in want.get("reason", []):
        assert snippet in text


def test_proxmox_compiler_string_is_not_a_debian_kernel_version():
    """/proc/version: '(gcc (Debian 12.2.0-14+deb12u1) ...) #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-14': the
    Debian version belongs to the compiler; the kernel's upstream version is the release's 6.8.12."""
    kernel = collect_facts(str(DISTROS / "proxmox8-milan-opt-in-kernel"), probe_image="never")["kernel"]
    assert (kernel["version"], kernel["version_source"], kernel["distro_version"]) == ("6.8.12", "release", None)


def test_ubuntu_signature_gives_the_upstream_base():
    kernel = collect_facts(str(DISTROS / "ubuntu2204-ga-skylake"), probe_image="never")["kernel"]
    assert (kernel["version"], kernel["version_source"], kernel["distro_version"]) == (
        "5.15.189",
        "version_signature",
        "5.15.0-160.170",
    )
