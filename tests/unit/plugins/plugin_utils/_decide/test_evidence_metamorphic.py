"""Metamorphic test (issue 9) over every committed snapshot root: tests/data/facts/snapshots and
tests/data/distros. One optional piece of evidence is taken away at a time; the plan must stay the
same or become less confident with a reason naming the piece (evidence_removals.judge). The roots
of real-kernel captures get the same test in tests/integration/oracle/test_metamorphic_real_kernels.py
(they need the fetched kernels)."""

import shutil
from collections import Counter

import pytest
from distro_fixtures import DISTROS
from evidence_removals import judge, removals
from facts_fixtures import SNAPSHOTS

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import collect_facts
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import make_plan

ROOTS = sorted([p for p in SNAPSHOTS.iterdir() if p.is_dir()] + [p for p in DISTROS.iterdir() if p.is_dir()])
POLICIES = [None, {"mode": "ibpb"}, {"mode": "force"}]


@pytest.mark.parametrize("policy", POLICIES, ids=["auto", "pinned-ibpb", "pinned-force"])
@pytest.mark.parametrize("source", ROOTS, ids=[p.name for p in ROOTS])
def test_removing_evidence_never_makes_the_plan_more_confident(tmp_path, source, policy):
    root = tmp_path / "root"
    shutil.copytree(source, root, symlinks=True)
    before = make_plan(collect_facts(str(root)), policy)
    outcomes = Counter()
    wrong = []
    for removal in removals(root):
        undo = removal.apply(root)
        try:
            after = make_plan(collect_facts(str(root)), policy)
        finally:
            undo()
        problem = judge(before, after, removal)
        outcomes["same" if after["action"] == before["action"] and not problem else after["action"]] += 1
        if problem:
            wrong.append(f"{removal.name}: {problem}")
    assert not wrong, "\n".join(wrong)
    assert sum(outcomes.values()) >= 10  # every root offers at least ten pieces to take away
    # restoring left the root as it was
    assert make_plan(collect_facts(str(root)), policy)["action"] == before["action"]


def test_the_relation_catches_a_more_confident_answer():
    """The judge itself: a plan that turns a host Not affected, or a known kernel kernel_upgrade,
    or blocked without naming the piece, is reported."""
    from evidence_removals import Removal

    r = Removal("cpuinfo bugs line", "bugs", ())
    base = {"action": "set", "mode": "ibpb", "cmdline": {"vmscape": "ibpb"}, "cmdline_remove": [], "reasons": []}
    base["expected_sysfs"] = "Mitigation: IBPB before exit to userspace"
    none = {**base, "action": "none", "mode": "none", "cmdline": {}, "expected_sysfs": "Not affected"}
    upgrade = {**base, "action": "kernel_upgrade", "mode": "none", "cmdline": {}, "expected_sysfs": None}
    silent = {**base, "action": "blocked", "mode": "none", "cmdline": {}, "reasons": ["something else"]}
    named = {**silent, "reasons": ["/proc/cpuinfo: boot CPU has no 'bugs' line"]}
    hedge = {**base, "mode": "force", "cmdline": {"vmscape": "force"}, "reasons": ["no 'bugs' line: force"]}
    assert "became none" in judge(base, none, r)
    assert "became kernel_upgrade" in judge(base, upgrade, r)
    assert "without naming 'bugs'" in judge(base, silent, r)
    assert judge(base, named, r) is None
    assert judge(base, hedge, r) is None
    assert "became" in judge(silent, base, r)  # blocked -> set is more confident
