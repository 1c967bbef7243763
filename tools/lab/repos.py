"""Kernel package sets for the lab and the upgrade tests, and flat apt repositories made of them.

Packages are fetched from Debian with the oracle's private apt configuration
(tools/oracle/apt.py: own sources list, lists and cache under ``$VMSCAPE_CACHE/apt/<suite>``; the
machine's apt configuration is never touched) into ``$VMSCAPE_CACHE/debs``. What a set holds is
decided from the suite's current package lists, never from a constant (the registry moves:
issue 14), and recorded in ``$VMSCAPE_CACHE/lab/repos/<set>.json``:

- ``fixed``: the trixie-backports meta-package ``linux-image-amd64`` and everything of the
  kernel it pins (``linux-image-<rel>``, ``linux-binary-<rel>``, ``linux-modules-<rel>``,
  ``linux-base-<rel>``, ``linux-base-amd64``, ``linux-modules-amd64``): a repository that offers
  a fixed kernel through the distribution's meta-package.
- ``pre-vmscape``: the newest trixie-backports ``linux-image-6.16.x+deb13-amd64`` below 6.16.7
  (upstream added VMSCAPE in 6.16.7; the oracle's ``deb-6.16-pre``): a repository whose only
  kernel of the flavour predates VMSCAPE.
- ``microcode``: Intel's CPU microcode, ``intel-microcode`` from trixie's ``non-free-firmware``
  component (trixie, trixie-updates, trixie-security: the newest) and what it depends on,
  recursively (``iucode-tool``, and ``libc6`` & co. at the version the lab image has): a
  repository that offers the vendor microcode to a host whose CPU lacks IBPB.
- ``image-extras``: what the lab image installs beside bookworm's kernels: trixie-backports'
  ``linux-base`` (the 6.16+/7.x packages Pre-Depend on linux-base >= 4.12 / >= 4.17), the
  pre-VMSCAPE kernel and the ``fixed`` set's versioned kernel without the meta-packages (the G2
  host boots it).

    python -m tools.lab.repos fetch SET          # prints the JSON record
    python -m tools.lab.repos repo SET DIR       # a flat repository (Packages) in DIR
    python -m tools.lab.repos disk SET IMAGE     # an ext4 image (label lab-repo) holding it
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tools.oracle.apt import AptError, PrivateApt
from tools.oracle.cache import cache_dir

SUITE = "trixie-backports"
META = "linux-image-amd64"
PRE_VMSCAPE = re.compile(r"^linux-image-(?P<rel>6\.16\.(?P<patch>\d+)\+deb13-amd64)$")
SETS = ("fixed", "pre-vmscape", "microcode", "image-extras")
MICROCODE_SUITES = ("trixie", "trixie-updates", "trixie-security")
MICROCODE_COMPONENTS = ("main", "contrib", "non-free-firmware")
MICROCODE = "intel-microcode"


def _apt() -> PrivateApt:
    apt = PrivateApt((SUITE,))
    apt.ensure_lists()
    return apt


def _pinned_deps(fields: dict) -> list[tuple[str, str]]:
    """Dependencies of the form ``name (= version)`` (how kernel metas pin their parts)."""
    out = []
    for group in (fields.get("Depends", "") + "," + fields.get("Pre-Depends", "")).split(","):
        first = group.split("|", 1)[0].strip()
        m = re.match(r"^(\S+) \(= ([^)]+)\)$", first)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


def meta_closure(apt: PrivateApt, meta: str = META) -> tuple[list[tuple[str, str]], str]:
    """The meta-package at its candidate version and what it pins, recursively; and the release."""
    versions = apt.versions(meta)
    if not versions:
        raise AptError(f"{meta} is not in {SUITE}")
    todo = [(meta, versions[0])]
    seen: list[tuple[str, str]] = []
    while todo:
        pkg = todo.pop(0)
        if pkg in seen:
            continue
        seen.append(pkg)
        todo.extend(d for d in _pinned_deps(apt.show(*pkg)) if d not in seen)
    release = None
    for name, _v in seen:
        m = re.match(r"^linux-image-(\d.+-amd64)$", name)
        if m:
            release = m.group(1)
    if release is None:
        raise AptError(f"{meta} {versions[0]} pins no linux-image-<release>-amd64: {seen}")
    return seen, release


def pre_vmscape(apt: PrivateApt) -> tuple[tuple[str, str], str]:
    best = None
    for name in apt.pkgnames("linux-image-6.16."):
        m = PRE_VMSCAPE.match(name)
        if not m or int(m.group("patch")) >= 7:
            continue
        for ver in apt.versions(name):
            key = (int(m.group("patch")), ver)
            if best is None or key > best[0]:
                best = (key, (name, ver), m.group("rel"))
    if best is None:
        raise AptError(f"no linux-image-6.16.x+deb13-amd64 below 6.16.7 in {SUITE}")
    return best[1], best[2]


def with_dependencies(apt: PrivateApt, package: str) -> list[tuple[str, str]]:
    """The package at its newest version and, recursively, the first alternative of each of its
    Depends/Pre-Depends at their newest versions."""
    todo: list[str] = [package]
    seen: list[tuple[str, str]] = []
    while todo:
        name = todo.pop(0)
        if any(n == name for n, _v in seen):
            continue
        versions = apt.versions(name)
        if not versions:
            raise AptError(f"{name} is not in {', '.join(apt.suites)} ({' '.join(apt.components)})")
        seen.append((name, versions[0]))
        fields = apt.show(name, versions[0])
        for group in (fields.get("Depends", "") + "," + fields.get("Pre-Depends", "")).split(","):
            first = group.split("|", 1)[0].strip().split(" ", 1)[0].split(":", 1)[0]
            if first:
                todo.append(first)
    return seen


def resolve(name: str) -> dict:
    """The package set ``name`` as (package, version) pairs plus what it means."""
    apt = _apt()
    if name == "fixed":
        pkgs, release = meta_closure(apt)
        return {"set": name, "suite": SUITE, "packages": pkgs, "release": release, "meta": META}
    if name == "pre-vmscape":
        pkg, release = pre_vmscape(apt)
        return {"set": name, "suite": SUITE, "packages": [pkg], "release": release}
    if name == "microcode":
        mapt = PrivateApt(MICROCODE_SUITES, MICROCODE_COMPONENTS)
        mapt.ensure_lists()
        pkgs = with_dependencies(mapt, MICROCODE)
        return {"set": name, "suite": "+".join(MICROCODE_SUITES), "packages": pkgs, "microcode": MICROCODE}
    if name == "image-extras":
        base = ("linux-base", apt.versions("linux-base")[0])
        pre, pre_rel = pre_vmscape(apt)
        fixed, fixed_rel = meta_closure(apt)
        versioned = [p for p in fixed if re.search(r"-\d", p[0])]  # not the meta-packages
        return {
            "set": name,
            "suite": SUITE,
            "packages": [base, pre, *versioned],
            "releases": {"pre_vmscape": pre_rel, "g2": fixed_rel},
            "install": [f"{p[0]}={p[1]}" for p in [base, pre, *versioned] if p[0].startswith("linux-image-")]
            + [f"{base[0]}={base[1]}"],
        }
    raise SystemExit(f"unknown set {name!r}; sets: {', '.join(SETS)}")


def fetch(name: str) -> dict:
    """Download the set into $VMSCAPE_CACHE/debs (no network when present) and record it."""
    record = resolve(name)
    apt = PrivateApt(MICROCODE_SUITES, MICROCODE_COMPONENTS) if name == "microcode" else PrivateApt((SUITE,))
    debs = cache_dir() / "debs"
    record["files"] = [str(apt.download(p, v, debs)) for p, v in record["packages"]]
    record["packages"] = [list(p) for p in record["packages"]]
    out = cache_dir() / "lab" / "repos" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def flat_repo(files: list[str], dest: Path) -> Path:
    """A flat repository (``deb [trusted=yes] file:<dest> ./``): the .debs plus Packages."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = dest / Path(f).name
        if not target.exists():
            try:
                os.link(f, target)
            except OSError:
                shutil.copyfile(f, target)
    proc = subprocess.run(
        ["dpkg-scanpackages", "-m", ".", "/dev/null"], cwd=dest, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AptError(f"dpkg-scanpackages in {dest} failed: {proc.stderr.strip()}")
    (dest / "Packages").write_text(proc.stdout)
    return dest


def repo_disk(name: str, image: Path) -> dict:
    """An ext4 image labelled lab-repo holding the set's flat repository (mkfs.ext4 -d: no mount)."""
    record = fetch(name)
    stamp = image.with_suffix(".json")
    if image.exists() and stamp.exists() and json.loads(stamp.read_text()).get("files") == record["files"]:
        return record
    work = image.parent / f".{image.name}.d"
    shutil.rmtree(work, ignore_errors=True)
    flat_repo(record["files"], work / "repo")
    size = sum(Path(f).stat().st_size for f in record["files"])
    mib = size * 12 // 10 // 1048576 + 32
    tmp = image.with_suffix(".new")
    tmp.unlink(missing_ok=True)
    subprocess.run(["truncate", "-s", f"{mib}M", str(tmp)], check=True)
    proc = subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-L", "lab-repo", "-d", str(work), str(tmp)],
        capture_output=True,
        text=True,
        check=False,
    )
    shutil.rmtree(work, ignore_errors=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise AptError(f"mkfs.ext4 -d for {image} failed: {proc.stderr.strip()}")
    tmp.replace(image)
    stamp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.lab.repos", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fetch")
    p.add_argument("set", choices=SETS)
    p = sub.add_parser("repo")
    p.add_argument("set", choices=SETS)
    p.add_argument("dir", type=Path)
    p = sub.add_parser("disk")
    p.add_argument("set", choices=SETS)
    p.add_argument("image", type=Path)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "fetch":
            record = fetch(args.set)
        elif args.cmd == "repo":
            record = fetch(args.set)
            flat_repo(record["files"], args.dir)
        else:
            record = repo_disk(args.set, args.image)
    except AptError as exc:
        print(f"repos: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
