"""Snapshot roots of distribution-kernel hypervisor hosts (tests/data/distros, README.md there).

Each root is what vmscape_facts reads on such a host: the distribution's release string,
/proc/version (and Ubuntu's /proc/version_signature), the /boot layout and boot loader files it
installs, its modules directory, the CPU's cpuinfo/cpuid and the vulnerabilities directory with
what the running kernel prints. Kernel images are structurally real (x86 boot header, compressed
ELF vmlinux carrying the kernel's strings), built by facts_fixtures; System.map files list the
symbols facts §5 names. Sources per host: tests/data/distros/README.md.

Regenerate (deterministic, compared by test_distro_snapshots.py):
    .venv/bin/python tests/unit/distro_fixtures.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

from facts_fixtures import (
    CPUINFO,
    G1_STRINGS,
    MODULES_DEP,
    OLD_STRINGS,
    compress,
    cpuid_file,
    grubenv,
    make_bzimage,
    make_elf,
    system_map,
    vendor_regs,
    write,
)

DISTROS = Path(__file__).resolve().parents[2] / "tests" / "data" / "distros"
IBPB_EXIT = "Mitigation: IBPB before exit to userspace"
VULN = "sys/devices/system/cpu/vulnerabilities/"

# --- CPUs (flags lines from the real captures in tests/data/facts/cpuinfo) ---------------------


def _flags(name: str) -> str:
    for line in (CPUINFO / name).read_text().splitlines():
        if line.startswith("flags"):
            return line.split(":", 1)[1].strip()
    raise ValueError(name)


SKX_FLAGS = _flags("intel-skylake-sp-2s.txt")
GENOA_FLAGS = _flags("amd-epyc-genoa.txt")
# Sapphire Rapids / Granite Rapids / Ice Lake-SP: the Raptor Lake capture's flags plus what those
# server parts add (AMX on SPR/GNR, avx512 everywhere), as /proc/cpuinfo prints them.
SPR_FLAGS = _flags("intel-raptorlake.txt") + " avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8 avx_vnni"
ICX_FLAGS = _flags("intel-skylake-sp-2s.txt").replace(" pti", "") + " avx512ifma avx512vbmi umip avx512_vbmi2 gfni vaes"
ZEN5_FLAGS = GENOA_FLAGS + " avx_vnni avx512_vp2intersect movdiri movdir64b"
MILAN_FLAGS = GENOA_FLAGS.replace(" avx512f", "").replace(" la57", "")


def cpuinfo(vendor, family, model, stepping, microcode, name, flags, bugs, nproc=4, bugs_line=True) -> str:
    out = []
    for i in range(nproc):
        lines = [
            f"processor\t: {i}",
            f"vendor_id\t: {vendor}",
            f"cpu family\t: {family}",
            f"model\t\t: {model}",
            f"model name\t: {name}",
            f"stepping\t: {stepping}",
            f"microcode\t: {microcode}",
            "cpu MHz\t\t: 2400.000",
            f"physical id\t: {i // 2}",
            f"siblings\t: {nproc // 2}",
            f"core id\t\t: {i % 2}",
            f"cpu cores\t: {nproc // 2}",
            "fpu\t\t: yes",
            "cpuid level\t: 32",
            f"flags\t\t: {flags}",
        ]
        if bugs_line:
            lines.append(f"bugs\t\t: {' '.join(bugs)}")
        lines += ["bogomips\t: 4800.00", "clflush size\t: 64", "address sizes\t: 46 bits physical, 57 bits virtual", ""]
        out.append("\n".join(lines))
    return "\n".join(out) + "\n"


# CPUID leaf 7 subleaf 0 (EAX = max subleaf, EBX/ECX/EDX feature bits) as these parts report it.
LEAF7_SKX = (0, 0xD39FFFFB, 0x00000008, 0xBC000400)  # Skylake-SP / Cascade Lake: max subleaf 0
LEAF7_ICX = (0, 0xF3BFFFFB, 0x40417F5E, 0xBC040412)  # Ice Lake-SP: max subleaf 0
LEAF7_ZEN = (1, 0xF1BF97A9, 0x00405FCE, 0x00000010)  # Zen 3/4/5: max subleaf 1


def cpuid(root: Path, vendor: str, leaf7: tuple | None):
    """/dev/cpu/0/cpuid holding leaf 0 and leaf 7.0; a max subleaf < 2 means no BHI_CTRL (facts §5).
    For BHI_CTRL parts (``leaf7`` None) nothing is written: their subleaf-2 record sits at file
    offset 2 << 32, a sparse 8 GiB file git cannot keep, and a snapshot taken without the cpuid
    driver loaded has no device either (bhi_ctrl is then null, with the reason)."""
    if leaf7 is not None:
        cpuid_file(root / "dev/cpu/0/cpuid", {(0, 0): vendor_regs(vendor, 0x20), (7, 0): leaf7})


def vulns(root: Path, values: dict):
    for name, value in values.items():
        write(root, VULN + name, value + "\n")


COMMON_INTEL = {
    "itlb_multihit": "KVM: Mitigation: Split huge pages",
    "spec_store_bypass": "Mitigation: Speculative Store Bypass disabled via prctl",
    "spectre_v1": "Mitigation: usercopy/swapgs barriers and __user pointer sanitization",
    "srbds": "Not affected",
}
SKX_VULNS = {
    **COMMON_INTEL,
    "l1tf": "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable",
    "mds": "Mitigation: Clear CPU buffers; SMT vulnerable",
    "meltdown": "Mitigation: PTI",
    "mmio_stale_data": "Mitigation: Clear CPU buffers; SMT vulnerable",
    "retbleed": "Mitigation: IBRS",
    "spec_rstack_overflow": "Not affected",
    "spectre_v2": "Mitigation: IBRS; IBPB: conditional; STIBP: conditional; RSB filling; PBRSB-eIBRS: Not affected;"
    " BHI: Not affected",
    "tsx_async_abort": "Mitigation: TSX disabled",
    "gather_data_sampling": "Mitigation: Microcode",
}
SPR_VULNS = {
    **COMMON_INTEL,
    "l1tf": "Not affected",
    "mds": "Not affected",
    "meltdown": "Not affected",
    "mmio_stale_data": "Not affected",
    "retbleed": "Not affected",
    "spec_rstack_overflow": "Not affected",
    "spectre_v2": "Mitigation: Enhanced / Automatic IBRS; IBPB: conditional; RSB filling; PBRSB-eIBRS: SW sequence;"
    " BHI: BHI_DIS_S",
    "tsx_async_abort": "Not affected",
    "gather_data_sampling": "Not affected",
    "reg_file_data_sampling": "Not affected",
}
ICX_VULNS = {
    **SPR_VULNS,
    "mmio_stale_data": "Mitigation: Clear CPU buffers; SMT vulnerable",
    "gather_data_sampling": "Mitigation: Microcode",
    "spectre_v2": "Mitigation: Enhanced / Automatic IBRS; IBPB: conditional; RSB filling; PBRSB-eIBRS: SW sequence;"
    " BHI: SW loop, KVM: SW loop",
}
AMD_VULNS = {
    "itlb_multihit": "Not affected",
    "l1tf": "Not affected",
    "mds": "Not affected",
    "meltdown": "Not affected",
    "mmio_stale_data": "Not affected",
    "retbleed": "Not affected",
    "spec_rstack_overflow": "Mitigation: Safe RET",
    "spec_store_bypass": "Mitigation: Speculative Store Bypass disabled via prctl",
    "spectre_v1": "Mitigation: usercopy/swapgs barriers and __user pointer sanitization",
    "spectre_v2": "Mitigation: Enhanced / Automatic IBRS; IBPB: conditional; STIBP: always-on; RSB filling;"
    " PBRSB-eIBRS: Not affected; BHI: Not affected",
    "srbds": "Not affected",
    "tsx_async_abort": "Not affected",
    "gather_data_sampling": "Not affected",
}
SKX_BUGS = (
    "cpu_meltdown spectre_v1 spectre_v2 spec_store_bypass l1tf mds swapgs taa itlb_multihit mmio_stale_data retbleed"
    " gds bhi"
)
SPR_BUGS = "spectre_v1 spectre_v2 spec_store_bypass swapgs eibrs_pbrsb bhi"
AMD_BUGS = "sysret_ss_attrs spectre_v1 spectre_v2 spec_store_bypass srso"
ICX_BUGS = "spectre_v1 spectre_v2 spec_store_bypass swapgs mmio_stale_data eibrs_pbrsb gds bhi"


# --- kernels ---------------------------------------------------------------------------------


def kernel_files(root: Path, rel: str, header: str, knows: bool, config_sym: bool = True, banner: str | None = None):
    """/boot/vmlinuz, System.map (real: the symbols), config, initrd, and the modules directory."""
    strings = G1_STRINGS if knows else OLD_STRINGS
    write(root, f"boot/vmlinuz-{rel}", make_bzimage(compress("gzip", make_elf(strings, banner=banner)), header))
    syms = ["vmscape_select_mitigation", "vmscape_parse_cmdline"] if knows else ["retbleed_select_mitigation"]
    write(root, f"boot/System.map-{rel}", system_map(syms))
    cfg = "CONFIG_CPU_MITIGATIONS=y\nCONFIG_MITIGATION_SRSO=y\n"
    if knows and config_sym:
        cfg += "CONFIG_MITIGATION_VMSCAPE=y\n"
    write(
        root,
        f"boot/config-{rel}",
        f"#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86_64 {rel} Kernel Configuration\n#\n{cfg}",
    )
    write(root, f"lib/modules/{rel}/modules.dep", MODULES_DEP)


def running(root: Path, rel: str, proc_version: str, cmdline: str, signature: str | None = None):
    write(root, "proc/sys/kernel/osrelease", rel + "\n")
    write(root, "proc/version", proc_version + "\n")
    write(root, "proc/cmdline", cmdline + "\n")
    if signature:
        write(root, "proc/version_signature", signature + "\n")


def ubuntu_grub(root: Path, uuid: str, entries: list[tuple[str, str]], distributor: str = "Ubuntu"):
    """grub.cfg as grub-mkconfig writes it on Ubuntu/Debian-family hosts: a first entry for the
    newest kernel, the advanced submenu with every kernel (and recovery entries)."""
    rel0, args0 = entries[0]
    lines = [
        "### BEGIN /etc/grub.d/00_header ###",
        "if [ -s $prefix/grubenv ]; then",
        "  set have_grubenv=true",
        "  load_env",
        "fi",
        'if [ "${next_entry}" ] ; then',
        '   set default="${next_entry}"',
        "   set next_entry=",
        "   save_env next_entry",
        "   set boot_once=true",
        "else",
        '   set default="0"',
        "fi",
        'if [ x"${feature_menuentry_id}" = xy ]; then',
        '  menuentry_id_option="--id"',
        "else",
        '  menuentry_id_option=""',
        "fi",
        "export menuentry_id_option",
        "### END /etc/grub.d/00_header ###",
        "### BEGIN /etc/grub.d/10_linux ###",
        f"menuentry '{distributor}' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option"
        f" 'gnulinux-simple-{uuid}' {{",
        "\trecordfail",
        "\tload_video",
        "\tinsmod gzio",
        f"\tsearch --no-floppy --fs-uuid --set=root {uuid}",
        f"\tlinux\t/boot/vmlinuz-{rel0} root=UUID={uuid} ro {args0}",
        f"\tinitrd\t/boot/initrd.img-{rel0}",
        "}",
        f"submenu 'Advanced options for {distributor}' $menuentry_id_option 'gnulinux-advanced-{uuid}' {{",
    ]
    for rel, args in entries:
        for kind, extra in (("advanced", args), ("recovery", "nomodeset dis_ucode_ldr")):
            title = f"{distributor}, with Linux {rel}" + (" (recovery mode)" if kind == "recovery" else "")
            lines += [
                f"\tmenuentry '{title}' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option"
                f" 'gnulinux-{rel}-{kind}-{uuid}' {{",
                f"\t\tlinux\t/boot/vmlinuz-{rel} root=UUID={uuid} ro {extra}",
                f"\t\tinitrd\t/boot/initrd.img-{rel}",
                "\t}",
            ]
    lines += ["}", "### END /etc/grub.d/10_linux ###", ""]
    write(root, "boot/grub/grub.cfg", "\n".join(lines))
    write(root, "boot/grub/grubenv", grubenv())
    for rel, _args in entries:
        write(root, f"boot/initrd.img-{rel}", b"")


BLS_GRUB_CFG = (
    "### BEGIN /etc/grub.d/00_header ###\nset pager=1\n\nif [ -f ${config_directory}/grubenv ]; then\n"
    "  load_env -f ${config_directory}/grubenv\nelif [ -s $prefix/grubenv ]; then\n  load_env\nfi\n"
    'if [ "${next_entry}" ] ; then\n   set default="${next_entry}"\n   set next_entry=\n   save_env next_entry\n'
    '   set boot_once=true\nelse\n   set default="${saved_entry}"\nfi\n### END /etc/grub.d/00_header ###\n\n'
    "### BEGIN /etc/grub.d/10_linux ###\ninsmod part_gpt\ninsmod xfs\nset root='hd0,gpt2'\ninsmod blscfg\nblscfg\n"
    "### END /etc/grub.d/10_linux ###\n"
)


def bls(root: Path, mid: str, rel: str, title: str, options: str):
    write(
        root,
        f"boot/loader/entries/{mid}-{rel}.conf",
        f"title {title}\nversion {rel}\nlinux /vmlinuz-{rel}\ninitrd /initramfs-{rel}.img $tuned_initrd\n"
        f"options {options}\ngrub_users $grub_users\ngrub_arg --unrestricted\ngrub_class kernel\n",
    )
    write(root, f"boot/initramfs-{rel}.img", b"")


def fresh(name: str, base: Path) -> Path:
    root = base / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    return root


# --- the hosts -------------------------------------------------------------------------------


def ubuntu2204_ga(base: Path = DISTROS) -> Path:
    """Ubuntu 22.04 GA kernel 5.15 (stable base 5.15.189, before the 5.15.193 backport: VMSCAPE is
    Ubuntu's own backport) on a Skylake-SP hypervisor, mitigated, booting the same kernel again."""
    root = fresh("ubuntu2204-ga-skylake", base)
    rel, uuid = "5.15.0-160-generic", "0d1f6c55-3d5e-4c1b-9a33-5e2c4b7a9f10"
    running(
        root,
        rel,
        f"Linux version {rel} (buildd@lcy02-amd64-086) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04.2) 11.4.0, GNU ld (GNU"
        " Binutils for Ubuntu) 2.38) #170-Ubuntu SMP Fri Oct 10 14:41:55 UTC 2025",
        f"BOOT_IMAGE=/boot/vmlinuz-{rel} root=UUID={uuid} ro",
        signature="Ubuntu 5.15.0-160.170-generic 5.15.189",
    )
    write(
        root,
        "proc/cpuinfo",
        cpuinfo(
            "GenuineIntel",
            6,
            85,
            4,
            "0x2007006",
            "Intel(R) Xeon(R) Gold 6138 CPU @ 2.00GHz",
            SKX_FLAGS,
            [*SKX_BUGS.split(), "vmscape"],
        ),
    )
    cpuid(root, "GenuineIntel", LEAF7_SKX)
    vulns(root, {**SKX_VULNS, "vmscape": IBPB_EXIT})
    kernel_files(
        root,
        rel,
        f"{rel} (buildd@lcy02-amd64-086) #170-Ubuntu SMP Fri Oct 10 14:41:55 UTC 2025",
        True,
        banner=f"Linux version {rel} (buildd@lcy02-amd64-086) #170-Ubuntu SMP (Ubuntu 5.15.0-160.170-generic 5.15.189)",
    )
    ubuntu_grub(root, uuid, [(rel, "")])
    return root


def ubuntu2204_hwe(base: Path = DISTROS) -> Path:
    """Ubuntu 22.04 with the HWE 6.8 kernel (version_signature 6.8.12: no stable branch of the facts
    document) on AMD EPYC Genoa (family 0x19), mitigated."""
    root = fresh("ubuntu2204-hwe-genoa", base)
    rel, uuid = "6.8.0-85-generic", "7a0e8d33-1b52-4f6e-8e4a-2c9d1b5e6f70"
    running(
        root,
        rel,
        f"Linux version {rel} (buildd@lcy02-amd64-101) (x86_64-linux-gnu-gcc-12 (Ubuntu 12.3.0-1ubuntu1~22.04.2)"
        " 12.3.0, GNU ld (GNU Binutils for Ubuntu) 2.38) #85~22.04.1-Ubuntu SMP PREEMPT_DYNAMIC Mon Sep 22 10:12:35"
        " UTC 2",
        f"BOOT_IMAGE=/boot/vmlinuz-{rel} root=UUID={uuid} ro",
        signature="Ubuntu 6.8.0-85.85~22.04.1-generic 6.8.12",
    )
    write(
        root,
        "proc/cpuinfo",
        cpuinfo(
            "AuthenticAMD",
            25,
            17,
            1,
            "0xa101154",
            "AMD EPYC 9654 96-Core Processor",
            GENOA_FLAGS,
            [*AMD_BUGS.split(), "vmscape"],
        ),
    )
    cpuid(root, "AuthenticAMD", LEAF7_ZEN)
    vulns(root, {**AMD_VULNS, "vmscape": IBPB_EXIT})
    kernel_files(root, rel, f"{rel} (buildd@lcy02-amd64-101) #85~22.04.1-Ubuntu SMP PREEMPT_DYNAMIC", True)
    ubuntu_grub(root, uuid, [(rel, "")])
    return root


def ubuntu2404_update(base: Path = DISTROS) -> Path:
    """Ubuntu 24.04 on Sapphire Rapids (BHI_CTRL), running 6.8.0-79 from before the VMSCAPE update
    (no vmscape file), the updated 6.8.0-87 installed and first in GRUB's menu (USN-7861-1)."""
    root = fresh("ubuntu2404-update-sapphirerapids", base)
    old, new, uuid = "6.8.0-79-generic", "6.8.0-87-generic", "3c5b1e2a-6f4d-4a8b-b2c7-9d0e1f2a3b4c"
    running(
        root,
        old,
        f"Linux version {old} (buildd@lcy02-amd64-064) (x86_64-linux-gnu-gcc-13 (Ubuntu 13.3.0-6ubuntu2~24.04)"
        " 13.3.0, GNU ld (GNU Binutils for Ubuntu) 2.42) #79-Ubuntu SMP PREEMPT_DYNAMIC Tue Aug 12 14:42:46 UTC 2025",
        f"BOOT_IMAGE=/boot/vmlinuz-{old} root=UUID={uuid} ro",
        signature="Ubuntu 6.8.0-79.79-generic 6.8.12",
    )
    write(
        root,
        "proc/cpuinfo",
        cpuinfo(
            "GenuineIntel", 6, 143, 8, "0x2b000639", "Intel(R) Xeon(R) Platinum 8480+", SPR_FLAGS, SPR_BUGS.split()
        ),
    )
    cpuid(root, "GenuineIntel", None)
    vulns(root, SPR_VULNS)  # 6.8.0-79 predates the update: no vmscape file
    kernel_files(root, old, f"{old} (buildd@lcy02-amd64-064) #79-Ubuntu SMP PREEMPT_DYNAMIC", False)
    kernel_files(root, new, f"{new} (buildd@lcy02-amd64-027) #88-Ubuntu SMP PREEMPT_DYNAMIC", True)
    ubuntu_grub(root, uuid, [(new, ""), (old, "")])
    return root


def rhel8(base: Path = DISTROS) -> Path:
    """RHEL 8.10 on Cascade Lake, kernelopts in grubenv (EL8 BLS) with mitigations=off."""
    root = fresh("rhel8-cascadelake-mitigations-off", base)
    rel, mid = "4.18.0-553.82.1.el8_10.x86_64", "8e4a2b6c9d0f41a7b3c5d7e9f1a2b3c4"
    opts = (
        "root=/dev/mapper/rhel-root ro crashkernel=auto resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root"
        " rd.lvm.lv=rhel/swap mitigations=off"
    )
    running(
        root,
        rel,
        f"Linux version {rel} (mockbuild@x86-vm-07.build.eng.bos.redhat.com) (gcc version 8.5.0 20210514 (Red Hat"
        " 8.5.0-28) (GCC)) #1 SMP Wed Oct 22 05:23:11 EDT 2025",
        f"BOOT_IMAGE=(hd0,msdos1)/vmlinuz-{rel} {opts}",
    )
    write(
        root,
        "proc/cpuinfo",
        cpuinfo(
            "GenuineIntel",
            6,
            85,
            7,
            "0x5003707",
            "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
            SKX_FLAGS,
            [*SKX_BUGS.split(), "vmscape"],
        ),
    )
    cpuid(root, "GenuineIntel", LEAF7_SKX)
    vulns(
        root,
        {
            **{k: "Vulnerable" for k in ("mds", "meltdown", "l1tf", "mmio_stale_data", "retbleed", "spectre_v2")},
            "spec_rstack_overflow": "Not affected",
            "vmscape": "Vulnerable",
        },
    )
    kernel_files(
        root, rel, f"{rel} (mockbuild@x86-vm-07.build.eng.bos.redhat.com) #1 SMP Wed Oct 22 05:23:11 EDT 2025", True
    )
    write(root, "boot/grub2/grub.cfg", BLS_GRUB_CFG)
    write(root, "boot/grub2/grubenv", grubenv(saved_entry=f"{mid}-{rel}", kernelopts=opts, boot_success="1"))
    bls(root, mid, rel, f"Red Hat Enterprise Linux ({rel}) 8.10 (Ootpa)", "$kernelopts $tuned_params")
    return root


def rhel9(base: Path = DISTROS) -> Path:
    """RHEL 9.6 on AMD Genoa, mitigated; a 9.7 kernel update staged (grubenv saved_entry)."""
    root = fresh("rhel9-genoa-update-staged", base)
    old, new, mid = "5.14.0-570.62.1.el9_6.x86_64", "5.14.0-611.5.1.el9_7.x86_64", "2b7d9f1e3c5a4e6b8d0f2a4c6e8b0d2f"
    opts = "root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M rd.lvm.lv=rhel/root"
    running(
        root,
        old,
        f"Linux version {old} (mockbuild@x86-64-01.build.eng.rdu2.redhat.com) (gcc (GCC) 11.5.0 20240719 (Red Hat"
        " 11.5.0-5), GNU ld version 2.35.2-63.el9) #1 SMP PREEMPT_DYNAMIC Thu Oct 16 11:30:23 EDT 2025",
        f"BOOT_IMAGE=(hd0,gpt2)/vmlinuz-{old} {opts}",
    )
    write(
        root,
        "proc/cpuinfo",
        cpuinfo(
            "AuthenticAMD",
            25,
            17,
            1,
            "0xa101154",
            "AMD EPYC 9654 96-Core Processor",
            GENOA_FLAGS,
            [*AMD_BUGS.split(), "vmscape"],
        ),
    )
    cpuid(root, "AuthenticAMD", LEAF7_ZEN)
    vulns(root, {**AMD_VULNS, "vmscape": IBPB_EXIT})
    for rel, date in ((old, "Thu Oct 16 11:30:23 EDT 2025"), (new, "Tue Nov 11 09:02:41 EST 2025")):
        kernel_files(
            root, rel, f"{rel} (mockbuild@x86-64-01.build.eng.rdu2.redhat.com) #1 SMP PREEMPT_DYNAMIC {date}", True
        )
        bls(
            root,
            mid,
            rel,
            f"Red Hat Enterprise Linux ({rel}) 9.{6 if rel == old else 7} (Plow)",
            f"{opts} $tuned_params",
        )
    write(root, "boot/grub2/grub.cfg", BLS_GRUB_CFG)
    write(root, "boot/grub2/grubenv", grubenv(saved_entry=f"{mid}-{new}", boot_success="1"))
    return root


def rhel10(base: Path = DISTROS) -> Path:
    """RHEL 10.0 (6.12.0: before the 6.12.47 stable backport) on Granite Rapids with BHI_CTRL."""
    root = fresh("rhel10-graniterapids", base)
    rel, mid = "6.12.0-55.40.1.el10_0.x86_64", "5d1e3f7a9b2c4d6e8f0a1b3c5d7e9f0a"
    opts = "root=/dev/mapper/rhel-root ro crashkernel=2G-64G:256M,64G-:512M rd.lvm.lv=rhel/root"
    running(
        root,
        rel,
        f"Linux version {rel} (mockbuild@x86-64-05.build.eng.rdu2.redhat.com) (gcc (GCC) 14.2.1 20250110 (Red Hat"
        " 14.2.1-7), GNU ld version 2.41-53.el10) #1 SMP PREEMPT_DYNAMIC Tue Oct 21 08:11:42 EDT 2025",
        f"BOOT_IMAGE=(hd0,gpt2)/vmlinuz-{rel} {opts}",
    )
    write(
        root,
        "proc/cpuinfo",
        cpuinfo(
            "GenuineIntel", 6, 173, 1, "0x10003a2", "Intel(R) Xeon(R) 6972P", SPR_FLAGS, [*SPR_BUGS.split(), "vmscape"]
        ),
    )
    cpuid(root, "GenuineIntel", None)
    vulns(root, {**SPR_VULNS, "vmscape": IBPB_EXIT})
    kernel_files(root, rel, f"{rel} (mockbuild@x86-64-05.build.eng.rdu2.redhat.com) #1 SMP PREEMPT_DYNAMIC", True)
    bls(root, mid, rel, f"Red Hat Enterprise Linux ({rel}) 10.0 (Coughlan)", f"{opts} $tuned_params")
    write(root, "boot/grub2/grub.cfg", BLS_GRUB_CFG)
    write(root, "boot/grub2/grubenv", grubenv(saved_entry=f"{mid}-{rel}", boot_success="1"))
    return root


def sles15sp6(base: Path = DISTROS) -> Path:
    """SLES 15 SP6 (6.4.0 base) on AMD Turin (Zen 5, family 0x1a), GRUB_DEFAULT=saved as SUSE ships it."""
    root = fresh("sles15sp6-turin", base)
    rel, uuid = "6.4.0-150600.23.73-default", "9f2e4d6c-8b0a-4c1e-a3f5-7d9b1e3c5a70"
    running(
        root,
        rel,
        f"Linux version {rel} (geeko@buildhost) (gcc (SUSE Linux) 7.5.0, GNU ld (GNU Binutils; SUSE Linux Enterprise"
        " 15) 2.43.1.20241209-150100.7.52) #1 SMP PREEMPT_DYNAMIC Thu Oct  9 07:56:12 UTC 2025 (c3e5b8a)",
        f"BOOT_IMAGE=/boot/vmlinuz-{rel} root=UUID={uuid} splash=silent mitigations=auto quiet security=apparmor",
    )
    write(
        root,
        "proc/cpuinfo",
        cpuinfo(
            "AuthenticAMD",
            26,
            2,
            1,
            "0xb002116",
            "AMD EPYC 9655 96-Core Processor",
            ZEN5_FLAGS,
            [*AMD_BUGS.split(), "vmscape"],
        ),
    )
    cpuid(root, "AuthenticAMD", LEAF7_ZEN)
    vulns(root, {**AMD_VULNS, "vmscape": IBPB_EXIT})
    kernel_files(
        root, rel, f"{rel} (geeko@buildhost) #1 SMP PREEMPT_DYNAMIC Thu Oct  9 07:56:12 UTC 2025 (c3e5b8a)", True
    )
    args = "splash=silent mitigations=auto quiet security=apparmor"
    title = "SLES 15-SP6"
    cfg = [
        "### BEGIN /etc/grub.d/00_header ###",
        "if [ -s $prefix/grubenv ]; then",
        "  load_env",
        "fi",
        'if [ "${next_entry}" ] ; then',
        '   set default="${next_entry}"',
        "   set next_entry=",
        "   save_env next_entry",
        "   set boot_once=true",
        "else",
        '   set default="${saved_entry}"',
        "fi",
        "### END /etc/grub.d/00_header ###",
        "### BEGIN /etc/grub.d/10_linux ###",
        f"menuentry '{title}'  --class sles --class gnu-linux --class gnu --class os $menuentry_id_option"
        f" 'gnulinux-simple-{uuid}' {{",
        f"\tlinux\t/boot/vmlinuz-{rel} root=UUID={uuid} {args}",
        f"\tinitrd\t/boot/initrd-{rel}",
        "}",
        f"submenu 'Advanced options for {title}' --hotkey=1 $menuentry_id_option 'gnulinux-advanced-{uuid}' {{",
        f"\tmenuentry '{title}, with Linux {rel}' --hotkey=2 --class sles --class gnu-linux --class gnu --class os"
        f" $menuentry_id_option 'gnulinux-{rel}-advanced-{uuid}' {{",
        f"\t\tlinux\t/boot/vmlinuz-{rel} root=UUID={uuid} {args}",
        f"\t\tinitrd\t/boot/initrd-{rel}",
        "\t}",
        "}",
        "### END /etc/grub.d/10_linux ###",
        "",
    ]
    write(root, "boot/grub2/grub.cfg", "\n".join(cfg))
    write(root, "boot/grub2/grubenv", grubenv(saved_entry=title))
    write(root, f"boot/initrd-{rel}", b"")
    return root


def oracle_uek7(base: Path = DISTROS) -> Path:
    """Oracle Linux 9 with UEK7 (5.15.0 base) on Ice Lake-SP: not affected (facts §4)."""
    root = fresh("oracle9-uek7-icelake", base)
    rel, mid = "5.15.0-312.187.5.el9uek.x86_64", "6c8e0a2b4d6f48a1c3e5a7b9d1f3a5c7"
    opts = "root=/dev/mapper/ol-root ro crashkernel=1G-64G:448M,64G-:512M rd.lvm.lv=ol/root"
    running(
        root,
        rel,
        f"Linux version {rel} (mockbuild@host-100-100-224-53) (gcc (GCC) 11.5.0 20240719 (Red Hat 11.5.0-5.0.1),"
        " GNU ld version 2.35.2-63.0.1.el9) #2 SMP Tue Oct 14 21:17:30 PDT 2025",
        f"BOOT_IMAGE=(hd0,gpt2)/vmlinuz-{rel} {opts}",
    )
    write(
        root,
        "proc/cpuinfo",
        cpuinfo(
            "GenuineIntel",
            6,
            106,
            6,
            "0xd0003f5",
            "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
            ICX_FLAGS,
            ICX_BUGS.split(),
        ),
    )
    cpuid(root, "GenuineIntel", LEAF7_ICX)
    vulns(root, {**ICX_VULNS, "vmscape": "Not affected"})
    kernel_files(root, rel, f"{rel} (mockbuild@host-100-100-224-53) #2 SMP Tue Oct 14 21:17:30 PDT 2025", True)
    bls(root, mid, rel, f"Oracle Linux Server ({rel} with Unbreakable Enterprise Kernel) 9.6", f"{opts} $tuned_params")
    write(root, "boot/grub2/grub.cfg", BLS_GRUB_CFG)
    write(root, "boot/grub2/grubenv", grubenv(saved_entry=f"{mid}-{rel}", boot_success="1"))
    return root


def amazonlinux2023(base: Path = DISTROS) -> Path:
    """Amazon Linux 2023 on a bare-metal EC2 instance (Sapphire Rapids); its 6.1 kernel follows the
    6.1 stable branch, so the release carries the stable version (6.1.156, past 6.1.152)."""
    root = fresh("al2023-metal-sapphirerapids", base)
    rel, mid = "6.1.156-177.286.amzn2023.x86_64", "ec2a9f3b1d5c7e9f0a2b4c6d8e0f1a3b"
    opts = (
        "root=UUID=4a1b2c3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d ro console=tty0 console=ttyS0,115200n8"
        " nvme_core.io_timeout=4294967295 rd.emergency=poweroff rd.shell=0 selinux=1 security=selinux quiet"
    )
    running(
        root,
        rel,
        f"Linux version {rel} (mockbuild@ip-10-0-34-71) (gcc (GCC) 11.5.0 20240719 (Red Hat 11.5.0-5), GNU ld"
        " version 2.41-50.amzn2023.0.3) #1 SMP PREEMPT_DYNAMIC Mon Oct 27 20:17:49 UTC 2025",
        f"BOOT_IMAGE=(hd0,gpt1)/boot/vmlinuz-{rel} {opts}",
    )
    write(
        root,
        "proc/cpuinfo",
        cpuinfo(
            "GenuineIntel",
            6,
            143,
            8,
            "0x2b000639",
            "Intel(R) Xeon(R) Platinum 8488C",
            SPR_FLAGS,
            [*SPR_BUGS.split(), "vmscape"],
        ),
    )
    cpuid(root, "GenuineIntel", None)
    vulns(root, {**SPR_VULNS, "vmscape": IBPB_EXIT})
    kernel_files(
        root, rel, f"{rel} (mockbuild@ip-10-0-34-71) #1 SMP PREEMPT_DYNAMIC Mon Oct 27 20:17:49 UTC 2025", True
    )
    bls(root, mid, rel, f"Amazon Linux ({rel}) 2023", opts)
    write(root, "boot/grub2/grub.cfg", BLS_GRUB_CFG)
    write(root, "boot/grub2/grubenv", grubenv(saved_entry=f"{mid}-{rel}", boot_success="1"))
    return root


def proxmox8(base: Path = DISTROS) -> Path:
    """Proxmox VE 8 on AMD EPYC Milan: running 6.8.12-14-pve from before its VMSCAPE fix, the
    opt-in 6.14.11-2-pve installed and first in GRUB's menu. /proc/version carries Debian's
    compiler string but no Debian kernel version (the kernel is Proxmox's, Ubuntu-based)."""
    root = fresh("proxmox8-milan-opt-in-kernel", base)
    old, new, uuid = "6.8.12-14-pve", "6.14.11-2-pve", "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"
    running(
        root,
        old,
        f"Linux version {old} (build@proxmox) (gcc (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for"
        " Debian) 2.40) #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-14 (2025-08-26T22:25Z)",
        f"BOOT_IMAGE=/boot/vmlinuz-{old} root=/dev/mapper/pve-root ro quiet",
    )
    write(
        root,
        "proc/cpuinfo",
        cpuinfo(
            "AuthenticAMD", 25, 1, 1, "0xa0011d5", "AMD EPYC 7763 64-Core Processor", MILAN_FLAGS, AMD_BUGS.split()
        ),
    )
    cpuid(root, "AuthenticAMD", LEAF7_ZEN)
    vulns(root, AMD_VULNS)  # 6.8.12-14-pve predates Proxmox's VMSCAPE fix: no vmscape file
    kernel_files(root, old, f"{old} (build@proxmox) #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-14 (2025-08-26T22:25Z)", False)
    kernel_files(root, new, f"{new} (build@proxmox) #1 SMP PREEMPT_DYNAMIC PMX 6.14.11-2 (2025-09-12T09:46Z)", True)
    cfg = ubuntu_grub  # grub-mkconfig on Proxmox VE (Debian) writes the same menu shape
    cfg(root, uuid, [(new, "quiet"), (old, "quiet")], distributor="Proxmox VE GNU/Linux")
    grub = root / "boot/grub/grub.cfg"
    grub.write_text(grub.read_text().replace(f"root=UUID={uuid}", "root=/dev/mapper/pve-root"))
    return root


BUILDERS = (
    ubuntu2204_ga,
    ubuntu2204_hwe,
    ubuntu2404_update,
    rhel8,
    rhel9,
    rhel10,
    sles15sp6,
    oracle_uek7,
    amazonlinux2023,
    proxmox8,
)


if __name__ == "__main__":
    for build in BUILDERS:
        build()
    print("wrote", DISTROS)
