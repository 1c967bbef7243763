"""kernel_cmdline module behaviour: validation, check mode, atomic writes, backups,
regeneration (command choice, restore on failure, checks of the generated config), grubby.

Regeneration here runs small stand-in scripts placed in the scratch root, because the real
tools must never run against this machine's /boot; ``chroot_problem`` is patched so the
stand-ins run directly (the real grub-mkconfig runs in tests/integration inside a private
mount namespace).

grubby could NOT be run: it is not packaged in Debian. ``fake_grubby`` reimplements the
argument handling of upstream grubby-bls (rhboot/grubby ``update_args``: ``--remove-args``
removes the first ``NAME[^ ]*`` match per name, ``--args`` replaces ``key=...`` or appends,
``echo ${args}`` squeezes blanks) on the scratch entries, so what is tested is the argv the
module builds and the checks it makes afterwards, not RHEL's grubby binary itself.
"""

import os
import re
import stat
import sys

import pytest
from skip_policy import missing
from test_kernel_cmdline_support import copy_case, run_module, tree_state, write

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import atomic_write as _atomic_write
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import bls as _bls
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import detect as _detect
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults as _grub_defaults
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import bls as _bls_backends
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as _grub_backend
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import (
    systemd_boot as _systemd_boot_backend,
)

GRUB_MAIN = os.path.join("etc", "default", "grub")


def fake_update_grub(root, body):
    write(os.path.join(root, "usr", "sbin", "update-grub"), "#!/bin/sh\n" + body, 0o755)
    # the kernel grub_cfg()'s entries boot (the module checks the default entry's image exists)
    write(os.path.join(root, "boot", "vmlinuz-6.1.0-28-amd64"), "MZ fake kernel image\n")


def mkconfig_like(root, cfg):
    """An update-grub stand-in that does what matters of grub-mkconfig + 10_linux: source the
    GRUB defaults the module just wrote (main file, then grub.d/*.cfg) and write one normal
    entry (GRUB_CMDLINE_LINUX + GRUB_CMDLINE_LINUX_DEFAULT) and one recovery entry (single +
    GRUB_CMDLINE_LINUX). What the test then finds in grub.cfg comes from the module's edit."""
    etc = os.path.join(root, "etc", "default")
    body = (
        "set -e\n"
        f". '{etc}/grub'\n"
        f'for x in \'{etc}/grub.d\'/*.cfg; do if [ -e "$x" ]; then . "$x"; fi; done\n'
        f"cat > '{cfg}' <<EOF\n"
        "### BEGIN /etc/grub.d/10_linux ###\n"
        "menuentry 'Debian GNU/Linux' {\n"
        "\tlinux\t/boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 ro ${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}\n"
        "}\n"
        "menuentry 'Debian GNU/Linux (recovery mode)' {\n"
        "\tlinux\t/boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 ro single ${GRUB_CMDLINE_LINUX}\n"
        "}\n"
        "### END /etc/grub.d/10_linux ###\n"
        "EOF\n"
    )
    fake_update_grub(root, body)


def linux_lines(cfg):
    with open(cfg) as f:
        return [line.split(None, 2)[2].split() for line in f if line.strip().startswith("linux")]


def grub_cfg(lines):
    out = ["### BEGIN /etc/grub.d/00_header ###", "set default=0", "### END /etc/grub.d/00_header ###"]
    out.append("### BEGIN /etc/grub.d/10_linux ###")
    for args in lines:
        out += [
            "menuentry 'Debian GNU/Linux' {",
            f"\tlinux\t/boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 ro {args}",
            "}",
        ]
    out.append("### END /etc/grub.d/10_linux ###")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- validation / check mode
@pytest.mark.parametrize(
    "params",
    [
        {"params": {"vmscape": "ibpb; reboot"}},
        {"params": {"vmscape": "$(reboot)"}},
        {"params": {"vmscape": False}},
        {"params": {"vmscape": "bhb"}},
        {"params": {"console": "tty0 quiet"}},
        {"params": {"console": "ttyS0\nquiet"}},
        {"remove": ["vm scape"]},
    ],
)
@pytest.mark.parametrize("check_mode", [False, True])
def test_bad_input_is_refused_before_anything_is_touched(params, check_mode, tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    before = tree_state(root)
    res, failed = run_module(dict(params, root=root), check_mode=check_mode)
    assert failed
    assert res["files"] == [] and res["backend"] is None
    assert tree_state(root) == before


def test_check_mode_creates_nothing(tmp_path):
    root = copy_case("no-main-file", tmp_path)
    before = tree_state(root)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    assert not failed and res["changed"]
    assert res["files"] == [os.path.join(root, _grub_defaults.DROPIN.lstrip("/"))]
    assert res["diff"][0]["before_header"] == "/dev/null"
    assert tree_state(root) == before


def test_missing_root_and_unknown_layout(tmp_path):
    res, failed = run_module({"root": str(tmp_path / "nope"), "params": {"vmscape": "ibpb"}})
    assert failed and "not a directory" in res["msg"]
    res, failed = run_module({"root": str(tmp_path), "params": {"vmscape": "ibpb"}})
    assert failed and "no supported boot configuration" in res["msg"]


def test_leftover_loader_conf_does_not_hide_grub(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    write(os.path.join(root, "boot", "efi", "loader", "loader.conf"), "timeout 3\n")
    backend, reason = _detect.detect(root)
    assert backend == "grub" and "loader.conf exists too" in reason
    write(os.path.join(root, "etc", "kernel", "cmdline"), "root=/dev/vda1 ro\n")
    assert _detect.detect(root)[0] == "systemd-boot"


def test_dropin_masked_with_dev_null_is_empty(tmp_path):
    root = copy_case("ubuntu2404-cloudimg", tmp_path)
    masked = os.path.join(root, "etc", "default", "grub.d", "50-cloudimg-settings.cfg")
    os.remove(masked)
    os.symlink(os.devnull, masked)  # resolved inside root: a dangling link, skipped like [ -e ]
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    assert not failed and res["previous_cmdline"] == "quiet splash"
    os.remove(masked)
    os.makedirs(os.path.join(root, "dev"))
    os.mknod(os.path.join(root, "dev", "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.symlink("/dev/null", masked)  # inside root, like on the host
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    assert not failed and res["previous_cmdline"] == "quiet splash"


def test_forced_backend_is_used(tmp_path):
    root = copy_case("el9-bls", tmp_path)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}, "backend": "grub"}, check_mode=True)
    assert not failed
    assert res["backend"] == "grub" and res["backend_reason"] == "forced"
    assert [os.path.relpath(p, root) for p in res["files"]] == [GRUB_MAIN]


# --------------------------------------------------------------------------- atomic writes and backups
def test_owner_mode_and_selinux_context_are_kept(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    path = os.path.join(root, GRUB_MAIN)
    os.chown(path, 65534, 65534)
    os.chmod(path, 0o640)
    context = b"system_u:object_r:bootloader_etc_t:s0\x00"
    try:
        os.setxattr(path, "security.selinux", context)
    except OSError:
        missing("this filesystem does not store security.selinux (extended attributes in the security namespace)")
    inode = os.stat(path).st_ino
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}})
    assert not failed and res["changed"]
    st = os.stat(path)
    assert st.st_ino != inode  # replaced by rename, not rewritten in place
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)
    assert os.getxattr(path, "security.selinux") == context
    backup = res["backups"][path]
    assert re.fullmatch(re.escape(path) + r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~", backup)
    assert os.getxattr(backup, "security.selinux") == context
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o640


def test_fresh_file_has_no_context_so_the_test_above_can_fail(tmp_path):
    p = tmp_path / "f"
    p.write_text("x")
    with pytest.raises(OSError):
        os.getxattr(str(p), "security.selinux")


def test_backup_false_makes_no_copies(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}, "backup": False})
    assert not failed and res["changed"] and res["backups"] == {}
    assert sorted(os.listdir(os.path.join(root, "etc", "default"))) == ["grub"]


def test_snapshot_restore_removes_new_files_and_restores_old(tmp_path):
    d = tmp_path / "entries"
    d.mkdir()
    (d / "a.conf").write_text("old")
    snap = _atomic_write.Snapshot()
    snap.add_glob(str(d), "*.conf")
    snap.add_file(str(tmp_path / "absent"))
    (d / "a.conf").write_text("new")
    (d / "b.conf").write_text("created")
    (tmp_path / "absent").write_text("created")
    assert snap.changed_paths() == sorted([str(d / "a.conf"), str(d / "b.conf"), str(tmp_path / "absent")])
    errors, removed, left = snap.restore()
    assert errors == [] and left == []
    assert removed == sorted([str(d / "b.conf"), str(tmp_path / "absent")])
    assert sorted(os.listdir(d)) == ["a.conf"] and (d / "a.conf").read_text() == "old"
    assert not (tmp_path / "absent").exists()


# --------------------------------------------------------------------------- regeneration
def test_regeneration_runs_and_its_output_is_checked(tmp_path, direct_regen):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    cfg = os.path.join(root, "boot", "grub", "grub.cfg")
    os.makedirs(os.path.dirname(cfg))
    mkconfig_like(root, cfg)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}})
    assert not failed, res["msg"]
    assert res["regenerated"] is True
    assert res["regenerate_commands"] == [[os.path.join(root, "usr/sbin/update-grub")]]
    assert res["regenerated_files"] == [cfg]
    assert [os.path.relpath(p, root) for p in res["files"]] == [GRUB_MAIN]
    # the case has GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 vmscape=off": both
    # entries now carry vmscape=ibpb once, in place of vmscape=off, the other tokens in order
    rest = ["root=/dev/vda1", "ro"]
    assert linux_lines(cfg) == [
        [*rest, "console=tty0", "console=ttyS0,115200n8", "vmscape=ibpb"],
        [*rest, "single", "console=tty0", "console=ttyS0,115200n8", "vmscape=ibpb"],
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("echo 'grub-probe: error: disk not found' >&2\necho partial > {cfg}.new\nexit 1\n", "disk not found"),
        ("cat > {cfg} <<'EOF'\n{lines}EOF\n", "vmscape occurs 0 times"),
    ],
    ids=["command-fails", "output-lacks-parameter"],
)
def test_failed_regeneration_restores_everything(tmp_path, direct_regen, body, message):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    cfg = os.path.join(root, "boot", "grub", "grub.cfg")
    write(cfg, "old generated config\n", 0o444)
    fake_update_grub(root, body.format(cfg=cfg, lines=grub_cfg(["console=ttyS0"])))
    before = tree_state(root)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}})
    assert failed
    assert message in res["msg"] and "every file was restored" in res["msg"]
    assert tree_state(root) == before  # grub.cfg, grub.cfg.new, /etc/default/grub, no backups left


def test_stale_generated_config_is_regenerated_without_file_changes(tmp_path, direct_regen):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    run_module({"root": root, "params": {"vmscape": "ibpb"}, "regenerate": False})
    cfg = os.path.join(root, "boot", "grub", "grub.cfg")
    write(cfg, grub_cfg(["console=ttyS0"]))
    mkconfig_like(root, cfg)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}})
    assert not failed
    assert res["files"] == [] and res["regenerated"] and res["changed"]
    assert [line.count("vmscape=ibpb") for line in linux_lines(cfg)] == [1, 1]
    assert any("out of date" in n for n in res["notes"])
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}})
    assert not failed and not res["changed"]


def test_regenerate_false_warns_with_the_command(tmp_path, direct_regen):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    fake_update_grub(root, "exit 0\n")
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}, "regenerate": False})
    assert not failed and res["changed"] and not res["regenerated"]
    assert any("takes effect after" in w and "update-grub" in w for w in res["warnings"])


def test_other_root_without_mounts_skips_regeneration_with_a_reason(tmp_path):
    root = copy_case("debian12-serial-vmscape-off", tmp_path)
    fake_update_grub(root, "exit 1\n")
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}})
    assert not failed and res["changed"] and not res["regenerated"]
    assert "not prepared for chroot" in res["regenerate_skipped"]
    assert any("not regenerated" in w for w in res["warnings"])


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        (["update-grub", "grub-mkconfig"], ["update-grub"]),
        (["grub-mkconfig"], ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]),
        (["grub2-mkconfig"], ["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]),
    ],
)
def test_grub_regeneration_command_is_chrooted_for_another_root(tmp_path, monkeypatch, tools, expected):
    monkeypatch.setattr(_grub_backend, "chroot_problem", lambda root: None)
    root = copy_case("debian12-default", tmp_path)
    for t in tools:
        write(os.path.join(root, "usr", "sbin", t), "#!/bin/sh\n", 0o755)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    assert not failed
    assert res["regenerate_commands"] == [["chroot", root, *expected]]


def test_el9_regenerates_bls_cmdline_and_never_the_efi_stub(tmp_path, monkeypatch):
    monkeypatch.setattr(_grub_backend, "chroot_problem", lambda root: None)
    root = copy_case("el9-bls", tmp_path)
    write(os.path.join(root, "usr", "sbin", "grub2-mkconfig"), "#!/bin/sh\n# ... --update-bls-cmdline ...\n", 0o755)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    assert not failed
    assert res["regenerate_commands"] == [
        ["chroot", root, "grub2-mkconfig", "-o", "/boot/grub2/grub.cfg", "--update-bls-cmdline"]
    ]
    # /boot/grub2/grub.cfg pointing at the EFI stub: refused rather than overwriting the stub
    os.remove(os.path.join(root, "boot", "grub2", "grub.cfg"))
    os.symlink("../efi/EFI/rocky/grub.cfg", os.path.join(root, "boot", "grub2", "grub.cfg"))
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    assert failed and "EFI stub" in res["msg"]


def test_el8_efi_config_on_the_esp_is_the_target(tmp_path, monkeypatch):
    monkeypatch.setattr(_grub_backend, "chroot_problem", lambda root: None)
    root = copy_case("el8-kernelopts", tmp_path)
    write(os.path.join(root, "usr", "sbin", "grub2-mkconfig"), "#!/bin/sh\n", 0o755)
    write(os.path.join(root, "boot", "efi", "EFI", "rocky", "grub.cfg"), "### BEGIN /etc/grub.d/10_linux ###\nblscfg\n")
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    assert not failed
    assert res["regenerate_commands"] == [["chroot", root, "grub2-mkconfig", "-o", "/boot/efi/EFI/rocky/grub.cfg"]]


def test_systemd_boot_regeneration_commands(tmp_path, monkeypatch):
    monkeypatch.setattr(_systemd_boot_backend, "chroot_problem", lambda root: None)
    root = copy_case("debian12-sdboot-multiline", tmp_path)
    write(os.path.join(root, "usr", "bin", "kernel-install"), "#!/bin/sh\n", 0o755)
    for k in ("6.1.0-28-amd64", "6.1.0-31-amd64"):
        os.makedirs(os.path.join(root, "lib", "modules", k))
        write(os.path.join(root, "boot", f"vmlinuz-{k}"), "")
    write(os.path.join(root, "boot", "initrd.img-6.1.0-31-amd64"), "")
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    assert not failed
    assert res["regenerate_commands"] == [
        ["chroot", root, "kernel-install", "add", "6.1.0-28-amd64", "/boot/vmlinuz-6.1.0-28-amd64"],
        [
            "chroot",
            root,
            "kernel-install",
            "add",
            "6.1.0-31-amd64",
            "/boot/vmlinuz-6.1.0-31-amd64",
            "/boot/initrd.img-6.1.0-31-amd64",
        ],
    ]


def test_proxmox_regenerates_with_proxmox_boot_tool(tmp_path, monkeypatch):
    monkeypatch.setattr(_systemd_boot_backend, "chroot_problem", lambda root: None)
    root = copy_case("proxmox8-sdboot-zfs", tmp_path)
    write(os.path.join(root, "usr", "sbin", "proxmox-boot-tool"), "#!/bin/sh\n", 0o755)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}}, check_mode=True)
    assert not failed
    assert res["regenerate_commands"] == [["chroot", root, "proxmox-boot-tool", "refresh"]]


def test_systemd_boot_entries_are_checked_after_regeneration(tmp_path, direct_regen):
    root = copy_case("debian12-sdboot-multiline", tmp_path)
    os.makedirs(os.path.join(root, "lib", "modules", "6.1.0-28-amd64"))
    write(os.path.join(root, "boot", "vmlinuz-6.1.0-28-amd64"), "MZ fake kernel image\n")
    entry = os.path.join(root, "boot/efi/loader/entries/4c4e1b2a7d8f4e3c9b0a1f2e3d4c5b6a-6.1.0-28-amd64.conf")
    esp_kernel = os.path.join(root, "boot/efi/4c4e1b2a7d8f4e3c9b0a1f2e3d4c5b6a/6.1.0-28-amd64")
    # a kernel-install stand-in that copies the kernel to the ESP (90-loaderentry does) and
    # /etc/kernel/cmdline into the entry
    body = (
        f"mkdir -p {esp_kernel} && cp {root}/boot/vmlinuz-6.1.0-28-amd64 {esp_kernel}/linux\n"
        f'opts=$(tr -s "$IFS" " " < {root}/etc/kernel/cmdline)\nsed -i "s|^options .*|options    $opts|" {entry}\n'
    )
    write(os.path.join(root, "usr", "sbin", "kernel-install"), "#!/bin/sh\n" + body, 0o755)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}})
    assert not failed, res["msg"]
    assert res["regenerated"] and entry in res["regenerated_files"]
    with open(entry) as f:
        assert "vmscape=ibpb quiet" in f.read()


# --------------------------------------------------------------------------- grubby (stand-in)
FAKE_GRUBBY = r'''#!{python}
"""Stand-in for upstream grubby-bls --update-kernel=ALL --args/--remove-args (see module doc)."""
import glob, os, re, sys
root = os.environ["FAKE_GRUBBY_ROOT"]
args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
assert args.get("--update-kernel") == "ALL", sys.argv
if os.environ.get("FAKE_GRUBBY_FAIL"):
    sys.stderr.write("grubby: The param ALL is incorrect\n")
    sys.exit(1)
for path in glob.glob(os.path.join(root, "boot/loader/entries/*.conf")):
    lines = open(path).read().split("\n")
    for i, line in enumerate(lines):
        if not line.startswith("options"):
            continue
        opts = line.split(None, 1)[1] if " " in line else ""
        for name in args.get("--remove-args", "").split():
            opts = re.sub(re.escape(name) + r"[^ ]*", "", opts, count=1)
        for arg in args.get("--args", "").split():
            key = arg.split("=", 1)[0]
            if "=" in arg and (key + "=") in opts:
                opts = re.sub(re.escape(key) + r"=[^ ]*", arg, opts, count=1)
            elif arg not in opts:
                opts = opts + " " + arg
        lines[i] = "options " + " ".join(opts.split())
    open(path, "w").write("\n".join(lines))
'''


@pytest.fixture
def fake_grubby(tmp_path, monkeypatch):
    path = tmp_path / "grubby"
    path.write_text(FAKE_GRUBBY.format(python=sys.executable))
    path.chmod(0o755)
    monkeypatch.setattr(_bls_backends, "grubby_tool", lambda root, backend: str(path) if backend == "grubby" else None)
    return str(path)


@pytest.mark.parametrize("case", ["el9-bls", "el9-bls-one-entry-modified", "fedora40-bls"])
@pytest.mark.parametrize(
    ("params", "argv_tail"), [({"params": {"vmscape": "ibpb"}}, None), ({"remove": ["vmscape"]}, None)]
)
def test_grubby_path(case, params, argv_tail, tmp_path, fake_grubby, monkeypatch):
    root = copy_case(case, tmp_path)
    monkeypatch.setenv("FAKE_GRUBBY_ROOT", root)
    res, failed = run_module(dict(params, root=root))
    assert not failed, res["msg"]
    grubby_cmds = [c["cmd"] for c in res["commands"] if c["cmd"][0] == fake_grubby]
    modified = case == "el9-bls-one-entry-modified"
    if "params" in params:
        want = [fake_grubby, "--update-kernel=ALL"] + (["--remove-args=vmscape"] if modified else [])
        assert grubby_cmds == [[*want, "--args=vmscape=ibpb"]]
    elif modified:
        assert grubby_cmds == [[fake_grubby, "--update-kernel=ALL", "--remove-args=vmscape"]]
    else:
        assert grubby_cmds == []  # nothing to remove anywhere
    for e in _bls.read_entries(root):
        toks = e.options_text.split()
        assert toks.count("vmscape=ibpb") == (1 if "params" in params else 0)
        assert not [t for t in toks if t.startswith("vmscape=") and t != "vmscape=ibpb"]
    res, failed = run_module(dict(params, root=root))
    assert not failed and not res["changed"]


def test_grubby_not_used_when_its_substring_match_would_mangle_a_token(tmp_path, fake_grubby, monkeypatch):
    root = copy_case("el9-bls", tmp_path)
    monkeypatch.setenv("FAKE_GRUBBY_ROOT", root)
    entries = os.path.join(root, "boot", "loader", "entries")
    for name in os.listdir(entries):
        p = os.path.join(entries, name)
        with open(p) as f:
            text = f.read()
        with open(p, "w") as f:
            f.write(text.replace(" rhgb", " rd.vmscape_debug=1 rhgb"))
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}})
    assert not failed
    assert not [c for c in res["commands"] if c["cmd"][0] == fake_grubby]
    assert any("grubby not used" in n and "rd.vmscape_debug=1" in n for n in res["notes"])
    for e in _bls.read_entries(root):
        assert "rd.vmscape_debug=1" in e.options_text.split()


def test_grubby_failure_restores_every_file(tmp_path, fake_grubby, monkeypatch):
    root = copy_case("el9-bls-one-entry-modified", tmp_path)
    monkeypatch.setenv("FAKE_GRUBBY_ROOT", root)
    monkeypatch.setenv("FAKE_GRUBBY_FAIL", "1")
    before = tree_state(root)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}})
    assert failed and "The param ALL is incorrect" in res["msg"]
    assert tree_state(root) == before  # /etc/default/grub and /etc/kernel/cmdline were written first


def test_grubby_is_never_used_for_kernelopts_entries(tmp_path, fake_grubby, monkeypatch):
    root = copy_case("el8-kernelopts", tmp_path)
    monkeypatch.setenv("FAKE_GRUBBY_ROOT", root)
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}, "backend": "grubby"})
    assert not failed
    assert not [c for c in res["commands"] if c["cmd"][0] == fake_grubby]
    assert any("$kernelopts" in n for n in res["notes"])
