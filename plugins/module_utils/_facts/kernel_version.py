# -*- coding: utf-8 -*-
# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel release strings, upstream versions hidden by distributions, and version ordering.

Target side: standard library only, importable by Python 3.6+.

Where the upstream version is printed (vmscape-facts.md section 5):
- Debian: the build string ends with "Debian 6.1.192-2 (2026-11-16)", or for newer uploads
  "Debian 6.12.117-1~deb12u1 (...)", "Debian 7.3.4-1~bpo13+1 (...)" (/proc/version and the
  image's banner and bzImage header). The compiler part "(Debian 12.2.0-14+deb12u1)" is not
  the kernel's version: only text after the build number "#N" counts.
- Ubuntu: /proc/version_signature "Ubuntu 5.15.0-91.101-generic 5.15.131"; the image banner
  ends with the same signature in parentheses.
- Everything else: the leading X.Y[.Z] of the release.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_UPSTREAM = r"([0-9]+\.[0-9]+(?:\.[0-9]+)?)"
# "Debian 6.1.192-2" / "Debian 7.3.4-1~bpo13+1" after the "#N" build number.
_DEBIAN_RE = re.compile(r"\bDebian " + _UPSTREAM + r"([-+~][0-9A-Za-z.+~-]*)?(?=\s|\)|$)")
# "Ubuntu 5.15.0-91.101-generic 5.15.131"
_UBUNTU_SIG_RE = re.compile(r"\bUbuntu (\S+) " + _UPSTREAM + r"(?=\s|\)|$)")
_RELEASE_RE = re.compile(r"^" + _UPSTREAM)
_BUILD_NO_RE = re.compile(r"#[0-9]*(?:-\S+)? ")
_PROC_VERSION_RE = re.compile(r"^Linux version (\S+)")


def version_from_release(release):
    """Leading X.Y.Z (or X.Y) of a release string, else None."""
    if not release:
        return None
    m = _RELEASE_RE.match(release)
    if not m:
        return None
    return m.group(1)


def _after_build_number(text):
    m = _BUILD_NO_RE.search(text)
    return text[m.end() :] if m else None


def parse_build_string(text):
    """From a /proc/version line, image banner or bzImage header version string, return
    (version, distro_version, source) for a Debian or Ubuntu build, or (None, None, None).
    ``source`` is "debian" or "ubuntu"."""
    if not text:
        return None, None, None
    tail = _after_build_number(text)
    if tail is not None:
        found = list(_DEBIAN_RE.finditer(tail))
        if found:
            m = found[-1]
            return m.group(1), m.group(1) + (m.group(2) or ""), "debian"
    found = list(_UBUNTU_SIG_RE.finditer(text))
    if found:
        m = found[-1]
        return m.group(2), _ubuntu_package_version(m.group(1)), "ubuntu"
    return None, None, None


def _ubuntu_package_version(full):
    """ "5.15.0-91.101-generic" -> "5.15.0-91.101" (the flavour is not part of the package version),
    so the running kernel's signature and its image's banner compare equal."""
    return re.sub(r"-[A-Za-z][A-Za-z0-9-]*$", "", full)


def parse_version_signature(text):
    """Ubuntu /proc/version_signature -> (upstream, distro_version) or (None, None)."""
    m = _UBUNTU_SIG_RE.search(text or "")
    if not m:
        return None, None
    return m.group(2), _ubuntu_package_version(m.group(1))


def release_from_proc_version(text):
    """The release word of "Linux version <release> (...)" or None."""
    m = _PROC_VERSION_RE.match((text or "").strip())
    return m.group(1) if m else None


def running_kernel(osrelease, proc_version, version_signature):
    """Build the schema's ``kernel`` dict from the three raw texts (any may be None)."""
    release = (osrelease or "").strip() or release_from_proc_version(proc_version)
    pv = proc_version.strip() if proc_version else None
    version = distro = source = None
    if version_signature:
        version, distro = parse_version_signature(version_signature)
        if version:
            source = "version_signature"
    if version is None and pv:
        v, d, _kind = parse_build_string(pv)
        if v:
            # version and distro version come from the same (last) signature of the banner
            version, distro, source = v, d, "proc_version"
    if version is None and release:
        version = version_from_release(release)
        if version:
            source = "release"
    return {
        "release": release or None,
        "version": version,
        "version_source": source,
        "proc_version": pv,
        "distro_version": distro,
    }


# ---- ordering of releases (sort -V like, as grub-mkconfig's version_sort) ----
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PART_RE = re.compile(r"([0-9]+|[A-Za-z]+|~|[^0-9A-Za-z~]+)")


def version_key(text):
    """A sort key ordering release strings like ``sort -V`` / dpkg: numbers numerically,
    ``~`` before anything (``7.3~rc7`` < ``7.3``). Higher key = newer."""
    key = []
    for part in _PART_RE.findall(text or ""):
        if "0" <= part[0] <= "9":
            key.append((2, int(part), ""))
        elif part == "~":
            key.append((0, 0, ""))
        elif part[0] in _LETTERS:
            key.append((1, 0, part))
        else:
            key.append((1, -1, part))
    # End of string sorts after "~" but before any other continuation.
    key.append((0, 1, ""))
    return tuple(key)
