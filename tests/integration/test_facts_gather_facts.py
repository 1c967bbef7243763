"""vmscape_facts as a facts module of gather_facts (ansible_facts_modules / FACTS_MODULES), with
module_defaults passing root, through a real ansible-playbook run on localhost."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAP = REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake"
PLAYBOOK = """
- name: vmscape facts through gather_facts
  hosts: localhost
  gather_facts: true
  vars:
    {facts_var}
  module_defaults:
    fleetsec.vmscape.vmscape_facts:
      root: "{root}"
  tasks:
    - name: Dump the fact
      ansible.builtin.copy:
        content: >-
          {{{{ {{'vmscape': ansible_facts.vmscape,
                'has_setup': ansible_facts.distribution is defined}} | to_json }}}}
        dest: "{out}"
        mode: "0600"
"""

pytestmark = pytest.mark.integration


def run(tmp_path, facts_var="", env_extra=None):
    out = tmp_path / "out.json"
    pb = tmp_path / "pb.yml"
    pb.write_text(PLAYBOOK.format(facts_var=facts_var or "unused: 1", root=SNAP, out=out))
    bindir = Path(shutil.which("ansible-playbook") or REPO / ".venv" / "bin" / "ansible-playbook")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), **(env_extra or {}))
    p = subprocess.run([str(bindir), str(pb)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(out.read_text())


def test_env_facts_modules(tmp_path):
    got = run(tmp_path, env_extra={"ANSIBLE_FACTS_MODULES": "fleetsec.vmscape.vmscape_facts"})
    assert got["vmscape"]["root"] == str(SNAP)
    assert got["vmscape"]["boot_kernel"]["knows_vmscape"] is True
    assert got["has_setup"] is False  # only our module ran: one module per host


def test_play_var_with_setup(tmp_path):
    got = run(tmp_path, facts_var="ansible_facts_modules: [ansible.builtin.setup, fleetsec.vmscape.vmscape_facts]")
    assert got["vmscape"]["cpu"]["model"] == 85
    assert got["has_setup"] is True
