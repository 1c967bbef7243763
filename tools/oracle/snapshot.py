"""Write a captured boot as a `root` directory that fleetsec.vmscape.vmscape_facts reads (DESIGN.md).

<root>/proc/cpuinfo, proc/cmdline, proc/version, proc/sys/kernel/osrelease
<root>/sys/devices/system/cpu/vulnerabilities/<each file>
<root>/dev/cpu/0/cpuid         sparse regular file: 16 bytes (eax, ebx, ecx, edx, little-endian) at
                               offset leaf | subleaf << 32 for every captured leaf, like the real device
<root>/boot/vmlinuz-<rel>, System.map-<rel>, config-<rel>   hard links into the kernel cache
                               (copies across file systems); also usr/lib/modules/<rel>/ for the
                               6.19+ split packages (linux-binary-*), as Debian installs them
<root>/boot/grub/grub.cfg      first menuentry boots that kernel with the captured cmdline
<root>/etc/default/grub        GRUB_CMDLINE_LINUX = the captured cmdline
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

from tools.oracle.capture import VULN_DIR


def _write(root: Path, rel: str, content: str | bytes) -> Path:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_cpuid_device(path: Path, leaves: dict[tuple[int, int], tuple[int, int, int, int]]) -> None:
    """A sparse file with the real /dev/cpu/N/cpuid layout: seek(leaf | sub << 32), read 16 bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for (leaf, sub), regs in sorted(leaves.items()):
            fh.seek(leaf | (sub << 32))
            fh.write(struct.pack("<4I", *regs))


def grub_cfg(release: str, cmdline: str) -> str:
    return (
        "# written by tools/oracle/snapshot.py: the kernel the oracle booted, with its cmdline\n"
        'set default="0"\n'
        "set timeout=5\n"
        f"menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os "
        f"$menuentry_id_option 'gnulinux-simple-oracle' {{\n"
        f"\tlinux\t/boot/vmlinuz-{release} {cmdline}\n"
        f"\tinitrd\t/boot/initrd.img-{release}\n"
        "}\n"
    )


def write_root(capture: dict, root: str | os.PathLike, kernel=None) -> Path:
    """Create the snapshot; `kernel` (tools.oracle.kernels.Kernel) adds /boot and GRUB files."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    files = capture["files"]
    for path in ("/proc/cpuinfo", "/proc/cmdline", "/proc/version"):
        _write(root, path, files[path])
    release = capture.get("uname_r") or (kernel.release if kernel else None)
    if release:
        _write(root, "/proc/sys/kernel/osrelease", release + "\n")
    vdir = root / VULN_DIR.lstrip("/")
    vdir.mkdir(parents=True, exist_ok=True)
    for path, content in files.items():
        if path.startswith(VULN_DIR):
            _write(root, path, content)
    if capture.get("cpuid"):
        write_cpuid_device(root / "dev" / "cpu" / "0" / "cpuid", capture["cpuid"])
    if kernel is not None:
        rel = kernel.release
        split = any(p.startswith("linux-binary-") for p in kernel.meta.get("packages", []))
        for name in ("vmlinuz", "System.map", "config"):
            src = kernel.dir / name
            if not src.exists():
                continue
            _link(src, root / "boot" / f"{name}-{rel}")
            if split:
                _link(src, root / "usr" / "lib" / "modules" / rel / name)
        cmdline = files["/proc/cmdline"].strip()
        _write(root, "/boot/grub/grub.cfg", grub_cfg(rel, cmdline))
        _write(
            root,
            "/etc/default/grub",
            f'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR="Debian"\n'
            f'GRUB_CMDLINE_LINUX_DEFAULT=""\nGRUB_CMDLINE_LINUX="{cmdline}"\n',
        )
    return root
