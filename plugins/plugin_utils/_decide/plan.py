# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VMSCAPE decision: facts in, plan out. Pure (no I/O), controller side.

``make_plan(facts, policy)`` takes ``ansible_facts.vmscape`` (docs/facts-schema.md, checked by
``_decide.facts_schema``) and the operator policy and returns the plan fields of DESIGN.md. The
decision follows facts §6; what each question's answer rests on is ``_decide.evidence`` (the
evidence order of docs/DESIGN.md); the prediction of what a kernel prints is
``_decide.kernel_model.predict``; which kernels know what is ``_decide.kernel_table``.

Missing evidence never becomes a more confident answer. Every question the evidence leaves open
(a distribution backport's generation, whether a kernel's list has the CPU, whether retbleed/SRSO
use IBPB, guest or not, IBPB or not, BHI_CTRL) is a set of candidate answers; the plan predicts
the kernel's string in every combination ("world") and commits to a value only when all worlds
agree on what the kernel will print. Otherwise it is ``blocked``, naming what is missing.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import ACTIONS
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import evidence as ev
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.facts_schema import (
    Observed,
    PlanError,
    read_facts,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_model import (
    CpuCaps,
    parse_effects,
    predict,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import (
    BHB_EXIT,
    G3,
    IBPB_EXIT,
    IBPB_VMEXIT,
    VULNERABLE,
    classify_cpu,
)
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.policy import (
    MODE_VALUE,
    Policy,
    validate_policy,
)

__all__ = ["ACTIONS", "MITIGATED", "PlanError", "make_plan"]

MITIGATED = (IBPB_EXIT, IBPB_VMEXIT, BHB_EXIT)


def _is(name: str, key: str) -> bool:
    return name.replace("-", "_") == key


# --- worlds: every combination of the answers the evidence leaves open -------------------------


@dataclass(frozen=True)
class World:
    generation: str
    listed: bool
    hypervisor: bool
    ibpb: bool
    bhi_ctrl: bool
    vmexit: bool

    def outcome(self, params) -> str | None:
        caps = CpuCaps(listed=self.listed, hypervisor=self.hypervisor, ibpb=self.ibpb, bhi_ctrl=self.bhi_ctrl)
        return predict(self.generation, caps, params, self.vmexit)


_BOTH = (True, False)
# What each world variable is called in a reason, and which Answer it comes from.
_WHAT = {
    "generation": "which generation the kernel is",
    "listed": "whether the kernel's CPU list has this CPU",
    "hypervisor": "whether this is a guest",
    "ibpb": "whether the CPU has IBPB",
    "bhi_ctrl": "whether the CPU enumerates BHI_CTRL",
    "vmexit": "whether retbleed/SRSO use IBPB",
}


@dataclass(frozen=True)
class Unknowns:
    """The candidate values per world variable and the evidence behind each."""

    answers: dict  # variable -> ev.Answer

    def candidates(self, var: str) -> tuple:
        ans = self.answers[var]
        if var == "generation":
            return tuple(ans.value)
        return _BOTH if ans.value is None else (bool(ans.value),)

    def worlds(self) -> list[World]:
        names = list(_WHAT)
        return [
            World(**dict(zip(names, combo, strict=True)))
            for combo in itertools.product(*(self.candidates(n) for n in names))
        ]


def _outcomes(unknowns: Unknowns, params) -> dict:
    return {w: w.outcome(params) for w in unknowns.worlds()}


def _deciding(unknowns: Unknowns, outcomes: dict) -> list[str]:
    """The open variables whose answer changes the outcome (the missing evidence that matters)."""
    out = []
    for var in _WHAT:
        cands = unknowns.candidates(var)
        if len(cands) < 2:
            continue
        for world, result in outcomes.items():
            if any(outcomes[replace(world, **{var: c})] != result for c in cands):
                out.append(var)
                break
    return out


def _unknown_reason(unknowns: Unknowns, outcomes: dict, kernel: str) -> str:
    seen = sorted({str(v) if v is not None else "(no vmscape file)" for v in outcomes.values()})
    parts = [f"{_WHAT[v]}: {unknowns.answers[v].detail}" for v in _deciding(unknowns, outcomes)]
    return f"the {kernel} could print any of {', '.join(repr(s) for s in seen)}; unknown " + "; ".join(parts)


def _single(outcomes: dict):
    values = set(outcomes.values())
    return (True, values.pop()) if len(values) == 1 else (False, None)


# --- the plan ----------------------------------------------------------------------------------


def _targets(value: str, vmexit: bool) -> tuple[str, ...]:
    """The strings that count as success for a written value (facts §3)."""
    if value == "off":
        return (VULNERABLE, IBPB_VMEXIT) if vmexit else (VULNERABLE,)
    if vmexit:
        return (IBPB_VMEXIT,)
    return (BHB_EXIT,) if value == "on" else (IBPB_EXIT,)


def _cpu_summary(obs: Observed) -> dict:
    """The CPU as reports show it (vendor/family/model/stepping, hex like the kernel's lists)."""
    c = obs.cpu
    ident = "/".join(f"{v:#x}" if v is not None else "?" for v in (c.family, c.model))
    return {
        "vendor": c.vendor,
        "family": c.family,
        "model": c.model,
        "stepping": c.stepping,
        "id": ident + (f"/{c.stepping}" if c.stepping is not None else ""),
        "model_name": c.model_name,
        "microcode": c.microcode,
        "bhi_ctrl": c.bhi_ctrl,
        "ibpb": c.ibpb,
        "hypervisor": c.hypervisor,
    }


def _kernel_dict(view: ev.KernelEvidence) -> dict:
    gens = list(view.generations.value)
    return {
        "release": view.release,
        "version": view.version,
        "generation": "|".join(gens),
        "generations": gens,
        "knows_vmscape": view.knows.value,
        "lists_cpu": view.listed.value,
    }


def make_plan(facts: Mapping, policy: Mapping | Policy | None = None) -> dict:
    """Return the plan for one host; raises PlanError/PolicyError on bad input."""
    pol = policy if isinstance(policy, Policy) else validate_policy(policy)
    obs = read_facts(facts)
    cpu = obs.cpu

    same = ev.same_build(obs)
    running = ev.view(obs, running=True, same=same)
    boot = ev.view(obs, running=False, same=same)
    common = {
        "hypervisor": ev.cpu_flag(obs, "hypervisor"),
        "ibpb": ev.cpu_flag(obs, "ibpb"),
        "bhi_ctrl": ev.bhi_ctrl(obs),
        "vmexit": ev.ibpb_on_vmexit(obs),
    }
    run_unknowns = Unknowns({"generation": running.generations, "listed": running.listed, **common})
    boot_unknowns = Unknowns({"generation": boot.generations, "listed": boot.listed, **common})

    if cpu.family is None or cpu.model is None or cpu.vendor is None:
        missing = [
            k for k, v in (("vendor_id", cpu.vendor), ("cpu family", cpu.family), ("model", cpu.model)) if v is None
        ]
        cls_kind, cls_why = (
            "unknown",
            "CPU identity unknown: /proc/cpuinfo has no " + ", ".join(f"'{m}'" for m in missing) + " line",
        )
    else:
        cls = classify_cpu(cpu.vendor, cpu.family, cpu.model)
        cls_kind, cls_why = cls.kind, cls.why
    hypervisor = cpu.hypervisor
    reasons: list[str] = [cls_why + (" (running as a guest)" if hypervisor else "")]
    warnings: list[str] = []

    evidence = {
        "next_boot_is_running": same.as_dict(),
        "running_knows_vmscape": running.knows.as_dict(),
        "running_generation": running.generations.as_dict(),
        "running_lists_cpu": running.listed.as_dict(),
        "next_boot_knows_vmscape": boot.knows.as_dict(),
        "next_boot_generation": boot.generations.as_dict(),
        "next_boot_lists_cpu": boot.listed.as_dict(),
        "guest": common["hypervisor"].as_dict(),
        "ibpb": common["ibpb"].as_dict(),
        "bhi_ctrl": common["bhi_ctrl"].as_dict(),
        "ibpb_on_vmexit": common["vmexit"].as_dict(),
    }
    reasons.append(f"{running.name} knows VMSCAPE: {_yn(running.knows)}")
    if same.value is not True:
        reasons.append(same.detail)
        reasons.append(f"{boot.name} knows VMSCAPE: {_yn(boot.knows)}")

    # What the running kernel prints now, predicted without reading the vmscape file (facts §6).
    observed_raw = (obs.sysfs or {}).get("vmscape")
    observed_current = observed_raw.strip() if isinstance(observed_raw, str) else None
    predicted_current = None
    prediction_matches = None
    if obs.cmdline is None:
        reasons.append(f"cannot predict the running kernel's string: {obs.cmdline_reason}")
    else:
        run_out = _outcomes(run_unknowns, obs.cmdline)
        known, predicted_current = _single(run_out)
        if known:
            prediction_matches = predicted_current == observed_current
            if not prediction_matches and obs.sysfs is not None:
                warnings.append(
                    f"model disagrees with the running kernel: predicted {predicted_current!r}, "
                    f"kernel reports {observed_current!r}"
                )
        else:
            reasons.append(
                "cannot predict the running kernel's string: " + _unknown_reason(run_unknowns, run_out, running.name)
            )
    if common["vmexit"].value:
        reasons.append("retbleed or SRSO already uses IBPB: the kernel reports IBPB on VMEXIT (facts §3)")

    next_params = None
    if obs.next_cmdline is not None:
        next_params = [(n, v) for n, v in obs.next_cmdline if not _is(n, "BOOT_IMAGE")]

    plan = {
        "action": "none",
        "mode": "none",
        "cmdline": {},
        "cmdline_remove": [],
        "expected_sysfs": None,
        "predicted_current": predicted_current,
        "observed_current": observed_current,
        "prediction_matches": prediction_matches,
        "reboot_required": False,
        "compliant": False,
        "config_in_place": None,
        "reasons": reasons,
        "warnings": warnings,
        "cpu_class": "guest" if hypervisor else cls_kind,
        "cpu": _cpu_summary(obs),
        "kernels": {"running": _kernel_dict(running), "next_boot": _kernel_dict(boot)},
        "evidence": evidence,
        "observation_id": obs.observation_id,
        "policy": {"mode": pol.mode, "allow_remove_mitigations_off": pol.allow_remove_mitigations_off},
    }

    unchanged_known, unchanged, unchanged_why = False, None, None
    if next_params is None:
        unchanged_why = f"the next boot's kernel parameters are unknown ({obs.next_cmdline_reason})"
    elif boot.knows.value is None:
        unchanged_why = f"whether {boot.name} knows VMSCAPE is unknown ({boot.knows.detail})"
    else:
        unchanged_outcomes = _outcomes(boot_unknowns, next_params)
        unchanged_known, unchanged = _single(unchanged_outcomes)
        if not unchanged_known:
            unchanged_why = _unknown_reason(boot_unknowns, unchanged_outcomes, boot.name)

    def finish(action: str, expected: str | None) -> dict:
        plan["action"] = action
        if action == "none" and not unchanged_known and unchanged_why:
            reasons.append(f"what the next boot will print is unknown: {unchanged_why}")
        plan["expected_sysfs"] = expected
        if action in ("blocked", "kernel_upgrade") and plan["mode"] != "none":
            plan["wanted_mode"], plan["mode"] = plan["mode"], "none"
        if action in ("none", "set"):
            plan["compliant"] = observed_current == expected and observed_current is not None
            if action == "none" and expected is None and observed_current is None:
                plan["compliant"] = unchanged_known  # a kernel without the file, as predicted
        plan["reboot_required"] = action == "set" and observed_current != expected
        return plan

    # facts §6.1: guests and unaffected CPUs have nothing to do.
    if pol.mode == "none":
        reasons.append("vmscape_mode is none: the boot configuration is left alone")
        return finish("none", unchanged)
    if hypervisor and pol.mode == "auto":
        reasons.append("guest (hypervisor flag): the kernel never sets the bug in a guest; nothing to do")
        return finish("none", unchanged)
    if hypervisor is None and pol.mode == "auto":
        reasons.append(f"cannot tell a guest from bare metal ({cpu.flags_reason}); not changing anything")
        return finish("blocked", unchanged)
    if cls_kind == "unaffected" and pol.mode == "auto":
        reasons.append("CPU not affected: nothing to do")
        return finish("none", unchanged)
    if cls_kind == "unknown" and pol.mode == "auto":
        reasons.append("unknown CPU: cannot decide safely; pin vmscape_mode for this host after checking it")
        return finish("blocked", unchanged)

    # The next boot must be known, bootable and its parameters readable before anything changes.
    b = obs.boot
    if b.release is None or b.source_reason:
        reasons.append(f"the next-boot kernel is not known from the boot configuration: {b.source_reason}")
        return finish("blocked", None)
    if b.image_ok is False:
        reasons.append(f"never rebooting into {b.release}: " + "; ".join(b.image_problems))
        return finish("blocked", None)
    if next_params is None:
        reasons.append(f"the next boot's kernel parameters are unknown: {obs.next_cmdline_reason}")
        return finish("blocked", None)

    # facts §6.2: a kernel without VMSCAPE cannot be configured.
    if boot.knows.value is False:
        reasons.append(f"kernel upgrade required: the next-boot kernel has no VMSCAPE mitigation ({boot.knows.detail})")
        return finish("kernel_upgrade", None)
    if boot.knows.value is None:
        reasons.append(f"cannot tell whether {boot.name} knows VMSCAPE; not changing anything: {boot.knows.detail}")
        return finish("blocked", unchanged)

    gens = tuple(boot.generations.value)
    gen_text = "|".join(gens)
    # Choose the value (facts §6.3 - §6.5) or take the pinned one.
    if pol.mode == "auto":
        if cls_kind == "bhi" and gens == (G3,) and cpu.bhi_ctrl is True:
            mode, value = "bhb", "on"
            reasons.append("BHI-only CPU with BHI_CTRL on a G3 kernel: vmscape=on selects BHB clear (~1% cost)")
        elif boot.listed.value is False:
            mode, value = "force", "force"
            reasons.append(
                f"{boot.name} does not list this CPU ({boot.listed.detail}): vmscape=force; "
                "a newer kernel (6.12+) is the better fix"
            )
        elif boot.listed.value is None:
            # facts §3: force sets the bug whether or not the list has the CPU, so the outcome
            # does not depend on the list nobody could read.
            mode, value = "force", "force"
            reasons.append(
                f"whether {boot.name} lists this CPU is unknown ({boot.listed.detail}): "
                "vmscape=force mitigates either way"
            )
        else:
            mode, value = "ibpb", "ibpb"
            if cls_kind == "bhi":
                if G3 not in gens:
                    reasons.append(
                        "BHI-only CPU: BHB clear needs a kernel with the BHB series (G3); "
                        f"this {gen_text} kernel offers IBPB only: vmscape=ibpb"
                    )
                elif gens != (G3,):
                    reasons.append(f"BHI-only CPU: whether {boot.name} carries the BHB series is unknown: vmscape=ibpb")
                elif cpu.bhi_ctrl is None:
                    reasons.append(
                        f"BHI_CTRL could not be read ({cpu.bhi_ctrl_reason}): cannot promise BHB clear; vmscape=ibpb"
                    )
                else:
                    reasons.append("CPU does not enumerate BHI_CTRL: BHB clear unavailable; vmscape=ibpb")
            else:
                reasons.append("CPU affected by the BTB variant: vmscape=ibpb")
    else:
        mode, value = pol.mode, MODE_VALUE[pol.mode]
        reasons.append(f"vmscape_mode pinned to {pol.mode} by policy: vmscape={value}")
        if mode == "bhb" and (gens != (G3,) or cpu.bhi_ctrl is not True):
            reasons.append("vmscape_mode bhb needs a G3 kernel and a CPU with BHI_CTRL; not applicable here")
            return finish("blocked", unchanged)

    plan["mode"] = mode
    new_params = [(n, v) for n, v in next_params if not _is(n, "vmscape")] + [("vmscape", value)]

    def hits(params) -> tuple[dict, bool]:
        outs = _outcomes(boot_unknowns, params)
        return outs, all(out in _targets(value, w.vmexit) for w, out in outs.items())

    outcomes, ok = hits(new_params)
    remove: list[str] = []
    if not ok and pol.allow_remove_mitigations_off and parse_effects(gens[0], new_params).mitigations_off:
        trial = [(n, v) for n, v in new_params if not _is(n, "mitigations")]
        trial_outcomes, trial_ok = hits(trial)
        if trial_ok:
            remove, new_params, outcomes, ok = ["mitigations"], trial, trial_outcomes, True
            reasons.append("mitigations=off is removed as vmscape_allow_remove_mitigations_off allows")
    known, expected = _single(outcomes)
    if not known:
        reasons.append(f"vmscape={value}: " + _unknown_reason(boot_unknowns, outcomes, boot.name))
        return finish("blocked", unchanged)
    if not ok:
        eff = parse_effects(gens[0], new_params)
        if eff.mitigations_off:
            reasons.append(
                f"mitigations=off on this {gen_text} kernel defeats vmscape={value}: reported, not changed "
                "(set vmscape_allow_remove_mitigations_off to remove it)"
            )
        elif not eff.guest_host_vector:
            reasons.append(f"attack-vector control no_guest_host gates vmscape={value} on this {gen_text} kernel")
        elif cpu.ibpb is False and value != "on":
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


def _yn(answer: ev.Answer) -> str:
    word = {True: "yes", False: "no", None: "unknown"}[answer.value]
    return f"{word} ({answer.source}: {answer.detail})"
