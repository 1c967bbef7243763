# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of fleetsec.vmscape.vmscape_upgrade: the upgrade stage (docs/upgrade.md).

The decisions are plugin_utils/_decide/upgrade.py's (pure); this plugin only runs the modules in order:
fleetsec.vmscape.kernel_packages (observe, probe), ansible.builtin.apt / ansible.builtin.dnf /
ansible.builtin.dnf5 / community.general.zypper (refresh, install), fleetsec.vmscape.boot_default,
fleetsec.vmscape.vmscape_facts (what boots next), and plans again for the new kernel.
"""

from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.fleetsec.vmscape.plugins.module_utils import _specs
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import upgrade as up
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import PlanError, make_plan
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.policy import MODES, PolicyError
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._observe.action_facts import (
    GATHERED,
    gather_facts,
    observed_facts,
)

ARGUMENT_SPEC = {
    "plan": {"type": "dict", "required": True},
    "facts": {"type": "dict", "required": True},
    **_specs.spec(root=_specs.ROOT),
    "enabled": {"type": "bool", "default": True},
    "microcode": {"type": "bool", "default": True},
    "package": {"type": "str", "default": ""},
    "version": {"type": "str", "default": ""},
    "refresh_cache": {"type": "bool", "default": True},
    "cache_valid_time": {"type": "int", "default": 3600},
    "lock_timeout": {"type": "int", "default": 120},
    "set_default": {"type": "bool", "default": True},
    "max_probes": {"type": "int", "default": 3},
    "tmpdir": {"type": "path", "default": "/var/tmp"},
    **_specs.spec(
        mode=_specs.MODE,
        allow_remove_mitigations_off=_specs.ALLOW_REMOVE_MITIGATIONS_OFF,
        probe_image=_specs.PROBE_IMAGE,
    ),
}
PACKAGES_MODULE = "fleetsec.vmscape.kernel_packages"
DEFAULT_MODULE = "fleetsec.vmscape.boot_default"


class _Fault(Exception):
    """A per-host failure of the stage; the host keeps booting what it booted."""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args["mode"] not in MODES:
            raise AnsibleActionFail(f"vmscape_mode / mode: {args['mode']!r} is not one of {', '.join(MODES)}")
        self._vars = task_vars
        self._args = args
        self._policy = {"mode": args["mode"], "allow_remove_mitigations_off": args["allow_remove_mitigations_off"]}
        self._t0 = time.monotonic()
        plan = args["plan"]
        # Only facts observed in this run, on this host, are decided on (a fact cache's are not:
        # _action_facts); otherwise they are observed again and the plan made again from them.
        obs = observed_facts(self, task_vars, args["facts"], args["root"], args["probe_image"])
        if obs["error"]:
            result.update(failed=True, msg=f"vmscape_upgrade: {obs['error']}")
            return result
        facts = obs["facts"]
        record = {
            "status": up.NOT_NEEDED,
            "check_mode": bool(self._task.check_mode),
            "kernel": None,
            "microcode": None,
            "reasons": [],
            "seconds": 0.0,
        }
        try:
            if obs["source"] == GATHERED:
                plan = make_plan(facts, self._policy)
                record["reasons"].append(obs["note"] or "facts observed again")
            outcome = self._stage(plan, facts, record)
        except _Fault as exc:
            record["status"] = up.FAILED
            record["reasons"].append(str(exc))
            record["seconds"] = round(time.monotonic() - self._t0, 1)
            msg = f"upgrade stage failed: {exc}"
            result.update(failed=True, msg=msg, upgrade=record, changed=bool(record.get("changed")))
            result["plan"] = dict(up.add_reason(plan, msg), upgrade=_summary(record))
            result["ansible_facts"] = {"vmscape_plan": result["plan"]}
            return result
        except (PlanError, PolicyError, up.UpgradeError) as exc:
            result.update(failed=True, msg=f"vmscape_upgrade: {exc}")
            return result
        new_plan, new_facts, changed = outcome
        record["seconds"] = round(time.monotonic() - self._t0, 1)
        new_plan = dict(new_plan, upgrade=_summary(record))
        result.update(changed=changed, upgrade=record, plan=new_plan)
        result["msg"] = f"{record['status']}: " + ("; ".join(record["reasons"]) or "nothing to do")
        # The record travels in the plan (plan.upgrade) and the task result, not as a fact of its
        # own: a fact named vmscape_upgrade would shadow the role variable of that name.
        result["ansible_facts"] = {"vmscape_plan": new_plan}
        if new_facts is not None:
            result["ansible_facts"]["vmscape"] = new_facts
        return result

    # --- helpers ---------------------------------------------------------------------------

    def _run(self, name, args):
        return self._execute_module(module_name=name, module_args=args, task_vars=self._vars)

    def _facts(self):
        facts, error = gather_facts(self, self._vars, self._args["root"], self._args["probe_image"])
        if error:
            raise _Fault(error)
        return facts

    def _report_only(self, plan, record, status, reason):
        record["status"] = status
        record["reasons"].append(reason)
        return up.add_reason(plan, reason), None, False

    # --- the stage -------------------------------------------------------------------------

    def _stage(self, plan, facts, record):
        args = self._args
        need_kernel = plan.get("action") == "kernel_upgrade"
        need_micro = (
            args["microcode"] and plan.get("action") == "blocked" and up.microcode_would_help(facts, self._policy)
        )
        if not (need_kernel or need_micro):
            return plan, None, False
        what = "kernel with VMSCAPE support" if need_kernel else "microcode with IBPB"
        if not args["enabled"]:
            return self._report_only(
                plan, record, up.DISABLED, f"a {what} is needed; upgrades are off (vmscape_upgrade: false)"
            )
        release = (facts.get("kernel") or {}).get("release")
        cpu = facts.get("cpu") or {}
        snapshot = args["root"] != "/"
        check = bool(self._task.check_mode)
        if args["refresh_cache"] and not check and not snapshot:
            self._refresh(record)
        spec = up.query_spec(release, cpu.get("vendor"))
        inv = self._run(PACKAGES_MODULE, {"state": "query", "root": args["root"], "release": release, "spec": spec})
        if inv.get("failed"):
            raise _Fault(f"asking the package manager failed: {inv.get('msg')}")
        inventory = inv["packages"]
        manager = inventory.get("manager")
        record["manager"] = manager
        if manager == "zypper":
            return self._report_only(plan, record, up.UNSUPPORTED, self._zypper_unsupported())
        changed = False
        new_facts = None
        if need_kernel:
            outcome = self._kernel(plan, facts, inventory, record, check, snapshot)
            if outcome is not None:
                return outcome
            changed = True
            new_facts = facts = self._facts()
            plan = make_plan(facts, self._policy)
            need_micro = args["microcode"] and up.microcode_would_help(facts, self._policy)
        if need_micro:
            micro = up.microcode_choice(facts, inventory)
            record["microcode"] = micro
            if micro["status"] != "install":
                record["reasons"].append(micro["reason"])
                if record["status"] == up.NOT_NEEDED:
                    record["status"] = up.NO_FIX
                return up.add_reason(plan, micro["reason"]), new_facts, changed
            if check or snapshot:
                reason = (
                    f"would install {micro['package']} {micro['version']}: the CPU lacks IBPB, which appears only "
                    "once the microcode loads at the next boot, so the final verdict depends on it"
                )
                record["status"] = up.WOULD_INSTALL
                record["reasons"].append(reason)
                return up.add_reason(plan, reason), new_facts, changed
            self._install(inventory, [(micro["package"], micro["version"])], record, facts)
            changed = True
            micro["installed"] = True
            plan = make_plan(up.with_ibpb(facts), self._policy)
            plan = up.add_reason(
                plan,
                f"{micro['package']} {micro['version']} installed: the plan assumes IBPB after the reboot "
                "(the verify stage checks that the CPU shows it)",
            )
            record["status"] = up.INSTALLED
            record["reasons"].append(f"installed {micro['package']} {micro['version']}")
            record["expects_ibpb"] = True
        k = record.get("kernel") or {}
        if k.get("after"):
            head = f"kernel upgrade: {k['before']} -> {k['after']} ({k['package']} {k['version']})"
            plan = dict(plan, reasons=[head, *plan["reasons"]])
        record["changed"] = changed
        return plan, new_facts, changed

    def _kernel(self, plan, facts, inventory, record, check, snapshot):
        """Choose, probe, install, make default. Returns an outcome tuple to stop, None when installed."""
        args = self._args
        release = (facts.get("kernel") or {}).get("release")
        boot_release = (facts.get("boot_kernel") or {}).get("release")
        policy = {"package": args["package"], "version": args["version"], "max_probes": args["max_probes"]}
        choice = up.choose(facts, inventory, policy)
        record["kernel"] = {
            "before": release,
            "next_boot_before": boot_release,
            "after": None,
            "family": choice["family"],
            "flavour": choice["flavour"],
            "candidates": choice["candidates"],
            "newest": choice["newest"],
        }
        record["reasons"].extend(choice["reasons"])
        if choice["unsupported"]:
            return self._report_only(plan, record, up.UNSUPPORTED, choice["unsupported"])
        if not choice["candidates"]:
            return self._report_only(
                plan,
                record,
                up.NO_FIX,
                "no fixed kernel in the configured repositories "
                f"(newest: {choice['newest'] or 'nothing of this flavour'})" + _lists_note(inventory, check),
            )
        want_g3 = (
            not (facts.get("cpu") or {}).get("hypervisor") and (facts.get("cpu") or {}).get("bhi_ctrl") is not False
        )
        carriers = up.carriers(choice["family"], choice["flavour"], release)
        probe_args = {
            "state": "probe",
            "root": args["root"],
            "candidates": choice["candidates"],
            "carriers": carriers,
            "download": not check,
            "want_g3": want_g3,
            "tmpdir": args["tmpdir"],
        }
        res = self._run(PACKAGES_MODULE, probe_args)
        if res.get("failed"):
            raise _Fault(f"probing candidate kernels failed: {res.get('msg')}")
        probes = res["probes"]
        record["kernel"]["probes"] = [_probe_summary(p) for p in probes]
        if check:
            first = next((p for p in probes if not p["errors"]), None)
            if first is None:
                reason = "; ".join(
                    f"{p['candidate']['package']} {p['candidate']['version']}: {'; '.join(p['errors'])}" for p in probes
                )
                return self._report_only(plan, record, up.NO_FIX, f"no installable kernel: {reason}")
            cand = first["candidate"]
            if cand.get("installed"):
                reason = (
                    f"would make the installed kernel {first.get('release')} ({cand['package']} {cand['version']}) "
                    "the next boot once its image is probed; the final verdict depends on it"
                )
            else:
                reason = (
                    f"would install {cand['package']} {cand['version']}"
                    + (f" (kernel {first['release']})" if first.get("release") else "")
                    + "; not downloaded in check mode: whether that kernel knows VMSCAPE is known only once its "
                    "image is probed, so the final verdict depends on it"
                )
            reason += _lists_note(inventory, check)
            record["kernel"]["would_install"] = {
                "package": cand["package"],
                "version": cand["version"],
                "release": first.get("release"),
            }
            if args["microcode"] and up.microcode_affected_without_ibpb(facts):
                micro = up.microcode_choice(facts, inventory)
                record["microcode"] = micro
                reason += (
                    f"; the CPU lacks IBPB: would also install {micro['package']} {micro['version']}"
                    if micro["status"] == "install"
                    else f"; {micro['reason']}"
                )
            record["status"] = up.WOULD_INSTALL
            record["reasons"].append(reason)
            return up.add_reason(plan, reason), None, False
        verdict = up.decide(choice, probes)
        if verdict["status"] == up.NO_FIX:
            return self._report_only(plan, record, up.NO_FIX, verdict["reason"])
        cand, probe = verdict["candidate"], verdict["probe"]
        record["reasons"].append(verdict["reason"])
        problem = up.boot_space_problem(inventory, probe)
        if problem:
            raise _Fault(f"{problem}; nothing installed, the host keeps booting {boot_release}")
        new_release = probe["release"]
        if snapshot:
            reason = (
                f"would install {up.describe(cand)} (probed: its kernel knows VMSCAPE); vmscape_root is a snapshot, "
                "nothing installed"
            )
            record["kernel"]["would_install"] = {
                "package": cand["package"],
                "version": cand["version"],
                "release": new_release,
            }
            record["status"] = up.WOULD_INSTALL
            record["reasons"].append(reason)
            return up.add_reason(plan, reason), None, False
        if not cand.get("installed"):
            self._install(inventory, [(cand["package"], cand["version"])], record, facts)
        record["kernel"].update(package=cand["package"], version=cand["version"], after=new_release)
        record["changed"] = True
        # the boot configuration must now boot the new kernel
        after = self._facts()
        now = (after.get("boot_kernel") or {}).get("release")
        if now != new_release:
            if not args["set_default"]:
                raise _Fault(
                    f"{cand['package']} {cand['version']} is installed but the next boot is still {now} "
                    "(the boot configuration pins it; vmscape_upgrade_set_default is false): the host keeps booting "
                    f"{now}; make {new_release} the default to finish"
                )
            res = self._run(DEFAULT_MODULE, {"release": new_release, "root": args["root"], "running": release})
            if res.get("failed"):
                raise _Fault(
                    f"{cand['package']} {cand['version']} is installed but does not become the default: "
                    f"{res.get('msg')}; "
                    f"the host keeps booting {now}"
                )
            record["kernel"]["default"] = {k: res.get(k) for k in ("method", "entry", "files", "backups", "previous")}
            after = self._facts()
            now = (after.get("boot_kernel") or {}).get("release")
            if now != new_release:
                raise _Fault(f"after boot_default the next boot is {now}, not {new_release}")
        knows = (after.get("boot_kernel") or {}).get("knows_vmscape")
        if knows is False:
            raise _Fault(
                f"the installed kernel {new_release} does not know VMSCAPE after all (probe of the installed image)"
            )
        record["status"] = up.INSTALLED
        done = "made the installed" if cand.get("installed") else "installed"
        record["reasons"].append(f"{done} {up.describe(cand)}; next boot: {new_release}")
        return None

    def _manager_module(self, manager):
        name = up.INSTALL_MODULES.get(manager)
        if name is None:
            raise _Fault(f"no install module for package manager {manager}")
        return name

    def _refresh(self, record):
        """Refresh the package lists. apt: only when the newest list file is older than
        cache_valid_time or there is none (apt's own cache_valid_time looks at the lists
        directory's mtime, which a host whose lists were emptied still passes)."""
        res = self._run(PACKAGES_MODULE, {"state": "query", "root": "/", "spec": {}})
        if res.get("failed"):
            raise _Fault(f"asking the package manager failed: {res.get('msg')}")
        info = res.get("packages") or {}
        manager = info.get("manager")
        if manager == "apt":
            age = info.get("lists_age_seconds")
            record["lists_age_seconds"] = age
            if age is not None and age < self._args["cache_valid_time"]:
                return
            args = {"update_cache": True, "lock_timeout": self._args["lock_timeout"]}
        elif manager in ("dnf", "dnf5", "yum"):
            args = {"update_cache": True, "lock_timeout": self._args["lock_timeout"]}
        else:
            return
        res = self._run(self._manager_module(manager), args)
        record["cache_updated"] = bool(res.get("cache_updated", res.get("changed")))
        if res.get("failed"):
            raise _Fault(f"refreshing the package lists failed ({_why(res)}); nothing installed")

    def _install(self, inventory, pkgs, record, facts):
        manager = inventory.get("manager")
        module = self._manager_module(manager)
        if manager == "apt":
            args = {
                "name": [f"{n}={v}" for n, v in pkgs],
                "state": "present",
                "lock_timeout": self._args["lock_timeout"],
            }
        elif manager == "zypper":
            args = {"name": [f"{n}={v}" for n, v in pkgs], "state": "present"}
        else:
            args = {
                "name": [f"{n}-{v}" for n, v in pkgs],
                "state": "present",
                "lock_timeout": self._args["lock_timeout"],
            }
        t0 = time.monotonic()
        res = self._run(module, args)
        record.setdefault("installs", []).append(
            {"module": module, "packages": [f"{n} {v}" for n, v in pkgs], "seconds": round(time.monotonic() - t0, 1)}
        )
        if res.get("failed"):
            boot = (facts.get("boot_kernel") or {}).get("release")
            try:
                now = (self._facts().get("boot_kernel") or {}).get("release")
            except _Fault:
                now = None
            keeps = (
                f"the host keeps booting {now}" if now == boot else f"WARNING: the next boot is now {now}, was {boot}"
            )
            raise _Fault(f"{module} could not install {', '.join(f'{n} {v}' for n, v in pkgs)}: {_why(res)}; {keeps}")

    def _zypper_unsupported(self):
        found = self._shared_loader_obj.module_loader.find_plugin_with_context("community.general.zypper")
        if not found.resolved:
            return (
                "unsupported package manager: zypper hosts are upgraded through community.general.zypper, "
                "which is not installed on the controller"
            )
        return (
            "unsupported package manager: zypper (community.general.zypper is present, but finding and probing "
            "kernel packages with zypper is not implemented; upgrade the kernel by hand)"
        )


def _lists_note(inventory: dict, check: bool) -> str:
    """In check mode the package lists are not refreshed: say how old they are."""
    if not check or inventory.get("manager") != "apt" or "lists_age_seconds" not in inventory:
        return ""
    age = inventory.get("lists_age_seconds")
    if age is None:
        return "; this host's package lists were never fetched and check mode does not refresh them"
    return f"; package lists as fetched {age // 3600} h {age % 3600 // 60} min ago (check mode does not refresh them)"


def _why(res) -> str:
    """What a package module's failure means, in the operator's words (message kept)."""
    msg = str(res.get("msg") or res.get("stderr") or "failed").strip()
    low = msg.lower() + " " + str(res.get("stderr") or "").lower()
    # apt: "Could not get lock ...", "Unable to acquire the dpkg frontend lock ..." (the only line
    # ansible.builtin.apt's msg keeps after DPkg::Lock::Timeout ran out, seen in the lab),
    # "Unable to lock directory ..."; dnf/rpm: "Failed to obtain the transaction lock", "can't
    # create transaction lock"
    if "lock" in low and (
        "could not get lock" in low
        or "unable to lock" in low
        or "unable to acquire the dpkg" in low
        or "failed to lock" in low
        or "lock timeout" in low
        or "transaction lock" in low
    ):
        return f"the package manager is locked by another process: {msg[:600]}"
    if (
        "failed to fetch" in low
        or "some index files failed" in low
        or "cannot download" in low
        or "failed to download" in low
    ):
        return f"a repository is unreachable or broken: {msg[:600]}"
    if "no space left" in low or "not enough free space" in low or "you don't have enough free space" in low:
        return f"not enough disk space: {msg[:600]}"
    return msg[:800]


def _probe_summary(p: dict) -> dict:
    return {
        "package": p["candidate"]["package"],
        "version": p["candidate"]["version"],
        "release": p.get("release"),
        "knows_vmscape": p.get("knows_vmscape"),
        "bhb_series": p.get("bhb_series"),
        "errors": p.get("errors"),
        "evidence": (p.get("evidence") or [])[-4:],
        "resolved": p.get("resolved"),
        "downloaded": p.get("downloaded"),
        "seconds": p.get("seconds"),
    }


def _summary(record: dict) -> dict:
    k = record.get("kernel") or {}
    m = record.get("microcode") or {}
    return {
        "status": record["status"],
        "kernel_before": k.get("before"),
        "kernel_after": k.get("after"),
        "package": k.get("package"),
        "version": k.get("version"),
        "microcode": m.get("package") if m.get("installed") else None,
        "expects_ibpb": bool(record.get("expects_ibpb")),
        "seconds": record.get("seconds"),
        "probe_seconds": round(sum(p.get("seconds") or 0 for p in k.get("probes") or []), 1),
        "install_seconds": round(sum(i.get("seconds") or 0 for i in record.get("installs") or []), 1),
    }
