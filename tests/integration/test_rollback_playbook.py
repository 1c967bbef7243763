"""playbooks/rollback.yml through the real ansible-playbook on a scratch snapshot root (local
connection, no host touched, no reboot): a host whose restored configuration is in place but not
yet booted stays "pending reboot", also when an earlier run did the restore (found on the lab)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAP = REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake"
BIN = Path(shutil.which("ansible-playbook") or REPO / ".venv" / "bin" / "ansible-playbook").parent
IBPB = "Mitigation: IBPB before exit to userspace"

pytestmark = pytest.mark.integration


def edit(path, old, new):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


@pytest.fixture
def host(tmp_path):
    """Skylake-SP on 6.1 running vmscape=ibpb (IBPB) while its configuration says vmscape=off, as
    after a restore whose reboot has not happened: GRUB defaults and grub.cfg carry vmscape=off."""
    root = tmp_path / "root"
    shutil.copytree(SNAP, root, symlinks=True)
    edit(root / "proc" / "cmdline", " quiet", " quiet vmscape=ibpb")
    edit(
        root / "etc" / "default" / "grub",
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet"',
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet vmscape=off"',
    )
    cfg = root / "boot" / "grub" / "grub.cfg"
    cfg.write_text(
        "\n".join(
            line + " vmscape=off" if line.strip().startswith("linux") else line for line in cfg.read_text().splitlines()
        )
        + "\n"
    )
    assert (root / "sys" / "devices" / "system" / "cpu" / "vulnerabilities" / "vmscape").read_text().strip() == IBPB
    inv = tmp_path / "inventory.ini"
    inv.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    reports = tmp_path / "reports"
    env = dict(
        os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), VMSCAPE_REPORT_DIR=str(reports), ANSIBLE_NOCOLOR="1"
    )
    return root, inv, reports, env


def run(argv, env):
    p = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def kernel_cmdline(root, env, **args):
    run(
        [
            str(BIN / "ansible"),
            "localhost",
            "-m",
            "fleetsec.vmscape.kernel_cmdline",
            "-a",
            json.dumps({"root": str(root), "regenerate": False, **args}),
        ],
        env,
    )


def rollback_row(root, inv, reports, env, *extra):
    for old in reports.glob("*.json"):
        old.unlink()
    run(
        [
            str(BIN / "ansible-playbook"),
            "playbooks/rollback.yml",
            "-i",
            str(inv),
            "-e",
            f"vmscape_root={root}",
            "-e",
            "vmscape_regenerate=false",
            *extra,
        ],
        env,
    )
    (report,) = reports.glob("*.json")
    (row,) = json.loads(report.read_text())["rows"]
    return row


def test_rollback_restored_by_an_earlier_run_is_still_pending(host):
    root, inv, reports, env = host
    # a change and its restore, both without regeneration: the journal's latest entry is restored
    kernel_cmdline(root, env, params={"vmscape": "ibpb"})
    kernel_cmdline(root, env, restore="latest")
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet vmscape=off"' in (root / "etc" / "default" / "grub").read_text()

    row = rollback_row(root, inv, reports, env)
    assert row["action"].startswith("rollback 2")  # the journal entry, already restored
    assert row["expected"] == "Vulnerable"  # what vmscape=off gives on this 6.1 Skylake-SP
    assert row["before"] == IBPB
    assert (row["result"], row["reboot"]) == ("pending", "pending")


def test_nothing_journaled_is_nothing_to_do(host):
    root, inv, reports, env = host
    row = rollback_row(root, inv, reports, env)
    assert row["action"] == "rollback (nothing journaled)"
    assert row["reboot"] == "not_needed"
