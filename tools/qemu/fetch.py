"""Fetch bookworm-backports' QEMU 10 unpacked into ``$VMSCAPE_CACHE/qemu-<ver>/`` (nothing installed).

Debian 12's own qemu-system-x86 7.2 cannot present BHI_CTRL (CPUID.(EAX=7,ECX=2):EDX[4]) to a
guest; QEMU >= 8 can. The packages apt would install for ``-t bookworm-backports
qemu-system-x86`` on this machine (``apt-get -s``) are downloaded with a private apt configuration
and unpacked with ``dpkg-deb -x``; the binary then runs from the tree with ``QEMU_MODULE_DIR``,
``LD_LIBRARY_PATH`` and ``-L <tree>/usr/share/qemu -L <tree>/usr/share/seabios``. QEMU 10.0.2 keeps ``+bhi-ctrl`` under
TCG with ``x-force-features=on`` (verified from inside the guest: CPUID.(7,2):EDX = 0x10), so no
binary patch is needed (see docs/testing.md).

    python -m tools.qemu.fetch        # prints the tree
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tools.oracle.apt import PrivateApt, dpkg_extract
from tools.oracle.cache import cache_dir

SUITES = ("bookworm", "bookworm-backports")
TARGET = "bookworm-backports"
SKIP = ("qemu-system-gui", "qemu-system-modules-opengl", "qemu-utils")
SYSTEM_QEMU = "/usr/bin/qemu-system-x86_64"


class QemuError(RuntimeError):
    pass


def _tree_meta() -> dict | None:
    for meta in sorted(cache_dir().glob("qemu-*/metadata.json"), reverse=True):
        data = json.loads(meta.read_text())
        if data.get("complete"):
            return data
    return None


def fetch(refresh: bool = False, log=print) -> dict:
    """Unpack QEMU 10 into the cache once; return its metadata (tree, version, packages)."""
    meta = None if refresh else _tree_meta()
    if meta:
        return meta
    apt = PrivateApt(SUITES)
    apt.ensure_lists(refresh=refresh)
    plan = [(p, v) for p, v in apt.simulate_install(["qemu-system-x86"], TARGET) if p not in SKIP]
    version = dict(plan).get("qemu-system-x86")
    if not version:
        raise QemuError(f"apt-get -s -t {TARGET} install qemu-system-x86 did not plan qemu-system-x86: {plan}")
    upstream = version.split(":", 1)[-1].split("+", 1)[0]
    tree = cache_dir() / f"qemu-{upstream}"
    shutil.rmtree(tree, ignore_errors=True)
    debs = cache_dir() / "debs"
    for pkg, ver in plan:
        log(f"qemu: {pkg} {ver}")
        dpkg_extract(apt.download(pkg, ver, debs), tree)
    meta = {"tree": str(tree), "version": upstream, "debian_version": version, "packages": plan}
    binary = tree / "usr" / "bin" / "qemu-system-x86_64"
    out = _run_version(str(binary), qemu_env(meta))
    meta["version_output"] = out
    meta["complete"] = True
    (tree / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def qemu_env(meta: dict | None = None) -> dict[str, str]:
    """Environment for running the unpacked QEMU: module dir and the unpacked libraries."""
    meta = meta or _tree_meta() or fetch()
    tree = Path(meta["tree"])
    env = dict(os.environ)

    env["QEMU_MODULE_DIR"] = str(tree / "usr" / "lib" / "x86_64-linux-gnu" / "qemu")
    libdirs = [str(tree / "usr" / "lib" / "x86_64-linux-gnu"), str(tree / "lib" / "x86_64-linux-gnu")]
    env["LD_LIBRARY_PATH"] = ":".join([d for d in libdirs if Path(d).is_dir()] + [env.get("LD_LIBRARY_PATH", "")])
    env["LD_LIBRARY_PATH"] = env["LD_LIBRARY_PATH"].rstrip(":")

    return env


def _run_version(binary: str, env: dict[str, str]) -> str:
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise QemuError(f"{binary} --version failed: {proc.stderr.strip()}")
    return proc.stdout.splitlines()[0]


def qemu_binary(need_bhi_ctrl: bool) -> str:
    """Path of a qemu-system-x86_64 able to run the requested profile.

    ``need_bhi_ctrl=False``: Debian's own /usr/bin/qemu-system-x86_64 (7.2).
    ``need_bhi_ctrl=True``: QEMU 10 unpacked in the cache (fetched on first use); run it with
    :func:`qemu_env` and the ``-L`` options of :func:`qemu_command_prefix` (or tools/qemu/qemu-bhi).
    """
    if not need_bhi_ctrl:
        if not Path(SYSTEM_QEMU).exists():
            raise QemuError(f"{SYSTEM_QEMU} missing: make deps installs qemu-system-x86")
        return SYSTEM_QEMU
    meta = fetch()
    return str(Path(meta["tree"]) / "usr" / "bin" / "qemu-system-x86_64")


def qemu_command_prefix(need_bhi_ctrl: bool) -> tuple[list[str], dict[str, str] | None]:
    """(argv prefix, env) to start QEMU; env None means the caller's environment."""
    binary = qemu_binary(need_bhi_ctrl)
    if not need_bhi_ctrl:
        return [binary], None
    meta = fetch()
    share = Path(meta["tree"]) / "usr" / "share"
    return [binary, "-L", str(share / "qemu"), "-L", str(share / "seabios")], qemu_env(meta)


def main() -> int:
    meta = fetch(refresh="--refresh" in sys.argv)
    print(json.dumps({k: meta[k] for k in ("tree", "version", "version_output")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
