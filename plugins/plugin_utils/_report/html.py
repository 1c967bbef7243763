# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML fleet report: one self-contained page rendered from a Jinja2 template.

The default template is the role's ``templates/fleet_report.html.j2``; users point
``template`` at their own copy (callback option ``report_template``, variable
``vmscape_report_template``). It renders in Jinja2's sandbox with autoescaping on: every host
reported string is escaped, and the template sees only the report document (``report``: meta,
columns, totals, rows), the rows grouped by result (``groups``) and the document as JSON for
scripts (``report_json``, safe inside ``<script>``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import RESULT_ORDER, _result_rank

DEFAULT_TEMPLATE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
    "roles",
    "vmscape",
    "templates",
    "fleet_report.html.j2",
)
MAX_TEMPLATE_BYTES = 1024 * 1024


class ReportTemplateError(Exception):
    pass


def _script_json(doc: Mapping) -> str:
    # "<", ">" and "&" as \u escapes (still valid JSON): no text can end the <script> element.
    text = json.dumps(doc, sort_keys=True, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(doc: Mapping, template: str | None = None) -> str:
    """The page for a report document (``FleetReport.as_dict``)."""
    path = os.path.abspath(os.path.expanduser(template or DEFAULT_TEMPLATE))
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise ReportTemplateError(f"report template {path}: {exc.strerror}") from None
    if size > MAX_TEMPLATE_BYTES:
        raise ReportTemplateError(f"report template {path}: larger than {MAX_TEMPLATE_BYTES} bytes")
    env = SandboxedEnvironment(
        loader=FileSystemLoader(os.path.dirname(path)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    groups = {}
    for row in doc.get("rows", []):
        groups.setdefault(row["result"], []).append(row)
    ordered = [(k, groups[k]) for k in sorted(groups, key=_result_rank)]
    try:
        return env.get_template(os.path.basename(path)).render(
            report=doc,
            groups=ordered,
            result_order=RESULT_ORDER,
            # the rows, not the per-host records (those are in the JSON file): the page stays small
            report_json=Markup(_script_json({k: v for k, v in doc.items() if k != "hosts"})),
        )
    except TemplateError as exc:
        line = getattr(exc, "lineno", None) or _template_line(exc, path)
        where = f"{path}:{line}" if line else path
        raise ReportTemplateError(f"report template {where}: {exc}") from None


def _template_line(exc: BaseException, path: str) -> int | None:
    """The template line a render-time error came from (Jinja2 rewrites its traceback so the
    template's frames carry the template's file name and line)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
