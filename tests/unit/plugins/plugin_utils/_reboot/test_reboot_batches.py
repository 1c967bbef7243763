"""Failure-domain batches (plugins/plugin_utils/_reboot/batches.py) and the settings check
before any change (_reboot_settings.py). Expected batches worked out by hand; the properties
are checked on random fleets, and the sizes are fed through Ansible's own serial slicing."""

import pytest
from ansible.playbook.play import Play
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.fleetsec.vmscape.plugins.filter.vmscape_reboot import FilterModule
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot.batches import (
    BatchError,
    domain_name,
    parse_per_domain,
    parse_serial,
    plan,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot.settings import errors

RACKS = {"a": "r1", "b": "r1", "c": "r1", "d": "r2", "e": "r2", "f": "r3"}
HOSTS = list("abcdef")


def test_one_per_rack_three_at_a_time():
    out = plan(HOSTS, RACKS, serial=3, per_domain=1)
    assert out["batches"] == [["a", "d", "f"], ["b", "e"], ["c"]]
    assert out["order"] == ["a", "d", "f", "b", "e", "c"] and out["sizes"] == [3, 2, 1]


def test_two_per_rack():
    assert plan(HOSTS, RACKS, serial=4, per_domain=2)["batches"] == [["a", "b", "d", "e"], ["c", "f"]]


def test_no_domain_limit_is_plain_serial():
    assert plan(HOSTS, RACKS, serial=2)["batches"] == [["a", "b"], ["c", "d"], ["e", "f"]]
    assert plan(HOSTS, RACKS, serial="50%")["sizes"] == [3, 3]
    assert plan(HOSTS, RACKS, serial=[1, "50%"])["sizes"] == [1, 3, 2]  # a canary, then halves
    assert plan(HOSTS, RACKS, serial=0)["sizes"] == [6]  # 0: everything at once, like Ansible
    assert plan(list("abcde"), {}, serial="10%")["sizes"] == [1] * 5  # int(0.5) -> at least 1


def test_hosts_without_a_domain_share_one():
    assert plan(HOSTS, {"a": "r1"}, serial=6, per_domain=1)["batches"] == [["a", "b"], ["c"], ["d"], ["e"], ["f"]]


def test_serial_list_capacities_with_domains():
    out = plan(HOSTS, RACKS, serial=[1, 10], per_domain=1)
    assert out["batches"] == [["a"], ["b", "d", "f"], ["c", "e"]]


@pytest.mark.parametrize("bad", ["abc", "150%", "12.5%", True, [], [1, "x"], {"a": 1}])
def test_bad_serial(bad):
    with pytest.raises(BatchError, match="vmscape_serial"):
        parse_serial(bad)


@pytest.mark.parametrize("bad", [-1, "-2", "x", True, 1.5, [1]])
def test_bad_per_domain(bad):
    with pytest.raises(BatchError, match="vmscape_serial_per_domain"):
        parse_per_domain(bad)


def test_domain_names():
    assert domain_name(12) == "12" and domain_name(" rack-1 ") == "rack-1" and domain_name(None) == ""
    with pytest.raises(BatchError, match="vmscape_failure_domain of kvm1"):
        domain_name(["r1"], "kvm1")


def _ansible_slices(order, sizes):
    """What Ansible's PlaybookExecutor._get_serialized_batches makes of these play keywords."""
    from ansible.executor.playbook_executor import PlaybookExecutor

    class Inv:
        def get_hosts(self, pattern, order=None):
            return list(pattern)

    pe = PlaybookExecutor.__new__(PlaybookExecutor)
    pe._inventory = Inv()
    play = Play.load({"hosts": order, "serial": sizes, "gather_facts": False})
    play.hosts, play.serial = order, sizes
    return pe._get_serialized_batches(play)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["r1", "r2", "r3", "r4", None]), min_size=1, max_size=40),
    st.one_of(
        st.integers(0, 12),
        st.integers(1, 100).map(lambda p: f"{p}%"),
        st.lists(st.integers(1, 5), min_size=1, max_size=3),
    ),
    st.integers(0, 4),
)
def test_batches_respect_both_limits_and_ansible_slices_them_so(doms, serial, limit):
    hosts = [f"h{i:02d}" for i in range(len(doms))]
    domains = {h: d for h, d in zip(hosts, doms, strict=True) if d is not None}
    out = plan(hosts, domains, serial, limit)
    assert sorted(out["order"]) == hosts and sum(out["sizes"]) == len(hosts) and all(out["sizes"])
    items = parse_serial(serial)
    for k, batch in enumerate(out["batches"]):
        item = items[min(k, len(items) - 1)]
        cap = (
            len(hosts)
            if item == 0
            else (max(1, int(int(item[:-1]) / 100 * len(hosts))) if isinstance(item, str) else item)
        )
        assert len(batch) <= cap
        if limit:
            per = {}
            for h in batch:
                per[domains.get(h, "")] = per.get(domains.get(h, ""), 0) + 1
            assert max(per.values()) <= limit
            # greedy: a batch below its capacity left no later host out whose domain had room
            later = [h for b in out["batches"][k + 1 :] for h in b]
            if len(batch) < cap:
                assert all(per.get(domains.get(h, ""), 0) >= limit for h in later)
    slices = _ansible_slices(out["order"], out["sizes"])
    assert [[h for h in s] for s in slices] == out["batches"]


def test_filter_reads_hostvars():
    hostvars = {"kvm1": {"vmscape_failure_domain": "az1"}, "kvm2": {"vmscape_failure_domain": "az1"}, "kvm3": {}}
    out = FilterModule().filters()["reboot_batches"](["kvm1", "kvm2", "kvm3"], hostvars, "2", "1")
    assert out["batches"] == [["kvm1", "kvm3"], ["kvm2"]]


def _get(table):
    return lambda host, var: table.get(host, {}).get(var)


def test_settings_errors_name_the_variable_and_the_hosts():
    table = {
        "kvm1": {"vmscape_maintenance_timezone": "Europe/Berln", "vmscape_reboot_policy": "window"},
        "kvm2": {"vmscape_maintenance_timezone": "Europe/Berln", "vmscape_reboot_policy": "window"},
        "kvm3": {"vmscape_maintenance_window": "22:00-04:00", "vmscape_reboot_policy": "window"},
        "kvm4": {"vmscape_maintenance_not_before": "2026-12-05", "vmscape_maintenance_not_after": "2026-12-01"},
        "kvm5": {"vmscape_failure_domain": {"rack": 1}},
    }
    out = errors(list(table), _get(table), serial="10%", per_domain=1)
    assert len(out) == 3
    assert out[0].startswith("vmscape_maintenance_timezone: 'Europe/Berln' is not an IANA timezone")
    assert out[0].endswith("(hosts: kvm1, kvm2)")
    assert out[1].startswith("vmscape_maintenance_not_before (2026-12-05) is not before") and "kvm4" in out[1]
    assert out[2].startswith("vmscape_failure_domain of kvm5")
    assert errors(["kvm3"], _get(table)) == []
    assert errors([], _get({}), serial="x", per_domain=-1) == [
        "vmscape_serial: 'x' is not a number of hosts or a percentage (1, '10%', [1, '25%'])",
        "vmscape_serial_per_domain: -1 is negative (0 = no limit)",
    ]


def test_settings_errors_list_at_most_five_hosts():
    table = {f"h{i}": {"vmscape_reboot_policy": "sometimes"} for i in range(8)}
    (msg,) = errors(list(table), _get(table))
    assert msg.endswith("(hosts: h0, h1, h2, h3, h4 and 3 more)")
