"""Host-local mode (playbooks/pull.yml) through a real ansible-pull from a git repository: the host
assesses and stages itself, never reboots, and leaves /run/reboot-required (+ a line in
/run/reboot-required.pkgs next to the packages' own) and node_exporter textfile metrics; a second
run changes nothing; after the reboot (the staged parameter on /proc/cmdline, /run emptied by the
tmpfs except what apt put back) the host reports pass and leaves apt's signal alone.

The host is a snapshot root of a real Debian 12 host (vmscape_root): every path the collection
reads and writes is resolved inside it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAP = REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake"
BIN = Path(sys.executable).parent
IBPB = "Mitigation: IBPB before exit to userspace"
# Prometheus metric and label names (data model), exposition lines (text format 0.0.4)
METRIC = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{[^}]*\})? (?P<value>\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

pytestmark = pytest.mark.integration


def edit(path: Path, old: str, new: str):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


@pytest.fixture
def host(tmp_path):
    """Skylake-SP on Debian 12 booted with vmscape=off (Vulnerable), its GRUB configuration too;
    apt already asked for a reboot for a new kernel package."""
    root = tmp_path / "root"
    shutil.copytree(SNAP, root, symlinks=True)
    edit(root / "proc" / "cmdline", " quiet", " quiet vmscape=off")
    (root / "sys/devices/system/cpu/vulnerabilities/vmscape").write_text("Vulnerable\n")
    edit(
        root / "etc/default/grub",
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet"',
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet vmscape=off"',
    )
    cfg = root / "boot/grub/grub.cfg"
    lines = cfg.read_text().splitlines()
    cfg.write_text("".join(line + (" vmscape=off\n" if line.strip().startswith("linux") else "\n") for line in lines))
    (root / "etc/debian_version").write_text("12.8\n")
    (root / "run").mkdir()
    (root / "run/reboot-required").write_text("*** System restart required ***\n")
    (root / "run/reboot-required.pkgs").write_text("linux-image-6.1.0-57-amd64\n")
    (root / "var/lib/prometheus/node-exporter").mkdir(parents=True)
    # the repository ansible-pull checks out: local.yml imports the collection's playbook
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "local.yml").write_text(
        "- name: VMSCAPE host-local\n  ansible.builtin.import_playbook: fleetsec.vmscape.pull\n"
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(repo)]
    for args in (["init", "-q"], ["add", "local.yml"], ["commit", "-qm", "pull"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    return root, repo, tmp_path


def pull(root, repo, tmp) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "VMSCAPE_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"), ANSIBLE_NOCOLOR="1", PATH=f"{BIN}:{env['PATH']}")
    proc = subprocess.run(
        [
            str(BIN / "ansible-pull"),
            "-U",
            str(repo),
            "-d",
            str(tmp / "checkout"),
            "-i",
            "localhost,",
            "-e",
            f"vmscape_root={root}",
            "-e",
            "vmscape_regenerate=false",
            "-e",
            f"vmscape_report_dir={tmp / 'reports'}",
            "local.yml",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout


def metrics(root) -> dict:
    text = (root / "var/lib/prometheus/node-exporter/fleetsec_vmscape.prom").read_text()
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        m = METRIC.match(line)
        assert m, line
        name = m["name"]
        assert name.startswith("fleetsec_vmscape_") and name in typed, name
        labels = dict(LABEL.findall(m["labels"] or ""))
        samples[(name, tuple(sorted(labels.items())))] = float(m["value"])
    return samples


def value(samples, name, **labels):
    (v,) = [v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == x for k, x in labels.items())]
    return v


def recap_changed(out: str) -> int:
    return int(re.search(r"^localhost\s+: ok=\d+\s+changed=(\d+)", out, re.M).group(1))


def test_pull_stages_signals_and_clears_after_the_reboot(host):
    root, repo, tmp = host
    out = pull(root, repo, tmp)
    assert "VMSCAPE FLEET REPORT" in out
    # staged, not rebooted
    grub = (root / "etc/default/grub").read_text()
    assert "vmscape=off" not in grub and grub.count("vmscape=ibpb") == 1
    assert (root / "run/reboot-required").read_text() == "*** System restart required ***\n"
    assert (root / "run/reboot-required.pkgs").read_text() == "linux-image-6.1.0-57-amd64\nfleetsec-vmscape\n"
    m = metrics(root)
    assert value(m, "fleetsec_vmscape_reboot_required") == 1 and value(m, "fleetsec_vmscape_mitigated") == 0
    assert value(m, "fleetsec_vmscape_status", status="pending") == 1
    assert sum(v for (n, _l), v in m.items() if n == "fleetsec_vmscape_status") == 1
    assert value(m, "fleetsec_vmscape_info", status="pending", mode="ibpb", observed="Vulnerable", expected=IBPB) == 1
    assert value(m, "fleetsec_vmscape_last_run_timestamp_seconds") > 1.7e9

    # the next timer run: nothing to change, the signals stay
    again = pull(root, repo, tmp)
    assert recap_changed(again) == 0, again[-3000:]
    assert (root / "run/reboot-required.pkgs").read_text() == "linux-image-6.1.0-57-amd64\nfleetsec-vmscape\n"

    # the reboot: the staged parameter is on the cmdline, the kernel reports IBPB; /run is a new
    # tmpfs, where apt asked again for a reboot for another package
    edit(root / "proc/cmdline", "vmscape=off", "vmscape=ibpb")
    (root / "sys/devices/system/cpu/vulnerabilities/vmscape").write_text(IBPB + "\n")
    shutil.rmtree(root / "run")
    (root / "run").mkdir()
    (root / "run/reboot-required").write_text("*** System restart required ***\n")
    (root / "run/reboot-required.pkgs").write_text("libc6\n")
    pull(root, repo, tmp)
    assert (root / "run/reboot-required.pkgs").read_text() == "libc6\n"  # apt's signal untouched
    assert (root / "run/reboot-required").exists()
    m = metrics(root)
    assert value(m, "fleetsec_vmscape_status", status="pass") == 1 and value(m, "fleetsec_vmscape_mitigated") == 1
    assert value(m, "fleetsec_vmscape_reboot_required") == 0
