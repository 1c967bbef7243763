# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""After the boot: does the host show what the plan promised? Pure, controller side."""

from __future__ import annotations

from collections.abc import Mapping

# Verdicts, worst last (_vocabulary); the report counts them.
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import BLOCKED, FAIL, PASS, PENDING
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import KERNEL_UPGRADE as UPGRADE


def _cmdline_values(facts: Mapping, name: str) -> list:
    key = name.replace("-", "_")
    tokens = (facts.get("cmdline") or {}).get("tokens") or []
    return [t.get("value") for t in tokens if str(t.get("name", "")).replace("-", "_") == key]


def verify(plan: Mapping, facts: Mapping, rebooted: bool) -> dict:
    """Compare fresh facts with the plan made before the reboot."""
    expected = plan.get("expected_sysfs")
    raw = (facts.get("sysfs") or {}).get("vmscape")
    observed = raw.strip() if isinstance(raw, str) else None
    reasons: list[str] = []
    cmdline_ok = True
    for name, value in (plan.get("cmdline") or {}).items():
        values = _cmdline_values(facts, name)
        if values != [value]:
            cmdline_ok = False
            shown = " ".join(f"{name}={v}" if v is not None else name for v in values) or "nothing"
            reasons.append(f"/proc/cmdline has {shown}, expected exactly {name}={value}")
    for name in plan.get("cmdline_remove") or []:
        if _cmdline_values(facts, name):
            cmdline_ok = False
            reasons.append(f"/proc/cmdline still has {name}=, which the plan removes")
    sysfs_ok = observed == expected
    if not sysfs_ok:
        reasons.insert(0, f"sysfs vmscape reports {observed!r}, expected {expected!r}")
    # After the upgrade stage (plan.upgrade, docs/upgrade.md) the reboot must have started the new
    # kernel, and microcode installed for IBPB must have brought it.
    running = (facts.get("kernel") or {}).get("release")
    upgrade = plan.get("upgrade") or {}
    upgrade_ok = True
    if rebooted and upgrade.get("kernel_after") and running != upgrade["kernel_after"]:
        upgrade_ok = False
        reasons.append(
            f"running kernel {running}, not the upgraded {upgrade['kernel_after']} (did the boot loader fall back?)"
        )
    if rebooted and upgrade.get("expects_ibpb") and (facts.get("cpu") or {}).get("ibpb") is not True:
        upgrade_ok = False
        reasons.append(f"the CPU still lacks IBPB after installing {upgrade.get('microcode') or 'the microcode'}")

    action = plan.get("action")
    if action == "blocked":
        verdict = BLOCKED
        reasons = list(plan.get("reasons") or [])[-1:] + reasons
    elif action == "kernel_upgrade":
        verdict = UPGRADE
    elif rebooted:
        verdict = PASS if sysfs_ok and cmdline_ok and upgrade_ok else FAIL
    elif action == "set" and plan.get("reboot_required"):
        verdict = PENDING
        reasons.append("configuration staged; the reboot that applies it is pending")
    else:
        # Not rebooted and no reboot needed: the running state must already match.
        verdict = PASS if sysfs_ok else FAIL
        if action == "set" and not cmdline_ok:
            reasons = [r for r in reasons if not r.startswith("/proc/cmdline")]
            reasons.append("already mitigated; the configured parameters apply from the next boot")
    return {
        "status": verdict,
        "expected": expected,
        "observed": observed,
        "sysfs_ok": sysfs_ok,
        "cmdline_ok": cmdline_ok,
        "rebooted": rebooted,
        "kernel": running,
        "reasons": reasons,
    }
