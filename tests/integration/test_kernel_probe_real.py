"""The kernel probe on real Debian kernel packages (fetched by tools/oracle/kernels.py into
$VMSCAPE_CACHE): bzImage header, real compression (xz on 6.1, zstd on 6.19+/7.x), Debian's
placeholder System.map, config, and the decompressed image's strings.

Run: .venv/bin/pytest -q -m integration tests/integration/test_kernel_probe_real.py -s
(-s prints the compression and timing table)."""

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from skip_policy import missing

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "collections") not in sys.path:
    sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts import kernel_probe as kp  # noqa: E402
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import collect_facts  # noqa: E402
from tools.oracle import kernels, snapshot  # noqa: E402

pytestmark = pytest.mark.integration
SNAPSHOT = REPO / "tests" / "data" / "facts" / "snapshots" / "debian12-skylake"
SPECS = kernels.load_specs()


@pytest.fixture(scope="module")
def fetched():
    return kernels.fetch_all()


def _place(src: Path, dst: Path):
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def kernel_root(tmp_path: Path, k) -> tuple[Path, str]:
    """A root holding the kernel where Debian puts it (/boot, or /usr/lib/modules/<rel> since 6.19)."""
    rel = k.release
    root = tmp_path / k.id
    split = "linux-binary" in k.meta["package"]
    if split:
        img = f"/usr/lib/modules/{rel}/vmlinuz"
        files = {
            "vmlinuz": img,
            "System.map": f"/usr/lib/modules/{rel}/System.map",
            "config": f"/usr/lib/modules/{rel}/config",
        }
    else:
        img = f"/boot/vmlinuz-{rel}"
        files = {"vmlinuz": img, "System.map": f"/boot/System.map-{rel}", "config": f"/boot/config-{rel}"}
    for name, hp in files.items():
        src = k.dir / name
        if src.exists():
            _place(src, root / hp.lstrip("/"))
    return root, img


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_probe_real_kernel(fetched, tmp_path, spec):
    k = fetched[spec.id]
    root, img = kernel_root(tmp_path, k)
    with open(k.vmlinuz, "rb") as f:
        head = f.read(0x4000)
        info = kp.parse_bzimage_header(head)
        assert info is not None and info["protocol"] >= 0x20F
        f.seek(info["payload_offset"])
        fmt = kp.format_at(f.read(8))
        vs = kp.read_version_string(f, info["version_ptr"])
    assert fmt in ("xz", "zstd", "gzip", "lzma", "bzip2", "lz4"), fmt
    assert vs.startswith(k.release + " (debian-kernel@lists.debian.org)")
    # Debian ships a placeholder System.map: no symbol answers from it
    assert "real System.map is in" in k.system_map.read_text()

    never = kp.probe_kernel(str(root), k.release, img, "never")
    assert (never["version"], never["version_source"]) == (k.version, "image_header")
    assert never["bhb_series"] is None
    t0 = time.monotonic()
    auto = kp.probe_kernel(str(root), k.release, img, "auto")
    t_auto = time.monotonic() - t0
    knows = spec.generation != "none"
    assert auto["knows_vmscape"] is knows, auto
    assert auto["bhb_series"] is False, auto  # no Debian kernel up to 7.3.4 carries the BHB series
    assert auto["config_mitigation_vmscape"] is knows
    assert auto["probe_errors"] == [], auto["probe_errors"]
    assert any(f"image: {fmt} payload" in e for e in auto["evidence"])
    if knows:
        assert "image: contains 'IBPB before exit to userspace', 'vmscape'" in auto["evidence"]
    print(
        f"\n{spec.id}: {k.meta['package']} {k.meta['debian_version']}: {fmt}, "
        f"{os.path.getsize(k.vmlinuz) / 1048576:.1f} MiB image, auto probe {t_auto:.2f}s, "
        f"{next(e for e in auto['evidence'] if 'decompressed' in e)}"
    )


def test_zstd_kernel_without_zstd_program_is_unknown(fetched, tmp_path, monkeypatch):
    zk = [k for k in fetched.values() if "linux-binary" in k.meta["package"]]
    if not zk:
        missing("no split (zstd) kernel in tests/data/kernels.yaml")
    root, img = kernel_root(tmp_path, zk[0])
    monkeypatch.setattr(kp, "find_program", lambda name: None)
    monkeypatch.setattr(kp, "_zstd_module", lambda: None)
    r = kp.probe_kernel(str(root), zk[0].release, img, "auto")
    assert r["bhb_series"] is None
    assert "image: zstd compressed and no zstd program" in r["probe_errors"]


def test_facts_on_snapshot_with_real_image(fetched, tmp_path):
    """The committed Debian snapshot with the real 6.1 image: whole-module timings per mode.

    The snapshot was written for one build of the 6.1 branch; the registry serves whichever build is
    current (6.1.0-56 then 6.1.0-57 ...), so the copy is retargeted to the fetched kernel's release and
    Debian version (its metadata.json) before the real image is placed under its name.
    """
    k = fetched["deb-6.1"]
    assert k.version.startswith("6.1."), f"deb-6.1 fetched {k.meta['package']} {k.meta['debian_version']}"
    root = tmp_path / "snap"
    shutil.copytree(SNAPSHOT, root, symlinks=True)
    old_release = (root / "proc/sys/kernel/osrelease").read_text().strip()
    old_debian = snapshot.debian_version_in((root / "proc/version").read_text())
    snapshot.retarget_tree(root, old_release, old_debian, k)
    for name, dst in (("vmlinuz", "boot/vmlinuz-"), ("System.map", "boot/System.map-"), ("config", "boot/config-")):
        (root / (dst + k.release)).unlink(missing_ok=True)
        _place(k.dir / name, root / (dst + k.release))
    times = {}
    # The snapshot's Skylake-SP reads BHI_CTRL 0: "auto" does not decompress the image for the BHB
    # question (nothing on this CPU could use it); "always" does. With BHI_CTRL unknowable (no
    # cpuid device), "auto" must decompress too.
    cases = (("never", None, "never"), ("auto", None, "auto"), ("always", False, "always"))
    for label, want, mode in (*cases, ("auto, BHI_CTRL unknown", False, "auto")):
        if label.startswith("auto, "):
            (root / "dev" / "cpu" / "0" / "cpuid").unlink()
        kp._MEMO.clear()  # time a fresh probe, as one module run on a host does
        t0 = time.monotonic()
        facts = collect_facts(str(root), probe_image=mode)
        times[label] = time.monotonic() - t0
        assert (facts["kernel"]["release"], facts["kernel"]["version"]) == (k.release, k.version)
        bk = facts["boot_kernel"]
        assert bk["release"] == k.release and bk["version"] == k.version and bk["is_running"] is True
        assert bk["knows_vmscape"] is True
        assert bk["bhb_series"] is want, (label, facts["cpu"]["bhi_ctrl"], bk)
    print(
        f"\ncollect_facts on a snapshot root with the real {k.meta['package']} {k.meta['debian_version']} image: "
        + ", ".join(f"{m} {t:.2f}s" for m, t in times.items())
    )
