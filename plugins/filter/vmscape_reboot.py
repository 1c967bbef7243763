# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the reboot stage: the decisions of plugin_utils/_reboot/*.py, callable from the
role's tasks and the playbooks' play keywords without a task of their own (docs in the .yml
files next to this one)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot import batches as _reboot_batches
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot import outcome as _reboot_outcome
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot import settings as _reboot_settings


def _get(hostvars):
    def get(host, var):
        try:
            values = hostvars[host]
        except KeyError:
            return None
        return values.get(var) if isinstance(values, Mapping) or hasattr(values, "get") else None

    return get


def reboot_outcome(
    gate,
    guests=None,
    guests_after=None,
    reboot=None,
    drain_tasks="",
    undrain_tasks="",
    drain_always=False,
    allow_running=False,
    undrain_on_verify_failure=False,
    check_mode=False,
):
    return _reboot_outcome.outcome(
        gate,
        guests,
        guests_after,
        reboot,
        drain_tasks=drain_tasks or "",
        undrain_tasks=undrain_tasks or "",
        drain_always=bool(drain_always),
        allow_running=bool(allow_running),
        undrain_on_verify_failure=bool(undrain_on_verify_failure),
        check_mode=bool(check_mode),
    )


def reboot_wanted(gate):
    return _reboot_outcome.reboot_wanted(gate)


def rebooted(record):
    return _reboot_outcome.rebooted(record)


def reboot_staged(reason):
    return _reboot_outcome.staged(str(reason))


def verify_failure_msg(failed_result, record=None):
    return _reboot_outcome.verify_failure_msg(failed_result, record)


def undrain_due(record, verified=True):
    return _reboot_outcome.undrain_due(record, bool(verified))


def reboot_undrained(record, verified=True):
    return _reboot_outcome.undrained(record, bool(verified))


def reboot_failure(record, failed_result):
    return _reboot_outcome.failure(record, failed_result)


def reboot_batches(hosts, hostvars, serial=1, per_domain=0):
    get = _get(hostvars)
    try:
        domains = {h: _reboot_batches.domain_name(get(h, _reboot_batches.VAR_DOMAIN), h) for h in hosts or []}
        return _reboot_batches.plan(list(hosts or []), domains, serial, per_domain)
    except _reboot_batches.BatchError as exc:
        raise AnsibleFilterError(str(exc)) from None


def reboot_settings_errors(hosts, hostvars, serial=1, per_domain=0):
    return _reboot_settings.errors(list(hosts or []), _get(hostvars), serial, per_domain)


class FilterModule:
    def filters(self):
        return {
            "reboot_outcome": reboot_outcome,
            "reboot_wanted": reboot_wanted,
            "rebooted": rebooted,
            "reboot_staged": reboot_staged,
            "verify_failure_msg": verify_failure_msg,
            "undrain_due": undrain_due,
            "reboot_undrained": reboot_undrained,
            "reboot_failure": reboot_failure,
            "reboot_batches": reboot_batches,
            "reboot_settings_errors": reboot_settings_errors,
        }
