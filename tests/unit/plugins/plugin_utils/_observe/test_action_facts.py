"""Which facts the collection's actions may use (plugin_utils/_observe/action_facts.py): only documents
observed in this Ansible run, for this host (and root). The run id comes from ansible-core's task
uuid, whose first four groups are drawn once per ansible/ansible-playbook process
(ansible.utils.vars.get_unique_id, the same in 2.16 and 2.21); the real thing runs in
tests/integration/test_fact_cache.py."""

from types import SimpleNamespace

import pytest
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._observe.action_facts import (
    GATHERED,
    GIVEN,
    current_run,
    not_usable,
    observed_facts,
    stamp,
)

RUN = "0242ac11-0002-1c2f-3a8b"


class FakeAction:
    """An ActionBase stand-in: the task uuid and _execute_module (a mock: no target here)."""

    def __init__(self, uuid=RUN + "-000000000012", module_result=None):
        self._task = SimpleNamespace(_uuid=uuid)
        self.module_result = module_result
        self.calls = []

    def _execute_module(self, module_name, module_args, task_vars):
        self.calls.append((module_name, module_args))
        return self.module_result


HOST = {"inventory_hostname": "hv01"}


def test_run_is_the_task_uuid_without_its_counter():
    assert current_run(FakeAction()) == RUN
    assert current_run(FakeAction(RUN + "-000000000999")) == RUN  # another task, same run
    assert current_run(FakeAction("not-a-uuid")) is None
    assert current_run(FakeAction(None)) is None


def stamped(host="hv01", run=RUN, root="/"):
    f = facts()
    f["root"] = root
    f["observation"].update(run=run, host=host)
    return f


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        (facts(), "carries no observation.run"),  # the module alone / gather_facts / a cache of schema 1
        (stamped(run="0242ac11-0002-9999-9999"), "observed in another run (0242ac11-0002-9999-9999; this run is"),
        (stamped(host="hv02"), "observed on 'hv02', not on 'hv01'"),
        (stamped(root="/srv/snap"), "observed under root '/srv/snap', not '/'"),
        ("x", "not a facts document"),
    ],
)
def test_documents_not_from_this_run_here_are_not_used(doc, why):
    assert why in not_usable(doc, FakeAction(), HOST, "/")


def test_a_document_of_this_run_and_host_is_used():
    assert not_usable(stamped(), FakeAction(), HOST, "/") is None
    assert not_usable(stamped(root="/srv/snap/"), FakeAction(), HOST, "/srv/snap") is None  # same dir
    assert not_usable(stamped(root="/srv/snap"), FakeAction(), HOST, None) is None  # no root asked


def test_an_unidentifiable_run_trusts_nothing():
    assert "cannot be identified" in not_usable(stamped(), FakeAction("2.99-format"), HOST, "/")


def test_observed_facts_reuses_or_gathers_once():
    fresh = facts()
    action = FakeAction(module_result={"ansible_facts": {"vmscape": fresh}})
    got = observed_facts(action, HOST, stamped(), "/", "auto")
    assert (got["source"], got["note"], action.calls) == (GIVEN, None, [])
    got = observed_facts(action, HOST, stamped(run="0242ac11-0002-9999-9999"), "/", "auto")
    assert got["source"] == GATHERED and "another run" in got["note"]
    assert action.calls == [("fleetsec.vmscape.vmscape_facts", {"root": "/", "probe_image": "auto"})]
    assert got["facts"]["observation"]["run"] == RUN and got["facts"]["observation"]["host"] == "hv01"
    after_reboot = observed_facts(action, HOST, stamped(), "/", "never", reuse=False)
    assert after_reboot["source"] == GATHERED and "after a reboot" in after_reboot["note"]


def test_module_failure_is_an_error_not_facts():
    action = FakeAction(module_result={"failed": True, "msg": "cannot read /proc/cpuinfo"})
    got = observed_facts(action, HOST, None, "/", "auto")
    assert got["facts"] is None and got["error"] == "fleetsec.vmscape.vmscape_facts failed: cannot read /proc/cpuinfo"


def test_stamp_leaves_other_documents_alone():
    assert stamp({"schema": 1}, FakeAction(), HOST) == {"schema": 1}
