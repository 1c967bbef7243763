"""The shipped libvirt drain/undrain example (roles/vmscape/tasks/drain/libvirt.yml, undrain/libvirt.yml)
against real libvirt and real QEMU guests, through remediate.yml on the private loopback fleet.

Real parts: ansible-playbook, OpenSSH, libvirtd 9.0 (Debian 12) and QEMU TCG guests (a Debian kernel
with a busybox init), virsh run by the example on each "host", live migration between two daemons,
managedsave and restore. Each light host's root shows its own daemon's running domains at
run/libvirt/qemu (a symlink to the session daemon's qemu run directory, the layout of a system
daemon's /run/libvirt/qemu), which the collection's running_guests module reads. Stand-ins: the
reboot (tools/bench/fakeboot.py: the light hosts are this machine) and the daemons' mode (session
daemons as the user nobody, one per "host", instead of one system daemon per machine). The domains'
state is checked independently of the playbook, with virsh from the test.

    kvm-a  drain migrate      web-a  live-migrated to the peer daemon, rebooted, verified, migrated back
    kvm-b  drain managedsave  web-b  saved, rebooted, verified, restored (resumed, not booted again)
    kvm-c  drain managedsave  web-c saved, pin-c excluded (vmscape_libvirt_skip_domains): the host
                              cannot be emptied -> reboot pending, web-c restored right away
    kvm-d  drain shutdown     web-d powered off through ACPI (the guest's busybox acpid), rebooted,
                              verified, started again (boots)
    kvm-e  no drain tasks     web-e running: the play refuses to reboot (reboot pending), the guest
                              untouched (the same QEMU process, never booted again)
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
from skip_policy import needs

from tests.integration import libvirt_session, light_fleet
from tools.oracle.kernels import fetch_all

pytestmark = [
    pytest.mark.integration,
    needs(libvirt_session.available()),
]

SKY_OFF = "deb-6.1__intel-skylake-sp__vmscape-off"
ZEN5 = "deb-6.1__amd-zen5__none"
IBPB = "Mitigation: IBPB before exit to userspace"
# client-side live migration between two daemons on this machine: the data stream on loopback
MIGRATE = ["--live", "--persistent", "--undefinesource"]
MIGRATE += ["--migrateuri", "tcp://127.0.0.1", "--listen-address", "127.0.0.1"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    t0 = time.monotonic()
    kernel = fetch_all(["deb-6.1"], log=lambda *_: None)["deb-6.1"]
    modules = libvirt_session.acpi_modules(kernel, tmp_path_factory.mktemp("acpi"))
    lab = libvirt_session.Lab(kernel.dir / "vmlinuz", modules)
    try:
        daemons = {n: lab.daemon(n) for n in ("a", "b", "c", "d", "e", "peer")}
        placement = (("a", ["web-a"]), ("b", ["web-b"]), ("c", ["web-c", "pin-c"]), ("d", ["web-d"]), ("e", ["web-e"]))
        for daemon, guests in placement:
            for g in guests:
                daemons[daemon].guest(g)
        lab.wait_up(["web-a", "web-b", "web-c", "pin-c", "web-d", "web-e"])
        print(f"libvirt lab: 6 daemons, 6 guests up in {time.monotonic() - t0:.1f}s")

        def host(name, capture, daemon, domain, **extra):
            return {
                "name": name,
                "capture": capture,
                "vars": {
                    "vmscape_failure_domain": domain,
                    "vmscape_drain_tasks": "drain/libvirt.yml",
                    "vmscape_undrain_tasks": "undrain/libvirt.yml",
                    "vmscape_libvirt_uri": daemons[daemon].uri,
                    **extra,
                },
            }

        specs = [
            host(
                "kvm-a",
                SKY_OFF,
                "a",
                "az1",
                vmscape_libvirt_drain_method="migrate",
                vmscape_libvirt_peer_uri=daemons["peer"].uri,
                vmscape_libvirt_migrate_args=MIGRATE,
            ),
            host("kvm-b", ZEN5, "b", "az2", vmscape_libvirt_drain_method="managedsave"),
            host(
                "kvm-c",
                SKY_OFF,
                "c",
                "az3",
                vmscape_libvirt_drain_method="managedsave",
                vmscape_libvirt_skip_domains=["pin-c"],
            ),
            host("kvm-d", SKY_OFF, "d", "az4", vmscape_libvirt_drain_method="shutdown"),
            # the role's defaults: no drain tasks
            {"name": "kvm-e", "capture": SKY_OFF, "vars": {"vmscape_failure_domain": "az5"}},
        ]
        lf = light_fleet.start(tmp_path_factory.mktemp("fleet"), specs)
        try:
            for name, daemon in (("kvm-a", "a"), ("kvm-b", "b"), ("kvm-c", "c"), ("kvm-d", "d"), ("kvm-e", "e")):
                run_dir = lf.root(name) / "run" / "libvirt"
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "qemu").symlink_to(daemons[daemon].qemu_run_dir)
            yield SimpleNamespace(lab=lab, daemons=daemons, fleet=lf)
        finally:
            lf.stop()
    finally:
        lab.close()


@pytest.fixture(scope="module")
def check_run(lab):
    p = lab.fleet.playbook("remediate.yml", "--check", "-e", "vmscape_serial=4", "-e", "vmscape_serial_per_domain=1")
    print(f"remediate.yml --check: {p.seconds:.1f}s")
    return SimpleNamespace(
        p=p,
        rows=lab.fleet.report(),
        running={n: d.running() for n, d in lab.daemons.items()},
        pids={n: d.pids() for n, d in lab.daemons.items()},
    )


@pytest.fixture(scope="module")
def real_run(lab, check_run):
    lf = lab.fleet
    p = lf.playbook("remediate.yml", "-e", "vmscape_serial=4", "-e", "vmscape_serial_per_domain=1")
    print(f"remediate.yml: {p.seconds:.1f}s")
    return SimpleNamespace(p=p, rows=lf.report(), boots=lf.boot_log(), events=lf.event_log())


def test_check_mode_changes_no_domain(lab, check_run):
    lf, p, rows = lab.fleet, check_run.p, check_run.rows
    assert check_run.running == {
        "a": ["web-a"],
        "b": ["web-b"],
        "c": ["pin-c", "web-c"],
        "d": ["web-d"],
        "e": ["web-e"],
        "peer": [],
    }
    assert lf.boot_log() == []
    assert "would migrate web-a to qemu+unix:///session?socket=" in p.stdout
    assert "would managedsave web-b" in p.stdout and "would managedsave web-c" in p.stdout
    assert "would shutdown web-d" in p.stdout
    for host in ("kvm-a", "kvm-b", "kvm-c", "kvm-d"):
        assert rows[host]["reboot"] == "would_reboot"
        assert "would drain with drain/libvirt.yml (" in rows[host]["why"]
        state = lf.root(host) / "var" / "lib" / "fleetsec-vmscape" / "libvirt-drain.json"
        assert not state.exists()


def test_migrated_guest_left_for_the_reboot_and_came_back_live(lab, real_run):
    daemons, rows, events = lab.daemons, real_run.rows, real_run.events
    boot = next(b for b in real_run.boots if b["host"] == "kvm-a")
    assert boot["guests_at_boot"] == []  # nothing ran on the host when it went down
    assert daemons["a"].running() == ["web-a"] and daemons["peer"].defined() == []
    assert lab.lab.guest_up_count("web-a") == 1  # live: the guest never booted again
    row = rows["kvm-a"]
    assert (row["result"], row["reboot"], row["observed"]) == ("pass", "rebooted", IBPB)
    assert "undrained with undrain/libvirt.yml after verification" in rows["kvm-a"]["why"]

    def at(task):
        return next(
            e["t"] for e in events if e.get("host") == "kvm-a" and e["task"].endswith(task) and e["event"] == "ok"
        )

    assert at(": Live-migrate each running domain to the peer") < boot["start"]
    assert boot["up"] < at(": Verify the host against its plan") < at(": Live-migrate each domain back from the peer")


def test_saved_guest_was_resumed_after_the_verified_reboot(lab, real_run):
    daemons, lf, rows = lab.daemons, lab.fleet, real_run.rows
    boot = next(b for b in real_run.boots if b["host"] == "kvm-b")
    assert boot["guests_at_boot"] == []
    assert daemons["b"].running() == ["web-b"]
    assert daemons["b"].dominfo("web-b")["Managed save"] == "no"
    assert lab.lab.guest_up_count("web-b") == 1  # restored from the saved state, not booted again
    assert rows["kvm-b"]["result"] == "pass" and rows["kvm-b"]["reboot"] == "rebooted"
    assert not (lf.root("kvm-b") / "var" / "lib" / "fleetsec-vmscape" / "libvirt-drain.json").exists()


def test_shut_down_guest_was_booted_again_after_the_verified_reboot(lab, real_run):
    boot = next(b for b in real_run.boots if b["host"] == "kvm-d")
    assert boot["guests_at_boot"] == []
    assert lab.daemons["d"].running() == ["web-d"]
    # ACPI power button -> the guest's acpid powered it off; the undrain's virsh start booted it again
    # (virsh start returns before the guest is up: give it the time a boot takes)
    deadline = time.monotonic() + 90
    while lab.lab.guest_up_count("web-d") < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    console = lab.lab.console("web-d").read_text()
    assert console.count("GUEST-UP") == 2 and console.count("GUEST-POWEROFF") == 1
    assert console.index("GUEST-POWEROFF") < console.rindex("GUEST-UP")
    row = real_run.rows["kvm-d"]
    assert (row["result"], row["reboot"]) == ("pass", "rebooted")


def test_host_that_cannot_be_emptied_is_not_rebooted_and_gets_its_guests_back(lab, real_run):
    assert "kvm-c" not in {b["host"] for b in real_run.boots}
    assert lab.daemons["c"].running() == ["pin-c", "web-c"]
    assert lab.lab.guest_up_count("web-c") == 1 and lab.lab.guest_up_count("pin-c") == 1
    row = real_run.rows["kvm-c"]
    assert row["reboot"] == "pending"
    assert "1 guest(s) (pin-c) still running after the drain tasks drain/libvirt.yml: reboot pending" in row["why"]
    assert "not rebooted, undrained with undrain/libvirt.yml" in row["why"]


def test_host_without_drain_tasks_is_refused_and_its_guest_untouched(lab, check_run, real_run):
    """The role's defaults on a host with a running guest: no drain tasks, so no reboot (pending),
    the guest left running in the same QEMU process, in check mode and for real."""
    check_row, row = check_run.rows["kvm-e"], real_run.rows["kvm-e"]
    assert check_row["reboot"] == "pending", check_row
    assert "check mode: 1 guest(s) (web-e) running and no drain tasks (vmscape_drain_tasks)" in check_row["why"]
    assert "kvm-e" not in {b["host"] for b in real_run.boots}
    assert row["reboot"] == "pending", row
    refused = "1 guest(s) (web-e) running and no drain tasks (vmscape_drain_tasks) emptied the host: reboot pending"
    assert refused in row["why"]
    assert "drained with" not in row["why"] and "undrained" not in row["why"]
    assert lab.daemons["e"].running() == ["web-e"]
    assert lab.daemons["e"].pids() == check_run.pids["e"]  # the same QEMU process as before both runs
    assert lab.lab.guest_up_count("web-e") == 1


def test_state_files_are_gone_and_a_second_run_changes_nothing(lab, real_run):
    daemons, lf = lab.daemons, lab.fleet
    for host in ("kvm-a", "kvm-b", "kvm-c", "kvm-d"):
        assert not (lf.root(host) / "var" / "lib" / "fleetsec-vmscape" / "libvirt-drain.json").exists()
    lf.playbook("remediate.yml", "-e", "vmscape_serial=4", "-e", "vmscape_serial_per_domain=1")
    rows = lf.report()
    assert rows["kvm-a"]["reboot"] == rows["kvm-b"]["reboot"] == "not_needed"
    assert [b["host"] for b in lf.boot_log()].count("kvm-a") == 1
    assert json.dumps(rows["kvm-a"]).count("drain") == 0
    assert daemons["a"].running() == ["web-a"] and daemons["b"].running() == ["web-b"]
