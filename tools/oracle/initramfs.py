"""The oracle initramfs: busybox-static + /init (tools/oracle/init.sh) + a static CPUID printer.

Built as a newc cpio in Python (deterministic: fixed mtimes/uids) and cached by content hash under
``$VMSCAPE_CACHE/initramfs/<hash>.cpio``; building it takes a few milliseconds once the CPUID
program is compiled (``gcc -static``, cached by source hash).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path

from tools.oracle.cache import cache_dir, sha256_file

HERE = Path(__file__).resolve().parent
BUSYBOX = Path("/bin/busybox")
INIT = HERE / "init.sh"
CPUID_C = HERE / "cpuid.c"


class InitramfsError(RuntimeError):
    pass


def _cpio_entry(name: str, mode: int, data: bytes, ino: int) -> bytes:
    namez = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(namez), 0]
    hdr = b"070701" + b"".join(f"{f:08x}".encode() for f in fields)
    out = hdr + namez
    out += b"\0" * (-len(out) % 4)
    out += data
    out += b"\0" * (-len(out) % 4)
    return out


def newc_archive(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio of (name, mode, data) entries; directories have mode 0o040xxx and no data."""
    blob = b"".join(_cpio_entry(n, m, d, i + 1) for i, (n, m, d) in enumerate(entries))
    return blob + _cpio_entry("TRAILER!!!", 0, b"", 0)


def cpuid_binary() -> Path:
    key = sha256_file(CPUID_C)[:16]
    out = cache_dir() / "initramfs" / f"cpuid-{key}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    gcc = shutil.which("gcc")
    if not gcc:
        raise InitramfsError("gcc not found: make deps installs gcc and libc6-dev")
    tmp = out.with_suffix(".tmp")
    proc = subprocess.run(
        [gcc, "-static", "-O2", "-s", "-o", str(tmp), str(CPUID_C)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise InitramfsError(f"gcc -static {CPUID_C} failed (libc6-dev installed?):\n{proc.stderr}")
    tmp.rename(out)
    return out


def build() -> Path:
    """Return the path of the (cached) gzip'ed cpio."""
    if not BUSYBOX.exists():
        raise InitramfsError(f"{BUSYBOX} missing: make deps installs busybox-static")
    cpuid = cpuid_binary()
    parts = [BUSYBOX.read_bytes(), INIT.read_bytes(), cpuid.read_bytes()]
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    key = h.hexdigest()[:16]
    out = cache_dir() / "initramfs" / f"oracle-{key}.cpio.gz"
    if out.exists():
        return out
    d = 0o040755
    entries = [
        ("bin", d, b""),
        ("dev", d, b""),
        ("proc", d, b""),
        ("sys", d, b""),
        ("sbin", d, b""),
        ("usr", d, b""),
        ("usr/bin", d, b""),
        ("usr/sbin", d, b""),
        ("bin/busybox", 0o100755, parts[0]),
        ("init", 0o100755, parts[1]),
        ("bin/cpuid", 0o100755, parts[2]),
    ]
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(gzip.compress(newc_archive(entries), compresslevel=1, mtime=0))
    tmp.rename(out)
    return out


def initramfs_hash(path: Path) -> str:
    return path.name.removeprefix("oracle-").removesuffix(".cpio.gz")
