"""labctl: start, stop and inspect the lab fleet (QEMU VMs under TCG with chosen CPU identities).

The fleet is described by the Ansible inventory ``inventories/lab`` (hosts.yml: names and SSH
ports; host_vars/<host>.yml: ``lab_profile``); ``--inventory inventories/lab-hostops`` selects the
other fleet (hosts the hostops molecule scenario starts on its own). Both share the state, which
lives outside git in ``$VMSCAPE_CACHE/lab``:

    base.qcow2 -> base-<hash>.qcow2     built by tools/lab/build-image.sh (make lab-image)
    ssh/id_ed25519                      the lab's client key (root's authorized key on every host)
    known_hosts                         [127.0.0.1]:<port> host keys, used by the inventory
    hosts/<host>/hostkey(.pub)          the host's SSH host key (made here, installed at provisioning)
    hosts/<host>/provisioned.qcow2      overlay on the base after the host's first boot (profile applied)
    hosts/<host>/provisioned.base       which build of the base it was made on (root UUID, build time)
    hosts/<host>/disk.qcow2             overlay on provisioned.qcow2: the disk the VM runs on
    hosts/<host>/run/                   qemu.pid, qmp.sock, serial.sock, serial.log, qemu.log
    repos/<set>.img (+ .json)            package repository disks (tools/lab/repos.py), attached
                                        read-only as a second disk to hosts whose profile names them

Provisioning boots a fresh overlay once with the profile in QEMU fw_cfg; the guest's first-boot
service (tools/lab/guest/fleetsec-lab-firstboot) applies it and powers off. ``reset`` (or
``destroy``) recreates disk.qcow2, returning the host to its provisioned state in no time.
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
PROVISION_OK = "FLEETSEC-PROVISION: OK"
PROVISION_FAILED = "FLEETSEC-PROVISION: FAILED"
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
    """
    this = inventory.resolve()
    out: dict[str, Host] = {}
    for inv in sorted((REPO / "inventories").glob("lab*")):
        if inv.resolve() != this and (inv / "hosts.yml").is_file():
            out.update(load_hosts(inv))
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


def qemu_argv(host: Host, disk: Path, daemon: bool = True, fw_cfg: dict[str, Path] | None = None) -> list[str]:
    prefix, _ = qemu_prefix(host)
    net = "user,id=n0"
    if fw_cfg is None:
        net += f",hostfwd=tcp:127.0.0.1:{host.port}-:22"
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
    for name, path in (fw_cfg or {}).items():
        argv += ["-fw_cfg", f"name={name},file={path}"]
    if fw_cfg is not None:
        argv.append("-no-reboot")  # provisioning powers off; anything else is a failure
    if daemon:
        argv.append("-daemonize")
    return argv


def launch(host: Host, disk: Path, fw_cfg: dict[str, Path] | None = None) -> int:
    """Start the host's QEMU in the background; return its pid or raise with QEMU's own words."""
    host.run.mkdir(parents=True, exist_ok=True)
    for stale in (host.pidfile, host.qmp_sock, host.serial_sock):
        stale.unlink(missing_ok=True)
    argv = qemu_argv(host, disk, fw_cfg=fw_cfg)
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


def provision(host: Host, base: dict, authorized_key: str, timeout: float) -> bool:
    """Make provisioned.qcow2 current (boot once with the profile); True when it had to."""
    sets = repo_sets(host)
    stamp = provision_stamp(host, base, authorized_key, sets)
    stamp_file = _stamp_file(host.provisioned)
    if host.provisioned.exists() and stamp_file.exists() and stamp_file.read_text().strip() == stamp:
        return False
    available = base.get("kernels", "").split()
    if not any(k == host.kernel or k.startswith(host.kernel + ".") for k in available):
        raise LabError(
            f"{host.name}: kernel series {host.kernel} is not in the base image (has {', '.join(available)})"
        )
    say(f"{host.name}: provisioning (first boot: hostname, keys, GRUB cmdline {host.cmdline!r}, kernel {host.kernel})")
    t0 = time.monotonic()
    host.dir.mkdir(parents=True, exist_ok=True)
    work = host.dir / "provisioning.qcow2"
    qemu_img_create(work, Path(base["path"]))
    profile = host.dir / "profile.env"
    profile.write_text(
        f"HOSTNAME={host.name}\nCMDLINE={host.cmdline}\nKERNEL={host.kernel}\nAUTHORIZED_KEY={authorized_key}\n"
        + ("REPO=1\n" if host.repo else "")
        + (f"PURGE={' '.join(purge_packages(sets))}\n" if host.purge else "")
    )
    host.run.mkdir(parents=True, exist_ok=True)
    host.serial_log.unlink(missing_ok=True)
    pid = launch(host, work, fw_cfg={"opt/fleetsec/profile": profile, "opt/fleetsec/hostkey": host.hostkey})
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if panicked(host):
            _kill(host, pid)
            raise KernelPanic(f"{host.name}: kernel panic while provisioning:\n{log_tail(host.serial_log)}")
        if time.monotonic() > deadline:
            _kill(host, pid)
            raise LabError(
                f"{host.name}: provisioning boot did not power off within {timeout:.0f} s; "
                f"serial log {host.serial_log}:\n{log_tail(host.serial_log)}"
            )
        time.sleep(1)
    text = host.serial_log.read_text(errors="replace") if host.serial_log.exists() else ""
    if PROVISION_OK not in text:
        failed = re.search(re.escape(PROVISION_FAILED) + r".*", text)
        why = failed.group(0) if failed else "no result marker from the first-boot service"
        raise LabError(
            f"{host.name}: provisioning failed: {why}; serial log {host.serial_log}:\n{log_tail(host.serial_log)}"
        )
    work.replace(host.provisioned)
    _stamp_file(host.provisioned).write_text(stamp + "\n")
    _base_record(host).write_text(image_identity(base) + "\n")
    (host.run / "provision.log").write_text(text)
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
        for attempt in (1, 2):
            try:
                provisioned = provision(host, base, authorized_key, provision_timeout or timeout) or provisioned
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
    # The provisioning boot also regenerates the GRUB menu over every kernel of the image (and may
    # purge one): 30 s of update-grub on an idle machine, 6 min seen at load average 30.
    s.add_argument(
        "--provision-timeout",
        type=float,
        default=float(os.environ.get("LAB_PROVISION_TIMEOUT", "1800")),
        help="seconds the provisioning boot may take before giving up",
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
