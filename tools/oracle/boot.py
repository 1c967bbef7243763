"""Boot a real kernel under QEMU TCG with a CPU profile and the oracle initramfs; cache the capture.

    text = boot(kernel, profile, "vmscape=off")     # serial log (cached), raises BootError
    cap = parse_capture(text)

Results are cached under ``$VMSCAPE_CACHE/oracle-results/<key>.log`` where key = sha256 of the
kernel package + Debian version + image hash, the QEMU kind and arguments, the cmdline and the
initramfs hash. :func:`boot_many` runs up to 2 boots at a time.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tools.oracle import initramfs
from tools.oracle.cache import cache_dir, sha256_text
from tools.oracle.capture import CaptureError, parse_capture
from tools.oracle.kernels import Kernel
from tools.oracle.profiles import Profile
from tools.qemu import qemu_command_prefix

BASE_CMDLINE = "console=ttyS0 panic=-1"
DEFAULT_TIMEOUT = 240
# TCG with -smp 2 rarely oopses in the kernel's int3-based text patching (seen once in ~500 boots:
# 7.3.4, AMD profile, "Oops: int3" then panic; the same boot passed when repeated), so a boot that
# panics, hangs or prints an incomplete capture is tried once more; both failures are reported.
ATTEMPTS = 2
MEMORY = "512"


class BootError(RuntimeError):
    pass


@dataclass
class BootResult:
    kernel_id: str
    profile_id: str
    cmdline: str  # the extra parameters ("" for none)
    text: str
    cached: bool
    seconds: float
    key: str


def full_cmdline(extra: str) -> str:
    return f"{BASE_CMDLINE} {extra}".strip()


def result_key(kernel: Kernel, profile: Profile, extra: str, initrd: Path) -> str:
    m = kernel.meta
    return sha256_text(
        "oracle-v1",
        m["package"],
        m["debian_version"],
        m.get("vmlinuz_sha256", ""),
        profile.qemu,
        " ".join(profile.qemu_args()),
        full_cmdline(extra),
        initramfs.initramfs_hash(initrd),
    )[:24]


def qemu_argv(kernel: Kernel, profile: Profile, extra: str, initrd: Path) -> tuple[list[str], dict | None]:
    prefix, env = qemu_command_prefix(profile.needs_bhi_qemu)
    argv = [
        *prefix,
        "-accel", "tcg",
        *profile.qemu_args(),
        "-m", MEMORY,
        "-kernel", str(kernel.vmlinuz),
        "-initrd", str(initrd),
        "-append", full_cmdline(extra),
        "-nographic", "-no-reboot", "-nodefaults",
        "-serial", "stdio",
        "-monitor", "none",
    ]  # fmt: skip
    return argv, env


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.replace("\r", "").splitlines()[-n:])


def _run_once(argv: list[str], env: dict | None, timeout: int, label: str) -> tuple[str, float, str | None]:
    """One QEMU run: (serial log, seconds, None) or (log, seconds, what went wrong with the log tail)."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout
            )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    seconds = time.monotonic() - start
    if rc is None:
        return text, seconds, f"no power-off within {timeout}s (hang?); serial log tail:\n{_tail(text)}"
    if "Kernel panic" in text:
        return text, seconds, f"kernel panic; serial log tail:\n{_tail(text)}"
    try:
        parse_capture(text, source=label)
    except CaptureError as exc:
        return text, seconds, f"qemu exit {rc}: {exc}; serial log tail:\n{_tail(text)}"
    return text, seconds, None


def boot(
    kernel: Kernel, profile: Profile, extra: str = "", timeout: int = DEFAULT_TIMEOUT, use_cache: bool = True
) -> BootResult:
    """Boot once (or return the cached capture). Raises BootError with the serial log tail."""
    initrd = initramfs.build()
    key = result_key(kernel, profile, extra, initrd)
    results = cache_dir() / "oracle-results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{key}.log"
    label = f"{kernel.id} / {profile.id} / {extra or '(none)'}"
    if use_cache and path.exists():
        return BootResult(kernel.id, profile.id, extra, path.read_text(), True, 0.0, key)
    argv, env = qemu_argv(kernel, profile, extra, initrd)
    failures: list[str] = []
    for _attempt in range(ATTEMPTS):
        text, seconds, problem = _run_once(argv, env, timeout, label)
        if problem is None:
            break
        failures.append(problem)
    else:
        raise BootError(f"{label}: failed {ATTEMPTS} times; last: {failures[-1]}")
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(text)
    tmp.rename(path)
    side = {
        "key": key,
        "kernel": kernel.id,
        "kernel_package": kernel.meta["package"],
        "kernel_debian_version": kernel.meta["debian_version"],
        "profile": profile.id,
        "cmdline": extra,
        "seconds": round(seconds, 2),
        "earlier_failures": [f.splitlines()[0] for f in failures],
        "argv": argv,
    }
    path.with_suffix(".json").write_text(json.dumps(side, indent=1) + "\n")
    return BootResult(kernel.id, profile.id, extra, text, False, seconds, key)


def boot_many(jobs: list[tuple[Kernel, Profile, str]], workers: int = 2, timeout: int = DEFAULT_TIMEOUT, log=None):
    """Boot every (kernel, profile, extra); returns (results by job index, errors by job index)."""
    initramfs.build()  # build once before the threads start
    for need in sorted({p.needs_bhi_qemu for _k, p, _e in jobs}):
        qemu_command_prefix(need)  # fetch QEMU 10 once (first use), not from two threads at once
    results: dict[int, BootResult] = {}
    errors: dict[int, str] = {}
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        futs = {pool.submit(boot, k, p, e, timeout): i for i, (k, p, e) in enumerate(jobs)}
        for n, fut in enumerate(cf.as_completed(futs), 1):
            i = futs[fut]
            try:
                results[i] = fut.result()
                if log and not results[i].cached:
                    r = results[i]
                    log(f"[{n}/{len(jobs)}] {r.kernel_id} {r.profile_id} {r.cmdline or '(none)'}: {r.seconds:.1f}s")
            except BootError as exc:
                errors[i] = str(exc)
                if log:
                    log(f"[{n}/{len(jobs)}] ERROR {exc}")
    return results, errors
