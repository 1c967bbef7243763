#!/usr/bin/env python3
"""Build the lab libvirt host's guest disk: tools/lab/heartbeat.S assembled with GNU as and ld
(binutils, on the controller: tools/system-packages.txt) into one 512-byte boot sector, written
at the start of a 1 MiB raw disk image (docs/lab.md "The libvirt host").

    heartbeat_image.py OUT.img

Refuses an assembly that is not exactly one sector ending with the boot signature 55 AA; each
tool runs with a timeout; OUT is replaced atomically (a temporary file in its directory, renamed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().with_name("heartbeat.S")
SECTOR = 512
DISK = 1 << 20


def assemble(source: Path | None = None) -> bytes:
    """The boot sector assembled from ``source`` (default: heartbeat.S; exactly 512 bytes, ending with 55 AA)."""
    source = source or SOURCE
    with tempfile.TemporaryDirectory(prefix="heartbeat-") as tmp:
        obj, out = Path(tmp) / "heartbeat.o", Path(tmp) / "heartbeat.bin"
        for argv in (
            ["as", "--32", "-o", str(obj), str(source)],
            ["ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary", "-o", str(out), str(obj)],
        ):
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
            if p.returncode != 0:
                raise RuntimeError(f"{argv[0]} failed on {source} (rc={p.returncode}): {p.stderr.strip()}")
        sector = out.read_bytes()
    if len(sector) != SECTOR or sector[-2:] != b"\x55\xaa":
        raise RuntimeError(f"{source}: assembled to {len(sector)} bytes, not one boot sector ending with 55 AA")
    return sector


def write_image(path: Path, sector: bytes) -> None:
    """A DISK-byte raw image whose first sector is ``sector``, replacing ``path`` atomically."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(sector)
            f.truncate(DISK)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT.img", file=sys.stderr)
        return 2
    try:
        write_image(Path(argv[1]), assemble())
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"heartbeat_image: {exc}", file=sys.stderr)
        return 1
    print(f"heartbeat_image: {argv[1]} ({DISK} bytes, boot sector from {SOURCE.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
