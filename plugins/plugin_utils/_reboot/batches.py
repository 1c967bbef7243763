# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling-reboot batches that respect failure domains. Pure.

Ansible batches a play by ``serial`` only: consecutive slices of the host list. Hypervisors
share racks, availability zones and clusters; an operator wants at most K hosts of one
failure domain down at once, whatever the batch size. ``plan()`` orders the hosts and sizes
the batches so that Ansible's own slicing (``serial`` given as the list of batch sizes) yields
batches of at most ``vmscape_serial`` hosts (the same int / "N%" / list semantics as the play
keyword) with at most ``vmscape_serial_per_domain`` hosts of any one
``vmscape_failure_domain``. Hosts without a failure domain share one unnamed domain (absent
knowledge is not independence). A batch is filled greedily in inventory order, looking past
hosts whose domain is full, so the fleet still reboots as many hosts at once as the limits
allow.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

VAR_SERIAL = "vmscape_serial"
VAR_PER_DOMAIN = "vmscape_serial_per_domain"
VAR_DOMAIN = "vmscape_failure_domain"
UNNAMED = ""

_INT_RE = re.compile(r"^\s*-?\d+\s*$")
_PCT_RE = re.compile(r"^\s*(\d+)\s*%\s*$")  # whole percentages, as Ansible parses them


class BatchError(ValueError):
    """A batching variable is malformed; the message names it."""


def _serial_item(value):
    if isinstance(value, bool):
        raise BatchError(f"{VAR_SERIAL}: {value!r} is not a number of hosts or a percentage (1, '10%')")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if _INT_RE.match(value):
            return int(value)
        m = _PCT_RE.match(value)
        if m and int(m.group(1)) <= 100:
            return value.strip()
    raise BatchError(f"{VAR_SERIAL}: {value!r} is not a number of hosts or a percentage (1, '10%', [1, '25%'])")


def parse_serial(serial) -> list:
    """The play keyword's value as a list (ints and "N%" strings), checked."""
    if serial is None or serial == "":
        return [1]
    items = list(serial) if isinstance(serial, list | tuple) else [serial]
    if not items:
        raise BatchError(f"{VAR_SERIAL}: an empty list")
    return [_serial_item(v) for v in items]


def parse_per_domain(value) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _INT_RE.match(value))):
        raise BatchError(f"{VAR_PER_DOMAIN}: {value!r} is not a number of hosts (0 = no limit)")
    n = int(value)
    if n < 0:
        raise BatchError(f"{VAR_PER_DOMAIN}: {value!r} is negative (0 = no limit)")
    return n


def domain_name(value, host: str = "") -> str:
    if value is None:
        return UNNAMED
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BatchError(f"{VAR_DOMAIN} of {host}: {value!r} is not a name (rack, zone or cluster)")
    return str(value).strip()


def _capacity(item, total: int) -> int:
    """Ansible's pct_to_int: "N%" of all hosts, at least 1; an int as is; <= 0 means all."""
    if isinstance(item, str):
        n = int(int(item.strip().rstrip("%").strip()) / 100.0 * total) or 1
    else:
        n = item
    return total if n <= 0 else n


def plan(hosts: Sequence[str], domains: Mapping[str, str], serial=1, per_domain=0) -> dict:
    """{"order": hosts in reboot order, "sizes": batch sizes, "batches": [[host, ...], ...]}."""
    items = parse_serial(serial)
    limit = parse_per_domain(per_domain)
    remaining = list(dict.fromkeys(hosts))  # inventory order, no duplicates
    total = len(remaining)
    batches: list[list[str]] = []
    k = 0
    while remaining:
        cap = _capacity(items[min(k, len(items) - 1)], total)
        batch: list[str] = []
        used: Counter = Counter()
        rest = []
        for h in remaining:
            d = domains.get(h, UNNAMED)
            if len(batch) < cap and (limit == 0 or used[d] < limit):
                batch.append(h)
                used[d] += 1
            else:
                rest.append(h)
        batches.append(batch)
        remaining = rest
        k += 1
    return {
        "order": [h for b in batches for h in b],
        "sizes": [len(b) for b in batches],
        "batches": batches,
    }
