# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask the host's package manager about kernel and microcode packages; probe candidates.

Target side: standard library only, importable by Python 3.6+.

Observation only: nothing here installs, removes or configures a package, takes a package
manager lock or changes the package lists (the upgrade stage installs through
ansible.builtin.apt / ansible.builtin.dnf). Used by fleetsec.vmscape.kernel_packages:

- ``query``: the package manager, /etc/os-release, the installed packages whose names the
  controller asks about, what the configured repositories offer for them (``apt-cache policy``,
  ``dnf repoquery``), the package of the running kernel, free space on /boot and /.
- ``probe``: for each candidate, what installing it would install (``apt-get -s install``:
  the real resolver, in simulation), and, unless only simulating, the kernel it brings:
  ``apt-get download`` / ``dnf download`` into a scratch directory, the image/config taken out
  (_upgrade.pkg_archive), probed like any installed kernel (_facts.kernel_probe, facts §5), deleted again. A
  candidate already installed is probed where it is installed.

With ``root`` other than ``/`` the queries read the snapshot's package state
(``apt -o Dir=<root>``, ``rpm --root``, ``dnf --installroot``); downloads go to the scratch
directory as always.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess
import tempfile
import time

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import rootpath as _rootpath
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.kernel_probe import probe_kernel
from ansible_collections.fleetsec.vmscape.plugins.module_utils._upgrade import pkg_archive as _pkg_archive

OUTPUT_CAP = 16 * 1024 * 1024
_EXTRA_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
C_LOCALE = {"LANG": "C", "LC_ALL": "C", "LANGUAGE": "C"}
INITRD_NAMES = ("/boot/initrd.img-%s", "/boot/initramfs-%s.img", "/boot/initrd-%s")
IMAGE_PATHS = ("/boot/vmlinuz-%s", "/usr/lib/modules/%s/vmlinuz", "/lib/modules/%s/vmlinuz")


class PackagesError(Exception):
    """The package manager could not answer; the message says which command and why."""


def find_tool(name):
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(_EXTRA_PATH))


class Runner(object):
    """External commands with a time limit, a C locale and bounded output."""

    def __init__(self, timeout=600):
        self.timeout = timeout

    def run(self, argv, cwd=None):
        """(rc, stdout, stderr); rc is None when the command timed out."""
        env = dict(os.environ)
        env.update(C_LOCALE)
        env["DEBIAN_FRONTEND"] = "noninteractive"
        out = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        err = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        try:
            # Not run_command: run_command has no time limit on ansible-core 2.16.
            proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=env
            )
            try:
                rc = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = None
            texts = []
            for f in (out, err):
                f.seek(0)
                texts.append(f.read(OUTPUT_CAP).decode("utf-8", "replace"))
        finally:
            out.close()
            err.close()
        if rc is None:
            texts[1] += "\n%s: timed out after %d s" % (os.path.basename(argv[0]), self.timeout)
        return rc, texts[0], texts[1]

    def check(self, argv, what, cwd=None):
        rc, out, err = self.run(argv, cwd=cwd)
        if rc != 0:
            raise PackagesError(
                "%s failed (%s): %s" % (what, "timed out" if rc is None else "rc=%d" % rc, last_lines(err or out))
            )
        return out


def last_lines(text, n=3):
    """The lines that say what went wrong: unmet dependencies and errors, else the last lines."""
    lines = [" ".join(line.split()) for line in text.strip().splitlines() if line.strip()]
    deps = [line for line in lines if "Depends:" in line or "Conflicts:" in line or "Breaks:" in line]
    errors = [line for line in lines if line.startswith(("E:", "Error", "error:"))]
    return " / ".join(deps[:6] + (errors or lines)[-n:])[:2000]


# --------------------------------------------------------------------------- the host
def read_os_release(root):
    for hp in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            text = _rootpath.read_text(root, hp, 64 * 1024)
        except OSError:
            continue
        data = {}
        for line in text.splitlines():
            m = re.match(r"^([A-Z_]+)=(.*)$", line.strip())
            if m:
                value = m.group(2).strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                    value = value[1:-1]
                data[m.group(1)] = value
        return {
            "id": data.get("ID"),
            "id_like": data.get("ID_LIKE", "").split(),
            "version_id": data.get("VERSION_ID"),
            "pretty_name": data.get("PRETTY_NAME"),
        }
    return {"id": None, "id_like": [], "version_id": None, "pretty_name": None}


MANAGER_FILES = (
    ("apt", ("/usr/bin/apt-get", "/usr/bin/dpkg")),
    ("dnf5", ("/usr/bin/dnf5",)),
    ("dnf", ("/usr/bin/dnf",)),
    ("yum", ("/usr/bin/yum",)),
    ("zypper", ("/usr/bin/zypper",)),
)


def detect_manager(root):
    for name, files in MANAGER_FILES:
        if all(_rootpath.exists(root, f) for f in files):
            return name
    return None


def free_bytes(root, host_path):
    try:
        st = os.statvfs(_rootpath.under(root, host_path))
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def space(root, release):
    initrd = None
    for pattern in INITRD_NAMES:
        if release and _rootpath.isfile(root, pattern % release):
            initrd = os.path.getsize(_rootpath.under(root, pattern % release))
            break
    return {
        "boot_free_bytes": free_bytes(root, "/boot"),
        "root_free_bytes": free_bytes(root, "/usr"),
        "running_initrd_bytes": initrd,
    }


def lists_age(root, now=None):
    """Seconds since apt's package lists were last fetched, None when there are none."""
    newest = None
    for name in _rootpath.listdir(root, "/var/lib/apt/lists"):
        if "_Packages" not in name and not name.endswith("_Release") and not name.endswith("_InRelease"):
            continue
        try:
            mtime = os.stat(_rootpath.under(root, "/var/lib/apt/lists/" + name)).st_mtime
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    if newest is None:
        return None
    return max(0, int((now or time.time()) - newest))


def _literal_prefix(pattern):
    m = re.match(r"^\^((?:[A-Za-z0-9_-]|\\[.+-])*)", pattern)
    return m.group(1).replace("\\", "") if m else ""


def _wanted(name, names, patterns):
    return name in names or any(re.match(p, name) for p in patterns)


# --------------------------------------------------------------------------- apt
class Apt(object):
    name = "apt"

    def __init__(self, root, runner):
        self.root = _rootpath.normalize_root(root)
        self.runner = runner
        self.apt_get = find_tool("apt-get")
        self.apt_cache = find_tool("apt-cache")
        self.dpkg_query = find_tool("dpkg-query")
        self.dpkg_deb = find_tool("dpkg-deb")
        for tool, path in (("apt-get", self.apt_get), ("apt-cache", self.apt_cache), ("dpkg-query", self.dpkg_query)):
            if path is None:
                raise PackagesError("%s not found" % tool)

    def options(self):
        opts = ["-o", "Debug::NoLocking=1"]
        if self.root != "/":
            opts = [
                "-o",
                "Dir=%s" % self.root,
                "-o",
                "Dir::State::status=%s" % os.path.join(self.root, "var/lib/dpkg/status"),
                *opts,
            ]
        return opts

    def _dpkg_query(self, args):
        argv = [self.dpkg_query]
        if self.root != "/":
            argv.append("--admindir=%s" % os.path.join(self.root, "var/lib/dpkg"))
        return argv + args

    def installed(self, names, patterns):
        out = self.runner.check(
            self._dpkg_query(["-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n"]), "dpkg-query -W"
        )
        found = []
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) != 3 or len(parts[2]) < 2 or parts[2][1] != "i":
                continue
            if _wanted(parts[0], names, patterns):
                found.append({"name": parts[0], "version": parts[1]})
        return found

    def package_of(self, host_paths):
        for hp in host_paths:
            if not _rootpath.exists(self.root, hp):
                continue
            rc, out, _err = self.runner.run(self._dpkg_query(["-S", hp]))
            if rc != 0:
                continue
            name = out.split(":", 1)[0].strip()
            rc, ver, _err = self.runner.run(self._dpkg_query(["-W", "-f", "${Version}", name]))
            if rc == 0 and name:
                return {"name": name, "version": ver.strip() or None, "path": hp}
        return None

    def available(self, names, patterns):
        all_names = set(names)
        prefixes = sorted({_literal_prefix(p) for p in patterns if _literal_prefix(p)})
        for prefix in prefixes:
            out = self.runner.check([self.apt_cache, *self.options(), "pkgnames", prefix], "apt-cache pkgnames")
            for name in out.split():
                if any(re.match(p, name) for p in patterns):
                    all_names.add(name)
        result = {}
        ordered = sorted(all_names)
        for i in range(0, len(ordered), 200):
            chunk = ordered[i : i + 200]
            out = self.runner.check([self.apt_cache, *self.options(), "policy", *chunk], "apt-cache policy")
            result.update(parse_apt_policy(out))
        return result

    def simulate(self, package, version):
        """(installs [(name, version)], removes [name]) or raise PackagesError with apt's words."""
        spec = "%s=%s" % (package, version) if version else package
        rc, out, err = self.runner.run([self.apt_get, *self.options(), "-s", "-q", "install", spec])
        if rc != 0:
            raise PackagesError("apt-get -s install %s: %s" % (spec, last_lines(err or out)))
        return parse_apt_simulation(out)

    def sizes(self, pkgs):
        if not pkgs:
            return {}
        out = self.runner.check(
            [self.apt_cache, *self.options(), "show", *["%s=%s" % p for p in pkgs]], "apt-cache show"
        )
        sizes = {}
        for para in out.split("\n\n"):
            fields = parse_control(para)
            if "Package" in fields:
                sizes[(fields["Package"], fields.get("Version"))] = {
                    "size": _int(fields.get("Size")),
                    "installed_size": _int(fields.get("Installed-Size")) * 1024,
                    "depends": fields.get("Depends", ""),
                }
        return sizes

    def download(self, pkgs, directory):
        """Download (name, version) pairs into directory; return [paths]."""
        before = set(os.listdir(directory))
        specs = ["%s=%s" % p for p in pkgs]
        self.runner.check([self.apt_get, *self.options(), "-q", "download", *specs], "apt-get download", cwd=directory)
        return sorted(os.path.join(directory, n) for n in set(os.listdir(directory)) - before if n.endswith(".deb"))

    def extract(self, path, dest):
        if self.dpkg_deb is None:
            raise PackagesError("dpkg-deb not found")
        return _pkg_archive.extract_deb(path, dest, self.dpkg_deb, self.runner.timeout)


def _int(text):
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return 0


def parse_control(text):
    fields = {}
    key = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _sep, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    return fields


def parse_apt_policy(text):
    """``apt-cache policy`` (C locale) -> {name: {installed, candidate, versions}}.

    ``versions`` lists the versions a configured repository offers, as apt orders them (newest
    first); a version known only from /var/lib/dpkg/status is not an offer.
    """
    result = {}
    cur = None
    version = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            cur = {"installed": None, "candidate": None, "versions": []}
            result[line[:-1]] = cur
            version = None
            continue
        if cur is None:
            continue
        stripped = line.strip()
        if stripped.startswith("Installed:"):
            v = stripped.split(":", 1)[1].strip()
            cur["installed"] = None if v == "(none)" else v
        elif stripped.startswith("Candidate:"):
            v = stripped.split(":", 1)[1].strip()
            cur["candidate"] = None if v == "(none)" else v
        elif stripped == "Version table:":
            continue
        else:
            m = re.match(r"^ (?:\*\*\*| {3}) (\S+) (-?\d+)$", line)
            if m:
                version = m.group(1)
                continue
            m = re.match(r"^ {8}(-?\d+) (.+)$", line)
            if m and version is not None:
                source = m.group(2).strip()
                if not source.endswith("/dpkg/status") and version not in cur["versions"]:
                    cur["versions"].append(version)
    return result


def parse_apt_simulation(text):
    installs, removes = [], []
    for line in text.splitlines():
        m = re.match(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", line)
        if m:
            installs.append((m.group(1), m.group(2)))
            continue
        m = re.match(r"^Remv (\S+)", line)
        if m:
            removes.append(m.group(1))
    return installs, removes


# --------------------------------------------------------------------------- rpm (dnf / yum)
class Rpm(object):
    """dnf (4), dnf5 or yum: queries through ``dnf repoquery`` and ``rpm -q``."""

    def __init__(self, root, runner, manager):
        self.root = _rootpath.normalize_root(root)
        self.runner = runner
        self.name = manager
        self.dnf = find_tool("dnf5" if manager == "dnf5" else "dnf") or find_tool("yum")
        self.rpm = find_tool("rpm")
        self.rpm2cpio = find_tool("rpm2cpio")
        if self.dnf is None or self.rpm is None:
            raise PackagesError("%s or rpm not found" % manager)

    def _rpm(self, args):
        argv = [self.rpm]
        if self.root != "/":
            argv += ["--root", self.root]
        return argv + args

    def _dnf(self, args):
        argv = [self.dnf, "-q"]
        if self.root != "/":
            argv += ["--installroot", self.root]
        return argv + args

    def installed(self, names, patterns):
        out = self.runner.check(self._rpm(["-qa", "--qf", "%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n"]), "rpm -qa")
        found = []
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and _wanted(parts[0], names, patterns):
                found.append({"name": parts[0], "version": _strip_zero_epoch(parts[1])})
        return found

    def package_of(self, host_paths):
        for hp in host_paths:
            if not _rootpath.exists(self.root, hp):
                continue
            rc, out, _err = self.runner.run(
                self._rpm(["-qf", "--qf", "%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n", hp])
            )
            parts = out.strip().split("\t")
            if rc == 0 and len(parts) == 2:
                return {"name": parts[0], "version": _strip_zero_epoch(parts[1]), "path": hp}
        return None

    def available(self, names, patterns):
        if not names:
            return {}
        qf = "%{name}\t%{epoch}:%{version}-%{release}\t%{arch}\n"
        out = self.runner.check(self._dnf(["repoquery", "--queryformat", qf, *names]), "dnf repoquery")
        result = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) != 3 or parts[0] not in names:
                continue
            entry = result.setdefault(parts[0], {"installed": None, "candidate": None, "versions": []})
            v = _strip_zero_epoch(parts[1])
            if v not in entry["versions"]:
                entry["versions"].append(v)
        return result

    def simulate(self, package, version):
        return [(package, version)], []

    def sizes(self, pkgs):
        return {}

    def download(self, pkgs, directory):
        before = set(os.listdir(directory))
        specs = ["%s-%s" % p for p in pkgs]
        self.runner.check(self._dnf(["download", "--destdir", directory, *specs]), "dnf download")
        return sorted(os.path.join(directory, n) for n in set(os.listdir(directory)) - before if n.endswith(".rpm"))

    def extract(self, path, dest):
        if self.rpm2cpio is None:
            raise PackagesError("rpm2cpio not found")
        return _pkg_archive.extract_rpm(path, dest, self.rpm2cpio, self.runner.timeout)


def _strip_zero_epoch(v):
    return v[2:] if v.startswith(("0:", "(none):")) else v.replace("(none):", "")


def manager_for(root, runner, manager=None):
    manager = manager or detect_manager(root)
    if manager == "apt":
        return Apt(root, runner)
    if manager in ("dnf", "dnf5", "yum"):
        return Rpm(root, runner, manager)
    return None


# --------------------------------------------------------------------------- query
def query(root, spec, release, runner):
    """What fleetsec.vmscape's upgrade stage needs to choose (see module docs)."""
    manager_name = detect_manager(root)
    result = {
        "manager": manager_name,
        "os": read_os_release(root),
        "installed": [],
        "available": {},
        "running_package": None,
        "space": space(root, release),
    }
    if manager_name is None:
        return result
    if manager_name == "apt":
        result["lists_age_seconds"] = lists_age(root)
    if manager_name == "zypper":
        return result  # zypper: the controller reports it (community.general.zypper)
    if not any((spec.get(k) or {}).get("names") or (spec.get(k) or {}).get("patterns") for k in ("apt", "rpm")):
        return result  # only the manager was asked for
    mgr = manager_for(root, runner, manager_name)
    part = spec.get("apt" if manager_name == "apt" else "rpm") or {}
    names = list(part.get("names") or [])
    patterns = list(part.get("patterns") or [])
    result["installed"] = mgr.installed(names, patterns)
    result["available"] = mgr.available(names, patterns)
    if release:
        result["running_package"] = mgr.package_of([p % release for p in IMAGE_PATHS])
    return result


# --------------------------------------------------------------------------- probe
def _carrier_release(name, carriers):
    for rx in carriers:
        m = re.match(rx, name)
        if m and "rel" in m.groupdict() and m.group("rel"):
            return m.group("rel")
    return None


def _is_carrier(name, carriers):
    return any(re.match(rx, name) for rx in carriers)


def _probe_files(root, release, want_g3, out):
    image = None
    for pattern in IMAGE_PATHS:
        if _rootpath.isfile(root, pattern % release):
            image = pattern % release
            break
    res = probe_kernel(root, release, image, "auto", want_g3=want_g3)
    out["release"] = release
    out["knows_vmscape"] = res["knows_vmscape"]
    out["bhb_series"] = res["bhb_series"]
    out["version"] = res["version"]
    out["evidence"] += res["evidence"]
    out["errors"] += res["probe_errors"]
    if image is not None:
        out["image_bytes"] = os.path.getsize(_rootpath.under(root, image))
        out["image"] = image


def probe_candidate(root, mgr, cand, carriers, download, tmpdir, want_g3):
    """One candidate -> what it would install and what its kernel knows (see module docs)."""
    out = {
        "candidate": dict(cand),
        "release": cand.get("release"),
        "knows_vmscape": None,
        "bhb_series": None,
        "version": None,
        "evidence": [],
        "errors": [],
        "resolved": [],
        "removes": [],
        "image": None,
        "image_bytes": None,
        "installed_bytes": 0,
        "download_bytes": 0,
        "downloaded": False,
        "seconds": 0.0,
    }
    t0 = time.time()
    try:
        _probe_candidate(root, mgr, cand, carriers, download, tmpdir, want_g3, out)
    except (PackagesError, _pkg_archive.ArchiveError, OSError) as exc:
        out["errors"].append(str(exc))
    out["seconds"] = round(time.time() - t0, 1)
    return out


def _probe_candidate(root, mgr, cand, carriers, download, tmpdir, want_g3, out):
    if cand.get("installed") and cand.get("release"):
        out["evidence"].append("installed: probed in place")
        _probe_files(root, cand["release"], want_g3, out)
        return
    installs, removes = mgr.simulate(cand["package"], cand.get("version"))
    out["resolved"] = [list(p) for p in installs]
    out["removes"] = removes
    if removes:
        raise PackagesError(
            "installing %s %s would remove %s; refusing" % (cand["package"], cand.get("version"), ", ".join(removes))
        )
    sizes = mgr.sizes(installs)
    out["installed_bytes"] = sum(s["installed_size"] for s in sizes.values())
    to_fetch = [p for p in installs if _is_carrier(p[0], carriers)]
    if not installs:
        out["evidence"].append("%s %s: already installed" % (cand["package"], cand.get("version")))
    if not to_fetch:
        # nothing new carries a kernel: the one the package depends on is installed already
        deps = ""
        info = sizes.get((cand["package"], cand.get("version"))) or mgr.sizes(
            [(cand["package"], cand.get("version"))]
        ).get((cand["package"], cand.get("version")))
        if info:
            deps = info.get("depends") or ""
        for dep in re.split(r"[,|]", deps):
            name = dep.strip().split(" ", 1)[0]
            rel = _carrier_release(name, carriers)
            if rel and any(_rootpath.isfile(root, p % rel) for p in IMAGE_PATHS):
                out["evidence"].append("%s depends on %s, installed: probed in place" % (cand["package"], name))
                _probe_files(root, rel, want_g3, out)
                return
        if cand.get("kind") != "versioned" or mgr.name == "apt":
            raise PackagesError("%s %s brings no kernel package to probe" % (cand["package"], cand.get("version")))
        to_fetch = [(cand["package"], cand.get("version"))]
    for name, _version in to_fetch:
        rel = _carrier_release(name, carriers)
        if rel and out["release"] is None:
            out["release"] = rel
    out["download_bytes"] = sum((sizes.get(p) or {}).get("size", 0) for p in to_fetch)
    if not download:
        out["evidence"].append(
            "not downloaded (check mode): would install %s" % ", ".join("%s %s" % tuple(p) for p in installs)
        )
        return
    free = free_bytes("/", tmpdir)
    if free is not None and out["download_bytes"] and free < 2 * out["download_bytes"]:
        raise PackagesError(
            "%s has %d MiB free; downloading and unpacking %s needs about %d MiB"
            % (tmpdir, free // 1048576, cand["package"], 2 * out["download_bytes"] // 1048576)
        )
    work = tempfile.mkdtemp(prefix="vmscape-probe-", dir=tmpdir)
    try:
        debs = os.path.join(work, "pkgs")
        scratch = os.path.join(work, "root")
        os.mkdir(debs, 0o700)
        os.mkdir(scratch, 0o700)
        files = mgr.download(to_fetch, debs)
        out["downloaded"] = True
        if not files:
            raise PackagesError("the download of %s produced no package file" % ", ".join(n for n, _v in to_fetch))
        releases = {}
        for path in files:
            for member, rel, kind, _size in mgr.extract(path, scratch):
                releases.setdefault(rel, set()).add(kind)
                out["evidence"].append("%s: %s" % (os.path.basename(path), member))
        with_image = [r for r, kinds in releases.items() if kinds & {"vmlinuz", "vmlinux"}]
        chosen = (with_image or sorted(releases))[:1]
        if not chosen:
            raise PackagesError("%s carries no kernel image or config" % ", ".join(os.path.basename(f) for f in files))
        _probe_files(scratch, chosen[0], want_g3, out)
        if out["image"] is None:
            out["image_bytes"] = None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def probe(root, candidates, carriers, download, tmpdir, want_g3, stop_at_fixed, runner):
    mgr = manager_for(root, runner)
    if mgr is None:
        raise PackagesError("no supported package manager (apt, dnf, dnf5, yum) under %s" % root)
    results = []
    for cand in candidates:
        res = probe_candidate(root, mgr, cand, carriers, download, tmpdir, want_g3)
        results.append(res)
        if stop_at_fixed and res["knows_vmscape"] is True:
            break
    return results
