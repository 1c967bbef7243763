"""Molecule verify: each lab VM, checked over SSH with paramiko, independently of the collection.

Expectations come from each host's `lab_profile.expect_after` (inventories/lab/host_vars), written
from docs/vmscape-facts.md, not from our plan: what /proc/cmdline, the vmscape sysfs file, the
GRUB defaults (sourced by the VM's own /bin/sh) and the generated grub.cfg must show once
remediate.yml has run. Host keys are checked against the lab's known_hosts (unknown keys refused).

For the upgrade hosts (docs/upgrade.md) also: the running kernel (``kernel``: the release of a
package set as tools/lab/repos.py recorded what it fetched, never a constant), the kernels still
installed (``installed_kernels``: image in /boot and dpkg says installed) and the number of boots
since `labctl start` (``boots``: GRUB's "Loading Linux" lines in the VM's serial log, which labctl
keeps on this machine).

For a libvirt host (``libvirt``: docs/drain.md) also, with virsh over SSH: its guest runs again, in
a QEMU process started after the host's reboot, without a managed save image or autostart, and
went on from its saved memory (the serial console shows one boot, GUEST-UP once, and heartbeats
past the one the prepare step recorded before remediate.yml); the collection's drain state file
is gone; and the converge run's JSON report row for the host ($LAB_REPORTS: the earliest report
there, by its meta.started) says it was drained, rebooted and undrained.
"""

import glob
import json
import os
import re
import shlex
import subprocess
import time

import paramiko
import pytest
import yaml

REPO = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
)
INVENTORY = os.path.join(REPO, "inventories", "lab")
CACHE = os.path.join(os.environ.get("VMSCAPE_CACHE") or os.path.expanduser("~/.cache/fleetsec-vmscape"), "lab")


def _hosts():
    with open(os.path.join(INVENTORY, "hosts.yml"), encoding="utf-8") as f:
        inv = yaml.safe_load(f)
    hosts = inv["all"]["children"]["lab"]["hosts"]
    out = []
    for name, hv in sorted(hosts.items()):
        with open(os.path.join(INVENTORY, "host_vars", f"{name}.yml"), encoding="utf-8") as f:
            profile = yaml.safe_load(f)["lab_profile"]
        out.append((name, int(hv["ansible_port"]), profile))
    return out


HOSTS = _hosts()


def release_of(package_set):
    """The kernel release of a package set, as recorded when it was fetched (tools/lab/repos.py)."""
    path = os.path.join(CACHE, "repos", f"{package_set}.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)["release"]
    with open(os.path.join(CACHE, "base.json"), encoding="utf-8") as f:
        releases = json.load(f)["extras"]["releases"]
    return releases[{"fixed": "g2", "pre-vmscape": "pre_vmscape"}[package_set]]


def serial_log(name):
    paths = subprocess.run(
        [os.path.join(REPO, "tools", "lab", "labctl"), "paths"], capture_output=True, text=True, check=True
    ).stdout
    return os.path.join(json.loads(paths)["hosts"][name]["run"], "serial.log")


# Checks that apply only to hosts whose profile names what they check: generated for those hosts
# only (a case that does not apply is not a skip; under CI=true nothing may skip).
NEEDS = {
    "test_running_kernel": "kernel",
    "test_kernels_still_installed": "installed_kernels",
    "test_number_of_boots": "boots",
    "test_guest_was_drained_and_undrained": "libvirt",
    "test_converge_report_row": "libvirt",
}


def pytest_generate_tests(metafunc):
    if "vm" in metafunc.fixturenames:
        key = NEEDS.get(metafunc.function.__name__)
        hosts = [h for h in HOSTS if key is None or key in h[2]["expect_after"]]
        metafunc.parametrize("vm", hosts, ids=[h[0] for h in hosts], indirect=True, scope="module")


@pytest.fixture(scope="module")
def vm(request):
    name, port, profile = request.param
    client = paramiko.SSHClient()
    client.load_host_keys(os.path.join(CACHE, "known_hosts"))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=port,
        username="root",
        key_filename=os.path.join(CACHE, "ssh", "id_ed25519"),
        look_for_keys=False,
        allow_agent=False,
        timeout=60,
        banner_timeout=120,
        auth_timeout=120,
    )

    client.get_transport().set_keepalive(10)

    def run(cmd, timeout=120):
        # Bounded waits: after a guest reboot QEMU's user networking can leave a dead
        # connection whose exit status never arrives (docs/lab.md).
        chan = client.get_transport().open_session(timeout=60)
        chan.settimeout(timeout)
        chan.exec_command(cmd)
        out = chan.makefile("rb").read().decode()
        err = chan.makefile_stderr("rb").read().decode()
        deadline = time.monotonic() + timeout
        while not chan.exit_status_ready():
            assert time.monotonic() < deadline, f"{name}: {cmd!r} gave no exit status in {timeout} s"
            time.sleep(0.2)
        rc = chan.recv_exit_status()
        assert rc == 0, f"{name}: {cmd!r} exited {rc}: {err}"
        return out

    yield name, profile["expect_after"], run
    client.close()


def converge_report():
    """The JSON fleet report of molecule's converge run: the earliest run in $LAB_REPORTS."""
    reports = []
    for path in glob.glob(os.path.join(os.environ.get("LAB_REPORTS", "/nonexistent"), "*.json")):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        reports.append((doc["meta"]["started"], path, doc))
    assert reports, f"no JSON report in LAB_REPORTS={os.environ.get('LAB_REPORTS')!r}"
    return min(reports)[2]


def _values(cmdline, name):
    return [t.split("=", 1)[1] if "=" in t else None for t in cmdline.split() if t.split("=", 1)[0] == name]


def test_sysfs_reports_the_expected_mitigation(vm):
    name, expect, run = vm
    path = "/sys/devices/system/cpu/vulnerabilities/vmscape"
    if expect["vmscape"] is None:  # a kernel without VMSCAPE has no such file
        assert run(f"test -e {path} && echo present || echo absent").strip() == "absent", name
        return
    assert run(f"cat {path}").strip() == expect["vmscape"], name


def test_running_kernel(vm):
    name, expect, run = vm
    assert run("uname -r").strip() == release_of(expect["kernel"]), name


def test_kernels_still_installed(vm):
    name, expect, run = vm
    for package_set in expect["installed_kernels"]:
        rel = release_of(package_set)
        assert run(f"test -f /boot/vmlinuz-{rel} && echo yes || echo no").strip() == "yes", f"{name}: {rel}"
        status = run(f"dpkg-query -W -f '${{db:Status-Abbrev}}' linux-image-{rel} 2>/dev/null || true")
        assert status.startswith("ii"), f"{name}: linux-image-{rel} is {status!r}, not installed"


def test_number_of_boots(vm):
    name, expect, _run = vm
    with open(serial_log(name), "rb") as f:
        log = f.read().decode("utf-8", "replace")
    loads = re.findall(r"Loading Linux (\S+) \.\.\.", log)
    assert len(loads) == expect["boots"], f"{name}: GRUB loaded {loads}"
    if "kernel" in expect:
        assert loads[-1] == release_of(expect["kernel"]), f"{name}: GRUB loaded {loads}"


def test_running_cmdline(vm):
    name, expect, run = vm
    cmdline = run("cat /proc/cmdline")
    assert _values(cmdline, "vmscape") == expect["running_vmscape"], f"{name}: {cmdline}"
    assert _values(cmdline, "mitigations") == expect.get("running_mitigations", []), f"{name}: {cmdline}"


def test_grub_defaults_as_the_vms_shell_sources_them(vm):
    name, expect, run = vm
    script = (
        '. /etc/default/grub; for f in /etc/default/grub.d/*.cfg; do [ -e "$f" ] && . "$f"; done; '
        'printf "%s %s" "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT"'
    )
    configured = run("sh -c " + shlex.quote(script))
    assert _values(configured, "vmscape") == expect["configured_vmscape"], f"{name}: {configured}"
    assert _values(configured, "mitigations") == expect.get("running_mitigations", []), f"{name}: {configured}"


def test_generated_grub_cfg_entries(vm):
    name, expect, run = vm
    cfg = run("cat /boot/grub/grub.cfg")
    linux_lines = [line for line in cfg.splitlines() if re.match(r"^\s*linux\s+/", line)]
    assert linux_lines, f"{name}: no linux lines in grub.cfg"
    for line in linux_lines:
        assert _values(line, "vmscape") == expect["configured_vmscape"], f"{name}: {line.strip()}"


def test_guest_was_drained_and_undrained(vm):
    name, expect, run = vm
    domain = expect["libvirt"]["domain"]
    virsh = "virsh -q -c qemu:///system "
    assert run(virsh + f"domstate {domain}").strip() == "running", name
    info = dict(
        (key.strip(), value.strip())
        for key, sep, value in (line.partition(":") for line in run(virsh + f"dominfo {domain}").splitlines())
        if sep
    )
    assert info.get("Managed save") == "no", info
    assert info.get("Autostart") == "disable", f"{name}: libvirt itself would have resumed it: {info}"
    assert run("test -e /var/lib/fleetsec-vmscape/libvirt-drain.json && echo yes || echo no").strip() == "no"
    # a QEMU process started after the host's reboot (the one before it died with the host)
    pid = run(f"cat /run/libvirt/qemu/{domain}.pid").strip()
    assert f"guest={domain}," in run(f"ps -o args= -p {pid}"), f"{name}: pid {pid} is not {domain}'s QEMU"
    uptime = float(run("cut -d' ' -f1 /proc/uptime").strip())
    started = float(run(f"ps -o etimes= -p {pid}").strip())
    assert started < uptime, f"{name}: {domain}'s QEMU runs for {started} s, longer than the host ({uptime} s)"
    # the guest went on from its saved memory: it booted once (before the drain) and counts on
    before = json.loads(run("cat /var/lib/fleetsec-lab/before.json"))["libvirt"][domain]["console"]
    assert before["up"] == 1 and before["last_beat"], f"{name}: {domain} had not booted before remediate.yml: {before}"
    console = f"/var/log/libvirt/qemu/{domain}-console.log"
    deadline = time.monotonic() + 120
    while True:
        text = run(f"cat {console}")
        beats = [int(n) for n in re.findall(r"^GUEST-BEAT (\d+)\r?$", text, flags=re.M)]
        if beats and beats[-1] > before["last_beat"]:
            break
        assert time.monotonic() < deadline, f"{name}: {domain} gave no heartbeat after {before['last_beat']} in 120 s"
        time.sleep(10)
    assert len(re.findall(r"^GUEST-UP\r?$", text, flags=re.M)) == 1, f"{name}: {domain} booted again (not resumed)"


def test_converge_report_row(vm):
    name, expect, _run = vm
    rows = {row["host"]: row for row in converge_report()["rows"]}
    row, want = rows[name], expect["libvirt"]
    assert (row["result"], row["reboot"]) == (want["result"], want["reboot"]), row
    assert want["why"] in row["why"], f"{name}: {want['why']!r} not in {row['why']!r}"
