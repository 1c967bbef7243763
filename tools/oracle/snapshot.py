"""Write a captured boot as a `root` directory that fleetsec.vmscape.vmscape_facts reads (DESIGN.md).

<root>/proc/cpuinfo, proc/cmdline, proc/version, proc/sys/kernel/osrelease
<root>/sys/devices/system/cpu/vulnerabilities/<each file>
<root>/dev/cpu/0/cpuid         sparse regular file: 16 bytes (eax, ebx, ecx, edx, little-endian) at
                               offset leaf | subleaf << 32 for every captured leaf, like the real device
<root>/boot/vmlinuz-<rel>, System.map-<rel>, config-<rel>   hard links into the kernel cache
                               (copies across file systems); also usr/lib/modules/<rel>/ for the
                               6.19+ split packages (linux-binary-*), as Debian installs them
<root>/usr/lib/modules/<rel>/  the kernel's modules directory (empty: the oracle initramfs needs no
                               module), so the next-boot kernel passes vmscape_facts' image check
<root>/boot/grub/grub.cfg      first menuentry boots that kernel with the captured cmdline
<root>/etc/default/grub        GRUB_CMDLINE_LINUX = the captured cmdline

A capture (or a committed snapshot tree) made from an older build of the same kernel branch than the one
fetched today (the registry moved on: 6.1.0-56 -> 6.1.0-57) is *retargeted* to the fetched kernel before
it is written: its release string and Debian version are replaced by the fetched kernel's metadata
(``retarget_text``), so the running kernel and the next-boot image agree, as on a host running that build.
"""

from __future__ import annotations

import os
import re
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


# "... #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)": the Debian version of the build in /proc/version.
_DEBIAN_BUILD = re.compile(r"\bDebian (?P<ver>\d+\.\d+(?:\.\d+)?-[0-9A-Za-z.+~]+)(?=\s|$)")


def debian_version_in(proc_version: str) -> str | None:
    m = _DEBIAN_BUILD.search(proc_version)
    return m.group("ver") if m else None


def _branch(version: str) -> tuple[str, ...]:
    """``6.1.192-2`` / ``6.1.0-56-amd64`` -> ("6", "1")."""
    return tuple(re.split(r"[.\-+~]", version)[:2])


def retarget_text(text: str, old_release: str, old_debian_version: str | None, kernel) -> str:
    """Rewrite one text from an older build of a branch to the fetched ``kernel`` (its metadata.json).

    The Debian version goes first (``6.1.192-2`` -> ``6.1.193-1``), then the release (``6.1.0-56-amd64``
    -> ``6.1.0-57-amd64``), then a bare upstream version left over (a config header).
    """
    new_release = kernel.release
    new_debian = kernel.meta.get("debian_version")
    if old_debian_version and new_debian:
        text = text.replace(old_debian_version, new_debian)
        old_up, new_up = old_debian_version.split("-", 1)[0], kernel.version
        text = re.sub(rf"(?<![\d.]){re.escape(old_up)}(?![\d])", new_up, text)
    return text.replace(old_release, new_release)


def retarget_capture(capture: dict, kernel) -> tuple[dict, dict | None]:
    """(capture as if booted from ``kernel``, what changed or None). Same build: returned unchanged."""
    old_release = capture.get("uname_r")
    old_debian = debian_version_in(capture["files"].get("/proc/version", ""))
    if not old_release or (old_release == kernel.release and old_debian in (None, kernel.meta.get("debian_version"))):
        return capture, None
    if _branch(old_debian or old_release) != _branch(kernel.version):
        return capture, None  # another branch is not a newer build of this one: left as captured
    files = {
        path: retarget_text(content, old_release, old_debian, kernel) if path.startswith("/proc/") else content
        for path, content in capture["files"].items()
    }
    out = dict(capture, files=files, uname_r=kernel.release)
    out["dmesg"] = [retarget_text(line, old_release, old_debian, kernel) for line in capture.get("dmesg", [])]
    change = {
        "release": [old_release, kernel.release],
        "debian_version": [old_debian, kernel.meta.get("debian_version")],
    }
    return out, change


def retarget_tree(root: Path, old_release: str, old_debian_version: str | None, kernel) -> list[str]:
    """Retarget a snapshot tree in place: text files rewritten, names holding the release renamed.

    Returns the relative paths that changed. Binary files (a cpuid device, kernel images) are left alone.
    """
    changed = []
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink() or not path.is_file():
            pass
        else:
            data = path.read_bytes()
            if b"\0" not in data:
                try:
                    text = data.decode()
                except UnicodeDecodeError:
                    text = None
                if text is not None:
                    new = retarget_text(text, old_release, old_debian_version, kernel)
                    if new != text:
                        path.write_text(new)
                        changed.append(str(path.relative_to(root)))
        if old_release in path.name:
            target = path.with_name(path.name.replace(old_release, kernel.release))
            path.rename(target)
            changed.append(f"{path.relative_to(root)} -> {target.name}")
    return changed


def write_root(capture: dict, root: str | os.PathLike, kernel=None) -> Path:
    """Create the snapshot; `kernel` (tools.oracle.kernels.Kernel) adds /boot and GRUB files.

    A capture of another build of the kernel's branch is retarget_capture()d to ``kernel`` first.
    """
    root = Path(root)
    if kernel is not None:
        capture, _change = retarget_capture(capture, kernel)
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
        (root / "usr" / "lib" / "modules" / rel).mkdir(parents=True, exist_ok=True)
        cmdline = files["/proc/cmdline"].strip()
        _write(root, "/boot/grub/grub.cfg", grub_cfg(rel, cmdline))
        _write(
            root,
            "/etc/default/grub",
            f'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR="Debian"\n'
            f'GRUB_CMDLINE_LINUX_DEFAULT=""\nGRUB_CMDLINE_LINUX="{cmdline}"\n',
        )
    return root
