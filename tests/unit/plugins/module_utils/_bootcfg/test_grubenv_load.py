"""Where grubenv is read and what a caller learns about it (``_bootcfg.grubenv.load``), every field
of the answer written out by hand (found by `make mutation`).

Blocks are written as grub-editenv writes them: the ``# GRUB Environment Block`` header, one
``name=value`` line per variable, ``#`` padding to the block's size (1024 bytes). Debian on UEFI
may link /boot/grub/grubenv to the ESP; the link is followed inside the root.
"""

import os

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grubenv

HEADER = "# GRUB Environment Block\n"
ESP = "boot/efi/EFI/debian/grubenv"


def block(size=1024, **variables):
    body = HEADER + "".join(f"{k}={v}\n" for k, v in variables.items())
    return body + "#" * (size - len(body))


def answer(env):
    return (env.host_path, env.real_path, env.resolved, env.vars, env.absent, env.why, env.readable)


def test_without_grub_directory_the_el_place_is_named_absent(tmp_path):
    assert answer(grubenv.load(str(tmp_path))) == (
        "/boot/grub2/grubenv",
        f"{tmp_path}/boot/grub2/grubenv",
        "/boot/grub2/grubenv",
        None,
        True,
        "/boot/grub2/grubenv: No such file or directory",
        False,
    )


def test_grubenv_is_read_from_grubs_directory_through_a_link_or_from_the_one_given(tmp_path):
    (tmp_path / "boot/grub").mkdir(parents=True)
    (tmp_path / "boot/grub/grub.cfg").write_text("")
    assert answer(grubenv.load(str(tmp_path)))[:2] == ("/boot/grub/grubenv", f"{tmp_path}/boot/grub/grubenv")
    (tmp_path / ESP).parent.mkdir(parents=True)
    (tmp_path / ESP).write_text(block(saved_entry="gnulinux-6.1.0-28"))
    os.symlink("../efi/EFI/debian/grubenv", tmp_path / "boot/grub/grubenv")
    env = grubenv.load(str(tmp_path))
    assert answer(env) == (
        "/boot/grub/grubenv",
        f"{tmp_path}/{ESP}",
        "/" + ESP,
        {"saved_entry": "gnulinux-6.1.0-28"},
        False,
        None,
        True,
    )
    assert env.block.get("saved_entry") == "gnulinux-6.1.0-28"
    assert answer(grubenv.load(str(tmp_path), "/boot/efi/EFI/debian"))[:3] == (
        "/" + ESP,
        f"{tmp_path}/{ESP}",
        "/" + ESP,
    )


def test_what_is_not_a_block_is_named_with_the_path_grub_opens(tmp_path):
    (tmp_path / "boot/grub").mkdir(parents=True)
    (tmp_path / "boot/grub/grub.cfg").write_text("")
    (tmp_path / ESP).parent.mkdir(parents=True)
    os.symlink("../efi/EFI/debian/grubenv", tmp_path / "boot/grub/grubenv")
    where = ("/boot/grub/grubenv", f"{tmp_path}/{ESP}", "/" + ESP, None, False)
    (tmp_path / ESP).write_text(block(size=1024 * 1024, saved_entry="1"))  # exactly the bound: read
    assert grubenv.load(str(tmp_path)).vars == {"saved_entry": "1"}
    (tmp_path / ESP).write_text(block(size=1024 * 1024 + 1))
    assert answer(grubenv.load(str(tmp_path))) == (
        *where,
        "/boot/grub/grubenv: larger than 1048576 bytes, not a GRUB environment block",
        False,
    )
    (tmp_path / ESP).write_text("saved_entry=1\n")
    assert answer(grubenv.load(str(tmp_path))) == (
        *where,
        "/boot/grub/grubenv: not a GRUB environment block (no '# GRUB Environment Block' header)",
        False,
    )
    (tmp_path / ESP).unlink()
    (tmp_path / ESP).mkdir()
    assert answer(grubenv.load(str(tmp_path))) == (*where, "/boot/grub/grubenv: Is a directory", False)
