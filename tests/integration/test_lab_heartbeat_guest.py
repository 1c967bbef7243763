"""The lab libvirt host's guest (tools/lab/heartbeat.S via tools/lab/heartbeat_image.py), assembled
with the real GNU as/ld and booted by SeaBIOS under the real QEMU (TCG) on this machine: what the
molecule verifier relies on when it tells a resumed guest from one booted again (docs/lab.md "The
libvirt host"). Expected output written by hand from the source's contract: GUEST-UP once, then
GUEST-BEAT 1, 2, ... one per 10 s.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from skip_policy import needs_tool

from tools.lab import heartbeat_image

pytestmark = [
    pytest.mark.integration,
    needs_tool("as", "binutils"),
    needs_tool("qemu-system-x86_64", "qemu-system-x86"),
]


def test_image_is_one_boot_sector_on_a_1_mib_disk(tmp_path):
    out = tmp_path / "guest.img"
    assert heartbeat_image.main(["heartbeat_image.py", str(out)]) == 0
    data = out.read_bytes()
    assert len(data) == 1 << 20
    assert data[510:512] == b"\x55\xaa"
    assert data[512:] == bytes(len(data) - 512)
    assert b"GUEST-UP\n\x00GUEST-BEAT \x00" in data[:510]
    assert oct(out.stat().st_mode & 0o777) == "0o644"


def test_a_source_that_is_not_one_sector_is_refused_and_nothing_written(tmp_path, monkeypatch, capsys):
    source = tmp_path / "big.S"
    source.write_text(".code16\n.text\n.globl _start\n_start: jmp _start\n.org 600\n.word 0xaa55\n")
    with pytest.raises(RuntimeError, match=r"big\.S: assembled to 602 bytes, not one boot sector"):
        heartbeat_image.assemble(source)
    monkeypatch.setattr(heartbeat_image, "SOURCE", source)
    out = tmp_path / "kept.img"
    out.write_bytes(b"old")
    assert heartbeat_image.main(["heartbeat_image.py", str(out)]) == 1
    assert "assembled to 602 bytes" in capsys.readouterr().err
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.S", "kept.img"]  # no temporary file left


def test_boots_under_qemu_and_beats_every_ten_seconds(tmp_path):
    image, console = tmp_path / "guest.img", tmp_path / "console.log"
    heartbeat_image.write_image(image, heartbeat_image.assemble())
    argv = ["qemu-system-x86_64", "-nodefaults", "-display", "none", "-accel", "tcg", "-m", "16"]
    argv += ["-drive", f"file={image},format=raw,if=ide", "-chardev", f"file,id=s0,path={console}"]
    argv += ["-device", "isa-serial,chardev=s0"]
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        start = time.monotonic()
        seen = {}
        while time.monotonic() - start < 60 and "GUEST-BEAT 3" not in seen:
            text = console.read_text() if console.exists() else ""
            for line in text.splitlines():
                seen.setdefault(line, time.monotonic() - start)
            assert qemu.poll() is None, qemu.stderr.read().decode()
            time.sleep(0.2)
    finally:
        qemu.kill()
        qemu.wait(timeout=30)
    lines = console.read_text().splitlines()
    assert lines[:4] == ["GUEST-UP", "GUEST-BEAT 1", "GUEST-BEAT 2", "GUEST-BEAT 3"], lines
    assert all(re.fullmatch(r"GUEST-UP|GUEST-BEAT \d+", line) for line in lines), lines
    # one beat per 10 s of the guest's clock (TCG runs it close to wall time; generous bounds)
    gap = seen["GUEST-BEAT 3"] - seen["GUEST-BEAT 2"]
    assert 5 < gap < 20, seen
