# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Operator policy for the VMSCAPE plan: validated against allow-lists, never trusted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import MODES

# vmscape_mode: what an operator may pin per host or group.
#   auto  - let the plan choose (default)
#   bhb   - BHB clear (vmscape=on), only where the kernel has the BHB series and the CPU BHI_CTRL
#   ibpb  - vmscape=ibpb
#   force - vmscape=force (mitigate even where the kernel's list misses the CPU)
#   off   - vmscape=off (accept the risk, e.g. hosts that never run guests)
#   none  - leave the boot configuration alone, report only

# The vmscape= value each pinned mode writes (facts §2: there is no vmscape=bhb value).
MODE_VALUE = {"bhb": "on", "ibpb": "ibpb", "force": "force", "off": "off"}


class PolicyError(ValueError):
    """A policy variable is not acceptable; the message names the variable."""


@dataclass(frozen=True)
class Policy:
    mode: str = "auto"
    allow_remove_mitigations_off: bool = False


_KEYS = {
    "mode": "vmscape_mode",
    "allow_remove_mitigations_off": "vmscape_allow_remove_mitigations_off",
}


def validate_policy(policy: Mapping | None) -> Policy:
    if policy is None:
        return Policy()
    if not isinstance(policy, Mapping):
        raise PolicyError(f"policy must be a mapping, got {type(policy).__name__}")
    unknown = sorted(set(policy) - set(_KEYS))
    if unknown:
        raise PolicyError(f"unknown policy key(s): {', '.join(map(repr, unknown))}; allowed: {', '.join(_KEYS)}")
    mode = policy.get("mode", "auto")
    if mode is None:
        mode = "auto"
    if not isinstance(mode, str) or mode not in MODES:
        raise PolicyError(f"{_KEYS['mode']}: {mode!r} is not one of {', '.join(MODES)}")
    allow = policy.get("allow_remove_mitigations_off", False)
    if not isinstance(allow, bool):
        raise PolicyError(f"{_KEYS['allow_remove_mitigations_off']}: {allow!r} is not a boolean")
    return Policy(mode=mode, allow_remove_mitigations_off=allow)
