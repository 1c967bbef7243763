# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every host's reboot settings checked at once, before any change. Pure.

remediate.yml and rollback.yml run this on the controller in their first play, before the boot
configuration is touched: a wrong window, day, timezone, date, batch size or failure domain
is one error naming the variable and the hosts that carry it, instead of a failure in the
middle of the rolling reboots (the reboot gate of each host runs only then).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot.batches import (
    BatchError,
    domain_name,
    parse_per_domain,
    parse_serial,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._reboot.gate import GateError, settings

GATE_VARS = (
    ("policy", "vmscape_reboot_policy", "now"),
    ("window", "vmscape_maintenance_window", ""),
    ("days", "vmscape_maintenance_days", []),
    ("timezone", "vmscape_maintenance_timezone", ""),
    ("not_before", "vmscape_maintenance_not_before", ""),
    ("not_after", "vmscape_maintenance_not_after", ""),
)
MAX_HOSTS_NAMED = 5


def _hosts(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_HOSTS_NAMED])
    more = f" and {len(names) - MAX_HOSTS_NAMED} more" if len(names) > MAX_HOSTS_NAMED else ""
    return f"{shown}{more}"


def errors(hosts: Sequence[str], get: Callable[[str, str], object], serial=1, per_domain=0) -> list[str]:
    """Error messages (empty: all good). ``get(host, variable)`` returns the value or None."""
    out: list[str] = []
    for check, value in ((parse_serial, serial), (parse_per_domain, per_domain)):
        try:
            check(value)
        except BatchError as exc:
            out.append(str(exc))
    by_message: dict[str, list[str]] = {}
    seen: dict[str, str | None] = {}
    for host in hosts:
        kwargs = {}
        for key, var, default in GATE_VARS:
            value = get(host, var)
            kwargs[key] = default if value is None else value
        key = repr(sorted(kwargs.items()))
        if key not in seen:
            try:
                settings(**kwargs)
                seen[key] = None
            except GateError as exc:
                seen[key] = str(exc)
        if seen[key]:
            by_message.setdefault(seen[key], []).append(host)
        try:
            domain_name(get(host, "vmscape_failure_domain"), host)
        except BatchError as exc:
            by_message.setdefault(str(exc), [])
    out.extend(f"{msg} (hosts: {_hosts(names)})" if names else msg for msg, names in by_message.items())
    return out
