"""Molecule verify of the hostops scenario: each VM over SSH (paramiko), plus the runs' records.

Independent of the collection: paramiko logs in with the lab key and refuses host keys missing
from the lab's known_hosts; the boot state is read by the lab's tools/lab/boot_state.py (plain
Python: GRUB files, running cmdline and kernel, sysfs, boot id), which the prepare step also ran before remediate.yml
(/var/lib/fleetsec-lab/before.json) and converge before and after each run (pre-<host>.json,
state-<host>.json); boots are counted in the serial log labctl keeps on this machine (GRUB's
"Loading Linux" lines since `labctl start`). What each host must show is its host_vars' ``lab_expect``
(inventories/lab-hostops), written from docs/reliability.md. Converge kept each
run's exit status, output, JSON report and the states under $LAB_HOSTOPS_RUNS.
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import paramiko
import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY") or HERE.parents[3])
INVENTORY = REPO / "inventories" / "lab-hostops"
CACHE = Path(os.environ.get("VMSCAPE_CACHE") or Path.home() / ".cache" / "fleetsec-vmscape") / "lab"
RUNS = Path(os.environ.get("LAB_HOSTOPS_RUNS", "/nonexistent"))
BOOT_STATE = (REPO / "tools" / "lab" / "boot_state.py").read_text()
STATE_DIR = "/var/lib/fleetsec-vmscape"


def _hosts():
    inv = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    out = []
    for name, hv in sorted(inv["all"]["children"]["lab"]["hosts"].items()):
        host_vars = yaml.safe_load((INVENTORY / "host_vars" / f"{name}.yml").read_text())
        out.append((name, int(hv["ansible_port"]), host_vars))
    return out


HOSTS = _hosts()


class VM:
    def __init__(self, name, port, host_vars):
        self.name, self.port, self.vars = name, port, host_vars
        self.expect = host_vars["lab_expect"]
        self.client = None

    def connect(self, timeout=60):
        client = paramiko.SSHClient()
        client.load_host_keys(str(CACHE / "known_hosts"))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            "127.0.0.1",
            port=self.port,
            username="root",
            key_filename=str(CACHE / "ssh" / "id_ed25519"),
            look_for_keys=False,
            allow_agent=False,
            timeout=timeout,
            banner_timeout=120,
            auth_timeout=120,
        )
        client.get_transport().set_keepalive(10)
        self.close()
        self.client = client

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None

    def run(self, cmd, stdin=None, timeout=180, check=True):
        # Bounded waits: after a guest reboot QEMU's user networking can leave a dead connection
        # whose exit status never arrives (docs/lab.md).
        chan = self.client.get_transport().open_session(timeout=60)
        chan.settimeout(timeout)
        chan.exec_command(cmd)
        if stdin is not None:
            chan.sendall(stdin.encode())
            chan.shutdown_write()
        out = chan.makefile("rb").read().decode()
        err = chan.makefile_stderr("rb").read().decode()
        deadline = time.monotonic() + timeout
        while not chan.exit_status_ready():
            assert time.monotonic() < deadline, f"{self.name}: {cmd!r} gave no exit status in {timeout} s"
            time.sleep(0.2)
        rc = chan.recv_exit_status()
        if check:
            assert rc == 0, f"{self.name}: {cmd!r} exited {rc}: {err}"
        return out

    def state(self):
        return json.loads(self.run("python3 -", stdin=BOOT_STATE))

    def before(self):
        return json.loads(self.run("cat /var/lib/fleetsec-lab/before.json"))

    def boots(self):
        paths = subprocess.run(
            [str(REPO / "tools" / "lab" / "labctl"), "--inventory", str(INVENTORY), "paths"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        log = Path(json.loads(paths)["hosts"][self.name]["run"]) / "serial.log"
        return re.findall(r"Loading Linux (\S+) \.\.\.", log.read_text(errors="replace"))

    def reboot(self, timeout=1200):
        old = self.run("cat /proc/sys/kernel/random/boot_id").strip()
        self.run("nohup sh -c 'sleep 2; systemctl reboot' >/dev/null 2>&1 &")
        self.close()
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            time.sleep(10)
            try:
                self.connect(timeout=30)
                if self.run("cat /proc/sys/kernel/random/boot_id", timeout=60).strip() != old:
                    return
            except (OSError, paramiko.SSHException, AssertionError, EOFError) as exc:
                last = exc
                self.close()
        pytest.fail(f"{self.name}: not back with a new boot id within {timeout} s ({last})")


def _vm(request):
    vm = VM(*request.param)
    vm.connect()
    yield vm
    vm.close()


# the hosts the play must leave as they were (lab_expect.boot_state: unchanged)
UNCHANGED = [h for h in HOSTS if h[2]["lab_expect"].get("boot_state") == "unchanged"]
untouched_vm = pytest.fixture(scope="module", params=UNCHANGED, ids=[h[0] for h in UNCHANGED])(_vm)


def test_the_fleet_has_a_host_to_leave_alone():
    """The scenario is about issue 11: every host is one the play must leave as it was."""
    assert UNCHANGED and len(UNCHANGED) == len(HOSTS), [h[0] for h in HOSTS]


def run_record(run):
    """rc/stdout of a converge run and its report rows by host."""
    rec = json.loads((RUNS / run / "run.json").read_text())
    reports = sorted((RUNS / run).glob("*.json"))
    reports = [p for p in reports if p.name != "run.json" and not p.name.startswith(("state-", "pre-"))]
    assert len(reports) == 1, f"{run}: expected one JSON report in {RUNS / run}, found {reports}"
    doc = json.loads(reports[0].read_text())
    return rec, {row["host"]: row for row in doc["rows"]}


def recap(stdout, host):
    m = re.search(rf"^{re.escape(host)}\s*:\s*(.*)$", stdout, flags=re.M)
    assert m, f"no PLAY RECAP line for {host}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def state_after(name, run):
    """The host's boot state converge read after ``run`` ("before": the one prepare recorded)."""
    return json.loads((RUNS / run / f"state-{name}.json").read_text())


# ------------------------------------------------------------------------------------- the runs
RUNS_EXPECTED = [(h[0], run) for h in HOSTS for run in h[2]["lab_expect"]["runs"]]


def _expect(name, run):
    return next(h[2] for h in HOSTS if h[0] == name)["lab_expect"]["runs"][run]


@pytest.mark.parametrize(("name", "run"), RUNS_EXPECTED, ids=[f"{n}-{r}" for n, r in RUNS_EXPECTED])
def test_run_result_and_reason(name, run):
    """Each converge run's exit status, PLAY RECAP and JSON report row for the host."""
    expect = _expect(name, run)
    rec, rows = run_record(run)
    assert name in rows, f"{run}: no report row for {name}"
    row = rows[name]
    if "result" in expect:
        assert row["result"] == expect["result"], row
    if "reboot" in expect:
        assert row["reboot"] == expect["reboot"], row
    if expect.get("not_rebooted"):
        assert row["reboot"] != "rebooted", row
    for part in expect.get("why", []):
        assert part in row["why"], f"{name} ({run}): {part!r} not in {row['why']!r}"
    counts = recap(rec["stdout"], name)
    if row["result"] in ("error", "fail"):
        # a failed host makes ansible-playbook exit 2; every other host of the run went on
        assert rec["rc"] == 2, f"{run}: ansible-playbook exited {rec['rc']}"
        assert counts["failed"] >= 1, counts
        for other in rows:
            if other != name:
                assert recap(rec["stdout"], other)["ok"] > 0, other
    else:
        assert counts["failed"] == 0 and counts["unreachable"] == 0, counts
    if "changed" in expect:
        assert counts["changed"] == expect["changed"], f"{name} ({run}): {counts}"


@pytest.mark.parametrize(("name", "run"), RUNS_EXPECTED, ids=[f"{n}-{r}" for n, r in RUNS_EXPECTED])
def test_state_after_each_run(name, run):
    """What the host booted and ran right after each run, compared with the state just before it."""
    expect = _expect(name, run).get("after")
    if not expect:
        pytest.fail(f"{name}: lab_expect.runs.{run} names no 'after'")
    before = state_after(name, "before")  # what prepare recorded (converge copied it)
    pre = json.loads((RUNS / run / f"pre-{name}.json").read_text())
    now = state_after(name, run)
    if expect["boot"] == "unchanged":
        assert now["boot_id"] == pre["boot_id"], f"{name}: rebooted during {run}"
        assert now["cmdline"] == pre["cmdline"]
    else:
        assert expect["boot"] == "rebooted", expect
        assert now["boot_id"] != pre["boot_id"], f"{name}: not rebooted during {run}"
    if expect.get("files") == "unchanged":
        # against the state before the first run: nothing of any run may remain
        assert now["files"] == before["files"], f"{name} after {run}: boot files changed"
        assert now["listings"] == before["listings"], f"{name} after {run}: files appeared or vanished"


# ------------------------------------------------------------- a host the play must leave as it was
def test_boot_files_and_state_unchanged_no_leftovers(untouched_vm):
    vm = untouched_vm
    before, now = vm.before(), vm.state()
    assert now["files"] == before["files"], f"{vm.name}: boot files changed"
    assert now["listings"] == before["listings"], f"{vm.name}: files appeared or vanished"
    for key in ("boot_id", "cmdline", "release", "vmscape"):
        assert now[key] == before[key], f"{vm.name}: {key} {before[key]!r} -> {now[key]!r}"
    assert len(vm.boots()) == 1, f"{vm.name}: rebooted: GRUB loaded {vm.boots()}"
    assert vm.run(f"test -e {STATE_DIR}/kernel_cmdline-intent.json && echo yes || echo no").strip() == "no"
    journal = vm.run(f"cat {STATE_DIR}/kernel_cmdline-journal.json 2>/dev/null || true").strip()
    assert not journal or json.loads(journal)["entries"] == [], f"{vm.name}: journal entry written: {journal}"
    values = [t.split("=", 1)[1] for t in now["cmdline"].split() if t.startswith("vmscape=")]
    assert values == vm.expect["running_vmscape"], now["cmdline"]
    assert now["vmscape"] == vm.expect["vmscape"]


def test_reboot_boots_as_before(untouched_vm):
    """Last for its host: a reboot now must bring back the kernel, cmdline and verdict of before."""
    vm = untouched_vm
    before = vm.before()
    vm.reboot()
    now = vm.state()
    assert now["boot_id"] != before["boot_id"]
    for key in ("cmdline", "release", "vmscape"):
        assert now[key] == before[key], f"{vm.name} after a reboot: {key} {before[key]!r} -> {now[key]!r}"
    assert now["files"] == before["files"]
    loads = vm.boots()
    assert len(loads) == 2 and loads[-1] == before["release"], f"{vm.name}: GRUB loaded {loads}"
