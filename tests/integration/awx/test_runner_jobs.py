"""audit.yml and remediate.yml --check as AWX runs them (tests/integration/awx/awx_jobs.py): through
ansible-runner, the collection installed from its tarball, no ansible.cfg, the jsonfile fact cache
on and carried from one job to the next, against a loopback fleet of real sshd servers.

Checked: the fleet summary is in the job output although no configuration enables a callback; the
report is a set_stats artifact of the job (what AWX shows and hands on) and JSON/HTML files in the
directory the job template's extra variable names; the two agree host by host; facts from the
cache of an earlier job never decide (a host changed between the jobs is reported as it is now);
--check changes no file of the hosts; --limit reports exactly the limited hosts."""

from __future__ import annotations

import hashlib
import os

import pytest
from awx_jobs import clean_environment, fleet_hosts, private_data_dir, report_files, run_job

IBPB = "Mitigation: IBPB before exit to userspace"
FLEET_SIZE = 8
FLEET_PORT = 22041

pytestmark = pytest.mark.integration


def _tree_digest(root) -> str:
    """Content of every small file of a host's root; size and mtime of the large ones (kernel images,
    the sparse dev/cpu/0/cpuid)."""
    h = hashlib.sha256()
    cache = root / "run" / "fleetsec-vmscape"  # the direct facts path's kernel-probe cache (tmpfs on a host)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and cache not in p.parents):
        st = path.stat()
        data = path.read_bytes() if st.st_size < 1 << 20 else f"{st.st_size} {st.st_mtime_ns}".encode()
        h.update(str(path.relative_to(root)).encode() + b"\0" + data)
    return h.hexdigest()


def test_audit_then_remediate_check_as_awx_runs_them(fleet, collection, tmp_path, monkeypatch):
    clean_environment(monkeypatch)
    base, inventory = fleet
    _tarball, collections = collection
    hosts = fleet_hosts(inventory)
    reports = tmp_path / "reports"
    pdd = private_data_dir(tmp_path / "job", inventory, collections)
    installed = str(collections / "ansible_collections" / "fleetsec" / "vmscape")

    audit = run_job(pdd, "audit.yml", "1", {"vmscape_report_dir": str(reports), "awx_job_id": 1})
    assert (audit.status, audit.rc) == ("successful", 0), audit.stdout[-3000:]
    summary = audit.report_section()
    for host in hosts:
        assert f"\n{host} " in summary, host
    assert f"{len(hosts)} hosts: " in summary
    # the collection's tasks came from the installed tarball, not from this checkout
    roles = {p for p in audit.task_paths() if "/roles/" in p or "/playbooks/" in p}
    assert roles and all(p.startswith(installed) for p in roles), roles
    artifacts = audit.stats_artifacts()
    assert list(artifacts) == ["vmscape_report_run_job1"]
    stats = artifacts["vmscape_report_run_job1"]
    assert [r["host"] for r in stats["rows"]] == hosts
    assert stats["meta"]["run_id"] == "job1" and stats["totals"]["hosts"] == len(hosts)
    if os.environ.get("VMSCAPE_COMPAT_BIN"):  # make compat-runner: the oldest ansible-core ran it
        assert stats["meta"]["ansible_version"].startswith("2.16."), stats["meta"]
    doc, path = report_files(reports, "job1")
    assert {r["host"]: r["result"] for r in doc["rows"]} == {r["host"]: r["result"] for r in stats["rows"]}
    assert set(doc["hosts"]) == set(hosts)  # the file keeps every host's full record
    assert str(path) in audit.stdout
    cache = pdd / "artifacts" / "1" / "fact_cache"
    # the fact cache was on: one file per host (ansible-core 2.19+ names them s1_<host>)
    assert sorted(p.name.removeprefix("s1_") for p in cache.iterdir()) == hosts

    # Between the jobs one host changes (as after a reboot elsewhere): its kernel now reports
    # Vulnerable. The next job starts with job 1's facts in its cache, as AWX does.
    victim = next(r for r in doc["rows"] if r["before"] == IBPB)["host"]
    vmscape = base / "roots" / victim / "sys" / "devices" / "system" / "cpu" / "vulnerabilities" / "vmscape"
    vmscape.unlink()
    vmscape.write_text("Vulnerable\n")
    roots = {h: _tree_digest(base / "roots" / h) for h in hosts}

    # job 2 with pipelining on (docs/awx.md recommends it): the facts take the direct path
    # (plugin_utils/_observe/facts_direct.py), job 1 ran the vmscape_facts module; hosts nobody touched
    # must read the same
    (pdd / "env" / "envvars").write_text((pdd / "env" / "envvars").read_text() + "ANSIBLE_PIPELINING: 'True'\n")
    rem = run_job(
        pdd,
        "remediate.yml",
        "2",
        {"vmscape_report_dir": str(reports), "awx_job_id": 2},
        cmdline="--check",
        fact_cache=cache,
    )
    assert (rem.status, rem.rc) == ("successful", 0), rem.stdout[-3000:]
    assert f"{len(hosts)} hosts: " in rem.report_section()
    stats2 = rem.stats_artifacts()["vmscape_report_run_job2"]
    rows2 = {r["host"]: r for r in stats2["rows"]}
    assert sorted(rows2) == hosts and stats2["meta"]["check_mode"] is True
    assert rows2[victim]["before"] == "Vulnerable", rows2[victim]  # not the cached IBPB
    assert rows2[victim]["result"] == "would_reboot" or rows2[victim]["reboot"] == "would_reboot", rows2[victim]
    same = ("cpu", "kernel", "before", "expected")
    for row1 in doc["rows"]:
        if row1["host"] != victim:
            assert {k: rows2[row1["host"]][k] for k in same} == {k: row1[k] for k in same}, row1["host"]
    doc2, _ = report_files(reports, "job2")
    assert {r["host"]: r["result"] for r in doc2["rows"]} == {h: r["result"] for h, r in rows2.items()}
    assert {h: _tree_digest(base / "roots" / h) for h in hosts} == roots  # --check wrote nothing
    # ... but the facts took the direct path (pipelining on) and kept its kernel-probe answers
    assert any((base / "roots" / h / "run/fleetsec-vmscape/kernel-probe.json").is_file() for h in hosts)

    # --limit: the report covers exactly the limited hosts
    subset = hosts[1:4]
    lim = run_job(
        pdd,
        "audit.yml",
        "3",
        {"vmscape_report_dir": str(reports), "awx_job_id": 3},
        cmdline="--limit " + ",".join(subset),
    )
    assert lim.status == "successful", lim.stdout[-3000:]
    stats3 = lim.stats_artifacts()["vmscape_report_run_job3"]
    assert [r["host"] for r in stats3["rows"]] == subset
