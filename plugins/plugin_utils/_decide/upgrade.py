# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The upgrade stage's decisions: which package to install, whether it fixes VMSCAPE. Pure.

The upgrade stage (docs/upgrade.md) remediates what ``vmscape=`` cannot: a next-boot kernel
without VMSCAPE support (plan action ``kernel_upgrade``, facts §6.2) and a CPU without IBPB
(facts §2: "no IBPB (old microcode) -> Vulnerable"). The target-side module
fleetsec.vmscape.kernel_packages observes (what the host's package manager offers, what it
would install, what a downloaded or installed kernel image contains); this file decides:

- ``query_spec``: which package names and name patterns to ask the package manager about for
  the running kernel (its distribution family and flavour);
- ``choose``: the candidates in the order they are tried: a pinned package, else the
  distribution's meta-package of the running flavour, else fixed kernels already installed but
  not booted, else the newest versioned packages of the same flavour (never an older branch);
- ``decide``: the first candidate whose *probed image* knows VMSCAPE (facts §5: never the
  version number), else "no fixed kernel in the configured repositories (newest: X)";
- ``boot_space_problem``: whether /boot and / hold another kernel;
- ``microcode``: which vendor microcode package applies and whether IBPB would unblock the plan
  (the planner itself is asked, with ``cpu.ibpb`` set, what it would do).

Versions are compared the way dpkg does (``deb_compare``, checked against ``dpkg
--compare-versions``); rpm and zypper list versions newest first themselves.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping

from ansible_collections.fleetsec.vmscape.plugins.module_utils._vocabulary import UPGRADE_STATUSES
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.kernel_table import classify_cpu
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide.plan import make_plan

# Outcomes of the stage (``upgrade.status``): the vocabulary's, also documented in docs/upgrade.md.
STATUSES = UPGRADE_STATUSES
NOT_NEEDED, DISABLED, UNSUPPORTED, NO_FIX, WOULD_INSTALL, INSTALLED, FAILED = STATUSES

MANAGERS = ("apt", "dnf", "dnf5", "yum", "zypper")
# The ansible-core (or community.general) module that installs with each manager.
INSTALL_MODULES = {
    "apt": "ansible.builtin.apt",
    "dnf": "ansible.builtin.dnf",
    "yum": "ansible.builtin.dnf",
    "dnf5": "ansible.builtin.dnf5",
    "zypper": "community.general.zypper",
}

# Debian kernel flavours (release suffixes), longest first so "cloud-amd64" wins over "amd64".
DEBIAN_FLAVOURS = (
    "cloud-amd64",
    "rt-amd64",
    "amd64",
    "cloud-arm64",
    "rt-arm64",
    "arm64",
    "686-pae",
    "686",
    "armmp-lpae",
    "armmp",
    "powerpc64le",
    "s390x",
    "riscv64",
    "loong64",
)
_DEB_ABI = r"\d+\.\d+(?:\.\d+)?(?:\+[a-z0-9.]+)?(?:-\d+)?"
_UBUNTU_RELEASE = re.compile(r"^(?P<abi>\d+\.\d+\.\d+-\d+)-(?P<flavour>[a-z][a-z0-9-]*)$")
_PVE_RELEASE = re.compile(r"^(?P<branch>\d+\.\d+)\.\d+-\d+-pve$")
_EL_RELEASE = re.compile(r"^\d+\.\d+\.\d+-[0-9.]+.*\.(?:el\d+|fc\d+|amzn\d+)[^.]*\.(?:x86_64|aarch64)(?:\+\w+)?$")
_SUSE_RELEASE = re.compile(r"^\d+\.\d+\.\d+-[0-9.]+-(?P<flavour>[a-z0-9]+)$")

# Vendor microcode packages per family (facts §2: IBPB comes with the CPU's microcode).
MICROCODE = {
    "debian": {"GenuineIntel": "intel-microcode", "AuthenticAMD": "amd64-microcode"},
    "ubuntu": {"GenuineIntel": "intel-microcode", "AuthenticAMD": "amd64-microcode"},
    "proxmox": {"GenuineIntel": "intel-microcode", "AuthenticAMD": "amd64-microcode"},
    "el": {"GenuineIntel": "microcode_ctl", "AuthenticAMD": "linux-firmware"},
    "suse": {"GenuineIntel": "ucode-intel", "AuthenticAMD": "ucode-amd"},
}


class UpgradeError(ValueError):
    """Input the stage cannot work with; the message names the field."""


# --- versions ------------------------------------------------------------------------------


def _order(c: str) -> int:
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256 if c else 0


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's verrevcmp (lib/dpkg/version.c) on one upstream version or revision."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and j < len(b) and a[i].isdigit() and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _rpm_segments(s: str):
    return re.findall(r"~|\^|[0-9]+|[A-Za-z]+", s)


def rpmvercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp (rpmio/rpmvercmp.c): -1, 0, 1; ``~`` sorts before everything, ``^`` after
    the end but before any other segment; digits beat letters; other characters separate."""
    if a == b:
        return 0
    x, y = _rpm_segments(a), _rpm_segments(b)
    i = 0
    while True:
        p = x[i] if i < len(x) else None
        q = y[i] if i < len(y) else None
        if p == "~" or q == "~":
            if p != "~":
                return 1
            if q != "~":
                return -1
            i += 1
            continue
        if p == "^" or q == "^":
            if p is None:
                return -1
            if q is None:
                return 1
            if p != "^":
                return 1
            if q != "^":
                return -1
            i += 1
            continue
        if p is None or q is None:
            break
        if p.isdigit() != q.isdigit():
            return 1 if p.isdigit() else -1
        if p.isdigit():
            p, q = p.lstrip("0") or "0", q.lstrip("0") or "0"
            if len(p) != len(q):
                return 1 if len(p) > len(q) else -1
        if p != q:
            return 1 if p > q else -1
        i += 1
    if len(x) == len(y):
        return 0
    return 1 if len(x) > len(y) else -1


def rpm_compare(a: str, b: str) -> int:
    """[epoch:]version-release like rpm (rpmVersionCompare)."""

    def evr(v: str) -> tuple[int, str, str]:
        epoch, colon, rest = v.partition(":")
        if not colon:
            epoch, rest = "0", v
        version, dash, release = rest.rpartition("-")
        if not dash:
            version, release = rest, ""
        return int(epoch or 0), version, release

    ea, va, ra = evr(a)
    eb, vb, rb = evr(b)
    if ea != eb:
        return 1 if ea > eb else -1
    return rpmvercmp(va, vb) or rpmvercmp(ra, rb)


def _split_deb(v: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in v:
        e, _colon, v = v.partition(":")
        epoch = int(e) if e.isdigit() else 0
    upstream, sep, revision = v.rpartition("-")
    if not sep:
        upstream, revision = v, ""
    return epoch, upstream, revision


def deb_compare(a: str, b: str) -> int:
    """<0, 0, >0 like ``dpkg --compare-versions a lt/eq/gt b``."""
    ea, ua, ra = _split_deb(a)
    eb, ub, rb = _split_deb(b)
    if ea != eb:
        return ea - eb
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


# --- family and flavour --------------------------------------------------------------------


def family_of(manager: str | None, os_id: str | None, os_like: list | None, release: str | None) -> str | None:
    """debian, ubuntu, proxmox, el, suse or None (from the package manager and /etc/os-release)."""
    ids = [str(os_id or "").lower()] + [str(x).lower() for x in (os_like or [])]
    if manager == "apt":
        if release and release.endswith("-pve"):
            return "proxmox"
        if "ubuntu" in ids:
            return "ubuntu"
        return "debian"
    if manager in ("dnf", "dnf5", "yum"):
        return "el"
    if manager == "zypper":
        return "suse"
    return None


def flavour_of(family: str | None, release: str | None) -> str | None:
    """The running kernel's flavour (package name suffix) or None when the release does not parse."""
    if not release:
        return None
    if family == "debian":
        for flv in DEBIAN_FLAVOURS:
            if re.fullmatch(_DEB_ABI + "-" + re.escape(flv), release):
                return flv
        return None
    if family == "ubuntu":
        m = _UBUNTU_RELEASE.match(release)
        return m.group("flavour") if m else None
    if family == "proxmox":
        return "pve" if _PVE_RELEASE.match(release) else None
    if family == "el":
        if not _EL_RELEASE.match(release):
            return None
        if "uek" in release:
            return "uek"
        if release.endswith("+rt") or ".rt" in release:
            return "rt"
        if release.endswith("+debug"):
            return "debug"
        return ""
    if family == "suse":
        m = _SUSE_RELEASE.match(release)
        return m.group("flavour") if m else None
    return None


def _names(family: str, flavour: str, release: str) -> dict:
    """Meta-packages (preference order), the versioned-package regex (group ``rel``) and the
    regexes of packages that carry the image or the config (downloaded to probe)."""
    if family == "debian":
        return {
            "metas": ["linux-image-" + flavour],
            "meta_regex": "^linux-image-" + re.escape(flavour) + "$",
            "versioned": r"^linux-image-(?P<rel>" + _DEB_ABI + "-" + re.escape(flavour) + ")$",
            "carriers": [
                r"^linux-image-(?!.*-(?:dbg|unsigned)$)(?P<rel>\d.+)$",
                r"^linux-binary-(?P<rel>\d.+)$",
                r"^linux-base-(?P<rel>\d.+)$",
            ],
        }
    if family == "ubuntu":
        return {
            "metas": ["linux-image-" + flavour],
            "meta_regex": "^linux-image-" + re.escape(flavour) + r"(?:-hwe-\d+\.\d+(?:-edge)?)?$",
            "versioned": r"^linux-image-(?P<rel>\d+\.\d+\.\d+-\d+-" + re.escape(flavour) + ")$",
            "carriers": [r"^linux-image-(?:unsigned-)?(?P<rel>\d.+)$"],
        }
    if family == "proxmox":
        m = _PVE_RELEASE.match(release)
        branch = m.group("branch") if m else None
        metas = ["proxmox-default-kernel"] + (["proxmox-kernel-" + branch] if branch else [])
        return {
            "metas": metas,
            "meta_regex": r"^(?:proxmox-default-kernel|proxmox-kernel-\d+\.\d+)$",
            "versioned": r"^(?:proxmox|pve)-kernel-(?P<rel>\d+\.\d+\.\d+-\d+-pve)(?:-signed)?$",
            "carriers": [r"^(?:proxmox|pve)-kernel-(?P<rel>\d+\.\d+\.\d+-\d+-pve)(?:-signed)?$"],
        }
    if family == "el":
        name = {"uek": "kernel-uek", "rt": "kernel-rt", "debug": "kernel-debug"}.get(flavour, "kernel")
        return {
            "metas": [name],
            "meta_regex": "^" + re.escape(name) + "$",
            "versioned": None,  # one package name, many versions
            "carriers": ["^" + re.escape(name) + "(?:-core)?$"],
        }
    if family == "suse":
        name = "kernel-" + flavour
        return {
            "metas": [name],
            "meta_regex": "^" + re.escape(name) + "$",
            "versioned": None,
            "carriers": ["^" + re.escape(name) + "$"],
        }
    raise UpgradeError(f"unknown family {family!r}")


def carriers(family: str | None, flavour: str | None, release: str | None) -> list[str]:
    """Regexes of the package names that carry a kernel image or config (downloaded to probe)."""
    if family is None:
        return []
    return list(_names(family, flavour or "", release or "")["carriers"])


def query_spec(release: str | None, vendor: str | None) -> dict:
    """What fleetsec.vmscape.kernel_packages asks each package manager, for any family the
    release may belong to (the module learns the family on the host: one round trip)."""
    apt_names: list[str] = []
    apt_patterns: list[str] = []
    for family in ("debian", "ubuntu", "proxmox"):
        flv = flavour_of(family, release)
        if flv is None:
            continue
        n = _names(family, flv, release or "")
        apt_names += [x for x in n["metas"] if x not in apt_names]
        apt_patterns += [p for p in (n["meta_regex"], n["versioned"]) if p and p not in apt_patterns]
    rpm_names = []
    flv = flavour_of("el", release)
    if flv is not None:
        rpm_names = _names("el", flv, release or "")["metas"]
    suse = []
    flv = flavour_of("suse", release)
    if flv is not None:
        suse = _names("suse", flv, release or "")["metas"]

    def micro(families):
        return sorted({MICROCODE[f][vendor] for f in families if vendor in MICROCODE[f]})

    return {
        "apt": {"names": apt_names + micro(("debian", "ubuntu", "proxmox")), "patterns": apt_patterns},
        "rpm": {"names": rpm_names + micro(("el",)), "patterns": []},
        "zypper": {"names": suse + micro(("suse",)), "patterns": []},
    }


# --- the candidates ------------------------------------------------------------------------


def _avail(inventory: Mapping, name: str) -> Mapping:
    return (inventory.get("available") or {}).get(name) or {}


def _offer(inventory: Mapping, name: str) -> str | None:
    """The version the package manager would install: apt's candidate (it honours pinning),
    else (rpm) the newest version the repositories list."""
    info = _avail(inventory, name)
    if info.get("candidate"):
        return info["candidate"]
    versions = info.get("versions") or []
    if not versions or inventory.get("manager") == "apt":
        return None
    return max(versions, key=_VersionKey(inventory.get("manager"), False))


def _installed_version(inventory: Mapping, name: str) -> str | None:
    for pkg in inventory.get("installed") or []:
        if pkg.get("name") == name:
            return pkg.get("version")
    return None


def compare(manager: str | None, a: str, b: str) -> int:
    """Version order of the manager's packages: dpkg's for apt, rpm's otherwise."""
    return deb_compare(a, b) if manager == "apt" else rpm_compare(a, b)


def _newer(manager: str, a: str | None, b: str | None) -> bool:
    """a newer than b."""
    if a is None:
        return False
    if b is None:
        return True
    return compare(manager, a, b) > 0


def _candidate(package, version, kind, why, release=None, installed=False) -> dict:
    return {
        "package": package,
        "version": version,
        "kind": kind,
        "release": release,
        "installed": installed,
        "why": why,
    }


def choose(facts: Mapping, inventory: Mapping, policy: Mapping) -> dict:
    """The candidates to probe, in order, with the family/flavour and the newest offer.

    ``inventory`` is the ``packages`` result of fleetsec.vmscape.kernel_packages (state query);
    ``policy``: ``package`` and ``version`` (pins, may be empty), ``max_probes``.
    Returns {family, flavour, manager, candidates, newest, reasons, unsupported}.
    """
    manager = inventory.get("manager")
    release = ((facts.get("kernel") or {}).get("release")) if isinstance(facts, Mapping) else None
    osr = inventory.get("os") or {}
    family = family_of(manager, osr.get("id"), osr.get("id_like"), release)
    out = {
        "family": family,
        "flavour": None,
        "manager": manager,
        "candidates": [],
        "newest": None,
        "reasons": [],
        "unsupported": None,
    }
    if manager not in MANAGERS or family is None:
        out["unsupported"] = f"no supported package manager found (looked for {', '.join(MANAGERS)})"
        return out
    flavour = flavour_of(family, release)
    out["flavour"] = flavour
    if flavour is None and not policy.get("package"):
        out["unsupported"] = (
            f"the running kernel {release!r} is not a {family} distribution kernel whose flavour is known; "
            "set vmscape_upgrade_package to name the kernel package"
        )
        return out
    names = _names(family, flavour, release or "") if flavour is not None else None
    cands: list[dict] = []
    max_probes = int(policy.get("max_probes") or 3)

    pinned = policy.get("package")
    if pinned:
        info = _avail(inventory, pinned)
        versions = info.get("versions") or []
        version = policy.get("version") or _offer(inventory, pinned)
        if not versions or (policy.get("version") and policy["version"] not in versions):
            want = f"{pinned} {policy.get('version')}" if policy.get("version") else pinned
            offered = ", ".join(versions) or "none"
            out["reasons"].append(
                f"pinned vmscape_upgrade_package {want} is not in the configured repositories (offered: {offered})"
            )
            out["newest"] = _newest(inventory, names, manager)
            return out
        cands.append(
            _candidate(
                pinned,
                version,
                "pinned",
                f"vmscape_upgrade_package pins {pinned}" + (f" {version}" if policy.get("version") else ""),
                installed=_installed_version(inventory, pinned) == version,
            )
        )
        out["candidates"] = cands
        out["newest"] = _newest(inventory, names, manager)
        return out
    if policy.get("version"):
        raise UpgradeError("vmscape_upgrade_version needs vmscape_upgrade_package (the package it is a version of)")

    # 1. The meta-package of the running flavour: one already installed wins (e.g. an Ubuntu HWE
    #    meta), else the distribution's default for the flavour.
    installed_metas = [
        p["name"] for p in inventory.get("installed") or [] if re.match(names["meta_regex"], p.get("name", ""))
    ]
    meta_order = installed_metas + [m for m in names["metas"] if m not in installed_metas]
    for meta in meta_order:
        cand = _offer(inventory, meta)
        if not cand:
            continue
        have = _installed_version(inventory, meta)
        if have is not None and not _newer(manager, cand, have):
            if names["versioned"] is None:
                # rpm families: the "meta" is the kernel package itself; installed versions
                # newer than the running kernel are handled below
                pass
            else:
                out["reasons"].append(f"meta-package {meta} {have} is installed and the newest offered")
            continue
        cands.append(
            _candidate(
                meta,
                cand,
                "meta",
                f"meta-package of the running flavour{' (installed)' if have else ''}: {meta} {cand}",
            )
        )
        break

    # 2. Kernels of the flavour installed but not running (a fixed kernel may be installed and
    #    simply not be the default).
    running_pkg = inventory.get("running_package") or {}
    run_version = running_pkg.get("version")
    if names["versioned"]:
        rx = re.compile(names["versioned"])
        for pkg in inventory.get("installed") or []:
            m = rx.match(pkg.get("name", ""))
            if not m or m.group("rel") == release:
                continue
            if run_version and not _newer(manager, pkg.get("version"), run_version):
                continue
            cands.append(
                _candidate(
                    pkg["name"],
                    pkg.get("version"),
                    "installed",
                    f"installed but not running: {pkg['name']} {pkg.get('version')}",
                    release=m.group("rel"),
                    installed=True,
                )
            )
        # 3. Versioned packages of the flavour offered by the repositories, newest first, newer
        #    than the running kernel's package (never an older branch).
        offers = []
        for name, info in sorted((inventory.get("available") or {}).items()):
            m = rx.match(name)
            cand = info.get("candidate")
            if not m or not cand or _installed_version(inventory, name) is not None:
                continue
            if run_version and not _newer(manager, cand, run_version):
                continue
            offers.append(
                _candidate(name, cand, "versioned", f"newest versioned package: {name} {cand}", m.group("rel"))
            )
        offers.sort(key=_VersionKey(manager), reverse=True)
        cands += offers
    else:
        # rpm/zypper: one package name, many versions; only those newer than the running kernel
        meta = names["metas"][0]
        info = _avail(inventory, meta)
        seen = {c["version"] for c in cands}
        installed = {p.get("version") for p in inventory.get("installed") or [] if p.get("name") == meta}
        for v in sorted(info.get("versions") or [], key=_VersionKey(manager, False), reverse=True):
            if v in seen or v in installed or (run_version and not _newer(manager, v, run_version)):
                continue
            cands.append(_candidate(meta, v, "versioned", f"{meta} {v}"))
            seen.add(v)
    # one probe per kernel release
    unique, releases = [], set()
    for c in cands:
        key = c["release"] or (c["package"], c["version"])
        if key in releases:
            continue
        releases.add(key)
        unique.append(c)
    if len(unique) > max_probes:
        out["reasons"].append(f"{len(unique)} candidates; probing the first {max_probes} (vmscape_upgrade_max_probes)")
    out["candidates"] = unique[:max_probes]
    out["newest"] = _newest(inventory, names, manager)
    return out


class _VersionKey:
    """Sort key by the manager's version order (of a candidate dict, or of a version string)."""

    def __init__(self, manager, candidates=True):
        self.manager = manager
        self.candidates = candidates

    def __call__(self, item):
        return _Ordered(self.manager, item["version"] if self.candidates else item)


class _Ordered:
    __slots__ = ("manager", "v")

    def __init__(self, manager, v):
        self.manager = manager
        self.v = v

    def __lt__(self, other):
        return compare(self.manager, self.v, other.v) < 0

    def __eq__(self, other):
        return compare(self.manager, self.v, other.v) == 0


def _newest(inventory: Mapping, names: Mapping | None, manager: str) -> str | None:
    """'<package> <version>' of the newest kernel package of the flavour the repositories offer
    (installed ones included), for the "no fixed kernel (newest: X)" report."""
    if names is None:
        return None
    best = None
    rx = re.compile(names["versioned"]) if names["versioned"] else None
    for name, info in (inventory.get("available") or {}).items():
        if rx is not None:
            if not rx.match(name):
                continue
        elif name != names["metas"][0]:
            continue
        v = info.get("candidate") or (info.get("versions") or [None])[0]
        if v is None:
            continue
        if rx is None:
            v = max(info.get("versions") or [v], key=_VersionKey(manager, False))
        if best is None or compare(manager, v, best[1]) > 0:
            best = (name, v)
    return f"{best[0]} {best[1]}" if best else None


# --- after probing -------------------------------------------------------------------------


def describe(cand: Mapping) -> str:
    rel = cand.get("release")
    return f"{cand['package']} {cand['version']}" + (f" (kernel {rel})" if rel and rel not in cand["package"] else "")


def decide(choice: Mapping, probes: list) -> dict:
    """The first probed candidate that knows VMSCAPE, else the no-fix report.

    ``probes`` (from kernel_packages state=probe, same order as the candidates): each has
    ``release``, ``knows_vmscape`` (True/False/None), ``evidence``, ``errors``.
    Unknown (None) never counts as fixed: an image that cannot be probed is not installed.
    """
    tried = []
    for probe in probes:
        cand = probe.get("candidate") or {}
        label = f"{cand.get('package')} {cand.get('version')}"
        if probe.get("knows_vmscape") is True:
            return {
                "status": "fixed",
                "candidate": dict(cand, release=probe.get("release") or cand.get("release")),
                "probe": probe,
                "reason": f"{label}: kernel {probe.get('release')} knows VMSCAPE ("
                + "; ".join((probe.get("evidence") or [])[-2:])
                + ")",
            }
        if probe.get("knows_vmscape") is False:
            tried.append(f"{label} (kernel {probe.get('release')}: no VMSCAPE)")
        else:
            errs = "; ".join(probe.get("errors") or []) or "probe gave no answer"
            tried.append(f"{label} (could not probe: {errs})")
    newest = choice.get("newest") or "nothing of this flavour"
    msg = f"no fixed kernel in the configured repositories (newest: {newest})"
    if tried:
        msg += "; probed " + ", ".join(tried)
    return {"status": NO_FIX, "candidate": None, "probe": None, "reason": msg}


def boot_space_problem(inventory: Mapping, probe: Mapping) -> str | None:
    """Why /boot or / cannot take the new kernel, or None.

    /boot needs the image (when it lands there) plus an initramfs as large as the running
    kernel's (2 x the image when that is unknown), with 10% to spare; / needs the packages'
    installed size. Unknown free space is not a problem (the package manager still checks).
    """
    space = inventory.get("space") or {}
    image = int(probe.get("image_bytes") or 0)
    initrd = int(space.get("running_initrd_bytes") or 0) or 2 * image
    need_boot = int((image + initrd) * 1.1)
    free_boot = space.get("boot_free_bytes")
    if free_boot is not None and need_boot and free_boot < need_boot:
        return (
            f"/boot has {_mib(free_boot)} free, the new kernel needs about {_mib(need_boot)} "
            f"(image {_mib(image)} + initramfs ~{_mib(initrd)}, +10%): remove old kernels first"
        )
    need_root = int(probe.get("installed_bytes") or 0)
    free_root = space.get("root_free_bytes")
    if free_root is not None and need_root and free_root < need_root:
        return f"/ has {_mib(free_root)} free, the kernel packages need {_mib(need_root)} installed"
    return None


def _mib(n) -> str:
    return f"{int(n) / 1048576:.0f} MiB"


# --- microcode -----------------------------------------------------------------------------


def with_ibpb(facts: Mapping) -> dict:
    """The facts as the next boot would show them once microcode provides IBPB."""
    out = copy.deepcopy(dict(facts))
    cpu = dict(out.get("cpu") or {}, ibpb=True)
    if isinstance(cpu.get("flags"), list) and "ibpb" not in cpu["flags"]:
        cpu["flags"] = [*cpu["flags"], "ibpb"]
    out["cpu"] = cpu
    return out


def microcode_would_help(facts: Mapping, policy: Mapping) -> bool:
    """The CPU lacks IBPB and, with it, the plan for the next-boot kernel would set a mitigation
    it cannot set today (asked of the planner itself, facts §2)."""
    cpu = facts.get("cpu") or {}
    if cpu.get("ibpb") is not False or cpu.get("hypervisor"):
        return False
    cls = classify_cpu(cpu.get("vendor"), cpu.get("family"), cpu.get("model"))
    if cls.kind in ("unaffected", "unknown"):
        return False
    now = make_plan(facts, policy)
    then = make_plan(with_ibpb(facts), policy)
    return now["action"] == "blocked" and then["action"] == "set"


def microcode_affected_without_ibpb(facts: Mapping) -> bool:
    """Check mode, before a kernel upgrade: the CPU is affected and lacks IBPB (facts §2 table:
    no IBPB -> Vulnerable on every generation but BHI_CTRL parts on G3)."""
    cpu = facts.get("cpu") or {}
    if cpu.get("ibpb") is not False or cpu.get("hypervisor"):
        return False
    return classify_cpu(cpu.get("vendor"), cpu.get("family"), cpu.get("model")).kind not in ("unaffected", "unknown")


def microcode_choice(facts: Mapping, inventory: Mapping) -> dict:
    """{package, version, status, reason}: status install | current | unavailable | unsupported."""
    osr = inventory.get("os") or {}
    release = (facts.get("kernel") or {}).get("release")
    family = family_of(inventory.get("manager"), osr.get("id"), osr.get("id_like"), release)
    vendor = (facts.get("cpu") or {}).get("vendor")
    pkg = (MICROCODE.get(family) or {}).get(vendor)
    if pkg is None:
        return {
            "package": None,
            "version": None,
            "status": "unsupported",
            "reason": f"no vendor microcode package known for {vendor or 'this CPU'} on {family or 'this system'}",
        }
    cand = _offer(inventory, pkg)
    have = _installed_version(inventory, pkg)
    if not cand:
        where = " (Debian: the non-free-firmware component)" if family in ("debian", "proxmox") else ""
        return {
            "package": pkg,
            "version": None,
            "status": "unavailable",
            "reason": f"the CPU lacks IBPB and {pkg} is not in the configured repositories{where}",
        }
    if have is not None and not _newer(inventory.get("manager"), cand, have):
        return {
            "package": pkg,
            "version": have,
            "status": "current",
            "reason": f"the CPU lacks IBPB although {pkg} {have} (the newest offered) is installed: "
            "a firmware (BIOS) update from the vendor is needed",
        }
    return {"package": pkg, "version": cand, "status": "install", "reason": f"{pkg} {cand} provides IBPB"}


def add_reason(plan: Mapping, reason: str) -> dict:
    out = dict(plan)
    out["reasons"] = [*list(plan.get("reasons") or []), reason]
    return out
