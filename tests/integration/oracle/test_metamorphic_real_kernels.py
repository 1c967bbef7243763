"""Metamorphic test (issue 9) over the roots of real-kernel captures: every oracle matrix case and
every committed capture (tests/data/captures), written with tools/oracle/snapshot.write_root and
the fetched Debian kernels. One optional piece of evidence is taken away at a time (the cpuinfo
bugs line, /boot images, System.map, config, grub.cfg, grubenv, /proc/version details, each sysfs
file other than vmscape, the cpuid device); the plan must stay the same or become less confident
with a reason naming the piece (tests/unit/evidence_removals.py). The committed snapshot roots get
the same test among the unit tests.

Cost: the roots are written once per kernel (all hard links first, so the image probe's per-file
memo stays valid: an image is decompressed once per kernel and question, not once per root), each
removal is undone in place, and the /boot image removal runs last. Counts go to the oracle summary
(kind "metamorphic").
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.bench.captures import load_capture, load_index
from tools.oracle import matrix, snapshot
from tools.oracle.cache import REPO

sys.path.insert(0, str(REPO / "tests" / "unit"))
from evidence_removals import image_removal, judge, removals

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import collect_facts
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import make_plan

pytestmark = pytest.mark.oracle

CASES = matrix.cases()
KERNEL_IDS = sorted({c.kernel for c in CASES})


@dataclass
class PrivateKernel:
    """A fetched kernel whose files are copied into this test's directory: the roots hard-link
    these copies, so no other process linking the shared cache's files can touch their inodes."""

    id: str
    dir: Path
    release: str
    version: str
    meta: dict

    @classmethod
    def of(cls, kernel, base: Path) -> PrivateKernel:
        d = base / kernel.id
        d.mkdir(parents=True, exist_ok=True)
        for name in ("vmlinuz", "System.map", "config"):
            src = kernel.dir / name
            if src.exists() and not (d / name).exists():
                shutil.copyfile(src, d / name)
        return cls(kernel.id, d, kernel.release, kernel.version, kernel.meta)


def _check_roots(labelled_roots, oracle, kind):
    """Baselines and removals on every root (images last); returns violations and counts."""
    wrong, counts, baselines = [], Counter(), {}
    for label, root in labelled_roots:
        before = make_plan(collect_facts(str(root)))
        baselines[label] = before
        for removal in removals(root, images=False):
            undo = removal.apply(root)
            try:
                after = make_plan(collect_facts(str(root)))
            finally:
                undo()
            problem = judge(before, after, removal)
            counts["checks"] += 1
            counts[f"{before['action']} -> {'same' if after['action'] == before['action'] else after['action']}"] += 1
            if problem:
                wrong.append(f"{label}: {removal.name}: {problem}")
    for label, root in labelled_roots:  # last: renaming an image changes its inode's ctime
        removal = image_removal(root)
        if removal is None:
            continue
        undo = removal.apply(root)
        try:
            after = make_plan(collect_facts(str(root)))
        finally:
            undo()
        problem = judge(baselines[label], after, removal)
        counts["checks"] += 1
        if problem:
            wrong.append(f"{label}: {removal.name}: {problem}")
    for label, _root in labelled_roots:
        oracle.record(kind, label, not any(w.startswith(label + ":") for w in wrong), action=baselines[label]["action"])
    return wrong, counts


@pytest.fixture(scope="module")
def private(oracle, tmp_path_factory):
    base = tmp_path_factory.mktemp("metamorphic")
    return base, {kid: PrivateKernel.of(k, base / "kernels") for kid, k in oracle.kernels.items()}


@pytest.mark.parametrize("kernel_id", KERNEL_IDS)
def test_matrix_roots(oracle, private, kernel_id):
    base, kernels = private
    cases = [c for c in CASES if c.kernel == kernel_id]
    roots, unbooted = [], []
    for i, c in enumerate(cases):  # every root first: all hard links exist before any probe
        try:
            cap = oracle.capture(c.id)
        except pytest.fail.Exception as exc:  # a boot that failed: the matrix test reports it too
            unbooted.append(f"{c.id}: {str(exc).splitlines()[0]}")
            continue
        roots.append((c.id, snapshot.write_root(cap, base / kernel_id / f"{i:03d}", kernels[kernel_id])))
    wrong, counts = _check_roots(roots, oracle, "metamorphic")
    assert not wrong, f"{len(wrong)} of {counts['checks']} removals made a plan more confident:\n" + "\n".join(wrong)
    assert not unbooted, "cases without a capture (not checked):\n" + "\n".join(unbooted)
    assert counts["checks"] >= 10 * len(cases)


def test_committed_capture_roots(oracle, private):
    base, kernels = private
    roots = []
    for entry in load_index():
        root = snapshot.write_root(load_capture(entry), base / "captures" / entry.file.stem, kernels[entry.kernel])
        roots.append((entry.file.stem, root))
    wrong, counts = _check_roots(roots, oracle, "metamorphic")
    assert not wrong, "\n".join(wrong)
    assert counts["checks"] >= 10 * len(roots)
