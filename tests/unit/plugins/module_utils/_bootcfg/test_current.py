"""What each backend's boot configuration gives the default entry now (``_bootcfg.current``), on
roots written by hand (found by `make mutation`: only the end-to-end tests reached it).

GRUB defaults as Debian ships them; BLS entries as RHEL writes them (EL9: literal options; EL8:
``options $kernelopts`` with kernelopts in grubenv, a 1024-byte block as grub-editenv writes it);
/etc/kernel/cmdline as kernel-install reads it.
"""

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import current
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError

MID = "3f1b5a7c9d2e4f60a1b2c3d4e5f60718"


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def grubenv_block(*lines):
    body = "# GRUB Environment Block\n" + "".join(line + "\n" for line in lines)
    return body + "#" * (1024 - len(body))


def bls_entry(root, version, options):
    write(
        root,
        f"boot/loader/entries/{MID}-{version}.conf",
        f"title Rocky Linux ({version})\nversion {version}\nlinux /vmlinuz-{version}\noptions {options}\n",
    )


def test_grub_gives_both_variables_in_order(tmp_path):
    write(tmp_path, "etc/default/grub", 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0 ro"\n')
    assert current.tokens(str(tmp_path), "grub") == (["console=ttyS0", "ro", "quiet"], [])


@pytest.mark.parametrize("backend", ["grubby", "grubenv"])
def test_bls_backends_give_the_default_entrys_options_expanded(tmp_path, backend):
    bls_entry(tmp_path, "5.14.0-503.el9.x86_64", "root=/dev/mapper/rl-root ro crashkernel=1G-4G:192M")
    bls_entry(tmp_path, "5.14.0-570.el9.x86_64", "$kernelopts vmscape=ibpb")
    write(tmp_path, "boot/grub2/grubenv", grubenv_block("kernelopts=root=/dev/mapper/rl-root ro"))
    # the newest entry is the default when grubenv names none
    assert current.tokens(str(tmp_path), backend) == (["root=/dev/mapper/rl-root", "ro", "vmscape=ibpb"], [])
    write(tmp_path, "boot/grub2/grubenv", grubenv_block("saved_entry=" + MID + "-5.14.0-503.el9.x86_64"))
    with pytest.raises(BootConfigError) as err:  # one entry uses $kernelopts, grubenv lacks it
        current.tokens(str(tmp_path), backend)
    assert str(err.value) == (
        f"the BLS entries use $kernelopts but {tmp_path}/boot/grub2/grubenv has no kernelopts (grub.cfg's "
        "fallback would apply); run grub2-mkconfig first"
    )


def test_bls_without_entries_is_refused_naming_the_directory(tmp_path):
    (tmp_path / "boot/loader/entries").mkdir(parents=True)
    with pytest.raises(BootConfigError) as err:
        current.tokens(str(tmp_path), "grubby")
    assert str(err.value) == f"no BLS entries in /boot/loader/entries under {tmp_path}"


def test_systemd_boot_gives_kernel_installs_command_line_and_where_it_came_from(tmp_path):
    write(tmp_path, "usr/lib/kernel/cmdline", "root=/dev/vda2\n  quiet\n")
    assert current.tokens(str(tmp_path), "systemd-boot") == (
        ["root=/dev/vda2", "quiet"],
        ["/etc/kernel/cmdline created from /usr/lib/kernel/cmdline"],
    )
    write(tmp_path, "etc/kernel/cmdline", "root=/dev/vda3 rw\n")
    assert current.tokens(str(tmp_path), "systemd-boot") == (["root=/dev/vda3", "rw"], [])


def test_an_unknown_backend_is_refused(tmp_path):
    with pytest.raises(BootConfigError) as err:
        current.tokens(str(tmp_path), "lilo")
    assert str(err.value) == "unknown boot configuration backend 'lilo'"
