"""The upgrade stage through the real remediate.yml on scratch snapshot roots (local connection).

Each root is a host running Debian's real pre-VMSCAPE 6.16.x kernel package (upgrade_support),
whose configured repository is a flat apt repository of real trixie-backports packages fetched
with the oracle's private apt method (tools/lab/repos.py; what was fetched is read from its
record, never assumed). The real apt resolves, downloads and the real dpkg-deb unpacks; the
probe reads the real images. With ``vmscape_root`` other than / nothing is ever installed (a
kernel's maintainer scripts need a chroot): the stage stops at "would install", which is what a
snapshot assessment reports; the lab VMs install for real (docs/upgrade.md, molecule).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upgrade_support import REPO, extract_boot, make_host

sys.path.insert(0, str(REPO))
from tools.lab import repos

BIN = Path(shutil.which("ansible-playbook") or REPO / ".venv" / "bin" / "ansible-playbook").parent
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sets():
    return {name: repos.fetch(name) for name in ("fixed", "pre-vmscape", "image-extras")}


def proc_version(rel: str, debian_version: str) -> str:
    return (
        f"Linux version {rel} (debian-kernel@lists.debian.org) (gcc) #1 SMP PREEMPT_DYNAMIC "
        f"Debian {debian_version} (2025-09-06)"
    )


def upgrade_host(tmp_path: Path, sets: dict, repo_files: list[str]) -> tuple[Path, Path, dict]:
    pre = sets["pre-vmscape"]
    linux_base = [f for f in sets["image-extras"]["files"] if "/linux-base_" in f]
    repo = repos.flat_repo(repo_files, tmp_path / "repo")
    root = make_host(
        tmp_path, pre["files"][0], pre["release"], proc_version(pre["release"], pre["packages"][0][1]), repo, linux_base
    )
    inv = tmp_path / "inventory.ini"
    inv.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        VMSCAPE_REPORT_DIR=str(tmp_path / "reports"),
        ANSIBLE_NOCOLOR="1",
    )
    return root, inv, env


def remediate(root, inv, env, *extra, ok=True):
    p = subprocess.run(
        [str(BIN / "ansible-playbook"), "remediate.yml", "-i", str(inv), "-e", f"vmscape_root={root}", *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert (p.returncode == 0) is ok, p.stdout + p.stderr
    (report,) = Path(env["VMSCAPE_REPORT_DIR"]).glob("*.json")
    doc = json.loads(report.read_text())
    report.unlink()
    Path(str(report)[:-5] + ".html").unlink()
    (row,) = doc["rows"]
    return row, doc["hosts"]["localhost"], p.stdout


@pytest.fixture(scope="module")
def offered(sets, tmp_path_factory):
    """A 6.16 host whose repository offers the fixed set (meta-package) and the 6.16 package."""
    fixed = sets["fixed"]
    return upgrade_host(tmp_path_factory.mktemp("offered"), sets, fixed["files"] + sets["pre-vmscape"]["files"])


def test_check_mode_names_package_and_version_and_that_the_verdict_depends_on_it(offered, sets):
    root, inv, env = offered
    fixed = sets["fixed"]
    meta, meta_version = fixed["packages"][0]
    row, rec, _out = remediate(root, inv, env, "--check")
    assert row["result"] == "kernel_upgrade"
    assert rec["plan"]["upgrade"]["status"] == "would_install"
    head, _sep, lists = row["why"].partition("; package lists as fetched ")
    assert head == (
        f"would install {meta} {meta_version} (kernel {fixed['release']}); not downloaded in check mode: whether that "
        "kernel knows VMSCAPE is known only once its image is probed, so the final verdict depends on it"
    )
    assert re.fullmatch(r"0 h \d+ min ago \(check mode does not refresh them\)", lists), row["why"]


def test_snapshot_probes_the_downloaded_image_and_installs_nothing(offered, sets):
    root, inv, env = offered
    fixed = sets["fixed"]
    status_before = (root / "var/lib/dpkg/status").read_bytes()
    boot_before = sorted(p.name for p in (root / "boot").iterdir())
    meta, meta_version = fixed["packages"][0]
    row, _rec, _out = remediate(root, inv, env)
    assert row["why"] == (
        f"would install {meta} {meta_version} (kernel {fixed['release']}) (probed: its kernel knows VMSCAPE); "
        "vmscape_root is a snapshot, nothing installed"
    )
    assert row["result"] == "kernel_upgrade"
    assert (root / "var/lib/dpkg/status").read_bytes() == status_before
    assert sorted(p.name for p in (root / "boot").iterdir()) == boot_before


def test_upgrades_off_and_pinned_package_missing_are_reported(offered, sets):
    root, inv, env = offered
    row, _rec, _out = remediate(root, inv, env, "-e", "vmscape_upgrade=false")
    assert row["why"] == "a kernel with VMSCAPE support is needed; upgrades are off (vmscape_upgrade: false)"
    row, _rec, _out = remediate(root, inv, env, "-e", "vmscape_upgrade_package=linux-image-rt-amd64")
    assert row["why"] == (
        "no fixed kernel in the configured repositories (newest: "
        f"linux-image-{sets['fixed']['release']} {sets['fixed']['packages'][0][1]})"
    )


def liar_package(deb: str, dest: Path, package: str, version: str) -> Path:
    """A package whose version number says it is newer than it is: the real package's control
    file with a new name and version, and the real package's own /boot files (image, config,
    System.map; its modules left out to keep it small)."""
    tree = dest / "liar"
    tree.mkdir()
    subprocess.run(["dpkg-deb", "-e", deb, str(tree / "DEBIAN")], check=True)
    for f in ("preinst", "postinst", "prerm", "postrm", "md5sums"):
        (tree / "DEBIAN" / f).unlink(missing_ok=True)
    extract_boot(deb, tree)
    control = tree / "DEBIAN" / "control"
    fields = control.read_text().splitlines()
    fields = [
        f"Package: {package}"
        if line.startswith("Package: ")
        else f"Version: {version}"
        if line.startswith("Version: ")
        else line
        for line in fields
    ]
    control.write_text("\n".join(fields) + "\n")
    out = dest / f"{package}_{version}_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(tree), str(out)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(tree)
    return out


def test_a_newer_version_number_without_vmscape_is_not_trusted(tmp_path, sets):
    pre = sets["pre-vmscape"]
    (tmp_path / "debs").mkdir()
    liar = liar_package(pre["files"][0], tmp_path / "debs", "linux-image-6.16.99+deb13-amd64", "6.16.99-1")
    root, inv, env = upgrade_host(tmp_path, sets, [*pre["files"], str(liar)])
    row, _rec, _out = remediate(root, inv, env)
    assert row["result"] == "kernel_upgrade"
    assert row["why"] == (
        "no fixed kernel in the configured repositories (newest: linux-image-6.16.99+deb13-amd64 6.16.99-1); "
        f"probed linux-image-6.16.99+deb13-amd64 6.16.99-1 (kernel {pre['release']}: no VMSCAPE)"
    )


def test_boot_too_small_fails_the_host_and_installs_nothing(tmp_path, sets):
    if os.geteuid() != 0:
        pytest.skip("mounting a small /boot needs root")
    fixed = sets["fixed"]
    root, inv, env = upgrade_host(tmp_path, sets, fixed["files"])
    keep = tmp_path / "boot-files"
    shutil.copytree(root / "boot", keep, symlinks=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(root / "boot")], check=True)
    try:
        shutil.copytree(keep, root / "boot", symlinks=True, dirs_exist_ok=True)
        row, _rec, _out = remediate(root, inv, env, ok=False)
    finally:
        subprocess.run(["umount", str(root / "boot")], check=True)
    assert row["result"] == "error"
    assert "upgrade stage failed: /boot has " in row["why"]
    assert "free, the new kernel needs about" in row["why"]
    assert row["why"].endswith(f"nothing installed, the host keeps booting {sets['pre-vmscape']['release']}")
