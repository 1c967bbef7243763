"""The GRUB environment block against the real grub-editenv (grub-common).

Our writer must produce exactly the bytes grub-editenv writes (the grubenv backend uses the
tool when installed and this code otherwise, and check/diff mode always uses this code).
"""

import shutil
import subprocess

import pytest
from skip_policy import needs_tool

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grubenv import SIGNATURE, EnvBlock

EDITENV = shutil.which("grub-editenv")
needs_editenv = needs_tool("grub-editenv", "grub-common")


def editenv(path, *args):
    return subprocess.run([EDITENV, str(path), *args], capture_output=True, text=True, check=True).stdout


KERNELOPTS = "root=/dev/mapper/rl-root ro crashkernel=auto rhgb quiet "


@needs_editenv
@pytest.mark.parametrize(
    ("setup", "name", "value"),
    [
        ([f"kernelopts={KERNELOPTS}", "saved_entry=abc"], "kernelopts", KERNELOPTS + "vmscape=ibpb"),  # longer
        ([f"kernelopts={KERNELOPTS}vmscape=off", "x=1"], "kernelopts", KERNELOPTS.strip()),  # shorter
        (["saved_entry=abc"], "kernelopts", "root=/dev/sda1 ro  "),  # new, trailing blanks
        (["a=1", "b=2", "c=3"], "b", ""),  # empty value in the middle
        (["a=1"], "weird", "back\\slash and\nnewline"),  # escaping
        ([], "tuned_params", "skew_tick=1 nohz=on"),
    ],
)
def test_set_is_byte_identical_to_grub_editenv(tmp_path, setup, name, value):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    editenv(theirs, "create")
    if setup:
        editenv(theirs, "set", *setup)
    ours.write_bytes(theirs.read_bytes())
    block = EnvBlock(ours.read_bytes(), str(ours))
    block.set(name, value)
    editenv(theirs, "set", f"{name}={value}")
    assert block.to_bytes() == theirs.read_bytes()
    assert len(block.to_bytes()) == 1024
    listed = editenv(theirs, "list")
    assert f"{name}={value}\n" in listed
    assert EnvBlock(theirs.read_bytes()).get(name) == value


@needs_editenv
@pytest.mark.parametrize("size", [512, 1000, 2048])
def test_block_size_is_kept_like_grub_editenv(tmp_path, size):
    data = SIGNATURE + b"saved_entry=x\nkernelopts=a b \n"
    data += b"#" * (size - len(data))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    theirs.write_bytes(data)
    editenv(theirs, "set", "kernelopts=a c")
    block = EnvBlock(data)
    block.set("kernelopts", "a c")
    assert block.to_bytes() == theirs.read_bytes()
    assert len(theirs.read_bytes()) == size
    ours.write_bytes(block.to_bytes())


@needs_editenv
def test_items_match_grub_editenv_list(tmp_path):
    env = tmp_path / "env"
    editenv(env, "create")
    editenv(env, "set", "a=1", "kernelopts=x  y ", "z=back\\slash", "n=l1\nl2")
    block = EnvBlock(env.read_bytes())
    # grub-editenv list prints the raw escaped line body as it unescapes it
    assert dict(block.items()) == {"a": "1", "kernelopts": "x  y ", "z": "back\\slash", "n": "l1\nl2"}
    assert "kernelopts=x  y \n" in editenv(env, "list")


def test_refuses_what_is_not_an_environment_block():
    with pytest.raises(BootConfigError, match="not a GRUB environment block"):
        EnvBlock(b"kernelopts=x\n" + b"#" * 1011, "/boot/grub2/grubenv")
    with pytest.raises(BootConfigError, match="broken"):
        EnvBlock(SIGNATURE + b"kernelopts=x" + b"#" * 10, "/boot/grub2/grubenv")


def test_refuses_when_the_block_is_full():
    block = EnvBlock.empty(64)
    with pytest.raises(BootConfigError, match="no room"):
        block.set("kernelopts", "x" * 100)


def test_refuses_a_variable_defined_twice():
    data = SIGNATURE + b"kernelopts=a\nkernelopts=b\n"
    block = EnvBlock(data + b"#" * (1024 - len(data)))
    assert block.get("kernelopts") == "b"  # load_env: the later line wins
    with pytest.raises(BootConfigError, match="defined 2 times"):
        block.set("kernelopts", "c")
