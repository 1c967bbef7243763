"""Run the collection as AWX runs it: ansible-runner with a private data dir (project, inventory,
env), job events and artifacts, the jsonfile fact cache, the collection installed from the built
tarball into a path of its own, no ansible.cfg anywhere (AWX reads callbacks_enabled only from the
project's ansible.cfg, which these projects do not have)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
# The project of an AWX user: small playbooks that import the collection's (AWX offers a job
# template only the playbooks of its project).
PROJECT = {
    "audit.yml": "- name: VMSCAPE audit\n  ansible.builtin.import_playbook: fleetsec.vmscape.audit\n",
    "remediate.yml": "- name: VMSCAPE remediation\n  ansible.builtin.import_playbook: fleetsec.vmscape.remediate\n",
    "report.yml": "- name: VMSCAPE merged report\n  ansible.builtin.import_playbook: fleetsec.vmscape.report\n",
}


def clean_environment(monkeypatch) -> None:
    """Nothing of this checkout's configuration reaches the jobs (the Makefile exports ANSIBLE_CONFIG)."""
    for key in list(os.environ):
        if key.startswith(("ANSIBLE_", "VMSCAPE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PATH", f"{BIN}:{os.environ.get('PATH', '')}")


def build_and_install(tmp: Path) -> tuple[Path, Path]:
    """``ansible-galaxy collection build`` of the checkout and ``collection install`` of the tarball;
    (tarball, collections path)."""
    tmp.mkdir(parents=True, exist_ok=True)
    # cwd: not this checkout, whose ansible.cfg would make the symlinked collection "already installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "build", str(REPO), "--output-path", str(tmp), "--force"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp,
    )
    (tarball,) = tmp.glob("fleetsec-vmscape-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "playbooks/callback_plugins/vmscape_fleet_report.py" in names
    assert "roles/vmscape/templates/fleet_report.html.j2" in names
    assert not any(n.startswith((".venv", "tests/output", "collections/", "reports/")) for n in names)
    path = tmp / "collections"
    subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(path)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp,
    )
    assert (path / "ansible_collections" / "fleetsec" / "vmscape" / "MANIFEST.json").is_file()
    return tarball, path


def private_data_dir(path: Path, inventory: Path, collections: Path) -> Path:
    (path / "project").mkdir(parents=True)
    for name, text in PROJECT.items():
        (path / "project" / name).write_text(text)
    assert not (path / "project" / "ansible.cfg").exists()
    (path / "inventory").mkdir()
    shutil.copy(inventory, path / "inventory" / "hosts.yml")
    (path / "env").mkdir()
    (path / "env" / "envvars").write_text(yaml.safe_dump({"ANSIBLE_COLLECTIONS_PATH": str(collections)}))
    return path


class Job:
    """A finished job, read back from its artifacts directory as AWX's receptor processor does."""

    def __init__(self, pdd: Path, ident: str):
        art = pdd / "artifacts" / ident
        self.status = (art / "status").read_text().strip()
        self.rc = int((art / "rc").read_text().strip())
        self.stdout = (art / "stdout").read_text(errors="replace")
        events = [json.loads(p.read_text()) for p in (art / "job_events").glob("*.json")]
        self.events = sorted(events, key=lambda e: e.get("counter", 0))

    def stats_artifacts(self) -> dict:
        (stats,) = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        return stats["event_data"].get("artifact_data") or {}

    def report_section(self) -> str:
        """The fleet summary the report callback printed at the end of the job output."""
        assert "VMSCAPE FLEET REPORT" in self.stdout, self.stdout[-3000:]
        return self.stdout.rsplit("VMSCAPE FLEET REPORT", 1)[1]

    def task_paths(self) -> set[str]:
        return {(e.get("event_data") or {}).get("task_path", "") for e in self.events} - {""}


def start_job(
    pdd: Path,
    playbook: str,
    ident: str,
    extravars: dict | None = None,
    cmdline: str = "",
    fact_cache: Path | None = None,
) -> subprocess.Popen:
    """Start one AWX job: ``ansible-runner run`` on the private data dir (its own process, as every
    AWX job is), extra variables in env/extravars, the jsonfile fact cache (ansible-runner's default,
    AWX's "use fact cache"); ``fact_cache`` is a previous job's cache, copied in first as AWX does
    from its database."""
    extravars = dict(extravars or {})
    if os.environ.get("VMSCAPE_TARGET_PYTHON"):  # make compat-runner: the hosts run modules with Python 3.6
        extravars.setdefault("ansible_python_interpreter", os.environ["VMSCAPE_TARGET_PYTHON"])
    (pdd / "env" / "extravars").write_text(json.dumps(extravars))
    (pdd / "env" / "cmdline").unlink(missing_ok=True)
    if cmdline:
        (pdd / "env" / "cmdline").write_text(cmdline)
    (pdd / "env" / "settings").write_text(json.dumps({"fact_cache_type": "jsonfile", "job_timeout": 900}))
    if fact_cache is not None:
        shutil.copytree(fact_cache, pdd / "artifacts" / ident / "fact_cache")
    argv = [str(BIN / "ansible-runner"), "run", str(pdd), "-p", playbook, "--ident", ident]
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def finish_job(proc: subprocess.Popen, pdd: Path, ident: str) -> Job:
    _out, err = proc.communicate(timeout=1200)
    assert (pdd / "artifacts" / ident / "status").is_file(), f"ansible-runner exited {proc.returncode}: {err}"
    return Job(pdd, ident)


def run_job(
    pdd: Path,
    playbook: str,
    ident: str,
    extravars: dict | None = None,
    cmdline: str = "",
    fact_cache: Path | None = None,
) -> Job:
    return finish_job(start_job(pdd, playbook, ident, extravars, cmdline, fact_cache), pdd, ident)


def fleet_hosts(inventory: Path) -> list[str]:
    return sorted(yaml.safe_load(inventory.read_text())["all"]["children"]["bench"]["hosts"])


def report_files(directory: Path, run: str) -> tuple[dict, Path]:
    (path,) = directory.glob(f"vmscape-*-{run}.json")
    assert path.with_suffix(".html").is_file()
    return json.loads(path.read_text()), path
