"""Faults of the upgrade stage on a real lab VM (docs/upgrade.md "Faults"): `make lab-test`.

The host is upgrade-fixed in its provisioned state (Debian 6.16.3 without VMSCAPE, its local
repository offering the fixed kernel through linux-image-amd64); labctl resets its disk before and
after. Each fault is made real inside the VM and remediate.yml runs against it:

- the dpkg lock held by another process (a python3 holding an fcntl lock on
  /var/lib/dpkg/lock-frontend, as apt and dpkg take it): the install waits
  vmscape_upgrade_lock_timeout, then the host fails "locked by another process";
- a broken repository (a second source whose directory does not exist): refreshing the lists fails.

Each time the host must fail alone, with the reason in the report, nothing installed, and still
boot 6.16.3 next (GRUB's configuration unchanged). Checked over paramiko, not with the collection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_lab_smoke import HOSTS, REPO, _labctl, connect, run

pytestmark = pytest.mark.lab
NAME = "upgrade-fixed"


@pytest.fixture(scope="module")
def vm():
    host = HOSTS[NAME]
    _labctl("destroy", NAME, timeout=600)
    proc = _labctl("start", NAME)
    if proc.returncode != 0:
        pytest.fail(f"labctl start {NAME} failed:\n{proc.stdout}\n{proc.stderr}")
    with connect(host) as client:
        state = {
            "release": run(client, "uname -r").strip(),
            "grub": run(client, "cat /etc/default/grub /boot/grub/grub.cfg"),
            "kernels": installed_kernels(client),
        }
    yield host, state
    _labctl("destroy", NAME, timeout=600)


def remediate(tmp_path, *extra):
    reports = tmp_path / "reports"
    env = dict(os.environ, VMSCAPE_REPORT_DIR=str(reports), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "remediate.yml",
            "-i",
            "inventories/lab",
            "-e",
            f"vmscape_hosts={NAME}",
            *extra,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    (report,) = reports.glob("*.json")
    (row,) = json.loads(report.read_text())["rows"]
    return proc, row


def fixed_release():
    cache = Path(os.environ.get("VMSCAPE_CACHE") or Path.home() / ".cache" / "fleetsec-vmscape")
    return json.loads((cache / "lab" / "repos" / "fixed.json").read_text())["release"]


def installed_kernels(client):
    out = run(client, "dpkg-query -W -f '${Package} ${db:Status-Abbrev}\\n' 'linux-image-*'")
    return sorted(line.split()[0] for line in out.splitlines() if line.split()[1:] == ["ii"])


def unchanged(host, state):
    with connect(host) as client:
        assert run(client, "uname -r").strip() == state["release"]
        assert run(client, "cat /etc/default/grub /boot/grub/grub.cfg") == state["grub"]
        assert installed_kernels(client) == state["kernels"]


def test_dpkg_lock_held(vm, tmp_path):
    host, state = vm
    assert f"linux-image-{state['release']}" in state["kernels"]
    holder = (
        "import fcntl,time; f=open('/var/lib/dpkg/lock-frontend','w'); fcntl.lockf(f, fcntl.LOCK_EX); time.sleep(900)"
    )
    # held: a second fcntl lock on the file fails (the image has no fuser)
    probe = "import fcntl; f=open('/var/lib/dpkg/lock-frontend','w'); fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)"
    try:
        with connect(host) as client:
            run(client, f'setsid nohup python3 -c "{holder}" >/dev/null 2>&1 & sleep 3')
            assert run(client, f'python3 -c "{probe}" 2>/dev/null && echo free || echo held').strip() == "held"
        proc, row = remediate(tmp_path, "-e", "vmscape_upgrade_lock_timeout=15")
    finally:
        with connect(host) as client:
            run(client, "pkill -f 'lock[-]frontend' || true")
    assert proc.returncode != 0
    assert row["result"] == "error"
    assert "the package manager is locked by another process" in row["why"], row["why"]
    assert row["why"].endswith(f"the host keeps booting {state['release']}"), row["why"]
    unchanged(host, state)


def test_broken_repository(vm, tmp_path):
    host, state = vm
    with connect(host) as client:
        run(client, "echo 'deb [trusted=yes] file:/srv/no-such-mirror ./' > /etc/apt/sources.list.d/broken.list")
    try:
        proc, row = remediate(tmp_path)
    finally:
        with connect(host) as client:
            run(client, "rm -f /etc/apt/sources.list.d/broken.list")
    assert proc.returncode != 0
    assert row["result"] == "error"
    assert "refreshing the package lists failed (a repository is unreachable or broken" in row["why"], row["why"]
    assert "/srv/no-such-mirror" in row["why"]
    unchanged(host, state)


def test_installed_kernel_that_does_not_become_the_default(vm, tmp_path):
    """Last: it installs the kernel (the fixture resets the disk afterwards). GRUB_DEFAULT pins
    6.16.3 and vmscape_upgrade_set_default is false: the package installs, the next boot stays
    6.16.3, the host fails with that reason and is not rebooted."""
    host, state = vm
    proc, row = remediate(tmp_path, "-e", "vmscape_upgrade_set_default=false")
    assert proc.returncode != 0
    assert row["result"] == "error"
    assert "is installed but the next boot is still" in row["why"], row["why"]
    assert f"the host keeps booting {state['release']}" in row["why"], row["why"]
    with connect(host) as client:
        assert run(client, "uname -r").strip() == state["release"]
        grub = run(client, "cat /etc/default/grub")
        assert "GRUB_DEFAULT=" in grub and state["release"] in grub.split("GRUB_DEFAULT=", 1)[1].split("\n", 1)[0]
        # installed: the meta-package and the kernel it pins (the "fixed" set tools/lab/repos.py recorded)
        added = set(installed_kernels(client)) - set(state["kernels"])
        assert added == {"linux-image-amd64", f"linux-image-{fixed_release()}"}, added
