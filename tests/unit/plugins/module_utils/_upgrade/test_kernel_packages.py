"""kernel_packages' observation code against the real package tools of this machine.

Packages are built here with ``dpkg-deb --build`` (kernel images are the synthetic bzImages of
facts_fixtures, with or without the VMSCAPE strings), served by a flat repository
(``dpkg-scanpackages``) to a scratch root whose lists the real ``apt-get update`` fetches
(``-o Dir=<root>``). Queries, simulations, downloads, unpacking and probing are the real tools;
only the packages are small stand-ins for Debian's kernels (tests/integration uses the real ones).
"""

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from facts_fixtures import G1_STRINGS, OLD_STRINGS, compress, make_bzimage, make_elf

from ansible_collections.fleetsec.vmscape.plugins.module_utils._upgrade import kernel_packages as kp
from ansible_collections.fleetsec.vmscape.plugins.module_utils._upgrade import pkg_archive as pa
from ansible_collections.fleetsec.vmscape.plugins.plugin_utils._decide import upgrade as up

TOOLS = ("dpkg-deb", "dpkg-scanpackages", "apt-get", "apt-cache", "dpkg-query")
pytestmark = pytest.mark.skipif(
    os.environ.get("CI") != "true" and not all(shutil.which(t) for t in TOOLS), reason="Debian package tools missing"
)
RUNNING = "8.0.0-1-amd64"
FIXED = "9.1.0-1-amd64"
OLD = "9.0.0-1-amd64"


def image(knows: bool) -> bytes:
    return make_bzimage(
        compress("gzip", make_elf(G1_STRINGS if knows else OLD_STRINGS)), "9.x test (x@y) #1 SMP Debian 9.x"
    )


def build_deb(out: Path, name: str, version: str, files: dict, depends: str = "", conflicts: str = "") -> Path:
    tree = out / f"{name}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    fields = [f"Package: {name}", f"Version: {version}", "Architecture: amd64", "Maintainer: t <t@t>"]
    if depends:
        fields.append(f"Depends: {depends}")
    if conflicts:
        fields.append(f"Conflicts: {conflicts}")
    fields.append("Description: test package")
    (tree / "DEBIAN" / "control").write_text("\n".join(fields) + "\n")
    for path, data in files.items():
        dest = tree / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data if isinstance(data, bytes) else data.encode())
    deb = out / f"{name}_{version}_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)], check=True, capture_output=True
    )
    shutil.rmtree(tree)
    return deb


def kernel_deb(out, rel, version, knows, extra=None):
    files = {
        f"/boot/vmlinuz-{rel}": image(knows),
        f"/boot/config-{rel}": "CONFIG_X86=y\n" + ("CONFIG_MITIGATION_VMSCAPE=y\n" if knows else ""),
        f"/boot/System.map-{rel}": "ffffffff81000000 T _stext\n",
        f"/usr/lib/modules/{rel}/modules.dep": "",
        f"/usr/share/doc/linux-image-{rel}/copyright": "GPL-2\n",
    }
    files.update(extra or {})
    return build_deb(out, f"linux-image-{rel}", version, files)


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """The repository: the meta-package linux-image-amd64 (-> 9.1, which knows VMSCAPE),
    linux-image-9.0 (which does not) and a 9.2 that conflicts with the running kernel."""
    repo = tmp_path_factory.mktemp("repo")
    kernel_deb(repo, FIXED, "9.1.0-1", True)
    kernel_deb(repo, OLD, "9.0.0-1", False)
    build_deb(repo, "linux-image-amd64", "9.1.0-1", {}, depends=f"linux-image-{FIXED} (= 9.1.0-1)")
    build_deb(repo, "linux-image-9.2.0-1-amd64", "9.2.0-1", {}, conflicts=f"linux-image-{RUNNING}")
    scan = subprocess.run(["dpkg-scanpackages", "-m", "."], cwd=repo, capture_output=True, text=True, check=True)
    (repo / "Packages").write_text(scan.stdout)
    return repo


@pytest.fixture
def host(tmp_path, packages):
    """A scratch root running linux-image-8.0.0-1-amd64, its sources naming a copy of the repository."""
    repo = tmp_path / "repo"
    shutil.copytree(packages, repo)
    root = tmp_path / "root"
    for d in (
        "etc/apt/sources.list.d",
        "etc/apt/preferences.d",
        "var/lib/dpkg",
        "var/lib/apt/lists/partial",
        "usr/bin",
        "boot",
    ):
        (root / d).mkdir(parents=True)
    (root / "etc/apt/sources.list").write_text(f"deb [trusted=yes] file:{repo} ./\n")
    (root / "etc/os-release").write_text("ID=debian\nVERSION_ID=13\n")
    for tool in ("usr/bin/apt-get", "usr/bin/dpkg"):
        (root / tool).write_text("")
    (root / "var/lib/dpkg/status").write_text(
        textwrap.dedent(
            f"""\
            Package: linux-image-{RUNNING}
            Status: install ok installed
            Version: 8.0.0-1
            Architecture: amd64
            Maintainer: t <t@t>
            Description: the running kernel

            Package: intel-microcode
            Status: install ok installed
            Version: 3.1
            Architecture: amd64
            Maintainer: t <t@t>
            Description: microcode
            """
        )
    )
    (root / "boot" / f"vmlinuz-{RUNNING}").write_bytes(image(False))
    (root / "boot" / f"initrd.img-{RUNNING}").write_bytes(b"\0" * 3000)
    subprocess.run(
        ["apt-get", *kp.Apt(str(root), kp.Runner()).options(), "-q", "update"], check=True, capture_output=True
    )
    return root, repo


SPEC = up.query_spec(RUNNING, "GenuineIntel")
CARRIERS = up.carriers("debian", "amd64", RUNNING)


def test_query_reads_the_snapshot_package_state(host):
    root, _repo = host
    inv = kp.query(str(root), SPEC, RUNNING, kp.Runner())
    assert inv["manager"] == "apt"
    assert inv["os"]["id"] == "debian"
    assert inv["installed"] == [
        {"name": "intel-microcode", "version": "3.1"},
        {"name": f"linux-image-{RUNNING}", "version": "8.0.0-1"},
    ]
    assert inv["available"]["linux-image-amd64"] == {"installed": None, "candidate": "9.1.0-1", "versions": ["9.1.0-1"]}
    assert inv["available"][f"linux-image-{OLD}"]["candidate"] == "9.0.0-1"
    # installed, not offered by any repository: not an offer
    assert inv["available"][f"linux-image-{RUNNING}"] == {
        "installed": "8.0.0-1",
        "candidate": "8.0.0-1",
        "versions": [],
    }
    assert inv["space"]["running_initrd_bytes"] == 3000
    assert inv["space"]["boot_free_bytes"] > 0


def candidates(root):
    inv = kp.query(str(root), SPEC, RUNNING, kp.Runner())
    f = {"kernel": {"release": RUNNING}, "cpu": {"vendor": "GenuineIntel"}}
    return up.choose(f, inv, {"max_probes": 5})["candidates"]


def test_choice_order_on_real_apt_answers(host):
    root, _repo = host
    assert [(c["package"], c["kind"]) for c in candidates(root)] == [
        ("linux-image-amd64", "meta"),
        ("linux-image-9.2.0-1-amd64", "versioned"),
        (f"linux-image-{FIXED}", "versioned"),
        (f"linux-image-{OLD}", "versioned"),
    ]


def test_simulation_only_names_what_would_be_installed(host, tmp_path):
    root, _repo = host
    meta = candidates(root)[0]
    [res] = kp.probe(str(root), [meta], CARRIERS, False, str(tmp_path), True, True, kp.Runner())
    assert res["resolved"] == [[f"linux-image-{FIXED}", "9.1.0-1"], ["linux-image-amd64", "9.1.0-1"]]
    assert res["release"] == FIXED
    assert res["knows_vmscape"] is None
    assert res["downloaded"] is False


def test_probe_downloads_unpacks_and_probes_until_fixed(host, tmp_path):
    root, _repo = host
    work = tmp_path / "work"
    work.mkdir()
    cands = candidates(root)
    old = next(c for c in cands if c["package"] == f"linux-image-{OLD}")
    res = kp.probe(str(root), [old, cands[0], cands[1]], CARRIERS, True, str(work), True, True, kp.Runner())
    assert [r["knows_vmscape"] for r in res] == [False, True]  # stopped at the first fixed one
    assert res[0]["release"] == OLD
    assert "image: no 'vmscape' string" in res[0]["evidence"]
    assert res[1]["release"] == FIXED
    assert f"/boot/config-{FIXED}: CONFIG_MITIGATION_VMSCAPE=y" in res[1]["evidence"]
    assert res[1]["image_bytes"] == len(image(True))
    assert list(work.iterdir()) == []  # the scratch download directory is gone


def test_a_package_that_would_remove_something_is_refused(host, tmp_path):
    root, _repo = host
    evil = next(c for c in candidates(root) if c["package"] == "linux-image-9.2.0-1-amd64")
    [res] = kp.probe(str(root), [evil], CARRIERS, True, str(tmp_path), True, True, kp.Runner())
    assert res["errors"] == [
        f"installing linux-image-9.2.0-1-amd64 9.2.0-1 would remove linux-image-{RUNNING}; refusing"
    ]
    assert res["downloaded"] is False


def test_broken_repository_is_a_clear_error(host, tmp_path):
    root, repo = host
    (repo / f"linux-image-{FIXED}_9.1.0-1_amd64.deb").unlink()
    meta = candidates(root)[0]
    [res] = kp.probe(str(root), [meta], CARRIERS, True, str(tmp_path), True, True, kp.Runner())
    assert res["knows_vmscape"] is None
    assert res["errors"][0].startswith("apt-get download failed (rc=100):")
    assert "File not found" in res["errors"][0]


def test_unreadable_package_state_fails_the_query(host):
    root, _repo = host
    (root / "var/lib/dpkg/status").write_text("Package: broken\nVersion 1\n")
    with pytest.raises(kp.PackagesError, match="dpkg-query -W failed"):
        kp.query(str(root), SPEC, RUNNING, kp.Runner())


def test_command_time_limit(tmp_path):
    rc, _out, err = kp.Runner(timeout=1).run(["sleep", "30"])
    assert rc is None
    assert "timed out after 1 s" in err


@pytest.mark.parametrize(
    ("name", "hit"),
    [
        ("./boot/vmlinuz-6.1.0-56-amd64", ("boot/vmlinuz-6.1.0-56-amd64", "6.1.0-56-amd64", "vmlinuz")),
        (
            "./usr/lib/modules/7.3.4+deb13-amd64/vmlinuz",
            ("usr/lib/modules/7.3.4+deb13-amd64/vmlinuz", "7.3.4+deb13-amd64", "vmlinuz"),
        ),
        (
            "./lib/modules/5.14.0-427.el9.x86_64/config",
            ("lib/modules/5.14.0-427.el9.x86_64/config", "5.14.0-427.el9.x86_64", "config"),
        ),
        ("./boot/../etc/vmlinuz-x", None),
        ("/boot/vmlinuz-a/b", None),
        ("./usr/lib/modules/6.1/kernel/x.ko", None),
        ("./boot/grub/grub.cfg", None),
    ],
)
def test_wanted_members(name, hit):
    assert pa.wanted(name) == hit


def test_cpio_reader_takes_regular_kernel_files_only(tmp_path):
    src = tmp_path / "src"
    (src / "lib/modules/5.14.0-1.el9.x86_64").mkdir(parents=True)
    (src / "boot").mkdir()
    (src / "lib/modules/5.14.0-1.el9.x86_64/vmlinuz").write_bytes(b"K" * 5000)
    (src / "lib/modules/5.14.0-1.el9.x86_64/config").write_text("CONFIG_MITIGATION_VMSCAPE=y\n")
    (src / "lib/modules/5.14.0-1.el9.x86_64/modules.dep").write_text("")
    os.symlink("/etc/shadow", src / "boot/vmlinuz-5.14.0-1.el9.x86_64")
    names = "\n".join(
        ["./boot/vmlinuz-5.14.0-1.el9.x86_64"]
        + [f"./lib/modules/5.14.0-1.el9.x86_64/{n}" for n in ("vmlinuz", "config", "modules.dep")]
    )
    archive = subprocess.run(
        ["cpio", "-o", "-H", "newc", "--quiet"], input=names.encode(), cwd=src, capture_output=True, check=True
    ).stdout
    dest = tmp_path / "dest"
    dest.mkdir()
    import io

    found = pa.read_cpio(io.BytesIO(archive), str(dest))
    assert sorted(found) == [
        ("lib/modules/5.14.0-1.el9.x86_64/config", "5.14.0-1.el9.x86_64", "config", 28),
        ("lib/modules/5.14.0-1.el9.x86_64/vmlinuz", "5.14.0-1.el9.x86_64", "vmlinuz", 5000),
    ]
    assert not (dest / "boot").exists()
    assert (dest / "lib/modules/5.14.0-1.el9.x86_64/vmlinuz").read_bytes() == b"K" * 5000


def test_cpio_reader_refuses_garbage(tmp_path):
    import io

    with pytest.raises(pa.ArchiveError, match="not a newc cpio archive"):
        pa.read_cpio(io.BytesIO(b"x" * 200), str(tmp_path))
    with pytest.raises(pa.ArchiveError, match="cpio archive ended early"):
        pa.read_cpio(io.BytesIO(b"070701" + b"0" * 20), str(tmp_path))


def test_deb_member_over_the_cap_is_refused(tmp_path, monkeypatch):
    deb = kernel_deb(tmp_path, FIXED, "9.1.0-1", True)
    monkeypatch.setattr(pa, "MEMBER_CAP", 1000)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(pa.ArchiveError, match="more than the 1000 allowed"):
        pa.extract_deb(str(deb), str(dest), shutil.which("dpkg-deb"))


def test_apt_policy_parser_by_hand():
    text = textwrap.dedent(
        """\
        linux-image-amd64:
          Installed: 6.1.192-2
          Candidate: 6.1.192-3
          Version table:
             6.1.192-3 500
                500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
         *** 6.1.192-2 100
                100 /var/lib/dpkg/status
             6.1.158-1 500
                500 http://deb.debian.org/debian bookworm/main amd64 Packages
        nosuch:
          Installed: (none)
          Candidate: (none)
          Version table:
        """
    )
    assert kp.parse_apt_policy(text) == {
        "linux-image-amd64": {
            "installed": "6.1.192-2",
            "candidate": "6.1.192-3",
            "versions": ["6.1.192-3", "6.1.158-1"],
        },
        "nosuch": {"installed": None, "candidate": None, "versions": []},
    }


class Canned(kp.Runner):
    """dnf and rpm cannot run on this Debian machine: their answers are canned here, in the exact
    output formats the query strings ask for (``--queryformat``/``--qf``)."""

    def __init__(self, answers):
        super().__init__()
        self.answers = answers
        self.calls = []

    def run(self, argv, cwd=None):
        self.calls.append(argv)
        key = next(k for k in self.answers if k in argv)
        return 0, self.answers[key], ""


def test_rpm_queries_parse_the_formats_they_ask_for(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/dnf").write_text("")
    (root / "lib/modules/5.14.0-427.13.1.el9_4.x86_64").mkdir(parents=True)
    (root / "lib/modules/5.14.0-427.13.1.el9_4.x86_64/vmlinuz").write_bytes(b"k")
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text('ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n')
    monkeypatch.setattr(kp, "find_tool", lambda name: "/usr/bin/" + name)
    runner = Canned(
        {
            "-qa": "kernel-core\t0:5.14.0-427.13.1.el9_4\nkernel\t0:5.14.0-427.13.1.el9_4\nbash\t0:5.1.8-9.el9\n"
            "microcode_ctl\t4:20240531-1.el9\n",
            "-qf": "kernel-core\t0:5.14.0-427.13.1.el9_4\n",
            "repoquery": "kernel\t0:5.14.0-570.12.1.el9_6\tx86_64\nkernel\t0:5.14.0-427.13.1.el9_4\tx86_64\n"
            "microcode_ctl\t4:20250211-1.el9\tnoarch\n",
        }
    )
    rel = "5.14.0-427.13.1.el9_4.x86_64"
    inv = kp.query(str(root), up.query_spec(rel, "GenuineIntel"), rel, runner)
    assert inv["manager"] == "dnf"
    assert inv["os"] == {"id": "rhel", "id_like": ["fedora"], "version_id": "9.4", "pretty_name": None}
    assert inv["installed"] == [
        {"name": "kernel", "version": "5.14.0-427.13.1.el9_4"},
        {"name": "microcode_ctl", "version": "4:20240531-1.el9"},
    ]
    assert inv["available"] == {
        "kernel": {
            "installed": None,
            "candidate": None,
            "versions": ["5.14.0-570.12.1.el9_6", "5.14.0-427.13.1.el9_4"],
        },
        "microcode_ctl": {"installed": None, "candidate": None, "versions": ["4:20250211-1.el9"]},
    }
    assert inv["running_package"] == {
        "name": "kernel-core",
        "version": "5.14.0-427.13.1.el9_4",
        "path": "/lib/modules/5.14.0-427.13.1.el9_4.x86_64/vmlinuz",
    }
    assert ["/usr/bin/dnf", "-q", "--installroot", str(root), "repoquery"] == runner.calls[1][:5]
    f = {"kernel": {"release": rel}, "cpu": {"vendor": "GenuineIntel", "ibpb": False}}
    choice = up.choose(f, inv, {"max_probes": 3})
    assert [(c["package"], c["version"]) for c in choice["candidates"]] == [("kernel", "5.14.0-570.12.1.el9_6")]
    assert up.microcode_choice(f, inv)["status"] == "install"


def test_lists_age_from_the_newest_list_file(tmp_path):
    lists = tmp_path / "var/lib/apt/lists"
    lists.mkdir(parents=True)
    assert kp.lists_age(str(tmp_path)) is None  # never fetched
    (lists / "lock").write_text("")
    (lists / "partial").mkdir()
    assert kp.lists_age(str(tmp_path)) is None
    old = lists / "deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages"
    new = lists / "_srv_lab-repo_repo_._Packages"
    old.write_text("")
    new.write_text("")
    os.utime(old, (1000, 1000))
    os.utime(new, (5000, 5000))
    assert kp.lists_age(str(tmp_path), now=8600) == 3600
