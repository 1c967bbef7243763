# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: per-host records from task results, the rows and totals derived from them,
the terminal text and the JSON document; merging reports of several runs (job slices). Pure.

A *record* is what the run learnt about one host (plan, boot configuration, reboot, verification,
error); a *row* is its one-line verdict (``COLUMNS``). Rows are always derived from records with
this code, so a merged report of older runs reads the same as a fresh one. A report loaded from a
document without records (the compact ``set_stats`` artifact) keeps its rows as they are.

Adding a column: compute it in ``FleetReport.row`` and append ``(key, title)`` to ``COLUMNS``; text,
JSON and the HTML template (``_report.html``) follow ``COLUMNS``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping

from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import RESULTS

SCHEMA = 1
# Verdicts, most urgent first (the order of the totals and of the HTML groups).
RESULT_ORDER = RESULTS
PROBLEMS = frozenset(RESULT_ORDER) - {"pass"}
COLUMNS = (
    ("host", "host"),
    ("cpu", "CPU"),
    ("kernel", "kernel"),
    ("before", "before"),
    ("action", "action"),
    ("expected", "expected"),
    ("observed", "observed"),
    ("result", "result"),
    ("reboot", "reboot"),
)
# Registered task results the report play reads back from hostvars, in the order the stages run
# (roles/vmscape/tasks/*.yml, playbooks/audit.yml). Registered results survive failures and
# unreachable hosts (facts do not), and they exist only for hosts of this run: a persistent fact
# cache (AWX) can hold vmscape facts of an earlier run, registered results never.
REGISTERED = (
    "__vmscape_audit_result",
    "__vmscape_assess_result",
    "vmscape_cmdline",
    "vmscape_rollback_restore",
    "__vmscape_rollback_plan_result",
    "__vmscape_gate",
    "__vmscape_reboot_result",
    "__vmscape_verify_result",
)


class FleetReport:
    """Accumulates what the playbook learnt about each host."""

    def __init__(self):
        self.hosts: dict[str, dict] = {}
        self.frozen: dict[str, dict] = {}  # host -> row, from documents that carry rows only

    def _host(self, name: str) -> dict:
        self.frozen.pop(name, None)
        return self.hosts.setdefault(name, {"host": name})

    def ok(self, host: str, task: str, result: Mapping) -> None:
        facts = result.get("ansible_facts") or {}
        relevant = (
            isinstance(result.get("plan"), Mapping)
            or isinstance(result.get("verify"), Mapping)
            or isinstance(facts.get("vmscape_plan"), Mapping)
            or isinstance(facts.get("vmscape_reboot"), Mapping)
            or ("effective_cmdline" in result and "backend" in result)
            or host in self.hosts
        )
        if not relevant:  # a task of no concern to the report (ping, debug, the merge task ...)
            return
        rec = self._host(host)
        if isinstance(result.get("plan"), Mapping):
            rec["plan"] = dict(result["plan"])
        if isinstance(result.get("verify"), Mapping):
            rec["verify"] = dict(result["verify"])
        if "plan" not in result and isinstance(facts.get("vmscape_plan"), Mapping):
            rec["plan"] = dict(facts["vmscape_plan"])  # set by set_fact (the rollback's plan)
        if isinstance(facts.get("vmscape_reboot"), Mapping):
            rec["reboot"] = dict(facts["vmscape_reboot"])
        if "effective_cmdline" in result and "backend" in result:
            rec["config"] = {
                "changed": bool(result.get("changed")),
                "backend": result.get("backend"),
                "files": result.get("files") or result.get("changed_files") or [],
                "backups": result.get("backups") or [],
                "effective_cmdline": result.get("effective_cmdline"),
            }
        if "rebooted" in result and result.get("rebooted") and "elapsed" in result:
            rec["reboot_elapsed"] = result.get("elapsed")

    def failed(self, host: str, task: str, result: Mapping) -> None:
        rec = self._host(host)
        if isinstance(result.get("verify"), Mapping):
            rec["verify"] = dict(result["verify"])
            return
        if (rec.get("verify") or {}).get("status") == "fail":
            return  # the reboot play's rescue re-raising a failed verification: that stays the result
        rec["error"] = {"task": task, "msg": str(result.get("msg") or result.get("stderr") or "failed")}

    def unreachable(self, host: str, task: str, result: Mapping) -> None:
        self._host(host)["unreachable"] = {"task": task, "msg": str(result.get("msg") or "unreachable")}

    def result(self, host: str, task: str, result: Mapping) -> None:
        """One task result of any outcome, as a registered variable or a job event carries it."""
        if not isinstance(result, Mapping) or result.get("skipped"):
            return
        if result.get("unreachable"):
            self.unreachable(host, task, result)
        elif result.get("failed"):
            self.failed(host, task, result)
        else:
            self.ok(host, task, result)

    def registered(self, host: str, variables: Mapping) -> bool:
        """Feed the registered results of one host (``REGISTERED``, from hostvars); False when the
        host has none, i.e. this run did not reach it with any of the collection's tasks."""
        seen = False
        for name in REGISTERED:
            value = variables.get(name)
            if isinstance(value, Mapping):
                seen = True
                self.result(host, name, value)
        # the reboot stage's outcome is a set_fact variable (not cached by fact caches: this run's)
        if seen and isinstance(variables.get("vmscape_reboot"), Mapping):
            self.ok(host, "vmscape_reboot", {"ansible_facts": {"vmscape_reboot": variables["vmscape_reboot"]}})
        return seen

    # --- derived views ---------------------------------------------------------------------

    @staticmethod
    def row(rec: Mapping) -> dict:
        plan = rec.get("plan") or {}
        verify = rec.get("verify") or {}
        cpu = plan.get("cpu") or {}
        kernels = plan.get("kernels") or {}
        running = (kernels.get("running") or {}).get("release")
        boot = (kernels.get("next_boot") or {}).get("release")
        # before -> after: the kernel observed after the reboot, else the one that boots next
        after = verify.get("kernel") if verify.get("rebooted") else boot
        kernel = running or "?"
        if after and after != running:
            kernel += f" -> {after}"
        if "unreachable" in rec:
            result = "unreachable"
        elif "error" in rec:
            result = "error"
        elif verify:
            result = verify.get("status", "?")
        elif plan:
            result = "pass" if plan.get("compliant") else "unverified"
        else:
            result = "?"
        reboot = (rec.get("reboot") or {}).get("status")
        if reboot is None:
            reboot = "not_needed" if plan and not plan.get("reboot_required") else "-"
        action = plan.get("action", "?")
        if plan.get("mode") == "rollback":
            action = f"rollback {plan.get('restored_entry') or '(nothing journaled)'}"
        elif action == "set":
            # "in place": the next boot already carries the parameters (an audit after remediate.yml)
            action = "in place" if plan.get("config_in_place") else "set"
            action += " " + " ".join(f"{k}={v}" for k, v in (plan.get("cmdline") or {}).items())
            if plan.get("cmdline_remove"):
                action += " " + " ".join(f"-{k}" for k in plan["cmdline_remove"])
        if (plan.get("upgrade") or {}).get("status") == "installed":
            action = "upgrade, " + action  # a kernel and/or microcode were installed (docs/upgrade.md)
        return {
            "host": rec["host"],
            "cpu": f"{cpu.get('vendor', '?')} {cpu.get('id', '')}".strip()
            + (" (guest)" if cpu.get("hypervisor") else ""),
            "kernel": kernel,
            "before": plan.get("observed_current") or ("(no file)" if plan else "?"),
            "action": action,
            "expected": plan.get("expected_sysfs") or ("(no file)" if plan else "?"),
            "observed": verify.get("observed") or ("(no file)" if verify else "-"),
            "result": result,
            "reboot": reboot,
            "why": _why(rec, plan, verify),
            # grouping keys of the totals (not columns)
            "cpu_class": cpu_class(cpu) if cpu else "?",
            "cpu_model": cpu.get("model_name") or "",
            "action_kind": plan.get("action", "?") if plan.get("mode") != "rollback" else "rollback",
        }

    def rows(self) -> list[dict]:
        rows = {h: self.row(rec) for h, rec in self.hosts.items()}
        rows.update(self.frozen)
        return [rows[h] for h in sorted(rows)]

    def totals(self, rows: list[dict] | None = None) -> dict:
        rows = self.rows() if rows is None else rows
        return {
            "hosts": len(rows),
            "result": _ordered_counts(Counter(r["result"] for r in rows)),
            "action": dict(sorted(Counter(r.get("action_kind", "?") for r in rows).items())),
            "rebooted": sum(1 for r in rows if r["reboot"] == "rebooted"),
            "reboot_pending": sum(1 for r in rows if r["reboot"] == "pending"),
            "by_action": _by(rows, "action_kind"),
            "by_cpu_class": _by(rows, "cpu_class"),
            "by_kernel": _by(rows, "kernel"),
        }

    def as_dict(self, meta: Mapping | None = None, records: bool = True) -> dict:
        """The JSON document; ``records=False`` leaves out the per-host records (compact form)."""
        rows = self.rows()
        doc = {
            "schema": SCHEMA,
            "meta": dict(meta or {}),
            "columns": [{"key": k, "title": t} for k, t in COLUMNS],
            "totals": self.totals(rows),
            "rows": rows,
        }
        if records:
            doc["hosts"] = self.hosts
        return doc

    def as_json(self, meta: Mapping | None = None) -> str:
        return json.dumps(self.as_dict(meta), indent=2, sort_keys=True, default=str)

    def as_html(self, meta: Mapping | None = None, template: str | None = None) -> str:
        from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.html import render

        return render(self.as_dict(meta), template)

    def as_text(self, rows: str = "all") -> str:
        """The terminal summary. ``rows``: all, problems (every host not passing), auto (all up to
        100 hosts, problems above)."""
        every = self.rows()
        if not every:
            return "VMSCAPE fleet report: no host reported anything."
        if rows == "auto":
            rows = "all" if len(every) <= 100 else "problems"
        shown = every if rows == "all" else [r for r in every if r["result"] in PROBLEMS or r["result"] == "?"]
        keys = [k for k, _t in COLUMNS]
        lines = []
        if shown:
            short = [{k: _shorten(str(r[k])) for k in keys} for r in shown]
            widths = {k: max(len(k), *(len(r[k]) for r in short)) for k in keys}
            lines.append("  ".join(k.upper().ljust(widths[k]) for k in keys).rstrip())
            lines += ["  ".join(r[k].ljust(widths[k]) for k in keys).rstrip() for r in short]
        if len(shown) < len(every):
            hidden = len(every) - len(shown)
            lines.append(f"({hidden} passing hosts not listed; every host is in the JSON and HTML report)")
        t = self.totals(every)
        res = ", ".join(f"{k} {v}" for k, v in t["result"].items())
        lines.append(f"{t['hosts']} hosts: {res}; rebooted {t['rebooted']}, reboot pending {t['reboot_pending']}")
        if len(t["by_cpu_class"]) > 1 or len(t["by_kernel"]) > 1:
            for title, key in (("by CPU class", "by_cpu_class"), ("by kernel", "by_kernel")):
                parts = [
                    f"{name}: " + ", ".join(f"{k} {v}" for k, v in c["result"].items()) for name, c in t[key].items()
                ]
                lines.append(f"{title}: " + "; ".join(parts))
        for r in shown:
            if r["result"] != "pass" and r["why"]:
                lines.append(f"  {r['host']}: {r['why']}")
        return "\n".join(lines)

    # --- documents and merging --------------------------------------------------------------

    def add_document(self, doc: Mapping, source: str = "") -> list[str]:
        """Add the hosts of a report document (``as_dict``, or the compact form); returns the hosts
        this report already had (the document's entry replaces them)."""
        if not isinstance(doc, Mapping) or not isinstance(doc.get("rows"), list):
            raise ValueError(f"{source or 'document'}: not a VMSCAPE fleet report (no 'rows' list)")
        records = doc.get("hosts") if isinstance(doc.get("hosts"), Mapping) else {}
        seen = []
        for row in doc["rows"]:
            if not isinstance(row, Mapping) or not isinstance(row.get("host"), str):
                raise ValueError(f"{source or 'document'}: a row without a host name")
            name = row["host"]
            if name in self.hosts or name in self.frozen:
                seen.append(name)
                self.hosts.pop(name, None)
                self.frozen.pop(name, None)
            rec = records.get(name)
            if isinstance(rec, Mapping):
                self.hosts[name] = dict(rec, host=name)
            else:
                self.frozen[name] = {k: row.get(k, "?") for k, _t in COLUMNS} | {
                    k: row.get(k, "?" if k != "why" else "") for k in ("why", "cpu_class", "cpu_model", "action_kind")
                }
        return seen


def merge(documents: Iterable[tuple[str, Mapping]]) -> tuple[FleetReport, dict]:
    """One report from several (name, document) pairs, oldest first by ``meta.finished``: a host
    reported by several runs keeps the newest run's entry. Returns the report and the merged meta
    (sources with their host counts, and every host reported more than once)."""
    docs = sorted(documents, key=lambda nd: (str((nd[1].get("meta") or {}).get("finished") or ""), nd[0]))
    report = FleetReport()
    sources, duplicates = [], {}
    for name, doc in docs:
        again = report.add_document(doc, name)
        meta = doc.get("meta") or {}
        keep = ("playbook", "started", "finished", "check_mode", "run_id")
        sources.append({"source": name, "hosts": len(doc["rows"]), **{k: meta[k] for k in keep if k in meta}})
        for host in again:
            duplicates.setdefault(host, []).append(name)
    started = [s["started"] for s in sources if s.get("started")]
    finished = [s["finished"] for s in sources if s.get("finished")]
    meta = {
        "merged": len(sources),
        "sources": sources,
        "duplicates": dict(sorted(duplicates.items())),
        "started": min(started) if started else None,
        "finished": max(finished) if finished else None,
        "playbook": ", ".join(sorted({str(s["playbook"]) for s in sources if s.get("playbook")})),
    }
    return report, meta


def cpu_class(cpu: Mapping) -> str:
    """Vendor family/model (no stepping), and whether a guest: the kernel's lists decide by these."""
    vendor = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD", "HygonGenuine": "Hygon"}.get(
        cpu.get("vendor"), cpu.get("vendor") or "?"
    )
    fam, model = cpu.get("family"), cpu.get("model")
    ident = f"{fam:#x}/{model:#x}" if isinstance(fam, int) and isinstance(model, int) else str(cpu.get("id") or "?")
    return f"{vendor} {ident}" + (" guest" if cpu.get("hypervisor") else "")


def _by(rows: list[dict], key: str) -> dict:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str(r.get(key, "?")), []).append(r)
    out = {}
    for name in sorted(groups):
        rs = groups[name]
        entry = {"hosts": len(rs), "result": _ordered_counts(Counter(r["result"] for r in rs))}
        if key == "cpu_class":
            models = sorted({r.get("cpu_model") for r in rs if r.get("cpu_model")})
            entry["models"] = models[:3]
        out[name] = entry
    return out


def _ordered_counts(counts: Mapping) -> dict:
    return {k: counts[k] for k in sorted(counts, key=_result_rank)}


def _result_rank(result: str) -> tuple:
    return (RESULT_ORDER.index(result) if result in RESULT_ORDER else len(RESULT_ORDER), result)


def _shorten(text: str, width: int = 48) -> str:
    text = text.replace("Mitigation: ", "")
    return text if len(text) <= width else text[: width - 1] + "…"


def _why(rec: Mapping, plan: Mapping, verify: Mapping) -> str:
    if "unreachable" in rec:
        return f"{rec['unreachable']['task']}: {rec['unreachable']['msg']}"
    if "error" in rec:
        return f"{rec['error']['task']}: {rec['error']['msg']}"
    parts = list(verify.get("reasons") or [])
    reboot = rec.get("reboot") or {}
    if reboot.get("status") in ("pending", "would_reboot") and reboot.get("reason"):
        parts.append(reboot["reason"])
    if isinstance(reboot.get("drain"), Mapping) and reboot["drain"].get("note"):
        parts.append(reboot["drain"]["note"])
    if not parts and plan and plan.get("action") in ("blocked", "kernel_upgrade"):
        parts.append((plan.get("reasons") or [""])[-1])
    seen = []
    for p in parts:
        if p and p not in seen:
            seen.append(p)
    return "; ".join(seen)
