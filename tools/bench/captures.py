"""Real oracle captures committed for the benchmark fleet: tests/data/captures/*.txt + index.yaml.

Each ``.txt`` is exactly what the oracle initramfs printed on the serial console of a real Debian
kernel booted under QEMU with a CPU identity and a cmdline (``@@ORACLE BEGIN@@`` .. ``@@ORACLE DONE@@``,
a few KB; firmware and kernel noise before it dropped). ``index.yaml`` says which kernel id
(tests/data/kernels.yaml), CPU profile (tests/data/cpu_profiles.yaml) and extra cmdline each one is, so a
clean machine can build snapshot roots without the oracle's boot cache (only the kernel packages are
fetched, for /boot).

    python -m tools.bench.captures            list the committed captures (kernel, profile, cmdline, vmscape)
    python -m tools.bench.captures --export   rewrite them from the oracle cache (boots what is missing)
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.oracle.cache import REPO
from tools.oracle.capture import CaptureError, parse_capture, vmscape

CAPTURES_DIR = REPO / "tests" / "data" / "captures"
INDEX_NAME = "index.yaml"
BEGIN, DONE = "@@ORACLE BEGIN@@", "@@ORACLE DONE@@"

# (kernel id, CPU profile id, extra cmdline). Chosen to vary what the fleet sees: affected Intel (BTB and
# BHI) and AMD/Hygon, unaffected Intel, a KVM guest, old microcode without IBPB; the Debian 6.1, 6.12,
# 6.17 and 7.x kernels and the pre-VMSCAPE 6.16.3; default, vmscape=off/ibpb/force/on/bhb,
# mitigations=off (alone and with vmscape=ibpb) and the attack-vector controls.
SELECTION: list[tuple[str, str, str]] = [
    ("deb-6.1", "intel-skylake-sp", ""),
    ("deb-6.1", "intel-skylake-sp", "vmscape=off"),
    ("deb-6.1", "intel-alderlake", ""),
    ("deb-6.1", "amd-zen5", ""),
    ("deb-6.1", "intel-icelake-sp", ""),
    ("deb-6.1", "guest-skylake-sp", ""),
    ("deb-6.1", "amd-zen2", "mitigations=off"),
    ("deb-6.1", "intel-skylake-sp", "vmscape=on"),
    ("deb-6.12", "intel-skylake-sp", "vmscape=ibpb"),
    ("deb-6.12", "intel-sapphirerapids", ""),
    ("deb-6.12", "amd-zen3", "vmscape=force"),
    ("deb-6.12", "intel-tigerlake", "vmscape=force"),
    ("deb-6.12", "hygon-dhyana", ""),
    ("deb-6.12", "intel-skylake-sp-olducode", ""),
    ("deb-7.x", "intel-alderlake", ""),
    ("deb-7.x", "intel-alderlake", "vmscape=bhb"),
    ("deb-7.x", "amd-zen5", "mitigations=auto,no_guest_host"),
    ("deb-7.x", "intel-cascadelake", "mitigations=off vmscape=ibpb"),
    ("deb-7.x", "guest-skylake-sp", "vmscape=force"),
    ("deb-6.17.8", "intel-sierraforest", ""),
    ("deb-6.16-pre", "intel-skylake-sp", ""),
    ("deb-6.16-pre", "amd-zen2", "vmscape=ibpb"),
]


class CaptureIndexError(ValueError):
    pass


@dataclass(frozen=True)
class CaptureEntry:
    file: Path
    kernel: str
    profile: str
    cmdline: str  # the extra parameters after the oracle's base cmdline; "" = none
    vmscape: str | None  # what the kernel printed in the vmscape sysfs file (None: no such file)

    @property
    def name(self) -> str:
        return self.file.stem


def capture_name(kernel: str, profile: str, cmdline: str) -> str:
    """``deb-6.1__intel-skylake-sp__vmscape-off``: file stem for a case (``none`` for no extra cmdline)."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", cmdline).strip("-") or "none"
    return f"{kernel}__{profile}__{slug}"


def oracle_text(serial_log: str) -> str:
    """The initramfs's own output out of a serial log: BEGIN .. DONE lines, CR dropped."""
    lines = serial_log.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    try:
        start = lines.index(BEGIN)
        end = lines.index(DONE, start)
    except ValueError:
        raise CaptureError("serial log without both @@ORACLE BEGIN@@ and @@ORACLE DONE@@") from None
    return "\n".join(lines[start : end + 1]) + "\n"


def _scalar(node: yaml.Node, key: str, where: str, allow_empty: bool = False) -> str:
    if not isinstance(node, yaml.ScalarNode) or (not node.value and not allow_empty):
        raise CaptureIndexError(f"{where}: '{key}' must be a non-empty string")
    return node.value


def load_index(directory: Path = CAPTURES_DIR) -> list[CaptureEntry]:
    """The committed captures; CaptureIndexError names the file and line of anything wrong."""
    path = directory / INDEX_NAME
    try:
        root = yaml.compose(path.read_text())
    except OSError as exc:
        raise CaptureIndexError(f"{path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CaptureIndexError(f"{path}: {exc}") from exc
    items = None
    if isinstance(root, yaml.MappingNode):
        items = next((v for k, v in root.value if k.value == "captures"), None)
    if not isinstance(items, yaml.SequenceNode):
        raise CaptureIndexError(f"{path}:1: expected a mapping with a 'captures' list")
    entries: list[CaptureEntry] = []
    seen: dict[str, int] = {}
    for item in items.value:
        line = item.start_mark.line + 1
        where = f"{path}:{line}"
        if not isinstance(item, yaml.MappingNode):
            raise CaptureIndexError(f"{where}: each capture must be a mapping")
        fields = {k.value: v for k, v in item.value}
        missing = {"file", "kernel", "profile", "cmdline"} - set(fields)
        if missing:
            raise CaptureIndexError(f"{where}: missing {', '.join(sorted(missing))}")
        unknown = set(fields) - {"file", "kernel", "profile", "cmdline", "vmscape"}
        if unknown:
            raise CaptureIndexError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        name = _scalar(fields["file"], "file", where)
        if "/" in name or not name.endswith(".txt"):
            raise CaptureIndexError(f"{where}: file must be a .txt name in {directory}, not {name!r}")
        if name in seen:
            raise CaptureIndexError(f"{where}: {name} listed twice (first on line {seen[name]})")
        seen[name] = line
        vm = fields.get("vmscape")
        vm_value = None if vm is None or (isinstance(vm, yaml.ScalarNode) and vm.tag.endswith(":null")) else vm.value
        entries.append(
            CaptureEntry(
                file=directory / name,
                kernel=_scalar(fields["kernel"], "kernel", where),
                profile=_scalar(fields["profile"], "profile", where),
                cmdline=_scalar(fields["cmdline"], "cmdline", where, allow_empty=True),
                vmscape=vm_value,
            )
        )
    if not entries:
        raise CaptureIndexError(f"{path}: no captures listed")
    return entries


def load_capture(entry: CaptureEntry) -> dict:
    """Parse one committed capture (tools.oracle.capture format); errors name the file and line."""
    try:
        text = entry.file.read_text()
    except OSError as exc:
        raise CaptureIndexError(f"{entry.file}: {exc.strerror}") from exc
    return parse_capture(text, source=str(entry.file))


def dump_index(entries: list[CaptureEntry]) -> str:
    head = (
        "# Real oracle captures for the benchmark fleet (tools/bench/captures.py, docs/performance.md).\n"
        "# file: what the oracle initramfs printed; kernel: id in tests/data/kernels.yaml; profile: id in\n"
        "# tests/data/cpu_profiles.yaml; cmdline: extra parameters after 'console=ttyS0 panic=-1';\n"
        "# vmscape: the kernel's vmscape sysfs string (null: the kernel has no such file).\n"
        "# Regenerate: python -m tools.bench.captures --export\n"
    )
    rows = [
        {"file": e.file.name, "kernel": e.kernel, "profile": e.profile, "cmdline": e.cmdline, "vmscape": e.vmscape}
        for e in entries
    ]
    return head + yaml.safe_dump({"captures": rows}, sort_keys=False, width=200)


def export(selection: list[tuple[str, str, str]] = SELECTION, directory: Path = CAPTURES_DIR, log=print) -> int:
    """Write the selected cases from the oracle cache (tools.oracle.boot.boot: cached, else booted)."""
    from tools.oracle import boot
    from tools.oracle.kernels import fetch_all
    from tools.oracle.matrix import cases
    from tools.oracle.profiles import load_profiles

    known = {(c.kernel, c.profile, c.cmdline) for c in cases()}
    outside = [s for s in selection if s not in known]
    if outside:
        raise CaptureIndexError(f"not in the oracle matrix (tools/oracle/matrix.py): {outside}")
    kernels = fetch_all(sorted({k for k, _p, _c in selection}), log=log)
    profiles = {p.id: p for p in load_profiles()}
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for kernel_id, profile_id, cmdline in selection:
        result = boot.boot(kernels[kernel_id], profiles[profile_id], cmdline)
        text = oracle_text(result.text)
        cap = parse_capture(text, source=f"{kernel_id}/{profile_id}/{cmdline or '(none)'}")
        path = directory / (capture_name(kernel_id, profile_id, cmdline) + ".txt")
        path.write_text(text)
        entries.append(CaptureEntry(path, kernel_id, profile_id, cmdline, vmscape(cap)))
        log(f"{path.name:60} {'cached' if result.cached else 'booted'} {vmscape(cap)}")
    wanted = {e.file.name for e in entries}
    for stale in directory.glob("*.txt"):
        if stale.name not in wanted:
            stale.unlink()
    (directory / INDEX_NAME).write_text(dump_index(entries))
    return len(entries)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export", action="store_true", help="rewrite tests/data/captures from the oracle cache")
    args = ap.parse_args(argv)
    try:
        if args.export:
            print(f"{export()} captures written to {CAPTURES_DIR}")
            return 0
        for entry in load_index():
            load_capture(entry)
            print(f"{entry.kernel:13} {entry.profile:26} {entry.cmdline or '(none)':45} {entry.vmscape}")
    except (CaptureIndexError, CaptureError) as exc:
        print(f"captures: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
