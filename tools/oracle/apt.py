"""A private apt configuration per Debian suite, under ``$VMSCAPE_CACHE/apt/<suite>/``.

The machine's own apt configuration is never changed: every call passes its own source list,
list and cache directories and ``Debug::NoLocking``. Only ``apt-get update``, ``apt-cache``,
``apt-get download`` and ``apt-get -s`` (simulate) are used, so nothing gets installed.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tools.oracle.cache import cache_dir

MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class AptError(RuntimeError):
    pass


def _source_line(suite: str, components: tuple[str, ...] = ("main",)) -> str:
    mirror = SECURITY_MIRROR if suite.endswith("-security") else MIRROR
    return f"deb [signed-by={KEYRING}] {mirror} {suite} {' '.join(components)}\n"


@dataclass
class PrivateApt:
    """apt-get/apt-cache bound to private state for the given suites (e.g. ``("trixie-backports",)``)
    and archive components (default ``main``; e.g. ``non-free-firmware`` for the microcode)."""

    suites: tuple[str, ...]
    components: tuple[str, ...] = ("main",)

    @property
    def base(self) -> Path:
        name = "+".join(self.suites)
        if self.components != ("main",):
            name += "@" + "+".join(self.components)
        return cache_dir() / "apt" / name

    def options(self) -> list[str]:
        b = self.base
        return [
            "-o", f"Dir::Etc::SourceList={b / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={b / 'lists'}",
            "-o", f"Dir::Cache={b / 'cache'}",
            "-o", f"Dir::Cache::pkgcache={b / 'cache' / 'pkgcache.bin'}",
            "-o", f"Dir::Cache::srcpkgcache={b / 'cache' / 'srcpkgcache.bin'}",
            "-o", "Debug::NoLocking=1",
            "-o", "APT::Get::List-Cleanup=0",
            "-o", "Acquire::Languages=none",
            "-o", "APT::Architecture=amd64",
            "-o", "APT::Architectures::=amd64",
        ]  # fmt: skip

    def _run(self, argv: list[str], cwd: Path | None = None) -> str:
        cmd = [argv[0], *self.options(), *argv[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, check=False)
        if proc.returncode != 0:
            raise AptError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.strip()}")
        return proc.stdout

    def ensure_lists(self, refresh: bool = False) -> None:
        """Write the private sources.list and run ``apt-get update`` unless lists are present."""
        b = self.base
        (b / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (b / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        sources = "".join(_source_line(s, self.components) for s in self.suites)
        src = b / "sources.list"
        stamp = b / "lists" / ".updated"
        if not src.exists() or src.read_text() != sources:
            src.write_text(sources)
            stamp.unlink(missing_ok=True)
        if refresh or not stamp.exists():
            self._run(["apt-get", "-q", "update"])
            stamp.write_text(sources)

    def pkgnames(self, prefix: str) -> list[str]:
        return sorted(set(self._run(["apt-cache", "pkgnames", prefix]).split()))

    def versions(self, package: str) -> list[str]:
        """Versions of a package available from these suites (``apt-cache madison``), newest first."""
        out = self._run(["apt-cache", "madison", package])
        seen: list[str] = []
        for line in out.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) >= 3 and parts[0] == package and parts[1] not in seen:
                seen.append(parts[1])
        return seen

    def show(self, package: str, version: str | None = None) -> dict[str, str]:
        spec = f"{package}={version}" if version else package
        out = self._run(["apt-cache", "show", spec])
        return parse_control(out.split("\n\n")[0])

    def download(self, package: str, version: str, dest: Path) -> Path:
        """``apt-get download package=version`` into dest (cached: no network when present)."""
        dest.mkdir(parents=True, exist_ok=True)
        arch = self.show(package, version).get("Architecture", "amd64")
        name = f"{package}_{version.replace(':', '%3a')}_{arch}.deb"
        path = dest / name
        if not path.exists():
            self._run(["apt-get", "-q", "download", f"{package}={version}"], cwd=dest)
        if not path.exists():
            found = sorted(dest.glob(f"{package}_*.deb"))
            raise AptError(f"apt-get download {package}={version}: expected {name}, found {found}")
        return path

    def simulate_install(self, packages: list[str], target_release: str | None = None) -> list[tuple[str, str]]:
        """(package, version) pairs apt would install on THIS machine (``apt-get -s install``)."""
        argv = ["apt-get", "-s", "-q", "--no-install-recommends"]
        if target_release:
            argv += ["-t", target_release]
        out = self._run([*argv, "install", *packages])
        result = []
        for line in out.splitlines():
            m = re.match(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", line)
            if m:
                result.append((m.group(1), m.group(2)))
        return result


def parse_control(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    return fields


def dpkg_extract(deb: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AptError(f"dpkg-deb -x {deb} failed: {proc.stderr.strip()}")
