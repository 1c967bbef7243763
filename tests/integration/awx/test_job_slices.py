"""Job slicing as AWX does it, and merging the slices' reports (docs/awx.md).

A sliced job template runs one job per slice, each on its share of the inventory (AWX deals hosts
out round-robin: slice k of N gets hosts k-1, k-1+N, ...), concurrently, each with its own serial
batches and failure budget. Here 4 slices of remediate.yml in staging mode (configure every host,
reboot none: the pattern of docs/awx.md) run at the same time through ansible-runner against a
loopback fleet; their reports are then merged by fleetsec.vmscape.report, once from the JSON files
the slices wrote into one shared directory and once from the set_stats artifacts an AWX workflow
would pass to its next node. Both merged reports must cover every host exactly once, and agree with
the slices."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from awx_jobs import clean_environment, finish_job, fleet_hosts, private_data_dir, report_files, run_job, start_job

FLEET_SIZE = 12
FLEET_PORT = 22042
SLICES = 4

pytestmark = pytest.mark.integration


def slice_inventory(inventory, k: int, dest):
    doc = yaml.safe_load(inventory.read_text())
    hosts = doc["all"]["children"]["bench"]["hosts"]
    names = sorted(hosts)
    keep = names[k - 1 :: SLICES]
    doc["all"]["children"]["bench"]["hosts"] = {h: hosts[h] for h in keep}
    dest.write_text(yaml.safe_dump(doc, sort_keys=False))
    return keep


def test_four_slices_concurrently_then_one_merged_report(fleet, collection, tmp_path, monkeypatch):
    clean_environment(monkeypatch)
    _base, inventory = fleet
    _tarball, collections = collection
    hosts = fleet_hosts(inventory)
    shared = tmp_path / "shared-reports"  # the volume every slice writes into (AWX_ISOLATION_SHOW_PATHS)
    members, started, jobs = {}, {}, {}
    for k in range(1, SLICES + 1):
        inv = tmp_path / f"slice{k}.yml"
        members[k] = slice_inventory(inventory, k, inv)
        pdd = private_data_dir(tmp_path / f"job{k}", inv, collections)
        started[k] = (
            pdd,
            start_job(
                pdd,
                "remediate.yml",
                str(100 + k),
                {"vmscape_report_dir": str(shared), "awx_job_id": 100 + k, "vmscape_reboot_policy": "stage"},
            ),
        )
    for k, (pdd, proc) in started.items():
        jobs[k] = finish_job(proc, pdd, str(100 + k))
    assert sorted(jobs) == list(range(1, SLICES + 1))
    for k, job in jobs.items():
        assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
        assert f"{len(members[k])} hosts: " in job.report_section()
    # they did run at the same time: every slice started before any finished
    spans = []
    for job in jobs.values():
        created = sorted(dt.datetime.fromisoformat(e["created"]) for e in job.events if e.get("created"))
        spans.append((created[0], created[-1]))
    assert max(s for s, _e in spans) < min(e for _s, e in spans)
    assert sorted(h for m in members.values() for h in m) == hosts

    artifacts = {}
    slice_rows = {}
    for k, job in jobs.items():
        (key,) = job.stats_artifacts()
        assert key == f"vmscape_report_run_job{100 + k}"
        artifacts[key] = job.stats_artifacts()[key]
        doc, _ = report_files(shared, f"job{100 + k}")
        assert [r["host"] for r in doc["rows"]] == members[k]
        slice_rows.update({r["host"]: r for r in doc["rows"]})
    # staging configured the hosts that need a parameter and rebooted none
    assert any(r["reboot"] == "pending" for r in slice_rows.values())
    assert not any(r["reboot"] == "rebooted" for r in slice_rows.values())

    merge_dir = tmp_path / "merged"
    # 1. from the files the slices wrote into the shared directory
    pdd = private_data_dir(tmp_path / "merge-files", inventory, collections)
    from_files = run_job(
        pdd,
        "report.yml",
        "200",
        {"vmscape_report_inputs": [str(shared)], "vmscape_report_dir": str(merge_dir / "files")},
    )
    # 2. from the slices' set_stats artifacts, as a workflow passes them on to its next node
    pdd = private_data_dir(tmp_path / "merge-stats", inventory, collections)  # (runner keeps extravars in env/)
    from_stats = run_job(pdd, "report.yml", "201", {"vmscape_report_dir": str(merge_dir / "stats"), **artifacts})
    for job, sub in ((from_files, "files"), (from_stats, "stats")):
        assert (job.status, job.rc) == ("successful", 0), job.stdout[-3000:]
        assert "VMSCAPE FLEET REPORT (merged)" in job.stdout
        (path,) = (merge_dir / sub).glob("vmscape-*-merged.json")
        doc = json.loads(path.read_text())
        names = [r["host"] for r in doc["rows"]]
        assert names == hosts  # every host exactly once
        assert doc["meta"]["duplicates"] == {} and doc["meta"]["merged"] == SLICES
        assert sorted(s["hosts"] for s in doc["meta"]["sources"]) == sorted(len(m) for m in members.values())
        assert {r["host"]: (r["result"], r["reboot"]) for r in doc["rows"]} == {
            h: (r["result"], r["reboot"]) for h, r in slice_rows.items()
        }
        assert doc["totals"]["hosts"] == len(hosts)
        assert (path.with_suffix(".html")).is_file()
        merged_stats = job.stats_artifacts()
        assert len(merged_stats) == 1 and next(iter(merged_stats.values()))["totals"]["hosts"] == len(hosts)
