# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing the JSON and HTML fleet report files, and reading report documents back (merging).

File names: ``vmscape-<started>-<run id>.json`` / ``.html``. The run id makes the names of
concurrent runs (job slices started in the same second into one shared directory) distinct: the
AWX job id when the run has one, else ``<controller host>-<pid>``.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import stat
import tempfile
from collections.abc import Mapping

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.fleet_report import FleetReport
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._report.html import render

MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
AWX_JOB_ID_VARS = ("awx_job_id", "tower_job_id")


def run_id(extra_vars: Mapping | None = None) -> str:
    for name in AWX_JOB_ID_VARS:
        value = (extra_vars or {}).get(name)
        if isinstance(value, (int, str)) and str(value).isdigit():
            return f"job{value}"
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname().split(".")[0])[:40]
    return f"{host or 'controller'}-{os.getpid()}"


def write_atomic(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".vmscape-report-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_report(report: FleetReport, meta: Mapping, directory: str, stem: str, template: str | None = None) -> dict:
    """Write ``<stem>.json`` and ``<stem>.html`` into ``directory`` (created); their paths."""
    directory = os.path.abspath(os.path.expanduser(directory))
    os.makedirs(directory, exist_ok=True)
    doc = report.as_dict(meta)
    page = render(doc, template)  # before writing anything: a template error leaves no half report
    paths = {"json": os.path.join(directory, f"{stem}.json"), "html": os.path.join(directory, f"{stem}.html")}
    write_atomic(paths["json"], json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
    write_atomic(paths["html"], page)
    return paths


def report_files(inputs: list[str]) -> list[str]:
    """The JSON report files named by ``inputs``: files, directories (their ``*.json`` except
    ``*-merged.json``) or globs."""
    found: list[str] = []
    for item in inputs:
        path = os.path.expanduser(str(item))
        if os.path.isdir(path):
            # a merged report written into the same directory is not one of the runs
            matches = sorted(p for p in glob.glob(os.path.join(path, "*.json")) if not p.endswith("-merged.json"))
        elif any(c in path for c in "*?["):
            matches = sorted(glob.glob(path))
        else:
            matches = [path]
        if not matches:
            raise ValueError(f"{item}: no report files there")
        found.extend(m for m in matches if m not in found)
    return found


def read_document(path: str) -> dict:
    """A report document from a JSON file (size bounded; regular files only)."""
    try:
        # O_NONBLOCK: a FIFO opens at once (and is refused below) instead of blocking the run
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path}: not a regular file")
        data = f.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{path}: larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise ValueError(f"{path}: not a VMSCAPE fleet report (no 'rows' list)")
    return doc
