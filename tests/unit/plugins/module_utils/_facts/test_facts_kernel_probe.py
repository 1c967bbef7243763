"""Kernel probe: bzImage header, every decompressor on synthetic payloads, System.map/config, modes."""

import os
import random

import pytest
from facts_fixtures import (
    DEBIAN_61_HEADER,
    DEBIAN_61_VERSION,
    G1_STRINGS,
    G3_STRINGS,
    OLD_STRINGS,
    compress,
    make_bzimage,
    make_elf,
    system_map,
    write,
)
from skip_policy import needs_tool

from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts import kernel_probe as kp

REL = "6.1.0-56-amd64"
IMG = "/boot/vmlinuz-" + REL
STDLIB = ["gzip", "xz", "lzma", "bzip2"]
PROGRAMS = [
    pytest.param("zstd", marks=needs_tool("zstd", "zstd")),
    pytest.param("lz4", marks=needs_tool("lz4", "lz4")),
]


def image(tmp_path, fmt, strings, header=DEBIAN_61_HEADER, banner=None, **kw):
    elf = make_elf(strings, banner=banner)
    write(tmp_path, IMG, make_bzimage(compress(fmt, elf), header, **kw))
    return str(tmp_path)


def test_header_parse_synthetic():
    blob = make_bzimage(b"\x1f\x8b\x08rest", DEBIAN_61_HEADER)
    info = kp.parse_bzimage_header(blob[:0x4000])
    assert info["protocol"] == 0x20F
    assert info["setup_sects"] == 1
    assert info["payload_offset"] == 1024 + 128
    assert info["payload_length"] == 7
    assert info["version_ptr"] == 0x300
    assert kp.parse_bzimage_header(b"\x7fELF" + b"\0" * 0x300) is None
    assert kp.parse_bzimage_header(b"MZ") is None
    old = kp.parse_bzimage_header(make_bzimage(b"x", None, protocol=0x207)[:0x4000])
    assert old["payload_offset"] is None and old["version_ptr"] is None


@pytest.mark.parametrize("fmt", STDLIB + PROGRAMS)
@pytest.mark.parametrize(
    ("strings", "knows", "g3"), [(G1_STRINGS, True, False), (G3_STRINGS, True, True), (OLD_STRINGS, False, False)]
)
def test_each_decompressor(tmp_path, fmt, strings, knows, g3):
    root = image(tmp_path, fmt, strings)
    r = kp.probe_kernel(root, REL, IMG, "always")
    assert r["probe_errors"] == ["System.map: none for " + REL, "config: none for " + REL]
    assert (r["knows_vmscape"], r["bhb_series"]) == (knows, g3)
    assert r["version"] == "6.1.192" and r["version_source"] == "image_header"
    assert any(f"image: {fmt} payload at offset" in e for e in r["evidence"])


@pytest.mark.parametrize("fmt", ["gzip", "xz"])
def test_payload_found_by_magic_without_header_fields(tmp_path, fmt):
    root = image(tmp_path, fmt, G3_STRINGS, protocol=0x207)
    r = kp.probe_kernel(root, REL, IMG, "auto")
    assert (r["knows_vmscape"], r["bhb_series"]) == (True, True)
    assert any("payload found by magic" in e for e in r["evidence"])


def test_header_offset_wins_over_decoy_magic(tmp_path):
    root = image(tmp_path, "xz", G1_STRINGS, decoy=b"\x1f\x8b\x08garbage")
    r = kp.probe_kernel(root, REL, IMG, "auto")
    assert (r["knows_vmscape"], r["bhb_series"]) == (True, False)
    assert r["probe_errors"][2:] == []


def test_banner_gives_version_when_header_has_none(tmp_path):
    root = image(tmp_path, "gzip", G1_STRINGS, header="6.1.0-56-amd64 (x@y) #1 SMP", banner=DEBIAN_61_VERSION)
    r = kp.probe_kernel(root, REL, IMG, "auto")
    assert (r["version"], r["version_source"]) == ("6.1.192", "image_banner")


def test_version_from_release_when_image_says_nothing(tmp_path):
    root = image(tmp_path, "gzip", G1_STRINGS, header=None)
    r = kp.probe_kernel(root, REL, IMG, "never")
    assert (r["version"], r["version_source"]) == ("6.1.0", "release")


def test_zstd_without_program_is_unknown_never_a_guess(tmp_path, monkeypatch):
    blob = make_bzimage(b"\x28\xb5\x2f\xfd" + b"\0" * 64, DEBIAN_61_HEADER)
    write(tmp_path, IMG, blob)
    monkeypatch.setattr(kp, "find_program", lambda name: None)
    monkeypatch.setattr(kp, "_zstd_module", lambda: None)
    r = kp.probe_kernel(str(tmp_path), REL, IMG, "auto")
    assert r["knows_vmscape"] is None and r["bhb_series"] is None
    assert "image: zstd compressed and no zstd program" in r["probe_errors"]
    assert r["version"] == "6.1.192"  # the uncompressed header still answers this


def test_lzo_without_lzop(tmp_path, monkeypatch):
    write(tmp_path, IMG, make_bzimage(b"\x89LZO\x00" + b"\0" * 64, DEBIAN_61_HEADER))
    monkeypatch.setattr(kp, "find_program", lambda name: None)
    r = kp.probe_kernel(str(tmp_path), REL, IMG, "auto")
    assert "image: lzo compressed and no lzop program" in r["probe_errors"]


@pytest.mark.parametrize("fmt", ["gzip", "xz", "bzip2", *PROGRAMS])
def test_truncated_payload_concludes_no_absence(tmp_path, fmt):
    elf = make_elf(OLD_STRINGS, ro_pad=200000)
    data = compress(fmt, elf)
    blob = make_bzimage(data, DEBIAN_61_HEADER)
    cut = blob[: len(blob) - len(data) // 2 - 32]
    write(tmp_path, IMG, cut)
    r = kp.probe_kernel(str(tmp_path), REL, IMG, "auto")
    assert r["knows_vmscape"] is None and r["bhb_series"] is None
    assert any(e.startswith("image: ") for e in r["probe_errors"][2:]), r["probe_errors"]


def test_corrupt_payload_keeps_positive_findings(tmp_path):
    noise = random.Random(1).randbytes(300000)  # incompressible: the damage lands far from the strings
    elf = make_elf([*G1_STRINGS, noise], ro_pad=64)
    data = bytearray(compress("gzip", elf))
    data[-200:-100] = b"\xff" * 100  # corrupt the tail, the strings come first
    write(tmp_path, IMG, make_bzimage(bytes(data), DEBIAN_61_HEADER))
    r = kp.probe_kernel(str(tmp_path), REL, IMG, "always")
    assert r["knows_vmscape"] is True
    assert r["bhb_series"] is None


def test_not_a_kernel_image(tmp_path):
    write(tmp_path, IMG, b"just some text\n" * 100)
    r = kp.probe_kernel(str(tmp_path), REL, IMG, "auto")
    assert r["knows_vmscape"] is None
    assert any("no known compressed payload" in e for e in r["probe_errors"])


def test_missing_image(tmp_path):
    r = kp.probe_kernel(str(tmp_path), REL, IMG, "auto")
    assert any(e.startswith("image: /boot/vmlinuz-6.1.0-56-amd64: No such file") for e in r["probe_errors"])
    r = kp.probe_kernel(str(tmp_path), REL, None, "auto")
    assert "image: no kernel image found for " + REL in r["probe_errors"]


def test_strings_only_in_writable_segment_are_not_read(tmp_path):
    """String literals live in .rodata (read-only PT_LOAD); the scan stops after it."""
    elf = make_elf([b"nothing here"], rw_pad=4096)
    elf_rw = make_elf([b"nothing here"], tail_strings=[b"Mitigation: Clear BHB before exit to userspace"])
    for name, blob in (("a", elf), ("b", elf_rw)):
        write(tmp_path / name, IMG, make_bzimage(compress("xz", blob), DEBIAN_61_HEADER))
        r = kp.probe_kernel(str(tmp_path / name), REL, IMG, "always")
        assert r["bhb_series"] is False
        assert any("read-only segments of the ELF vmlinux scanned" in e for e in r["evidence"])


def test_non_elf_payload_is_scanned_to_the_end(tmp_path):
    raw = b"\0" * 3_000_000 + b"Mitigation: Clear BHB before exit to userspace vmscape"
    write(tmp_path, IMG, make_bzimage(compress("xz", raw), DEBIAN_61_HEADER))
    r = kp.probe_kernel(str(tmp_path), REL, IMG, "always")
    assert (r["knows_vmscape"], r["bhb_series"]) == (True, True)


def test_scanner_finds_needles_across_chunk_boundaries():
    needle = kp.STR_G3
    sc = kp.Scanner({"g3": needle})
    data = b"x" * 1000 + needle + b"y" * 1000
    cut = 1000 + len(needle) // 2
    sc.feed(data[:cut])
    sc.feed(data[cut:])
    assert sc.found == {"g3": 1000}


def test_system_map_answers_both_without_decompression(tmp_path):
    root = image(tmp_path, "xz", OLD_STRINGS)  # the image would say "no": must not be read in auto
    write(tmp_path, "boot/System.map-" + REL, system_map(["vmscape_select_mitigation", "clear_bhb_loop_nofence"]))
    write(tmp_path, "boot/config-" + REL, "CONFIG_MITIGATION_VMSCAPE=y\n")
    r = kp.probe_kernel(root, REL, IMG, "auto")
    assert (r["knows_vmscape"], r["bhb_series"], r["config_mitigation_vmscape"]) == (True, True, True)
    assert not any("decompressed" in e for e in r["evidence"])
    assert r["probe_errors"] == []
    # always: the image is read too and the disagreement is reported; the image wins
    r = kp.probe_kernel(root, REL, IMG, "always")
    assert (r["knows_vmscape"], r["bhb_series"]) == (False, False)
    assert any("disagree on knows" in e for e in r["probe_errors"])


def test_system_map_without_symbols_means_false(tmp_path):
    write(tmp_path, f"usr/lib/modules/{REL}/System.map", system_map(["retbleed_select_mitigation"]))
    r = kp.probe_kernel(str(tmp_path), REL, None, "auto")
    assert (r["knows_vmscape"], r["bhb_series"]) == (False, False)
    assert "/usr/lib/modules/6.1.0-56-amd64/System.map: vmscape_select_mitigation absent" in r["evidence"]


def test_debian_stub_system_map_answers_nothing(tmp_path):
    write(
        tmp_path, "boot/System.map-" + REL, "ffffffffffffffff B The real System.map is in the linux-image-dbg package\n"
    )
    r = kp.probe_kernel(str(tmp_path), REL, None, "auto")
    assert r["knows_vmscape"] is None and r["bhb_series"] is None
    assert any("placeholder" in e for e in r["evidence"])


@pytest.mark.parametrize(
    ("text", "cfg", "knows"),
    [
        ("CONFIG_MITIGATION_VMSCAPE=y\n", True, True),
        ("# CONFIG_MITIGATION_VMSCAPE is not set\n", False, True),
        ("CONFIG_MITIGATION_SRSO=y\n", False, None),
    ],
)
def test_config(tmp_path, text, cfg, knows):
    write(tmp_path, "boot/config-" + REL, text)
    r = kp.probe_kernel(str(tmp_path), REL, None, "never")
    assert r["config_mitigation_vmscape"] is cfg
    assert r["knows_vmscape"] is knows


def test_config_answers_knows_image_needed_only_for_g3(tmp_path):
    root = image(tmp_path, "gzip", G1_STRINGS)
    write(tmp_path, "boot/config-" + REL, "CONFIG_MITIGATION_VMSCAPE=y\n")
    r = kp.probe_kernel(root, REL, IMG, "never")
    assert (r["knows_vmscape"], r["bhb_series"]) == (True, None)
    assert "image: not decompressed (probe_image=never)" in r["evidence"]
    r = kp.probe_kernel(root, REL, IMG, "auto")
    assert (r["knows_vmscape"], r["bhb_series"]) == (True, False)


def test_unreadable_system_map(tmp_path, monkeypatch):
    write(tmp_path, "boot/System.map-" + REL, system_map([]))
    real_open = kp._rootpath.open_regular

    def fake_open(path, *a, **k):
        if str(path).endswith("System.map-" + REL):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **k)

    monkeypatch.setattr(kp._rootpath, "open_regular", fake_open)  # every probe read opens through it
    r = kp.probe_kernel(str(tmp_path), REL, None, "auto")
    assert "System.map: /boot/System.map-6.1.0-56-amd64: Permission denied" in r["probe_errors"]


def test_bad_mode():
    with pytest.raises(ValueError, match="probe_image must be one of"):
        kp.probe_kernel("/", REL, None, "sometimes")


def test_same_file_is_decompressed_once_per_process(tmp_path, monkeypatch):
    root = image(tmp_path / "a", "xz", G1_STRINGS)
    other = tmp_path / "b" / IMG.lstrip("/")
    other.parent.mkdir(parents=True)
    os.link(tmp_path / "a" / IMG.lstrip("/"), other)  # a second snapshot root hard linking the kernel
    first = kp.probe_kernel(root, REL, IMG, "auto")
    calls = []
    real_open_stream = kp.open_stream
    monkeypatch.setattr(kp, "open_stream", lambda *a: calls.append(a) or real_open_stream(*a))
    second = kp.probe_kernel(str(tmp_path / "b"), REL, IMG, "auto")
    assert calls == []
    assert (second["knows_vmscape"], second["bhb_series"]) == (first["knows_vmscape"], first["bhb_series"])
    assert "image: answers reused from the same file probed earlier by this process" in second["evidence"]
    # a changed file is probed again
    other.unlink()
    other.write_bytes(make_bzimage(compress("gzip", make_elf(G3_STRINGS)), DEBIAN_61_HEADER))
    third = kp.probe_kernel(str(tmp_path / "b"), REL, IMG, "auto")
    assert len(calls) == 1 and third["bhb_series"] is True
