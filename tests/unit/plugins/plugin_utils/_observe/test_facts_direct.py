"""The facts collector without AnsiballZ (plugins/plugin_utils/_observe/facts_direct.py): the program that
travels on stdin, run here by real interpreters exactly as the host runs it (``python -I -S -``),
must return what the vmscape_facts module returns (the same collect_facts), and its refusals."""

import json
import os
import subprocess
import sys

import pytest
from skip_policy import needs, needs_path

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts import kernel_probe as _kernel_probe
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import FactsError, collect_facts
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._observe import facts_direct as _facts_direct

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 5))
SNAPSHOTS = os.path.join(REPO, "tests", "data", "facts", "snapshots")
PY27 = os.path.expanduser("~/.pyenv/versions/2.7.18/bin/python2.7")


def timeless(doc):
    """The facts without what differs between two observations of the same host (schema 2's
    observation id and time)."""
    doc = json.loads(json.dumps(doc))
    facts = doc.get("facts", doc)
    for key in ("id", "time", "run", "host"):
        (facts.get("observation") or {}).pop(key, None)
    return doc


def run(python, root, probe="auto"):
    proc = subprocess.run(
        [python, "-I", "-S", "-"] if not python.endswith("2.7") else [python, "-E", "-s", "-S", "-"],
        input=_facts_direct.program(root, probe),
        capture_output=True,
        timeout=300,
        env={"PATH": os.environ["PATH"]},
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


@pytest.mark.parametrize("snapshot", sorted(os.listdir(SNAPSHOTS)))
def test_same_facts_as_the_module(snapshot):
    root = os.path.join(SNAPSHOTS, snapshot)
    _kernel_probe._MEMO.clear()
    expected = json.loads(json.dumps(collect_facts(root, "always")))
    assert timeless(run(sys.executable, root, "always")) == timeless({"facts": expected})


@needs_path("/usr/bin/python3", "python3")
@pytest.mark.parametrize("snapshot", sorted(os.listdir(SNAPSHOTS)))
def test_same_facts_on_the_debian_host_python(snapshot):
    # the Debian host Python the bench hosts use
    root = os.path.join(SNAPSHOTS, snapshot)
    _kernel_probe._MEMO.clear()
    expected = json.loads(json.dumps(collect_facts(root, "always")))
    assert timeless(run("/usr/bin/python3", root, "always")) == timeless({"facts": expected})


def test_refusals():
    with pytest.raises(FactsError) as exc:
        collect_facts("/nonexistent-root")
    assert run(sys.executable, "/nonexistent-root") == {"failed": True, "msg": str(exc.value)}


@needs(None if os.access(PY27, os.X_OK) else f"{PY27} missing (pyenv install 2.7.18)")
def test_python27_refused_by_name():
    # an interpreter too old is named, not a traceback
    out = run(PY27, SNAPSHOTS)
    assert out["failed"] and "needs Python 3.6 or newer" in out["msg"] and "is 2.7" in out["msg"]


def test_payload_is_the_collector_and_nothing_from_ansible():
    sources = _facts_direct._closure()
    names = {n.split(".module_utils.", 1)[1] for n in sources}
    assert {"_facts.collect", "_facts.cpuinfo", "_facts.kernel_probe", "_common.rootpath", "_bootcfg.menu"} <= names
    # the readers travel (one per boot-config format, the detector: bootloader.backend, source_cmdline),
    # the writers stay home
    assert {"_bootcfg.detect", "_bootcfg.current", "_bootcfg.grub_defaults", "_bootcfg.bls"} <= names
    writers = ("edit", "tokens", "plan", "atomic_write", "apply", "journal", "intent", "run_lock", "backends", "change")
    assert not [n for n in names if any(w in n for w in writers)]
    assert len(_facts_direct.program("/", "auto")) < 80 * 1024


def test_command_shapes():
    assert _facts_direct.command(["/usr/libexec/platform-python"]) == "/usr/libexec/platform-python -I -S -"
    cmd = _facts_direct.command(["python3.12", "/usr/bin/python3", "python3"])
    assert cmd.startswith("for p in python3.12 /usr/bin/python3 python3; do") and 'exec "$p" -I -S -' in cmd
    out = subprocess.run(["sh", "-c", _facts_direct.command(["no-such-python-x", "no-such-python-y"])],
                         capture_output=True, text=True)  # fmt: skip
    assert (out.returncode, out.stderr.strip()) == (127, "fleetsec.vmscape: no Python interpreter found")


def _strip(facts, line_prefix):
    out = json.loads(json.dumps(facts))
    out["boot_kernel"]["evidence"] = [e for e in out["boot_kernel"]["evidence"] if not e.startswith(line_prefix)]
    return out


def run_cached(root, probe="always"):
    prog = _facts_direct.program(root, probe, _facts_direct.PROBE_CACHE)
    proc = subprocess.run([sys.executable, "-I", "-S", "-"], input=prog, capture_output=True, timeout=300, cwd="/")
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)["facts"]


def test_probe_cache_on_tmpfs_is_ours_only_and_follows_the_image(tmp_path):
    import shutil
    import stat

    root = str(tmp_path / "root")
    shutil.copytree(os.path.join(SNAPSHOTS, "debian12-skylake"), root, symlinks=True)
    cache = os.path.join(root, "run", "fleetsec-vmscape", "kernel-probe.json")
    first = run_cached(root)
    assert not any("probe cache" in e for e in first["boot_kernel"]["evidence"])
    assert stat.S_IMODE(os.stat(os.path.dirname(cache)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    second = run_cached(root)
    hit = "image: answers reused from the probe cache /run/fleetsec-vmscape/kernel-probe.json"
    assert any(e.startswith(hit) for e in second["boot_kernel"]["evidence"])
    assert timeless(_strip(second, hit)) == timeless(first)  # the same answers, without decompressing
    # an answer planted in a file others may write is ignored
    os.chmod(cache, 0o644)
    assert not any(e.startswith(hit) for e in run_cached(root)["boot_kernel"]["evidence"])
    # a new image (a kernel update rewrote the file): its own probe, not the old answers
    run_cached(root)
    image = os.path.join(root, first["boot_kernel"]["image"].lstrip("/"))
    with open(image, "rb") as f:
        data = f.read()
    os.unlink(image)
    with open(image, "wb") as f:
        f.write(data)
    assert not any(e.startswith(hit) for e in run_cached(root)["boot_kernel"]["evidence"])
