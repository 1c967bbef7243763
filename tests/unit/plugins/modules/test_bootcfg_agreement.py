"""vmscape_facts and kernel_cmdline read the boot configuration the same way (issue 13).

For every case of the boot-configuration corpus (tests/data/bootcfg, cases.yml), the facts'
``bootloader.backend`` is the backend kernel_cmdline detects, and ``bootloader.source_cmdline`` is
the command line kernel_cmdline starts a change from (its ``previous_cmdline``), both equal to
the case's ``backend`` and ``before`` written in cases.yml; where kernel_cmdline refuses the
configuration, the facts have no ``source_cmdline`` and give kernel_cmdline's very message as the
reason. Both run for real: collect_facts on the case's root (with a real /proc/cpuinfo capture
added, which the facts need and the corpus does not carry) and the module in check mode.
"""

import os
import shutil

import pytest
from facts_fixtures import REPO
from test_kernel_cmdline_support import copy_case, load_cases, run_module

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import collect_facts

CASES = load_cases()
CPUINFO = REPO / "tests" / "data" / "facts" / "cpuinfo" / "intel-skylake-sp-2s.txt"


def facts_of(root):
    os.makedirs(os.path.join(root, "proc"), exist_ok=True)
    shutil.copyfile(CPUINFO, os.path.join(root, "proc", "cpuinfo"))
    return collect_facts(root, probe_image="never")["bootloader"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_facts_see_what_kernel_cmdline_starts_from(case, tmp_path):
    c = CASES[case]
    root = copy_case(case, tmp_path)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    bootloader = facts_of(root)
    assert bootloader["backend"] == res["backend"] == c["backend"]
    assert bootloader["backend_reason"] == res["backend_reason"]
    if "error" in c:
        assert failed and c["error"] in res["msg"]
        assert bootloader["source_cmdline"] is None
        assert bootloader["source_cmdline_reason"] == res["msg"]
        return
    assert not failed, res["msg"]
    assert bootloader["source_cmdline"] == res["previous_cmdline"] == c["before"]
    assert bootloader["source_cmdline_reason"] is None


def test_no_configuration_at_all(tmp_path):
    """Nothing kernel_cmdline could change: the facts say unknown, with kernel_cmdline's reason."""
    root = str(tmp_path / "root")
    os.makedirs(root)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    bootloader = facts_of(root)
    assert failed and res["msg"].startswith("no supported boot configuration under ")
    assert bootloader["backend"] == "unknown"
    assert bootloader["backend_reason"] == bootloader["source_cmdline_reason"] == res["msg"]
    assert bootloader["source_cmdline"] is None
