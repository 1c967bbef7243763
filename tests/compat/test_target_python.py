"""The target-side code (plugins/modules, plugins/module_utils) on the oldest target Python the
collection claims (3.6: EL8's platform-python), run for real: AnsiballZ of the oldest supported
ansible-core (2.16, the last one that reaches Python 3.6 targets) executing the modules with a
Python 3.6 interpreter on this machine (local connection).

* every target file compiles and imports under 3.6 (syntax and standard-library names);
* kernel_cmdline over the whole boot-configuration corpus (tests/data/bootcfg), in check mode and
  for real, then restored from its journal: every diff equals the committed, reviewed
  ``expected/<op>.diff``, every refusal names the expected text, the restore gives the original
  files back;
* vmscape_facts on the committed snapshots and on a root built from every committed real-kernel
  capture (real Debian kernel images: the decompressing probe runs too): the facts equal what
  the same code returns under this controller's Python, judged there against the real kernels
  (tests/integration/oracle);
* the facts program of the direct path (plugin_utils/_observe/facts_direct.py) under 3.6: the same facts;
* running_guests on a snapshot root.

``make compat-target`` runs this with VMSCAPE_COMPAT_BIN (the ansible-core 2.16 virtualenv's bin)
and VMSCAPE_TARGET_PYTHON (a Python 3.6); both are found or the test fails (never skipped).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "bootcfg"
SNAPSHOTS = REPO / "tests" / "data" / "facts" / "snapshots"
TARGET_DIRS = ("plugins/modules", "plugins/module_utils")
OLDEST = (3, 6)
ARGS = {
    "root": "{{ item.root }}",
    "params": "{{ item.params | default(omit) }}",
    "remove": "{{ item.remove | default(omit) }}",
}

pytestmark = pytest.mark.compat


def _tool(var: str, default: str) -> str:
    value = os.environ.get(var) or default
    assert value and os.access(value, os.X_OK), f"{var}: {value!r} is not an executable (make compat-target sets it)"
    return value


@pytest.fixture(scope="module")
def target_python() -> str:
    found = subprocess.run([str(REPO / "tools" / "find-python.sh"), "3.6", "3.6"], capture_output=True, text=True)
    py = _tool("VMSCAPE_TARGET_PYTHON", found.stdout.strip())
    out = subprocess.run([py, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert out.stdout.strip() == str(OLDEST), (py, out.stdout, out.stderr)
    return py


@pytest.fixture(scope="module")
def compat_bin() -> Path:
    default = REPO / ".venv-core216" / "bin"
    path = Path(os.environ.get("VMSCAPE_COMPAT_BIN") or default)
    _tool("VMSCAPE_COMPAT_BIN", str(path / "ansible-playbook"))
    version = subprocess.run([str(path / "ansible"), "--version"], capture_output=True, text=True).stdout
    assert "core 2.16." in version.splitlines()[0], version
    return path


def run_playbook(compat_bin: Path, target_python: str, tmp: Path, tasks: list, extra: dict) -> dict:
    """One ansible-playbook run of ``tasks`` on localhost with Python 3.6 as the target; the registered
    results come back through a JSON file written on the controller."""
    out = tmp / "results.json"
    play = [
        {
            "name": "target-side code on the oldest target Python",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                *tasks,
                {
                    "name": "Results",
                    "delegate_to": "localhost",
                    "vars": {"ansible_python_interpreter": sys.executable},
                    "ansible.builtin.copy": {
                        "content": "{{ results | to_json }}",
                        "dest": str(out),
                        "mode": "0600",
                    },
                },
            ],
        }
    ]
    (tmp / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (tmp / "vars.json").write_text(json.dumps(extra))
    inventory = tmp / "inventory.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={target_python}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"), ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACKS_ENABLED="")
    proc = subprocess.run(
        [
            str(compat_bin / "ansible-playbook"),
            "-i",
            str(inventory),
            str(tmp / "play.yml"),
            "-e",
            f"@{tmp / 'vars.json'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_target_code_compiles_and_imports(target_python):
    files = sorted(str(p) for d in TARGET_DIRS for p in (REPO / d).rglob("*.py"))
    script = (
        "import sys\n"
        "for path in sys.argv[1:]:\n"
        "    with open(path, 'rb') as f:\n"
        "        compile(f.read(), path, 'exec')\n"
    )
    proc = subprocess.run([target_python, "-c", script, *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    module_utils = REPO / "plugins" / "module_utils"
    mods = [
        "ansible_collections.fleetsec.vmscape.plugins.module_utils."
        + ".".join(Path(f).relative_to(module_utils).with_suffix("").parts).removesuffix(".__init__")
        for f in files
        if "module_utils" in f
    ]
    proc = subprocess.run(
        [target_python, "-c", "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)", *mods],
        capture_output=True,
        text=True,
        cwd=REPO / "collections",
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO / "collections"), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 0, proc.stderr


def _cases():
    return yaml.safe_load((CORPUS / "cases.yml").read_text())["cases"]


def test_kernel_cmdline_corpus(compat_bin, target_python, tmp_path):
    cases = _cases()
    default_ops = {"set": {"params": {"vmscape": "ibpb"}}, "remove": {"remove": ["vmscape"]}}
    jobs = []  # (case, op, spec, root, args)
    for case, c in sorted(cases.items()):
        ops = {"set": {"error": c["error"]}} if "error" in c else c["ops"]
        for op, spec in sorted(ops.items()):
            root = tmp_path / "roots" / f"{case}-{op}"
            shutil.copytree(CORPUS / case / "root", root, symlinks=True)
            args = dict(default_ops.get(op, default_ops["set"]))
            for key in ("params", "remove"):
                if key in spec:
                    args = {key: spec[key]}
            jobs.append((case, op, spec, root, {**args, "root": str(root)}))
    tasks = [
        {
            "name": "check mode",
            "fleetsec.vmscape.kernel_cmdline": ARGS,
            "check_mode": True,
            "diff": True,
            "loop": "{{ jobs }}",
            "register": "check",
            "ignore_errors": True,
        },
        {
            "name": "for real",
            "fleetsec.vmscape.kernel_cmdline": ARGS,
            "loop": "{{ jobs }}",
            "register": "real",
            "ignore_errors": True,
        },
        {
            "name": "restore from the journal",
            "fleetsec.vmscape.kernel_cmdline": {"root": "{{ item.root }}", "restore": "latest"},
            "loop": "{{ jobs }}",
            "register": "restored",
            "ignore_errors": True,
        },
        {
            "name": "collect",
            "ansible.builtin.set_fact": {
                "results": {
                    "check": "{{ check.results }}",
                    "real": "{{ real.results }}",
                    "restored": "{{ restored.results }}",
                }
            },
        },
    ]
    originals = {str(j[3]): sorted(p.relative_to(j[3]).as_posix() for p in j[3].rglob("*")) for j in jobs}
    contents = {
        str(j[3]): {p: (j[3] / p).read_bytes() for p in originals[str(j[3])] if (j[3] / p).is_file()} for j in jobs
    }
    res = run_playbook(compat_bin, target_python, tmp_path, tasks, {"jobs": [j[4] for j in jobs]})
    assert len(res["check"]) == len(res["real"]) == len(jobs)
    for (case, op, spec, root, _args), check, real, restored in zip(
        jobs, res["check"], res["real"], res["restored"], strict=True
    ):
        where = f"{case}/{op}"
        if "error" in spec:
            for r in (check, real):
                assert r.get("failed") and spec["error"] in r["msg"], (where, r.get("msg"))
            continue
        golden = (CORPUS / case / "expected" / f"{op}.diff").read_text()
        for r in (check, real):
            assert not r.get("failed"), (where, r.get("msg"))
            assert r["unified_diff"].replace(str(root), "") == golden, where
            assert r["effective_cmdline"] == spec["after"] and r["changed"] == bool(golden), where
            assert r["backend"] == cases[case]["backend"], where
        if golden:
            assert restored.get("changed") and not restored.get("failed"), (where, restored.get("msg"))
            for rel, data in contents[str(root)].items():
                assert (root / rel).read_bytes() == data, (where, rel)  # the original files are back
        else:
            assert "no journaled change" in restored.get("msg", ""), (where, restored.get("msg"))


def _timeless(facts: dict) -> dict:
    """Facts without what differs between two observations of the same host (observation id, time;
    run and host, which the controller stamps)."""
    facts = json.loads(json.dumps(facts))
    for key in ("id", "time", "run", "host"):
        (facts.get("observation") or {}).pop(key, None)
    # how far a zstd/lz4 pipe was read when the probe stopped depends on how the pipe's reads
    # fell (timing), not on the Python: the amount is masked, the rest of the line compared
    boot = facts.get("boot_kernel") or {}
    boot["evidence"] = [
        re.sub(r"decompressed [0-9.]+ MiB", "decompressed N MiB", e) for e in boot.get("evidence") or []
    ]
    return facts


def _capture_roots(tmp: Path) -> list[Path]:
    """One root per committed real-kernel capture (tools/bench/fleet.py: real Debian kernel files)."""
    from tools.bench import fleet
    from tools.bench.captures import load_capture, load_index
    from tools.oracle.kernels import fetch_all
    from tools.oracle.snapshot import retarget_capture

    entries = load_index()
    kernels = fetch_all(sorted({e.kernel for e in entries}), log=lambda *_: None)
    roots = []
    for entry in entries:
        capture, _change = retarget_capture(load_capture(entry), kernels[entry.kernel])
        roots.append(fleet.build_root(tmp / "captures" / entry.name, capture, kernels[entry.kernel]))
    return roots


def test_vmscape_facts_and_running_guests(compat_bin, target_python, tmp_path):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts import kernel_probe as _kernel_probe
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import collect_facts
    from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._observe import facts_direct as _facts_direct

    roots = [str(p) for p in sorted(SNAPSHOTS.iterdir())] + [str(p) for p in _capture_roots(tmp_path)]
    assert len(roots) >= 20
    tasks = [
        {
            "name": "facts",
            "fleetsec.vmscape.vmscape_facts": {"root": "{{ item }}"},
            "loop": "{{ roots }}",
            "register": "facts",
        },
        {"name": "guests", "fleetsec.vmscape.running_guests": {"root": "{{ roots[0] }}"}, "register": "guests"},
        {
            "name": "collect",
            "ansible.builtin.set_fact": {
                "results": {
                    "facts": "{{ facts.results | map(attribute='ansible_facts') | list }}",
                    "guests": "{{ guests }}",
                }
            },
        },
    ]
    res = run_playbook(compat_bin, target_python, tmp_path, tasks, {"roots": roots})
    probed = 0
    for root, got in zip(roots, res["facts"], strict=True):
        _kernel_probe._MEMO.clear()  # each module run is a process of its own: no answers carried over
        expected = _timeless(collect_facts(root))
        got["vmscape"] = _timeless(got["vmscape"])
        diff = {
            f"{k}.{kk}": (got["vmscape"].get(k, {}).get(kk), vv)
            for k, v in expected.items()
            if got["vmscape"].get(k) != v
            for kk, vv in (v.items() if isinstance(v, dict) else [("", v)])
            if (got["vmscape"].get(k) or {}).get(kk) != vv
        }
        assert not diff, f"{root}: {diff} (3.6 vs {sys.version_info[:2]})"
        probed += any(e.startswith("image") for e in expected["boot_kernel"]["evidence"])
        # the direct path (plugin_utils/_observe/facts_direct.py, where pipelining is on): the same program on 3.6
        direct = subprocess.run([target_python, "-I", "-S", "-"], input=_facts_direct.program(root, "auto"),
                                capture_output=True, timeout=300, cwd="/")  # fmt: skip
        assert _timeless(json.loads(direct.stdout)["facts"]) == expected, direct.stderr.decode()[-2000:]
    assert probed >= 5  # the decompressing image probe ran under 3.6 too
    assert res["guests"]["count"] == 0 and not res["guests"].get("failed")
