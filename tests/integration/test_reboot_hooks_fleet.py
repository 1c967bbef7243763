"""remediate.yml's reboot play on a private loopback fleet (tests/integration/light_fleet.py): failure-domain
batches, drain before and undrain after each reboot, and what happens to the undrain when the
verification or the drain fails (docs/drain.md).

Real parts: ansible-playbook, OpenSSH (one sshd per host on 127.0.0.x), the collection's modules on
each host's snapshot root built from a real kernel capture. Stand-in: the reboot. The light hosts are
this machine, which must not reboot; tools/bench/fakeboot.py "boots" the host's root instead (new boot
id, the staged cmdline, and the vmscape string the real Debian kernel printed for it under QEMU). The
drain/undrain hooks here are test hooks that record when they ran (tests/integration/data/hooks); the
shipped libvirt example runs against real libvirt in test_drain_libvirt_fleet.py.
"""

from __future__ import annotations

import itertools

import pytest

from tests.integration import light_fleet

pytestmark = pytest.mark.integration

HOOKS = light_fleet.REPO / "tests" / "integration" / "data" / "hooks"
SKY_OFF = "deb-6.1__intel-skylake-sp__vmscape-off"  # plan: vmscape=ibpb, reboot
ZEN5 = "deb-6.1__amd-zen5__none"  # plan: vmscape=force (the 6.1 list lacks Zen 5), reboot
IBPB = "Mitigation: IBPB before exit to userspace"


def _host(name, capture, domain, boot="configured", **extra):
    return {
        "name": name,
        "capture": capture,
        "boot": boot,
        "vars": {
            "vmscape_failure_domain": domain,
            "vmscape_drain_tasks": str(HOOKS / "record_drain.yml"),
            "vmscape_undrain_tasks": str(HOOKS / "record_undrain.yml"),
            "vmscape_drain_always": True,
            **extra,
        },
    }


SPECS = [
    _host("r1-a", SKY_OFF, "rack1"),
    _host("r1-b", ZEN5, "rack1"),
    _host("r1-c", SKY_OFF, "rack1", test_fail_drain=True),  # the drain fails: undone, not rebooted
    _host("r2-a", SKY_OFF, "rack2"),
    _host("r2-b", SKY_OFF, "rack2", boot="previous_entry"),  # boots the old entry: verification fails
    _host("r3-a", ZEN5, "rack3"),
    _host("r3-b", SKY_OFF, "rack3", boot="previous_entry", vmscape_undrain_on_verify_failure=True),
    _host("r3-c", SKY_OFF, "rack3"),
]
DOMAIN = {s["name"]: s["vars"]["vmscape_failure_domain"] for s in SPECS}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    lf = light_fleet.start(tmp_path_factory.mktemp("fleet"), SPECS)
    try:
        yield lf
    finally:
        lf.stop()


@pytest.fixture(scope="module")
def bad_settings(fleet):
    """A run with a wrong timezone and a wrong batch size, before the real run."""
    grub = {h: (fleet.root(h) / "etc" / "default" / "grub").read_text() for h in DOMAIN}
    p = fleet.playbook(
        "remediate.yml",
        "-e",
        "vmscape_serial=3x",
        "-e",
        '{"vmscape_maintenance_timezone": "Europe/Berln"}',
        check=False,
    )
    return p, grub


@pytest.fixture(scope="module")
def run(fleet, bad_settings):
    args = ["-e", "vmscape_serial=3", "-e", "vmscape_serial_per_domain=1", "-e", "vmscape_max_fail_percentage=100"]
    return fleet, fleet.playbook("remediate.yml", *args, check=False)


def _hooks(lf, host):
    path = lf.root(host) / "hooks.log"
    if not path.exists():
        return {}
    return {line.split()[0]: float(line.split()[1]) for line in path.read_text().splitlines()}


def test_wrong_settings_stop_every_host_before_any_change(fleet, bad_settings):
    p, grub = bad_settings
    assert p.returncode == 2
    recap = p.stdout[p.stdout.index("PLAY RECAP") :]
    lines = [line for line in recap.splitlines() if line[:3] in ("r1-", "r2-", "r3-") and ": ok=" in line]
    # one check for the play (run_once, any_errors_fatal): it fails on the first host and the play ends
    # for every host (Ansible counts the failure once), no host changed
    assert len(lines) == 8 and all("changed=0" in line for line in lines), recap
    assert sum("failed=1" in line for line in lines) == 1, recap
    assert "PLAY [VMSCAPE | rolling reboots" not in p.stdout
    assert "vmscape_serial: '3x' is not a number of hosts or a percentage" in p.stdout
    assert "vmscape_maintenance_timezone: 'Europe/Berln' is not an IANA timezone" in p.stdout
    assert "(hosts: r1-a, r1-b, r1-c, r2-a, r2-b and 3 more)" in p.stdout
    for h, text in grub.items():
        assert (fleet.root(h) / "etc" / "default" / "grub").read_text() == text
        assert not (fleet.root(h) / "hooks.log").exists()
    assert fleet.boot_log() == []


def test_run_fails_only_the_broken_hosts(run):
    _, p = run
    assert p.returncode == 2, p.stdout[-4000:]  # some hosts failed, the run went on
    recap = p.stdout[p.stdout.index("PLAY RECAP") :]
    for host in ("r1-c", "r2-b", "r3-b"):
        assert f"{host}" in recap and "failed=1" in next(line for line in recap.splitlines() if line.startswith(host))
    for host in ("r1-a", "r1-b", "r2-a", "r3-a", "r3-c"):
        assert "failed=0" in next(line for line in recap.splitlines() if line.startswith(host))


def test_batches_keep_one_host_per_rack_and_three_at_once(run):
    lf, _ = run
    events = lf.event_log()
    batches, current = [], None
    for e in events:
        if e["event"] == "task" and e["task"].endswith(": Decide whether the host may reboot now"):
            current = []
            batches.append(current)
        elif (
            current is not None
            and e.get("task", "").endswith(": Decide whether the host may reboot now")
            and "host" in e
        ):
            current.append(e["host"])
    assert [sorted(b) for b in batches] == [["r1-a", "r2-a", "r3-a"], ["r1-b", "r2-b", "r3-b"], ["r1-c", "r3-c"]]
    # the reboots themselves (fakeboot's own clock): never two hosts of one rack down at once, at most 3
    boots = {b["host"]: (b["start"], b["up"]) for b in lf.boot_log()}
    assert sorted(boots) == ["r1-a", "r1-b", "r2-a", "r2-b", "r3-a", "r3-b", "r3-c"]
    for a, b in itertools.combinations(boots, 2):
        if DOMAIN[a] == DOMAIN[b]:
            assert boots[a][1] < boots[b][0] or boots[b][1] < boots[a][0], (a, b, boots[a], boots[b])
    instants = sorted(t for span in boots.values() for t in span)
    concurrency = [sum(1 for s, u in boots.values() if s <= t <= u) for t in instants]
    assert max(concurrency) <= 3
    assert max(concurrency) >= 2  # the batches did reboot in parallel


def test_drain_before_boot_undrain_after_verified_boot(run):
    lf, _ = run
    boots = {b["host"]: b for b in lf.boot_log()}
    events = lf.event_log()
    for host in ("r1-a", "r1-b", "r2-a", "r3-a", "r3-c"):
        h = _hooks(lf, host)
        assert h["drain"] < boots[host]["start"] < boots[host]["up"] < h["undrain"], (host, h, boots[host])
        verified = next(
            e["t"] for e in events if e.get("host") == host and e["task"].endswith(": Verify the host against its plan")
        )
        undrain = next(
            e["t"] for e in events if e.get("host") == host and e["task"].endswith(": Record the undrain (test hook)")
        )
        assert verified < undrain
    rows = lf.report()
    for host, value in (("r1-a", "vmscape=ibpb"), ("r1-b", "vmscape=force"), ("r3-a", "vmscape=force")):
        assert value in (lf.root(host) / "proc" / "cmdline").read_text().split()
        assert boots[host]["vmscape"] == IBPB
        assert (rows[host]["result"], rows[host]["reboot"], rows[host]["observed"]) == ("pass", "rebooted", IBPB)
        assert "undrained with" in rows[host]["why"] and "after verification" in rows[host]["why"]


def test_failed_verification_keeps_the_host_drained(run):
    lf, _ = run
    rows = lf.report()
    h = _hooks(lf, "r2-b")
    assert "drain" in h and "undrain" not in h
    assert rows["r2-b"]["result"] == "fail" and rows["r2-b"]["observed"] == "Vulnerable"
    assert "left drained: the verification failed" in rows["r2-b"]["why"]


def test_failed_verification_undrains_when_asked(run):
    lf, _ = run
    rows = lf.report()
    boots = {b["host"]: b for b in lf.boot_log()}
    h = _hooks(lf, "r3-b")
    assert h["drain"] < boots["r3-b"]["up"] < h["undrain"]
    assert rows["r3-b"]["result"] == "fail"
    assert "although the verification failed (vmscape_undrain_on_verify_failure)" in rows["r3-b"]["why"]


def test_failed_drain_is_undone_and_the_host_not_rebooted(run):
    lf, _ = run
    rows = lf.report()
    h = _hooks(lf, "r1-c")
    assert h["drain"] < h["undrain"]
    assert "r1-c" not in {b["host"] for b in lf.boot_log()}
    assert "vmscape=off" in (lf.root("r1-c") / "proc" / "cmdline").read_text().split()
    assert rows["r1-c"]["result"] == "error"
    assert "test drain failure: the peer refused the migration (not rebooted; undrained with" in rows["r1-c"]["why"]
