"""Molecule verify: each lab VM, checked over SSH with paramiko, independently of the collection.

Expectations come from each host's `lab_profile.expect_after` (inventories/lab/host_vars), written
from docs/vmscape-facts.md, not from our plan: what /proc/cmdline, the vmscape sysfs file, the
GRUB defaults (sourced by the VM's own /bin/sh) and the generated grub.cfg must show once
remediate.yml has run. Host keys are checked against the lab's known_hosts (unknown keys refused).
"""

import os
import re
import shlex
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


@pytest.fixture(scope="module", params=HOSTS, ids=[h[0] for h in HOSTS])
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


def _values(cmdline, name):
    return [t.split("=", 1)[1] if "=" in t else None for t in cmdline.split() if t.split("=", 1)[0] == name]


def test_sysfs_reports_the_expected_mitigation(vm):
    name, expect, run = vm
    assert run("cat /sys/devices/system/cpu/vulnerabilities/vmscape").strip() == expect["vmscape"], name


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
