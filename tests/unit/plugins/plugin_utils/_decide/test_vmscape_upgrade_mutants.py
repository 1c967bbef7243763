"""The upgrade stage's decisions, every field and message written out by hand (found by
`make mutation` on plugins/plugin_utils/_decide/upgrade.py). Version orders are judged by rpm's own
test vectors (rpm_vectors); package names follow the distributions (Debian linux-image-<flavour>,
Ubuntu linux-image-<flavour>[-hwe-X.Y], Proxmox proxmox-default-kernel / proxmox-kernel-X.Y, EL
kernel[-uek|-rt|-debug], SUSE kernel-<flavour>, vendor microcode packages per family)."""

import pytest
from plan_helpers import facts
from rpm_vectors import RPM_VECTORS

from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import upgrade as up


# --------------------------------------------------------------------------- versions
@pytest.mark.parametrize(("a", "b", "want"), RPM_VECTORS)
def test_rpmvercmp_answers_like_rpm(a, b, want):
    assert up.rpmvercmp(a, b) == want


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("1.0-1", "1.0-1", 0),
        ("1.0-2", "1.0-10", -1),  # releases compare as versions
        ("1.1-1", "1.0-9", 1),  # the version decides before the release
        ("1:1.0-1", "2.0-1", 1),  # an epoch beats any version
        ("0:2.0-1", "2.0-1", 0),  # no epoch is epoch 0
        ("2:1.0", "10:0.1", -1),  # epochs compare as numbers
        ("1.0", "1.0-1", -1),  # no release sorts first
        ("5.14.0-570.12.1.el9_6", "5.14.0-570.el9", 1),
    ],
)
def test_rpm_compare_epoch_version_release(a, b, want):
    assert up.rpm_compare(a, b) == want


def test_compare_uses_dpkg_order_for_apt_and_rpm_order_otherwise():
    # dpkg: "~" sorts before the end ("1.0~rc1" < "1.0"); letters sort before non-letters
    assert up.compare("apt", "1.0~rc1", "1.0") < 0
    assert up.compare("apt", "1.0a", "1.0+") < 0
    # rpm ignores "+" as a separator: 1.0a has one more segment than 1.0+
    assert up.compare("dnf", "1.0a", "1.0+") == 1
    assert up.compare(None, "2", "10") == -1


# --------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("family", "flavour", "release", "want"),
    [
        (None, None, None, []),
        (
            "debian",
            "amd64",
            "6.1.0-28-amd64",
            [r"^linux-image-(?!.*-(?:dbg|unsigned)$)(?P<rel>\d.+)$", r"^linux-binary-(?P<rel>\d.+)$",
             r"^linux-base-(?P<rel>\d.+)$"],
        ),
        ("ubuntu", "generic", "6.8.0-45-generic", [r"^linux-image-(?:unsigned-)?(?P<rel>\d.+)$"]),
        ("proxmox", "pve", "6.8.12-4-pve", [r"^(?:proxmox|pve)-kernel-(?P<rel>\d+\.\d+\.\d+-\d+-pve)(?:-signed)?$"]),
        ("el", "", "5.14.0-427.13.1.el9_4.x86_64", ["^kernel(?:-core)?$"]),
        ("el", "uek", "5.15.0-300.163.18.el9uek.x86_64", ["^kernel\\-uek(?:-core)?$"]),
        ("suse", "default", "6.4.0-150600.23.25-default", ["^kernel\\-default$"]),
    ],
)  # fmt: skip
def test_packages_that_carry_the_image(family, flavour, release, want):
    assert up.carriers(family, flavour, release) == want


@pytest.mark.parametrize(
    ("release", "vendor", "want"),
    [
        (
            "6.1.0-28-amd64",
            "GenuineIntel",
            {
                # the release also parses as an Ubuntu and a SUSE one: those names are asked too (the
                # module learns the family on the host; one round trip)
                "apt": {
                    "names": ["linux-image-amd64", "intel-microcode"],
                    "patterns": [
                        "^linux-image-amd64$",
                        r"^linux-image-(?P<rel>\d+\.\d+(?:\.\d+)?(?:\+[a-z0-9.]+)?(?:-\d+)?-amd64)$",
                        r"^linux-image-amd64(?:-hwe-\d+\.\d+(?:-edge)?)?$",
                        r"^linux-image-(?P<rel>\d+\.\d+\.\d+-\d+-amd64)$",
                    ],
                },
                "rpm": {"names": ["microcode_ctl"], "patterns": []},
                "zypper": {"names": ["kernel-amd64", "ucode-intel"], "patterns": []},
            },
        ),
        (
            "6.8.0-45-generic",
            "AuthenticAMD",
            {
                "apt": {
                    "names": ["linux-image-generic", "amd64-microcode"],
                    "patterns": [
                        r"^linux-image-generic(?:-hwe-\d+\.\d+(?:-edge)?)?$",
                        r"^linux-image-(?P<rel>\d+\.\d+\.\d+-\d+-generic)$",
                    ],
                },
                "rpm": {"names": ["linux-firmware"], "patterns": []},
                "zypper": {"names": ["kernel-generic", "ucode-amd"], "patterns": []},
            },
        ),
        (
            "6.8.12-4-pve",
            None,
            {
                "apt": {
                    "names": ["linux-image-pve", "proxmox-default-kernel", "proxmox-kernel-6.8"],
                    "patterns": [
                        r"^linux-image-pve(?:-hwe-\d+\.\d+(?:-edge)?)?$",
                        r"^linux-image-(?P<rel>\d+\.\d+\.\d+-\d+-pve)$",
                        r"^(?:proxmox-default-kernel|proxmox-kernel-\d+\.\d+)$",
                        r"^(?:proxmox|pve)-kernel-(?P<rel>\d+\.\d+\.\d+-\d+-pve)(?:-signed)?$",
                    ],
                },
                "rpm": {"names": [], "patterns": []},
                "zypper": {"names": ["kernel-pve"], "patterns": []},  # no vendor: no microcode
            },
        ),
        (
            "5.14.0-427.13.1.el9_4.x86_64+rt",
            "GenuineIntel",
            {
                "apt": {"names": ["intel-microcode"], "patterns": []},
                "rpm": {"names": ["kernel-rt", "microcode_ctl"], "patterns": []},
                "zypper": {"names": ["ucode-intel"], "patterns": []},
            },
        ),
        (
            "6.4.0-150600.23.25-default",
            "GenuineIntel",
            {
                "apt": {"names": ["intel-microcode"], "patterns": []},
                "rpm": {"names": ["microcode_ctl"], "patterns": []},
                "zypper": {"names": ["kernel-default", "ucode-intel"], "patterns": []},
            },
        ),
    ],
    ids=["debian", "ubuntu", "proxmox", "el-rt", "suse"],
)
def test_what_each_package_manager_is_asked(release, vendor, want):
    assert up.query_spec(release, vendor) == want


# --------------------------------------------------------------------------- after probing
def probe(cand, knows, release="7.3.4+deb13-amd64", errors=(), evidence=("a: 1", "b: 2", "c: 3")):
    return {"candidate": cand, "release": release, "knows_vmscape": knows, "evidence": list(evidence),
            "errors": list(errors)}  # fmt: skip


A = {"package": "linux-image-amd64", "version": "7.3.4-1~bpo13+1", "release": None}
B = {"package": "linux-image-6.17.8+deb13-amd64", "version": "6.17.8-1~bpo13+1", "release": "6.17.8+deb13-amd64"}


def test_the_first_candidate_that_knows_vmscape_is_chosen_with_its_evidence():
    p = probe(A, True)
    assert up.decide({"newest": "n"}, [probe(B, False, "6.17.8+deb13-amd64"), p]) == {
        "status": "fixed",
        "candidate": dict(A, release="7.3.4+deb13-amd64"),  # the probed kernel names the release
        "probe": p,
        "reason": "linux-image-amd64 7.3.4-1~bpo13+1: kernel 7.3.4+deb13-amd64 knows VMSCAPE (b: 2; c: 3)",
    }
    named = up.decide({}, [probe(B, True, release=None)])
    assert named["candidate"]["release"] == "6.17.8+deb13-amd64"  # kept when the probe has none


def test_no_fixed_kernel_names_what_was_probed_and_why_not():
    got = up.decide(
        {},
        [probe(B, False, "6.17.8+deb13-amd64"), probe(A, None, errors=["image: truncated", "config: absent"]),
         probe(A, None)],
    )  # fmt: skip
    assert got == {
        "status": up.NO_FIX,
        "candidate": None,
        "probe": None,
        "reason": "no fixed kernel in the configured repositories (newest: nothing of this flavour); probed "
        "linux-image-6.17.8+deb13-amd64 6.17.8-1~bpo13+1 (kernel 6.17.8+deb13-amd64: no VMSCAPE), "
        "linux-image-amd64 7.3.4-1~bpo13+1 (could not probe: image: truncated; config: absent), "
        "linux-image-amd64 7.3.4-1~bpo13+1 (could not probe: probe gave no answer)",
    }
    assert up.decide({"newest": "linux-image-amd64 6.1.158-1"}, [])["reason"] == (
        "no fixed kernel in the configured repositories (newest: linux-image-amd64 6.1.158-1)"
    )


def test_describe_names_the_kernel_when_the_package_does_not():
    assert up.describe({"package": "linux-image-amd64", "version": "7.3.4-1", "release": "7.3.4+deb13-amd64"}) == (
        "linux-image-amd64 7.3.4-1 (kernel 7.3.4+deb13-amd64)"
    )
    assert up.describe(B) == "linux-image-6.17.8+deb13-amd64 6.17.8-1~bpo13+1"
    assert up.describe(A) == "linux-image-amd64 7.3.4-1~bpo13+1"


def test_boot_space_messages_in_full():
    mib = 1 << 20
    got = up.boot_space_problem(
        {"space": {"boot_free_bytes": 40 * mib, "running_initrd_bytes": 30 * mib}}, {"image_bytes": 14 * mib}
    )
    assert got == (
        "/boot has 40 MiB free, the new kernel needs about 48 MiB (image 14 MiB + initramfs ~30 MiB, +10%): "
        "remove old kernels first"
    )
    exact = int((14 + 30) * mib * 1.1)
    assert up.boot_space_problem(
        {"space": {"boot_free_bytes": exact, "running_initrd_bytes": 30 * mib}}, {"image_bytes": 14 * mib}
    ) is None  # fmt: skip
    assert up.boot_space_problem({"space": {"boot_free_bytes": 0}}, {}) is None  # nothing known to need
    assert up.boot_space_problem({"space": {"root_free_bytes": 500 * mib}}, {"installed_bytes": 500 * mib}) is None
    assert up.boot_space_problem({}, {"image_bytes": 14 * mib, "installed_bytes": 500 * mib}) is None


# --------------------------------------------------------------------------- microcode
def inventory(available=None, installed=(), manager="apt", os_id="debian"):
    return {
        "manager": manager,
        "os": {"id": os_id, "id_like": []},
        "installed": [{"name": n, "version": v} for n, v in installed],
        "available": {n: {"candidate": v if manager == "apt" else None, "versions": [v]} for n, v in
                      (available or {}).items()},
    }  # fmt: skip


NO_IBPB = facts(ibpb=False)


def test_microcode_for_each_outcome():
    assert up.microcode_choice(NO_IBPB, inventory({"intel-microcode": "3.20250812.1~deb12u1"})) == {
        "package": "intel-microcode",
        "version": "3.20250812.1~deb12u1",
        "status": "install",
        "reason": "intel-microcode 3.20250812.1~deb12u1 provides IBPB",
    }
    current = inventory({"intel-microcode": "3.20240910.1"}, installed=[("intel-microcode", "3.20240910.1")])
    assert up.microcode_choice(NO_IBPB, current) == {
        "package": "intel-microcode",
        "version": "3.20240910.1",
        "status": "current",
        "reason": "the CPU lacks IBPB although intel-microcode 3.20240910.1 (the newest offered) is installed: a "
        "firmware (BIOS) update from the vendor is needed",
    }
    older_installed = inventory({"intel-microcode": "3.20250812.1"}, installed=[("intel-microcode", "3.20240910.1")])
    assert up.microcode_choice(NO_IBPB, older_installed)["status"] == "install"
    assert up.microcode_choice(NO_IBPB, inventory()) == {
        "package": "intel-microcode",
        "version": None,
        "status": "unavailable",
        "reason": "the CPU lacks IBPB and intel-microcode is not in the configured repositories (Debian: the "
        "non-free-firmware component)",
    }
    el = up.microcode_choice(NO_IBPB, inventory(manager="dnf", os_id="rhel"))
    assert el["reason"] == "the CPU lacks IBPB and microcode_ctl is not in the configured repositories"
    # rpm repositories list versions: the newest is offered
    rpm = inventory({"microcode_ctl": "4:20250812-1.el9"}, manager="dnf", os_id="rhel")
    rpm["available"]["microcode_ctl"]["versions"] = ["4:20240910-1.el9", "4:20250812-1.el9", "4:20230808-2.el9"]
    assert up.microcode_choice(NO_IBPB, rpm)["version"] == "4:20250812-1.el9"


def test_microcode_for_an_unknown_vendor_or_system():
    hygon = facts(vendor="HygonGenuine", family=0x18, model=0, ibpb=False)
    assert up.microcode_choice(hygon, inventory()) == {
        "package": None,
        "version": None,
        "status": "unsupported",
        "reason": "no vendor microcode package known for HygonGenuine on debian",
    }
    nobody = facts(ibpb=False)
    nobody["cpu"]["vendor"] = None
    assert up.microcode_choice(nobody, {"manager": None})["reason"] == (
        "no vendor microcode package known for this CPU on this system"
    )


def test_an_affected_cpu_without_ibpb():
    assert up.microcode_affected_without_ibpb(NO_IBPB) is True  # Skylake-SP: BTB variant
    assert up.microcode_affected_without_ibpb(facts(ibpb=True)) is False
    assert up.microcode_affected_without_ibpb(facts(ibpb=None)) is False  # unknown is not "lacks"
    assert up.microcode_affected_without_ibpb(facts(ibpb=False, hypervisor=True)) is False
    assert up.microcode_affected_without_ibpb(facts(ibpb=False, model=106)) is False  # Ice Lake: unaffected
    assert up.microcode_affected_without_ibpb(facts(vendor="VIA", family=6, model=15, ibpb=False)) is False
    assert up.microcode_affected_without_ibpb({}) is False


def test_microcode_helps_only_what_ibpb_unblocks():
    assert up.microcode_would_help(facts(ibpb=None), {"mode": "auto"}) is False
    assert up.microcode_would_help(facts(vendor="VIA", family=6, model=15, ibpb=False), {"mode": "auto"}) is False


def test_with_ibpb_adds_the_flag_once_and_leaves_the_facts_alone():
    f = facts(ibpb=False)
    flags = list(f["cpu"]["flags"])
    out = up.with_ibpb(f)
    assert out["cpu"]["ibpb"] is True and out["cpu"]["flags"] == [*flags, "ibpb"]
    assert f["cpu"]["ibpb"] is False and f["cpu"]["flags"] == flags  # a copy
    assert up.with_ibpb(out)["cpu"]["flags"] == [*flags, "ibpb"]
    no_flags = facts(ibpb=False)
    no_flags["cpu"]["flags"] = None
    assert up.with_ibpb(no_flags)["cpu"]["flags"] is None and up.with_ibpb({})["cpu"] == {"ibpb": True}


def test_add_reason_returns_a_new_plan():
    plan = {"action": "kernel_upgrade", "reasons": ["a"]}
    assert up.add_reason(plan, "b") == {"action": "kernel_upgrade", "reasons": ["a", "b"]}
    assert plan["reasons"] == ["a"]
    assert up.add_reason({}, "x") == {"reasons": ["x"]}


# --------------------------------------------------------------------------- choosing candidates
def repo(manager, os_id, available, installed=(), running=None):
    return {
        "manager": manager,
        "os": {"id": os_id, "id_like": []},
        "installed": [{"name": n, "version": v} for n, v in installed],
        "available": available,
        "running_package": {"name": running[0], "version": running[1]} if running else None,
    }


def offer(*versions, candidate=True):
    return {"candidate": versions[0] if candidate else None, "versions": list(versions)}


DEB12 = facts(release="6.1.0-28-amd64", version="6.1.119")
DEB_REPO = repo(
    "apt",
    "debian",
    {
        "linux-image-amd64": offer("6.1.158-1", "6.1.119-1"),
        "linux-image-6.1.0-40-amd64": offer("6.1.158-1"),
        "linux-image-6.1.0-35-amd64": offer("6.1.137-1"),
        "linux-image-6.1.0-20-amd64": offer("6.1.85-1"),  # older than the running kernel: never
        "linux-image-6.1.0-38-amd64": offer("6.1.147-1"),  # installed: listed as installed
        "linux-image-cloud-amd64": offer("6.1.158-1"),  # another flavour
    },
    installed=[("linux-image-amd64", "6.1.119-1"), ("linux-image-6.1.0-28-amd64", "6.1.119-1"),
               ("linux-image-6.1.0-38-amd64", "6.1.147-1")],
    running=("linux-image-6.1.0-28-amd64", "6.1.119-1"),
)  # fmt: skip


def cand(package, version, kind, why, release=None, installed=False):
    return {"package": package, "version": version, "kind": kind, "release": release, "installed": installed,
            "why": why}  # fmt: skip


def test_debian_candidates_meta_then_installed_then_versioned_newest_first():
    assert up.choose(DEB12, DEB_REPO, {"max_probes": 3}) == {
        "family": "debian",
        "flavour": "amd64",
        "manager": "apt",
        "candidates": [
            cand("linux-image-amd64", "6.1.158-1", "meta",
                 "meta-package of the running flavour (installed): linux-image-amd64 6.1.158-1"),
            cand("linux-image-6.1.0-38-amd64", "6.1.147-1", "installed",
                 "installed but not running: linux-image-6.1.0-38-amd64 6.1.147-1", "6.1.0-38-amd64", True),
            cand("linux-image-6.1.0-40-amd64", "6.1.158-1", "versioned",
                 "newest versioned package: linux-image-6.1.0-40-amd64 6.1.158-1", "6.1.0-40-amd64"),
        ],
        "newest": "linux-image-6.1.0-40-amd64 6.1.158-1",
        "reasons": ["4 candidates; probing the first 3 (vmscape_upgrade_max_probes)"],
        "unsupported": None,
    }  # fmt: skip
    default = up.choose(DEB12, DEB_REPO, {})  # three probes unless told
    assert len(default["candidates"]) == 3 and default["reasons"] == [
        "4 candidates; probing the first 3 (vmscape_upgrade_max_probes)"
    ]
    everything = up.choose(DEB12, DEB_REPO, {"max_probes": 9})
    assert [c["package"] for c in everything["candidates"]][-1] == "linux-image-6.1.0-35-amd64"
    assert everything["reasons"] == []


def test_a_meta_package_already_newest_is_said_and_skipped():
    inv = repo(
        "apt",
        "debian",
        {"linux-image-amd64": offer("6.1.119-1")},
        installed=[("linux-image-amd64", "6.1.119-1")],
        running=("linux-image-6.1.0-28-amd64", "6.1.119-1"),
    )
    got = up.choose(DEB12, inv, {})
    assert got["candidates"] == [] and got["newest"] is None
    assert got["reasons"] == ["meta-package linux-image-amd64 6.1.119-1 is installed and the newest offered"]
    fresh = repo("apt", "debian", {"linux-image-amd64": offer("6.1.158-1")})
    assert up.choose(DEB12, fresh, {})["candidates"] == [
        cand(
            "linux-image-amd64", "6.1.158-1", "meta", "meta-package of the running flavour: linux-image-amd64 6.1.158-1"
        )
    ]


def test_el_candidates_are_versions_of_one_package_newer_than_the_running_one():
    el9 = facts(release="5.14.0-427.13.1.el9_4.x86_64", version="5.14.0")
    versions = ["5.14.0-503.11.1.el9_5", "5.14.0-427.13.1.el9_4", "5.14.0-570.12.1.el9_6", "5.14.0-362.8.1.el9_3"]
    inv = repo("dnf", "rhel", {"kernel": offer(*versions, candidate=False)},
               running=("kernel", "5.14.0-427.13.1.el9_4"))  # fmt: skip
    got = up.choose(el9, inv, {"max_probes": 5})
    assert got["candidates"] == [
        cand(
            "kernel",
            "5.14.0-570.12.1.el9_6",
            "meta",
            "meta-package of the running flavour: kernel 5.14.0-570.12.1.el9_6",
        ),
        cand("kernel", "5.14.0-503.11.1.el9_5", "versioned", "kernel 5.14.0-503.11.1.el9_5"),
    ]
    assert (got["family"], got["flavour"], got["newest"]) == ("el", "", "kernel 5.14.0-570.12.1.el9_6")


def test_a_pinned_package():
    got = up.choose(DEB12, DEB_REPO, {"package": "linux-image-6.1.0-38-amd64"})
    assert got["candidates"] == [
        cand(
            "linux-image-6.1.0-38-amd64",
            "6.1.147-1",
            "pinned",
            "vmscape_upgrade_package pins linux-image-6.1.0-38-amd64",
            installed=True,
        )
    ]
    assert got["newest"] == "linux-image-6.1.0-40-amd64 6.1.158-1" and got["reasons"] == []
    pinned = up.choose(DEB12, DEB_REPO, {"package": "linux-image-amd64", "version": "6.1.119-1"})
    assert pinned["candidates"] == [
        cand("linux-image-amd64", "6.1.119-1", "pinned", "vmscape_upgrade_package pins linux-image-amd64 6.1.119-1",
             installed=True)
    ]  # fmt: skip
    missing = up.choose(DEB12, DEB_REPO, {"package": "linux-image-amd64", "version": "6.1.99-1"})
    assert missing["candidates"] == [] and missing["reasons"] == [
        "pinned vmscape_upgrade_package linux-image-amd64 6.1.99-1 is not in the configured repositories "
        "(offered: 6.1.158-1, 6.1.119-1)"
    ]
    assert missing["newest"] == "linux-image-6.1.0-40-amd64 6.1.158-1"
    assert up.choose(DEB12, DEB_REPO, {"package": "linux-image-nope"})["reasons"] == [
        "pinned vmscape_upgrade_package linux-image-nope is not in the configured repositories (offered: none)"
    ]


def test_what_cannot_be_chosen_from():
    assert up.choose(DEB12, {"manager": "pacman"}, {}) == {
        "family": None,
        "flavour": None,
        "manager": "pacman",
        "candidates": [],
        "newest": None,
        "reasons": [],
        "unsupported": "no supported package manager found (looked for apt, dnf, dnf5, yum, zypper)",
    }
    custom = up.choose(facts(release="6.1.0-custom"), DEB_REPO, {})
    assert (custom["family"], custom["flavour"], custom["candidates"], custom["newest"]) == ("debian", None, [], None)
    assert custom["unsupported"] == (
        "the running kernel '6.1.0-custom' is not a debian distribution kernel whose flavour is known; set "
        "vmscape_upgrade_package to name the kernel package"
    )
    # with a pin, an unknown flavour is no obstacle
    assert (
        up.choose(facts(release="6.1.0-custom"), DEB_REPO, {"package": "linux-image-amd64"})["candidates"][0]["package"]
        == "linux-image-amd64"
    )
    with pytest.raises(up.UpgradeError) as err:
        up.choose(DEB12, DEB_REPO, {"version": "6.1.158-1"})
    assert str(err.value) == "vmscape_upgrade_version needs vmscape_upgrade_package (the package it is a version of)"


# ------------------------------------------------------------------ microcode per distribution (third round)
UNAVAILABLE = "the CPU lacks IBPB and intel-microcode is not in the configured repositories"


def test_only_debian_and_proxmox_are_told_about_non_free_firmware():
    ubuntu = inventory({}, os_id="ubuntu")
    assert up.microcode_choice(NO_IBPB, ubuntu)["reason"] == UNAVAILABLE
    mint = dict(inventory({}, os_id="linuxmint"), os={"id": "linuxmint", "id_like": ["ubuntu"]})
    assert up.microcode_choice(NO_IBPB, mint)["reason"] == UNAVAILABLE
    pve = facts(ibpb=False, release="6.8.12-4-pve")
    assert (
        up.microcode_choice(pve, inventory({}))["reason"] == UNAVAILABLE + " (Debian: the non-free-firmware component)"
    )


def test_microcode_versions_are_ordered_by_the_hosts_package_manager():
    # dpkg puts a letter before other characters ("1.0a" < "1.0+", as dpkg --compare-versions says);
    # rpm ignores the "+" and finds "1.0a" the longer, newer version
    apt = inventory({"intel-microcode": "1.0a"}, installed=[("intel-microcode", "1.0+")])
    assert up.microcode_choice(NO_IBPB, apt)["status"] == "current"
    assert up.microcode_choice(NO_IBPB, apt)["version"] == "1.0+"


def test_microcode_would_help_asks_the_planner_with_the_hosts_policy():
    vulnerable = facts(ibpb=False, sysfs={"vmscape": "Vulnerable"})
    assert up.microcode_would_help(vulnerable, {"mode": "auto"}) is True
    assert up.microcode_would_help(vulnerable, {"mode": "none"}) is False  # nothing is set either way


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("1.0-10", "1.0.1-1", -1),  # the version decides before the release, whatever the release
        ("1.0~~", "1.0~", -1),  # each ~ sorts before the end
        ("1.0^", "1.0A", -1),  # ^ sorts after the end but before anything else, capitals too
        ("1.0A", "1.0^", 1),
        ("1.0A", "1.0", 1),  # capital letters are a segment
    ],
)
def test_rpm_order_by_hand(a, b, want):
    assert up.rpm_compare(a, b) == want


def test_newer_takes_the_managers_order_and_missing_versions():
    assert up._newer("apt", "1.0a", "1.0+") is False  # dpkg: a letter sorts first
    assert up._newer("dnf", "1.0a", "1.0+") is True  # rpm: one more segment
    assert up._newer("apt", None, "1.0") is False
    assert up._newer("apt", "1.0", None) is True


def test_sizes_are_rounded_mib():
    assert up._mib(3 << 20) == "3 MiB"
    assert up._mib(1572864) == "2 MiB"  # 1.5 MiB rounds to even
    assert up._mib(1572863) == "1 MiB"


def test_the_newest_offer_of_one_el_package_name_by_rpm_order():
    el9 = facts(release="5.14.0-503.el9.x86_64", version="5.14.0")
    inv = repo(
        "dnf",
        "rocky",
        {
            "kernel-uek": offer("5.15.0-300.163.18.el9uek"),  # another name first: the scan goes on
            "kernel": offer("5.14.0-503.40.1.el9_5", "5.14.0-570.12.1.el9_6", "5.14.0-570.el9", candidate=False),
        },
    )
    assert up.choose(el9, inv, {})["newest"] == "kernel 5.14.0-570.12.1.el9_6"


def test_the_newest_debian_offer_takes_the_candidate_and_skips_what_has_no_version():
    inv = repo(
        "apt",
        "debian",
        {
            "linux-image-6.1.0-41-amd64": {"candidate": None, "versions": []},  # nothing to install: skipped
            "linux-image-6.1.0-40-amd64": {"candidate": "6.1.158-1", "versions": ["6.1.153-1", "6.1.158-1"]},
            "linux-image-6.1.0-35-amd64": offer("6.1.137-1"),
        },
    )
    assert up.choose(DEB12, inv, {})["newest"] == "linux-image-6.1.0-40-amd64 6.1.158-1"


def test_the_family_comes_from_id_like_and_from_a_proxmox_kernel():
    mint = dict(
        repo("apt", "linuxmint", {"linux-image-generic": offer("6.8.0-49.49")}),
        os={"id": "linuxmint", "id_like": ["ubuntu"]},
    )
    got = up.choose(facts(release="6.8.0-45-generic", version="6.8.0"), mint, {})
    assert (got["family"], got["flavour"], [c["package"] for c in got["candidates"]]) == (
        "ubuntu",
        "generic",
        ["linux-image-generic"],
    )
    pve = repo(
        "apt",
        "debian",
        {
            "proxmox-default-kernel": offer("1.1.0"),
            "proxmox-kernel-6.8": offer("6.8.12-9"),
            "proxmox-kernel-6.8.12-9-pve-signed": offer("6.8.12-9"),
        },
    )
    got = up.choose(facts(release="6.8.12-4-pve", version="6.8.12"), pve, {})
    assert (got["family"], got["flavour"], got["newest"]) == (
        "proxmox",
        "pve",
        "proxmox-kernel-6.8.12-9-pve-signed 6.8.12-9",
    )
    assert [(c["package"], c["kind"], c["release"]) for c in got["candidates"]] == [
        ("proxmox-default-kernel", "meta", None),
        ("proxmox-kernel-6.8.12-9-pve-signed", "versioned", "6.8.12-9-pve"),
    ]


def test_what_the_package_manager_would_install():
    # apt installs its candidate only (it honours pinning): versions without one are not offered
    apt = inventory()
    apt["available"] = {"intel-microcode": {"candidate": None, "versions": ["3.20250812.1~deb12u1"]}}
    assert up.microcode_choice(NO_IBPB, apt)["status"] == "unavailable"
    # dnf installs the newest version listed, by rpm order (release 10 after release 2)
    dnf = inventory(manager="dnf", os_id="rocky")
    dnf["available"] = {"microcode_ctl": {"candidate": None, "versions": ["4:20250812-2.el9", "4:20250812-10.el9"]}}
    assert up.microcode_choice(NO_IBPB, dnf)["version"] == "4:20250812-10.el9"


@pytest.mark.parametrize(
    ("manager", "os_id", "like", "family"),
    [
        ("yum", "centos", [], "el"),
        ("dnf5", "fedora", [], "el"),
        ("zypper", "sles", [], "suse"),
        ("apt", None, [], "debian"),
    ],
)
def test_family_of_each_package_manager(manager, os_id, like, family):
    assert up.family_of(manager, os_id, like, None) == family
