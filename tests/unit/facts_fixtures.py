"""Builders for vmscape_facts tests: synthetic bzImages, ELF vmlinux, cpuid device files, roots.

Also regenerates the committed snapshot roots under tests/data/facts/snapshots:
    .venv/bin/python tests/unit/facts_fixtures.py
"""

from __future__ import annotations

import bz2
import lzma
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "facts"
CPUINFO = DATA / "cpuinfo"
SNAPSHOTS = DATA / "snapshots"

G1_STRINGS = [
    b"Mitigation: IBPB before exit to userspace",
    b"Mitigation: IBPB on VMEXIT",
    b"vmscape",
    b"3VMSCAPE: Ignoring unknown vmscape=%s option.",
]
G3_STRINGS = [*G1_STRINGS, b"Mitigation: Clear BHB before exit to userspace"]
OLD_STRINGS = [b"Mitigation: IBPB", b"retbleed", b"spec_rstack_overflow"]


def make_elf(rodata_strings, banner=None, tail_strings=(), ro_pad=4096, rw_pad=4096, machine=62):
    """A minimal ELF64 little-endian vmlinux: one R+X PT_LOAD holding the strings (like
    .text+.rodata), then one RW PT_LOAD holding ``tail_strings`` (like .data/.init)."""
    ro = bytearray(b"\xcc" * ro_pad)
    if banner:
        ro += banner.encode() + b"\n\x00"
    for s in rodata_strings:
        ro += s + b"\x00"
    rw = bytearray(b"\x00" * rw_pad)
    for s in tail_strings:
        rw += s + b"\x00"
    ehdr_size, ph_size, phnum = 64, 56, 2
    ro_off = 0x1000
    rw_off = ro_off + ((len(ro) + 0xFFF) & ~0xFFF)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\x00" * 8
    ehdr += struct.pack(
        "<HHIQQQIHHHHHH", 2, machine, 1, 0x1000000, ehdr_size, 0, 0, ehdr_size, ph_size, phnum, 64, 0, 0
    )
    ph = struct.pack("<IIQQQQQQ", 1, 5, ro_off, 0xFFFFFFFF81000000, 0x1000000, len(ro), len(ro), 0x1000)
    ph += struct.pack("<IIQQQQQQ", 1, 6, rw_off, 0xFFFFFFFF82000000, 0x2000000, len(rw), len(rw), 0x1000)
    out = bytearray(ehdr + ph)
    out += b"\x00" * (ro_off - len(out))
    out += ro
    out += b"\x00" * (rw_off - len(out))
    out += rw
    return bytes(out)


def compress(fmt: str, data: bytes) -> bytes:
    """Compress like arch/x86/boot/compressed: every format but gzip gets a le32 size appended."""
    size = struct.pack("<I", len(data) & 0xFFFFFFFF)
    if fmt == "gzip":
        # gzip.compress's header differs between Python versions (3.12+: XFL 2, OS 255; 3.11: what
        # zlib writes): written out, so the committed images are what every controller Python
        # builds (make compat runs these tests on ansible-core 2.16's Python 3.11)
        c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        body = c.compress(data) + c.flush()
        trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
        return b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff" + body + trailer
    if fmt == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32) + size
    if fmt == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE) + size
    if fmt == "bzip2":
        return bz2.compress(data, 9) + size
    if fmt == "zstd":
        return subprocess.run(["zstd", "-q", "-19", "-c"], input=data, capture_output=True, check=True).stdout + size
    if fmt == "lz4":
        return (
            subprocess.run(["lz4", "-q", "-l", "-9", "-c"], input=data, capture_output=True, check=True).stdout + size
        )
    raise ValueError(fmt)


def make_bzimage(
    payload: bytes, version_string: str | None = None, protocol=0x20F, header_payload=True, decoy=b"", setup_sects=1
) -> bytes:
    """A minimal bzImage: boot sector + setup header (0x1f1), version string pointed to by
    0x20e, protected-mode part at (setup_sects+1)*512 whose payload offset/length are at
    0x248/0x24c (boot protocol >= 2.08). ``decoy`` bytes precede the payload (e.g. a fake
    gzip magic the header must win over)."""
    pm_start = (setup_sects + 1) * 512
    img = bytearray(pm_start)
    img[0:2] = b"MZ"
    img[0x1F1] = setup_sects
    img[0x1FE:0x200] = b"\x55\xaa"
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, protocol)
    if version_string is not None:
        struct.pack_into("<H", img, 0x20E, 0x300 - 0x200)
        vs = version_string.encode() + b"\x00"
        img[0x300 : 0x300 + len(vs)] = vs
    prefix = b"\x90" * 64 + decoy + b"\x90" * 64
    if header_payload and protocol >= 0x208:
        struct.pack_into("<II", img, 0x248, len(prefix), len(payload))
    return bytes(img) + prefix + payload + b"\x00" * 32


def cpuid_file(path: Path, leaves: dict[tuple[int, int], tuple[int, int, int, int]]) -> None:
    """Sparse regular file with the /dev/cpu/N/cpuid layout (offset leaf | subleaf << 32)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for (leaf, sub), regs in sorted(leaves.items()):
            fh.seek(leaf | (sub << 32))
            fh.write(struct.pack("<4I", *regs))


def vendor_regs(vendor: str, max_leaf: int):
    b = vendor.encode()
    ebx, edx, ecx = struct.unpack("<III", b)
    return (max_leaf, ebx, ecx, edx)


def write(root: Path, rel: str, data, mode=None):
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    p.write_bytes(data)
    if mode is not None:
        os.chmod(p, mode)
    return p


DEBIAN_61_VERSION = (
    "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, "
    "GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
)
DEBIAN_61_HEADER = (
    "6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
)

VULNS_SKX_61 = {
    "gather_data_sampling": "Mitigation: Microcode",
    "itlb_multihit": "KVM: Mitigation: Split huge pages",
    "l1tf": "Mitigation: PTE Inversion; VMX: conditional cache flushes, SMT vulnerable",
    "mds": "Mitigation: Clear CPU buffers; SMT vulnerable",
    "meltdown": "Mitigation: PTI",
    "mmio_stale_data": "Mitigation: Clear CPU buffers; SMT vulnerable",
    "reg_file_data_sampling": "Not affected",
    "retbleed": "Mitigation: Enhanced IBRS",
    "spec_rstack_overflow": "Not affected",
    "spec_store_bypass": "Mitigation: Speculative Store Bypass disabled via prctl",
    "spectre_v1": "Mitigation: usercopy/swapgs barriers and __user pointer sanitization",
    "spectre_v2": "Mitigation: IBRS; IBPB: conditional; STIBP: conditional; RSB filling; PBRSB-eIBRS: Not affected; "
    "BHI: Not affected",
    "srbds": "Not affected",
    "tsx_async_abort": "Mitigation: Clear CPU buffers; SMT vulnerable",
    "vmscape": "Mitigation: IBPB before exit to userspace",
}

# The first lines of a real modules.dep (depmod): the snapshot's /lib/modules/<release>, which a
# kernel needs to boot a hypervisor (its storage and network drivers are modules).
MODULES_DEP = (
    "kernel/arch/x86/kvm/kvm.ko.xz: kernel/virt/lib/irqbypass.ko.xz\n"
    "kernel/arch/x86/kvm/kvm-intel.ko.xz: kernel/arch/x86/kvm/kvm.ko.xz kernel/virt/lib/irqbypass.ko.xz\n"
    "kernel/arch/x86/kvm/kvm-amd.ko.xz: kernel/arch/x86/kvm/kvm.ko.xz kernel/virt/lib/irqbypass.ko.xz\n"
    "kernel/virt/lib/irqbypass.ko.xz:\n"
)

GRUB_CFG_DEBIAN = (DATA / "grub" / "debian12-submenu.cfg.in").read_text()


def grubenv(**values) -> bytes:
    """A 1024-byte GRUB environment block like grub-editenv writes."""
    body = "# GRUB Environment Block\n" + "".join("{}={}\n".format(*kv) for kv in values.items())
    body += "#" * (1024 - len(body))
    return body.encode()


def debian_grub_cfg(default="0") -> str:
    return GRUB_CFG_DEBIAN.replace("@DEFAULT@", default)


def build_debian12_skylake(root: Path) -> Path:
    """Debian 12 on a 2-socket Skylake-SP, 6.1.192 running and booting next (GRUB, default 0)."""
    if root.exists():
        shutil.rmtree(root)
    write(root, "proc/cpuinfo", (CPUINFO / "intel-skylake-sp-2s.txt").read_bytes())
    write(
        root,
        "proc/cmdline",
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=UUID=5c7f5a8e-3f0e-4f52-9a49-1d2f5c0d7e11"
        " ro console=ttyS0,115200 quiet\n",
    )
    write(root, "proc/version", DEBIAN_61_VERSION + "\n")
    write(root, "proc/sys/kernel/osrelease", "6.1.0-56-amd64\n")
    for name, val in VULNS_SKX_61.items():
        write(root, "sys/devices/system/cpu/vulnerabilities/" + name, val + "\n")
    # Skylake-SP: max basic leaf 0x16, leaf 7 max subleaf 0 (no subleaf 2 => no BHI_CTRL)
    cpuid_file(
        root / "dev/cpu/0/cpuid",
        {(0, 0): vendor_regs("GenuineIntel", 0x16), (7, 0): (0, 0xD39FFFFB, 0x00000008, 0xBC000400)},
    )
    write(root, "boot/grub/grub.cfg", debian_grub_cfg("0"))
    write(root, "boot/grub/grubenv", grubenv())
    rel = "6.1.0-56-amd64"
    elf = make_elf(G1_STRINGS, banner=DEBIAN_61_VERSION)
    write(root, "boot/vmlinuz-" + rel, make_bzimage(compress("xz", elf), DEBIAN_61_HEADER))
    write(
        root,
        "boot/System.map-" + rel,
        f"ffffffffffffffff B The real System.map is in the linux-image-{rel}-dbg package\n",
    )
    write(
        root,
        "boot/config-" + rel,
        "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.1.192 Kernel "
        "Configuration\n#\nCONFIG_CPU_MITIGATIONS=y\nCONFIG_MITIGATION_VMSCAPE=y\nCONFIG_MITIGATION_SRSO=y\n",
    )
    write(root, "boot/initrd.img-" + rel, b"")
    write(root, f"lib/modules/{rel}/modules.dep", MODULES_DEP)
    write(
        root,
        "etc/default/grub",
        "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null"
        ' || echo Debian`\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200"\n',
    )
    os.symlink("boot/vmlinuz-" + rel, root / "vmlinuz")
    return root


def system_map(symbols, filler=200) -> str:
    lines = ["ffffffff81000000 T _text", "ffffffff81000000 T startup_64"]
    lines += [f"ffffffff81{i * 16:06x} t filler_symbol_{i}" for i in range(filler)]
    lines += [f"ffffffff83{i * 16:06x} t {s}" for i, s in enumerate(symbols)]
    return "\n".join(lines) + "\n"


RHEL_VERSION = (
    "Linux version 5.14.0-570.el9.x86_64 (mockbuild@x86-64-01.build.eng.rdu2.redhat.com) (gcc (GCC) "
    "11.5.0 20240719 (Red Hat 11.5.0-5), GNU ld version 2.35.2-63.el9) #1 SMP PREEMPT_DYNAMIC Wed Apr 9 "
    "10:35:15 EDT 2025"
)


def build_rhel9_bls_epyc(root: Path) -> Path:
    """RHEL 9 style: AMD Genoa, GRUB + blscfg, grubenv saved_entry pins the older kernel,
    real System.maps (no image decompression needed), kernelopts-free BLS options."""
    if root.exists():
        shutil.rmtree(root)
    mid = "3f1c0d2e8a9b4c5d6e7f8091a2b3c4d5"
    write(root, "proc/cpuinfo", (CPUINFO / "amd-epyc-genoa.txt").read_bytes())
    write(
        root,
        "proc/cmdline",
        "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-570.el9.x86_64 root=/dev/mapper/rhel-root ro "
        "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root "
        "rd.lvm.lv=rhel/swap\n",
    )
    write(root, "proc/version", RHEL_VERSION + "\n")
    write(root, "proc/sys/kernel/osrelease", "5.14.0-570.el9.x86_64\n")
    write(root, "sys/devices/system/cpu/vulnerabilities/vmscape", "Mitigation: IBPB before exit to userspace\n")
    write(root, "sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow", "Mitigation: Safe RET\n")
    write(root, "sys/devices/system/cpu/vulnerabilities/retbleed", "Not affected\n")
    cpuid_file(
        root / "dev/cpu/0/cpuid", {(0, 0): vendor_regs("AuthenticAMD", 0x10), (7, 0): (1, 0xF1BF97A9, 0x405FCE, 0x10)}
    )
    write(
        root,
        "boot/grub2/grub.cfg",
        "### BEGIN /etc/grub.d/00_header ###\nset pager=1\n\nif [ -f ${config_directory}"
        "/grubenv ]; then\n  load_env -f ${config_directory}/grubenv\nelif [ -s $prefix/grubenv ]; then\n  load_env\n"
        'fi\nif [ "${next_entry}" ] ; then\n   set default="${next_entry}"\n   set next_entry=\n   save_env '
        'next_entry\n   set boot_once=true\nelse\n   set default="${saved_entry}"\nfi\n### END /etc/grub.d/00_header'
        " ###\n\n### BEGIN /etc/grub.d/10_linux ###\ninsmod part_gpt\ninsmod xfs\nset root='hd0,gpt2'\ninsmod blscfg\n"
        "blscfg\n### END /etc/grub.d/10_linux ###\n",
    )
    write(root, "boot/grub2/grubenv", grubenv(saved_entry=f"{mid}-5.14.0-503.el9.x86_64", boot_success="1"))
    opts = (
        "root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap "
        "rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap"
    )
    for rel, has in (("5.14.0-570.el9.x86_64", True), ("5.14.0-503.el9.x86_64", False)):
        write(
            root,
            f"boot/loader/entries/{mid}-{rel}.conf",
            f"title Red Hat Enterprise Linux ({rel}) 9.6 (Plow)\nversion {rel}\nlinux /vmlinuz-{rel}\n"
            f"initrd /initramfs-{rel}.img "
            f"$tuned_initrd\noptions {opts} $tuned_params\ngrub_users $grub_users\ngrub_arg --unrestricted\n"
            "grub_class rhel\n",
        )
        write(
            root,
            "boot/System.map-" + rel,
            system_map(
                ["vmscape_select_mitigation", "vmscape_parse_cmdline"] if has else ["retbleed_select_mitigation"]
            ),
        )
        write(
            root, "boot/config-" + rel, "CONFIG_CPU_MITIGATIONS=y\n" + ("CONFIG_MITIGATION_VMSCAPE=y\n" if has else "")
        )
        write(
            root,
            "boot/vmlinuz-" + rel,
            make_bzimage(
                compress("gzip", make_elf(G1_STRINGS if has else OLD_STRINGS)),
                f"{rel} (mockbuild@x86-64-01) #1 SMP PREEMPT_DYNAMIC",
            ),
        )
        write(root, f"lib/modules/{rel}/modules.dep", MODULES_DEP)
    write(root, "boot/vmlinuz-0-rescue-" + mid, make_bzimage(compress("gzip", make_elf(OLD_STRINGS))))
    return root


if __name__ == "__main__":
    build_debian12_skylake(SNAPSHOTS / "debian12-skylake")
    build_rhel9_bls_epyc(SNAPSHOTS / "rhel9-bls-epyc")
    print("wrote", SNAPSHOTS)
