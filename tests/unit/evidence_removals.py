"""The metamorphic relation of issue 9: remove one optional piece of evidence from a snapshot root
and the plan stays the same, or becomes less confident with a reason naming what is missing.

Shared by tests/unit/plugins/plugin_utils/_decide/test_evidence_metamorphic.py (committed snapshot roots) and
tests/integration/oracle/test_metamorphic_real_kernels.py (roots of real-kernel captures).

A removal edits a scratch root in place and ``undo()``s afterwards; it never rewrites a file in
place (a new file replaces it), so hard-linked kernel files are never changed.

"Less confident", in order: the same plan; a *hedge* (a value that gives the same string in every
case the missing evidence leaves open: ``force`` instead of ``ibpb`` when the kernel's CPU list is
unknown, ``ibpb`` instead of ``on`` when BHI_CTRL is unknown), with the same expected string and a
reason naming the piece; ``blocked`` with a reason naming the piece. Never: an affected host
becoming ``none`` ("Not affected"), a kernel that knows VMSCAPE becoming ``kernel_upgrade``, or a
plan becoming ``set`` where it was not.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

VULN_DIR = "sys/devices/system/cpu/vulnerabilities"


@dataclass
class Removal:
    name: str  # what is removed, as a report names it
    keyword: str  # what a reason must mention when the plan becomes less confident
    paths: tuple  # files (relative to the root) to take away
    rewrite: dict | None = None  # file -> new content instead of removal

    def apply(self, root: Path) -> Undo:
        saved = []
        for rel in self.paths:
            p = root / rel
            aside = p.with_name(p.name + ".removed-by-test")
            os.rename(p, aside)
            saved.append((p, aside))
        for rel, content in (self.rewrite or {}).items():
            p = root / rel
            aside = p.with_name(p.name + ".removed-by-test")
            os.rename(p, aside)
            p.write_bytes(content)
            saved.append((p, aside))
        return Undo(saved)


@dataclass
class Undo:
    saved: list

    def __call__(self):
        for p, aside in reversed(self.saved):
            if p.exists() or p.is_symlink():
                p.unlink()
            os.rename(aside, p)


def _existing(root: Path, patterns) -> tuple:
    found = []
    for pattern in patterns:
        found += [p.relative_to(root) for p in sorted(root.glob(pattern)) if p.is_file() or p.is_symlink()]
    return tuple(str(p) for p in found)


def removals(root: Path, images: bool = True) -> list[Removal]:
    """Every optional piece of evidence present in ``root``, one Removal each (issue 9's list)."""
    out = []
    cpuinfo = root / "proc/cpuinfo"
    text = cpuinfo.read_text()
    if re.search(r"(?m)^bugs\s*:", text):
        stripped = "".join(line for line in text.splitlines(True) if not re.match(r"bugs\s*:", line))
        out.append(Removal("cpuinfo bugs line", "bugs", (), {"proc/cpuinfo": stripped.encode()}))
    if images:
        imgs = _existing(root, ["boot/vmlinuz-*", "usr/lib/modules/*/vmlinuz"])
        if imgs:
            out.append(Removal("/boot images", "image", imgs))
    for name, kw, patterns in (
        ("System.map", "System.map", ["boot/System.map-*", "usr/lib/modules/*/System.map", "lib/modules/*/System.map"]),
        ("config", "config", ["boot/config-*", "usr/lib/modules/*/config", "lib/modules/*/config"]),
        ("grub.cfg", "grub.cfg", ["boot/grub/grub.cfg", "boot/grub2/grub.cfg"]),
        ("grubenv", "grubenv", ["boot/grub/grubenv", "boot/grub2/grubenv"]),
        ("/proc/version_signature", "version_signature", ["proc/version_signature"]),
        ("/dev/cpu/0/cpuid", "cpuid", ["dev/cpu/0/cpuid"]),
    ):
        paths = _existing(root, patterns)
        if paths:
            out.append(Removal(name, kw, paths))
    version = root / "proc/version"
    if version.exists():
        words = version.read_text().split()
        if len(words) > 3:  # "Linux version <release>" and nothing else: the build details go
            out.append(
                Removal(
                    "/proc/version details",
                    "/proc/version",
                    (),
                    {"proc/version": b" ".join(w.encode() for w in words[:3]) + b"\n"},
                )
            )
    vdir = root / VULN_DIR
    if vdir.is_dir():
        for f in sorted(vdir.iterdir()):
            if f.name != "vmscape":
                out.append(Removal(f"sysfs {f.name}", f.name, (f"{VULN_DIR}/{f.name}",)))
    return out


def image_removal(root: Path) -> Removal | None:
    imgs = _existing(root, ["boot/vmlinuz-*", "usr/lib/modules/*/vmlinuz"])
    return Removal("/boot images", "image", imgs) if imgs else None


def _key(plan: dict):
    if plan["action"] == "blocked":
        return ("blocked",)
    return (
        plan["action"],
        plan["mode"],
        tuple(sorted(plan["cmdline"].items())),
        tuple(plan["cmdline_remove"]),
        plan["expected_sysfs"],
    )


HEDGES = {("ibpb", "force"), ("bhb", "ibpb"), ("bhb", "force")}


def judge(before: dict, after: dict, removal: Removal) -> str | None:
    """None when ``after`` is the same plan or a less confident one naming the removed piece; else
    what is wrong."""
    text = " | ".join(after["reasons"])
    if after["action"] == "none" and before["action"] != "none":
        return f"{before['action']} became none (Not affected) without {removal.name}"
    if after["action"] == "kernel_upgrade" and before["action"] != "kernel_upgrade":
        return f"{before['action']} became kernel_upgrade without {removal.name}"
    if _key(before) == _key(after):
        return None  # the same plan (a blocked one may now also name the missing piece)
    if before["action"] == after["action"] == "none" and after["expected_sysfs"] is None:
        # nothing to do either way; what the next boot prints is no longer known
        if removal.keyword not in text:
            return f"the expected string became unknown without naming {removal.keyword!r}"
        return None
    if after["action"] == "blocked":
        if removal.keyword not in text:
            return f"became blocked without naming {removal.keyword!r}: {after['reasons'][-1]}"
        return None
    hedge = (
        before["action"] == after["action"] == "set"
        and (before["mode"], after["mode"]) in HEDGES
        and before["expected_sysfs"] == after["expected_sysfs"]
    )
    if hedge:
        if removal.keyword not in text:
            return f"hedged {before['mode']} -> {after['mode']} without naming {removal.keyword!r}"
        return None
    return f"{_key(before)} became {_key(after)} without {removal.name}"
