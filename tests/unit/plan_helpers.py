"""Build ansible_facts.vmscape dictionaries (docs/facts-schema.md) for decision-core tests."""

from ansible_collections.fleetsec.vmscape.plugins.module_utils._cmdline import tokenize


def tokens(cmdline):
    toks, _init = tokenize(cmdline)
    return [t.as_dict() for t in toks]


def facts(
    vendor="GenuineIntel",
    family=6,
    model=85,
    hypervisor=False,
    ibpb=True,
    bhi_ctrl=False,
    bugs=(),
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
    boot_release = boot_release or release
    same = boot_release == release
    return {
        "schema": 1,
        "root": "/",
        "warnings": [],
        "cpu": {
            "vendor": vendor,
            "family": family,
            "model": model,
            "stepping": 4,
            "microcode": "0x1",
            "model_name": "test",
            "flags": ["fpu"] + (["ibpb"] if ibpb else []) + (["hypervisor"] if hypervisor else []),
            "bugs": list(bugs),
            "hypervisor": hypervisor,
            "ibpb": ibpb,
            "processors": 2,
            "sockets": 1,
            "identities_differ": False,
            "bhi_ctrl": bhi_ctrl,
            "bhi_ctrl_source": "cpuid_device",
            "bhi_ctrl_reason": None,
        },
        "kernel": {"release": release, "version": version, "version_source": "proc_version"},
        "boot_kernel": {
            "release": boot_release,
            "source": "grub_cfg",
            "is_running": same,
            "version": boot_version or version,
            "knows_vmscape": knows if boot_knows is None else boot_knows,
            "bhb_series": bhb if boot_bhb is None else boot_bhb,
            "evidence": [],
            "probe_errors": [],
        },
        "cmdline": {"raw": cmdline, "tokens": tokens(cmdline), "init_args": []},
        "sysfs": dict(sysfs or {}),
        "bootloader": {
            "backend": "grub",
            "configured_cmdline": boot_cmdline if boot_cmdline is not None else cmdline,
            "tokens": tokens(boot_cmdline if boot_cmdline is not None else cmdline),
        },
    }
