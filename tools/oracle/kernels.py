"""Fetch the Debian kernels declared in tests/data/kernels.yaml into ``$VMSCAPE_CACHE/kernels/<id>/``.

Per kernel the cache keeps ``vmlinuz``, ``System.map``, ``config`` and ``metadata.json`` (package,
Debian version, suite, release string, upstream version, sha256 of the image). Nothing is installed:
packages are fetched with ``apt-get download`` through a private apt configuration
(tools/oracle/apt.py) and unpacked with ``dpkg-deb -x``; the module tree is dropped afterwards
(the oracle initramfs needs no modules: devtmpfs, ttyS0 and CPUID work without any).
A kernel whose metadata.json exists is not fetched again (no network on reruns).

    python -m tools.oracle.kernels [--refresh] [ID ...]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from packaging.version import Version

from tools.oracle.apt import AptError, PrivateApt, dpkg_extract
from tools.oracle.cache import REPO, cache_dir, sha256_file

KERNELS_YAML = REPO / "tests" / "data" / "kernels.yaml"


class KernelSpecError(ValueError):
    pass


@dataclass(frozen=True)
class KernelSpec:
    id: str
    suite: str
    package: str
    prefer: str
    generation: str
    also: tuple[str, ...] = ()
    max_version: str | None = None


@dataclass
class Kernel:
    """A fetched kernel: paths in the cache plus what was used."""

    id: str
    dir: Path
    meta: dict = field(default_factory=dict)

    @property
    def vmlinuz(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def system_map(self) -> Path:
        return self.dir / "System.map"

    @property
    def config(self) -> Path:
        return self.dir / "config"

    @property
    def release(self) -> str:
        return self.meta["release"]

    @property
    def version(self) -> str:
        return self.meta["upstream_version"]


def load_specs(path: Path = KERNELS_YAML) -> list[KernelSpec]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise KernelSpecError(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("kernels"), list):
        raise KernelSpecError(f"{path}: expected a mapping with a 'kernels' list")
    specs = []
    for i, item in enumerate(data["kernels"]):
        where = f"{path}: kernels[{i}]"
        if not isinstance(item, dict):
            raise KernelSpecError(f"{where}: expected a mapping")
        missing = {"id", "suite", "package", "prefer", "generation"} - set(item)
        if missing:
            raise KernelSpecError(f"{where}: missing {sorted(missing)}")
        try:
            rx = re.compile(item["package"])
        except re.error as exc:
            raise KernelSpecError(f"{where}: bad package regex: {exc}") from exc
        if "rel" not in rx.groupindex:
            raise KernelSpecError(f"{where}: package regex needs a named group (?P<rel>...)")
        specs.append(
            KernelSpec(
                id=str(item["id"]),
                suite=str(item["suite"]),
                package=item["package"],
                prefer=str(item["prefer"]),
                generation=str(item["generation"]),
                also=tuple(item.get("also") or ()),
                max_version=str(item["max_version"]) if item.get("max_version") else None,
            )
        )
    ids = [s.id for s in specs]
    if len(ids) != len(set(ids)):
        raise KernelSpecError(f"{path}: duplicate kernel ids in {ids}")
    return specs


def upstream_of(debian_version: str) -> str:
    """``6.1.192-2`` -> ``6.1.192``; ``7.3.4-1~bpo13+1`` -> ``7.3.4``; ``6.12.117-1~deb12u1`` -> ``6.12.117``."""
    v = debian_version.split(":", 1)[-1]
    return re.split(r"[-~+]", v, maxsplit=1)[0]


def choose(spec: KernelSpec, apt: PrivateApt) -> tuple[str, str, str, bool]:
    """(package, debian version, release, fallback_used) for a spec from the suite's package list."""
    rx = re.compile(spec.package)
    prefix = spec.package.lstrip("^").split("(", 1)[0].replace("\\", "")
    cands = []
    for name in apt.pkgnames(prefix):
        m = rx.match(name)
        if not m:
            continue
        for ver in apt.versions(name):
            up = upstream_of(ver)
            if spec.max_version and Version(up) > Version(spec.max_version):
                continue
            cands.append((Version(up), ver, name, m.group("rel")))
    if not cands:
        raise AptError(f"kernel {spec.id}: no package matching {spec.package!r} in {spec.suite}")
    preferred = [c for c in cands if str(c[0]) == spec.prefer]
    pick = max(preferred or cands, key=lambda c: (c[0], c[1]))
    return pick[2], pick[1], pick[3], not preferred


def _find_one(tree: Path, patterns: list[str]) -> Path | None:
    for pattern in patterns:
        hits = sorted(tree.glob(pattern))
        if hits:
            return hits[0]
    return None


def fetch(spec: KernelSpec, refresh: bool = False, log=print) -> Kernel:
    kdir = cache_dir() / "kernels" / spec.id
    meta_path = kdir / "metadata.json"
    if meta_path.exists() and not refresh:
        return Kernel(spec.id, kdir, json.loads(meta_path.read_text()))
    apt = PrivateApt((spec.suite,))
    apt.ensure_lists(refresh=refresh)
    package, version, rel, fallback = choose(spec, apt)
    log(f"kernel {spec.id}: {package} {version} from {spec.suite}" + (" (fallback)" if fallback else ""))
    debs = cache_dir() / "debs"
    tree = kdir / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    packages = [(package, version)] + [(p.format(rel=rel), version) for p in spec.also]
    for name, ver in packages:
        dpkg_extract(apt.download(name, ver, debs), tree)
    found = {
        "vmlinuz": _find_one(tree, [f"boot/vmlinuz-{rel}", f"usr/lib/modules/{rel}/vmlinuz"]),
        "System.map": _find_one(tree, [f"boot/System.map-{rel}", f"usr/lib/modules/{rel}/System.map"]),
        "config": _find_one(tree, [f"boot/config-{rel}", f"usr/lib/modules/{rel}/config"]),
    }
    if found["vmlinuz"] is None:
        raise AptError(f"kernel {spec.id}: no vmlinuz for {rel} in {[p for p, _ in packages]}")
    for name, src in found.items():
        dst = kdir / name
        dst.unlink(missing_ok=True)
        if src is not None:
            shutil.copyfile(src, dst)
    shutil.rmtree(tree)
    meta = {
        "id": spec.id,
        "suite": spec.suite,
        "package": package,
        "packages": [p for p, _ in packages],
        "debian_version": version,
        "upstream_version": upstream_of(version),
        "release": rel,
        "preferred_version": spec.prefer,
        "fallback_used": fallback,
        "generation": spec.generation,
        "vmlinuz_sha256": sha256_file(kdir / "vmlinuz"),
        "files": {n: (str(kdir / n) if p is not None else None) for n, p in found.items()},
    }
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return Kernel(spec.id, kdir, meta)


def fetch_all(ids: list[str] | None = None, refresh: bool = False, log=print) -> dict[str, Kernel]:
    specs = load_specs()
    unknown = set(ids or ()) - {s.id for s in specs}
    if unknown:
        raise KernelSpecError(f"{KERNELS_YAML}: unknown kernel id(s) {sorted(unknown)}")
    return {s.id: fetch(s, refresh=refresh, log=log) for s in specs if not ids or s.id in ids}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ids", nargs="*", help="kernel ids from tests/data/kernels.yaml (default: all)")
    ap.add_argument("--refresh", action="store_true", help="apt-get update and fetch again")
    args = ap.parse_args(argv)
    try:
        kernels = fetch_all(args.ids or None, refresh=args.refresh)
    except (AptError, KernelSpecError) as exc:
        print(f"kernels: {exc}", file=sys.stderr)
        return 1
    for k in kernels.values():
        m = k.meta
        print(f"{k.id:14} {m['release']:24} {m['package']} {m['debian_version']} ({m['suite']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
