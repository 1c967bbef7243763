"""The upgrade stage's pure decisions (plugin_utils/_vmscape_upgrade.py): candidate order, probe
verdict, /boot space, microcode. Inventories are written by hand in the shape the
kernel_packages module returns; dpkg's version order is checked against the real dpkg."""

import os
import shutil
import subprocess

import pytest
from plan_helpers import facts

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import upgrade as up

DEB_PAIRS = [
    ("7.3.4-1~bpo13+1", "6.17.8-1~bpo13+1"),
    ("6.16.3-1~bpo13+1", "6.16.3-1"),
    ("6.16.3-1~bpo13+1", "6.16.3-1~bpo13+2"),
    ("1:1.0", "2.0"),
    ("1.0~rc1", "1.0"),
    ("1.0", "1.0-0"),
    ("1.0a", "1.0"),
    ("1.0+b1", "1.0"),
    ("6.1.192-2", "6.1.192-10"),
    ("6.12.117-1~deb12u1", "6.12.117-1"),
    ("3.20250812.1~deb12u1", "3.20240910.1~deb12u1"),
    ("2.0-1.1", "2.0-1"),
    ("1.0.0", "1.0"),
    ("0:1.0", "1.0"),
    ("1.0~~", "1.0~"),
    ("a", "1"),
]


def dpkg_says(a, b):
    for op, sign in (("lt", -1), ("eq", 0), ("gt", 1)):
        if subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0:
            return sign
    raise AssertionError(f"dpkg gave no order for {a} {b}")


@pytest.mark.skipif(not shutil.which("dpkg") and os.environ.get("CI") != "true", reason="dpkg missing")
@pytest.mark.parametrize(("a", "b"), DEB_PAIRS)
def test_deb_compare_agrees_with_dpkg(a, b):
    got = up.deb_compare(a, b)
    want = dpkg_says(a, b)
    assert (got > 0) - (got < 0) == want
    back = up.deb_compare(b, a)
    assert (back > 0) - (back < 0) == -want


def test_deb_compare_by_hand():
    assert up.deb_compare("7.3.4-1~bpo13+1", "6.17.8-1~bpo13+1") > 0
    assert up.deb_compare("1.0~rc1", "1.0") < 0
    assert up.deb_compare("1:0.1", "9.9") > 0
    assert up.deb_compare("1.0", "1.0-0") == 0


@pytest.mark.parametrize(
    ("family", "release", "flavour"),
    [
        ("debian", "6.16.3+deb13-amd64", "amd64"),
        ("debian", "6.1.0-56-amd64", "amd64"),
        ("debian", "6.1.0-56-cloud-amd64", "cloud-amd64"),
        ("debian", "6.12.117+deb12-rt-amd64", "rt-amd64"),
        ("debian", "7.3.4+deb13-amd64", "amd64"),
        ("debian", "6.8.0-45-generic", None),
        ("ubuntu", "6.8.0-45-generic", "generic"),
        ("ubuntu", "5.15.0-1071-aws", "aws"),
        ("proxmox", "6.8.12-4-pve", "pve"),
        ("proxmox", "6.8.0-45-generic", None),
        ("el", "5.14.0-427.13.1.el9_4.x86_64", ""),
        ("el", "5.15.0-200.131.27.el9uek.x86_64", "uek"),
        ("el", "5.14.0-427.13.1.el9_4.x86_64+debug", "debug"),
        ("suse", "6.4.0-150600.23.25-default", "default"),
        ("debian", None, None),
    ],
)
def test_flavour(family, release, flavour):
    assert up.flavour_of(family, release) == flavour


@pytest.mark.parametrize(
    ("manager", "os_id", "like", "release", "family"),
    [
        ("apt", "debian", [], "6.16.3+deb13-amd64", "debian"),
        ("apt", "ubuntu", ["debian"], "6.8.0-45-generic", "ubuntu"),
        ("apt", "linuxmint", ["ubuntu", "debian"], "6.8.0-45-generic", "ubuntu"),
        ("apt", "debian", [], "6.8.12-4-pve", "proxmox"),
        ("dnf", "rhel", ["fedora"], "5.14.0-427.el9.x86_64", "el"),
        ("dnf5", "fedora", [], "6.11.4-301.fc41.x86_64", "el"),
        ("zypper", "sles", ["suse"], "6.4.0-150600.23.25-default", "suse"),
        (None, "debian", [], "6.1.0-56-amd64", None),
    ],
)
def test_family(manager, os_id, like, release, family):
    assert up.family_of(manager, os_id, like, release) == family


def inventory(available, installed=(), running=None, manager="apt", os_id="debian", space=None):
    return {
        "manager": manager,
        "os": {"id": os_id, "id_like": []},
        "installed": [{"name": n, "version": v} for n, v in installed],
        "available": {
            n: {
                "installed": None,
                "candidate": v[0] if isinstance(v, list) and v else v,
                "versions": v if isinstance(v, list) else [v],
            }
            for n, v in available.items()
        },
        "running_package": {"name": running[0], "version": running[1]} if running else None,
        "space": space or {},
    }


PRE = ("linux-image-6.16.3+deb13-amd64", "6.16.3-1~bpo13+1")
F6 = facts(release="6.16.3+deb13-amd64", version="6.16.3", knows=False)
POLICY = {"max_probes": 3}


def names(choice):
    return [(c["package"], c["kind"]) for c in choice["candidates"]]


def test_meta_package_first_then_newest_versioned_never_older():
    inv = inventory(
        {
            "linux-image-amd64": "7.3.4-1~bpo13+1",
            "linux-image-7.3.4+deb13-amd64": "7.3.4-1~bpo13+1",
            "linux-image-6.17.8+deb13-amd64": "6.17.8-1~bpo13+1",
            "linux-image-6.12.57+deb13-amd64": "6.12.57-1",
            "linux-image-6.16.3+deb13-amd64": PRE[1],
            "linux-image-7.3.4+deb13-cloud-amd64": "7.3.4-1~bpo13+1",
            "linux-image-7.3.4+deb13-amd64-dbg": "7.3.4-1~bpo13+1",
        },
        installed=[PRE],
        running=PRE,
    )
    choice = up.choose(F6, inv, POLICY)
    assert choice["family"] == "debian" and choice["flavour"] == "amd64"
    assert names(choice) == [
        ("linux-image-amd64", "meta"),
        ("linux-image-7.3.4+deb13-amd64", "versioned"),
        ("linux-image-6.17.8+deb13-amd64", "versioned"),
    ]
    assert choice["newest"] == "linux-image-7.3.4+deb13-amd64 7.3.4-1~bpo13+1"


def test_max_probes_cuts_the_list_and_says_so():
    inv = inventory(
        {"linux-image-6.17.8+deb13-amd64": "6.17.8-1~bpo13+1", "linux-image-7.3.4+deb13-amd64": "7.3.4-1~bpo13+1"},
        installed=[PRE],
        running=PRE,
    )
    choice = up.choose(F6, inv, {"max_probes": 1})
    assert names(choice) == [("linux-image-7.3.4+deb13-amd64", "versioned")]
    assert "probing the first 1" in choice["reasons"][0]


def test_installed_meta_of_the_flavour_is_preferred_ubuntu_hwe():
    rel = "6.8.0-45-generic"
    f = facts(release=rel, version="6.8.0", knows=False)
    inv = inventory(
        {
            "linux-image-generic": "6.8.0-50.51",
            "linux-image-generic-hwe-22.04": "6.8.0-52.53~22.04.1",
        },
        installed=[
            ("linux-image-generic-hwe-22.04", "6.8.0-45.45~22.04.1"),
            (f"linux-image-{rel}", "6.8.0-45.45~22.04.1"),
        ],
        running=(f"linux-image-{rel}", "6.8.0-45.45~22.04.1"),
        os_id="ubuntu",
    )
    choice = up.choose(f, inv, POLICY)
    assert names(choice)[0] == ("linux-image-generic-hwe-22.04", "meta")
    assert choice["candidates"][0]["version"] == "6.8.0-52.53~22.04.1"


def test_meta_already_newest_is_skipped_and_installed_newer_kernel_is_probed_in_place():
    inv = inventory(
        {"linux-image-amd64": "7.3.4-1~bpo13+1", "linux-image-7.3.4+deb13-amd64": "7.3.4-1~bpo13+1"},
        installed=[PRE, ("linux-image-amd64", "7.3.4-1~bpo13+1"), ("linux-image-7.3.4+deb13-amd64", "7.3.4-1~bpo13+1")],
        running=PRE,
    )
    choice = up.choose(F6, inv, POLICY)
    assert names(choice) == [("linux-image-7.3.4+deb13-amd64", "installed")]
    assert choice["candidates"][0]["installed"] is True
    assert choice["candidates"][0]["release"] == "7.3.4+deb13-amd64"
    assert "is installed and the newest offered" in choice["reasons"][0]


def test_nothing_newer_no_candidates_but_newest_is_named():
    inv = inventory({PRE[0]: PRE[1]}, installed=[PRE], running=PRE)
    choice = up.choose(F6, inv, POLICY)
    assert choice["candidates"] == []
    assert choice["newest"] == "linux-image-6.16.3+deb13-amd64 6.16.3-1~bpo13+1"


def test_pinned_package_and_version():
    inv = inventory(
        {"linux-image-6.17.8+deb13-amd64": ["6.17.8-1~bpo13+1"], "linux-image-amd64": "7.3.4-1~bpo13+1"},
        installed=[PRE],
        running=PRE,
    )
    pol = {"package": "linux-image-6.17.8+deb13-amd64", "version": "6.17.8-1~bpo13+1", "max_probes": 3}
    choice = up.choose(F6, inv, pol)
    assert names(choice) == [("linux-image-6.17.8+deb13-amd64", "pinned")]
    assert choice["candidates"][0]["version"] == "6.17.8-1~bpo13+1"


def test_pinned_version_not_offered_is_reported():
    inv = inventory({"linux-image-amd64": "7.3.4-1~bpo13+1"}, installed=[PRE], running=PRE)
    choice = up.choose(F6, inv, {"package": "linux-image-amd64", "version": "7.9-1", "max_probes": 3})
    assert choice["candidates"] == []
    assert choice["reasons"] == [
        "pinned vmscape_upgrade_package linux-image-amd64 7.9-1 is not in the configured repositories "
        "(offered: 7.3.4-1~bpo13+1)"
    ]


def test_version_without_package_is_an_error():
    with pytest.raises(up.UpgradeError, match="vmscape_upgrade_version needs vmscape_upgrade_package"):
        up.choose(F6, inventory({}, installed=[PRE], running=PRE), {"version": "1", "max_probes": 3})


def test_unsupported_manager_and_unknown_flavour():
    none = up.choose(F6, inventory({}, manager=None), POLICY)
    assert none["unsupported"].startswith("no supported package manager found")
    custom = up.choose(facts(release="6.9.0-custom", knows=False), inventory({}), POLICY)
    assert "not a debian distribution kernel whose flavour is known" in custom["unsupported"]


def test_el_versions_newest_first_stop_at_running():
    rel = "5.14.0-427.13.1.el9_4.x86_64"
    f = facts(release=rel, version="5.14.0", knows=False)
    inv = inventory(
        {"kernel": ["5.14.0-570.12.1.el9_6", "5.14.0-503.11.1.el9_5", "5.14.0-427.13.1.el9_4", "5.14.0-362.8.1.el9_3"]},
        installed=[("kernel", "5.14.0-427.13.1.el9_4")],
        running=("kernel-core", "5.14.0-427.13.1.el9_4"),
        manager="dnf",
        os_id="rhel",
    )
    choice = up.choose(f, inv, POLICY)
    assert [(c["package"], c["version"]) for c in choice["candidates"]] == [
        ("kernel", "5.14.0-570.12.1.el9_6"),
        ("kernel", "5.14.0-503.11.1.el9_5"),
    ]


def probe(cand, knows, release="7.3.4+deb13-amd64", errors=()):
    return {"candidate": cand, "release": release, "knows_vmscape": knows, "evidence": ["x: y"], "errors": list(errors)}


def test_decide_takes_the_first_that_knows_never_an_unknown():
    a = {"package": "linux-image-amd64", "version": "7.3.4-1~bpo13+1"}
    b = {"package": "linux-image-6.17.8+deb13-amd64", "version": "6.17.8-1~bpo13+1"}
    got = up.decide(
        {"newest": "n"}, [probe(a, None, errors=["image: zstd compressed and no zstd program"]), probe(b, True)]
    )
    assert got["status"] == "fixed"
    assert got["candidate"]["package"] == b["package"]


def test_decide_no_fix_message():
    a = {"package": "linux-image-6.16.3+deb13-amd64", "version": "6.16.3-1~bpo13+2"}
    got = up.decide(
        {"newest": "linux-image-6.16.3+deb13-amd64 6.16.3-1~bpo13+2"}, [probe(a, False, "6.16.3+deb13-amd64")]
    )
    assert got["status"] == up.NO_FIX
    assert got["reason"] == (
        "no fixed kernel in the configured repositories (newest: linux-image-6.16.3+deb13-amd64 6.16.3-1~bpo13+2); "
        "probed linux-image-6.16.3+deb13-amd64 6.16.3-1~bpo13+2 (kernel 6.16.3+deb13-amd64: no VMSCAPE)"
    )


@pytest.mark.parametrize(
    ("space", "probe_", "problem"),
    [
        (
            {"boot_free_bytes": 40 << 20, "running_initrd_bytes": 30 << 20},
            {"image_bytes": 14 << 20},
            "/boot has 40 MiB free, the new kernel needs about 48 MiB",
        ),
        ({"boot_free_bytes": 50 << 20, "running_initrd_bytes": 30 << 20}, {"image_bytes": 14 << 20}, None),
        (
            {"boot_free_bytes": 30 << 20},
            {"image_bytes": 14 << 20},
            "/boot has 30 MiB free, the new kernel needs about 46 MiB",
        ),
        ({"boot_free_bytes": None}, {"image_bytes": 14 << 20}, None),
        (
            {"root_free_bytes": 100 << 20},
            {"installed_bytes": 500 << 20},
            "/ has 100 MiB free, the kernel packages need 500 MiB installed",
        ),
    ],
)
def test_boot_space(space, probe_, problem):
    got = up.boot_space_problem({"space": space}, probe_)
    if problem is None:
        assert got is None
    else:
        assert got.startswith(problem)


def test_microcode_would_help_only_when_ibpb_is_what_blocks():
    no_ibpb = facts(ibpb=False, sysfs={"vmscape": "Vulnerable"})
    assert up.microcode_would_help(no_ibpb, {"mode": "auto"}) is True
    assert up.microcode_would_help(facts(ibpb=True), {"mode": "auto"}) is False
    assert up.microcode_would_help(facts(ibpb=False, hypervisor=True), {"mode": "auto"}) is False
    assert up.microcode_would_help(facts(ibpb=False, model=106), {"mode": "auto"}) is False  # Ice Lake: not affected
    # mitigations=off on G1 blocks too, and IBPB would not change that
    off = facts(ibpb=False, cmdline="ro quiet mitigations=off")
    assert up.microcode_would_help(off, {"mode": "auto"}) is False


def test_microcode_choice():
    f = facts(ibpb=False)
    inv = inventory(
        {"intel-microcode": "3.20250812.1~deb12u1"}, installed=[("intel-microcode", "3.20240910.1~deb12u1")]
    )
    assert up.microcode_choice(f, inv) == {
        "package": "intel-microcode",
        "version": "3.20250812.1~deb12u1",
        "status": "install",
        "reason": "intel-microcode 3.20250812.1~deb12u1 provides IBPB",
    }
    current = inventory(
        {"intel-microcode": "3.20240910.1~deb12u1"}, installed=[("intel-microcode", "3.20240910.1~deb12u1")]
    )
    assert up.microcode_choice(f, current)["status"] == "current"
    assert "firmware (BIOS) update" in up.microcode_choice(f, current)["reason"]
    missing = up.microcode_choice(f, inventory({}))
    assert missing["status"] == "unavailable" and "non-free-firmware" in missing["reason"]
    amd = up.microcode_choice(
        facts(vendor="AuthenticAMD", family=25, model=1, ibpb=False), inventory({}, manager="dnf", os_id="rhel")
    )
    assert amd["package"] == "linux-firmware"


def test_query_spec_names_the_flavour_and_microcode():
    spec = up.query_spec("6.16.3+deb13-amd64", "GenuineIntel")
    assert spec["apt"]["names"] == ["linux-image-amd64", "intel-microcode"]
    assert "^linux-image-amd64$" in spec["apt"]["patterns"]
    assert spec["rpm"]["names"] == ["microcode_ctl"]
    assert spec["zypper"]["names"] == ["ucode-intel"]
    el = up.query_spec("5.14.0-427.13.1.el9_4.x86_64", "AuthenticAMD")
    assert el["rpm"]["names"] == ["kernel", "linux-firmware"]


# rpm's own test table (tests/rpmvercmp.at in rpm's sources), written out by hand.
RPMVERCMP = [
    ("1.0", "1.0", 0),
    ("1.0", "2.0", -1),
    ("2.0.1", "2.0", 1),
    ("2.0.1a", "2.0.1", 1),
    ("5.5p1", "5.5p10", -1),
    ("10xyz", "10.1xyz", -1),
    ("xyz.4", "8", -1),
    ("6.0.rc1", "6.0", 1),
    ("10b2", "10a1", 1),
    ("1.0aa", "1.0a", 1),
    ("10.0001", "10.1", 0),
    ("4.999.9", "5.0", -1),
    ("2_0", "2.0", 0),
    ("a+", "a_", 0),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc2", -1),
    ("1.0~rc1~git123", "1.0~rc1", -1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.01", -1),
    ("1.0^20160101", "1.0.1", -1),
    ("1.0~rc1^git1", "1.0~rc1", 1),
    ("1.0^git1~pre", "1.0^git1", -1),
]


@pytest.mark.parametrize(("a", "b", "want"), RPMVERCMP)
def test_rpmvercmp(a, b, want):
    assert up.rpmvercmp(a, b) == want
    assert up.rpmvercmp(b, a) == -want


def test_rpm_evr():
    assert up.rpm_compare("5.14.0-570.12.1.el9_6", "5.14.0-503.11.1.el9_5") == 1
    assert up.rpm_compare("1:1.0-1", "2.0-1") == 1
    assert up.rpm_compare("20240910-1.el9", "20250812-1.el9") == -1


# --------------------------------------------------------------------------- failure wording
def _action_why():
    from ansible_collections.fleetsec.vmscape.plugins.action.vmscape_upgrade import _why

    return _why


@pytest.mark.parametrize(
    "msg",
    [
        # ansible.builtin.apt's msg in the lab after DPkg::Lock::Timeout=120 ran out (another process
        # held /var/lib/dpkg/lock-frontend): apt's last line only
        '\'/usr/bin/apt-get -y -o "Dpkg::Options::=--force-confdef" -o "Dpkg::Options::=--force-confold" '
        "-o DPkg::Lock::Timeout=120       install 'linux-image-amd64=7.3.4-1~bpo13+1'' failed: E: Unable to "
        "acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?",
        "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 812 (python3)",
        "E: Unable to lock directory /var/lib/apt/lists/",
        "Failed to obtain the transaction lock (logged user: root, pid 4711)",
    ],
)
def test_a_held_package_lock_is_named(msg):
    why = _action_why()({"msg": msg})
    assert why.startswith("the package manager is locked by another process: "), why
    assert msg[:100] in why


def test_other_failures_keep_their_message():
    why = _action_why()
    assert why({"msg": "E: Failed to fetch file:/srv/x/Packages  File not found"}).startswith(
        "a repository is unreachable or broken"
    )
    assert why({"msg": "E: Version '9' for 'linux-image-amd64' was not found"}) == (
        "E: Version '9' for 'linux-image-amd64' was not found"
    )
