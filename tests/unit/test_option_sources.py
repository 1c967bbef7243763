"""One source per option: the role's argument specs, its defaults, the modules' documentation and the
argument specs in the code agree (issue 13).

- roles/vmscape/meta/argument_specs.yml, read by ansible-core's own YAML loader (its anchors and merge
  keys resolved as role validation and ansible-doc resolve them): every option has the default
  defaults/main.yml gives it, every variable of defaults/main.yml is an option of some entry point
  (except the drain examples' own, which only their tasks files read), the same option means the
  same everywhere, and the choices are the vocabulary's (plugins/module_utils/_vocabulary.py);
- every module's documentation as ansible-doc renders it (doc fragments included) offers the
  vocabulary's choices, and the action plugins' ARGUMENT_SPEC has the documented options with the
  documented types, defaults and choices (ansible-test's validate-modules checks the target-side
  modules' own specs against their documentation).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader

from ansible_collections.fleetsec.vmscape.plugins.action import (
    vmscape_plan,
    vmscape_reboot_gate,
    vmscape_report,
    vmscape_upgrade,
    vmscape_verify,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils import _specs, _vocabulary

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "vmscape"
# read only by the shipped drain/undrain example tasks files (docs/drain.md), not by an entry point
DRAIN_EXAMPLES = ("vmscape_libvirt_", "vmscape_proxmox_", "vmscape_openstack_")
CHOICES = {
    "vmscape_mode": _vocabulary.MODES,
    "vmscape_probe_image": _vocabulary.PROBE_MODES,
    "vmscape_boot_backend": _vocabulary.BACKEND_CHOICES,
    "vmscape_reboot_policy": _vocabulary.REBOOT_POLICIES,
    "vmscape_signal_reboot_required": _vocabulary.SIGNAL_MODES,
}
# module option -> the vocabulary its choices come from
MODULE_CHOICES = {
    "probe_image": _vocabulary.PROBE_MODES,
    "mode": _vocabulary.MODES,
    "backend": _vocabulary.BACKEND_CHOICES,
    "policy": _vocabulary.REBOOT_POLICIES,
    "reboot_required_file": _vocabulary.SIGNAL_MODES,
    "rows": _vocabulary.REPORT_ROWS,
}
ACTIONS = {
    "vmscape_plan": vmscape_plan.ARGUMENT_SPEC,
    "vmscape_audit": vmscape_plan.ARGUMENT_SPEC,  # the audit takes the plan's options
    "vmscape_verify": vmscape_verify.ARGUMENT_SPEC,
    "vmscape_reboot_gate": vmscape_reboot_gate.ARGUMENT_SPEC,
    "vmscape_report": vmscape_report.ARGUMENT_SPEC,
    "vmscape_upgrade": vmscape_upgrade.ARGUMENT_SPEC,
}


@pytest.fixture(scope="module")
def specs():
    return DataLoader().load_from_file(str(ROLE / "meta" / "argument_specs.yml"))["argument_specs"]


@pytest.fixture(scope="module")
def defaults():
    return DataLoader().load_from_file(str(ROLE / "defaults" / "main.yml"))


@pytest.fixture(scope="module")
def module_docs():
    names = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py"))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    out = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-doc")), "-j", *(f"fleetsec.vmscape.{n}" for n in names)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    docs = json.loads(out)
    assert sorted(docs) == [f"fleetsec.vmscape.{n}" for n in names]
    return {k.rsplit(".", 1)[1]: v["doc"] for k, v in docs.items()}


def options_of(specs):
    for ep, spec in specs.items():
        for name, option in (spec.get("options") or {}).items():
            yield ep, name, option


def test_every_option_has_the_role_default(specs, defaults):
    for ep, name, option in options_of(specs):
        assert name in defaults, f"{ep}: {name} is not in defaults/main.yml"
        if "default" in option:
            assert option["default"] == defaults[name], f"{ep}: {name}"
        else:
            assert defaults[name] in (None, ""), f"{ep}: {name} has no default in the spec"


def test_every_role_default_is_an_option(specs, defaults):
    documented = {name for _ep, name, _o in options_of(specs)}
    extra = sorted(n for n in defaults if n not in documented and not n.startswith(DRAIN_EXAMPLES))
    assert extra == [], "variables of defaults/main.yml no entry point declares"


def test_an_option_means_the_same_everywhere(specs):
    seen = {}
    for ep, name, option in options_of(specs):
        seen.setdefault(name, []).append((ep, option))
    for name, uses in seen.items():
        first = uses[0][1]
        assert all(option == first for _ep, option in uses), name


def test_choices_are_the_vocabulary(specs):
    found = {}
    for _ep, name, option in options_of(specs):
        if "choices" in option:
            found[name] = tuple(option["choices"])
    assert found == {name: tuple(values) for name, values in CHOICES.items() if name in found}
    assert set(CHOICES) <= set(found)


def test_assess_validates_every_stage(specs):
    stages = ("upgrade", "configure", "reboot", "verify", "undrain")
    every = set().union(*(set(specs[s]["options"]) for s in stages))
    assert every <= set(specs["assess"]["options"])
    assert specs["main"]["options"] == specs["assess"]["options"]


def test_module_documentation_offers_the_vocabulary(module_docs):
    checked = 0
    for module, doc in module_docs.items():
        for name, option in (doc.get("options") or {}).items():
            if name in MODULE_CHOICES:
                assert tuple(option.get("choices") or ()) == tuple(MODULE_CHOICES[name]), f"{module}: {name}"
                checked += 1
    assert checked >= 10  # probe_image x4, mode x3, backend, policy, reboot_required_file, rows


@pytest.mark.parametrize("module", sorted(ACTIONS))
def test_action_specs_are_the_documented_options(module, module_docs):
    doc = module_docs[module]["options"]
    spec = ACTIONS[module]
    assert set(spec) == set(doc)
    for name, option in spec.items():
        d = doc[name]
        assert option.get("type", "str") == d.get("type", "str"), f"{module}: {name}"
        assert option.get("default") == d.get("default"), f"{module}: {name}"
        assert bool(option.get("required")) == bool(d.get("required")), f"{module}: {name}"
        if "choices" in option:
            assert list(option["choices"]) == list(d.get("choices") or []), f"{module}: {name}"


def test_shared_specs_are_the_vocabulary():
    assert _specs.PROBE_IMAGE["choices"] == list(_vocabulary.PROBE_MODES)
    assert _specs.BACKEND["choices"] == list(_vocabulary.BACKEND_CHOICES)
    assert _specs.REBOOT_POLICY["choices"] == list(_vocabulary.REBOOT_POLICIES)
    copy = _specs.spec(root=_specs.ROOT)
    copy["root"]["default"] = "/x"
    assert _specs.ROOT["default"] == "/"  # callers get copies


def test_callback_documentation_offers_the_vocabulary():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    out = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-doc")), "-t", "callback", "-j", "fleetsec.vmscape.vmscape_report"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    option = json.loads(out)["fleetsec.vmscape.vmscape_report"]["doc"]["options"]["terminal_rows"]
    assert tuple(option["choices"]) == _vocabulary.REPORT_ROWS
    assert option["default"] == _vocabulary.REPORT_ROWS[0]
