"""Build ansible_facts.vmscape dictionaries (docs/facts-schema.md) for decision-core tests."""

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import tokenize


def tokens(cmdline):
    toks, _init = tokenize(cmdline)
    return [t.as_dict() for t in toks]


ABSENT = object()  # a sysfs file that is not there

# What a kernel of 2025 always has next to vmscape (facts §3: retbleed and SRSO decide "IBPB on
# VMEXIT"); values as Debian 6.1 prints them on Skylake-SP and on AMD Zen 2.
BASE_SYSFS = {
    "GenuineIntel": {"retbleed": "Mitigation: IBRS", "spec_rstack_overflow": "Not affected"},
    "AuthenticAMD": {
        "retbleed": "Mitigation: untrained return thunk; SMT enabled with STIBP protection",
        "spec_rstack_overflow": "Mitigation: Safe RET",
    },
}


def facts(
    vendor="GenuineIntel",
    family=6,
    model=85,
    hypervisor=False,
    ibpb=True,
    bhi_ctrl=False,
    bugs=None,
    version="6.1.192",
    release="6.1.0-56-amd64",
    knows=True,
    bhb=False,
    cmdline="BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro quiet",
    boot_cmdline=None,
    sysfs=None,
    boot_release=None,
    boot_version=None,
    boot_knows=None,
    boot_bhb=None,
):
    """A schema-2 document. ``bugs=None``: no cpuinfo bugs line (the per-branch tables decide
    then). ``sysfs`` is laid over retbleed/SRSO strings that use no IBPB; a key set to ABSENT is
    dropped (that file is absent). When the running kernel knows VMSCAPE (``knows``) and ``sysfs``
    gives no vmscape string, the file is there but unreadable (null): its presence is evidence,
    its content unknown, and no test depends on a string this helper would have to invent."""
    boot_release = boot_release or release
    same = boot_release == release
    vulns = {**BASE_SYSFS.get(vendor, BASE_SYSFS["GenuineIntel"])}
    if knows:
        vulns["vmscape"] = None
    vulns.update(sysfs or {})
    vulns = {k: v for k, v in vulns.items() if v is not ABSENT}
    return {
        "schema": 2,
        "root": "/",
        "observation": {"id": "0" * 32, "time": 1764600000.0, "boot_id": None, "run": None, "host": None},
        "warnings": [],
        "cpu": {
            "vendor": vendor,
            "family": family,
            "model": model,
            "stepping": 4,
            "microcode": "0x1",
            "model_name": "test",
            "flags": ["fpu"] + (["ibpb"] if ibpb else []) + (["hypervisor"] if hypervisor else []),
            "flags_reason": None,
            "bugs": None if bugs is None else list(bugs),
            "bugs_reason": "/proc/cpuinfo: boot CPU has no 'bugs' line" if bugs is None else None,
            "hypervisor": hypervisor,
            "ibpb": ibpb,
            "processors": 2,
            "sockets": 1,
            "identities_differ": False,
            "bhi_ctrl": bhi_ctrl,
            "bhi_ctrl_source": "cpuid_device",
            "bhi_ctrl_reason": None,
        },
        "kernel": {
            "release": release,
            "version": version,
            "version_source": "proc_version",
            "proc_version": None,
            "distro_version": None,
        },
        "boot_kernel": {
            "release": boot_release,
            "source": "grub_cfg",
            "source_reason": None,
            "is_running": same,
            "image": f"/boot/vmlinuz-{boot_release}",
            "version": boot_version or version,
            "version_source": "image_header",
            "distro_version": None,
            "knows_vmscape": knows if boot_knows is None else boot_knows,
            "bhb_series": bhb if boot_bhb is None else boot_bhb,
            "config_mitigation_vmscape": None,
            "evidence": [],
            "probe_errors": [],
            "image_check": {"ok": True, "problems": [], "size": 8247232, "modules_dir": f"/lib/modules/{boot_release}"},
        },
        "cmdline": {"raw": cmdline, "tokens": tokens(cmdline), "init_args": [], "reason": None},
        "sysfs": vulns,
        "sysfs_reason": None,
        "bootloader": {
            "backend": "grub",
            "configured_cmdline": boot_cmdline if boot_cmdline is not None else cmdline,
            "configured_cmdline_reason": None,
            "tokens": tokens(boot_cmdline if boot_cmdline is not None else cmdline),
        },
    }
