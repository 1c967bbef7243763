"""Scratch roots for the upgrade stage: a host snapshot whose package state is real.

``make_host`` turns the committed debian12-skylake snapshot into a host that runs (and boots
next) the kernel of a real Debian package: its /boot files come out of the package itself
(``dpkg-deb --fsys-tarfile``), its /proc and sysfs say what that kernel says (no vmscape file
for a kernel without VMSCAPE), its dpkg status holds the packages' own control paragraphs
(``dpkg-deb -f`` of the real .debs, on top of this machine's own dpkg status and what it would install for
kmod and initramfs-tools), and /etc/apt/sources.list names a flat repository (tools/lab/repos.py) whose
lists are fetched with the real ``apt-get update`` under ``-o Dir=<root>``. What cannot be done
here: installing a kernel into it (dpkg would run the kernel's maintainer scripts, which need a
chroot); the lab VMs do that (docs/upgrade.md).
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAP = REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake"
SNAP_RELEASE = "6.1.0-56-amd64"


def control(deb: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", deb], capture_output=True, text=True, check=True).stdout.strip()


@functools.lru_cache(maxsize=4)
def _machine_status(extra: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_machine_status_uncached(list(extra)))


def machine_status(extra: list[str]) -> list[str]:
    return list(_machine_status(tuple(extra)))


def _machine_status_uncached(extra: list[str]) -> list[str]:
    """This machine's own dpkg status (a real installed Debian), plus the packages ``apt-get -s
    install <extra>`` says this machine would install (their real control paragraphs from its apt
    lists, marked installed): the rest of the host the kernel packages depend on."""
    text = Path("/var/lib/dpkg/status").read_text()
    paras = [p for p in text.strip().split("\n\n") if "\nStatus: install ok installed" in p]
    sim = subprocess.run(
        ["apt-get", "-s", "-q", "-o", "Debug::NoLocking=1", "install", *extra],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name, version in re.findall(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", sim, flags=re.M):
        out = subprocess.run(
            ["apt-cache", "show", f"{name}={version}"], capture_output=True, text=True, check=True
        ).stdout
        para = out.strip().split("\n\n")[0]
        keep = [line for line in para.splitlines() if not line.startswith(("Filename:", "Size:", "MD5sum:", "SHA256:"))]
        paras = [p for p in paras if not p.startswith(f"Package: {name}\n")]
        paras.append("\n".join(keep) + "\nStatus: install ok installed")
    return paras


def extract_boot(deb: str, root: Path) -> list[str]:
    """The package's /boot and /usr/lib/modules/<rel>/{vmlinuz,config,modules.order,modules.builtin}
    files, written under root (the modules directory must exist for a kernel to be bootable)."""
    tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True).stdout
    names = []
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        for m in tar:
            name = m.name.lstrip("./")
            keep = re.match(r"^usr/lib/modules/[^/]+/(vmlinuz|config|modules\.order|modules\.builtin)$", name)
            if m.isreg() and (name.startswith("boot/") or keep):
                dest = root / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(tar.extractfile(m).read())
                names.append("/" + name)
    return names


def apt_options(root: Path) -> list[str]:
    return ["-o", f"Dir={root}", "-o", f"Dir::State::status={root}/var/lib/dpkg/status", "-o", "Debug::NoLocking=1"]


def make_host(
    tmp: Path, running: str, release: str, proc_version: str, repo: Path, installed: list[str] = (), vmscape=None
) -> Path:
    """A snapshot root running ``release`` from the package file ``running``; ``installed``: more
    package files whose control paragraphs go into the dpkg status (not unpacked)."""
    root = tmp / "root"
    shutil.copytree(SNAP, root, symlinks=True)
    for f in (root / "boot").glob(f"*{SNAP_RELEASE}"):
        f.unlink()
    (root / "vmlinuz").unlink()
    extract_boot(running, root)
    (root / "proc" / "sys" / "kernel" / "osrelease").write_text(release + "\n")
    (root / "proc" / "version").write_text(proc_version + "\n")
    cmdline = root / "proc" / "cmdline"
    cmdline.write_text(cmdline.read_text().replace(SNAP_RELEASE, release))
    cfg = root / "boot" / "grub" / "grub.cfg"
    cfg.write_text(cfg.read_text().replace(SNAP_RELEASE, release))
    (root / "boot" / f"initrd.img-{release}").write_bytes(b"\0" * 4096)
    vm = root / "sys" / "devices" / "system" / "cpu" / "vulnerabilities" / "vmscape"
    if vmscape is None:
        vm.unlink()
    else:
        vm.write_text(vmscape + "\n")
    (root / "etc" / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_ID="13"\n')
    for tool in ("usr/bin/apt-get", "usr/bin/dpkg"):
        (root / tool).parent.mkdir(parents=True, exist_ok=True)
        (root / tool).write_text("")
    status = machine_status(["kmod", "initramfs-tools"])
    for deb in [running, *installed]:
        name = control(deb).split("\n", 1)[0]
        status = [p for p in status if not p.startswith(name + "\n")]
        status.append(control(deb) + "\nStatus: install ok installed")
    (root / "var" / "lib" / "dpkg").mkdir(parents=True)
    (root / "var" / "lib" / "dpkg" / "status").write_text("\n\n".join(status) + "\n")
    apt = root / "etc" / "apt"
    for d in ("sources.list.d", "preferences.d", "apt.conf.d", "trusted.gpg.d"):
        (apt / d).mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(f"deb [trusted=yes] file:{repo} ./\n")
    for d in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial"):
        (root / d).mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", *apt_options(root), "-q", "update"], capture_output=True, text=True, check=True)
    return root
