"""grubenv editing through grub-editenv and the restore of snapshots, exactly (found by
`make mutation`). The writer's success path runs the real grub-editenv; its failure paths are
given a runner that answers like a failing tool (the runner is the module's injection point)."""

import errno
import shutil
import subprocess

import pytest
from skip_policy import needs_tool

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.atomic_write import Snapshot, remove_file
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grubenv import (
    SIGNATURE,
    EnvBlock,
    editenv_writer,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import command_runner as _command_runner


def real_runner(argv):
    return _command_runner.run([shutil.which(argv[0]), *argv[1:]], timeout=60)


def answer(rc, out, err, timed_out=False):
    """What a command that failed returns (the module's runner gives a Result)."""
    return lambda argv: _command_runner.Result(argv, rc, out, err, timed_out, 0.01, 0)


@needs_tool("grub-editenv", "grub-common")
def test_the_writer_runs_grub_editenv_and_records_the_command(tmp_path):
    env = tmp_path / "grubenv"
    subprocess.run(["grub-editenv", str(env), "create"], check=True)
    commands = []
    editenv_writer("grub-editenv", str(env), "kernelopts", "root=/dev/vda2 ro vmscape=ibpb")(real_runner, commands)
    assert [{k: c[k] for k in ("cmd", "rc")} for c in commands] == [
        {"cmd": ["grub-editenv", str(env), "set", "kernelopts=root=/dev/vda2 ro vmscape=ibpb"], "rc": 0}
    ]
    assert 0 <= commands[0]["seconds"] < 60
    assert EnvBlock(env.read_bytes()).get("kernelopts") == "root=/dev/vda2 ro vmscape=ibpb"


def test_a_failing_tool_is_an_error_with_its_message(tmp_path):
    commands = []
    write = editenv_writer("grub2-editenv", "/boot/grub2/grubenv", "kernelopts", "ro")
    with pytest.raises(BootConfigError) as err:
        write(answer(1, "", "  grub2-editenv: error: cannot rename the file\n"), commands)
    assert str(err.value) == (
        "grub2-editenv /boot/grub2/grubenv set kernelopts=ro failed (rc=1): "
        "grub2-editenv: error: cannot rename the file"
    )
    assert err.value.output == "  grub2-editenv: error: cannot rename the file\n"
    assert commands == [
        {"cmd": ["grub2-editenv", "/boot/grub2/grubenv", "set", "kernelopts=ro"], "rc": 1, "seconds": 0.01}
    ]
    with pytest.raises(BootConfigError) as err:
        write(answer(2, "usage: ...\n", ""), [])
    assert str(err.value).endswith("failed (rc=2): usage: ...")
    with pytest.raises(BootConfigError) as err:
        write(answer(None, "", "", timed_out=True), [])
    assert (
        str(err.value) == "grub2-editenv /boot/grub2/grubenv set kernelopts=ro did not finish in time and was killed: "
    )


def test_a_tool_that_did_not_write_the_value_is_an_error(tmp_path):
    env = tmp_path / "grubenv"
    env.write_bytes(EnvBlock.empty().to_bytes())
    write = editenv_writer("grub-editenv", str(env), "kernelopts", "ro quiet")
    with pytest.raises(BootConfigError) as err:
        write(answer(0, "", ""), [])
    assert str(err.value) == f"{env}: after grub-editenv, kernelopts is None, not 'ro quiet'"


def test_duplicate_names_and_a_full_block():
    two = SIGNATURE + b"a=1\na=2\n"
    block = EnvBlock(two + b"#" * (1024 - len(two)), "/boot/grub/grubenv")
    with pytest.raises(BootConfigError) as err:
        block.set("a", "3")
    assert str(err.value) == "/boot/grub/grubenv: a is defined 2 times; refusing to guess which one counts"
    full = EnvBlock.empty()
    room = 1024 - len(SIGNATURE) - len("k=\n")
    full.set("k", "x" * room)  # exactly 1024 bytes: fits, no padding left
    assert full.to_bytes() == SIGNATURE + b"k=" + b"x" * room + b"\n"
    with pytest.raises(BootConfigError) as err:
        full.set("k", "x" * (room + 1))
    assert str(err.value) == "grubenv: the GRUB environment block (1024 bytes) has no room for the new value"


def test_bytes_that_are_not_utf8_survive_a_rewrite():
    raw = SIGNATURE + b"title=caf\xe9\n"
    block = EnvBlock(raw + b"#" * (1024 - len(raw)))
    block.set("k", "v")
    assert block.to_bytes().startswith(SIGNATURE + b"title=caf\xe9\nk=v\n#")


def test_remove_file_ignores_only_a_missing_file(tmp_path):
    remove_file(str(tmp_path / "absent"))  # nothing to remove: fine
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError) as err:
        remove_file(str(tmp_path / "d"))
    assert err.value.errno in (errno.EISDIR, errno.EPERM)


def test_restore_reports_what_it_could_not_put_back(tmp_path):
    entries = tmp_path / "entries"
    entries.mkdir()
    kept = tmp_path / "sub" / "kept.conf"
    kept.parent.mkdir()
    kept.write_text("old")
    snap = Snapshot()
    snap.add_glob(str(entries), "*.conf")
    snap.add_file(str(kept))
    (entries / "new.conf").mkdir()
    kept.unlink()
    kept.parent.rmdir()  # the directory to write the old content into is gone
    errors, removed, left = snap.restore()
    # a directory matching the glob is not a file the change made: neither removed nor an error
    assert (errors, removed, left) == ([f"{kept}: No such file or directory"], [], [])
    assert (entries / "new.conf").is_dir()


# --------------------------------------------------------------------------- read like GRUB (found by make mutation)
def block(body):
    data = SIGNATURE + body
    return data + b"#" * (1024 - len(data))


@needs_tool("grub-editenv", "grub-common")
def test_escapes_written_by_grub_editenv_read_back(tmp_path):
    env = tmp_path / "grubenv"
    subprocess.run(["grub-editenv", str(env), "create"], check=True)
    values = {"a": "x\\y", "b": "line1\nline2", "c": "ends\\", "d": "\\\\", "e": "nl\n"}
    for k, v in values.items():
        subprocess.run(["grub-editenv", str(env), "set", f"{k}={v}"], check=True)
    parsed = EnvBlock(env.read_bytes(), str(env))
    assert {k: parsed.get(k) for k in values} == values
    assert {k: v for k, v in parsed.items() if k in values} == values


@needs_tool("grub-editenv", "grub-common")
def test_comment_lines_are_not_variables_even_with_an_equals_sign(tmp_path):
    env = tmp_path / "grubenv"
    env.write_bytes(block(b"# note=x\nk=v\n#=y\n"))
    listed = subprocess.run(["grub-editenv", str(env), "list"], capture_output=True, text=True, check=True)
    assert listed.stdout == "k=v\n"  # what GRUB's own reader makes of it
    assert EnvBlock(env.read_bytes()).as_dict() == {"k": "v"}


def test_refusals_name_the_file():
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grubenv import parse

    with pytest.raises(BootConfigError) as err:
        parse(b"kernelopts=ro\n")
    assert str(err.value) == "grubenv: not a GRUB environment block (no '# GRUB Environment Block' header)"
    with pytest.raises(BootConfigError) as err:
        parse(SIGNATURE + b"k=v" + b"#" * 20, "/boot/grub2/grubenv")
    assert str(err.value) == "/boot/grub2/grubenv: broken GRUB environment block (no newline before the # padding)"
    assert parse(block(b"k=v\n"), "/x").path == "/x"


def test_the_writer_records_its_time_in_milliseconds(tmp_path):
    env = tmp_path / "grubenv"
    env.write_bytes(block(b"kernelopts=ro\n"))
    commands = []
    ran = lambda argv: _command_runner.Result(argv, 0, "", "", False, 0.0123456, 0)  # noqa: E731
    editenv_writer("grub-editenv", str(env), "kernelopts", "ro")(ran, commands)
    assert commands == [{"cmd": ["grub-editenv", str(env), "set", "kernelopts=ro"], "rc": 0, "seconds": 0.012}]


def test_the_writer_reads_back_at_most_one_mebibyte(tmp_path):
    # a tool that left a block of 1 MiB + 1 byte (a valid block, the value set): refused unread
    env = tmp_path / "grubenv"
    data = SIGNATURE + b"kernelopts=ro\n"
    env.write_bytes(data + b"#" * (1024 * 1024 + 1 - len(data)))
    with pytest.raises(OSError) as err:
        editenv_writer("grub-editenv", str(env), "kernelopts", "ro")(answer(0, "", ""), [])
    assert err.value.errno == errno.EFBIG
    env.write_bytes(data + b"#" * (1024 * 1024 - len(data)))  # exactly 1 MiB: read
    editenv_writer("grub-editenv", str(env), "kernelopts", "ro")(answer(0, "", ""), [])


def test_a_tool_that_broke_the_block_is_named(tmp_path):
    env = tmp_path / "grubenv"
    env.write_bytes(b"garbage")
    with pytest.raises(BootConfigError) as err:
        editenv_writer("grub-editenv", str(env), "kernelopts", "ro")(answer(0, "", ""), [])
    assert str(err.value) == f"{env}: not a GRUB environment block (no '# GRUB Environment Block' header)"
