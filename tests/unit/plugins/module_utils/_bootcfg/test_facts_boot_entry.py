"""Next-boot kernel: GRUB menus with submenus and grubenv, BLS ordering, systemd-boot, fallbacks.

The menu is read by _bootcfg (grub_cfg, grubenv, bls, loader, menu); the facts' fallbacks are
_facts.next_boot; the backend the facts report is the one detector (_bootcfg.detect).
"""

import pytest
from facts_fixtures import debian_grub_cfg, grubenv, write

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.detect import detect
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_cfg import (
    grub_words,
    parse,
    resolve_default,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grubenv import EnvBlock
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.menu import release_from_image
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.next_boot import find_boot_kernel

UUID = "5c7f5a8e-3f0e-4f52-9a49-1d2f5c0d7e11"
CMD_56 = f"root=UUID={UUID} ro console=ttyS0,115200 quiet"


def debian_root(tmp_path, default="0", env=None, images=("6.1.0-56-amd64", "6.1.0-55-amd64"), grub_dir="boot/grub"):
    write(tmp_path, f"{grub_dir}/grub.cfg", debian_grub_cfg(default))
    write(tmp_path, f"{grub_dir}/grubenv", grubenv(**(env or {})))
    for rel in images:
        write(tmp_path, f"boot/vmlinuz-{rel}", b"x")
    return str(tmp_path)


def test_words_quotes_escapes_and_variables():
    env = {"a": "A", "vt_handoff": "vt.handoff=7"}
    assert grub_words("linux /vmlinuz 'x y' \"q $a\" b\\ c $vt_handoff $unset", env) == [
        "linux",
        "/vmlinuz",
        "x y",
        "q A",
        "b c",
        "vt.handoff=7",
    ]
    assert grub_words('set default="${saved_entry}"', None) == ["set", "default=${saved_entry}"]
    assert grub_words("menuentry 'T' $menuentry_id_option 'id-1' {", {"menuentry_id_option": "--id"})[-3:] == [
        "--id",
        "id-1",
        "{",
    ]
    assert grub_words("  # a comment", {}) == []


def test_grubenv_parse():
    env = EnvBlock(grubenv(saved_entry="1>2", next_entry="")).as_dict()
    assert env == {"saved_entry": "1>2", "next_entry": ""}


def test_menu_tree_and_resolution():
    cfg = parse(debian_grub_cfg("0"))
    tree = cfg.tree
    assert [v for v, _l in cfg.defaults] == ["${next_entry}", "0"]
    assert cfg.blscfg_at is None
    top = [(n.kind, n.title) for n in tree.children if n.kind in ("menuentry", "submenu")]
    assert top == [("menuentry", "Debian GNU/Linux"), ("submenu", "Advanced options for Debian GNU/Linux")]
    assert resolve_default(tree, "1>2").linux == "/boot/vmlinuz-6.1.0-55-amd64"
    assert resolve_default(tree, "1") is None  # a submenu is not bootable
    assert resolve_default(tree, "7") is None


@pytest.mark.parametrize(
    "default",
    [
        "1>2",
        f"gnulinux-advanced-{UUID}>gnulinux-6.1.0-55-amd64-advanced-{UUID}",
        "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-55-amd64",
    ],
)
def test_grub_default_by_index_id_title(tmp_path, default):
    boot, loader, warnings = find_boot_kernel(debian_root(tmp_path, default), "6.1.0-56-amd64")
    assert boot == {
        "release": "6.1.0-55-amd64",
        "source": "grub_cfg",
        "image": "/boot/vmlinuz-6.1.0-55-amd64",
        "source_reason": None,
    }
    assert loader == {"configured_cmdline": CMD_56 + " mitigations=off", "configured_cmdline_reason": None}
    assert warnings == []
    assert detect(str(tmp_path))[0] == "grub"  # a generated grub.cfg without GRUB defaults


def test_grub_default_0(tmp_path):
    boot, loader, _w = find_boot_kernel(debian_root(tmp_path), None)
    assert boot["release"] == "6.1.0-56-amd64" and boot["source"] == "grub_cfg"
    assert loader["configured_cmdline"] == CMD_56


def test_grub_saved_entry(tmp_path):
    root = debian_root(tmp_path, "${saved_entry}", {"saved_entry": f"gnulinux-advanced-{UUID}>1"})
    boot, _l, _w = find_boot_kernel(root, None)
    assert boot["release"] == "6.1.0-56-amd64"  # 1 = the 6.1.0-56 recovery entry
    assert boot["source"] == "grubenv_saved"


def test_grub_saved_entry_empty_means_first(tmp_path):
    boot, _l, _w = find_boot_kernel(debian_root(tmp_path, "${saved_entry}"), None)
    assert boot["release"] == "6.1.0-56-amd64" and boot["source"] == "grub_cfg"


def test_grub_next_entry_is_one_shot_and_wins(tmp_path):
    root = debian_root(tmp_path, "0", {"next_entry": "1>2", "saved_entry": "0"})
    boot, _l, warnings = find_boot_kernel(root, None)
    assert boot["release"] == "6.1.0-55-amd64" and boot["source"] == "grubenv_saved"
    assert any("one-shot next_entry=1>2" in w for w in warnings)


def test_grub_unknown_default_falls_back_to_first(tmp_path):
    boot, _l, warnings = find_boot_kernel(debian_root(tmp_path, "Debian GNU/Linux, with Linux 6.1.0-55-amd64"), None)
    assert boot["release"] == "6.1.0-56-amd64"
    assert any("not found; GRUB falls back to the first entry" in w for w in warnings)


def test_grub2_dir_and_separate_boot_partition(tmp_path):
    cfg = debian_grub_cfg("0").replace("linux\t/boot/vmlinuz-", "linux\t/vmlinuz-")
    write(tmp_path, "boot/grub2/grub.cfg", cfg)
    write(tmp_path, "boot/vmlinuz-6.1.0-56-amd64", b"x")
    boot, _l, _w = find_boot_kernel(str(tmp_path), None)
    assert boot["image"] == "/boot/vmlinuz-6.1.0-56-amd64"


def test_grub_image_missing_keeps_release(tmp_path):
    root = debian_root(tmp_path, images=())
    boot, _l, warnings = find_boot_kernel(root, None)
    assert boot["release"] == "6.1.0-56-amd64" and boot["image"] is None
    assert any("not found" in w for w in warnings)


def test_ubuntu_vt_handoff_expanded(tmp_path):
    cfg = debian_grub_cfg("0").replace(
        "terminal_output serial", 'if [ "${gfxpayload}" ]; then\n  set vt_handoff=vt.handoff=7\nfi'
    )
    cfg = cfg.replace("console=ttyS0,115200 quiet\n", "quiet splash $vt_handoff\n", 1)
    write(tmp_path, "boot/grub/grub.cfg", cfg)
    _b, loader, _w = find_boot_kernel(str(tmp_path), None)
    assert loader["configured_cmdline"] == f"root=UUID={UUID} ro quiet splash vt.handoff=7"


def bls(root, name, version, options, title=None):
    write(
        root,
        f"boot/loader/entries/{name}.conf",
        f"title {title or version}\nversion {version}\nlinux /vmlinuz-{version}\ninitrd /initramfs-{version}.img\n"
        f"options {options}\n",
    )
    write(root, f"boot/vmlinuz-{version}", b"x")


BLS_CFG = 'set default="${saved_entry}"\ninsmod blscfg\nblscfg\n'


def test_bls_sorted_newest_first(tmp_path):
    write(tmp_path, "boot/grub2/grub.cfg", BLS_CFG)
    write(tmp_path, "boot/grub2/grubenv", grubenv())
    for v in ("5.14.0-427.el9.x86_64", "5.14.0-570.el9.x86_64", "5.14.0-503.el9.x86_64"):
        bls(tmp_path, f"mid-{v}", v, "root=/dev/sda2 ro")
    boot, loader, _w = find_boot_kernel(str(tmp_path), None)
    assert boot == {
        "release": "5.14.0-570.el9.x86_64",
        "source": "bls",
        "image": "/boot/vmlinuz-5.14.0-570.el9.x86_64",
        "source_reason": None,
    }
    assert loader == {"configured_cmdline": "root=/dev/sda2 ro", "configured_cmdline_reason": None}
    assert detect(str(tmp_path))[0] == "grubby"
    # index 2 = the oldest
    write(tmp_path, "boot/grub2/grubenv", grubenv(saved_entry="2"))
    boot, _l, _w = find_boot_kernel(str(tmp_path), None)
    assert boot["release"] == "5.14.0-427.el9.x86_64" and boot["source"] == "grubenv_saved"


def test_bls_saved_entry_id_and_kernelopts(tmp_path):
    write(tmp_path, "boot/grub2/grub.cfg", 'set kernelopts="root=/dev/fallback ro"\n' + BLS_CFG)
    write(
        tmp_path,
        "boot/grub2/grubenv",
        grubenv(saved_entry="mid-4.18.0-553.el8_10.x86_64", kernelopts="root=/dev/mapper/rl-root ro quiet"),
    )
    bls(tmp_path, "mid-4.18.0-553.el8_10.x86_64", "4.18.0-553.el8_10.x86_64", "$kernelopts $tuned_params")
    bls(tmp_path, "mid-4.18.0-560.el8_10.x86_64", "4.18.0-560.el8_10.x86_64", "$kernelopts")
    boot, loader, _w = find_boot_kernel(str(tmp_path), None)
    assert boot["release"] == "4.18.0-553.el8_10.x86_64" and boot["source"] == "grubenv_saved"
    assert loader == {"configured_cmdline": "root=/dev/mapper/rl-root ro quiet", "configured_cmdline_reason": None}
    assert detect(str(tmp_path))[0] == "grubenv"


def test_systemd_boot_default_glob(tmp_path):
    write(tmp_path, "efi/loader/loader.conf", "timeout 3\ndefault debian-6.1.0-*\n")
    for rel in ("6.1.0-56-amd64", "6.12.117+deb12-amd64"):
        write(
            tmp_path,
            f"efi/loader/entries/debian-{rel}.conf",
            f"title Debian\nversion {rel}\nlinux /mid/{rel}/linux\noptions root=/dev/vda1 ro\n",
        )
        write(tmp_path, f"efi/mid/{rel}/linux", b"x")
    boot, loader, _w = find_boot_kernel(str(tmp_path), None)
    assert boot == {
        "release": "6.1.0-56-amd64",
        "source": "systemd_boot",
        "image": "/efi/mid/6.1.0-56-amd64/linux",
        "source_reason": None,
    }
    assert loader == {"configured_cmdline": "root=/dev/vda1 ro", "configured_cmdline_reason": None}
    assert detect(str(tmp_path))[0] == "systemd-boot"
    write(tmp_path, "efi/loader/loader.conf", "timeout 3\n")
    boot, _l, _w = find_boot_kernel(str(tmp_path), None)
    assert boot["release"] == "6.12.117+deb12-amd64"  # newest first without a default


def test_systemd_boot_entry_without_options_uses_etc_kernel_cmdline(tmp_path):
    write(tmp_path, "boot/loader/loader.conf", "default @saved\n")
    write(tmp_path, "boot/loader/entries/a.conf", "title A\nlinux /vmlinuz-6.12.117+deb12-amd64\n")
    write(tmp_path, "etc/kernel/cmdline", "root=/dev/vda1 ro  vmscape=ibpb\n")
    boot, loader, warnings = find_boot_kernel(str(tmp_path), None)
    assert boot["release"] == "6.12.117+deb12-amd64"
    assert loader["configured_cmdline"] == "root=/dev/vda1 ro vmscape=ibpb"
    assert any("@saved" in w for w in warnings)
    # the default lives in EFI variables: the first entry is a guess, and the facts say so
    assert "default @saved is kept in EFI variables" in boot["source_reason"]


def test_newest_installed_fallback(tmp_path):
    for name in ("vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-56-amd64", "vmlinuz-0-rescue-abc", "vmlinuz-6.1.0-99.old"):
        write(tmp_path, "boot/" + name, b"x")
    boot, loader, _w = find_boot_kernel(str(tmp_path), "6.1.0-9-amd64")
    assert boot["source_reason"].startswith("no boot loader configuration found (/boot/grub/grub.cfg; ")
    assert boot["source_reason"].endswith(": guessed the newest installed kernel")
    del boot["source_reason"]
    assert boot == {"release": "6.1.0-56-amd64", "source": "newest_installed", "image": "/boot/vmlinuz-6.1.0-56-amd64"}
    assert loader["configured_cmdline"] is None
    assert loader["configured_cmdline_reason"].startswith("no boot loader configuration found")
    write(tmp_path, "usr/lib/modules/7.3.4+deb13-amd64/vmlinuz", b"x")
    boot, _l, _w = find_boot_kernel(str(tmp_path), None)
    assert boot["image"] == "/usr/lib/modules/7.3.4+deb13-amd64/vmlinuz"


def test_running_fallback(tmp_path):
    boot, _l, _w = find_boot_kernel(str(tmp_path), "6.18.44-fc")
    assert boot["source_reason"].endswith("and no installed kernel image found: assumed the running kernel")
    assert (boot["release"], boot["source"], boot["image"]) == ("6.18.44-fc", "running", None)
    boot, _l, _w = find_boot_kernel(str(tmp_path), None)
    assert (boot["release"], boot["source"], boot["image"]) == (None, None, None)
    assert "the running kernel is unknown" in boot["source_reason"]


def test_symlinks_resolved_inside_root(tmp_path):
    write(tmp_path, "boot/vmlinuz-6.1.0-56-amd64", b"x")
    (tmp_path / "boot" / "grub").mkdir()
    # absolute link in a snapshot must point into the snapshot, not to the host's /boot
    (tmp_path / "boot" / "grub" / "grub.cfg").symlink_to("/boot/real.cfg")
    write(tmp_path, "boot/real.cfg", debian_grub_cfg("0"))
    boot, _l, _w = find_boot_kernel(str(tmp_path), None)
    assert boot["source"] == "grub_cfg" and boot["release"] == "6.1.0-56-amd64"


@pytest.mark.parametrize(
    ("path", "rel"),
    [
        ("/boot/vmlinuz-6.1.0-56-amd64", "6.1.0-56-amd64"),
        ("(hd0,gpt2)/vmlinuz-5.14.0-570.el9.x86_64", "5.14.0-570.el9.x86_64"),
        ("/usr/lib/modules/7.3.4+deb13-amd64/vmlinuz", "7.3.4+deb13-amd64"),
        ("/abc/6.12.1/linux", "6.12.1"),
        ("/boot/bzImage", None),
        (None, None),
    ],
)
def test_release_from_image(path, rel):
    assert release_from_image(path) == rel


def test_saved_default_without_grubenv_is_a_guess(tmp_path):
    """GRUB_DEFAULT=saved: the entry is in grubenv; without it the next boot is not known."""
    root = debian_root(tmp_path, "${saved_entry}")
    (tmp_path / "boot/grub/grubenv").unlink()
    boot, _l, _w = find_boot_kernel(root, None)
    assert boot["release"] == "6.1.0-56-amd64"  # what GRUB does without grubenv: entry 0 ...
    assert boot["source_reason"] == (
        "/boot/grub/grub.cfg takes the default entry from saved_entry in /boot/grub/grubenv, which is absent"
    )  # ... but a pinned older kernel cannot be ruled out


def test_absent_grubenv_rules_out_a_one_shot_entry(tmp_path):
    """grub-reboot writes next_entry into grubenv: no grubenv, no one-shot entry."""
    root = debian_root(tmp_path, "0")
    (tmp_path / "boot/grub/grubenv").unlink()
    boot, _l, _w = find_boot_kernel(root, None)
    assert (boot["release"], boot["source_reason"]) == ("6.1.0-56-amd64", None)


def test_unreadable_grubenv_leaves_the_one_shot_entry_unknown(tmp_path):
    root = debian_root(tmp_path, "0")
    env = tmp_path / "boot/grub/grubenv"
    env.unlink()
    env.mkdir()  # read() fails with EISDIR, as any unreadable file would
    boot, _l, warnings = find_boot_kernel(root, None)
    assert boot["source_reason"] == (
        "/boot/grub/grub.cfg honours a one-shot next_entry from grubenv, which cannot be read"
        " (/boot/grub/grubenv: Is a directory)"
    )
    assert "/boot/grub/grubenv: Is a directory" in warnings


def test_el8_kernelopts_without_grubenv_is_unknown_not_empty(tmp_path):
    write(tmp_path, "boot/grub2/grub.cfg", BLS_CFG)
    bls(tmp_path, "mid-4.18.0-553.el8_10.x86_64", "4.18.0-553.el8_10.x86_64", "$kernelopts $tuned_params")
    boot, loader, _w = find_boot_kernel(str(tmp_path), None)
    assert loader["configured_cmdline"] is None
    assert loader["configured_cmdline_reason"] == (
        "BLS entry mid-4.18.0-553.el8_10.x86_64 takes $kernelopts, $tuned_params from /boot/grub2/grubenv,"
        " which is absent"
    )
    assert "saved_entry in /boot/grub2/grubenv, which is absent" in boot["source_reason"]


def test_bls_entries_without_grub_cfg_are_not_systemd_boot(tmp_path):
    """RHEL's /boot/loader/entries belong to GRUB (blscfg): with grub.cfg gone the next boot is a
    guess, not systemd-boot's first entry (systemd-boot is recognised by its loader.conf). The
    configuration is still grubby's (what kernel_cmdline would change), not systemd-boot's."""
    for v in ("5.14.0-503.el9.x86_64", "5.14.0-570.el9.x86_64"):
        bls(tmp_path, f"mid-{v}", v, "root=/dev/sda2 ro")
    boot, loader, _w = find_boot_kernel(str(tmp_path), "5.14.0-570.el9.x86_64")
    assert boot["source"] == "newest_installed" and loader["configured_cmdline"] is None
    assert "guessed the newest installed kernel" in boot["source_reason"]
    assert detect(str(tmp_path))[0] == "grubby"
