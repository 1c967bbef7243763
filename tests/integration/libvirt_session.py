"""Private libvirt daemons with tiny TCG guests for the drain example tests (real libvirt, real QEMU).

Each daemon is Debian's libvirtd in session mode, run as the unprivileged user ``nobody`` with its own
XDG directories under one temporary directory and its own host UUID (libvirt refuses to migrate to a
host with the same UUID), so several "hypervisors" run side by side on this machine without touching
the machine's libvirt (/run/libvirt, /etc/libvirt). Root reaches each through its socket:
``qemu+unix:///session?socket=<dir>/run/libvirt/libvirt-sock``. A guest is a Debian kernel with a busybox
initramfs whose init prints GUEST-UP on the serial console (a file, appended) and sleeps, under QEMU TCG
(KVM is not usable here): it boots in a few seconds and takes ~100 MB.

Seen on this machine (Debian 12, libvirt 9.0.0, QEMU 7.2, TCG): define + start 2 s, boot to GUEST-UP
3-8 s, managedsave 4 s, start from the saved state 3 s, live migration between two daemons 3-4 s.
"""

from __future__ import annotations

import gzip
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tools.oracle.initramfs import newc_archive

USER = "nobody"
# The guest powers off on the ACPI power button (virsh shutdown) when the kernel's button and evdev
# modules are in the initramfs (they are modules in Debian's kernels): busybox acpid runs
# /etc/acpi/PWRF/00000080 for the power button event.
INIT = b"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in /lib/acpi/evdev.ko /lib/acpi/button.ko; do [ -f $m ] && /bin/busybox insmod $m; done
[ -f /lib/acpi/button.ko ] && /bin/busybox acpid -c /etc/acpi -l /dev/null
echo GUEST-UP > /dev/ttyS0
while true; do /bin/busybox sleep 3600; done
"""
POWER_BUTTON = b"""#!/bin/busybox sh
echo GUEST-POWEROFF > /dev/ttyS0
/bin/busybox poweroff -f
"""
DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>96</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{console}' append='on'/></serial>
  </devices>
</domain>
"""


def acpi_modules(kernel, into: Path) -> list[Path]:
    """button.ko and evdev.ko of a fetched kernel (tools/oracle/kernels.Kernel), from its cached .deb."""
    rel = kernel.meta["release"]
    debs = sorted((kernel.dir.parent.parent / "debs").glob(f"{kernel.meta['package']}_*.deb"))
    debs = [d for d in debs if kernel.meta["debian_version"] in d.name] or debs
    if not debs:
        raise RuntimeError(f"no cached .deb of {kernel.meta['package']} (tools/oracle/kernels.py fetches it)")
    members = [
        f"./lib/modules/{rel}/kernel/drivers/input/evdev.ko",
        f"./lib/modules/{rel}/kernel/drivers/acpi/button.ko",
    ]
    into.mkdir(parents=True, exist_ok=True)
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[-1])], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into), *members], stdin=tar.stdout, check=True, timeout=120)
    tar.wait(timeout=120)
    return [into / m for m in members]


def available() -> str | None:
    """None when libvirt can run here, else what is missing."""
    for tool in ("/usr/sbin/libvirtd", "/usr/bin/virsh", "/usr/bin/qemu-system-x86_64", "/bin/busybox"):
        if not os.path.exists(tool):
            return f"{tool} missing (make deps: tools/system-packages.txt)"
    if not shutil.which("setpriv"):
        return "setpriv (util-linux) missing"
    if os.geteuid() != 0:
        return "the daemons run as nobody, started by root"
    return None


class Lab:
    """One temporary directory (traversable by nobody) holding the guest image and the daemons."""

    def __init__(self, kernel: Path, acpi_modules: list[Path] = ()):
        self.dir = Path(tempfile.mkdtemp(prefix="vmscape-lv-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.nobody = pwd.getpwnam(USER)
        self.kernel = self.dir / "vmlinuz"
        shutil.copyfile(kernel, self.kernel)
        self.initrd = self.dir / "guest.cpio.gz"
        busybox = Path("/bin/busybox").read_bytes()
        entries = [("bin", 0o040755, b""), ("bin/busybox", 0o100755, busybox), ("init", 0o100755, INIT)]
        if acpi_modules:
            entries += [("lib", 0o040755, b""), ("lib/acpi", 0o040755, b"")]
            entries += [(f"lib/acpi/{m.name}", 0o100644, m.read_bytes()) for m in acpi_modules]
            entries += [("etc", 0o040755, b""), ("etc/acpi", 0o040755, b""), ("etc/acpi/PWRF", 0o040755, b"")]
            entries += [("etc/acpi/PWRF/00000080", 0o100755, POWER_BUTTON)]
        self.initrd.write_bytes(gzip.compress(newc_archive(entries), compresslevel=1))
        for f in (self.kernel, self.initrd):
            os.chmod(f, 0o644)
        self.consoles = self.dir / "consoles"  # written by the guests' QEMU, which runs as nobody
        self.consoles.mkdir()
        os.chown(self.consoles, self.nobody.pw_uid, self.nobody.pw_gid)
        self.daemons: list[Daemon] = []

    def daemon(self, name: str) -> Daemon:
        d = Daemon(self, name)
        self.daemons.append(d)
        d.start()
        return d

    def console(self, domain: str) -> Path:
        return self.consoles / f"{domain}.console"

    def guest_up_count(self, domain: str) -> int:
        p = self.console(domain)
        return p.read_bytes().count(b"GUEST-UP") if p.exists() else 0

    def wait_up(self, names: list[str], timeout: float = 180) -> float:
        """Seconds until every guest printed GUEST-UP (they boot in parallel)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if all(self.guest_up_count(n) for n in names):
                return time.monotonic() - t0
            time.sleep(0.5)
        missing = [n for n in names if not self.guest_up_count(n)]
        raise RuntimeError(f"guests {missing} did not come up in {timeout}s")

    def close(self) -> None:
        for d in self.daemons:
            d.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Daemon:
    def __init__(self, lab: Lab, name: str):
        self.lab = lab
        self.name = name
        self.home = lab.dir / name / "home"
        self.run = lab.dir / name / "run"
        self.proc: subprocess.Popen | None = None
        self.uuid = str(uuid.uuid4())

    @property
    def socket(self) -> Path:
        return self.run / "libvirt" / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu+unix:///session?socket={self.socket}"

    @property
    def qemu_run_dir(self) -> Path:
        """Where this daemon keeps <domain>.xml of running domains (/run/libvirt/qemu for a system daemon)."""
        return self.run / "libvirt" / "qemu" / "run"

    def start(self) -> None:
        conf = self.home / ".config" / "libvirt"
        conf.mkdir(parents=True)
        (conf / "libvirtd.conf").write_text(f'host_uuid = "{self.uuid}"\n')
        self.run.mkdir(parents=True)
        for path in (self.lab.dir / self.name, *(self.lab.dir / self.name).rglob("*")):
            os.chown(path, self.lab.nobody.pw_uid, self.lab.nobody.pw_gid)
        env = {"HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.run), "PATH": "/usr/sbin:/usr/bin:/bin"}
        log = open(self.lab.dir / f"{self.name}.libvirtd.log", "w")  # noqa: SIM115 - the daemon keeps it
        self.proc = subprocess.Popen(
            ["setpriv", f"--reuid={USER}", f"--regid={self.lab.nobody.pw_gid}", "--clear-groups", "libvirtd"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.socket.exists() and self.virsh("uri", check=False).returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        log_text = (self.lab.dir / f"{self.name}.libvirtd.log").read_text()
        raise RuntimeError(f"libvirtd {self.name} did not start: {log_text}")

    def virsh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(["virsh", "-q", "-c", self.uri, *args], capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise RuntimeError(f"virsh {' '.join(args)} on {self.name}: {p.stderr.strip()}")
        return p

    def running(self) -> list[str]:
        out = self.virsh("list", "--name", "--state-running").stdout
        return sorted(n.strip() for n in out.splitlines() if n.strip())

    def pids(self) -> dict[str, str]:
        """Running domain -> the pid of its QEMU process (the pid file libvirt keeps beside its state)."""
        return {d: (self.qemu_run_dir / f"{d}.pid").read_text().strip() for d in self.running()}

    def defined(self) -> list[str]:
        return sorted(n.strip() for n in self.virsh("list", "--name", "--all").stdout.splitlines() if n.strip())

    def dominfo(self, domain: str) -> dict:
        out = {}
        for line in self.virsh("dominfo", domain).stdout.splitlines():
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip()
        return out

    def guest(self, name: str) -> None:
        """Define and start a guest (Lab.wait_up waits until it printed GUEST-UP)."""
        xml = self.lab.dir / f"{name}.xml"
        xml.write_text(
            DOMAIN_XML.format(name=name, kernel=self.lab.kernel, initrd=self.lab.initrd, console=self.lab.console(name))
        )
        self.virsh("define", str(xml))
        self.virsh("start", name)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        for dom in self.running():
            self.virsh("destroy", dom, check=False)
        for dom in self.defined():
            self.virsh("undefine", "--managed-save", dom, check=False)
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
