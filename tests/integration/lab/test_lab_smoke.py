"""Smoke test of the lab fleet: real QEMU VMs (TCG) booting Debian kernels through GRUB.

The session fixture starts the lab with tools/lab/labctl (building nothing: `make lab-test`
builds the base image first) and, at the end, quits and resets the hosts it started itself.
Every check goes over SSH with paramiko, independently of the collection's modules:
- /proc/cpuinfo shows the profile's vendor/family/model/stepping and the hypervisor flag as intended;
- BHI_CTRL (CPUID.(7,2):EDX[4], /dev/cpu/0/cpuid) is visible exactly where the profile says;
- the running kernel is the profile's series, /proc/cmdline carries the profile's initial cmdline;
- /sys/devices/system/cpu/vulnerabilities/vmscape is recorded (tests/output/lab-observed.json)
  and compared only with the verdicts recorded as seen in vmscape-facts.md / lab-notes.md
  (profile ``expect.vmscape``);
- one host, after editing /etc/default/grub and update-grub inside the VM, reboots with `reboot`,
  comes back through GRUB in the same QEMU process and runs the changed cmdline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import tokenize

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[3]
LABCTL = REPO / "tools" / "lab" / "labctl"
OUTPUT = REPO / "tests" / "output" / "lab-observed.json"
REBOOT_HOST = "icelake"
MARKER = "fleetsec.labtest=1"


def _load_labctl():
    spec = importlib.util.spec_from_file_location("fleetsec_labctl", REPO / "tools" / "lab" / "labctl.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


labctl = _load_labctl()
HOSTS = labctl.load_hosts()


def _labctl(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run([str(LABCTL), *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def lab():
    """The running fleet; hosts this session started are quit and reset at the end."""
    before = {h.name for h in HOSTS.values() if labctl.running_pid(h)}
    proc = _labctl("start", *HOSTS)
    print(proc.stdout)
    if proc.returncode != 0:
        pytest.fail(f"labctl start failed:\n{proc.stdout}\n{proc.stderr}")
    observed: dict[str, dict] = {}
    yield observed
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(observed, indent=2, sort_keys=True) + "\n")
    started = [n for n in HOSTS if n not in before]
    if started:
        _labctl("destroy", *started, timeout=600)


def connect(host, timeout: float = 30) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(labctl.known_hosts()))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=host.port,
        username="root",
        key_filename=str(labctl.client_key()),
        look_for_keys=False,
        allow_agent=False,
        timeout=timeout,
        banner_timeout=timeout,
        auth_timeout=timeout,
    )
    # QEMU's user network keeps our side of a connection open when the guest reboots under it:
    # keepalives make such a connection fail instead of waiting forever.
    client.get_transport().set_keepalive(5)
    return client


def run(client: paramiko.SSHClient, command: str, timeout: float = 300) -> str:
    """Run a command; every wait is bounded (a dead connection raises instead of hanging)."""
    channel = client.get_transport().open_session(timeout=timeout)
    channel.settimeout(timeout)
    channel.exec_command(command)
    out = channel.makefile("rb").read().decode()
    err = channel.makefile_stderr("rb").read().decode()
    if not channel.status_event.wait(timeout):
        raise TimeoutError(f"{command!r}: no exit status within {timeout} s")
    status = channel.exit_status
    channel.close()
    assert status == 0, f"{command!r} exited {status}: {err}"
    return out


def cpuinfo_first(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpuid(client: paramiko.SSHClient, leaf: int, subleaf: int) -> tuple[int, int, int, int]:
    offset = leaf | (subleaf << 32)
    script = (
        f"import os,sys;fd=os.open('/dev/cpu/0/cpuid',os.O_RDONLY);sys.stdout.write(os.pread(fd,16,{offset}).hex())"
    )
    run(client, "modprobe cpuid")
    raw = bytes.fromhex(run(client, f'python3 -c "{script}"').strip())
    return struct.unpack("<4I", raw)


@pytest.mark.parametrize("name", list(HOSTS))
def test_host_identity_and_kernel(lab, name):
    host = HOSTS[name]
    expect = host.expect
    with connect(host) as client:
        info = cpuinfo_first(run(client, "cat /proc/cpuinfo"))
        cmdline = run(client, "cat /proc/cmdline").strip()
        release = run(client, "uname -r").strip()
        # absent on a kernel without VMSCAPE (profile expect.vmscape: null)
        vmscape = run(client, "cat /sys/devices/system/cpu/vulnerabilities/vmscape 2>/dev/null || true").strip() or None
        hostname = run(client, "hostname").strip()
        _, _, _, edx = cpuid(client, 7, 2)
        eax0, _, _, _ = cpuid(client, 7, 0)
    flags = info.get("flags", "").split()
    lab[name] = {
        "vendor": info.get("vendor_id"),
        "family": info.get("cpu family"),
        "model": info.get("model"),
        "stepping": info.get("stepping"),
        "model_name": info.get("model name"),
        "hypervisor": "hypervisor" in flags,
        "ibpb": "ibpb" in flags,
        "bugs": info.get("bugs", "").split(),
        "bhi_ctrl": bool(edx & (1 << 4)),
        "cpuid_7_0_eax": eax0,
        "kernel": release,
        "cmdline": cmdline,
        "vmscape": vmscape,
    }
    assert hostname == name
    assert info["vendor_id"] == expect["vendor"]
    assert int(info["cpu family"]) == expect["family"]
    assert int(info["model"]) == expect["model"]
    assert int(info["stepping"]) == expect["stepping"]
    assert ("hypervisor" in flags) is expect["hypervisor"]
    assert "ibpb" in flags, "x-force-features=on should keep IBPB under TCG"
    assert bool(edx & (1 << 4)) is expect["bhi_ctrl"], f"CPUID.(7,2):EDX = {edx:#x}"
    if expect["bhi_ctrl"]:
        assert eax0 >= 2, f"CPUID.(7,0):EAX (max subleaf) = {eax0}"
    assert release.startswith(host.kernel + "."), f"running {release}, profile kernel {host.kernel}"
    running = [t.raw for t in tokenize(cmdline)[0]]
    for token in tokenize(host.cmdline)[0]:
        assert token.raw in running, f"{token.raw} missing from /proc/cmdline {cmdline!r}"
    if "vmscape" in expect:
        assert vmscape == expect["vmscape"]


def _copy_inventory(tmp_path: Path) -> Path:
    inventory = tmp_path / "lab"
    shutil.copytree(labctl.INVENTORY, inventory)
    return inventory


def test_bad_profile_names_file_and_line(tmp_path):
    inventory = _copy_inventory(tmp_path)
    path = inventory / "host_vars" / "icelake.yml"
    lines = path.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.strip().startswith("cmdline:"))
    lines[number - 1] = '  cmdline: "quiet vmscape=\\"on"'
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(labctl.LabError, match=rf"host_vars/icelake\.yml:{number}: lab_profile\.cmdline must not"):
        labctl.load_hosts(inventory)


def test_duplicate_port_names_file_and_line(tmp_path):
    inventory = _copy_inventory(tmp_path)
    path = inventory / "hosts.yml"
    text = path.read_text()
    path.write_text(text.replace("ansible_port: 22204", "ansible_port: 22201"))
    number = next(i for i, line in enumerate(text.splitlines(), 1) if line.strip() == "icelake:")
    with pytest.raises(
        labctl.LabError, match=rf"hosts\.yml:{number}: icelake uses port 22201 already used by skylake-sp"
    ):
        labctl.load_hosts(inventory)


def test_start_without_image_says_so_and_changes_nothing(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    proc = subprocess.run(
        [str(LABCTL), "start", "icelake"],
        capture_output=True,
        text=True,
        env={**os.environ, "VMSCAPE_CACHE": str(cache)},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert f"lab image missing: {cache}/lab/base.qcow2" in proc.stderr
    assert list(cache.iterdir()) == []


def _wait_boot_id(host, old: str, timeout: float) -> tuple[str, float]:
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            with connect(host, timeout=10) as client:
                boot_id = run(client, "cat /proc/sys/kernel/random/boot_id", timeout=20).strip()
            if boot_id != old:
                return boot_id, time.monotonic() - t0
        except (OSError, paramiko.SSHException, EOFError, TimeoutError) as exc:
            last = exc
        time.sleep(3)
    pytest.fail(
        f"{host.name} did not come back within {timeout} s (last error {last!r}):\n{labctl.log_tail(host.serial_log)}"
    )


def test_reboot_goes_through_grub_with_changed_cmdline(lab):
    host = HOSTS[REBOOT_HOST]
    pid = labctl.running_pid(host)
    assert pid, f"{host.name} is not running"
    with connect(host) as client:
        original = run(client, "cat /etc/default/grub")
        assert MARKER not in run(client, "cat /proc/cmdline")
        run(client, f"sed -i 's/^GRUB_CMDLINE_LINUX_DEFAULT=\"/&{MARKER} /' /etc/default/grub")
        t0 = time.monotonic()
        run(client, "update-grub 2>&1")
        update_grub = time.monotonic() - t0
        assert MARKER in run(client, "cat /boot/grub/grub.cfg")
        boot_id = run(client, "cat /proc/sys/kernel/random/boot_id").strip()
        log_size = host.serial_log.stat().st_size
        t0 = time.monotonic()
        client.exec_command("reboot")
    try:
        _, seconds = _wait_boot_id(host, boot_id, timeout=float(os.environ.get("LAB_BOOT_TIMEOUT", "600")))
        with connect(host) as client:
            cmdline = run(client, "cat /proc/cmdline")
            kernel = run(client, "uname -r").strip()
        after = host.serial_log.read_bytes()[log_size:].decode("utf-8", "replace")
        print(f"{host.name}: update-grub {update_grub:.0f} s, reboot to SSH {time.monotonic() - t0:.0f} s")
        lab.setdefault("_reboot", {}).update(
            {"host": host.name, "update_grub_seconds": round(update_grub, 1), "reboot_seconds": round(seconds, 1)}
        )
        assert MARKER in cmdline.split()
        assert kernel.startswith(host.kernel + ".")
        assert labctl.running_pid(host) == pid, "a guest reboot must not end the QEMU process"
        assert "Booting `" in after, "the serial console shows no GRUB menu entry being booted"
    finally:
        with connect(host) as client:
            sftp = client.open_sftp()
            with sftp.open("/etc/default/grub", "w") as f:
                f.write(original)
            sftp.close()
            run(client, "update-grub 2>&1")
