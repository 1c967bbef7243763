"""labctl: start, stop and inspect the lab fleet (QEMU VMs under TCG with chosen CPU identities).

The fleet is described by the Ansible inventory ``inventories/lab`` (hosts.yml: names and SSH
ports; host_vars/<host>.yml: ``lab_profile``); ``--inventory inventories/lab-hostops`` selects the
other fleet (the host the hostops molecule scenario starts on its own). Both share the state, which
lives outside git in ``$VMSCAPE_CACHE/lab``:

    base.qcow2 -> base-<hash>.qcow2     built by tools/lab/build-image.sh (make lab-image)
    ssh/id_ed25519                      the lab's client key (root's authorized key on every host)
    known_hosts                         [127.0.0.1]:<port> host keys, used by the inventory
    hosts/<host>/hostkey(.pub)          the host's SSH host key (made here, installed at provisioning)
    hosts/<host>/provisioned.qcow2      overlay on the base with the host's profile applied
    hosts/<host>/provisioned.base       which build of the base it was made on (root UUID, build time)
    hosts/<host>/disk.qcow2             overlay on provisioned.qcow2: the disk the VM runs on
    hosts/<host>/run/                   qemu.pid, qmp.sock, serial.sock, serial.log, qemu.log
    repos/<set>.img (+ .json)            package repository disks (tools/lab/repos.py), attached
                                        read-only as a second disk to hosts whose profile names them

Provisioning happens offline, as root, without booting the host (``provision``): a sparse raw
copy of the base on a loop device gets the profile written into it (hostname, /etc/hosts, root's
authorized key, the SSH host key, the repository disk's fstab line and apt source, ``dpkg --purge``
of kernels and ``update-grub`` in a chroot, GRUB_DEFAULT and GRUB_CMDLINE_LINUX_DEFAULT), is
checked (grub.cfg's menu entry, e2fsck) and stored as a qcow2 overlay holding only the difference
to the base. ``reset`` (or ``destroy``) recreates disk.qcow2, returning the host to its
provisioned state in no time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
INVENTORY = REPO / "inventories" / "lab"
SYSTEM_QEMU = "qemu-system-x86_64"
PANIC = b"Kernel panic - not syncing"
KNOWN_QEMU = ("7.2", "10")
REPO_SETS = ("fixed", "pre-vmscape", "microcode")
CMDLINE_FORBIDDEN = re.compile(r"[\"'\\$`\n]")

_print_lock = threading.Lock()


class LabError(Exception):
    """A lab operation failed; the message says why and what to do."""


class KernelPanic(LabError):
    """The guest kernel panicked (seen rarely under TCG): the boot is retried once."""


def say(msg: str) -> None:
    with _print_lock:
        print(f"labctl: {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# Paths


def cache_root() -> Path:
    env = os.environ.get("VMSCAPE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "fleetsec-vmscape"


def lab_dir() -> Path:
    return cache_root() / "lab"


def client_key() -> Path:
    return lab_dir() / "ssh" / "id_ed25519"


def known_hosts() -> Path:
    return lab_dir() / "known_hosts"


def base_image() -> Path:
    return lab_dir() / "base.qcow2"


# --------------------------------------------------------------------------------------------
# Inventory


def _line_of(path: Path, keys: list[str]) -> int | None:
    """1-based line of the mapping key at ``keys`` (a path into the YAML document), if found."""
    try:
        node = yaml.compose(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    line = None
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return line
        for k, v in node.value:
            if k.value == key:
                line = k.start_mark.line + 1
                node = v
                break
        else:
            return line
    return line


def _where(path: Path, keys: list[str]) -> str:
    line = _line_of(path, keys)
    rel = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    return f"{rel}:{line}" if line else str(rel)


def _load_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise LabError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise LabError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


@dataclass
class Host:
    name: str
    port: int
    description: str
    qemu: str
    cpu: str
    smp: int
    memory_mb: int
    kernel: str
    cmdline: str
    expect: dict = field(default_factory=dict)
    repo: str | None = None  # package set on a second disk (tools/lab/repos.py), sources.list names only it
    purge: str | None = None  # package set whose versioned kernel packages are purged at provisioning

    @property
    def repo_disk(self) -> Path | None:
        return lab_dir() / "repos" / f"{self.repo}.img" if self.repo else None

    @property
    def dir(self) -> Path:
        return lab_dir() / "hosts" / self.name

    @property
    def run(self) -> Path:
        run = self.dir / "run"
        # Unix socket paths are limited to 107 bytes: fall back to a short directory.
        if len(str(run / "serial.sock")) > 100:
            digest = hashlib.sha256(str(run).encode()).hexdigest()[:12]
            run = Path("/tmp") / f"fleetsec-lab-{os.getuid()}-{digest}"
        return run

    @property
    def pidfile(self) -> Path:
        return self.run / "qemu.pid"

    @property
    def serial_log(self) -> Path:
        return self.run / "serial.log"

    @property
    def qmp_sock(self) -> Path:
        return self.run / "qmp.sock"

    @property
    def serial_sock(self) -> Path:
        return self.run / "serial.sock"

    @property
    def disk(self) -> Path:
        return self.dir / "disk.qcow2"

    @property
    def provisioned(self) -> Path:
        return self.dir / "provisioned.qcow2"

    @property
    def hostkey(self) -> Path:
        return self.dir / "hostkey"


def load_hosts(inventory: Path = INVENTORY) -> dict[str, Host]:
    """The lab hosts from inventories/lab, validated; errors name the file and line."""
    hosts_file = inventory / "hosts.yml"
    data = _load_yaml(hosts_file)
    try:
        entries = data["all"]["children"]["lab"]["hosts"]
    except (TypeError, KeyError):
        raise LabError(f"{hosts_file}: expected all.children.lab.hosts") from None
    if not isinstance(entries, dict) or not entries:
        raise LabError(f"{_where(hosts_file, ['all', 'children', 'lab', 'hosts'])}: no hosts in group lab")
    hosts: dict[str, Host] = {}
    ports: dict[int, str] = {}
    for name, hv in entries.items():
        where = _where(hosts_file, ["all", "children", "lab", "hosts", str(name)])
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,40}", name):
            raise LabError(f"{where}: host name {name!r} must be lower-case letters, digits and '-'")
        port = (hv or {}).get("ansible_port")
        if not isinstance(port, int) or not 1024 <= port <= 65535:
            raise LabError(f"{where}: {name} needs an ansible_port between 1024 and 65535, got {port!r}")
        if port in ports:
            raise LabError(f"{where}: {name} uses port {port} already used by {ports[port]}")
        ports[port] = name
        hosts[name] = _load_profile(inventory / "host_vars" / f"{name}.yml", name, port)
    return hosts


def other_fleets(inventory: Path) -> dict[str, Host]:
    """Hosts of the other lab inventories (every ``inventories/lab*/`` with a hosts.yml is one fleet).

    The fleets share ``$VMSCAPE_CACHE/lab`` (image, key, known_hosts, hosts/<name>/) and the
    loopback ports: known_hosts keeps every fleet's keys, and a host name or port used by two
    fleets is refused.
    A copy of a fleet's inventory (the same host names, e.g. on other ports with a private
    ``VMSCAPE_CACHE``) stands for that fleet: it is not another fleet.
    """
    this = inventory.resolve()
    mine = set(load_hosts(inventory)) if (inventory / "hosts.yml").is_file() else set()
    out: dict[str, Host] = {}
    for inv in sorted((REPO / "inventories").glob("lab*")):
        if inv.resolve() != this and (inv / "hosts.yml").is_file():
            fleet = load_hosts(inv)
            if set(fleet) != mine:
                out.update(fleet)
    return out


def check_fleets(hosts: dict[str, Host], others: dict[str, Host], inventory: Path) -> None:
    ports = {h.port: h.name for h in others.values()}
    for host in hosts.values():
        if host.name in others:
            raise LabError(f"{inventory}: host {host.name} is also in another lab inventory (inventories/lab*)")
        if host.port in ports:
            raise LabError(
                f"{inventory}: {host.name} uses port {host.port}, which {ports[host.port]} of another lab "
                "inventory uses"
            )


def _load_profile(path: Path, name: str, port: int) -> Host:
    if not path.exists():
        raise LabError(f"{path}: missing (every lab host needs host_vars/<host>.yml with lab_profile)")
    data = _load_yaml(path)
    prof = data.get("lab_profile") if isinstance(data, dict) else None
    if not isinstance(prof, dict):
        raise LabError(f"{path}: no lab_profile mapping")

    def bad(key: str, why: str) -> LabError:
        return LabError(f"{_where(path, ['lab_profile', key])}: lab_profile.{key} {why}")

    def get(key: str, kind: type, default: object = None) -> object:
        if key not in prof:
            if default is not None:
                return default
            raise LabError(f"{_where(path, ['lab_profile'])}: lab_profile.{key} is missing")
        value = prof[key]
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            raise bad(key, f"must be a {kind.__name__}, got {value!r}")
        return value

    qemu = get("qemu", str)
    if qemu not in KNOWN_QEMU:
        raise bad("qemu", f"must be one of {', '.join(KNOWN_QEMU)}, got {qemu!r}")
    cpu = prof.get("cpu")
    if isinstance(cpu, list) and cpu and all(isinstance(part, str) for part in cpu):
        cpu = ",".join(part.strip(",") for part in cpu)
    if not isinstance(cpu, str) or not cpu.startswith("max") or "\n" in cpu or " ," in cpu:
        raise bad(
            "cpu",
            f"must be a QEMU -cpu string (or a list of its comma-separated parts) starting with 'max', got {cpu!r}",
        )
    smp = get("smp", int, 1)
    if not 1 <= smp <= 4:
        raise bad("smp", f"must be 1..4, got {smp}")
    memory = get("memory_mb", int, 768)
    if not 256 <= memory <= 8192:
        raise bad("memory_mb", f"must be 256..8192, got {memory}")
    kernel = get("kernel", str)
    if not re.fullmatch(r"\d+(?:\.\d+)?", kernel):
        raise bad("kernel", f"must be a kernel series like '6.1', '6.12' or '7', got {kernel!r}")
    cmdline = get("cmdline", str, "")
    if CMDLINE_FORBIDDEN.search(cmdline):
        raise bad("cmdline", f"must not contain quotes, backslashes, $ or newlines: {cmdline!r}")
    expect = get("expect", dict, {})
    repo = prof.get("repo")
    if repo is not None and repo not in REPO_SETS:
        raise bad("repo", f"must be one of {', '.join(REPO_SETS)}, got {repo!r}")
    purge = prof.get("purge")
    if purge is not None and purge != "fixed":
        raise bad("purge", f"must be 'fixed' (the kernel the fixed repository offers), got {purge!r}")
    return Host(
        name=name,
        port=port,
        description=str(prof.get("description", "")),
        qemu=qemu,
        cpu=cpu,
        smp=smp,
        memory_mb=memory,
        kernel=kernel,
        cmdline=cmdline,
        expect=expect,
        repo=repo,
        purge=purge,
    )


def select_hosts(all_hosts: dict[str, Host], names: list[str]) -> list[Host]:
    if not names:
        env = os.environ.get("LAB_HOSTS", "").replace(",", " ").split()
        names = env
    if not names:
        return list(all_hosts.values())
    unknown = [n for n in names if n not in all_hosts]
    if unknown:
        raise LabError(f"unknown host(s) {', '.join(unknown)}; the lab has: {', '.join(all_hosts)}")
    return [all_hosts[n] for n in names]


# --------------------------------------------------------------------------------------------
# Processes


def _read_pid(host: Host) -> int | None:
    try:
        pid = int(host.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    # Only our own QEMU of this host: never act on a recycled pid.
    if f"lab-{host.name},process=lab-{host.name}".encode() not in cmdline:
        return None
    return pid


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def running_pid(host: Host) -> int | None:
    pid = _read_pid(host)
    return pid if pid and _alive(pid) else None


def qmp(host: Host, command: str, timeout: float = 10.0, **arguments: object) -> dict:
    """Run one QMP command on the host's QEMU and return the reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(host.qmp_sock))
        f = s.makefile("rwb")

        def reply() -> dict:
            while True:
                line = f.readline()
                if not line:
                    raise LabError(f"{host.name}: QMP connection closed")
                msg = json.loads(line)
                if "event" not in msg:
                    return msg

        reply()  # greeting
        for cmd, args in (("qmp_capabilities", {}), (command, arguments)):
            req = {"execute": cmd}
            if args:
                req["arguments"] = args
            f.write(json.dumps(req).encode() + b"\n")
            f.flush()
            answer = reply()
        return answer


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        data = path.read_bytes()[-20000:].decode("utf-8", "replace")
    except OSError:
        return f"(no {path})"
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", data)
    return "\n".join(text.splitlines()[-lines:])


def panicked(host: Host) -> bool:
    try:
        return PANIC in host.serial_log.read_bytes()
    except OSError:
        return False


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as QEMU's host forwarding does: connections in TIME_WAIT do not make a port busy
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def qemu_prefix(host: Host) -> tuple[list[str], dict[str, str] | None]:
    """argv prefix and environment of the QEMU this host needs."""
    if host.qemu == "7.2":
        binary = shutil.which(SYSTEM_QEMU)
        if not binary:
            raise LabError(f"QEMU missing: {SYSTEM_QEMU} not found (run 'make deps': qemu-system-x86)")
        return [binary], None
    # QEMU >= 8 (BHI_CTRL): bookworm-backports QEMU 10 unpacked in the cache by tools/qemu.
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from tools.qemu.fetch import qemu_command_prefix
    except ImportError as exc:
        raise LabError(f"{host.name} needs QEMU {host.qemu} from tools/qemu, which cannot be imported: {exc}") from None
    try:
        return qemu_command_prefix(True)
    except Exception as exc:
        raise LabError(f"{host.name} needs QEMU {host.qemu} (bookworm-backports, tools/qemu): {exc}") from None


def qemu_argv(host: Host, disk: Path, daemon: bool = True) -> list[str]:
    prefix, _ = qemu_prefix(host)
    net = f"user,id=n0,hostfwd=tcp:127.0.0.1:{host.port}-:22"
    argv = [
        *prefix,
        "-name",
        f"lab-{host.name},process=lab-{host.name}",
        "-machine",
        "pc",
        "-accel",
        "tcg,thread=multi,tb-size=256",
        "-cpu",
        host.cpu,
        "-smp",
        str(host.smp),
        "-m",
        str(host.memory_mb),
        "-nodefaults",
        "-display",
        "none",
        "-rtc",
        "base=utc",
        "-drive",
        f"file={disk},if=virtio,format=qcow2,cache=writeback,discard=unmap",
        *(["-drive", f"file={host.repo_disk},if=virtio,format=raw,readonly=on"] if host.repo_disk is not None else []),
        "-netdev",
        net,
        "-device",
        "virtio-net-pci,netdev=n0,romfile=",
        "-object",
        "rng-random,id=rng0,filename=/dev/urandom",
        "-device",
        "virtio-rng-pci,rng=rng0",
        "-chardev",
        f"socket,id=ser0,path={host.serial_sock},server=on,wait=off,logfile={host.serial_log},logappend=on",
        "-serial",
        "chardev:ser0",
        "-qmp",
        f"unix:{host.qmp_sock},server=on,wait=off",
        "-pidfile",
        str(host.pidfile),
    ]
    if daemon:
        argv.append("-daemonize")
    return argv


def launch(host: Host, disk: Path) -> int:
    """Start the host's QEMU in the background; return its pid or raise with QEMU's own words."""
    host.run.mkdir(parents=True, exist_ok=True)
    for stale in (host.pidfile, host.qmp_sock, host.serial_sock):
        stale.unlink(missing_ok=True)
    argv = qemu_argv(host, disk)
    _, env = qemu_prefix(host)
    (host.run / "qemu.argv").write_text(json.dumps(argv, indent=1) + "\n")
    with open(host.run / "qemu.log", "ab") as log:
        log.write(f"--- {time.strftime('%F %T')} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.PIPE, env=env, check=False, timeout=120)
        log.write(proc.stderr)
    err = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        hint = ""
        if "host forwarding" in err or "Could not set up host forwarding" in err:
            hint = f" (port {host.port} busy?)"
        raise LabError(f"{host.name}: QEMU failed to start{hint}: {err or 'exit status ' + str(proc.returncode)}")
    pid = _read_pid(host)
    if not pid:
        raise LabError(f"{host.name}: QEMU started but wrote no usable pidfile {host.pidfile}: {err}")
    return pid


# --------------------------------------------------------------------------------------------
# Keys, disks, provisioning


def run(argv: list[str], what: str, timeout: float = 600) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{what} timed out after {timeout:.0f} s: {' '.join(argv)}") from exc
    if proc.returncode != 0:
        raise LabError(f"{what} failed: {' '.join(argv)}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def ensure_key(path: Path, comment: str) -> str:
    """An ed25519 key pair at ``path`` (made when missing); returns the public key line."""
    if not path.exists() or not path.with_suffix(".pub").exists():
        if not shutil.which("ssh-keygen"):
            raise LabError("ssh-keygen missing (run 'make deps': openssh-client)")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.with_suffix(".pub").unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], "ssh-keygen")
    path.chmod(0o600)
    return path.with_suffix(".pub").read_text().strip()


def write_known_hosts(hosts: dict[str, Host]) -> None:
    """known_hosts with the host key of every provisioned lab host, keyed [127.0.0.1]:<port>."""
    lines = []
    for host in hosts.values():
        pub = host.hostkey.with_suffix(".pub")
        if pub.exists():
            kind, key = pub.read_text().split()[:2]
            lines.append(f"[127.0.0.1]:{host.port} {kind} {key}\n")
    path = known_hosts()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines))
    tmp.replace(path)


def base_info() -> dict:
    image = base_image()
    info_file = lab_dir() / "base.json"
    if not image.exists() or not info_file.exists():
        raise LabError(f"lab image missing: {image} (run 'make lab-image' as root)")
    info = json.loads(info_file.read_text())
    info["path"] = str(image.resolve())
    return info


def repo_sets(host: Host) -> dict:
    """The package sets the host's profile names (repo disk built, purge list resolved)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tools.lab import repos  # the oracle's private apt method; network only on first use

    out = {}
    try:
        if host.repo:
            out["repo"] = repos.repo_disk(host.repo, host.repo_disk)
        if host.purge:
            out["purge"] = repos.fetch(host.purge)
    except repos.AptError as exc:
        raise LabError(f"{host.name}: package set for the lab: {exc}") from None
    return out


def purge_packages(sets: dict) -> list[str]:
    """Versioned kernel packages of the purge set (not its meta-packages)."""
    rec = sets.get("purge")
    return [p for p, _v in rec["packages"] if re.search(r"-\d", p)] if rec else []


def provision_stamp(host: Host, base: dict, authorized_key: str, sets: dict | None = None) -> str:
    sets = sets or {}
    data = {
        "repo": [host.repo, (sets.get("repo") or {}).get("files")],
        "purge": purge_packages(sets),
        "base": base["hash"],
        "base_path": base["path"],
        # the build, not only its inputs: a rebuild from the same inputs (the image deleted by
        # another checkout's build, --force) has the same hash and path but another file system
        "base_build": image_identity(base),
        "method": "offline",  # written on a loop device by labctl (no first-boot service)
        "fstab": REPO_FSTAB if host.repo else "",
        "hostname": host.name,
        "cmdline": host.cmdline,
        "kernel": host.kernel,
        "authorized_key": authorized_key,
        "hostkey": host.hostkey.with_suffix(".pub").read_text().split()[1],
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def image_identity(base: dict) -> str:
    """Which build of the lab image ``base`` (base.json) describes: its root file system's UUID
    (mkfs.ext4 makes a new one per build) and build time. Empty for a record without them."""
    return " ".join(str(base.get(k) or "") for k in ("root_uuid", "built")).strip()


def _base_record(host: Host) -> Path:
    """Records which build of the lab image the host's provisioned overlay was made on."""
    return host.dir / "provisioned.base"


def _stamp_file(path: Path) -> Path:
    return path.with_suffix(".stamp")


def qemu_img_create(path: Path, backing: Path) -> None:
    if not shutil.which("qemu-img"):
        raise LabError("qemu-img missing (run 'make deps': qemu-utils)")
    tmp = path.with_suffix(".new")
    tmp.unlink(missing_ok=True)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(backing), str(tmp)], "qemu-img create")
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# Offline provisioning: the host's profile is written into a copy of the lab image on a loop
# device (no VM boots). What used to be the guest's first-boot service, now on the host side.

GUEST_STAMP = "var/lib/fleetsec-lab/provisioned"
REPO_MOUNT = "/srv/lab-repo"
# x-systemd.device-timeout: under TCG at load 8 udev took longer than systemd's default 90 s to
# announce the disk ("Timed out waiting for device /dev/disk/by-label/lab-repo"); nofail keeps
# the boot going, and labctl start mounts it over SSH when the device came late (ensure_repo_mounted).
REPO_FSTAB = f"LABEL=lab-repo {REPO_MOUNT} ext4 ro,noload,nofail,x-systemd.device-timeout=600s 0 2"
REPO_SOURCES = f"deb [trusted=yes] file:{REPO_MOUNT}/repo ./\n"
HOSTNAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9.+~-]*")
AUTHORIZED_KEY_RE = re.compile(r"ssh-ed25519 [A-Za-z0-9+/]+={0,2}(?: [\x21-\x7e][\x20-\x7e]*)?")
CHROOT_ENV = [
    "/usr/bin/env",
    "-i",
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND=noninteractive",
    "LANG=C.UTF-8",
    "HOME=/root",
]


@dataclass(frozen=True)
class Profile:
    """What provisioning writes into a host's disk (validated by :func:`make_profile`)."""

    hostname: str
    cmdline: str
    kernel: str  # series: 6.1, 6.12, 6.16, 7
    authorized_key: str
    hostkey: str  # the ed25519 private key (OpenSSH format)
    hostkey_pub: str  # its public half, "ssh-ed25519 AAAA..."
    repo: bool = False
    purge: tuple[str, ...] = ()


def make_profile(host: Host, authorized_key: str, purge: list[str]) -> Profile:
    """The host's profile, checked as the first-boot service checked it: it ends up in system files."""
    if not HOSTNAME_RE.fullmatch(host.name):
        raise LabError(f"{host.name}: bad host name for /etc/hostname")
    if CMDLINE_FORBIDDEN.search(host.cmdline):
        raise LabError(f"{host.name}: cmdline must not contain quotes, backslashes, $ or newlines: {host.cmdline!r}")
    if not re.fullmatch(r"\d+(?:\.\d+)?", host.kernel):
        raise LabError(f"{host.name}: bad kernel series {host.kernel!r}")
    key = authorized_key.strip()
    if not AUTHORIZED_KEY_RE.fullmatch(key):
        raise LabError(f"{client_key()}.pub: not one ed25519 public key line")
    for name in purge:
        if not PACKAGE_RE.fullmatch(name):
            raise LabError(f"{host.name}: bad package name to purge: {name!r}")
    try:
        private = host.hostkey.read_text()
        public = host.hostkey.with_suffix(".pub").read_text().split()
    except OSError as exc:
        raise LabError(f"{host.hostkey}: cannot read the host key: {exc.strerror}") from None
    if "BEGIN OPENSSH PRIVATE KEY" not in private or len(public) < 2 or public[0] != "ssh-ed25519":
        raise LabError(f"{host.hostkey}: not an ed25519 key pair (delete it and its .pub: start makes a new one)")
    return Profile(
        hostname=host.name,
        cmdline=host.cmdline,
        kernel=host.kernel,
        authorized_key=key,
        hostkey=private.strip() + "\n",
        hostkey_pub=f"{public[0]} {public[1]}",
        repo=bool(host.repo),
        purge=tuple(purge),
    )


def kernel_for(series: str, versions: list[str]) -> str:
    """The newest kernel release of ``series`` (6.1 -> 6.1.0-57-amd64, 7 -> 7.3.4+deb13-amd64)."""
    match = [v for v in versions if v == series or v.startswith((series + ".", series + "-"))]
    if not match:
        raise LabError(f"no kernel of series {series} in /boot (have {', '.join(sorted(versions)) or 'none'})")

    def key(v: str) -> list:
        return [(0, int(x), "") if x.isdigit() else (1, 0, x) for x in re.split(r"[.+-]", v)]

    return max(match, key=key)


def set_grub_var(text: str, name: str, value: str) -> str:
    """/etc/default/grub with ``name="value"`` (replaced where set, appended otherwise)."""
    line = f'{name}="{value}"'
    new, count = re.subn(rf"(?m)^{re.escape(name)}=.*$", lambda _m: line, text)
    return new if count else text.rstrip("\n") + "\n" + line + "\n"


def set_hosts_name(text: str, hostname: str) -> str:
    """/etc/hosts with 127.0.1.1 naming ``hostname`` (added when the image has no such line)."""
    new, count = re.subn(r"(?m)^127\.0\.1\.1\s.*$", lambda _m: f"127.0.1.1\t{hostname}", text)
    return new if count else text.rstrip("\n") + f"\n127.0.1.1\t{hostname}\n"


def fstab_with_repo(text: str) -> str:
    """/etc/fstab with the repository disk's line (any earlier lab-repo line replaced)."""
    lines = [ln for ln in text.splitlines() if ln.split()[:1] != ["LABEL=lab-repo"]]
    return "\n".join([*lines, REPO_FSTAB]) + "\n"


def grub_entry(uuid: str, kver: str) -> str:
    """GRUB_DEFAULT for kernel ``kver`` in the Advanced submenu (as grub-mkconfig names its ids)."""
    return f"gnulinux-advanced-{uuid}>gnulinux-{kver}-advanced-{uuid}"


def _inside(root: Path, rel: str) -> Path:
    """``root/rel`` with every symlink resolved, refused when it leaves ``root`` (an image is data)."""
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise LabError(f"{rel} in the image points outside it ({path})")
    return path


def _write(root: Path, rel: str, text: str, mode: int = 0o644) -> None:
    path = _inside(root, rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".fleetsec-tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    if os.geteuid() == 0:
        os.chown(tmp, 0, 0)
    tmp.replace(path)


def _read(root: Path, rel: str, limit: int = 1 << 20) -> str:
    path = _inside(root, rel)
    if not path.is_file():
        raise LabError(f"the image has no regular file /{rel}")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise LabError(f"/{rel} in the image is larger than {limit} bytes")
    return data.decode("utf-8", "replace")


def apply_files(root: Path, profile: Profile) -> None:
    """Write the profile's files into the image mounted at ``root`` (what needs no chroot)."""
    _write(root, "etc/hostname", profile.hostname + "\n")
    _write(root, "etc/hosts", set_hosts_name(_read(root, "etc/hosts"), profile.hostname))
    # A machine id of its own, as the first-boot service's boot committed one: the host's later
    # boots are not first boots (no ConditionFirstBoot units on every reset).
    _write(root, "etc/machine-id", os.urandom(16).hex() + "\n", 0o444)
    ssh_dir = _inside(root, "root/.ssh")
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    _write(root, "root/.ssh/authorized_keys", profile.authorized_key + "\n", 0o600)
    _write(root, "etc/ssh/ssh_host_ed25519_key", profile.hostkey, 0o600)
    _write(root, "etc/ssh/ssh_host_ed25519_key.pub", f"{profile.hostkey_pub} root@{profile.hostname}\n")
    if profile.repo:
        _inside(root, REPO_MOUNT.lstrip("/")).mkdir(parents=True, exist_ok=True)
        _write(root, "etc/fstab", fstab_with_repo(_read(root, "etc/fstab")))
        _write(root, "etc/apt/sources.list", REPO_SOURCES)


def set_grub_defaults(root: Path, profile: Profile, uuid: str) -> str:
    """GRUB_DEFAULT (the profile's kernel) and GRUB_CMDLINE_LINUX_DEFAULT; returns the kernel release."""
    boot = _inside(root, "boot")
    kver = kernel_for(profile.kernel, [p.name[len("vmlinuz-") :] for p in boot.glob("vmlinuz-*")])
    grub = _read(root, "etc/default/grub")
    grub = set_grub_var(grub, "GRUB_DEFAULT", grub_entry(uuid, kver))
    grub = set_grub_var(grub, "GRUB_CMDLINE_LINUX_DEFAULT", profile.cmdline)
    _write(root, "etc/default/grub", grub)
    return kver


def verify_image(root: Path, profile: Profile, uuid: str, kver: str) -> None:
    """The provisioned image says what the profile asks (read back from the file system)."""
    problems = []
    cfg = _read(root, "boot/grub/grub.cfg", 4 << 20)
    if f"'gnulinux-{kver}-advanced-{uuid}'" not in cfg:
        problems.append(f"grub.cfg has no menu entry id gnulinux-{kver}-advanced-{uuid}")
    if f"root=UUID={uuid}" not in cfg or "/dev/loop" in cfg:
        problems.append(f"grub.cfg does not boot root=UUID={uuid} (or names a loop device)")
    if profile.cmdline and profile.cmdline not in cfg:
        problems.append(f"grub.cfg lacks the cmdline {profile.cmdline!r}")
    if _read(root, "etc/hostname") != profile.hostname + "\n":
        problems.append("/etc/hostname is not the host's name")
    if _read(root, "root/.ssh/authorized_keys").strip() != profile.authorized_key:
        problems.append("/root/.ssh/authorized_keys is not the lab key")
    for name in profile.purge:
        if _inside(root, f"var/lib/dpkg/info/{name}.list").exists():
            problems.append(f"package {name} is still installed")
    if profile.repo and REPO_FSTAB not in _read(root, "etc/fstab").splitlines():
        problems.append("/etc/fstab lacks the lab-repo line")
    if problems:
        raise LabError("; ".join(problems))


def check_repo_disk(path: Path) -> None:
    """The repository disk is an ext4 file system labelled lab-repo holding repo/Packages.

    Read on the host without mounting it (debugfs opens it read-only): running hosts have it attached.
    """
    label = run(["blkid", "-p", "-o", "value", "-s", "LABEL", str(path)], f"blkid {path}", timeout=60).strip()
    if label != "lab-repo":
        raise LabError(f"{path}: file system label is {label or 'none'!r}, not 'lab-repo'")
    out = run(["debugfs", "-R", "stat /repo/Packages", str(path)], f"debugfs {path}", timeout=120)
    if "Type: regular" not in out:
        raise LabError(f"{path}: the repository disk holds no repo/Packages")


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise LabError(
            f"{what} needs root (loop devices, mount, chroot: provisioning writes the profile into a copy of "
            "the lab image without booting it); run labctl as root, as CI does (make lab-image needs root too)"
        )
    missing = [
        t
        for t in ("qemu-img", "losetup", "mount", "umount", "chroot", "e2fsck", "blkid", "debugfs")
        if not shutil.which(t)
    ]
    if missing:
        raise LabError(f"{what} needs {', '.join(missing)} (run 'make deps': tools/system-packages.txt)")


@contextlib.contextmanager
def _flock(path: Path, what: str, timeout: float):
    """An exclusive flock on ``path`` (waits up to ``timeout`` s for another labctl run)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"{what}: another labctl run holds {path} for more than {timeout:.0f} s") from None
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)


class _Mounts:
    """Loop device and mounts of one provisioning run; ``close`` undoes all of it, always."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.loop: str | None = None
        self.mounts: list[Path] = []
        self.made: list[Path] = []

    def attach(self, raw: Path) -> Path:
        self.loop = run(["losetup", "--show", "-f", "-P", str(raw)], "losetup", timeout=60).strip()
        part = Path(self.loop + "p1")
        if not part.is_block_device():
            with contextlib.suppress(LabError):
                run(["partx", "-a", self.loop], "partx", timeout=60)
        if not part.is_block_device():
            # no devtmpfs/udev: make the partition node from sysfs, as build-image.sh does
            name = Path(self.loop).name
            try:
                major, minor = Path(f"/sys/block/{name}/{name}p1/dev").read_text().strip().split(":")
            except OSError:
                raise LabError(f"{self.host.name}: partition 1 of {self.loop} not found") from None
            os.mknod(part, 0o600 | 0o060000, os.makedev(int(major), int(minor)))
            self.made.append(part)
        return part

    def mount(self, argv: list[str], target: Path) -> None:
        run(["mount", *argv, str(target)], f"{self.host.name}: mount {target}", timeout=60)
        self.mounts.append(target)

    def umount(self, target: Path) -> None:
        run(["umount", str(target)], f"{self.host.name}: umount {target}", timeout=120)
        self.mounts.remove(target)

    def close(self) -> list[str]:
        """Unmount (innermost first) and detach; returns what could not be undone."""
        left = []
        for target in reversed(list(self.mounts)):
            try:
                self.umount(target)
            except LabError:
                try:
                    run(["umount", "-l", str(target)], f"umount -l {target}", timeout=60)
                    self.mounts.remove(target)
                except LabError as exc:
                    left.append(str(exc))
        for path in self.made:
            with contextlib.suppress(OSError):
                path.unlink()
        self.made = []
        if self.loop:
            try:
                run(["losetup", "-d", self.loop], f"losetup -d {self.loop}", timeout=60)
                self.loop = None
            except LabError as exc:
                left.append(str(exc))
        return left


def _by_uuid_link(uuid: str, part: Path) -> Path | None:
    """/dev/disk/by-uuid/<uuid> -> the loop partition while update-grub runs (returns it when made).

    Without udev grub-mkconfig writes root=/dev/loopXp1: it uses root=UUID= only when that link
    exists (build-image.sh does the same). Every host's copy has the image's UUID; the global
    provisioning lock (see provision) serializes the chroot steps that need it.
    """
    link = Path("/dev/disk/by-uuid") / uuid
    if link.exists() or link.is_symlink():
        return None
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(part)
    return link


def provision_offline(host: Host, base: dict, profile: Profile, timeout: float) -> Path:
    """Write the profile into a copy of the lab image; returns the new overlay (a temp name).

    The copy is a sparse raw file on a loop device; the result is a qcow2 overlay on the base
    holding only what changed. Every mount and the loop device are undone whatever happens.
    """
    base_path = Path(base["path"])
    work = host.dir / "provisioning"
    raw = work / "disk.raw"
    mnt = work / "root"
    out = host.dir / "provisioned.qcow2.new"
    if work.exists():
        shutil.rmtree(work)  # a run killed before its cleanup (the lock is ours now)
    work.mkdir(parents=True)
    out.unlink(missing_ok=True)
    mounts = _Mounts(host)
    link = None
    try:
        run(
            ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(base_path), str(raw)],
            f"{host.name}: qemu-img convert (copy of the lab image)",
            timeout=timeout,
        )
        part = mounts.attach(raw)
        uuid = run(["blkid", "-p", "-o", "value", "-s", "UUID", str(part)], "blkid", timeout=60).strip()
        if uuid != base.get("root_uuid", uuid):
            raise LabError(f"{host.name}: root file system UUID {uuid} is not base.json's {base.get('root_uuid')}")
        mnt.mkdir()
        mounts.mount([str(part)], mnt)
        apply_files(mnt, profile)
        for argv, rel in (
            (["-t", "proc", "proc"], "proc"),
            (["-t", "sysfs", "sys"], "sys"),
            (["--bind", "/dev"], "dev"),
            (["-t", "devpts", "devpts", "-o", "newinstance,ptmxmode=0666"], "dev/pts"),
            (["-t", "tmpfs", "tmpfs"], "run"),
        ):
            mounts.mount(argv, _inside(mnt, rel))
        # nothing may start in the chroot (a package script's invoke-rc.d asks policy-rc.d)
        _write(mnt, "usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755)
        chroot = ["chroot", str(mnt), *CHROOT_ENV]
        with _flock(lab_dir() / "provision-dev.lock", f"{host.name}: /dev/disk/by-uuid", timeout):
            link = _by_uuid_link(uuid, part)
            try:
                if profile.purge:
                    # the kernels' own removal scripts run (initramfs, the zz-update-grub hook)
                    run([*chroot, "dpkg", "--purge", *profile.purge], f"{host.name}: dpkg --purge", timeout=timeout)
                kver = set_grub_defaults(mnt, profile, uuid)
                run([*chroot, "update-grub"], f"{host.name}: update-grub", timeout=timeout)
                # What the host's first boot would otherwise do after every reset (ldconfig.service,
                # systemd-journal-catalog-update, sysusers: ConditionNeedsUpdate=, 30 s under TCG):
                # dpkg's triggers did that work when the image was built.
                run([*chroot, "/usr/lib/systemd/systemd-update-done"], f"{host.name}: systemd-update-done", timeout=60)
            finally:
                if link is not None:
                    link.unlink(missing_ok=True)
                    link = None
        _inside(mnt, "usr/sbin/policy-rc.d").unlink()
        verify_image(mnt, profile, uuid, kver)
        _write(mnt, GUEST_STAMP, f"host={profile.hostname} kernel={kver} cmdline={profile.cmdline}\n")
        for target in reversed(list(mounts.mounts)):
            mounts.umount(target)
        run(
            ["e2fsck", "-fn", str(part)],
            f"{host.name}: e2fsck -fn (file system not clean after provisioning)",
            timeout=timeout,
        )
        left = mounts.close()
        if left:
            raise LabError(f"{host.name}: cleanup failed: {'; '.join(left)}")
        # Only the difference to the base: an empty overlay on the modified copy, rebased (safe
        # mode) onto the base, takes exactly the clusters where the two differ (qemu-img convert
        # -B would copy every allocated cluster: 1.9 GiB per host).
        run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(raw), "-F", "raw", str(out)],
            f"{host.name}: qemu-img create (overlay on the modified copy)",
            timeout=timeout,
        )
        run(
            ["qemu-img", "rebase", "-f", "qcow2", "-b", str(base_path), "-F", "qcow2", str(out)],
            f"{host.name}: qemu-img rebase (keep only the difference to the lab image)",
            timeout=timeout,
        )
        return out
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        if link is not None:
            link.unlink(missing_ok=True)
        left = mounts.close()
        if left:
            say(f"{host.name}: WARNING: could not undo: {'; '.join(left)}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def provision(host: Host, base: dict, authorized_key: str, timeout: float) -> bool:
    """Make provisioned.qcow2 current (profile written offline); True when it had to."""
    sets = repo_sets(host)
    stamp = provision_stamp(host, base, authorized_key, sets)
    stamp_file = _stamp_file(host.provisioned)

    def current() -> bool:
        return host.provisioned.exists() and stamp_file.exists() and stamp_file.read_text().strip() == stamp

    if current():
        return False
    available = base.get("kernels", "").split()
    if not any(k == host.kernel or k.startswith(host.kernel + ".") for k in available):
        raise LabError(
            f"{host.name}: kernel series {host.kernel} is not in the base image (has {', '.join(available)})"
        )
    require_root(f"{host.name}: provisioning")
    profile = make_profile(host, authorized_key, purge_packages(sets))
    host.dir.mkdir(parents=True, exist_ok=True)
    # two labctl runs never provision the same host at once
    with _flock(host.dir / "provision.lock", f"{host.name}: provisioning", timeout):
        if current():
            return False
        if host.repo_disk is not None:
            check_repo_disk(host.repo_disk)
        say(f"{host.name}: provisioning offline (hostname, keys, GRUB cmdline {host.cmdline!r}, kernel {host.kernel})")
        t0 = time.monotonic()
        new = provision_offline(host, base, profile, timeout)
        _stamp_file(host.provisioned).unlink(missing_ok=True)
        new.replace(host.provisioned)
        _stamp_file(host.provisioned).write_text(stamp + "\n")
        _base_record(host).write_text(image_identity(base) + "\n")
        say(f"{host.name}: provisioned in {time.monotonic() - t0:.0f} s")
    return True


def backing_file(path: Path) -> Path | None:
    """The backing file ``path`` (a qcow2 overlay) names, resolved; None for a standalone image."""
    info = json.loads(run(["qemu-img", "info", "-U", "--output=json", str(path)], "qemu-img info", timeout=60))
    name = info.get("full-backing-filename") or info.get("backing-filename")
    if not name:
        return None
    backing = Path(name)
    if not backing.is_absolute():
        backing = path.parent / backing
    return backing.resolve()


def provisioned_stale(host: Host) -> str | None:
    """Why the host's provisioned overlay can no longer be used (None when it can).

    The overlay is built on the lab image of its day: ``make lab-image`` replaces the image when
    its inputs change (a new kernel in the registry) and deletes the old one, leaving overlays
    whose backing file is gone or is not the current image; a rebuild from the same inputs keeps
    the name but not the file system, so the build each overlay was made on is recorded too.
    Such an overlay cannot be reset or booted; ``start`` provisions the host again.
    """
    if not host.provisioned.exists():
        return None
    backing = backing_file(host.provisioned)
    if backing is None:
        return "it has no backing image"
    if not backing.exists():
        return f"its backing image {backing} is gone"
    current = base_image()
    if current.exists() and backing != current.resolve():
        return f"it is built on {backing.name}, not on the current lab image {current.resolve().name}"
    try:
        now = image_identity(base_info())
    except (LabError, ValueError):
        return None  # no record of the current build: start's stamp check decides
    record = _base_record(host)
    made_on = record.read_text().strip() if record.exists() else ""
    if not made_on:
        return f"no record of which build of {backing.name} it was made on"
    if made_on != now:
        return f"it was made on an earlier build of {backing.name} ({made_on}; current build {now})"
    return None


def discard_overlays(host: Host) -> None:
    """Remove the host's provisioned overlay and disk (with their stamps): start provisions anew."""
    for path in (host.disk, host.provisioned):
        path.unlink(missing_ok=True)
        _stamp_file(path).unlink(missing_ok=True)
    _base_record(host).unlink(missing_ok=True)


def reset_disk(host: Host) -> None:
    """disk.qcow2 = empty overlay on provisioned.qcow2 (the host as first provisioned).

    A provisioned overlay built on a lab image that is gone is discarded instead (with a message
    that says so): the next ``start`` provisions the host on the current image.
    """
    if running_pid(host):
        raise LabError(f"{host.name} is running: stop it before resetting its disk")
    stale = provisioned_stale(host)
    if stale:
        discard_overlays(host)
        say(f"{host.name}: provisioned disk discarded ({stale}); start provisions it again")
        return
    qemu_img_create(host.disk, host.provisioned)
    _stamp_file(host.disk).write_text(_stamp_file(host.provisioned).read_text())


def disk_current(host: Host) -> bool:
    return (
        host.disk.exists()
        and _stamp_file(host.disk).exists()
        and _stamp_file(host.provisioned).exists()
        and _stamp_file(host.disk).read_text() == _stamp_file(host.provisioned).read_text()
    )


# --------------------------------------------------------------------------------------------
# SSH


def ssh_base(host: Host) -> list[str]:
    return [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts()}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "LogLevel=ERROR",
        "-i",
        str(client_key()),
        "-p",
        str(host.port),
        "root@127.0.0.1",
    ]


def ssh_ok(host: Host, connect_timeout: int = 5) -> tuple[bool, str]:
    argv = ssh_base(host)
    argv[1:1] = ["-o", f"ConnectTimeout={connect_timeout}"]
    try:
        proc = subprocess.run(
            [*argv, "true"], capture_output=True, text=True, timeout=connect_timeout + 20, check=False
        )
    except subprocess.TimeoutExpired:
        return False, "ssh timed out"
    return proc.returncode == 0, proc.stderr.strip()


def wait_ssh(host: Host, pid: int | None, timeout: float, fresh: bool = False) -> float:
    """Seconds until SSH logs in; raises with the serial log tail on QEMU exit or timeout."""
    t0 = time.monotonic()
    last = ""
    while True:
        if pid is not None and not _alive(pid):
            raise LabError(
                f"{host.name}: QEMU exited while booting; {host.run / 'qemu.log'}:\n"
                f"{log_tail(host.run / 'qemu.log', 5)}\nserial log {host.serial_log}:\n{log_tail(host.serial_log)}"
            )
        if fresh and pid is not None and panicked(host):
            _kill(host, pid)
            raise KernelPanic(f"{host.name}: kernel panic while booting:\n{log_tail(host.serial_log)}")
        ok, last = ssh_ok(host)
        if ok:
            return time.monotonic() - t0
        if "Host key verification failed" in last or "REMOTE HOST IDENTIFICATION" in last:
            raise LabError(f"{host.name}: SSH host key does not match {known_hosts()}: {last}")
        if time.monotonic() - t0 > timeout:
            raise LabError(
                f"{host.name}: no SSH on 127.0.0.1:{host.port} after {timeout:.0f} s (boot timeout; last: {last}); "
                f"serial log {host.serial_log}:\n{log_tail(host.serial_log)}"
            )
        time.sleep(2)


# --------------------------------------------------------------------------------------------
# Commands


def _kill(host: Host, pid: int) -> None:
    with contextlib.suppress(Exception):
        qmp(host, "quit", timeout=5)
    for sig, wait in ((None, 5), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if sig is not None and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _alive(pid):
            return


def ensure_repo_mounted(host: Host, timeout: float = 300) -> bool:
    """The repository disk is mounted on /srv/lab-repo (mounted over SSH when the boot did not).

    fstab mounts it with nofail: a device that udev announced late (TCG under load) leaves the
    boot without it, and apt would fail far away in a test. True when labctl had to mount it.
    """
    script = (
        f"if findmnt -n {REPO_MOUNT} >/dev/null; then echo MOUNTED; "
        f"else mount {REPO_MOUNT} && findmnt -n {REPO_MOUNT} >/dev/null && echo MOUNTED-NOW; fi"
    )
    try:
        proc = subprocess.run([*ssh_base(host), script], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LabError(
            f"{host.name}: mounting the repository disk on {REPO_MOUNT} timed out after {timeout:.0f} s"
        ) from None
    out = proc.stdout.split()
    if proc.returncode != 0 or not out or out[-1] not in ("MOUNTED", "MOUNTED-NOW"):
        raise LabError(
            f"{host.name}: the repository disk (LABEL=lab-repo, {host.repo_disk}) is not mounted on {REPO_MOUNT} "
            f"and 'mount {REPO_MOUNT}' failed: {(proc.stderr or proc.stdout).strip() or 'exit ' + str(proc.returncode)}"
        )
    if out[-1] == "MOUNTED-NOW":
        say(f"{host.name}: {REPO_MOUNT} was not mounted at boot (device late?); mounted it")
        return True
    return False


def start_one(
    host: Host, base: dict, authorized_key: str, reset: bool, timeout: float, provision_timeout: float | None = None
) -> dict:
    t0 = time.monotonic()
    pid = running_pid(host)
    provisioned = False
    if pid:
        say(f"{host.name}: already running (pid {pid})")
        boot = wait_ssh(host, pid, timeout)
    else:
        if not port_free(host.port):
            raise LabError(f"{host.name}: port 127.0.0.1:{host.port} is busy (another process listens there)")
        ensure_key(host.hostkey, f"lab-hostkey-{host.name}")
        provisioned = provision(host, base, authorized_key, provision_timeout or timeout)
        for attempt in (1, 2):
            try:
                if reset or provisioned or not disk_current(host):
                    reset_disk(host)
                host.serial_log.unlink(missing_ok=True)
                pid = launch(host, host.disk)
                cpu = host.cpu.split(",model-id")[0]
                say(f"{host.name}: started (pid {pid}, ssh 127.0.0.1:{host.port}, {host.memory_mb} MiB, cpu {cpu})")
                boot = wait_ssh(host, pid, timeout, fresh=True)
                break
            except KernelPanic as exc:
                if attempt == 2:
                    raise
                say(f"{exc}\n{host.name}: retrying once")
    if host.repo:
        ensure_repo_mounted(host)
    total = time.monotonic() - t0
    say(
        f"{host.name}: SSH up after {boot:.0f} s ({total:.0f} s with provisioning)"
        if provisioned
        else f"{host.name}: SSH up after {boot:.0f} s"
    )
    return {
        "host": host.name,
        "pid": pid,
        "ssh_seconds": round(boot, 1),
        "total_seconds": round(total, 1),
        "provisioned": provisioned,
    }


def cmd_start(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    hosts = select_hosts(all_hosts, args.hosts)
    base = base_info()
    for host in hosts:
        qemu_prefix(host)  # QEMU present (and QEMU 10 fetched) before anything boots
    authorized_key = ensure_key(client_key(), "fleetsec-lab")
    for host in hosts:
        ensure_key(host.hostkey, f"lab-hostkey-{host.name}")
    write_known_hosts({**getattr(args, "others", {}), **all_hosts})
    t0 = time.monotonic()
    results, errors = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        futures = {
            pool.submit(start_one, h, base, authorized_key, args.reset, args.timeout, args.provision_timeout): h
            for h in hosts
        }
        for fut in concurrent.futures.as_completed(futures):
            try:
                results.append(fut.result())
            except LabError as exc:
                errors.append(str(exc))
                say(f"error: {exc}")
    wall = time.monotonic() - t0
    record = {
        "when": time.strftime("%FT%T"),
        "parallel": args.parallel,
        "wall_seconds": round(wall, 1),
        "hosts": results,
    }
    (lab_dir() / "last-start.json").write_text(json.dumps(record, indent=2) + "\n")
    if errors:
        raise LabError(f"{len(errors)} of {len(hosts)} host(s) failed to start (see above)")
    inventory = Path(args.inventory).resolve()
    shown = inventory.relative_to(REPO) if inventory.is_relative_to(REPO) else inventory
    say(f"{len(hosts)} host(s) up in {wall:.0f} s; inventory: -i {shown}")
    return 0


def cmd_provision(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    """Provision hosts (offline, no boot) whose provisioned overlay is missing or outdated."""
    hosts = select_hosts(all_hosts, args.hosts)
    base = base_info()
    authorized_key = ensure_key(client_key(), "fleetsec-lab")
    for host in hosts:
        ensure_key(host.hostkey, f"lab-hostkey-{host.name}")
    write_known_hosts({**getattr(args, "others", {}), **all_hosts})
    running = [h.name for h in hosts if running_pid(h)]
    if running:
        raise LabError(f"running: {', '.join(running)} (provisioning replaces their disks; stop them first)")
    t0 = time.monotonic()
    errors = []

    def one(host: Host) -> None:
        if provision(host, base, authorized_key, args.timeout):
            reset_disk(host)
        else:
            say(f"{host.name}: provisioned disk is current")

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        for fut in concurrent.futures.as_completed([pool.submit(one, h) for h in hosts]):
            try:
                fut.result()
            except LabError as exc:
                errors.append(str(exc))
                say(f"error: {exc}")
    if errors:
        raise LabError(f"{len(errors)} of {len(hosts)} host(s) failed to provision (see above)")
    say(f"{len(hosts)} host(s) provisioned in {time.monotonic() - t0:.0f} s")
    return 0


def cmd_stop(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    hosts = [h for h in select_hosts(all_hosts, args.hosts) if running_pid(h)]
    if not hosts:
        say("nothing running")
        return 0
    pids = {h.name: running_pid(h) for h in hosts}
    for host in hosts:
        if args.force:
            continue
        try:
            qmp(host, "system_powerdown")
        except (OSError, LabError) as exc:
            say(f"{host.name}: QMP powerdown failed ({exc}); killing")
            _kill(host, pids[host.name])
    deadline = time.monotonic() + (0 if args.force else args.timeout)
    while time.monotonic() < deadline and any(_alive(p) for p in pids.values() if p):
        time.sleep(0.5)
    for host in hosts:
        pid = pids[host.name]
        if pid and _alive(pid):
            if not args.force:
                say(f"{host.name}: no clean shutdown within {args.timeout:.0f} s; quitting QEMU")
            _kill(host, pid)
        say(f"{host.name}: stopped")
    return 0


def cmd_destroy(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    """Stop at once (no guest shutdown) and discard every change since provisioning."""
    args.force = True
    cmd_stop(all_hosts, args)
    for host in select_hosts(all_hosts, args.hosts):
        if host.provisioned.exists():
            reset_disk(host)
            if host.provisioned.exists():
                say(f"{host.name}: disk reset to its provisioned state")
    return 0


def cmd_reset(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    for host in select_hosts(all_hosts, args.hosts):
        if not host.provisioned.exists():
            say(f"{host.name}: not provisioned yet (start provisions it)")
            continue
        reset_disk(host)
        if host.provisioned.exists():
            say(f"{host.name}: disk reset to its provisioned state")
    return 0


def host_status(host: Host, check_ssh: bool = True) -> dict:
    pid = running_pid(host)
    ssh = None
    if pid and check_ssh:
        ssh = ssh_ok(host, connect_timeout=3)[0]
    uptime = None
    if pid:
        with contextlib.suppress(OSError):
            uptime = round(time.time() - host.pidfile.stat().st_mtime)
    return {
        "host": host.name,
        "state": "running" if pid else "stopped",
        "pid": pid,
        "port": host.port,
        "ssh": ssh,
        "uptime_seconds": uptime,
        "provisioned": host.provisioned.exists(),
        "qemu": host.qemu,
        "kernel": host.kernel,
        "cmdline": host.cmdline,
        "memory_mb": host.memory_mb,
        "description": host.description,
        "serial_log": str(host.serial_log),
    }


def cmd_status(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    rows = [host_status(h) for h in select_hosts(all_hosts, args.hosts)]
    if args.json:
        print(json.dumps({"lab_dir": str(lab_dir()), "hosts": rows}, indent=2))
        return 0
    print(f"{'HOST':<16} {'STATE':<8} {'PID':>7} {'PORT':>5} {'SSH':<4} {'UP':>6}  PROFILE")
    for r in rows:
        ssh = {True: "yes", False: "no", None: "-"}[r["ssh"]]
        up = f"{r['uptime_seconds']}s" if r["uptime_seconds"] is not None else "-"
        pid = r["pid"] or "-"
        print(f"{r['host']:<16} {r['state']:<8} {pid:>7} {r['port']:>5} {ssh:<4} {up:>6}  {r['description']}")
    return 0


def cmd_wait(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    hosts = select_hosts(all_hosts, args.hosts)
    stopped = [h.name for h in hosts if not running_pid(h)]
    if stopped:
        raise LabError(f"not running: {', '.join(stopped)} (labctl start)")
    for host in hosts:
        secs = wait_ssh(host, running_pid(host), args.timeout)
        say(f"{host.name}: SSH up ({secs:.0f} s)")
    return 0


def cmd_ssh(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    host = select_hosts(all_hosts, [args.host])[0]
    if not running_pid(host):
        raise LabError(f"{host.name} is not running (labctl start {host.name})")
    argv = ssh_base(host)
    if sys.stdin.isatty() and not args.command:
        argv.insert(1, "-t")
    os.execvp(argv[0], argv + args.command)
    return 1


def cmd_log(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    host = select_hosts(all_hosts, [args.host])[0]
    print(log_tail(host.serial_log, args.lines))
    return 0


def cmd_console(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    """Attach the terminal to the host's serial console (Ctrl-] quits)."""
    host = select_hosts(all_hosts, [args.host])[0]
    if not running_pid(host):
        raise LabError(f"{host.name} is not running")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(host.serial_sock))
    print(f"labctl: console of {host.name} (Ctrl-] quits; press Enter for a prompt)", flush=True)
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    try:
        if saved:
            tty.setraw(fd)
        while True:
            ready, _, _ = select.select([fd, sock], [], [])
            if sock in ready:
                data = sock.recv(4096)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if fd in ready:
                data = os.read(fd, 1024)
                if not data or b"\x1d" in data:
                    break
                sock.sendall(data)
    finally:
        if saved:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        sock.close()
    print()
    return 0


def cmd_paths(all_hosts: dict[str, Host], args: argparse.Namespace) -> int:
    print(
        json.dumps(
            {
                "lab_dir": str(lab_dir()),
                "base_image": str(base_image()),
                "client_key": str(client_key()),
                "known_hosts": str(known_hosts()),
                "inventory": str(args.inventory),
                # every lab fleet's hosts (inventories/lab*): they share this cache
                "hosts": {
                    h.name: {"port": h.port, "dir": str(h.dir), "run": str(h.run)}
                    for h in {**getattr(args, "others", {}), **all_hosts}.values()
                },
            },
            indent=2,
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="labctl", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--inventory", type=Path, default=INVENTORY, help="lab inventory directory (default inventories/lab)"
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    timeout = float(os.environ.get("LAB_BOOT_TIMEOUT", "600"))
    s = sub.add_parser("start", help="provision when needed, boot, wait for SSH")
    s.add_argument("hosts", nargs="*", help="hosts (default: $LAB_HOSTS or all)")
    s.add_argument("--reset", action="store_true", help="discard changes since provisioning before booting")
    s.add_argument(
        "--parallel", type=int, default=int(os.environ.get("LAB_PARALLEL", "2")), help="hosts booting at once"
    )
    s.add_argument("--timeout", type=float, default=timeout, help="seconds per boot before giving up")
    # Per step of the offline provisioning (copying the image, dpkg --purge, update-grub over
    # every kernel of the image, e2fsck, the overlay): seconds each on an idle machine.
    s.add_argument(
        "--provision-timeout",
        type=float,
        default=float(os.environ.get("LAB_PROVISION_TIMEOUT", "1800")),
        help="seconds each provisioning step may take before giving up",
    )
    s = sub.add_parser("provision", help="provision hosts without booting them (root; start does it when needed)")
    s.add_argument("hosts", nargs="*", help="hosts (default: $LAB_HOSTS or all)")
    s.add_argument(
        "--parallel", type=int, default=int(os.environ.get("LAB_PARALLEL", "2")), help="hosts provisioned at once"
    )
    s.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("LAB_PROVISION_TIMEOUT", "1800")),
        help="seconds each provisioning step may take before giving up",
    )
    s = sub.add_parser("stop", help="ACPI power-down, QEMU quit after --timeout")
    s.add_argument("hosts", nargs="*")
    s.add_argument("--force", action="store_true", help="quit QEMU at once (no guest shutdown)")
    s.add_argument("--timeout", type=float, default=120.0)
    s = sub.add_parser("destroy", help="quit QEMU at once and reset disks to the provisioned state")
    s.add_argument("hosts", nargs="*")
    s = sub.add_parser("reset", help="reset stopped hosts' disks to the provisioned state")
    s.add_argument("hosts", nargs="*")
    s = sub.add_parser("status", help="which hosts run and answer SSH")
    s.add_argument("hosts", nargs="*")
    s.add_argument("--json", action="store_true")
    s = sub.add_parser("wait", help="wait until running hosts answer SSH")
    s.add_argument("hosts", nargs="*")
    s.add_argument("--timeout", type=float, default=timeout)
    s = sub.add_parser("ssh", help="ssh into a host (optionally run a command)")
    s.add_argument("host")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s = sub.add_parser("console", help="attach to a host's serial console")
    s.add_argument("host")
    s = sub.add_parser("log", help="tail of a host's serial log")
    s.add_argument("host")
    s.add_argument("-n", "--lines", type=int, default=40)
    sub.add_parser("paths", help="key, known_hosts and per-host directories as JSON")
    args = p.parse_args(argv)
    handlers = {
        "start": cmd_start,
        "provision": cmd_provision,
        "stop": cmd_stop,
        "destroy": cmd_destroy,
        "reset": cmd_reset,
        "status": cmd_status,
        "wait": cmd_wait,
        "ssh": cmd_ssh,
        "console": cmd_console,
        "log": cmd_log,
        "paths": cmd_paths,
    }
    try:
        hosts = load_hosts(args.inventory)
        args.others = other_fleets(args.inventory)
        check_fleets(hosts, args.others, args.inventory)
        return handlers[args.cmd](hosts, args)
    except LabError as exc:
        print(f"labctl: error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("labctl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
