"""The lab's disk cache survives a new lab image (real qemu-img, no VM is booted).

``make lab-image`` replaces base-<hash>.qcow2 when its inputs change (a kernel of the day in the
registry) and deletes the old image. Each host's provisioned overlay still names the old image as
its backing file; before this test existed, molecule's first step (destroy = reset the disks)
failed on such a cache with "Could not open backing file" and nothing else ran.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "lab"))

import labctl


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setenv("VMSCAPE_CACHE", str(tmp_path))
    monkeypatch.delenv("LAB_HOSTS", raising=False)
    (tmp_path / "lab").mkdir()
    host = labctl.Host(
        name="h1",
        port=2299,
        description="scratch",
        qemu="10",
        cpu="qemu64",
        smp=1,
        memory_mb=256,
        kernel="6.1",
        cmdline="",
    )
    host.dir.mkdir(parents=True)
    return tmp_path / "lab", host


def qcow2(path: Path, backing: Path | None = None) -> None:
    argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing is not None:
        argv += ["-F", "qcow2", "-b", str(backing)]
    argv += [str(path), "64M"] if backing is None else [str(path)]
    subprocess.run(argv, check=True)


def make_base(lab_dir: Path, digest: str) -> Path:
    image = lab_dir / f"base-{digest}.qcow2"
    qcow2(image)
    link = lab_dir / "base.qcow2"
    link.unlink(missing_ok=True)
    link.symlink_to(image.name)
    return image


def provision(host: labctl.Host, base: Path) -> None:
    qcow2(host.provisioned, base)
    host.provisioned.with_suffix(".stamp").write_text("aaaa\n")
    qcow2(host.disk, host.provisioned)
    host.disk.with_suffix(".stamp").write_text("aaaa\n")


def test_reset_keeps_a_current_overlay_and_empties_the_disk(lab):
    lab_dir, host = lab
    provision(host, make_base(lab_dir, "1111"))
    subprocess.run(["qemu-io", "-c", "write 0 1M", str(host.disk)], check=True, capture_output=True)
    used_before = host.disk.stat().st_size
    assert labctl.provisioned_stale(host) is None
    labctl.reset_disk(host)
    assert host.provisioned.exists() and host.disk.exists()
    assert host.disk.stat().st_size < used_before  # a fresh, empty overlay
    assert labctl.backing_file(host.disk) == host.provisioned.resolve()


def test_a_new_lab_image_discards_overlays_built_on_the_deleted_one(lab, capsys):
    lab_dir, host = lab
    old = make_base(lab_dir, "1111")
    provision(host, old)
    make_base(lab_dir, "2222")
    old.unlink()  # what build-image.sh does with every other base-*.qcow2
    why = labctl.provisioned_stale(host)
    assert why == f"its backing image {old} is gone"
    labctl.reset_disk(host)  # raised LabError("qemu-img create failed ...") before
    for gone in (host.provisioned, host.disk, host.provisioned.with_suffix(".stamp"), host.disk.with_suffix(".stamp")):
        assert not gone.exists(), gone
    assert "h1: provisioned disk discarded (its backing image" in capsys.readouterr().out


def test_an_overlay_on_an_older_image_that_still_exists_is_stale_too(lab):
    lab_dir, host = lab
    old = make_base(lab_dir, "1111")
    provision(host, old)
    make_base(lab_dir, "2222")
    assert (
        labctl.provisioned_stale(host) == "it is built on base-1111.qcow2, not on the current lab image base-2222.qcow2"
    )


def test_destroy_on_a_stale_cache_succeeds(lab, capsys):
    lab_dir, host = lab
    old = make_base(lab_dir, "1111")
    provision(host, old)
    make_base(lab_dir, "2222")
    old.unlink()
    hosts = {host.name: host}
    ns = labctl.argparse.Namespace(hosts=[], timeout=1.0, force=True)
    assert labctl.cmd_destroy(hosts, ns) == 0
    out = capsys.readouterr()
    assert "disk reset to its provisioned state" not in out.out + out.err
    assert not host.provisioned.exists()


def write_base_json(lab_dir: Path, digest: str, root_uuid: str, built: str) -> None:
    """base.json as tools/lab/build-image.sh writes it (the fields labctl reads)."""
    image = lab_dir / f"base-{digest}.qcow2"
    (lab_dir / "base.json").write_text(
        json.dumps(
            {"hash": digest, "image": str(image), "root_uuid": root_uuid, "built": built, "kernels": "6.1.0-57-amd64"}
        )
    )


def test_a_rebuild_from_the_same_inputs_makes_the_overlay_stale(lab, capsys):
    """CI on 2026-12-01: another checkout's build deleted base-<hash>.qcow2, the next build
    recreated it from the same inputs (same hash, same path, new root file system); overlays
    provisioned on the first build passed every check, and the host's first boot on the new
    build printed nothing (serial log empty) until the 600 s boot timeout failed molecule."""
    lab_dir, host = lab
    base = make_base(lab_dir, "1111")
    write_base_json(lab_dir, "1111", "uuid-first-build", "2026-12-01T16:40:00Z")
    provision(host, base)
    host.dir.joinpath("provisioned.base").write_text("uuid-first-build 2026-12-01T16:40:00Z\n")
    assert labctl.provisioned_stale(host) is None

    base.unlink()
    make_base(lab_dir, "1111")  # same inputs hash, same file name
    write_base_json(lab_dir, "1111", "uuid-second-build", "2026-12-01T22:34:33Z")
    assert labctl.provisioned_stale(host) == (
        "it was made on an earlier build of base-1111.qcow2 (uuid-first-build 2026-12-01T16:40:00Z; "
        "current build uuid-second-build 2026-12-01T22:34:33Z)"
    )
    labctl.reset_disk(host)
    for gone in (host.provisioned, host.disk, host.dir / "provisioned.base"):
        assert not gone.exists(), gone
    assert "h1: provisioned disk discarded (it was made on an earlier build" in capsys.readouterr().out


def test_an_overlay_without_a_build_record_is_stale(lab):
    """Overlays provisioned before labctl recorded the build cannot be vouched for."""
    lab_dir, host = lab
    base = make_base(lab_dir, "1111")
    write_base_json(lab_dir, "1111", "uuid-a", "2026-12-01T16:40:00Z")
    provision(host, base)
    assert labctl.provisioned_stale(host) == "no record of which build of base-1111.qcow2 it was made on"


def test_the_provisioning_stamp_names_the_build(lab):
    """start re-provisions when the stamp changes: two builds of one input hash differ."""
    lab_dir, host = lab
    host.hostkey.with_suffix(".pub").write_text("ssh-ed25519 AAAAkey lab\n")
    first = {"hash": "1111", "path": str(lab_dir / "base-1111.qcow2"), "root_uuid": "u1", "built": "t1"}
    second = dict(first, root_uuid="u2", built="t2")
    assert labctl.provision_stamp(host, first, "key") == labctl.provision_stamp(host, dict(first), "key")
    assert labctl.provision_stamp(host, first, "key") != labctl.provision_stamp(host, second, "key")
