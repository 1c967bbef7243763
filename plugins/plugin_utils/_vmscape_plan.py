# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VMSCAPE decision: facts in, plan out. Pure (no I/O), controller side.

``make_plan(facts, policy)`` takes ``ansible_facts.vmscape`` (docs/facts-schema.md) and the
operator policy and returns the plan fields of DESIGN.md. The decision follows facts §6; the
prediction of what a kernel prints is ``_vmscape_kernel_model.predict``; which kernels know
what is ``_vmscape_kernel_table``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._vmscape_kernel_model import (
    CpuCaps,
    ibpb_elsewhere,
    parse_effects,
    predict,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._vmscape_kernel_table import (
    BHB_EXIT,
    G0,
    G1,
    G2,
    G3,
    IBPB_EXIT,
    IBPB_VMEXIT,
    VULNERABLE,
    branch_of,
    classify_cpu,
    generation_from_version,
    listed_by_branch,
    parse_version,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._vmscape_policy import (
    MODE_VALUE,
    Policy,
    validate_policy,
)

ACTIONS = ("none", "set", "kernel_upgrade", "blocked")
MITIGATED = (IBPB_EXIT, IBPB_VMEXIT, BHB_EXIT)


class PlanError(ValueError):
    """The facts cannot be planned on; the message names the offending field."""


# --- reading the facts ---------------------------------------------------------------------


def _get(facts: Mapping, path: str, kinds, required: bool = True):
    cur = facts
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            if required:
                raise PlanError(f"facts.{path}: missing (is this the output of fleetsec.vmscape.vmscape_facts?)")
            return None
        cur = cur[part]
    if cur is None and not required:
        return None
    if not isinstance(cur, kinds) or (isinstance(cur, bool) and bool not in _as_tuple(kinds)):
        raise PlanError(f"facts.{path}: expected {_kind_names(kinds)}, got {cur!r}")
    return cur


def _as_tuple(kinds):
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _kind_names(kinds) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kinds))


def _params(tokens, where: str) -> list[tuple[str, str | None]]:
    if not isinstance(tokens, list):
        raise PlanError(f"{where}: expected a list of tokens, got {tokens!r}")
    out = []
    for i, tok in enumerate(tokens):
        if not isinstance(tok, Mapping) or not isinstance(tok.get("name"), str):
            raise PlanError(f"{where}[{i}]: expected a token with a name, got {tok!r}")
        value = tok.get("value")
        if value is not None and not isinstance(value, str):
            raise PlanError(f"{where}[{i}]: value must be a string or null, got {value!r}")
        out.append((tok["name"], value))
    return out


def _is(name: str, key: str) -> bool:
    return name.replace("-", "_") == key


@dataclass
class KernelView:
    """What the plan knows about one kernel (running or next boot)."""

    label: str
    release: str | None
    version: str | None
    generation: str | None
    listed: bool | None = None
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "release": self.release,
            "version": self.version,
            "generation": self.generation,
            "lists_cpu": self.listed,
        }


def _kernel_view(label, release, version, knows, bhb, cpu) -> KernelView:
    v = parse_version(version)
    by_version = generation_from_version(v)
    view = KernelView(label, release, version, None)
    name = f"{label} kernel {release or '?'}" + (f" (upstream {version})" if version else "")
    if bhb is True:
        view.generation = G3
        view.reasons.append(f"{name} carries the BHB series (G3: vmscape=auto/on select BHB clear)")
    elif knows is False:
        view.generation = G0
        view.reasons.append(f"{name} does not know VMSCAPE (no vmscape= parameter, no sysfs file)")
    elif knows is True:
        if by_version in (G1, G2):
            view.generation = by_version
        else:
            view.generation = G1
            view.reasons.append(
                f"{name}: the probe found VMSCAPE support that the upstream version "
                f"{'is unknown for' if v is None else 'predates'}; assuming a distribution backport with G1 behaviour"
            )
    elif by_version is not None:
        view.generation = by_version
        view.reasons.append(f"{name}: support not probed; generation {by_version} from the upstream version")
    else:
        view.reasons.append(f"{name}: neither the probe nor the version tells whether it knows VMSCAPE")
    if view.generation not in (None, G0):
        view.listed = listed_by_branch(v, cpu["vendor"], cpu["family"], cpu["model"])
    return view


def _cpu_summary(facts, cpu, hypervisor, bhi_ctrl, has_ibpb) -> dict:
    """The CPU as reports show it (vendor/family/model/stepping, hex like the kernel's lists)."""
    src = facts.get("cpu") or {}
    stepping = src.get("stepping")
    return {
        "vendor": cpu["vendor"],
        "family": cpu["family"],
        "model": cpu["model"],
        "stepping": stepping if isinstance(stepping, int) else None,
        "id": f"{cpu['family']:#x}/{cpu['model']:#x}" + (f"/{stepping}" if isinstance(stepping, int) else ""),
        "model_name": src.get("model_name"),
        "microcode": src.get("microcode"),
        "bhi_ctrl": bhi_ctrl,
        "ibpb": has_ibpb,
        "hypervisor": hypervisor,
    }


# --- the plan ----------------------------------------------------------------------------


def _target_for(value: str, vmexit: bool) -> tuple[str, ...]:
    """The strings that count as success for a written value (facts §3)."""
    if value == "off":
        return (VULNERABLE, IBPB_VMEXIT) if vmexit else (VULNERABLE,)
    if vmexit:
        return (IBPB_VMEXIT,)
    return (BHB_EXIT,) if value == "on" else (IBPB_EXIT,)


def make_plan(facts: Mapping, policy: Mapping | Policy | None = None) -> dict:
    """Return the plan for one host; raises PlanError/PolicyError on bad input."""
    pol = policy if isinstance(policy, Policy) else validate_policy(policy)
    if not isinstance(facts, Mapping):
        raise PlanError(f"facts: expected a mapping (ansible_facts.vmscape), got {type(facts).__name__}")

    cpu = {
        "vendor": _get(facts, "cpu.vendor", str, required=False),
        "family": _get(facts, "cpu.family", int),
        "model": _get(facts, "cpu.model", int),
    }
    hypervisor = _get(facts, "cpu.hypervisor", bool)
    has_ibpb = _get(facts, "cpu.ibpb", bool)
    bhi_ctrl = _get(facts, "cpu.bhi_ctrl", bool, required=False)
    bugs = _get(facts, "cpu.bugs", list, required=False) or []
    sysfs = _get(facts, "sysfs", Mapping, required=False) or {}
    run_params = _params(_get(facts, "cmdline.tokens", list), "facts.cmdline.tokens")
    boot_tokens = _get(facts, "bootloader.tokens", list, required=False)
    next_params = _params(boot_tokens, "facts.bootloader.tokens") if boot_tokens is not None else None

    reasons: list[str] = []
    warnings: list[str] = []
    cls = classify_cpu(cpu["vendor"], cpu["family"], cpu["model"])
    reasons.append(cls.why + (" (running as a guest)" if hypervisor else ""))

    # Running kernel: probe answers apply when it is also the next-boot kernel.
    run_rel = _get(facts, "kernel.release", str, required=False)
    boot_rel = _get(facts, "boot_kernel.release", str, required=False)
    boot_is_running = bool(_get(facts, "boot_kernel.is_running", bool, required=False)) or (
        boot_rel is not None and boot_rel == run_rel
    )
    run_knows = run_bhb = None
    if boot_is_running:
        run_knows = _get(facts, "boot_kernel.knows_vmscape", bool, required=False)
        run_bhb = _get(facts, "boot_kernel.bhb_series", bool, required=False)
    if run_knows is None and sysfs:
        # Presence (not content) of the sysfs file tells whether the running kernel knows it.
        run_knows = "vmscape" in sysfs
    running = _kernel_view(
        "running", run_rel, _get(facts, "kernel.version", str, required=False), run_knows, run_bhb, cpu
    )
    if boot_rel is None:
        boot = running
        boot_is_running = True
        reasons.append("next-boot kernel unknown; assuming the running kernel boots again")
    else:
        boot = _kernel_view(
            "next-boot",
            boot_rel,
            _get(facts, "boot_kernel.version", str, required=False),
            _get(facts, "boot_kernel.knows_vmscape", bool, required=False),
            _get(facts, "boot_kernel.bhb_series", bool, required=False),
            cpu,
        )
    reasons.extend(running.reasons)
    if boot is not running:
        if not boot_is_running:
            reasons.append(f"next boot changes kernel: {run_rel} -> {boot_rel}")
        reasons.extend(boot.reasons)

    # A branch whose list the facts document does not give (distribution backport): the
    # running kernel's cpuinfo "bugs" line shows whether it set the bug, unless force did.
    run_forced = any(_is(n, "vmscape") and v == "force" for n, v in run_params)
    can_use_bugs = not run_forced and not hypervisor
    for view in {id(running): running, id(boot): boot}.values():
        same_as_running = view is running or boot_is_running
        if view.listed is None and view.generation not in (None, G0) and same_as_running and can_use_bugs:
            view.listed = "vmscape" in bugs
            reasons.append(
                f"{view.label} kernel's CPU list is not in the facts document; cpuinfo bugs "
                f"{'lists' if view.listed else 'does not list'} vmscape"
            )
    vmexit = ibpb_elsewhere(sysfs.get("retbleed"), sysfs.get("spec_rstack_overflow"))
    if vmexit:
        reasons.append("retbleed or SRSO already uses IBPB: the kernel reports IBPB on VMEXIT (facts §3)")

    def caps(view: KernelView) -> CpuCaps:
        listed = view.listed if view.listed is not None else cls.affected
        return CpuCaps(listed=bool(listed), hypervisor=hypervisor, ibpb=has_ibpb, bhi_ctrl=bhi_ctrl)

    predicted_current = None
    if running.generation is not None:
        predicted_current = predict(running.generation, caps(running), run_params, vmexit)
    observed_raw = sysfs.get("vmscape")
    observed_current = observed_raw.strip() if isinstance(observed_raw, str) else None

    if next_params is None:
        next_params = list(run_params)
        reasons.append("next-boot cmdline not readable from the boot configuration; using the running cmdline")
    next_params = [(n, v) for n, v in next_params if not _is(n, "BOOT_IMAGE")]

    plan = {
        "action": "none",
        "mode": "none",
        "cmdline": {},
        "cmdline_remove": [],
        "expected_sysfs": None,
        "predicted_current": predicted_current,
        "observed_current": observed_current,
        "prediction_matches": None,
        "reboot_required": False,
        "compliant": False,
        "config_in_place": None,
        "reasons": reasons,
        "warnings": warnings,
        "cpu_class": "guest" if hypervisor else cls.kind,
        "cpu": _cpu_summary(facts, cpu, hypervisor, bhi_ctrl, has_ibpb),
        "kernels": {"running": running.as_dict(), "next_boot": boot.as_dict()},
        "policy": {"mode": pol.mode, "allow_remove_mitigations_off": pol.allow_remove_mitigations_off},
    }
    if running.generation is not None:
        plan["prediction_matches"] = predicted_current == observed_current
        if observed_current is not None and predicted_current != observed_current:
            warnings.append(
                f"model disagrees with the running kernel: predicted {predicted_current!r}, "
                f"kernel reports {observed_current!r}"
            )

    unchanged = predict(boot.generation, caps(boot), next_params, vmexit) if boot.generation else None

    def finish(action: str, expected: str | None) -> dict:
        plan["action"] = action
        plan["expected_sysfs"] = expected
        if action in ("blocked", "kernel_upgrade") and plan["mode"] != "none":
            plan["wanted_mode"], plan["mode"] = plan["mode"], "none"
        if action in ("none", "set"):
            plan["compliant"] = observed_current == expected and observed_current is not None
            if action == "none" and expected is None and observed_current is None:
                plan["compliant"] = True
        plan["reboot_required"] = action == "set" and observed_current != expected
        return plan

    # facts §6.1: guests and unaffected CPUs have nothing to do.
    if pol.mode == "none":
        reasons.append("vmscape_mode is none: the boot configuration is left alone")
        return finish("none", unchanged)
    if hypervisor and pol.mode == "auto":
        reasons.append("guest (hypervisor flag): the kernel never sets the bug in a guest; nothing to do")
        return finish("none", unchanged)
    if cls.kind == "unaffected" and pol.mode == "auto":
        reasons.append("CPU not affected: nothing to do")
        return finish("none", unchanged)
    if cls.kind == "unknown" and pol.mode == "auto":
        reasons.append("unknown CPU: cannot decide safely; pin vmscape_mode for this host after checking it")
        return finish("blocked", unchanged)
    # facts §6.2: a kernel without VMSCAPE cannot be configured.
    if boot.generation is None:
        reasons.append("cannot tell whether the next-boot kernel knows VMSCAPE; not changing anything")
        return finish("blocked", unchanged)
    if boot.generation == G0:
        reasons.append("kernel upgrade required: the next-boot kernel has no VMSCAPE mitigation")
        return finish("kernel_upgrade", None)

    # Choose the value (facts §6.3 - §6.5) or take the pinned one.
    if pol.mode == "auto":
        if cls.kind == "bhi" and boot.generation == G3 and bhi_ctrl is True:
            mode, value = "bhb", "on"
            reasons.append("BHI-only CPU with BHI_CTRL on a G3 kernel: vmscape=on selects BHB clear (~1% cost)")
        elif boot.listed is False:
            mode, value = "force", "force"
            reasons.append(
                f"the next-boot kernel's branch ({'.'.join(map(str, branch_of(parse_version(boot.version)) or ()))}) "
                "does not list this CPU: vmscape=force; a newer kernel (6.12+) is the better fix"
            )
        else:
            mode, value = "ibpb", "ibpb"
            if cls.kind == "bhi":
                if boot.generation != G3:
                    reasons.append(
                        "BHI-only CPU: BHB clear needs a kernel with the BHB series (G3); "
                        f"this {boot.generation} kernel offers IBPB only: vmscape=ibpb"
                    )
                elif bhi_ctrl is None:
                    reasons.append("BHI_CTRL could not be read: cannot promise BHB clear; vmscape=ibpb")
                else:
                    reasons.append("CPU does not enumerate BHI_CTRL: BHB clear unavailable; vmscape=ibpb")
            else:
                reasons.append("CPU affected by the BTB variant: vmscape=ibpb")
    else:
        mode, value = pol.mode, MODE_VALUE[pol.mode]
        reasons.append(f"vmscape_mode pinned to {pol.mode} by policy: vmscape={value}")
        if mode == "bhb" and (boot.generation != G3 or bhi_ctrl is not True):
            reasons.append("vmscape_mode bhb needs a G3 kernel and a CPU with BHI_CTRL; not applicable here")
            return finish("blocked", unchanged)

    plan["mode"] = mode
    new_params = [(n, v) for n, v in next_params if not _is(n, "vmscape")] + [("vmscape", value)]
    expected = predict(boot.generation, caps(boot), new_params, vmexit)
    targets = _target_for(value, vmexit)
    remove: list[str] = []
    if expected not in targets:
        eff = parse_effects(boot.generation, new_params)
        if eff.mitigations_off and pol.allow_remove_mitigations_off:
            trial = [(n, v) for n, v in new_params if not _is(n, "mitigations")]
            if predict(boot.generation, caps(boot), trial, vmexit) in targets:
                remove = ["mitigations"]
                new_params, expected = trial, predict(boot.generation, caps(boot), trial, vmexit)
                reasons.append("mitigations=off is removed as vmscape_allow_remove_mitigations_off allows")
    if expected not in targets:
        eff = parse_effects(boot.generation, new_params)
        if eff.mitigations_off:
            reasons.append(
                f"mitigations=off on this {boot.generation} kernel defeats vmscape={value}: reported, not changed "
                "(set vmscape_allow_remove_mitigations_off to remove it)"
            )
        elif not eff.guest_host_vector:
            reasons.append(
                f"attack-vector control no_guest_host gates vmscape={value} on this {boot.generation} kernel"
            )
        elif not has_ibpb and value != "on":
            reasons.append("the CPU lacks IBPB (old microcode): update the microcode first")
        else:
            reasons.append(f"vmscape={value} would give {expected!r} on this kernel")
        return finish("blocked", unchanged)

    plan["cmdline"] = {"vmscape": value}
    plan["cmdline_remove"] = remove
    vms = [v for n, v in next_params if _is(n, "vmscape")]
    plan["config_in_place"] = vms == [value] and not remove
    plan["next_boot_cmdline"] = " ".join(n if v is None else f"{n}={v}" for n, v in new_params)
    reasons.append(f"expect after boot: {expected!r}")
    return finish("set", expected)
