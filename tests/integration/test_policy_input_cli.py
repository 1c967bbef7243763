"""Operator input through the real ansible CLI: a mode pinned to an injection attempt is refused
with an error naming the variable, before anything is planned or changed; a valid pin works.
Runs ansible / ansible-playbook from the checkout on a committed snapshot root (no host touched)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAP = REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake"
BIN = Path(shutil.which("ansible") or REPO / ".venv" / "bin" / "ansible").parent
ENV = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), VMSCAPE_REPORT_FILES="false", ANSIBLE_NOCOLOR="1")

pytestmark = pytest.mark.integration

INJECTIONS = ["ibpb; reboot", "$(reboot)", "ibpb\nforce", "`id`", "ibpb vmscape=off"]


def ansible(*args, timeout=300):
    return subprocess.run(
        [str(BIN / "ansible"), "localhost", *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("module", ["vmscape_plan", "vmscape_audit"])
@pytest.mark.parametrize("mode", INJECTIONS)
def test_action_refuses_a_mode_outside_the_allow_list(module, mode):
    args = json.dumps({"root": str(SNAP), "mode": mode})
    p = ansible("-m", f"fleetsec.vmscape.{module}", "-a", args)
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "is not one of" in out and "vmscape_mode" in out, out
    assert '"plan"' not in p.stdout  # refused before a plan was made


def test_action_plans_with_a_valid_pin():
    p = ansible("-m", "fleetsec.vmscape.vmscape_plan", "-a", json.dumps({"root": str(SNAP), "mode": "force"}))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "vmscape=force" in p.stdout


ROLE_PLAY = """
- name: validate the role's variables
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Assess
      ansible.builtin.import_role:
        name: fleetsec.vmscape.vmscape
        tasks_from: assess
"""


@pytest.mark.parametrize("mode", ["$(reboot)", "ibpb; rm -rf /"])
def test_role_spec_refuses_before_any_task(tmp_path, mode):
    pb = tmp_path / "pb.yml"
    pb.write_text(ROLE_PLAY)
    extra = json.dumps({"vmscape_mode": mode, "vmscape_root": str(SNAP)})
    p = subprocess.run(
        [str(BIN / "ansible-playbook"), str(pb), "-e", extra],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode != 0
    out = p.stdout + p.stderr
    assert "vmscape_mode" in out and "must be one of" in out, out
    assert "Observe and plan the VMSCAPE mitigation" not in out  # no task after the validation ran
