"""The benchmark fleet's pure parts: committed captures, host plan, inventory, sshd config, snapshot roots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root: tools/ is not installed

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import collect_facts
from tools.bench import fleet
from tools.bench.captures import (
    CaptureEntry,
    CaptureIndexError,
    capture_name,
    load_capture,
    load_index,
    oracle_text,
)
from tools.oracle.kernels import Kernel, load_specs
from tools.oracle.profiles import load_profiles

ENTRIES = load_index()
PATHS = fleet.Paths(Path("/cache/bench"))


def test_committed_captures_parse_and_name_known_kernels_and_profiles():
    kernels = {s.id for s in load_specs()}
    profiles = {p.id for p in load_profiles()}
    assert len(ENTRIES) >= 20
    for e in ENTRIES:
        cap = load_capture(e)
        assert e.kernel in kernels and e.profile in profiles, e.name
        assert cap["files"]["/proc/cmdline"].strip() == fleet.expected_cmdline(e), e.name
        assert cap["files"].get("/sys/devices/system/cpu/vulnerabilities/vmscape", "").rstrip("\n") == (
            e.vmscape or ""
        ), e.name
        assert e.file.stat().st_size < 16_000, f"{e.name}: only the initramfs output belongs in the capture"


def test_captures_are_varied():
    assert {"deb-6.1", "deb-6.12", "deb-7.x", "deb-6.16-pre"} <= {e.kernel for e in ENTRIES}
    assert {"Vulnerable", "Not affected", None} <= {e.vmscape for e in ENTRIES}
    assert any(e.vmscape and e.vmscape.startswith("Mitigation") for e in ENTRIES)
    assert any("hypervisor" in load_capture(e)["files"]["/proc/cpuinfo"].split() for e in ENTRIES)
    cmdlines = {e.cmdline for e in ENTRIES}
    assert {"", "vmscape=off", "mitigations=off"} <= cmdlines


def test_index_errors_name_file_and_line(tmp_path):
    (tmp_path / "index.yaml").write_text(
        "captures:\n  - file: a.txt\n    kernel: deb-6.1\n    profile: p\n    cmdline: ''\n"
        "  - file: b.txt\n    kernel: k\n"
    )
    with pytest.raises(CaptureIndexError, match=rf"{tmp_path / 'index.yaml'}:6: missing cmdline, profile"):
        load_index(tmp_path)
    (tmp_path / "index.yaml").write_text("captures:\n  - {file: a.txt, kernel: k, profile: p, cmdline: ''}\n" * 1)
    (tmp_path / "a.txt").write_text("@@ORACLE BEGIN@@\n@@ORACLE FILE /proc/cpuinfo@@\nx\n")
    (entry,) = load_index(tmp_path)
    with pytest.raises(ValueError, match=rf"{tmp_path / 'a.txt'}:2: section FILE /proc/cpuinfo not closed"):
        load_capture(entry)
    (tmp_path / "index.yaml").write_text("captures:\n  - {file: ../x.txt, kernel: k, profile: p, cmdline: ''}\n")
    with pytest.raises(CaptureIndexError, match=r":2: file must be a \.txt name"):
        load_index(tmp_path)


def test_oracle_text_keeps_only_the_initramfs_output():
    log = "SeaBIOS\r\n[ 0.1] Linux version\r\n@@ORACLE BEGIN@@\r\n"
    log += "@@ORACLE FILE /proc/cmdline@@\r\nx\r\n\r\n@@ORACLE END@@\r\n"
    log += "@@ORACLE DONE@@\r\n[ 1.0] reboot: Power down\r\n"
    assert oracle_text(log) == "@@ORACLE BEGIN@@\n@@ORACLE FILE /proc/cmdline@@\nx\n\n@@ORACLE END@@\n@@ORACLE DONE@@\n"
    with pytest.raises(ValueError):
        oracle_text("no markers")
    assert capture_name("deb-7.x", "amd-zen5", "mitigations=auto,no_guest_host") == (
        "deb-7.x__amd-zen5__mitigations-auto-no-guest-host"
    )
    assert capture_name("deb-6.1", "amd-zen5", "") == "deb-6.1__amd-zen5__none"


def test_hosts_get_own_loopback_address_and_mixed_captures():
    hosts = fleet.plan_hosts(100, ENTRIES)
    assert [h.address for h in hosts[:3]] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert hosts[-1].address == "127.0.0.101" and hosts[-1].name == "bench-100"
    assert len({h.address for h in hosts}) == 100
    # every capture once before any repeats, and the first 10 hosts already mix every kernel
    first = [h.capture.name for h in hosts[: len(ENTRIES)]]
    assert sorted(first) == sorted(e.name for e in ENTRIES)
    assert {h.capture.kernel for h in hosts[:10]} == {e.kernel for e in ENTRIES}
    # 500 hosts (make bench N=500): 253 per 127.0.k.0/24, never .0, .1 or .255 of a /24
    big = fleet.plan_hosts(500, ENTRIES)
    assert [h.address for h in big[252:255]] == ["127.0.0.254", "127.0.1.2", "127.0.1.3"]
    assert big[-1].address == "127.0.1.248" and len({h.address for h in big}) == 500
    with pytest.raises(fleet.FleetError, match=r"1 to 1012 hosts \(127.0.0.2 .. 127.0.3.254\)"):
        fleet.plan_hosts(1013, ENTRIES)
    with pytest.raises(fleet.FleetError):
        fleet.plan_hosts(0, ENTRIES)


def test_inventory_points_each_host_at_its_own_root_and_address():
    hosts = fleet.plan_hosts(12, ENTRIES, port=2300)
    inv = yaml.safe_load(fleet.inventory_text(hosts, PATHS))
    allvars = inv["all"]["vars"]
    assert allvars["ansible_user"] == "root"
    assert allvars["ansible_python_interpreter"] == "/usr/bin/python3"
    assert allvars["ansible_ssh_private_key_file"] == "/cache/bench/ssh/id_ed25519"
    args = allvars["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in args and "UserKnownHostsFile=/cache/bench/known_hosts" in args
    entries = inv["all"]["children"]["bench"]["hosts"]
    assert list(entries) == [h.name for h in hosts]
    assert entries["bench-003"] == {
        "ansible_host": "127.0.0.4",
        "ansible_port": 2300,
        "vmscape_root": "/cache/bench/roots/bench-003",
        "bench_capture": hosts[2].capture.name,
    }
    assert len({e["vmscape_root"] for e in entries.values()}) == 12


def test_known_hosts_and_sshd_config():
    hosts = fleet.plan_hosts(2, ENTRIES)
    text = fleet.known_hosts(hosts, "ssh-ed25519 AAAAC3Nz host-comment\n")
    assert text == "[127.0.0.2]:22022 ssh-ed25519 AAAAC3Nz\n[127.0.0.3]:22022 ssh-ed25519 AAAAC3Nz\n"
    h22 = fleet.Host(0, "bench-001", "127.0.0.2", 22, ENTRIES[0])
    assert fleet.known_hosts([h22], "ssh-ed25519 K") == "127.0.0.2 ssh-ed25519 K\n"
    conf = fleet.sshd_config(hosts[1], PATHS)
    lines = conf.splitlines()
    assert "ListenAddress 127.0.0.3:22022" in lines
    assert [line for line in lines if line.startswith("ListenAddress")] == ["ListenAddress 127.0.0.3:22022"]
    for want in ("UsePAM no", "UseDNS no", "PasswordAuthentication no", "PermitRootLogin prohibit-password"):
        assert want in lines
    assert "HostKey /cache/bench/ssh/ssh_host_ed25519_key" in lines
    assert f"ForceCommand {fleet.GUARD}" in lines
    assert not any(line.startswith(("Include", "Port ")) or "/etc/ssh" in line for line in lines)


# Only harmless commands here: if the guard let them through they would just print.
@pytest.mark.parametrize(
    ("command", "output"),
    [
        ("echo hello", "hello\n"),
        ("echo '/usr/bin/python3 && sleep 0' && echo two", "/usr/bin/python3 && sleep 0\ntwo\n"),
        ('echo /usr/sbin/shutdown -r 0 "Reboot to apply"', None),
        ("echo systemctl reboot", None),
        ("echo poweroff", None),
        ("echo kexec -e", None),
    ],
)
def test_session_guard_refuses_reboots(command, output):
    env = {"PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": command}
    proc = subprocess.run([str(fleet.GUARD)], env=env, capture_output=True, text=True, check=False)
    if output is None:
        assert (proc.returncode, proc.stdout) == (111, "")
        assert "refusing" in proc.stderr
    else:
        assert (proc.returncode, proc.stdout) == (0, output)


@pytest.fixture
def fake_kernel(tmp_path):
    kdir = tmp_path / "kernel"
    kdir.mkdir()
    (kdir / "vmlinuz").write_bytes(b"\0" * 1024)
    (kdir / "config").write_text("CONFIG_MITIGATION_VMSCAPE=y\n")
    (kdir / "System.map").write_text("ffffffffffffffff B The real System.map is in the linux-image-dbg package\n")
    # a newer build of the branch than the committed captures (6.1.0-56, 6.1.192-2): the registry moved on
    meta = {"release": "6.1.0-57-amd64", "debian_version": "6.1.193-1", "upstream_version": "6.1.193"}
    return Kernel("deb-6.1", kdir, {**meta, "packages": ["linux-image-6.1.0-57-amd64"]})


def test_root_is_what_vmscape_facts_reads(tmp_path, fake_kernel):
    entry = next(e for e in ENTRIES if e.kernel == "deb-6.1" and e.cmdline == "vmscape=off")
    cap = load_capture(entry)
    root = tmp_path / "root"
    (root / "leftover").mkdir(parents=True)
    fleet.build_root(root, cap, fake_kernel)
    assert not (root / "leftover").exists(), "a root is rebuilt from scratch"
    assert os.stat(root / "boot" / "config-6.1.0-57-amd64").st_ino == os.stat(fake_kernel.config).st_ino
    grub = (root / "etc" / "default" / "grub").read_text()
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="console=ttyS0 panic=-1 vmscape=off"\n' in grub
    facts = collect_facts(str(root), probe_image="never")
    assert facts["sysfs"]["vmscape"] == "Vulnerable"
    assert facts["cmdline"]["raw"] == "console=ttyS0 panic=-1 vmscape=off"
    assert facts["bootloader"]["backend"] == "grub"
    assert facts["bootloader"]["configured_cmdline"] == "console=ttyS0 panic=-1 vmscape=off"
    # the host runs the fetched build and boots it next (the capture was retargeted to it)
    assert (facts["kernel"]["release"], facts["kernel"]["version"]) == ("6.1.0-57-amd64", "6.1.193")
    assert facts["boot_kernel"]["release"] == "6.1.0-57-amd64" and facts["boot_kernel"]["is_running"]
    assert facts["boot_kernel"]["config_mitigation_vmscape"] is True
    json.dumps(facts)


def test_grub_defaults_quote_shell_specials():
    text = fleet.grub_defaults('a="b" $x `c` d\\e')
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="a=\\"b\\" \\$x \\`c\\` d\\\\e"' in text


def test_entry_name_is_file_stem():
    e = CaptureEntry(Path("/x/deb-6.1__p__none.txt"), "deb-6.1", "p", "", None)
    assert e.name == "deb-6.1__p__none"
