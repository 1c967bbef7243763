"""Pieces of the boot-config editor no test reached before `make mutation`.

- backends.bls.check_entries: the check of the BLS entries after ``grub2-mkconfig --update-bls-cmdline``
  (the EL9 regeneration). The grubenv is written by the real grub-editenv.
- Request.describe / set_for, CmdlineToken equality, last_value.
"""

import subprocess

import pytest
from skip_policy import needs_root, needs_tool
from test_kernel_cmdline_support import run_module

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.bls import check_entries
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.detect import detect
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import (
    FileChange,
    Plan,
    diff_entry,
    unified_diff,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import (
    build_request,
    edit_segments,
    edit_text,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import CmdlineToken, last_value, tokenize

SET = build_request({"vmscape": "ibpb"}, [])
REMOVE = build_request({}, ["vmscape"])


def bls_root(tmp_path, entries, kernelopts=None):
    d = tmp_path / "boot" / "loader" / "entries"
    d.mkdir(parents=True)
    for name, text in entries.items():
        (d / name).write_text(text)
    if kernelopts is not None:
        env = tmp_path / "boot" / "grub2" / "grubenv"
        env.parent.mkdir(parents=True)
        subprocess.run(["grub-editenv", str(env), "create"], check=True)
        subprocess.run(["grub-editenv", str(env), "set", f"kernelopts={kernelopts}"], check=True)
    return str(tmp_path), str(d)


@needs_tool("grub-editenv", "grub-common")
def test_bls_entries_expanded_with_grubenv_pass(tmp_path):
    root, _d = bls_root(
        tmp_path,
        {"a-5.14.conf": "title a\nlinux /a\noptions $kernelopts\n", "b-5.14.conf": "linux /b\noptions ${kernelopts}\n"},
        kernelopts="root=/dev/vda2 ro vmscape=ibpb",
    )
    assert check_entries(root, SET) == []
    assert check_entries(root, REMOVE) == [
        f"{root}/boot/loader/entries/b-5.14.conf: vmscape still occurs 1 times",
        f"{root}/boot/loader/entries/a-5.14.conf: vmscape still occurs 1 times",
    ]


@needs_tool("grub-editenv", "grub-common")
def test_bls_each_wrong_entry_is_named(tmp_path):
    root, d = bls_root(
        tmp_path,
        {
            "1-a.conf": "linux /a\noptions $kernelopts vmscape=ibpb\n",  # twice once expanded
            "2-b.conf": "linux /b\noptions root=/dev/vda2 vmscape=force\n",
            "3-c.conf": "linux /c\noptions root=/dev/vda2 quiet\n",
            "4-d.conf": "title no options line: not checked\nlinux /d\n",
            "5-e.conf": "linux /e\noptions root=/dev/vda2 vmscape=ibpb\n",
        },
        kernelopts="vmscape=ibpb",
    )
    # newest first (blscfg's order): by version, then id, reversed
    assert check_entries(root, SET) == [
        f"{d}/3-c.conf: vmscape occurs 0 times (want exactly once)",
        f"{d}/2-b.conf: vmscape has the value 'force' (want 'ibpb')",
        f"{d}/1-a.conf: vmscape occurs 2 times (want exactly once)",
    ]


def test_bls_without_grubenv_expands_variables_to_nothing(tmp_path):
    root, d = bls_root(tmp_path, {"a.conf": "linux /a\noptions $kernelopts vmscape=ibpb\n"})
    assert check_entries(root, SET) == []
    assert check_entries(root, build_request({"quiet": None}, [])) == [
        f"{d}/a.conf: quiet occurs 0 times (want exactly once)"
    ]


def test_request_describe_and_set_for():
    r = build_request({"vmscape": "ibpb", "nosmt": None, "spec-rstack-overflow": "ibpb"}, ["mitigations", "vm-x"])
    assert r.describe() == "vmscape=ibpb nosmt spec-rstack-overflow=ibpb -mitigations -vm-x"
    assert r.set_for("vmscape") == ("vmscape", "ibpb")
    assert r.set_for("spec_rstack_overflow") == ("spec-rstack-overflow", "ibpb")
    assert r.set_for("nosmt") == ("nosmt", None)
    assert r.set_for("mitigations") is None
    assert build_request({}, ["vmscape"]).describe() == "-vmscape"


def test_cmdline_token_equality_is_by_raw_text():
    a, b, c = tokenize('vmscape=ibpb vmscape=ibpb vmscape="ibpb"')[0]
    assert a == b and hash(a) == hash(b) and a is not b
    assert a != c and c.value == a.value  # same meaning, other spelling: another token
    assert a != "vmscape=ibpb"
    assert len({a, b, c}) == 2
    assert repr(c) == "CmdlineToken('vmscape=\"ibpb\"')"
    assert CmdlineToken("x", "x", None) == CmdlineToken("x", "y", "z")


def test_last_value_is_the_last_one():
    toks, _init = tokenize("vmscape=off quiet vmscape=force vmscape=ibpb")
    assert last_value(toks, "vmscape") == "ibpb"
    assert last_value(toks, "mitigations", default="auto") == "auto"
    assert last_value(tokenize("a=1 a=2")[0], "a") == "2"


@needs_tool("grub-editenv", "grub-common")
def test_an_empty_env_block_is_one_grub_editenv_accepts(tmp_path):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grubenv import EnvBlock, parse

    data = EnvBlock.empty().to_bytes()
    assert len(data) == 1024  # GRUB's env block size (grub-editenv create writes 1024 bytes too)
    env = tmp_path / "env"
    env.write_bytes(data)
    assert subprocess.run(["grub-editenv", str(env), "list"], capture_output=True, text=True, check=True).stdout == ""
    subprocess.run(["grub-editenv", str(env), "set", "kernelopts=ro quiet"], check=True)
    assert len(env.read_bytes()) == 1024
    assert parse(env.read_bytes()).get("kernelopts") == "ro quiet"


def test_edit_text_home_or_not():
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import edit_text

    # the home segment gets a missing parameter; another segment only loses a conflicting one
    assert edit_text("quiet", SET) == ("quiet vmscape=ibpb", ["quiet"], ["quiet", "vmscape=ibpb"])
    assert edit_text("quiet", SET, home=False) == ("quiet", ["quiet"], ["quiet"])
    assert edit_text("quiet vmscape=off", SET, home=False) == ("quiet", ["quiet", "vmscape=off"], ["quiet"])


def test_commands_run_through_chroot_only_for_another_root():
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.commands import command_for_root

    argv = ["update-grub"]
    assert command_for_root("/", argv) == ["update-grub"] and command_for_root("/", argv) is not argv
    assert command_for_root("/srv/root/", ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]) == [
        "chroot",
        "/srv/root/",
        "grub-mkconfig",
        "-o",
        "/boot/grub/grub.cfg",
    ]


@needs_root("the chroot check answers only for root")
def test_chroot_problem_as_root():
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import commands as _commands

    # / has /proc, /sys and /dev mounted; /dev is a mount point itself but has none of them
    assert _commands.chroot_problem("/") is None
    assert _commands.chroot_problem("/dev") == (
        "/dev is not prepared for chroot (/proc, /sys, /dev not mounted there); regenerate inside it "
        "(chroot /dev <command>) after mounting them"
    )


def test_chroot_problem_without_root(monkeypatch):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import commands as _commands

    monkeypatch.setattr(_commands.os, "geteuid", lambda: 1000)
    assert _commands.chroot_problem("/") == "chroot needs root privileges"


def test_update_bls_cmdline_support_is_read_from_grub2_mkconfig(tmp_path):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.grub import (
        supports_update_bls_cmdline,
    )

    assert supports_update_bls_cmdline(str(tmp_path)) is False  # no grub2-mkconfig at all
    tool = tmp_path / "usr" / "sbin" / "grub2-mkconfig"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\n# options: -o FILE\n")
    tool.chmod(0o755)
    assert supports_update_bls_cmdline(str(tmp_path)) is False
    tool.write_text("#!/bin/sh\n    --update-bls-cmdline)\n")
    assert supports_update_bls_cmdline(str(tmp_path)) is True


def test_grubby_hazard_names_the_entry_and_the_token(tmp_path):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.bls import _grubby_hazard
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.bls import read_entries

    root, d = bls_root(tmp_path, {"a.conf": "linux /a\noptions ro novmscape=1\n", "b.conf": "linux /b\noptions ro\n"})
    entries = read_entries(root)
    assert _grubby_hazard(entries, SET) == f"{d}/a.conf: 'novmscape=1' contains 'vmscape'"
    assert _grubby_hazard(entries, REMOVE) == f"{d}/a.conf: 'novmscape=1' contains 'vmscape'"
    assert _grubby_hazard(entries, build_request({"quiet": None}, [])) is None


def test_grubby_is_only_for_the_grubby_backend_on_the_real_root(monkeypatch):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import bls as _bls

    calls = []
    # stands in for a host that has /usr/sbin/grubby (Debian has no grubby package)
    monkeypatch.setattr(_bls, "find_tool", lambda root, names: calls.append((root, names)) or "/usr/sbin/grubby")
    assert _bls.grubby_tool("/", "grubby") == "/usr/sbin/grubby"
    assert calls == [("/", ("grubby",))]
    assert _bls.grubby_tool("/", "grubenv") is None
    assert _bls.grubby_tool("/srv/root", "grubby") is None
    assert calls == [("/", ("grubby",))]


@needs_tool("grub-editenv", "grub-common")
def test_bls_entries_with_bytes_that_are_not_utf8_are_edited_byte_exactly(tmp_path):
    root, _d = bls_root(tmp_path, {"a.conf": "linux /a\noptions ro\n"}, kernelopts="ro")
    entry = tmp_path / "boot" / "loader" / "entries" / "a.conf"
    entry.write_bytes(b"title Caf\xe9\nlinux /a\noptions ro\n")
    res, failed = run_module({"root": root, "params": {"vmscape": "ibpb"}, "backend": "grubby"})
    assert not failed, res["msg"]
    assert entry.read_bytes() == b"title Caf\xe9\nlinux /a\noptions ro vmscape=ibpb\n"


# --------------------------------------------------------------------------- detection (found by make mutation)
GRUB_REASON = "/etc/default/grub (GRUB defaults, update-grub/grub-mkconfig)"
KERNELOPTS = "options $kernelopts $tuned_params\n"


def tree(tmp_path, files):
    for rel, text in files.items():
        p = tmp_path / rel
        if rel.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
    return str(tmp_path)


@pytest.mark.parametrize(
    ("files", "want"),
    [
        (
            {"etc/kernel/proxmox-boot-uuids": "1\n", "etc/kernel/cmdline": "ro\n", "etc/default/grub": ""},
            ("systemd-boot", "/etc/kernel/proxmox-boot-uuids and /etc/kernel/cmdline (Proxmox proxmox-boot-tool)"),
        ),
        ({"etc/kernel/proxmox-boot-uuids": "1\n", "etc/default/grub": ""}, ("grub", GRUB_REASON)),
        (
            {"boot/efi/loader/loader.conf": "", "etc/kernel/cmdline": "ro\n", "etc/default/grub": ""},
            ("systemd-boot", "/boot/efi/loader/loader.conf (systemd-boot)"),
        ),
        ({"efi/loader/loader.conf": ""}, ("systemd-boot", "/efi/loader/loader.conf (systemd-boot)")),
        (
            {"boot/loader/loader.conf": "", "etc/default/grub": ""},
            ("grub", GRUB_REASON + "; /boot/loader/loader.conf exists too: force backend=systemd-boot if the host "
             "boots with it"),
        ),
        (
            {"boot/loader/loader.conf": "", "boot/grub2/": "", "boot/loader/entries/a.conf": "options ro\n"},
            ("grubby", "BLS entries in /boot/loader/entries (RHEL 9 / Fedora style, grubby)"),
        ),
        (
            {"boot/loader/loader.conf": "", "boot/grub/": "", "boot/loader/entries/a.conf": KERNELOPTS},
            ("grubenv", "BLS entries in /boot/loader/entries use $kernelopts (RHEL 8 style grubenv)"),
        ),
        (
            # entries, but no GRUB directory: loader.conf says systemd-boot
            {"boot/loader/loader.conf": "", "boot/loader/entries/a.conf": "options ro\n"},
            ("systemd-boot", "/boot/loader/loader.conf (systemd-boot)"),
        ),
        ({"etc/default/grub.d/50-cloudimg-settings.cfg": ""}, ("grub", GRUB_REASON)),
        ({"etc/kernel/cmdline": "ro\n", "boot/loader/entries/README": ""}, ("systemd-boot",
                                                                             "/etc/kernel/cmdline (kernel-install)")),
    ],
    ids=["proxmox", "proxmox-grub", "loader-and-cmdline", "loader-only", "loader-leftover", "bls-grubby",
         "bls-kernelopts", "loader-with-entries", "grub-d-only", "kernel-install"],
)  # fmt: skip
def test_detect_names_the_backend_and_why(tmp_path, files, want):
    assert detect(tree(tmp_path, files)) == want


def test_detect_without_any_boot_configuration(tmp_path):
    root = tree(tmp_path, {"etc/default/grub.d/README": "", "boot/loader/entries/notes.txt": ""})
    with pytest.raises(BootConfigError) as err:
        detect(root)
    assert str(err.value) == (
        f"no supported boot configuration under {root}: looked for /etc/default/grub[.d], "
        "/boot/loader/entries/*.conf, loader/loader.conf, /etc/kernel/cmdline and grub.cfg"
    )


# --------------------------------------------------------------------------- requests
@pytest.mark.parametrize(
    ("params", "remove", "message"),
    [
        (["vmscape"], [], "params must be a dictionary of kernel parameter names to values"),
        ({}, "vmscape", "remove must be a list of kernel parameter names"),
        (
            {"vmscape": True},
            [],
            "params.vmscape: got the boolean True; YAML turns unquoted on/off/yes/no/true/false into booleans. "
            'Quote the value, e.g. vmscape: "on"',
        ),
        (
            {"vmscape": False},
            [],
            "params.vmscape: got the boolean False; YAML turns unquoted on/off/yes/no/true/false into booleans. "
            'Quote the value, e.g. vmscape: "off"',
        ),
        ({"bad name": "x"}, [], "params: invalid kernel parameter name 'bad name'"),
        ({"BOOT_IMAGE": "/vmlinuz"}, [], "params: BOOT_IMAGE is written by the boot loader itself; refusing to set it"),
        (
            {"vmscape": "yes"},
            [],
            "params: vmscape=yes is not a value the kernel accepts (allowed: off, ibpb, force, on, auto)",
        ),
        ({"spec-rstack-overflow": "off", "spec_rstack_overflow": "ibpb"}, [],
         "params: spec-rstack-overflow and spec_rstack_overflow are the same kernel parameter"),
        ({}, ["ok", "bad name"], "remove: invalid kernel parameter name 'bad name'"),
        ({"vmscape": "ibpb"}, ["vmscape"], "vmscape is both in params and in remove"),
        ({}, [], "nothing to do: give params and/or remove"),
    ],
)  # fmt: skip
def test_requests_are_refused_with_the_reason(params, remove, message):
    with pytest.raises(BootConfigError) as err:
        build_request(params, remove)
    assert str(err.value) == message


# --------------------------------------------------------------------------- diffs
def test_unified_diff_of_a_change_a_new_file_and_a_removal():
    assert unified_diff("/etc/default/grub", b"a\nb\n", b"a\nc") == (
        "--- /etc/default/grub (before)\n+++ /etc/default/grub (after)\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
        "\\ No newline at end of file\n"
    )
    assert unified_diff("/etc/kernel/cmdline", None, b"ro\n") == (
        "--- /dev/null\n+++ /etc/kernel/cmdline (after)\n@@ -0,0 +1 @@\n+ro\n"
    )
    assert unified_diff("/x.cfg", b"x\n", None) == "--- /x.cfg (before)\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    assert unified_diff("/x", b"same\n", b"same\n") == ""


def test_diff_entries_for_ansible_diff_mode():
    assert diff_entry("/etc/default/grub", b"a\n", b"b \xff\n") == {
        "before_header": "/etc/default/grub",
        "after_header": "/etc/default/grub",
        "before": "a\n",
        "after": "b \udcff\n",
    }
    assert diff_entry("/etc/kernel/cmdline", None, b"ro\n") == {
        "before_header": "/dev/null",
        "after_header": "/etc/kernel/cmdline",
        "before": "",
        "after": "ro\n",
    }
    assert diff_entry("/x", b"x\n", None)["after_header"] == "/dev/null"


# --------------------------------------------------------------------------- the token rules' blanks
@pytest.mark.parametrize(
    ("text", "request_", "want"),
    [
        ("ro  vmscape=off quiet", REMOVE, "ro quiet"),  # takes the blanks before it
        ("vmscape=off  quiet", REMOVE, "quiet"),  # at the start: the blanks after it
        ("vmscape=off quiet", REMOVE, "quiet"),
        ("  vmscape=off quiet", REMOVE, "  quiet"),  # the segment's own indentation stays
        ("ro vmscape=off vmscape=auto", REMOVE, "ro"),
        ("vmscape=off", REMOVE, ""),
        ("  ", SET, "  vmscape=ibpb"),  # no token: appended after the blanks
        ("ro -- single", SET, "ro vmscape=ibpb -- single"),
    ],
)
def test_edit_text_blanks(text, request_, want):
    assert edit_text(text, request_)[0] == want


def test_edit_segments_without_tokens_appends_to_the_last_segment():
    assert edit_segments([], SET) == (["vmscape=ibpb"], [], ["vmscape=ibpb"])
    assert edit_segments(["", ""], SET)[0] == ["", "vmscape=ibpb"]


def test_predicted_changes_are_the_changing_file_steps_and_what_commands_predict():
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Command

    same = FileChange("/a", b"x", b"x")
    new = FileChange("/b", None, b"y")
    by_cmd = FileChange("/c", b"1", b"2")
    plan = Plan("grub", "/")
    plan.steps += [same, new, Command(["grubby"], "grubby", predicted=[FileChange("/d", b"", b""), by_cmd])]
    assert plan.predicted_changes() == [new, by_cmd]
    assert plan.changes_files is True
