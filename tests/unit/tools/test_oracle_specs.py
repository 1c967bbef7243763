"""Unit tests of the oracle's data files and helpers: kernels.yaml, cpu_profiles.yaml, matrix, cpio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from skip_policy import needs_tool

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root: tools/ is not installed

from tools.oracle import apt, initramfs, kernels, matrix, profiles


def test_shipped_kernels_yaml_loads():
    specs = kernels.load_specs()
    ids = {s.id for s in specs}
    assert {"deb-6.1", "deb-6.12", "deb-7.x", "deb-6.16-pre"} <= ids
    pre = next(s for s in specs if s.id == "deb-6.16-pre")
    assert pre.max_version == "6.16.6" and pre.generation == "none"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kernels: {}", "expected a mapping with a 'kernels' list"),
        ("kernels:\n  - id: x\n", "kernels\\[0\\]: missing"),
        (
            "kernels:\n  - {id: x, suite: s, package: '^linux-(', prefer: 1, generation: G1}\n",
            "bad package regex",
        ),
        (
            "kernels:\n  - {id: x, suite: s, package: '^linux-image-6', prefer: 1, generation: G1}\n",
            "named group",
        ),
        ("kernels: [\n", "kernels.yaml"),
    ],
)
def test_bad_kernels_yaml_names_the_file(tmp_path, text, message):
    path = tmp_path / "kernels.yaml"
    path.write_text(text)
    with pytest.raises(kernels.KernelSpecError, match=message) as exc:
        kernels.load_specs(path)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [
        ("6.1.192-2", "6.1.192"),
        ("7.3.4-1~bpo13+1", "7.3.4"),
        ("6.12.117-1~deb12u1", "6.12.117"),
        ("1:10.0.2+ds-2", "10.0.2"),
    ],
)
def test_upstream_of(debian, upstream):
    assert kernels.upstream_of(debian) == upstream


class _FakeApt:
    def __init__(self, packages):
        self.packages = packages

    def pkgnames(self, prefix):
        return [p for p in self.packages if p.startswith(prefix)]

    def versions(self, name):
        return self.packages[name]


def test_choose_prefers_then_falls_back_to_newest_within_max():
    spec = kernels.KernelSpec(
        id="x", suite="s", package=r"^linux-image-(?P<rel>6\.16\.\d+\+deb13-amd64)$", prefer="6.16.3",
        generation="none", max_version="6.16.6",
    )  # fmt: skip
    avail = {
        "linux-image-6.16.3+deb13-amd64": ["6.16.3-1~bpo13+1"],
        "linux-image-6.16.12+deb13-amd64": ["6.16.12-1~bpo13+1"],
        "linux-image-6.16.5+deb13-amd64-dbg": ["6.16.5-1~bpo13+1"],
    }
    assert kernels.choose(spec, _FakeApt(avail)) == (
        "linux-image-6.16.3+deb13-amd64", "6.16.3-1~bpo13+1", "6.16.3+deb13-amd64", False,
    )  # fmt: skip
    del avail["linux-image-6.16.3+deb13-amd64"]
    avail["linux-image-6.16.4+deb13-amd64"] = ["6.16.4-1~bpo13+1"]
    pkg, _ver, rel, fallback = kernels.choose(spec, _FakeApt(avail))
    assert (pkg, rel, fallback) == ("linux-image-6.16.4+deb13-amd64", "6.16.4+deb13-amd64", True)
    del avail["linux-image-6.16.4+deb13-amd64"]
    with pytest.raises(apt.AptError, match="no package matching"):
        kernels.choose(spec, _FakeApt(avail))


def test_private_apt_never_uses_the_machine_sources():
    opts = apt.PrivateApt(("trixie-backports",)).options()
    joined = " ".join(opts)
    assert "Dir::Etc::SourceParts=/dev/null" in joined
    assert "Debug::NoLocking=1" in joined
    assert "/etc/apt" not in joined
    assert apt._source_line("bookworm-security").startswith(
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security "
    )


def test_shipped_profiles_cover_the_issue():
    ps = {p.id: p for p in profiles.load_profiles()}
    assert len(ps) >= 12
    assert all(p.qemu == "10" for p in ps.values() if p.bhi_ctrl)
    assert ps["guest-skylake-sp"].hypervisor and "+hypervisor" in ps["guest-skylake-sp"].cpu
    assert not ps["intel-skylake-sp-olducode"].ibpb
    assert any(p.vcpus == 2 for p in ps.values())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profiles: [{id: a, qemu: '7.2'}]", "needs id, qemu and cpu"),
        ("profiles: [{id: a, qemu: '9', cpu: max}]", "qemu must be one of"),
        ("profiles: [{id: a, qemu: '7.2', cpu: 'max,+bhi-ctrl'}]", "needs qemu: '10'"),
        ("profiles: [{id: a, qemu: '7.2', cpu: max}, {id: a, qemu: '7.2', cpu: max}]", "duplicate"),
        ("profiles: [{id: a, qemu: '7.2', cpu: max, smp: 'threads=2'}]", "smp must start"),
    ],
)
def test_bad_profiles_yaml_names_the_file(tmp_path, text, message):
    path = tmp_path / "cpu_profiles.yaml"
    path.write_text(text)
    with pytest.raises(profiles.ProfileError, match=message) as exc:
        profiles.load_profiles(path)
    assert str(path) in str(exc.value)


def test_matrix_is_pruned_but_keeps_required_cmdlines():
    cases = matrix.cases()
    assert len(cases) < matrix.full_size()
    ids = {c.id for c in cases}
    for needed in [
        "deb-6.1|amd-zen2|vmscape=off retbleed=ibpb",
        "deb-7.x|amd-zen2|spec_rstack_overflow=ibpb-vmexit",
        "deb-6.12|intel-skylake-sp|mitigations=auto,no_guest_host vmscape=force",
        "deb-7.x|intel-alderlake|vmscape=on",
        "deb-6.16-pre|hygon-dhyana|none",
    ]:
        assert needed in ids
    assert len(ids) == len(cases)
    assert not any(c.kernel == "deb-6.17.8" and c.profile not in matrix.FULL for c in cases)


def _cmdlines(cases, kernel, profile):
    return sorted(c.cmdline for c in cases if c.kernel == kernel and c.profile == profile)


def test_make_test_boots_a_non_representative_model_for_its_list_and_force_only(monkeypatch):
    """make test's matrix (docs/testing.md): a profile that only repeats its class representative
    is booted with the default (its place on each kernel's list) and vmscape=force (a model the
    list lacks); ORACLE_WIDE=1 boots it with the class cmdlines as well."""
    monkeypatch.delenv("ORACLE_WIDE", raising=False)
    narrow = matrix.cases()
    assert _cmdlines(narrow, "deb-6.1", "intel-raptorlake") == ["", "vmscape=force"]
    assert _cmdlines(narrow, "deb-6.12", "amd-zen3") == [
        "",
        "retbleed=ibpb",
        "spec_rstack_overflow=ibpb-vmexit",
        "vmscape=force",
    ]
    assert _cmdlines(narrow, "deb-6.16-pre", "intel-raptorlake") == [""]
    assert _cmdlines(narrow, "deb-6.16-pre", "intel-skylake-sp") == ["", "vmscape=ibpb"]
    # the representatives keep every cmdline
    assert len(_cmdlines(narrow, "deb-7.x", "intel-alderlake")) == 11
    monkeypatch.setenv("ORACLE_WIDE", "1")
    wide = matrix.cases()
    assert _cmdlines(wide, "deb-6.1", "intel-raptorlake") == [
        "",
        "mitigations=auto,no_guest_host",
        "mitigations=off vmscape=ibpb",
        "vmscape=force",
        "vmscape=off",
    ]
    assert _cmdlines(wide, "deb-6.16-pre", "intel-raptorlake") == ["", "vmscape=ibpb"]
    assert {c.id for c in narrow} < {c.id for c in wide}
    assert (len(narrow), len(wide)) == (378, 482)


@needs_tool("cpio", "cpio")
def test_newc_archive_is_read_by_cpio(tmp_path):
    blob = initramfs.newc_archive([("bin", 0o040755, b""), ("bin/hello", 0o100755, b"#!/bin/sh\necho hi\n")])
    proc = subprocess.run(["cpio", "-t"], input=blob, capture_output=True, check=True)
    assert proc.stdout.decode().split() == ["bin", "bin/hello"]
    subprocess.run(["cpio", "-id", "--quiet"], input=blob, cwd=tmp_path, check=True)
    assert (tmp_path / "bin/hello").read_bytes() == b"#!/bin/sh\necho hi\n"
