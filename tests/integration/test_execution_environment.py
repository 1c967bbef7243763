"""execution-environment.yml (ansible-builder v3) and `make ee` (tools/ee/build.sh).

No container engine runs here (docker is a client only), so the image is not built; what the
image's build stages do with the generated context is done here for real instead: the galaxy
stage's ``ansible-galaxy collection install -r requirements.yml`` (in the context's _build, as
the Containerfile runs it), the builder stage's introspection of the installed collections (the
system and Python requirements the final stage installs), and the installed collection is used:
ansible-doc of its modules and a syntax check of its playbooks from the EE's collections path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration


def _env():
    return {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    out = tmp_path_factory.mktemp("ee")
    env = dict(_env(), EE_DIR=str(out), VENV=str(BIN.parent), EE_BUILD="never")
    proc = subprocess.run(
        [str(REPO / "tools" / "ee" / "build.sh")], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no image built" in proc.stdout
    return out


def test_containerfile_installs_the_supported_ansible_and_this_collection(context):
    containerfile = (context / "context" / "Containerfile").read_text()
    definition = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="(.*)"$', containerfile, re.M).group(1)
    assert "ansible-core>=2.16,<2.17" in refs and "ansible-runner" in refs
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["requires_ansible"]
    assert runtime == ">=2.16.0"  # the EE's ansible-core is the collection's floor
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    reqs = yaml.safe_load((context / "context" / "_build" / "requirements.yml").read_text())
    (entry,) = reqs["collections"]
    tarball = context / "context" / "_build" / entry["name"]
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        names = tar.getnames()
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert (manifest["collection_info"]["namespace"], manifest["collection_info"]["name"]) == ("fleetsec", "vmscape")
    assert manifest["collection_info"]["version"] == galaxy["version"]
    assert "meta/execution-environment.yml" in names and "playbooks/callback_plugins/vmscape_fleet_report.py" in names


def test_the_build_stages_install_the_collection_and_its_requirements(context, tmp_path):
    # galaxy stage: COPY _build /build; WORKDIR /build; ansible-galaxy collection install -r requirements.yml
    build = tmp_path / "build"
    shutil.copytree(context / "context" / "_build", build)
    share = tmp_path / "usr" / "share" / "ansible" / "collections"
    proc = subprocess.run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "install",
            "-r",
            "requirements.yml",
            "--collections-path",
            str(share),
        ],
        cwd=build,
        capture_output=True,
        text=True,
        env=dict(_env(), ANSIBLE_GALAXY_DISABLE_GPG_VERIFY="1"),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = share / "ansible_collections" / "fleetsec" / "vmscape"
    assert (installed / "MANIFEST.json").is_file()

    # builder stage: introspect.py introspect --write-bindep --write-pip (what the final stage installs)
    bindep, pip = tmp_path / "bindep.txt", tmp_path / "requirements.txt"
    proc = subprocess.run(
        [
            sys.executable,
            str(build / "scripts" / "introspect.py"),
            "introspect",
            str(share),
            f"--write-bindep={bindep}",
            f"--write-pip={pip}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    system = bindep.read_text()
    assert "openssh-clients [platform:rpm]" in system and "# from collection fleetsec.vmscape" in system
    assert not pip.exists() or not pip.read_text().strip()  # nothing beyond ansible-core on the controller

    # the final image's collections path serves the collection
    env = dict(_env(), ANSIBLE_COLLECTIONS_PATH=str(share.parent / "collections"))
    for name in ("vmscape_facts", "kernel_cmdline", "vmscape_report"):
        doc = subprocess.run(
            [str(BIN / "ansible-doc"), "-t", "module", f"fleetsec.vmscape.{name}", "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert doc.returncode == 0, doc.stderr
        assert json.loads(doc.stdout)[f"fleetsec.vmscape.{name}"]["doc"]["collection"] == "fleetsec.vmscape"
    for playbook in ("audit", "remediate", "rollback", "report", "pull"):
        check = subprocess.run(
            [str(BIN / "ansible-playbook"), "--syntax-check", f"fleetsec.vmscape.{playbook}"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert check.returncode == 0, (playbook, check.stdout + check.stderr)
