# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: per-host records from task results, rendered as text, JSON and HTML. Pure."""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Mapping

RESULT_ORDER = ("pass", "pending", "would_reboot", "blocked", "kernel_upgrade", "fail", "error", "unreachable")
COLUMNS = ("host", "cpu", "kernel", "before", "action", "expected", "observed", "result", "reboot")


class FleetReport:
    """Accumulates what the playbook learnt about each host."""

    def __init__(self):
        self.hosts: dict[str, dict] = {}

    def _host(self, name: str) -> dict:
        return self.hosts.setdefault(name, {"host": name})

    def ok(self, host: str, task: str, result: Mapping) -> None:
        rec = self._host(host)
        if isinstance(result.get("plan"), Mapping):
            rec["plan"] = dict(result["plan"])
        if isinstance(result.get("verify"), Mapping):
            rec["verify"] = dict(result["verify"])
        facts = result.get("ansible_facts") or {}
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

    # --- derived views ---------------------------------------------------------------------

    @staticmethod
    def row(rec: Mapping) -> dict:
        plan = rec.get("plan") or {}
        verify = rec.get("verify") or {}
        cpu = plan.get("cpu") or {}
        kernels = plan.get("kernels") or {}
        running = (kernels.get("running") or {}).get("release")
        boot = (kernels.get("next_boot") or {}).get("release")
        kernel = running or "?"
        if boot and boot != running:
            kernel += f" -> {boot}"
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
        }

    def rows(self) -> list[dict]:
        return [self.row(self.hosts[h]) for h in sorted(self.hosts)]

    def totals(self) -> dict:
        rows = self.rows()
        return {
            "hosts": len(rows),
            "result": dict(Counter(r["result"] for r in rows)),
            "action": dict(Counter((self.hosts[r["host"]].get("plan") or {}).get("action", "?") for r in rows)),
            "rebooted": sum(1 for r in rows if r["reboot"] == "rebooted"),
            "reboot_pending": sum(1 for r in rows if r["reboot"] == "pending"),
        }

    def as_json(self, meta: Mapping | None = None) -> str:
        doc = {"meta": dict(meta or {}), "totals": self.totals(), "rows": self.rows(), "hosts": self.hosts}
        return json.dumps(doc, indent=2, sort_keys=True, default=str)

    def as_text(self) -> str:
        rows = self.rows()
        if not rows:
            return "VMSCAPE fleet report: no host reported anything."
        short = [{k: _shorten(str(r[k])) for k in COLUMNS} for r in rows]
        widths = {k: max(len(k), *(len(r[k]) for r in short)) for k in COLUMNS}
        lines = ["  ".join(k.upper().ljust(widths[k]) for k in COLUMNS)]
        lines += ["  ".join(r[k].ljust(widths[k]) for k in COLUMNS) for r in short]
        t = self.totals()
        res = ", ".join(f"{k} {t['result'][k]}" for k in _ordered(t["result"]))
        lines.append(f"{t['hosts']} hosts: {res}; rebooted {t['rebooted']}, reboot pending {t['reboot_pending']}")
        for r in rows:
            if r["result"] not in ("pass",) and r["why"]:
                lines.append(f"  {r['host']}: {r['why']}")
        return "\n".join(lines)

    def as_html(self, meta: Mapping | None = None) -> str:
        rows = self.rows()
        t = self.totals()
        e = html.escape
        head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
        body = []
        for r in rows:
            cells = "".join(f"<td>{e(str(r[c]))}</td>" for c in COLUMNS)
            body.append(f'<tr class="r-{e(r["result"])}">{cells}</tr>')
            if r["why"]:
                body.append(f'<tr class="why"><td colspan="{len(COLUMNS)}">{e(r["why"])}</td></tr>')
        summary = " &middot; ".join(f"{e(k)}: <b>{t['result'][k]}</b>" for k in _ordered(t["result"]))
        meta_txt = " &middot; ".join(f"{e(str(k))}: {e(str(v))}" for k, v in (meta or {}).items())
        return _HTML.format(
            summary=summary,
            hosts=t["hosts"],
            rebooted=t["rebooted"],
            pending=t["reboot_pending"],
            meta=meta_txt,
            head=head,
            body="\n".join(body),
            # JSON inside <script>: "<" as \u003c (still valid JSON) so no text can end the element.
            data=self.as_json(meta).replace("<", "\\u003c"),
        )


def _ordered(counts: Mapping) -> list[str]:
    return sorted(counts, key=lambda k: (RESULT_ORDER.index(k) if k in RESULT_ORDER else 99, k))


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


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>VMSCAPE fleet report</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;width:100%}}th,td{{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}}
th{{background:#f3f3f3;position:sticky;top:0}}tr.why td{{color:#555;font-size:12px;border-bottom:2px solid #ccc}}
tr.r-pass td:nth-child(8){{color:#1a7f37;font-weight:bold}}tr.r-fail td:nth-child(8),tr.r-error td:nth-child(8),
tr.r-unreachable td:nth-child(8){{color:#cf222e;font-weight:bold}}tr.r-pending td:nth-child(8),
tr.r-blocked td:nth-child(8),tr.r-kernel_upgrade td:nth-child(8){{color:#9a6700;font-weight:bold}}
.meta{{color:#666}}
</style></head><body>
<h1>VMSCAPE (CVE-2025-40300) fleet report</h1>
<p>{hosts} hosts &middot; {summary} &middot; rebooted: <b>{rebooted}</b> &middot; reboot pending: <b>{pending}</b></p>
<p class="meta">{meta}</p>
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
<script type="application/json" id="data">{data}</script>
</body></html>
"""
