"""running_guests on a scratch /proc tree (real fd symlinks, real files)."""

import os

from ansible_collections.fleetsec.vmscape.plugins.module_utils._reboot.running_guests import running_guests


def _proc(root, pid, argv0, comm=None, fds=()):
    d = root / "proc" / str(pid)
    (d / "fd").mkdir(parents=True)
    (d / "cmdline").write_bytes(argv0.encode() + b"\0-m\0" if argv0 else b"")
    (d / "comm").write_text((comm or os.path.basename(argv0)) + "\n")
    for i, target in enumerate(fds):
        os.symlink(target, d / "fd" / str(i))


def test_finds_vmms_by_dev_kvm_name_and_libvirt(tmp_path):
    _proc(tmp_path, 10, "/usr/bin/qemu-system-x86_64", fds=["/dev/kvm", "/dev/null"])
    _proc(tmp_path, 11, "/usr/local/bin/my-vmm", fds=["/dev/kvm"])  # unknown name, holds kvm
    _proc(tmp_path, 12, "/usr/bin/firecracker")
    _proc(tmp_path, 13, "/usr/sbin/sshd", fds=["/dev/null"])
    _proc(tmp_path, 14, "", comm="kvm")  # kernel-thread-like: no cmdline, comm only
    (tmp_path / "proc" / "self").mkdir()
    lv = tmp_path / "run" / "libvirt" / "qemu"
    lv.mkdir(parents=True)
    (lv / "web01.xml").write_text("<domstatus/>")
    (lv / "web01.pid").write_text("10")
    (lv / "db02.xml").write_text("<domstatus/>")
    out = running_guests(str(tmp_path))
    assert [p["pid"] for p in out["processes"]] == [10, 11, 12, 14]
    assert out["processes"][0]["holds_dev_kvm"] is True
    assert out["processes"][2]["holds_dev_kvm"] is False
    assert out["libvirt_domains"] == ["db02", "web01"]
    assert out["count"] == 4


def test_empty_host(tmp_path):
    _proc(tmp_path, 1, "/sbin/init")
    out = running_guests(str(tmp_path))
    assert out["count"] == 0 and out["processes"] == [] and out["libvirt_domains"] == []


def test_missing_proc_is_not_a_crash(tmp_path):
    assert running_guests(str(tmp_path / "nothing"))["count"] == 0


def test_libvirt_driver_lock_is_not_a_domain(tmp_path):
    # what libvirt 9.0 (Debian 12) left in its qemu run directory after its only domain was saved
    # (virsh managedsave): driver.pid (the QEMU driver's lock), autostarted and directories; the
    # domain's .xml and .pid were gone (seen on this machine's libvirtd, session mode)
    lv = tmp_path / "run" / "libvirt" / "qemu"
    for d in ("dbus", "passt", "slirp"):
        (lv / d).mkdir(parents=True)
    (lv / "driver.pid").write_text("4242")
    (lv / "autostarted").write_text("")
    out = running_guests(str(tmp_path))
    assert out["libvirt_domains"] == [] and out["count"] == 0
