"""The GRUB defaults editor's exact edits and the check of the generated grub.cfg (found by
`make mutation`: the post-regeneration check and the blank/continuation handling had no test
that could fail).

Edits: a removed token takes the blanks before it with it (else the blanks after it); a
continuation line that holds only the token is deleted whole. Every edited file is also sourced
by the real /bin/sh (dash_values) to prove the effective value is the old one minus the token.
"""

import os

import pytest
from test_kernel_cmdline_support import dash_values, run_module

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.grub import check_grub_cfg, linux_lines
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_cfg import target as grub_cfg_target
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import Request, build_request

REMOVE = {"remove": ["vmscape"]}


def edit(tmp_path, text, args=REMOVE):
    root = tmp_path / "root"
    (root / "etc" / "default").mkdir(parents=True)
    (root / "etc" / "default" / "grub").write_text(text)
    res, failed = run_module({"root": str(root), **args})
    return str(root), res, failed


@pytest.mark.parametrize(
    ("before", "after", "linux"),
    [
        ('GRUB_CMDLINE_LINUX="a vmscape=off b"\n', 'GRUB_CMDLINE_LINUX="a b"\n', "a b"),
        ('GRUB_CMDLINE_LINUX="vmscape=off a"\n', 'GRUB_CMDLINE_LINUX="a"\n', "a"),
        ('GRUB_CMDLINE_LINUX="vmscape=off"\n', 'GRUB_CMDLINE_LINUX=""\n', ""),
        ('GRUB_CMDLINE_LINUX=" vmscape=off"\n', 'GRUB_CMDLINE_LINUX=""\n', ""),
        ('GRUB_CMDLINE_LINUX="a  vmscape=off  b"\n', 'GRUB_CMDLINE_LINUX="a  b"\n', "a  b"),
        ('GRUB_CMDLINE_LINUX="a\tvmscape=off"\n', 'GRUB_CMDLINE_LINUX="a"\n', "a"),
        (
            'GRUB_CMDLINE_LINUX="a \\\n\tvmscape=off \\\n\tb"\n',
            'GRUB_CMDLINE_LINUX="a \\\n\tb"\n',
            "a \tb",
        ),
        ('GRUB_CMDLINE_LINUX="a\\\n vmscape=off\\\n b"\n', 'GRUB_CMDLINE_LINUX="a\\\n b"\n', "a b"),
        ('X=vmscape=off\nGRUB_CMDLINE_LINUX="a $X"\n', 'X=\nGRUB_CMDLINE_LINUX="a $X"\n', "a "),
        ("GRUB_CMDLINE_LINUX=\"a \"'vmscape=off'\n", "GRUB_CMDLINE_LINUX=\"a \"''\n", "a "),
    ],
)
def test_removal_edits_exactly(tmp_path, before, after, linux):
    root, res, failed = edit(tmp_path, before)
    assert not failed, res["msg"]
    with open(os.path.join(root, "etc", "default", "grub")) as f:
        assert f.read() == after
    assert dash_values(root, tmp_path)[0] == linux


def test_a_continuation_without_blanks_joins_words_and_is_left_alone(tmp_path):
    # "a\<nl>vmscape=off\<nl>b" is the one word "avmscape=offb" for the shell: nothing to remove
    text = 'GRUB_CMDLINE_LINUX="a\\\nvmscape=off\\\nb"\n'
    root, res, failed = edit(tmp_path, text)
    assert not failed and not res["changed"]
    assert dash_values(root, tmp_path)[0] == "avmscape=offb"


def test_a_token_built_from_quotes_is_refused_naming_its_line(tmp_path):
    root, res, failed = edit(
        tmp_path, 'GRUB_CMDLINE_LINUX_DEFAULT=quiet\n\nGRUB_CMDLINE_LINUX="a \\\n b vm"scape=off\n'
    )
    assert failed
    assert res["msg"] == (
        f"{root}/etc/default/grub:4: the token 'vmscape=off' of GRUB_CMDLINE_LINUX is built from quotes, escapes "
        "or variables; refusing to edit it automatically, change it by hand"
    )


DEBIAN_CFG = """### BEGIN /etc/grub.d/00_header ###
set default="0"
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/10_linux ###
menuentry 'Debian GNU/Linux' --class debian {
\tlinux\t/boot/vmlinuz-6.1.0-28-amd64 root=UUID=x ro console=ttyS0 vmscape=ibpb quiet
}
submenu 'Advanced options for Debian GNU/Linux' {
\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-28-amd64 (recovery mode)' {
\t\tlinux\t/boot/vmlinuz-6.1.0-28-amd64 root=UUID=x ro single console=ttyS0 vmscape=ibpb
\t}
\tmenuentry 'old' {
\t\tlinux16\t/boot/vmlinuz-5.10.0-1-amd64
\t}
}
### END /etc/grub.d/10_linux ###

### BEGIN /etc/grub.d/40_custom ###
menuentry 'custom' {
\tlinux /boot/vmlinuz-custom vmscape=off
}
### END /etc/grub.d/40_custom ###
"""


def test_linux_lines_of_the_10_linux_section_only():
    assert linux_lines(DEBIAN_CFG.encode(), "grub.cfg") == [
        (7, ["root=UUID=x", "ro", "console=ttyS0", "vmscape=ibpb", "quiet"]),
        (11, ["root=UUID=x", "ro", "single", "console=ttyS0", "vmscape=ibpb"]),
        (14, []),
    ]
    assert linux_lines(b"menuentry 'x' {\n linux /vmlinuz vmscape=off\n}\n", "grub.cfg") is None
    efi = (
        "### BEGIN /etc/grub.d/10_linux ###\nmenuentry 'e' {\nlinuxefi /vmlinuz a\nlinux\n}\n"
        "### END /etc/grub.d/10_linux ###\n"
    )
    assert linux_lines(efi.encode(), "grub.cfg") == [(3, ["a"])]


def write_cfg(tmp_path, text):
    path = tmp_path / "grub.cfg"
    path.write_text(text)
    return str(path)


def test_check_of_the_generated_config(tmp_path):
    set_ibpb = build_request({"vmscape": "ibpb"}, [])
    path = write_cfg(tmp_path, DEBIAN_CFG)
    assert check_grub_cfg(path, set_ibpb) == ([f"{path}:14: vmscape occurs 0 times (want exactly once)"], [])
    assert check_grub_cfg(path, build_request({}, ["vmscape"])) == (
        [f"{path}:7: vmscape still occurs 1 times", f"{path}:11: vmscape still occurs 1 times"],
        [],
    )
    missing = str(tmp_path / "absent.cfg")
    assert check_grub_cfg(missing, set_ibpb) == ([f"{missing} was not written"], [])
    bls = write_cfg(tmp_path, "insmod blscfg\nblscfg\n")
    assert check_grub_cfg(bls, set_ibpb) == (
        [],
        [f"{bls} has no 10_linux section (BLS or custom); its entries were not checked"],
    )
    empty = write_cfg(tmp_path, "### BEGIN /etc/grub.d/10_linux ###\n### END /etc/grub.d/10_linux ###\n")
    assert check_grub_cfg(empty, set_ibpb) == (
        [],
        [f"{empty} has no Linux entries (no kernel installed?); nothing to check"],
    )


def test_a_restore_may_leave_some_entries_without_the_parameter_but_not_all(tmp_path):
    # GRUB_CMDLINE_LINUX_DEFAULT is not given to recovery entries: after a restore putting a
    # parameter back there, one entry carrying it is enough (Request.everywhere False)
    restore = Request([("vmscape", "force", "vmscape")], [], everywhere=False)
    text = (
        "### BEGIN /etc/grub.d/10_linux ###\nmenuentry 'a' {\n linux /v a vmscape=force\n}\n"
        "menuentry 'a, recovery' {\n linux /v single\n}\n### END /etc/grub.d/10_linux ###\n"
    )
    path = write_cfg(tmp_path, text)
    assert check_grub_cfg(path, restore) == ([], [])
    nowhere = write_cfg(tmp_path, text.replace(" vmscape=force", ""))
    assert check_grub_cfg(nowhere, restore) == ([f"{nowhere}: no Linux entry carries vmscape"], [])


STUB = (  # the EL9 ESP stub: find /boot, load the real grub.cfg from there
    "search --no-floppy --fs-uuid --set=dev 1234\nset prefix=($dev)/grub2\nexport $prefix\n"
    "configfile $prefix/grub.cfg\n"
)
FULL = "### BEGIN /etc/grub.d/10_linux ###\nblscfg\n### END /etc/grub.d/10_linux ###\n"


def layout(tmp_path, files):
    root = tmp_path / "r"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return str(root)


def test_grub_cfg_targets(tmp_path):
    # EL8 UEFI: the full config lives on the ESP and there is no /boot/grub2/grub.cfg
    el8 = layout(tmp_path / "el8", {"boot/efi/EFI/rocky/grub.cfg": FULL})
    assert grub_cfg_target(el8, "grub2-mkconfig") == "/boot/efi/EFI/rocky/grub.cfg"
    # EL9: a stub on the ESP, the real one in /boot/grub2
    el9 = layout(tmp_path / "el9", {"boot/efi/EFI/rocky/grub.cfg": STUB, "boot/grub2/grub.cfg": FULL})
    assert grub_cfg_target(el9, "grub2-mkconfig") == "/boot/grub2/grub.cfg"
    # both full: /boot/grub2 wins
    both = layout(tmp_path / "both", {"boot/efi/EFI/rocky/grub.cfg": FULL, "boot/grub2/grub.cfg": FULL})
    assert grub_cfg_target(both, "grub2-mkconfig") == "/boot/grub2/grub.cfg"
    assert grub_cfg_target(both, "grub-mkconfig") == "/boot/grub/grub.cfg"
    # a stub where the real config should be written is refused
    bad = layout(tmp_path / "bad", {"boot/grub2/grub.cfg": STUB})
    with pytest.raises(BootConfigError) as err:
        grub_cfg_target(bad, "grub2-mkconfig")
    assert str(err.value) == (
        "/boot/grub2/grub.cfg (-> /boot/grub2/grub.cfg) is an EFI stub that loads the real grub.cfg; "
        "refusing to overwrite it"
    )


@pytest.mark.parametrize(
    ("text", "stub"),
    [
        (STUB, True),
        (STUB + "menuentry 'x' {\n}\n", False),
        (STUB + "blscfg\n", False),
        (STUB + "### BEGIN /etc/grub.d/00_header ###\n", False),
        ("set default=0\n", False),
    ],
)
def test_what_counts_as_an_efi_stub(tmp_path, text, stub):
    root = layout(tmp_path, {"boot/grub2/grub.cfg": text})
    if stub:
        with pytest.raises(BootConfigError):
            grub_cfg_target(root, "grub2-mkconfig")
    else:
        assert grub_cfg_target(root, "grub2-mkconfig") == "/boot/grub2/grub.cfg"


# --------------------------------------------------------------------------- appending (found by make mutation)
@pytest.mark.parametrize(
    ("before", "after", "linux"),
    [
        ('GRUB_CMDLINE_LINUX="quiet"\n', 'GRUB_CMDLINE_LINUX="quiet vmscape=ibpb"\n', "quiet vmscape=ibpb"),
        ('GRUB_CMDLINE_LINUX=""\n', 'GRUB_CMDLINE_LINUX="vmscape=ibpb"\n', "vmscape=ibpb"),
        ('GRUB_CMDLINE_LINUX="quiet "\n', 'GRUB_CMDLINE_LINUX="quiet vmscape=ibpb"\n', "quiet vmscape=ibpb"),
        ("GRUB_CMDLINE_LINUX='quiet'\n", "GRUB_CMDLINE_LINUX='quiet vmscape=ibpb'\n", "quiet vmscape=ibpb"),
        ("GRUB_CMDLINE_LINUX=quiet\n", 'GRUB_CMDLINE_LINUX="quiet vmscape=ibpb"\n', "quiet vmscape=ibpb"),
        ("GRUB_CMDLINE_LINUX=\n", 'GRUB_CMDLINE_LINUX="vmscape=ibpb"\n', "vmscape=ibpb"),
        ("X=quiet\nGRUB_CMDLINE_LINUX=$X\n", 'X=quiet\nGRUB_CMDLINE_LINUX=$X" vmscape=ibpb"\n', "quiet vmscape=ibpb"),
        ("GRUB_CMDLINE_LINUX=\"a\"'b'\n", "GRUB_CMDLINE_LINUX=\"a\"'b vmscape=ibpb'\n", "ab vmscape=ibpb"),
        ('GRUB_CMDLINE_LINUX="a"b\n', 'GRUB_CMDLINE_LINUX="a"b" vmscape=ibpb"\n', "ab vmscape=ibpb"),
        ('GRUB_CMDLINE_LINUX="a \\\n b"\n', 'GRUB_CMDLINE_LINUX="a \\\n b vmscape=ibpb"\n', "a  b vmscape=ibpb"),
        ("GRUB_CMDLINE_LINUX=vmscape\n", "GRUB_CMDLINE_LINUX=vmscape=ibpb\n", "vmscape=ibpb"),
        ('GRUB_CMDLINE_LINUX="a -- single"\n', 'GRUB_CMDLINE_LINUX="a vmscape=ibpb -- single"\n',
         "a vmscape=ibpb -- single"),
        # nothing assigns it (or the last word is an unset): a new assignment at the end
        ("GRUB_TIMEOUT=5", 'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX vmscape=ibpb"\n', " vmscape=ibpb"),
        ('GRUB_CMDLINE_LINUX="a"\nunset GRUB_CMDLINE_LINUX\n',
         'GRUB_CMDLINE_LINUX="a"\nunset GRUB_CMDLINE_LINUX\nGRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX vmscape=ibpb"\n',
         " vmscape=ibpb"),
    ],
)  # fmt: skip
def test_a_new_parameter_is_appended_exactly(tmp_path, before, after, linux):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_defaults_edit import plan_defaults

    root = tmp_path / "root"
    (root / "etc" / "default").mkdir(parents=True)
    (root / "etc" / "default" / "grub").write_text(before)
    gp = plan_defaults(str(root), build_request({"vmscape": "ibpb"}, []))
    assert [(c.label, c.before, c.after) for c in gp.changes] == [
        ("/etc/default/grub", before.encode(), after.encode())
    ]
    (root / "etc" / "default" / "grub").write_bytes(gp.changes[0].after)
    assert dash_values(str(root), tmp_path) == (linux, "")  # what /bin/sh makes of the edited file


def test_a_literal_that_goes_whole_leaves_no_blank_before_the_new_token(tmp_path):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_defaults_edit import plan_defaults

    root = tmp_path / "root"
    (root / "etc" / "default").mkdir(parents=True)
    (root / "etc" / "default" / "grub").write_text("GRUB_CMDLINE_LINUX=mitigations=off\n")
    gp = plan_defaults(str(root), build_request({"vmscape": "ibpb"}, ["mitigations"]))
    assert gp.changes[0].after == b'GRUB_CMDLINE_LINUX="vmscape=ibpb"\n'


def test_without_any_assignment_a_drop_in_is_written(tmp_path):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_defaults import DROPIN_HEADER
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.grub_defaults_edit import plan_defaults

    root = tmp_path / "root"
    (root / "etc" / "default" / "grub.d").mkdir(parents=True)
    cloud = root / "etc" / "default" / "grub.d" / "50-cloudimg-settings.cfg"
    cloud.write_text('GRUB_CMDLINE_LINUX_DEFAULT="console=ttyS0"\n')
    gp = plan_defaults(str(root), build_request({"vmscape": "ibpb"}, []))
    dropin = root / "etc" / "default" / "grub.d" / "99-fleetsec-vmscape.cfg"
    assert [(c.label, c.path, c.before, c.after) for c in gp.changes] == [
        (
            "/etc/default/grub.d/99-fleetsec-vmscape.cfg",
            str(dropin),
            None,
            (DROPIN_HEADER + 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX vmscape=ibpb"\n').encode(),
        )
    ]
    dropin.write_bytes(gp.changes[0].after)
    assert dash_values(str(root), tmp_path) == (" vmscape=ibpb", "console=ttyS0")
    # a drop-in of that name that does not assign it last is not overwritten
    dropin.write_text("# mine\n")
    with pytest.raises(BootConfigError) as err:
        plan_defaults(str(root), build_request({"vmscape": "ibpb"}, []))
    assert str(err.value) == f"{dropin} exists but does not assign GRUB_CMDLINE_LINUX last; edit it by hand"


# --------------------------------------------------------------------------- a whole GRUB plan (found by make mutation)
def debian_cfg(opts):
    return (
        "set default=0\n### BEGIN /etc/grub.d/10_linux ###\nmenuentry 'Debian GNU/Linux' {\n"
        f"\tlinux\t/boot/vmlinuz-6.1.0-28-amd64 root=UUID=x ro {opts}\n}}\n### END /etc/grub.d/10_linux ###\n"
    )


@pytest.fixture
def chroot_ready(monkeypatch):
    """Stand-in: the root counts as prepared for chroot (/proc, /sys, /dev mounted); nothing runs."""
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as _grub_defaults

    monkeypatch.setattr(_grub_defaults, "chroot_problem", lambda r: None)


def grub_root(tmp_path, files):
    root = tmp_path / "root"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        if "/sbin/" in rel or "/bin/" in rel:
            p.chmod(0o755)
    return root


def test_a_whole_grub_plan_with_its_checks(tmp_path, chroot_ready):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.grub import build_plan

    root = grub_root(
        tmp_path,
        {
            "etc/default/grub": 'GRUB_CMDLINE_LINUX="quiet"\n',
            "usr/sbin/update-grub": "#!/bin/sh\n",
            "boot/grub/grub.cfg": debian_cfg("quiet"),
            "boot/vmlinuz-6.1.0-28-amd64": "MZ" * 50,
        },
    )
    set_ibpb = build_request({"vmscape": "ibpb"}, [])
    plan = build_plan(str(root), set_ibpb)
    assert (plan.backend, plan.root) == ("grub", str(root))
    assert [(c.label, c.after) for c in plan.steps] == [
        ("/etc/default/grub", b'GRUB_CMDLINE_LINUX="quiet vmscape=ibpb"\n')
    ]
    assert (plan.effective_before, plan.effective_after) == ("quiet", "quiet vmscape=ibpb")
    assert plan.expected_cmdline() == ["quiet", "vmscape=ibpb"]
    cfg = f"{root}/boot/grub/grub.cfg"
    assert [(c.argv, c.description, c.touches) for c in plan.regen] == [
        (["chroot", str(root), "update-grub"], "regenerate /boot/grub/grub.cfg", [cfg, cfg + ".new"])
    ]
    assert (plan.regen_skipped, plan.regen_stale) == (None, None)
    assert plan.verify() == [
        "GRUB_CMDLINE_LINUX='quiet' GRUB_CMDLINE_LINUX_DEFAULT='' on disk, planned 'quiet vmscape=ibpb' and ''"
    ]
    (root / "etc/default/grub").write_bytes(plan.steps[0].after)
    assert plan.verify() == []
    assert plan.verify_regen() == (
        [
            f"{cfg}:4: vmscape occurs 0 times (want exactly once)",
            "the default entry of the regenerated boot menu does not carry the configured command line in order "
            "(missing: vmscape=ibpb)",
        ],
        [],
    )
    (root / "boot/grub/grub.cfg").write_text(debian_cfg("quiet vmscape=ibpb"))
    assert plan.verify_regen() == ([], [])
    (root / "boot/grub/grub.cfg").write_text("\n")
    assert plan.verify_regen() == ([f"{cfg} is empty"], [])


def test_a_stale_grub_cfg_is_regenerated_even_without_a_change(tmp_path, chroot_ready):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.grub import build_plan

    root = grub_root(
        tmp_path,
        {
            "etc/default/grub": 'GRUB_CMDLINE_LINUX="quiet vmscape=ibpb"\n',
            "usr/sbin/update-grub": "#!/bin/sh\n",
            "boot/grub/grub.cfg": debian_cfg("quiet"),
        },
    )
    plan = build_plan(str(root), build_request({"vmscape": "ibpb"}, []))
    assert plan.steps == []
    assert plan.regen_stale == (
        f"/boot/grub/grub.cfg is out of date: {root}/boot/grub/grub.cfg:4: vmscape occurs 0 times (want exactly once)"
    )
    (root / "boot/grub/grub.cfg").write_text(debian_cfg("quiet vmscape=ibpb"))
    assert build_plan(str(root), build_request({"vmscape": "ibpb"}, [])).regen_stale is None


@pytest.mark.parametrize(
    ("tools", "bls", "argvs"),
    [
        (["usr/sbin/update-grub", "usr/sbin/grub-mkconfig"], False, [["update-grub"]]),
        (["usr/sbin/grub-mkconfig", "usr/sbin/grub2-mkconfig"], False,
         [["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]]),
        (["usr/sbin/grub2-mkconfig"], False, [["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]]),
        (["usr/sbin/grub2-mkconfig"], True, [["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]]),
        (["usr/sbin/grub2-mkconfig+bls"], True,
         [["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg", "--update-bls-cmdline"]]),
        (["usr/sbin/grub2-mkconfig+bls"], False, [["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]]),
        (["usr/sbin/update-grub", "usr/sbin/proxmox-boot-tool", "etc/kernel/proxmox-boot-uuids"], False,
         [["update-grub"], ["proxmox-boot-tool", "refresh"]]),
        (["usr/sbin/update-grub", "etc/kernel/proxmox-boot-uuids"], False, [["update-grub"]]),
    ],
    ids=["update-grub-first", "grub-mkconfig", "grub2-mkconfig", "no-bls-flag-support", "bls-cmdline",
         "bls-flag-not-for-grub", "proxmox", "proxmox-without-its-tool"],
)  # fmt: skip
def test_the_regeneration_command(tmp_path, chroot_ready, tools, bls, argvs):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.grub import regen_commands
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Plan

    files = {}
    for t in tools:
        if t.endswith("+bls"):  # a grub2-mkconfig that knows --update-bls-cmdline (EL9.3+)
            files[t[: -len("+bls")]] = "#!/bin/sh\n# --update-bls-cmdline\n"
        else:
            files[t] = "#!/bin/sh\n" if "/sbin/" in t else "1\n"
    root = grub_root(tmp_path, files)
    plan = Plan("grub", str(root))
    cfg = regen_commands(str(root), plan, bls=bls)
    assert [c.argv for c in plan.regen] == [["chroot", str(root), *a] for a in argvs]
    assert cfg == ("/boot/grub2/grub.cfg" if "grub2" in str(argvs[0]) else "/boot/grub/grub.cfg")
    if len(argvs) > 1:
        assert plan.regen[1].description == "copy kernels and configuration to the ESPs"


def test_without_a_generator_or_a_prepared_root_nothing_is_regenerated(tmp_path):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.grub import regen_commands
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import Plan

    root = grub_root(tmp_path, {"etc/default/grub": ""})
    plan = Plan("grub", str(root))
    assert regen_commands(str(root), plan) is None
    assert plan.regen == []
    assert plan.regen_skipped == f"no update-grub, grub-mkconfig or grub2-mkconfig found under {root}"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/update-grub").write_text("#!/bin/sh\n")
    (root / "usr/sbin/update-grub").chmod(0o755)
    plan = Plan("grub", str(root))
    assert regen_commands(str(root), plan) is None and plan.regen == []
    assert plan.regen_skipped.startswith(f"{root} is not prepared for chroot") or plan.regen_skipped == (
        "chroot needs root privileges"
    )
