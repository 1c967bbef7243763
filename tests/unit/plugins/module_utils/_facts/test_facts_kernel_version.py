"""Running kernel release/version from /proc/version, version_signature and release strings."""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.kernel_version import (
    parse_build_string,
    parse_version_signature,
    release_from_proc_version,
    running_kernel,
    version_from_release,
    version_key,
)

DEB_61 = (
    "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, "
    "GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
)
DEB_612 = (
    "Linux version 6.12.117+deb12-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-12 (Debian "
    "12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian "
    "6.12.117-1~deb12u1 (2026-11-10)"
)
DEB_73 = (
    "Linux version 7.3.4+deb13-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) "
    "14.2.0, GNU ld (GNU Binutils for Debian) 2.44) #1 SMP PREEMPT_DYNAMIC Debian 7.3.4-1~bpo13+1 (2026-11-15)"
)
UBUNTU = (
    "Linux version 5.15.0-91-generic (buildd@lcy02-amd64-045) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, GNU ld "
    "(GNU Binutils for Ubuntu) 2.38) #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023"
)
RHEL = (
    "Linux version 5.14.0-570.el9.x86_64 (mockbuild@x86-64-01.build.eng.rdu2.redhat.com) (gcc (GCC) 11.5.0 20240719 "
    "(Red Hat 11.5.0-5), GNU ld version 2.35.2-63.el9) #1 SMP PREEMPT_DYNAMIC Wed Apr 9 10:35:15 EDT 2025"
)
PLAIN = "Linux version 6.18.44-fc-v595 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP @0"


@pytest.mark.parametrize(
    ("osrelease", "proc_version", "signature", "expected"),
    [
        ("6.1.0-56-amd64", DEB_61, None, ("6.1.0-56-amd64", "6.1.192", "proc_version", "6.1.192-2")),
        (
            "6.12.117+deb12-amd64",
            DEB_612,
            None,
            ("6.12.117+deb12-amd64", "6.12.117", "proc_version", "6.12.117-1~deb12u1"),
        ),
        ("7.3.4+deb13-amd64", DEB_73, None, ("7.3.4+deb13-amd64", "7.3.4", "proc_version", "7.3.4-1~bpo13+1")),
        (
            "5.15.0-91-generic",
            UBUNTU,
            "Ubuntu 5.15.0-91.101-generic 5.15.131\n",
            ("5.15.0-91-generic", "5.15.131", "version_signature", "5.15.0-91.101"),
        ),
        ("5.14.0-570.el9.x86_64", RHEL, None, ("5.14.0-570.el9.x86_64", "5.14.0", "release", None)),
        ("6.18.44-fc-v595", PLAIN, None, ("6.18.44-fc-v595", "6.18.44", "release", None)),
        (None, DEB_61, None, ("6.1.0-56-amd64", "6.1.192", "proc_version", "6.1.192-2")),  # osrelease fallback
        ("7.3~rc7", None, None, ("7.3~rc7", "7.3", "release", None)),
        ("weird", None, None, ("weird", None, None, None)),
        (None, None, None, (None, None, None, None)),
    ],
)
def test_running_kernel(osrelease, proc_version, signature, expected):
    k = running_kernel(osrelease, proc_version, signature)
    assert (k["release"], k["version"], k["version_source"], k["distro_version"]) == expected
    assert k["proc_version"] == (proc_version.strip() if proc_version else None)


def test_compiler_debian_version_is_not_the_kernel():
    # Only the text after "#N" counts: the gcc "(Debian 12.2.0-14+deb12u1)" must not be taken.
    text = DEB_61.replace(" Debian 6.1.192-2 (2026-11-16)", "")
    assert parse_build_string(text) == (None, None, None)


def test_image_header_and_banner_strings():
    assert parse_build_string(
        "6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
    ) == ("6.1.192", "6.1.192-2", "debian")
    # the banner template without a build number, as seen in the real 6.1 image
    assert parse_build_string(DEB_61.replace("#1 SMP", "# SMP"))[0] == "6.1.192"
    ub = UBUNTU + " (Ubuntu 5.15.0-91.101-generic 5.15.131)"
    assert parse_build_string(ub) == ("5.15.131", "5.15.0-91.101", "ubuntu")  # flavour dropped, as in the signature


def test_version_signature_variants():
    assert parse_version_signature("Ubuntu 6.8.0-49.49~22.04.1-generic 6.8.12") == ("6.8.12", "6.8.0-49.49~22.04.1")
    assert parse_version_signature("Ubuntu 5.4.0-200.220-lowlatency 5.4.284") == ("5.4.284", "5.4.0-200.220")
    assert parse_version_signature("garbage") == (None, None)


@pytest.mark.parametrize(
    ("release", "version"),
    [("6.1.0-56-amd64", "6.1.0"), ("7.3.4+deb13-amd64", "7.3.4"), ("6.17", "6.17"), ("abc", None), ("", None)],
)
def test_version_from_release(release, version):
    assert version_from_release(release) == version


def test_release_from_proc_version():
    assert release_from_proc_version(DEB_73) == "7.3.4+deb13-amd64"
    assert release_from_proc_version("nonsense") is None


def test_version_ordering():
    rels = [
        "6.1.0-9-amd64",
        "6.1.0-56-amd64",
        "6.12.117+deb12-amd64",
        "6.12.9+bpo-amd64",
        "7.3~rc7+deb13-amd64",
        "7.3.4+deb13-amd64",
        "5.14.0-427.el9.x86_64",
        "5.14.0-427.13.1.el9_4.x86_64",
    ]
    ordered = sorted(rels, key=version_key)
    assert ordered == [
        "5.14.0-427.el9.x86_64",
        "5.14.0-427.13.1.el9_4.x86_64",
        "6.1.0-9-amd64",
        "6.1.0-56-amd64",
        "6.12.9+bpo-amd64",
        "6.12.117+deb12-amd64",
        "7.3~rc7+deb13-amd64",
        "7.3.4+deb13-amd64",
    ]
