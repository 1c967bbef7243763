"""Release ordering judged by the real ``sort -V`` (what grub-mkconfig's version_sort uses), and
the Ubuntu signature parsing, exactly (found by `make mutation`)."""

import random
import subprocess

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.kernel_version import (
    parse_build_string,
    parse_version_signature,
    release_from_proc_version,
    running_kernel,
    version_key,
)

# Debian/Ubuntu release strings (grub-mkconfig on Debian orders them with sort -V; they start with
# a digit and letters follow a separator), plus the subtle shapes: ~ (pre-releases), .0, missing
# parts. RHEL names are ordered like rpm instead (below): sort -V puts 503.40.1 before 503.el9.
RELEASES = [
    "6.1.0-56-amd64",
    "6.1.0-9-amd64",
    "6.1.0-56-rt-amd64",
    "6.1.0-56-cloud-amd64",
    "6.12.117+deb12-amd64",
    "6.12.9",
    "6.9",
    "6.9.0",
    "6.10~rc1",
    "6.10",
    "6.10-rc1",
    "6.x",
    "6.0",
    "7.3~rc7",
    "7.3",
    "7.3.0",
    "7.3.4+deb13-amd64",
    "6.1~",
    "6.1",
    "6.1.0",
    "6.1_1",
    "6.1-rc",
    "5.15.0-91-generic",
    "5.15.0-101-generic",
    "6.8.0-1015-azure",
    "9",
    "10",
]


def test_order_equals_sort_v():
    shuffled = RELEASES[:]
    random.Random(12).shuffle(shuffled)
    real = subprocess.run(["sort", "-V"], input="\n".join(shuffled) + "\n", capture_output=True, text=True, check=True)
    assert sorted(shuffled, key=version_key) == real.stdout.split()


def test_rhel_errata_kernels_are_newer_like_rpm_says():
    # rpmvercmp: a numeric segment is newer than an alphabetic one ("40" > "el9")
    assert version_key("5.14.0-503.40.1.el9_5.x86_64") > version_key("5.14.0-503.el9.x86_64")
    assert version_key("5.14.0-570.el9.x86_64") > version_key("5.14.0-503.40.1.el9_5.x86_64")
    assert version_key("4.18.0-513.5.1.el8_9.x86_64") > version_key("4.18.0-477.27.1.el8_8.x86_64")


def test_pre_releases_and_numbers():
    assert version_key("7.3~rc7") < version_key("7.3") < version_key("7.3.0")
    assert version_key("7.3~") < version_key("7.3")
    assert version_key("6.1.05") == version_key("6.1.5")  # numbers compare numerically
    assert version_key("6.9") > version_key("6.x")
    assert version_key("") == ((0, 1, ""),)
    assert version_key(None) == version_key("")


def test_ubuntu_signature_exactly():
    assert parse_version_signature("Ubuntu 5.15.0-91.101-generic 5.15.131") == ("5.15.131", "5.15.0-91.101")
    assert parse_version_signature("Ubuntu 6.8.0-1015.16-azure-fde 6.8.12") == ("6.8.12", "6.8.0-1015.16")
    assert parse_version_signature("Ubuntu 5.4.0-42.46 5.4.44") == ("5.4.44", "5.4.0-42.46")
    assert parse_version_signature("") == (None, None)
    assert parse_version_signature(None) == (None, None)


def test_release_from_proc_version_exactly():
    assert release_from_proc_version("  Linux version 6.1.0-56-amd64 (x) #1\n") == "6.1.0-56-amd64"
    assert release_from_proc_version("Linux  version x") is None
    assert release_from_proc_version(None) is None


def test_a_flavour_with_capitals_is_not_part_of_the_package_version():
    # a locally built flavour (CONFIG_LOCALVERSION) may carry capitals
    assert parse_version_signature("Ubuntu 6.8.0-1015.16-Custom-X1 6.8.12") == ("6.8.12", "6.8.0-1015.16")


def test_a_debian_build_without_a_revision():
    text = "Linux version 6.1.0-56-amd64 (x@y) (gcc (Debian 12.2.0-14) 12.2.0) #1 SMP Debian 6.1.192 (2026-11-16)"
    assert parse_build_string(text) == ("6.1.192", "6.1.192", "debian")


UBUNTU_BANNER = (
    "Linux version 6.8.0-1015-azure (buildd@lcy02-amd64-055) (x86_64-linux-gnu-gcc-13 (Ubuntu 13.2.0-23ubuntu4) "
    "13.2.0, GNU ld (GNU Binutils for Ubuntu) 2.42) #16-Ubuntu SMP Tue Sep 17 11:27:48 UTC 2024 "
    "(Ubuntu 6.8.0-1015.16-azure 6.8.12)"
)


def test_the_version_signature_file_wins_over_the_banner():
    k = running_kernel("6.8.0-1015-azure", UBUNTU_BANNER, "Ubuntu 6.8.0-1015.16-azure 6.8.12\n")
    assert (k["version"], k["version_source"], k["distro_version"]) == ("6.8.12", "version_signature", "6.8.0-1015.16")


def test_an_ubuntu_banner_without_the_signature_file():
    k = running_kernel("6.8.0-1015-azure", UBUNTU_BANNER, None)
    assert (k["version"], k["version_source"], k["distro_version"]) == ("6.8.12", "proc_version", "6.8.0-1015.16")


def test_version_and_distro_version_come_from_the_same_signature():
    text = UBUNTU_BANNER + " (Ubuntu 6.8.0-1016.17-azure 6.8.13)"
    k = running_kernel(None, text, None)
    assert (k["version"], k["distro_version"]) == ("6.8.13", "6.8.0-1016.17")
