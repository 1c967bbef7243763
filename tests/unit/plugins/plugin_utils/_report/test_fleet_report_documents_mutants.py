"""Fleet report documents: reading them back, merging several runs, the terminal summary's row
selection, and feeding task results (found by `make mutation`). Every expected row, meta field and
line is written out by hand from the documented form (docs/DESIGN.md, the report's JSON schema 1)."""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import FleetReport, merge

IBPB = "Mitigation: IBPB before exit to userspace"


def row(host, result="pass", **kw):
    """A row of a compact document (no per-host records)."""
    base = {
        "host": host,
        "cpu": "GenuineIntel 6/0x55",
        "kernel": "6.1.0-56-amd64",
        "before": "Vulnerable",
        "action": "set vmscape=ibpb",
        "expected": IBPB,
        "observed": IBPB,
        "result": result,
        "reboot": "rebooted",
        "why": "",
        "cpu_class": "Intel 0x6/0x55",
        "cpu_model": "Xeon",
        "action_kind": "set",
    }
    base.update(kw)
    return base


def doc(rows, **meta):
    return {"schema": 1, "meta": meta, "rows": rows}


# --------------------------------------------------------------------------- reading documents
def test_a_compact_row_missing_fields_reads_as_unknown():
    r = FleetReport()
    assert r.add_document({"rows": [{"host": "h1"}]}, "old.json") == []
    assert r.rows() == [
        {
            "host": "h1",
            "cpu": "?",
            "kernel": "?",
            "before": "?",
            "action": "?",
            "expected": "?",
            "observed": "?",
            "result": "?",
            "reboot": "?",
            "why": "",
            "cpu_class": "?",
            "cpu_model": "?",
            "action_kind": "?",
        }
    ]


def test_a_document_with_records_keeps_them_and_replaces_earlier_entries():
    r = FleetReport()
    r.ok("h1", "Plan", {"plan": {"action": "none", "compliant": True}})
    r.add_document({"rows": [row("h2")]})
    records = {"h1": {"host": "other", "plan": {"action": "blocked"}}, "h2": "not a record"}
    again = r.add_document({"rows": [row("h1", "blocked"), row("h2", "fail")], "hosts": records}, "new.json")
    assert again == ["h1", "h2"]
    assert r.hosts == {"h1": {"host": "h1", "plan": {"action": "blocked"}}}  # named by its row
    assert r.frozen == {"h2": row("h2", "fail")}
    assert [x["result"] for x in r.rows()] == ["unverified", "fail"]
    # records that are not a mapping are ignored as a whole
    r2 = FleetReport()
    r2.add_document({"rows": [row("h3")], "hosts": ["h3"]})
    assert r2.hosts == {} and list(r2.frozen) == ["h3"]


@pytest.mark.parametrize(
    ("document", "source", "message"),
    [
        ({"meta": {}}, "a.json", "a.json: not a VMSCAPE fleet report (no 'rows' list)"),
        ({"rows": {}}, "", "document: not a VMSCAPE fleet report (no 'rows' list)"),
        ({"rows": [{"cpu": "x"}]}, "b.json", "b.json: a row without a host name"),
        ({"rows": [{"host": 5}]}, "", "document: a row without a host name"),
        ({"rows": ["h1"]}, "", "document: a row without a host name"),
    ],
)
def test_what_is_not_a_report_is_refused_naming_the_source(document, source, message):
    with pytest.raises(ValueError) as err:
        FleetReport().add_document(document, source)
    assert str(err.value) == message


def test_merging_runs_keeps_the_newest_entry_and_describes_the_sources():
    first = doc(
        [row("h1", "fail"), row("h2")],
        playbook="remediate.yml",
        started="2026-11-30T10:00:00",
        finished="2026-11-30T11:00:00",
        check_mode=False,
        run_id="r1",
        ignored="x",
    )
    second = doc([row("h1")], playbook="audit.yml", started="2026-12-01T09:00:00", finished="2026-12-01T09:30:00")
    third = {"rows": [row("h3", "pending")]}  # no meta: sorts first (no finish time)
    report, meta = merge([("second.json", second), ("first.json", first), ("third.json", third)])
    assert [(x["host"], x["result"]) for x in report.rows()] == [("h1", "pass"), ("h2", "pass"), ("h3", "pending")]
    assert meta == {
        "merged": 3,
        "sources": [
            {"source": "third.json", "hosts": 1},
            {
                "source": "first.json",
                "hosts": 2,
                "playbook": "remediate.yml",
                "started": "2026-11-30T10:00:00",
                "finished": "2026-11-30T11:00:00",
                "check_mode": False,
                "run_id": "r1",
            },
            {
                "source": "second.json",
                "hosts": 1,
                "playbook": "audit.yml",
                "started": "2026-12-01T09:00:00",
                "finished": "2026-12-01T09:30:00",
            },
        ],
        "duplicates": {"h1": ["second.json"]},
        "started": "2026-11-30T10:00:00",
        "finished": "2026-12-01T09:30:00",
        "playbook": "audit.yml, remediate.yml",
    }


def test_merging_documents_without_times_or_playbooks():
    report, meta = merge([("b.json", {"rows": [row("h1")]}), ("a.json", {"rows": [row("h1", "fail")]})])
    # equal (missing) finish times: by name, so b.json is the newer one
    assert [x["result"] for x in report.rows()] == ["pass"]
    assert (meta["started"], meta["finished"], meta["playbook"]) == (None, None, "")
    assert meta["duplicates"] == {"h1": ["b.json"]}
    with pytest.raises(ValueError) as err:
        merge([("bad.json", {"meta": {"finished": "x"}})])
    assert str(err.value) == "bad.json: not a VMSCAPE fleet report (no 'rows' list)"


# --------------------------------------------------------------------------- the terminal summary
def many(n, failing=()):
    r = FleetReport()
    r.add_document({"rows": [row(f"h{i:03d}", "fail" if i in failing else "pass") for i in range(n)]})
    return r


def test_auto_lists_every_host_up_to_100_and_only_problems_above():
    text = many(100, failing={5}).as_text("auto").splitlines()
    assert len([ln for ln in text if ln.startswith("h")]) == 100
    text = many(101, failing={5}).as_text("auto").splitlines()
    assert [ln.split()[0] for ln in text if ln.startswith("h")] == ["h005"]
    assert "(100 passing hosts not listed; every host is in the JSON and HTML report)" in text
    assert many(3).as_text("auto").splitlines()[0].startswith("HOST")


def test_problems_are_every_host_not_passing_including_unknown_results():
    r = FleetReport()
    r.add_document({"rows": [row("a"), row("b", "?"), row("c", "pending", why="reboot pending"), row("d")]})
    text = r.as_text("problems").splitlines()
    assert [ln.split()[0] for ln in text[1:3]] == ["b", "c"]
    assert text[3] == "(2 passing hosts not listed; every host is in the JSON and HTML report)"
    assert text[-1] == "  c: reboot pending"


def test_the_summary_splits_by_cpu_class_or_kernel_when_there_are_several():
    one = FleetReport()
    one.add_document({"rows": [row("a"), row("b")]})
    assert [ln for ln in one.as_text().splitlines() if ln.startswith("by ")] == []
    kernels = FleetReport()
    kernels.add_document({"rows": [row("a"), row("b", "fail", kernel="6.12.1")]})
    assert [ln for ln in kernels.as_text().splitlines() if ln.startswith("by ")] == [
        "by CPU class: Intel 0x6/0x55: fail 1, pass 1",
        "by kernel: 6.1.0-56-amd64: pass 1; 6.12.1: fail 1",
    ]
    classes = FleetReport()
    classes.add_document({"rows": [row("a"), row("b", cpu_class="AMD 0x19/0x1")]})
    assert [ln for ln in classes.as_text().splitlines() if ln.startswith("by ")] == [
        "by CPU class: AMD 0x19/0x1: pass 1; Intel 0x6/0x55: pass 1",
        "by kernel: 6.1.0-56-amd64: pass 2",
    ]


def test_only_hosts_not_passing_get_their_reason_line():
    r = FleetReport()
    r.add_document({"rows": [row("a", why="already mitigated"), row("b", "blocked", why="no IBPB")]})
    assert r.as_text().splitlines()[-1] == "  b: no IBPB"
    assert "  a: already mitigated" not in r.as_text()


# --------------------------------------------------------------------------- task results
def test_results_of_each_outcome_name_their_task():
    r = FleetReport()
    r.result("h1", "Gather", {"unreachable": True, "msg": "ssh: timeout"})
    r.result("h2", "Plan", {"failed": True, "msg": "bad facts"})
    r.result("h3", "Plan", {"skipped": True, "plan": {"action": "none"}})
    r.result("h4", "Plan", "not a result")
    r.result("h5", "Plan", {"plan": {"action": "none", "compliant": True}})
    assert r.hosts == {
        "h1": {"host": "h1", "unreachable": {"task": "Gather", "msg": "ssh: timeout"}},
        "h2": {"host": "h2", "error": {"task": "Plan", "msg": "bad facts"}},
        "h5": {"host": "h5", "plan": {"action": "none", "compliant": True}},
    }


def test_registered_results_say_whether_the_run_reached_the_host():
    r = FleetReport()
    assert r.registered("h1", {"vmscape_reboot": {"status": "rebooted"}}) is False
    assert r.hosts == {}  # the reboot outcome alone is not this run's (a fact cache may hold it)
    assert r.registered("h2", {"__vmscape_verify_result": {"verify": {"status": "pass"}}, "vmscape_reboot": {
        "status": "rebooted"}}) is True  # fmt: skip
    assert r.hosts["h2"]["reboot"] == {"status": "rebooted"}


def test_a_configuration_result_or_a_reboot_fact_alone_makes_a_host_relevant():
    r = FleetReport()
    r.ok("h1", "Set", {"changed": False, "backend": "grub", "effective_cmdline": "ro vmscape=ibpb"})
    r.ok("h2", "Record", {"ansible_facts": {"vmscape_reboot": {"status": "pending"}}})
    r.ok("h3", "Set", {"effective_cmdline": "ro"})  # no backend: not a kernel_cmdline result
    r.ok("h4", "Set", {"backend": "grub"})
    assert sorted(r.hosts) == ["h1", "h2"]
    assert r.hosts["h1"]["config"]["backend"] == "grub"


def test_the_html_page_uses_the_template_and_meta_it_is_given(tmp_path):
    r = FleetReport()
    r.add_document({"rows": [row("a"), row("b", "fail")]})
    custom = tmp_path / "mine.html.j2"
    custom.write_text("{{ report.meta.playbook }}: {{ report.totals.hosts }} hosts")
    assert r.as_html({"playbook": "audit.yml"}, str(custom)) == "audit.yml: 2 hosts"
