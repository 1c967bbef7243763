"""remediate.yml and audit.yml under a persistent fact cache, as AWX/AAP run them (the jsonfile cache
plugin, one file per host, kept between jobs): every decision and verification rests on what the
host shows in *this* run. The real ansible-playbook runs the real playbooks against a scratch
snapshot root (local connection, no host touched, no reboot: vmscape_reboot_policy=stage or
--check), the root is changed between runs, and a stale answer fails the test.

Before issue 9 the second run below reported pass / not_needed for a host that had become
vmscape=off / Vulnerable (the cached ansible_facts.vmscape of the first run was planned on and
verified against)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAP = REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake"
BIN = Path(shutil.which("ansible-playbook") or REPO / ".venv" / "bin" / "ansible-playbook").parent
IBPB = "Mitigation: IBPB before exit to userspace"
VULN = "/sys/devices/system/cpu/vulnerabilities/vmscape"

pytestmark = pytest.mark.integration


@pytest.fixture
def fleet(tmp_path):
    """A mitigated Skylake-SP host (6.1, IBPB) as a snapshot root, and a jsonfile fact cache."""
    root = tmp_path / "root"
    shutil.copytree(SNAP, root, symlinks=True)
    inv = tmp_path / "inventory.ini"
    inv.write_text(f"hv01 ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CACHE_PLUGIN="jsonfile",
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "fact-cache"),
        ANSIBLE_CACHE_PLUGIN_TIMEOUT="86400",
        VMSCAPE_REPORT_DIR=str(tmp_path / "reports"),
    )
    return root, inv, env, tmp_path


def host_shows(root, cmdline_extra, vmscape):
    """Change what the host shows: its running cmdline and its vmscape sysfs string."""
    cmdline = root / "proc" / "cmdline"
    base = cmdline.read_text().split(" vmscape=")[0].strip()
    cmdline.write_text(base + (" " + cmdline_extra if cmdline_extra else "") + "\n")
    (root / VULN.lstrip("/")).write_text(vmscape + "\n")


def play(fleet, playbook, *extra, verbose=False):
    """Run a playbook; return (the report's host record, stdout)."""
    root, inv, env, tmp = fleet
    reports = tmp / "reports"
    shutil.rmtree(reports, ignore_errors=True)
    argv = [
        str(BIN / "ansible-playbook"),
        playbook,
        "-i",
        str(inv),
        "-e",
        f"vmscape_root={root}",
        "-e",
        "vmscape_regenerate=false",
        *extra,
    ]
    if verbose:
        argv.append("-vvv")
    p = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    (report,) = reports.glob("*.json")
    doc = json.loads(report.read_text())
    (row,) = doc["rows"]
    return {"row": row, "host": doc["hosts"]["hv01"]}, p.stdout


def cached_facts(fleet):
    """The host's ansible_facts as the jsonfile cache keeps them (2.19+ wraps them in __payload__)."""
    _root, _inv, _env, tmp = fleet
    (path,) = (tmp / "fact-cache").glob("*hv01")
    doc = json.loads(path.read_text())
    if "__payload__" in doc:
        doc = json.loads(doc["__payload__"])
    return doc


def test_remediate_twice_changing_the_host_between_runs(fleet):
    root = fleet[0]
    first, _ = play(fleet, "remediate.yml", "-e", "vmscape_reboot_policy=stage")
    assert (first["row"]["before"], first["row"]["result"], first["row"]["reboot"]) == (IBPB, "pass", "not_needed")
    cached = cached_facts(fleet)["vmscape"]
    assert cached["sysfs"]["vmscape"] == IBPB  # the cache is hot: it holds run 1's observation

    host_shows(root, "vmscape=off", "Vulnerable")  # e.g. an operator booted it with vmscape=off

    second, _ = play(fleet, "remediate.yml", "-e", "vmscape_reboot_policy=stage")
    assert second["row"]["before"] == "Vulnerable"
    assert (second["row"]["result"], second["row"]["reboot"]) == ("pending", "pending")
    plan = second["host"]["plan"]
    assert plan["observed_current"] == "Vulnerable" and plan["reboot_required"] is True
    assert second["host"]["verify"]["observed"] == "Vulnerable"
    # not the cached observation: run 1's document carried its run and host, and was refused
    assert cached["observation"]["run"] and cached["observation"]["host"] == "hv01"
    assert plan["observation_id"] != cached["observation"]["id"]

    checked, _ = play(fleet, "remediate.yml", "--check")
    assert (checked["row"]["result"], checked["row"]["reboot"]) == ("pending", "would_reboot")
    assert cached_facts(fleet)["vmscape"]["sysfs"]["vmscape"] == "Vulnerable"  # the cache follows


def test_audit_twice_changing_the_host_between_runs(fleet):
    root = fleet[0]
    first, _ = play(fleet, "playbooks/audit.yml")
    assert (first["row"]["observed"], first["row"]["result"]) == (IBPB, "pass")

    host_shows(root, "vmscape=off", "Vulnerable")
    second, _ = play(fleet, "playbooks/audit.yml")
    assert (second["row"]["observed"], second["row"]["result"]) == ("Vulnerable", "pending")

    host_shows(root, "vmscape=ibpb", IBPB)  # and back: the cache now holds the Vulnerable run
    third, _ = play(fleet, "playbooks/audit.yml")
    assert (third["row"]["observed"], third["row"]["result"]) == (IBPB, "pass")


def test_tasks_given_cached_facts_observe_again(fleet):
    """A play that hands the cached document to the plan and to the verification explicitly (the way
    verify.yml passes assess's facts) gets what the host shows now, and is told why."""
    root, _inv, _env, tmp = fleet
    play(fleet, "playbooks/audit.yml")  # fills the cache: mitigated
    host_shows(root, "vmscape=off", "Vulnerable")
    playbook = tmp / "given.yml"
    playbook.write_text(
        f"""
- hosts: hv01
  gather_facts: false
  tasks:
    - name: Plan on the cached document
      fleetsec.vmscape.vmscape_plan:
        facts: "{{{{ ansible_facts['vmscape'] }}}}"
        root: {root}
      register: planned
    - name: Verify the cached document
      fleetsec.vmscape.vmscape_verify:
        plan: "{{{{ planned.plan }}}}"
        facts: "{{{{ hostvars[inventory_hostname]['ansible_facts']['vmscape'] }}}}"
        root: {root}
      register: verified
    - name: Write down what was used (local connection, a scratch file)
      ansible.builtin.copy:
        dest: {tmp}/used.json
        mode: "0600"
        content: "{{{{ {{'plan': [planned.facts_source | default(''), planned.facts_note | default(''),
          planned.plan.observed_current],
          'verify': [verified.facts_source | default(''), verified.verify.observed]}} | to_json }}}}"
"""
    )
    play(fleet, str(playbook))
    result = json.loads((tmp / "used.json").read_text())
    source, note, observed = result["plan"]
    assert (source, observed) == ("gathered", "Vulnerable")
    assert "observed in another run" in note and "fact cache" in note
    # the plan's own gathering replaced the stale document: verify was handed this run's, used it
    assert result["verify"] == ["given", "Vulnerable"]


def test_verify_without_reboot_reuses_this_runs_observation(fleet):
    """Performance (docs/performance.md): a host that needs no reboot costs one vmscape_facts run in
    remediate.yml, cache or not; its verification compares the observation assess made."""
    _first, out = play(fleet, "remediate.yml", "-e", "vmscape_reboot_policy=stage", verbose=True)
    runs = len(re.findall(r"Using module file \S+/plugins/modules/vmscape_facts\.py", out))
    assert runs == 1, out[-3000:]


def test_facts_observed_earlier_in_the_run_are_used_once_stamped(fleet):
    """A vmscape_facts task stamps this run and host on what it observed: a plan later in the run
    uses it (no second module run). What gather_facts collected carries no stamp (it cannot be
    told apart from a cached document): the plan observes again."""
    root, _inv, _env, tmp = fleet
    playbook = tmp / "stamped.yml"
    playbook.write_text(
        f"""
- hosts: hv01
  gather_facts: true
  vars:
    ansible_facts_modules: [fleetsec.vmscape.vmscape_facts]
  module_defaults:
    fleetsec.vmscape.vmscape_facts:
      root: {root}
  tasks:
    - name: Plan on what gather_facts collected
      fleetsec.vmscape.vmscape_plan:
        facts: "{{{{ ansible_facts['vmscape'] }}}}"
        root: {root}
      register: after_gather
    - name: Observe as a task
      fleetsec.vmscape.vmscape_facts:
        root: {root}
    - name: Plan on what the task observed
      fleetsec.vmscape.vmscape_plan:
      register: after_task
    - name: Write down what was used (local connection, a scratch file)
      ansible.builtin.copy:
        dest: {tmp}/used.json
        mode: "0600"
        content: "{{{{ [after_gather.facts_source, after_gather.facts_note, after_task.facts_source,
          ansible_facts['vmscape']['observation']] | to_json }}}}"
"""
    )
    play(fleet, str(playbook))
    gather_source, gather_note, task_source, observation = json.loads((tmp / "used.json").read_text())
    assert gather_source == "gathered" and "carries no observation.run" in gather_note
    assert task_source == "given"
    assert observation["host"] == "hv01" and re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}", observation["run"])
