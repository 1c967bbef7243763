"""The benchmark fleet's layout, generated files and snapshot roots (no processes here: benchctl.py runs them).

Host i (0-based) is ``bench-<i+1:03d>``: one real sshd listening only on its own loopback address (``address(i)``:
127.0.0.2 .. 127.0.0.254, then 127.0.1.2 .. 127.0.1.254, ...) and port, its own
snapshot root under ``$VMSCAPE_CACHE/bench/roots/<host>`` built from a committed real capture
(tests/data/captures, assigned round-robin across kernels so every subset of the fleet mixes kernels,
CPUs and cmdlines). State, all under ``$VMSCAPE_CACHE/bench/``::

    ssh/ssh_host_ed25519_key(.pub)   one host key shared by every server (generated once)
    ssh/id_ed25519(.pub)             the bench client key; ssh/authorized_keys = its public key
    known_hosts                      "[<address>]:<port> <host key>" for every started host
    hosts/<host>/sshd_config, sshd.log
    roots/<host>/                    the host's `root` (rebuilt at every start)
    state.json                       what `benchctl start` started (pids, addresses) for stop/status
"""

from __future__ import annotations

import ipaddress
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.bench.captures import CaptureEntry
from tools.oracle.boot import BASE_CMDLINE

PER_SUBNET = 253  # 127.0.<k>.2 .. 127.0.<k>.254 (no .0, .1, .255)
MAX_HOSTS = 4 * PER_SUBNET  # 127.0.0.2 .. 127.0.3.254
DEFAULT_PORT = 22022
FIRST_ADDRESS = ipaddress.IPv4Address("127.0.0.2")
SSHD = "/usr/sbin/sshd"
GUARD = Path(__file__).resolve().parent / "session-guard"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
TARGET_PYTHON = "/usr/bin/python3"


class FleetError(RuntimeError):
    pass


@dataclass(frozen=True)
class Paths:
    base: Path  # $VMSCAPE_CACHE/bench

    @property
    def ssh(self) -> Path:
        return self.base / "ssh"

    @property
    def host_key(self) -> Path:
        return self.ssh / "ssh_host_ed25519_key"

    @property
    def client_key(self) -> Path:
        return self.ssh / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.ssh / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.base / "known_hosts"

    @property
    def state(self) -> Path:
        return self.base / "state.json"

    def host_dir(self, name: str) -> Path:
        return self.base / "hosts" / name

    def root(self, name: str) -> Path:
        return self.base / "roots" / name


@dataclass(frozen=True)
class Host:
    index: int
    name: str
    address: str
    port: int
    capture: CaptureEntry


def assign(entries: list[CaptureEntry], n: int) -> list[CaptureEntry]:
    """Captures for hosts 0..n-1: round-robin over kernels, each kernel's captures in index order.

    Any prefix of the fleet (10, 50, 100 hosts) mixes kernels; every capture is used once before any
    repeats.
    """
    if not entries:
        raise FleetError("no captures to build hosts from")
    by_kernel: dict[str, list[CaptureEntry]] = defaultdict(list)
    for e in entries:
        by_kernel[e.kernel].append(e)
    order: list[CaptureEntry] = []
    queues = [list(v) for v in by_kernel.values()]
    while any(queues):
        for q in queues:
            if q:
                order.append(q.pop(0))
    return [order[i % len(order)] for i in range(n)]


def plan_hosts(n: int, entries: list[CaptureEntry], port: int = DEFAULT_PORT) -> list[Host]:
    if not 1 <= n <= MAX_HOSTS:
        span = f"{address(0)} .. {address(MAX_HOSTS - 1)}"
        raise FleetError(f"the bench fleet has 1 to {MAX_HOSTS} hosts ({span}), not {n}")
    if not 1 <= port <= 65535:
        raise FleetError(f"bad port {port}")
    return [Host(i, f"bench-{i + 1:03d}", address(i), port, capture) for i, capture in enumerate(assign(entries, n))]


def address(i: int) -> str:
    """Loopback address of host i: 253 per 127.0.<k>.0/24 (the whole 127/8 is this machine's loopback)."""
    subnet, host = divmod(i, PER_SUBNET)
    return str(FIRST_ADDRESS + subnet * 256 + host)


def sshd_config(host: Host, paths: Paths, guard: Path = GUARD) -> str:
    """One server per host: loopback address only, root by key only, no PAM, no DNS, many sessions.

    Sessions run through ``guard`` (ForceCommand: no shutdown/reboot of this machine). SHLVL=1 makes
    root's bash (``bash -c <guard>``) skip ~/.bashrc, which Debian's bash sources for commands run by
    sshd: this machine's root .bashrc runs `pyenv init` (~0.5 s per session), not what a fleet host pays.
    """
    return "\n".join(
        [
            f"# bench host {host.name} (tools/bench/fleet.py); not the machine's sshd",
            f"ListenAddress {host.address}:{host.port}",
            "AddressFamily inet",
            f"HostKey {paths.host_key}",
            f"PidFile {paths.host_dir(host.name) / 'sshd.pid'}",
            f"AuthorizedKeysFile {paths.authorized_keys}",
            # sshd's StrictModes walks from the key file up to / when it is outside the user's home:
            # a cache under /tmp (world-writable) would refuse every key. The key's directory is the
            # bench's own (made 0700 by benchctl), the server listens on loopback only.
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "PermitUserEnvironment no",
            "X11Forwarding no",
            "AllowAgentForwarding no",
            "AllowTcpForwarding no",
            "Compression no",
            "MaxStartups 1000",
            "MaxSessions 1000",
            "MaxAuthTries 3",
            "LoginGraceTime 60",
            "ClientAliveInterval 0",
            "LogLevel ERROR",
            f"Subsystem sftp {SFTP_SERVER}",
            "SetEnv SHLVL=1",
            f"ForceCommand {guard}",
            "",
        ]
    )


def known_hosts(hosts: list[Host], host_public_key: str) -> str:
    key = " ".join(host_public_key.split()[:2])  # type and base64, no comment
    lines = []
    for h in hosts:
        name = h.address if h.port == 22 else f"[{h.address}]:{h.port}"
        lines.append(f"{name} {key}")
    return "\n".join(lines) + "\n"


def inventory(hosts: list[Host], paths: Paths, python: str | None = TARGET_PYTHON) -> dict:
    """The Ansible inventory (YAML-able dict) for these hosts: own address/port and root each."""
    ssh_args = (
        f"-o UserKnownHostsFile={paths.known_hosts} -o GlobalKnownHostsFile=/dev/null "
        "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o PreferredAuthentications=publickey"
    )
    allvars = {
        "ansible_connection": "ansible.builtin.ssh",
        "ansible_user": "root",
        "ansible_python_interpreter": python,
        "ansible_ssh_private_key_file": str(paths.client_key),
        "ansible_ssh_common_args": ssh_args,
    }
    if python is None:  # measure interpreter discovery (interpreter_python in ansible.cfg)
        del allvars["ansible_python_interpreter"]
    return {
        "all": {
            "vars": allvars,
            "children": {
                "bench": {
                    "hosts": {
                        h.name: {
                            "ansible_host": h.address,
                            "ansible_port": h.port,
                            "vmscape_root": str(paths.root(h.name)),
                            "bench_capture": h.capture.name,
                        }
                        for h in hosts
                    }
                }
            },
        }
    }


def inventory_text(hosts: list[Host], paths: Paths, python: str | None = TARGET_PYTHON) -> str:
    head = (
        f"# Generated by tools/bench/benchctl ({len(hosts)} hosts); not committed. One sshd per host on\n"
        "# its own loopback address; vmscape_root: the host's snapshot root built from tests/data/captures.\n"
    )
    return head + yaml.safe_dump(inventory(hosts, paths, python), sort_keys=False, width=200)


def grub_defaults(cmdline: str) -> str:
    """/etc/default/grub like Debian's, the captured cmdline in GRUB_CMDLINE_LINUX_DEFAULT."""
    quoted = cmdline.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
    return (
        "# written by tools/bench/fleet.py from the capture's /proc/cmdline\n"
        "GRUB_DEFAULT=0\n"
        "GRUB_TIMEOUT=5\n"
        'GRUB_DISTRIBUTOR="Debian"\n'
        f'GRUB_CMDLINE_LINUX_DEFAULT="{quoted}"\n'
        'GRUB_CMDLINE_LINUX=""\n'
    )


def captured_cmdline(capture: dict) -> str:
    return capture["files"]["/proc/cmdline"].strip()


def build_root(root: Path, capture: dict, kernel) -> Path:
    """A fresh snapshot root (tools/oracle/snapshot.py) with Debian-like GRUB files for kernel_cmdline.

    ``kernel`` (tools.oracle.kernels.Kernel) gives /boot/vmlinuz, config and System.map (hard links into
    the kernel cache) and the grub.cfg entry; /etc/default/grub carries the captured cmdline.
    """
    from tools.oracle.snapshot import write_root

    if root.exists():
        shutil.rmtree(root)
    write_root(capture, root, kernel)
    (root / "etc" / "default" / "grub").write_text(grub_defaults(captured_cmdline(capture)))
    return root


def expected_cmdline(entry: CaptureEntry) -> str:
    """The full cmdline the oracle booted that capture with."""
    return f"{BASE_CMDLINE} {entry.cmdline}".strip()
