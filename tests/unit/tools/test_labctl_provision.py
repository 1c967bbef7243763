"""Offline provisioning of lab hosts (tools/lab/labctl.py): the profile written into the image.

The profile checks and file edits run on a directory tree; the flow (sparse raw copy, loop device,
mounts, chroot, e2fsck, qcow2 overlay) runs for real as root on a small ext4 image whose chroot is
busybox with a shell-script ``update-grub`` (the real update-grub needs a Debian system with
kernels: the lab run checks that part). Expected values are written by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "lab"))

import labctl

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKxyzLabKeyForTests0123456789abcdefghijklmnop fleetsec-lab"
UUID = "0b7c4e7e-5d1c-4c0e-9d3f-2a1b3c4d5e6f"


@pytest.fixture
def host(tmp_path, monkeypatch):
    monkeypatch.setenv("VMSCAPE_CACHE", str(tmp_path / "cache"))
    h = labctl.Host(
        name="upgrade-fixed",
        port=2299,
        description="scratch",
        qemu="7.2",
        cpu="max",
        smp=1,
        memory_mb=256,
        kernel="6.1",
        cmdline="quiet vmscape=off",
    )
    h.dir.mkdir(parents=True)
    h.hostkey.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    h.hostkey.with_suffix(".pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey lab-hostkey-upgrade-fixed\n")
    return h


# --- profile checks ----------------------------------------------------------------------------


def test_profile_carries_what_the_host_needs(host):
    host.repo = "fixed"
    p = labctl.make_profile(host, KEY + "\n", ["linux-image-7.3.4+deb13-amd64"])
    assert p.hostname == "upgrade-fixed"
    assert p.authorized_key == KEY
    assert p.hostkey_pub == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey"
    assert p.repo is True
    assert p.purge == ("linux-image-7.3.4+deb13-amd64",)


@pytest.mark.parametrize(
    "key",
    [
        KEY + "\nssh-ed25519 AAAAsecond",  # two keys
        "ssh-rsa AAAAB3NzaC1yc2E= x",  # not the lab's ed25519 key
        'command="sh" ' + KEY,  # options would change what the key may do
        "",
    ],
)
def test_a_bad_authorized_key_is_refused(host, key):
    with pytest.raises(labctl.LabError, match=r"id_ed25519\.pub: not one ed25519 public key line"):
        labctl.make_profile(host, key, [])


@pytest.mark.parametrize("name", ["linux-image-7.3.4 ; rm -rf /", "-rf", "Linux-Image", ""])
def test_a_bad_package_name_to_purge_is_refused(host, name):
    with pytest.raises(labctl.LabError, match="bad package name to purge"):
        labctl.make_profile(host, KEY, [name])


def test_a_cmdline_with_quotes_is_refused(host):
    host.cmdline = 'quiet" init=/bin/sh "'
    with pytest.raises(labctl.LabError, match="must not contain quotes"):
        labctl.make_profile(host, KEY, [])


def test_a_host_key_that_is_not_ed25519_is_refused(host):
    host.hostkey.with_suffix(".pub").write_text("ssh-rsa AAAAB3 lab\n")
    with pytest.raises(labctl.LabError, match=r"hostkey: not an ed25519 key pair"):
        labctl.make_profile(host, KEY, [])


# --- file edits --------------------------------------------------------------------------------

VERSIONS = ["6.1.0-57-amd64", "6.1.0-9-amd64", "6.12.117+deb12-amd64", "6.16.3+deb13-amd64", "7.3.4+deb13-amd64"]


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        ("6.1", "6.1.0-57-amd64"),  # numeric, not text order (9 < 57)
        ("6.12", "6.12.117+deb12-amd64"),
        ("6.16", "6.16.3+deb13-amd64"),
        ("7", "7.3.4+deb13-amd64"),
    ],
)
def test_kernel_for_series(series, expected):
    assert labctl.kernel_for(series, VERSIONS) == expected


def test_kernel_for_a_missing_series_names_what_is_there():
    with pytest.raises(labctl.LabError, match=r"no kernel of series 6\.6 in /boot \(have 6\.1\.0-57-amd64\)"):
        labctl.kernel_for("6.6", ["6.1.0-57-amd64"])
    with pytest.raises(labctl.LabError, match="no kernel of series 61 "):
        labctl.kernel_for("61", VERSIONS)  # a prefix of the release is not its series


def test_set_grub_var_replaces_and_appends():
    text = 'GRUB_DEFAULT=0\n#GRUB_CMDLINE_LINUX_DEFAULT="x"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_TIMEOUT=1\n'
    text = labctl.set_grub_var(text, "GRUB_CMDLINE_LINUX_DEFAULT", "quiet mitigations=auto,no_guest_host")
    text = labctl.set_grub_var(text, "GRUB_DISABLE_SUBMENU", "n")
    assert text == (
        "GRUB_DEFAULT=0\n"
        '#GRUB_CMDLINE_LINUX_DEFAULT="x"\n'
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet mitigations=auto,no_guest_host"\n'
        "GRUB_TIMEOUT=1\n"
        'GRUB_DISABLE_SUBMENU="n"\n'
    )


def test_set_grub_var_keeps_backslash_sequences_literal():
    assert labctl.set_grub_var("GRUB_DEFAULT=0\n", "GRUB_DEFAULT", r"a\1b") == 'GRUB_DEFAULT="a\\1b"\n'


def test_hosts_file_names_the_host():
    base = "127.0.0.1\tlocalhost\n127.0.1.1\tlab\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    assert labctl.set_hosts_name(base, "icelake") == (
        "127.0.0.1\tlocalhost\n127.0.1.1\ticelake\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    assert labctl.set_hosts_name("127.0.0.1 localhost\n", "icelake") == "127.0.0.1 localhost\n127.0.1.1\ticelake\n"


def test_fstab_gets_the_repository_line_with_a_long_device_timeout():
    old = (
        "UUID=abc / ext4 errors=remount-ro 0 1\n"
        "LABEL=lab-repo /srv/lab-repo ext4 ro,noload,nofail 0 2\n"  # the first-boot service's line
    )
    assert labctl.fstab_with_repo(old) == (
        "UUID=abc / ext4 errors=remount-ro 0 1\n"
        "LABEL=lab-repo /srv/lab-repo ext4 ro,noload,nofail,x-systemd.device-timeout=600s 0 2\n"
    )
    assert labctl.fstab_with_repo(labctl.fstab_with_repo(old)) == labctl.fstab_with_repo(old)


def make_root(root: Path) -> None:
    """The files of the lab image that provisioning edits, as build-image.sh writes them."""
    for d in ("etc/apt", "etc/ssh", "etc/default", "boot/grub", "root", "var/lib/dpkg/info"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc/hostname").write_text("lab\n")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tlab\n")
    (root / "etc/fstab").write_text(f"UUID={UUID} / ext4 errors=remount-ro 0 1\n")
    (root / "etc/machine-id").write_text("")
    (root / "etc/apt/sources.list").write_text("deb http://deb.debian.org/debian trixie main\n")
    (root / "etc/default/grub").write_text('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_TIMEOUT=1\n')
    for v in ("6.1.0-57-amd64", "6.12.117+deb12-amd64", "7.3.4+deb13-amd64"):
        (root / f"boot/vmlinuz-{v}").write_text("")


def test_apply_files_writes_the_profile(host, tmp_path):
    root = tmp_path / "root"
    make_root(root)
    host.repo = "fixed"
    p = labctl.make_profile(host, KEY, [])
    labctl.apply_files(root, p)
    assert (root / "etc/hostname").read_text() == "upgrade-fixed\n"
    assert (root / "etc/hosts").read_text() == "127.0.0.1\tlocalhost\n127.0.1.1\tupgrade-fixed\n"
    assert (root / "root/.ssh/authorized_keys").read_text() == KEY + "\n"
    assert (root / "root/.ssh").stat().st_mode & 0o777 == 0o700
    assert (root / "root/.ssh/authorized_keys").stat().st_mode & 0o777 == 0o600
    key = root / "etc/ssh/ssh_host_ed25519_key"
    assert key.read_text() == host.hostkey.read_text()
    assert key.stat().st_mode & 0o777 == 0o600
    assert (root / "etc/ssh/ssh_host_ed25519_key.pub").read_text() == (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey root@upgrade-fixed\n"
    )
    assert (root / "etc/fstab").read_text() == (
        f"UUID={UUID} / ext4 errors=remount-ro 0 1\n"
        "LABEL=lab-repo /srv/lab-repo ext4 ro,noload,nofail,x-systemd.device-timeout=600s 0 2\n"
    )
    assert (root / "etc/apt/sources.list").read_text() == "deb [trusted=yes] file:/srv/lab-repo/repo ./\n"
    assert (root / "srv/lab-repo").is_dir()
    machine_id = (root / "etc/machine-id").read_text()
    assert len(machine_id) == 33 and int(machine_id, 16) > 0


def test_apply_files_without_repo_leaves_fstab_and_apt_alone(host, tmp_path):
    root = tmp_path / "root"
    make_root(root)
    labctl.apply_files(root, labctl.make_profile(host, KEY, []))
    assert (root / "etc/fstab").read_text() == f"UUID={UUID} / ext4 errors=remount-ro 0 1\n"
    assert (root / "etc/apt/sources.list").read_text() == "deb http://deb.debian.org/debian trixie main\n"
    assert not (root / "srv").exists()


def test_a_symlink_out_of_the_image_is_refused(host, tmp_path):
    root = tmp_path / "root"
    make_root(root)
    outside = tmp_path / "outside-hosts"
    outside.write_text("127.0.0.1 localhost\n")
    (root / "etc/hosts").unlink()
    (root / "etc/hosts").symlink_to(outside)
    with pytest.raises(labctl.LabError, match="etc/hosts in the image points outside it"):
        labctl.apply_files(root, labctl.make_profile(host, KEY, []))
    assert outside.read_text() == "127.0.0.1 localhost\n"


def test_grub_defaults_name_the_profiles_kernel(host, tmp_path):
    root = tmp_path / "root"
    make_root(root)
    host.kernel, host.cmdline = "7", "quiet mitigations=auto,no_guest_host"
    assert labctl.set_grub_defaults(root, labctl.make_profile(host, KEY, []), UUID) == "7.3.4+deb13-amd64"
    assert (root / "etc/default/grub").read_text() == (
        f'GRUB_DEFAULT="gnulinux-advanced-{UUID}>gnulinux-7.3.4+deb13-amd64-advanced-{UUID}"\n'
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet mitigations=auto,no_guest_host"\n'
        "GRUB_TIMEOUT=1\n"
    )


def test_verify_names_every_difference(host, tmp_path):
    root = tmp_path / "root"
    make_root(root)
    host.repo = "fixed"
    p = labctl.make_profile(host, KEY, ["linux-image-7.3.4+deb13-amd64"])
    (root / "root/.ssh").mkdir()
    (root / "root/.ssh/authorized_keys").write_text(KEY + "\n")
    (root / "var/lib/dpkg/info/linux-image-7.3.4+deb13-amd64.list").write_text("/boot/vmlinuz-7.3.4+deb13-amd64\n")
    (root / "boot/grub/grub.cfg").write_text(
        "menuentry 'Debian' 'gnulinux-6.1.0-57-amd64-advanced-x' { linux /boot/vmlinuz root=/dev/loop3p1 quiet }\n"
    )
    with pytest.raises(labctl.LabError) as exc:
        labctl.verify_image(root, p, UUID, "6.1.0-57-amd64")
    assert str(exc.value) == (
        f"grub.cfg has no menu entry id gnulinux-6.1.0-57-amd64-advanced-{UUID}; "
        f"grub.cfg does not boot root=UUID={UUID} (or names a loop device); "
        "grub.cfg lacks the cmdline 'quiet vmscape=off'; "
        "/etc/hostname is not the host's name; "
        "package linux-image-7.3.4+deb13-amd64 is still installed; "
        "/etc/fstab lacks the lab-repo line"
    )


# --- the flow, for real (root) -----------------------------------------------------------------

UPDATE_GRUB = """#!/bin/sh
# test image's update-grub (the real one needs a Debian system with kernels): one entry per kernel
. /etc/default/grub
uuid=$(cat /etc/test-root-uuid)
for k in /boot/vmlinuz-*; do
  v=${k#/boot/vmlinuz-}
  echo "menuentry 'Debian, with Linux $v' 'gnulinux-$v-advanced-$uuid' {"
  echo "  linux /boot/vmlinuz-$v root=UUID=$uuid ro $GRUB_CMDLINE_LINUX_DEFAULT"
  echo "}"
done > /boot/grub/grub.cfg
"""


def _need_root_tools():
    if os.geteuid() != 0:
        pytest.skip("offline provisioning needs root (loop devices, mount, chroot); CI runs as root")
    for tool in ("losetup", "sfdisk", "mkfs.ext4", "debugfs", "qemu-img", "busybox"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing (make deps)")


def _sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout


def make_base_image(lab_dir: Path) -> dict:
    """A 64 MiB MBR disk, one ext4 partition with the edited files, busybox and update-grub."""
    raw = lab_dir / "base.raw"
    subprocess.run(["truncate", "-s", "64M", str(raw)], check=True)
    subprocess.run(["sfdisk", "-q", str(raw)], input="label: dos\nstart=2048, type=83\n", text=True, check=True)
    tree = lab_dir / "tree"
    make_root(tree)
    for d in ("bin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run"):
        (tree / d).mkdir(parents=True, exist_ok=True)
    shutil.copy(shutil.which("busybox"), tree / "bin/busybox")
    (tree / "bin/sh").symlink_to("busybox")
    (tree / "bin/cat").symlink_to("busybox")
    (tree / "usr/bin/env").symlink_to("/bin/busybox")
    (tree / "usr/sbin/update-grub").write_text(UPDATE_GRUB)
    (tree / "usr/sbin/update-grub").chmod(0o755)
    (tree / "usr/lib/systemd").mkdir(parents=True)
    (tree / "usr/lib/systemd/systemd-update-done").write_text("#!/bin/sh\necho TIMESTAMP > /etc/.updated\n")
    (tree / "usr/lib/systemd/systemd-update-done").chmod(0o755)
    (tree / "etc/test-root-uuid").write_text(UUID)
    # 16 MiB of data that provisioning leaves alone: a copy of the whole disk would carry it
    (tree / "var/lib/payload").write_bytes(os.urandom(16 << 20))
    part = lab_dir / "part.ext4"
    subprocess.run(["truncate", "-s", f"{64 * 1024 * 1024 - 2048 * 512}", str(part)], check=True)
    _sh("mkfs.ext4", "-q", "-L", "lab-root", "-U", UUID, "-d", str(tree), str(part))
    _sh("dd", f"if={part}", f"of={raw}", "bs=512", "seek=2048", "conv=notrunc,sparse", "status=none")
    image = lab_dir / "base-1111.qcow2"
    _sh("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(image))
    for scratch in (raw, part):
        scratch.unlink()
    shutil.rmtree(tree)
    (lab_dir / "base.qcow2").symlink_to(image.name)
    base = {"hash": "1111", "path": str(image), "root_uuid": UUID, "built": "t1", "kernels": " ".join(VERSIONS)}
    (lab_dir / "base.json").write_text(json.dumps(base))
    return base


def _loops_on(path_part: str) -> str:
    return "".join(line for line in _sh("losetup", "-a").splitlines(True) if path_part in line)


def _mounts_under(path_part: str) -> list[str]:
    return [line for line in Path("/proc/self/mounts").read_text().splitlines() if path_part in line]


def file_in_image(qcow2: Path, rel: str, tmp: Path) -> str:
    """Read ``rel`` from the image's ext4 partition with debugfs (no mount)."""
    raw = tmp / "read.raw"
    _sh("qemu-img", "convert", "-O", "raw", str(qcow2), str(raw))
    part = tmp / "read.ext4"
    _sh("dd", f"if={raw}", f"of={part}", "bs=512", "skip=2048", "conv=sparse", "status=none")
    out = _sh("debugfs", "-R", f"cat /{rel}", str(part))
    raw.unlink()
    part.unlink()
    return out


def test_provision_writes_an_overlay_with_only_the_difference(host, tmp_path):
    _need_root_tools()
    lab_dir = labctl.lab_dir()
    base = make_base_image(lab_dir)
    authorized = KEY
    labctl.client_key().parent.mkdir(parents=True)
    assert labctl.provision(host, base, authorized, timeout=120) is True
    assert labctl.backing_file(host.provisioned) == Path(base["path"]).resolve()
    info = json.loads(_sh("qemu-img", "info", "--output=json", str(host.provisioned)))
    assert info["actual-size"] < 4 * 1024 * 1024  # a few changed blocks, not a 64 MiB copy
    assert file_in_image(host.provisioned, "etc/hostname", tmp_path) == "upgrade-fixed\n"
    assert file_in_image(host.provisioned, "etc/default/grub", tmp_path) == (
        f'GRUB_DEFAULT="gnulinux-advanced-{UUID}>gnulinux-6.1.0-57-amd64-advanced-{UUID}"\n'
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet vmscape=off"\n'
        "GRUB_TIMEOUT=1\n"
    )
    assert f"root=UUID={UUID} ro quiet vmscape=off" in file_in_image(host.provisioned, "boot/grub/grub.cfg", tmp_path)
    assert file_in_image(host.provisioned, "var/lib/fleetsec-lab/provisioned", tmp_path) == (
        "host=upgrade-fixed kernel=6.1.0-57-amd64 cmdline=quiet vmscape=off\n"
    )
    assert file_in_image(host.provisioned, "usr/sbin/policy-rc.d", tmp_path) == ""  # removed again
    assert file_in_image(host.provisioned, "etc/.updated", tmp_path) == "TIMESTAMP\n"
    assert (host.dir / "provisioned.base").read_text() == f"{UUID} t1\n"
    assert (host.dir / "provisioned.stamp").read_text().strip() == labctl.provision_stamp(host, base, authorized, {})
    assert labctl.provision(host, base, authorized, timeout=120) is False  # current: nothing to do
    assert not (host.dir / "provisioning").exists()
    assert _loops_on(str(host.dir)) == ""


def test_a_failure_inside_the_chroot_leaves_nothing_mounted_or_attached(host, tmp_path, monkeypatch):
    """Planted failure: update-grub exits 1 while proc, sys, dev, dev/pts and run are mounted."""
    _need_root_tools()
    lab_dir = labctl.lab_dir()
    base = make_base_image(lab_dir)
    bad = lab_dir / "bad.qcow2"
    # the same image with an update-grub that fails
    _sh("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base["path"], str(bad))
    base_bad = dict(base, path=str(bad))
    real_run = labctl.run
    seen = {}

    def run(argv, what, timeout=600):
        if argv[-1] == "update-grub":
            seen["mounts"] = _mounts_under(str(host.dir))
            seen["loops"] = _loops_on(str(host.dir))
            seen["link"] = os.path.lexists(f"/dev/disk/by-uuid/{UUID}")
            argv = [*argv[:-1], "sh", "-c", "echo planted failure >&2; exit 1"]
        return real_run(argv, what, timeout)

    monkeypatch.setattr(labctl, "run", run)
    with pytest.raises(labctl.LabError, match=r"upgrade-fixed: update-grub failed: .*planted failure"):
        labctl.provision(host, base_bad, KEY, timeout=120)
    assert len(seen["mounts"]) == 6  # root, proc, sys, dev, dev/pts, run were mounted
    assert seen["loops"] != "" and seen["link"] is True
    assert _mounts_under(str(host.dir)) == []
    assert _loops_on(str(host.dir)) == ""
    assert not os.path.lexists(f"/dev/disk/by-uuid/{UUID}")
    assert not (host.dir / "provisioning").exists()
    assert not host.provisioned.exists()
    assert not (host.dir / "provisioned.qcow2.new").exists()
    assert not (host.dir / "provisioned.stamp").exists()


def test_not_root_is_said_clearly(host, monkeypatch):
    monkeypatch.setattr(labctl.os, "geteuid", lambda: 1000)
    with pytest.raises(labctl.LabError, match=r"upgrade-fixed: provisioning needs root \(loop devices, mount, chroot"):
        labctl.require_root("upgrade-fixed: provisioning")


def test_a_second_run_waits_for_the_lock(host, tmp_path):
    import fcntl

    lock = tmp_path / "provision.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with (
            pytest.raises(labctl.LabError, match=r"h: another labctl run holds .*provision\.lock for more than 1 s"),
            labctl._flock(lock, "h", timeout=1),
        ):
            pass
    finally:
        os.close(fd)
    with labctl._flock(lock, "h", timeout=1):
        pass
