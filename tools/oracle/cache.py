"""Where downloads, builds and oracle results are cached (outside git)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """``$VMSCAPE_CACHE`` (default ``~/.cache/fleetsec-vmscape``), created on first use."""
    path = Path(os.environ.get("VMSCAPE_CACHE") or Path.home() / ".cache" / "fleetsec-vmscape")
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_text(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
