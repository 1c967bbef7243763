"""The rollback plan from what is not a restore result, and its reason's default wording (found by
`make mutation`); every field written out by hand."""

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import rollback


def test_without_a_predicted_plan_or_a_restore_result_nothing_is_rolled_back():
    assert rollback.plan(None, None) == {
        "action": "none",
        "mode": "rollback",
        "cmdline": {},
        "cmdline_remove": [],
        "restored_entry": None,
        "reboot_required": False,
        "reasons": ["nothing to roll back: "],
    }
    assert rollback.reason(None) == "nothing to roll back: "
    assert rollback.in_place(None) is False and rollback.in_place("changed") is False


def test_a_restored_entry_that_is_not_a_mapping_is_no_entry():
    restore = {"changed": False, "restored_entry": "20261201T120000Z-1", "msg": "odd"}
    assert rollback.in_place(restore) is False
    assert rollback.reason(restore) == "nothing to roll back: odd"
    assert rollback.plan({}, restore)["restored_entry"] is None


def test_a_restore_is_told_as_done_unless_in_check_mode():
    restore = {"changed": True, "restored_entry": {"id": "20261201T120000Z-1"}, "effective_cmdline": "ro quiet"}
    assert (
        rollback.reason(restore) == 'rollback: journal entry 20261201T120000Z-1 restored; the next boot gets "ro quiet"'
    )
    assert rollback.reason(restore, True) == (
        'rollback: journal entry 20261201T120000Z-1 would be restored; the next boot gets "ro quiet"'
    )
