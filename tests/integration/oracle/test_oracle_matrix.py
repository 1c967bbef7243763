"""The real-kernel oracle: real Debian kernels booted under QEMU TCG with chosen CPU identities.

For every case of the matrix (tools/oracle/matrix.py: profile x kernel x cmdline) the capture of
what the kernel printed is turned into a `root` snapshot; vmscape_facts' collector and the decision
core must predict exactly the vmscape string the kernel printed. Plain-cmdline cases whose plan says
"set" are booted again with the plan's parameters, and the kernel must print exactly the plan's
expected_sysfs. Everything is cached under $VMSCAPE_CACHE (docs/testing.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import collect_facts
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import make_plan
from tools.oracle import boot, capture, matrix, snapshot
from tools.oracle.cache import REPO, cache_dir

CASES = matrix.cases()
CASE_BY_ID = {c.id: c for c in CASES}

pytestmark = pytest.mark.oracle

CASE_IDS = [c.id for c in CASES]
NONE_CASE_IDS = [c.id for c in CASES if c.cmdline == ""]
IBPB_EXIT = "Mitigation: IBPB before exit to userspace"


def _root_for(run, case_id: str, cap: dict) -> Path:
    c = CASE_BY_ID[case_id]
    key = run.results[case_id].key
    root = cache_dir() / "oracle-roots" / f"{c.kernel}_{c.profile}_{key[:8]}"
    shutil.rmtree(root, ignore_errors=True)
    return snapshot.write_root(cap, root, run.kernels[c.kernel])


def _details(cap: dict, facts=None, plan=None, root=None) -> str:
    vulns = capture.vulnerabilities(cap)
    out = {
        "root": str(root) if root else None,
        "kernel_printed": {k: vulns.get(k) for k in ("vmscape", "retbleed", "spec_rstack_overflow", "spectre_v2")},
        "cmdline": cap["files"]["/proc/cmdline"].strip(),
        "dmesg": [line for line in cap["dmesg"] if "VMSCAPE" in line or "RETBleed" in line or "SRSO" in line],
        "plan": plan,
        "facts": facts,
    }
    return json.dumps(out, indent=1, default=str)


# --- the captures themselves (run whether or not the facts module / decision core exist) ----------


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_capture_is_the_profile_and_kernel_asked_for(oracle, case_id):
    c = CASE_BY_ID[case_id]
    cap = oracle.capture(case_id)
    kernel, profile = oracle.kernels[c.kernel], oracle.profiles[c.profile]
    first = capture.cpuinfo_first(cap)
    flags = first["flags"].split()
    assert cap["uname_r"] == kernel.release
    assert f"Debian {kernel.meta['debian_version']}" in cap["files"]["/proc/version"]
    assert cap["files"]["/proc/cmdline"].strip() == boot.full_cmdline(c.cmdline)
    assert capture.processors(cap) == profile.vcpus
    assert ("hypervisor" in flags) is profile.hypervisor
    assert ("ibpb" in flags) is profile.ibpb, f"{case_id}: ibpb flag, flags={flags}"
    assert bool(capture.bhi_ctrl(cap)) is profile.bhi_ctrl, f"{case_id}: CPUID 7.2 = {cap['cpuid'].get((7, 2))}"
    has_file = capture.vmscape(cap) is not None
    assert has_file is (kernel.meta["generation"] != "none"), f"{case_id}: vmscape file present={has_file}"


# Kernel facts from ../shared/vmscape-facts.md and lab-notes.md, checked on the real kernels.
ANCHORS = [
    ("deb-6.1|intel-skylake-sp|none", IBPB_EXIT),
    ("deb-6.1|intel-alderlake|none", IBPB_EXIT),
    ("deb-6.1|intel-icelake-sp|none", "Not affected"),
    ("deb-6.1|amd-zen5|none", "Not affected"),  # the 6.1 branch's list lacks family 0x1a
    ("deb-6.12|amd-zen5|none", IBPB_EXIT),
    ("deb-6.1|amd-zen5|vmscape=force", IBPB_EXIT),
    ("deb-6.1|intel-sierraforest|none", "Not affected"),  # 6.1 lacks 0xAF
    ("deb-6.12|intel-sierraforest|none", IBPB_EXIT),
    ("deb-6.12|guest-skylake-sp|none", "Not affected"),
    ("deb-6.12|intel-skylake-sp-olducode|none", "Vulnerable"),
    ("deb-7.x|intel-skylake-sp|vmscape=off", "Vulnerable"),
    ("deb-6.1|intel-skylake-sp|mitigations=off vmscape=ibpb", "Vulnerable"),  # G1: mitigations=off wins
    ("deb-7.x|intel-skylake-sp|mitigations=off vmscape=ibpb", IBPB_EXIT),  # G2: explicit ibpb mitigates
    ("deb-6.1|intel-skylake-sp|mitigations=auto,no_guest_host", IBPB_EXIT),  # G1: not consulted
    ("deb-7.x|intel-skylake-sp|mitigations=auto,no_guest_host", "Vulnerable"),
    ("deb-7.x|intel-skylake-sp|mitigations=auto,no_guest_host vmscape=force", "Vulnerable"),
    ("deb-7.x|intel-skylake-sp|vmscape=bhb", IBPB_EXIT),  # unknown value ignored
    ("deb-6.16-pre|intel-skylake-sp|none", None),  # predates VMSCAPE: no sysfs file
]


@pytest.mark.parametrize(("case_id", "expected"), ANCHORS, ids=[a[0] for a in ANCHORS])
def test_kernel_prints_documented_verdict(oracle, case_id, expected):
    assert case_id in CASE_BY_ID, f"anchor {case_id} is not in the matrix"
    cap = oracle.capture(case_id)
    assert capture.vmscape(cap) == expected, _details(cap)


def test_snapshot_has_real_device_semantics(oracle, tmp_path):
    case_id = "deb-7.x|intel-alderlake|none"
    cap = oracle.capture(case_id)
    root = snapshot.write_root(cap, tmp_path / "root", oracle.kernels["deb-7.x"])
    with open(root / "dev/cpu/0/cpuid", "rb") as fh:
        fh.seek(7 | (2 << 32))
        edx = int.from_bytes(fh.read(16)[12:16], "little")
        fh.seek(7)
        max_sub = int.from_bytes(fh.read(4), "little")
    assert edx & 0x10 and max_sub >= 2
    rel = oracle.kernels["deb-7.x"].release
    assert (root / "proc/sys/kernel/osrelease").read_text() == rel + "\n"
    assert (root / f"boot/vmlinuz-{rel}").stat().st_size == oracle.kernels["deb-7.x"].vmlinuz.stat().st_size
    assert f"/boot/vmlinuz-{rel} console=ttyS0 panic=-1\n" in (root / "boot/grub/grub.cfg").read_text()
    vm = (root / "sys/devices/system/cpu/vulnerabilities/vmscape").read_text()
    assert vm == IBPB_EXIT + "\n"


# --- the decision core against the kernels ------------------------------------------------------


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_plan_predicts_what_the_kernel_printed(oracle, case_id):
    cap = oracle.capture(case_id)
    root = _root_for(oracle, case_id, cap)
    facts = collect_facts(str(root))
    plan = make_plan(facts, policy=None)
    observed = capture.vmscape(cap)
    agreed = plan["predicted_current"] == observed
    oracle.record(
        "predict",
        case_id,
        agreed,
        observed=observed,
        predicted=plan["predicted_current"],
        action=plan.get("action"),
        mode=plan.get("mode"),
        **({} if agreed else {"reasons": plan.get("reasons"), "root": str(root)}),
    )
    assert agreed, f"{case_id}: predicted {plan['predicted_current']!r}, kernel printed {observed!r}\n" + _details(
        cap, facts, plan, root
    )


@pytest.fixture(scope="session")
def verification_boots(oracle):
    """Plans of every plain-cmdline case; second boots (2 at a time) of those whose action is set."""
    wanted = [i for i in NONE_CASE_IDS if i in oracle.needed] or NONE_CASE_IDS
    oracle.boot_cases(wanted)
    plans, jobs = {}, {}
    for case_id in wanted:
        if case_id not in oracle.results:
            continue
        cap = capture.parse_capture(oracle.results[case_id].text)
        plan = make_plan(collect_facts(str(_root_for(oracle, case_id, cap))), policy=None)
        plans[case_id] = plan
        if plan["action"] == "set":
            c = CASE_BY_ID[case_id]
            jobs[case_id] = (c.kernel, c.profile, plan_cmdline(plan))
    booted = oracle.boot_extra(list(jobs.values()))
    return plans, {case_id: booted[job] for case_id, job in jobs.items()}


def plan_cmdline(plan: dict) -> str:
    """The parameters the plan sets, as kernel cmdline text (the base cmdline is empty here)."""
    parts = []
    for name, value in (plan.get("cmdline") or {}).items():
        if value is None or value is False:
            continue  # removal: nothing to remove from an empty cmdline
        parts.append(name if value is True else f"{name}={value}")
    return " ".join(parts)


@pytest.mark.parametrize("case_id", NONE_CASE_IDS)
def test_kernel_prints_expected_sysfs_after_applying_plan(oracle, verification_boots, case_id):
    plans, boots = verification_boots
    plan = plans.get(case_id)
    if plan is None:
        pytest.fail(oracle.errors.get(case_id, f"{case_id}: no first boot"), pytrace=False)
    if plan["action"] != "set":
        # Nothing to apply (none, blocked, kernel_upgrade): no second boot. The plan must change
        # nothing and expect what the unchanged kernel printed (the next boot is this boot again).
        cap = oracle.capture(case_id)
        observed = capture.vmscape(cap)
        agreed = (
            plan["expected_sysfs"] == observed
            and not plan["cmdline"]
            and not plan["cmdline_remove"]
            and plan["reboot_required"] is False
        )
        oracle.record("unchanged", case_id, agreed, action=plan["action"], observed=observed,
                      expected=plan["expected_sysfs"])  # fmt: skip
        assert agreed, f"{case_id}: action {plan['action']!r} but the plan is not a no-op expecting {observed!r}\n" + (
            _details(cap, None, plan)
        )
        return
    res = boots[case_id]
    if isinstance(res, str):
        pytest.fail(res, pytrace=False)
    cap = capture.parse_capture(res.text)
    observed = capture.vmscape(cap)
    agreed = observed == plan["expected_sysfs"]
    oracle.record(
        "verify",
        case_id,
        agreed,
        cmdline=plan_cmdline(plan),
        observed=observed,
        expected=plan["expected_sysfs"],
        **({} if agreed else {"reasons": plan.get("reasons")}),
    )
    assert agreed, f"{case_id} + {plan_cmdline(plan)}: expected {plan['expected_sysfs']!r}, got {observed!r}\n" + (
        _details(cap, None, plan)
    )


# --- through the real CLI -----------------------------------------------------------------------

CLI_CASES = ["deb-6.1|intel-skylake-sp|none", "deb-7.x|intel-alderlake|none", "deb-6.16-pre|amd-zen3|none"]


def _ansible(module: str, root: Path) -> dict:
    """Run ``ansible localhost -m MODULE -a root=ROOT`` from the checkout; the result as a dict."""
    ansible = Path(sys.executable).with_name("ansible")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["ANSIBLE_CALLBACK_RESULT_FORMAT"] = "json"  # ansible.cfg asks for yaml
    proc = subprocess.run(
        [str(ansible), "localhost", "-m", module, "-a", f"root={root}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"ansible -m {module} -a root={root} failed:\n{proc.stdout}\n{proc.stderr}"
    head, sep, body = proc.stdout.partition(" => ")
    assert sep and "SUCCESS" in head, f"unexpected ansible output:\n{proc.stdout}"
    return json.loads(body)


@pytest.mark.parametrize("case_id", CLI_CASES)
def test_cli_facts_and_plan_on_snapshot(oracle, case_id):
    cap = oracle.capture(case_id)
    root = _root_for(oracle, case_id, cap)
    facts_res = _ansible("fleetsec.vmscape.vmscape_facts", root)
    facts = facts_res["ansible_facts"]["vmscape"]
    assert facts["sysfs"].get("vmscape") == capture.vmscape(cap)
    assert facts["kernel"]["release"] == oracle.kernels[CASE_BY_ID[case_id].kernel].release
    plan_res = _ansible("fleetsec.vmscape.vmscape_plan", root)
    plan = plan_res["plan"]
    assert plan["predicted_current"] == capture.vmscape(cap), _details(cap, facts, plan, root)
