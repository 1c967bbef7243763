"""The fleet report, every field written out by hand (found by `make mutation`).

Plans here are hand-built dicts (not make_plan output), so every expected cell, total, line of
text and piece of JSON/HTML below is derived by hand from plugins/plugin_utils/_report/fleet_report.py's
documented columns, not from the code.
"""

import json

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import FleetReport

IBPB = "Mitigation: IBPB before exit to userspace"


def plan(**kw):
    base = {
        "action": "set",
        "mode": "ibpb",
        "cmdline": {"vmscape": "ibpb"},
        "cmdline_remove": [],
        "expected_sysfs": IBPB,
        "observed_current": "Vulnerable",
        "compliant": False,
        "reboot_required": True,
        "config_in_place": False,
        "reasons": ["first reason", "last reason"],
        "cpu": {"vendor": "GenuineIntel", "id": "6/0x55", "hypervisor": False},
        "kernels": {"running": {"release": "6.1.0-56-amd64"}, "next_boot": {"release": "6.1.0-56-amd64"}},
    }
    base.update(kw)
    return base


def three_hosts():
    r = FleetReport()
    # a: remediated and rebooted; the next boot was another kernel; mitigations= removed
    a = plan(
        cmdline_remove=["mitigations"],
        kernels={"running": {"release": "6.1.0-56-amd64"}, "next_boot": {"release": "6.1.0-57-amd64"}},
    )
    r.ok("a", "Plan", {"plan": a})
    r.ok(
        "a",
        "Set",
        {"changed": True, "backend": "grub", "changed_files": ["/etc/default/grub"], "effective_cmdline": "ro x"},
    )
    r.ok("a", "Reboot", {"rebooted": True, "elapsed": 61})
    r.ok("a", "Record", {"ansible_facts": {"vmscape_reboot": {"status": "rebooted", "reason": "rebooted in 61 s"}}})
    r.ok("a", "Verify", {"verify": {"status": "pass", "observed": IBPB, "reasons": []}})
    # b: a guest on AMD with nothing to do
    b = plan(
        action="none",
        mode="none",
        cmdline={},
        expected_sysfs="Not affected",
        observed_current="Not affected",
        compliant=True,
        reboot_required=False,
        cpu={"vendor": "AuthenticAMD", "id": "0x19/0x01", "hypervisor": True},
    )
    r.ok("b", "Plan", {"plan": b})
    # c: the configuration task failed with stderr only
    r.ok("c", "Plan", {"plan": plan()})
    r.failed("c", "Set", {"stderr": "grub-probe: error: disk not found"})
    return r


def test_rows_cell_by_cell():
    rows = three_hosts().rows()
    assert rows == [
        {
            "host": "a",
            "cpu": "GenuineIntel 6/0x55",
            "kernel": "6.1.0-56-amd64 -> 6.1.0-57-amd64",
            "before": "Vulnerable",
            "action": "set vmscape=ibpb -mitigations",
            "expected": IBPB,
            "observed": IBPB,
            "result": "pass",
            "reboot": "rebooted",
            "why": "",
            "cpu_class": "Intel 6/0x55",
            "cpu_model": "",
            "action_kind": "set",
        },
        {
            "host": "b",
            "cpu": "AuthenticAMD 0x19/0x01 (guest)",
            "kernel": "6.1.0-56-amd64",
            "before": "Not affected",
            "action": "none",
            "expected": "Not affected",
            "observed": "-",
            "result": "pass",
            "reboot": "not_needed",
            "why": "",
            "cpu_class": "AMD 0x19/0x01 guest",
            "cpu_model": "",
            "action_kind": "none",
        },
        {
            "host": "c",
            "cpu": "GenuineIntel 6/0x55",
            "kernel": "6.1.0-56-amd64",
            "before": "Vulnerable",
            "action": "set vmscape=ibpb",
            "expected": IBPB,
            "observed": "-",
            "result": "error",
            "reboot": "-",
            "why": "Set: grub-probe: error: disk not found",
            "cpu_class": "Intel 6/0x55",
            "cpu_model": "",
            "action_kind": "set",
        },
    ]


def test_what_ok_records_per_host():
    r = three_hosts()
    a = r.hosts["a"]
    assert a["config"] == {
        "changed": True,
        "backend": "grub",
        "files": ["/etc/default/grub"],
        "backups": [],
        "effective_cmdline": "ro x",
    }
    assert a["reboot_elapsed"] == 61
    assert a["reboot"] == {"status": "rebooted", "reason": "rebooted in 61 s"}
    assert set(a) == {"host", "plan", "config", "reboot_elapsed", "reboot", "verify"}
    assert r.hosts["c"]["error"] == {"task": "Set", "msg": "grub-probe: error: disk not found"}


def test_ok_ignores_what_is_not_its_own():
    r = FleetReport()
    for result in ({"changed": False, "effective_cmdline": "ro"}, {"ping": "pong"}, {"rebooted": True, "elapsed": 3}):
        r.ok("new", "A task of no concern", result)
    assert r.hosts == {}  # a host the collection's tasks never reported is not in the report
    r.failed("h", "Earlier", {"msg": "x"})
    del r.hosts["h"]["error"]
    r.ok("h", "Other module", {"changed": False, "effective_cmdline": "ro"})  # no backend: not kernel_cmdline
    r.ok("h", "Other module", {"changed": True, "backend": "grub"})  # no effective_cmdline either
    r.ok("h", "Reboot skipped", {"rebooted": False, "elapsed": 0})
    r.ok("h", "Reboot without time", {"rebooted": True})
    r.ok("h", "Elapsed only", {"elapsed": 5})
    r.ok("h", "Not a plan", {"plan": "set", "verify": ["pass"], "ansible_facts": {"vmscape_reboot": "x"}})
    assert r.hosts["h"] == {"host": "h"}
    # the plan a task returned wins over the same task's vmscape_plan fact
    r.ok("h", "Plan", {"plan": {"action": "set"}, "ansible_facts": {"vmscape_plan": {"action": "none"}}})
    assert r.hosts["h"]["plan"] == {"action": "set"}
    r.ok(
        "h",
        "Config",
        {
            "changed": False,
            "backend": "bls",
            "files": ["/b"],
            "changed_files": ["/c"],
            "backups": ["/b~"],
            "effective_cmdline": "ro",
        },
    )
    assert r.hosts["h"]["config"] == {
        "changed": False,
        "backend": "bls",
        "files": ["/b"],
        "backups": ["/b~"],
        "effective_cmdline": "ro",
    }


def test_failed_and_unreachable_messages():
    r = FleetReport()
    r.failed("m", "T1", {"msg": "the message", "stderr": "ignored"})
    r.failed("s", "T2", {"msg": "", "stderr": "from stderr"})
    r.failed("n", "T3", {})
    r.unreachable("u", "T4", {})
    r.unreachable("v", "T5", {"msg": "Timed out"})
    assert r.hosts["m"]["error"] == {"task": "T1", "msg": "the message"}
    assert r.hosts["s"]["error"] == {"task": "T2", "msg": "from stderr"}
    assert r.hosts["n"]["error"] == {"task": "T3", "msg": "failed"}
    assert r.hosts["u"]["unreachable"] == {"task": "T4", "msg": "unreachable"}
    assert r.hosts["v"]["unreachable"] == {"task": "T5", "msg": "Timed out"}
    # a failed verification is a verdict, not an error
    r.failed("f", "Verify", {"msg": "fail: ...", "verify": {"status": "fail", "observed": "Vulnerable"}})
    assert "error" not in r.hosts["f"] and r.hosts["f"]["verify"]["status"] == "fail"


def test_row_results_and_reboot_columns():
    row = FleetReport.row
    assert row({"host": "x"}) == {
        "host": "x",
        "cpu": "?",
        "kernel": "?",
        "before": "?",
        "action": "?",
        "expected": "?",
        "observed": "-",
        "result": "?",
        "reboot": "-",
        "why": "",
        "cpu_class": "?",
        "cpu_model": "",
        "action_kind": "?",
    }
    p = plan(observed_current=None, expected_sysfs=None)
    r = row({"host": "x", "plan": p})
    assert (r["before"], r["expected"], r["result"], r["reboot"]) == ("(no file)", "(no file)", "unverified", "-")
    r = row({"host": "x", "plan": p, "verify": {"status": "kernel_upgrade", "observed": None}})
    assert (r["observed"], r["result"]) == ("(no file)", "kernel_upgrade")
    assert row({"host": "x", "verify": {"observed": IBPB}})["result"] == "?"
    both = {"host": "x", "plan": p, "error": {"task": "t", "msg": "e"}, "unreachable": {"task": "u", "msg": "gone"}}
    assert row(both)["result"] == "unreachable" and row(both)["why"] == "u: gone"
    same = plan(kernels={"running": {"release": "6.12.117"}, "next_boot": {"release": "6.12.117"}})
    assert row({"host": "x", "plan": same})["kernel"] == "6.12.117"
    only_boot = plan(kernels={"next_boot": {"release": "7.3.4"}})
    assert row({"host": "x", "plan": only_boot})["kernel"] == "? -> 7.3.4"


def test_actions_in_place_and_rollback():
    row = FleetReport.row
    assert row({"host": "x", "plan": plan(config_in_place=True)})["action"] == "in place vmscape=ibpb"
    assert row({"host": "x", "plan": plan(cmdline={"vmscape": "force", "nosmt": "force"})})["action"] == (
        "set vmscape=force nosmt=force"
    )
    rb = plan(mode="rollback", restored_entry="20261125T100000.1Z-1")
    assert row({"host": "x", "plan": rb})["action"] == "rollback 20261125T100000.1Z-1"
    assert row({"host": "x", "plan": plan(mode="rollback", restored_entry=None)})["action"] == (
        "rollback (nothing journaled)"
    )
    assert row({"host": "x", "plan": plan(action="blocked")})["action"] == "blocked"


def test_why_collects_unique_reasons_in_order():
    row = FleetReport.row
    verify = {"status": "pending", "observed": "Vulnerable", "reasons": ["r1", "r2", "r1", ""]}
    pending = {"status": "pending", "reason": "outside the window"}
    rec = {"host": "x", "plan": plan(), "verify": verify, "reboot": pending}
    assert row(rec)["why"] == "r1; r2; outside the window"
    would = {"host": "x", "plan": plan(), "reboot": {"status": "would_reboot", "reason": "check mode"}}
    assert row(would)["why"] == "check mode"
    went = {"host": "x", "plan": plan(), "reboot": {"status": "rebooted", "reason": "rebooted in 61 s"}}
    assert row(went)["why"] == ""
    assert row({"host": "x", "plan": plan(action="blocked")})["why"] == "last reason"
    assert row({"host": "x", "plan": plan(action="kernel_upgrade")})["why"] == "last reason"
    assert row({"host": "x", "plan": plan(action="kernel_upgrade", reasons=[])})["why"] == ""
    assert row({"host": "x", "plan": plan(action="set")})["why"] == ""
    # the verification's reasons come first; the plan's are not repeated then
    blocked = {"host": "x", "plan": plan(action="blocked"), "verify": {"status": "blocked", "reasons": ["v"]}}
    assert row(blocked)["why"] == "v"


def test_totals():
    r = three_hosts()
    r.ok("d", "Plan", {"plan": plan()})
    r.ok("d", "Record", {"ansible_facts": {"vmscape_reboot": {"status": "pending", "reason": "stage"}}})
    t = r.totals()
    assert t == {
        "hosts": 4,
        "result": {"error": 1, "unverified": 1, "pass": 2},
        "action": {"none": 1, "set": 3},
        "rebooted": 1,
        "reboot_pending": 1,
        "by_action": {
            "none": {"hosts": 1, "result": {"pass": 1}},
            "set": {"hosts": 3, "result": {"error": 1, "unverified": 1, "pass": 1}},
        },
        "by_cpu_class": {
            "AMD 0x19/0x01 guest": {"hosts": 1, "result": {"pass": 1}, "models": []},
            "Intel 6/0x55": {"hosts": 3, "result": {"error": 1, "unverified": 1, "pass": 1}, "models": []},
        },
        "by_kernel": {
            "6.1.0-56-amd64": {"hosts": 3, "result": {"error": 1, "unverified": 1, "pass": 1}},
            "6.1.0-56-amd64 -> 6.1.0-57-amd64": {"hosts": 1, "result": {"pass": 1}},
        },
    }
    # most urgent first (RESULT_ORDER), not by count or name
    assert list(t["result"]) == ["error", "unverified", "pass"]
    assert list(t["by_kernel"]["6.1.0-56-amd64"]["result"]) == ["error", "unverified", "pass"]


def test_cpu_class_and_models():
    from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import cpu_class

    assert cpu_class({"vendor": "GenuineIntel", "family": 6, "model": 85, "id": "ignored"}) == "Intel 0x6/0x55"
    assert cpu_class({"vendor": "HygonGenuine", "family": 24, "model": 0, "hypervisor": True}) == "Hygon 0x18/0x0 guest"
    assert cpu_class({"vendor": "CentaurHauls", "family": 6, "model": None, "id": "6/0x0f"}) == "CentaurHauls 6/0x0f"
    assert cpu_class({"family": "6", "model": 1}) == "? ?"
    r = FleetReport()
    for host, name in [("1", "Xeon D"), ("2", "Xeon A"), ("3", ""), ("4", "Xeon C"), ("5", "Xeon B"), ("6", "Xeon A")]:
        cpu = {"vendor": "GenuineIntel", "family": 6, "model": 85, "model_name": name}
        r.ok(host, "Plan", {"plan": plan(cpu=cpu, compliant=True)})
    row = r.rows()[0]
    assert (row["cpu"], row["cpu_class"], row["cpu_model"]) == ("GenuineIntel", "Intel 0x6/0x55", "Xeon D")
    assert r.totals()["by_cpu_class"] == {
        "Intel 0x6/0x55": {"hosts": 6, "result": {"pass": 6}, "models": ["Xeon A", "Xeon B", "Xeon C"]}
    }
    assert r.totals()["by_action"] == {"set": {"hosts": 6, "result": {"pass": 6}}}  # no models outside CPU groups
    rollback = FleetReport.row({"host": "x", "plan": plan(mode="rollback", action="set")})
    assert rollback["action_kind"] == "rollback"


def test_text_is_the_table_the_totals_and_the_problems():
    r = three_hosts()
    r.unreachable("d", "Reboot", {"msg": "Timed out waiting for the host after a very long time " + "x" * 20})
    # column widths by hand: the longest cell or header of each column ("Mitigation: " is cut)
    widths = [4, 30, 32, 12, 29, 29, 29, 11, 10]

    def line(*cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    ibpb = "IBPB before exit to userspace"
    expected = "\n".join(
        [
            line("HOST", "CPU", "KERNEL", "BEFORE", "ACTION", "EXPECTED", "OBSERVED", "RESULT", "REBOOT"),
            line(
                "a",
                "GenuineIntel 6/0x55",
                "6.1.0-56-amd64 -> 6.1.0-57-amd64",
                "Vulnerable",
                "set vmscape=ibpb -mitigations",
                ibpb,
                ibpb,
                "pass",
                "rebooted",
            ),
            line(
                "b",
                "AuthenticAMD 0x19/0x01 (guest)",
                "6.1.0-56-amd64",
                "Not affected",
                "none",
                "Not affected",
                "-",
                "pass",
                "not_needed",
            ),
            line(
                "c", "GenuineIntel 6/0x55", "6.1.0-56-amd64", "Vulnerable", "set vmscape=ibpb", ibpb, "-", "error", "-"
            ),
            line("d", "?", "?", "?", "?", "?", "-", "unreachable", "-"),
            "4 hosts: error 1, unreachable 1, pass 2; rebooted 1, reboot pending 0",
            "by CPU class: ?: unreachable 1; AMD 0x19/0x01 guest: pass 1; Intel 6/0x55: error 1, pass 1",
            "by kernel: 6.1.0-56-amd64: error 1, pass 1; 6.1.0-56-amd64 -> 6.1.0-57-amd64: pass 1; ?: unreachable 1",
            "  c: Set: grub-probe: error: disk not found",
            "  d: Reboot: Timed out waiting for the host after a very long time xxxxxxxxxxxxxxxxxxxx",
        ]
    )
    assert r.as_text() == expected


def test_text_shortens_long_cells_to_48_characters():
    r = FleetReport()
    r.failed("h" * 48, "t", {"msg": "m"})
    r.failed("i" * 49, "t", {"msg": "m"})
    first = r.as_text().splitlines()[1:3]
    assert first[0].startswith("h" * 48 + "  ?")
    assert first[1].startswith("i" * 47 + "…" + "  ?")


def test_empty_report_text():
    assert FleetReport().as_text() == "VMSCAPE fleet report: no host reported anything."


def test_result_order_puts_unknown_results_last_by_name():
    r = FleetReport()
    for host, status in [("1", "zeta"), ("2", "alpha"), ("3", "fail"), ("4", "pass"), ("5", "pending")]:
        r.ok(host, "Verify", {"verify": {"status": status}})
    summary = r.as_text().splitlines()[6]
    assert summary == "5 hosts: fail 1, pending 1, pass 1, alpha 1, zeta 1; rebooted 0, reboot pending 0"
    assert len(r.as_text().splitlines()) == 7  # one CPU class, one kernel: no per-group lines, no reasons


COLUMNS_DOC = [
    {"key": "host", "title": "host"},
    {"key": "cpu", "title": "CPU"},
    {"key": "kernel", "title": "kernel"},
    {"key": "before", "title": "before"},
    {"key": "action", "title": "action"},
    {"key": "expected", "title": "expected"},
    {"key": "observed", "title": "observed"},
    {"key": "result", "title": "result"},
    {"key": "reboot", "title": "reboot"},
]


def test_json_document_is_sorted_indented_and_complete():
    r = FleetReport()
    r.unreachable("u", "Reboot", {"msg": "gone <now>"})
    text = r.as_json({"playbook": "remediate.yml", "started": "2026-11-26T14:05:09"})
    row = {
        "action": "?",
        "action_kind": "?",
        "before": "?",
        "cpu": "?",
        "cpu_class": "?",
        "cpu_model": "",
        "expected": "?",
        "host": "u",
        "kernel": "?",
        "observed": "-",
        "reboot": "-",
        "result": "unreachable",
        "why": "Reboot: gone <now>",
    }
    one = {"hosts": 1, "result": {"unreachable": 1}}
    doc = {
        "columns": COLUMNS_DOC,
        "hosts": {"u": {"host": "u", "unreachable": {"msg": "gone <now>", "task": "Reboot"}}},
        "meta": {"playbook": "remediate.yml", "started": "2026-11-26T14:05:09"},
        "rows": [row],
        "schema": 1,
        "totals": {
            "action": {"?": 1},
            "by_action": {"?": one},
            "by_cpu_class": {"?": {**one, "models": []}},
            "by_kernel": {"?": one},
            "hosts": 1,
            "reboot_pending": 0,
            "rebooted": 0,
            "result": {"unreachable": 1},
        },
    }
    assert text == json.dumps(doc, indent=2, sort_keys=True)
    assert text.startswith('{\n  "columns": [\n    {\n      "key": "host",')
    compact = r.as_dict({"x": 1}, records=False)
    assert set(compact) == {"schema", "meta", "columns", "totals", "rows"} and compact["meta"] == {"x": 1}
    empty = {"action": {}, "by_action": {}, "by_cpu_class": {}, "by_kernel": {}, "hosts": 0, "reboot_pending": 0,
             "rebooted": 0, "result": {}}  # fmt: skip
    assert json.loads(FleetReport().as_json()) == {
        "columns": COLUMNS_DOC,
        "hosts": {},
        "meta": {},
        "rows": [],
        "schema": 1,
        "totals": empty,
    }


def test_json_turns_what_json_cannot_hold_into_text():
    r = FleetReport()
    r.ok("h", "Plan", {"plan": {"action": "none", "when": frozenset({3})}})
    assert json.loads(r.as_json())["hosts"]["h"]["plan"]["when"] == "frozenset({3})"


def test_html_embeds_the_rows_of_the_document():
    r = FleetReport()
    r.ok("a<b", "Verify", {"verify": {"status": "fail", "observed": "Vulnerable", "reasons": ["x & y"]}})
    page = r.as_html({"playbook": "<p>.yml"})
    assert page.startswith("<!DOCTYPE html>")
    assert "a<b" not in page and "<p>.yml" not in page  # escaped wherever it appears
