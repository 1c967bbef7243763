"""systemd-boot backend: the check of the entries kernel-install wrote, and where a missing
/etc/kernel/cmdline comes from (found by `make mutation`: these paths had no failing test).

Entry files are written here by hand in the format of the Boot Loader Specification (type #1:
``linux``, ``options`` lines; several ``options`` lines are joined with a space), the way
systemd 252's 90-loaderentry.install writes them.
"""

import os

import pytest

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.systemd_boot import (
    check_loader_entries,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.bls import read_entries
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.kernel_cmdline_edit import KernelCmdlinePlan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.kernel_cmdline_edit import (
    plan as plan_kernel_cmdline,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request

SET = build_request({"vmscape": "ibpb"}, [])
REMOVE = build_request({}, ["vmscape"])
# the ESP's places in the order bootctl checks them (--esp-path: /efi, /boot, /boot/efi)
NO_ENTRIES = "no systemd-boot entries found under /efi/loader, /boot/loader, /boot/efi/loader to check (the ESP may not be mounted)"  # noqa: E501


def entry(root, name, text, esp="boot/efi/loader"):
    d = root / esp / "entries"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text)
    return str(d / name)


def test_entries_carrying_the_parameter_pass(tmp_path):
    entry(tmp_path, "a-6.1.0-28.conf", "title Debian\nlinux /a/vmlinuz\noptions root=/dev/vda2 vmscape=ibpb quiet\n")
    assert check_loader_entries(str(tmp_path), SET) == ([], [])


def test_every_wrong_entry_is_named_with_its_problem(tmp_path):
    ok = entry(tmp_path, "a.conf", "linux /a\noptions vmscape=ibpb\n")
    twice = entry(tmp_path, "b.conf", "linux /b\noptions vmscape=ibpb\noptions vmscape=ibpb quiet\n")
    other = entry(tmp_path, "c.conf", "linux /c\noptions vmscape=force\n")
    missing = entry(tmp_path, "d.conf", "linux /d\noptions quiet\n", esp="boot/loader")
    problems, warnings = check_loader_entries(str(tmp_path), SET)
    # bootctl's order of the ESP's places (/boot before /boot/efi), in each the entries newest
    # first as the boot menu lists them (no version lines: by name, descending)
    assert problems == [
        f"{missing}: vmscape occurs 0 times (want exactly once)",
        f"{other}: vmscape has the value 'force' (want 'ibpb')",
        f"{twice}: vmscape occurs 2 times (want exactly once)",
    ]
    assert warnings == [] and ok


def test_a_removed_parameter_must_be_gone_from_every_entry(tmp_path):
    still = entry(tmp_path, "a.conf", "linux /a\noptions root=/dev/vda2 vmscape=off\n")
    entry(tmp_path, "b.conf", "linux /b\noptions root=/dev/vda2\n")
    assert check_loader_entries(str(tmp_path), REMOVE) == ([f"{still}: vmscape still occurs 1 times"], [])


def test_only_linux_entries_ending_in_conf_are_checked(tmp_path):
    # an EFI-program entry (no linux line), a note file and a directory come first in sort
    # order: they are skipped and the real entry after them is still checked
    entry(tmp_path, "0-efi-shell.conf", "title EFI shell\nefi /shellx64.efi\noptions vmscape=off\n")
    entry(tmp_path, "0-readme.txt", "linux /x\noptions vmscape=off\n")
    bad = entry(tmp_path, "z.conf", "linux /z\noptions vmscape=off\n")
    problems, warnings = check_loader_entries(str(tmp_path), SET)
    assert problems == [f"{bad}: vmscape has the value 'off' (want 'ibpb')"] and warnings == []


def test_no_entry_at_all_is_a_warning_not_a_problem(tmp_path):
    assert check_loader_entries(str(tmp_path), SET) == ([], [NO_ENTRIES])
    entry(tmp_path, "only-efi.conf", "efi /x.efi\n")
    assert check_loader_entries(str(tmp_path), SET) == ([], [NO_ENTRIES])


def test_other_parameters_may_differ_between_entries(tmp_path):
    # the check is not strict: entries of other kernels keep their own other parameters
    entry(tmp_path, "a.conf", "linux /a\noptions root=/dev/vda2 vmscape=ibpb\n")
    entry(tmp_path, "b.conf", "linux /b\noptions root=/dev/sda1 single vmscape=ibpb\n")
    assert check_loader_entries(str(tmp_path), SET) == ([], [])


def test_read_entry_options(tmp_path):
    """The entries as the check reads them (the one BLS reader, _bootcfg.bls)."""
    entry(
        tmp_path,
        "e.conf",
        "title  Debian\n\n   \nlinux   /vmlinuz-6.1 \noptions root=/dev/vda2  ro\noptions\n"
        "  options quiet\nversion 6.1\n",
    )
    entry(tmp_path, "f.conf", "linux\n")
    entries = {e.name: (e.linux, e.options_text) for e in read_entries(str(tmp_path), "/boot/efi/loader/entries")}
    assert entries == {"e.conf": ("/vmlinuz-6.1", "root=/dev/vda2  ro  quiet"), "f.conf": ("", None)}


def write(root, rel, text):
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_missing_kernel_cmdline_comes_from_usr_lib_kernel_cmdline(tmp_path):
    write(tmp_path, "/usr/lib/kernel/cmdline", "root=/dev/vda2 quiet\n")
    write(tmp_path, "/proc/cmdline", "BOOT_IMAGE=/x root=/dev/other\n")
    warnings = []
    plan = plan_kernel_cmdline(str(tmp_path), SET, warnings=warnings)
    assert warnings == ["/etc/kernel/cmdline created from /usr/lib/kernel/cmdline"]
    assert plan.tokens_before == ["root=/dev/vda2", "quiet"]
    assert plan.tokens_after == ["root=/dev/vda2", "quiet", "vmscape=ibpb"]
    assert plan.change.before is None and plan.change.after == b"root=/dev/vda2 quiet vmscape=ibpb\n"


def test_then_from_proc_cmdline_without_boot_image_and_initrd(tmp_path):
    write(tmp_path, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz-6.1 initrd=\\initrd.img root=/dev/vda2 ro quiet\n")
    warnings = []
    plan = plan_kernel_cmdline(str(tmp_path), SET, warnings=warnings)
    assert warnings == [
        "/etc/kernel/cmdline created from the running kernel's /proc/cmdline (kernel-install's own fallback)"
    ]
    assert plan.tokens_before == ["root=/dev/vda2", "ro", "quiet"]
    assert plan.change.after == b"root=/dev/vda2 ro quiet vmscape=ibpb\n"


def test_with_nothing_to_start_from_it_refuses_naming_the_root(tmp_path):
    with pytest.raises(BootConfigError) as err:
        plan_kernel_cmdline(str(tmp_path), SET, warnings=[])
    assert str(err.value) == (
        "/etc/kernel/cmdline, /usr/lib/kernel/cmdline and /proc/cmdline are all missing under "
        f"{tmp_path}; cannot tell which parameters kernel-install would use"
    )


def test_an_absent_file_already_giving_the_result_is_left_absent(tmp_path):
    write(tmp_path, "/usr/lib/kernel/cmdline", "root=/dev/vda2 quiet\n")
    plan = plan_kernel_cmdline(str(tmp_path), REMOVE, warnings=[])
    assert plan.change is None and plan.verify() == []
    assert plan_kernel_cmdline(str(tmp_path), SET, create=False) is None


def test_verify_reports_a_missing_or_different_file(tmp_path):
    real = str(tmp_path / "etc/kernel/cmdline")
    plan = KernelCmdlinePlan(str(tmp_path), real, object(), ["quiet"], ["quiet", "vmscape=ibpb"], SET)
    assert plan.verify() == [f"{real} is missing"]
    os.makedirs(os.path.dirname(real))
    with open(real, "w") as f:
        f.write("quiet\n vmscape=off\n")
    assert plan.verify() == [f"{real} holds 'quiet vmscape=off', planned 'quiet vmscape=ibpb'"]
    with open(real, "w") as f:
        f.write("quiet\tvmscape=ibpb\n")
    assert plan.verify() == []


def test_installed_kernels_need_an_image(tmp_path):
    """What the kernel-install regeneration adds: every kernel with an image (the one list of
    _bootcfg.kernels); it runs kernel-install only for those with a modules directory."""
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.kernels import installed

    for rel in (
        "lib/modules/6.1.0-28-amd64/",  # image and initrd.img in /boot
        "boot/vmlinuz-6.1.0-28-amd64",
        "boot/initrd.img-6.1.0-28-amd64",
        "lib/modules/5.10.0-1-amd64/",  # modules left behind, no image: not installed
        "lib/modules/not-a-dir",
        "usr/lib/modules/6.1.0-28-amd64/",  # the same kernel seen twice: listed once
        "usr/lib/modules/7.3.4+deb13-amd64/vmlinuz",  # split package: image next to the modules
        "usr/lib/modules/6.12.9/",  # RHEL-style initramfs name
        "boot/vmlinuz-6.12.9",
        "boot/initramfs-6.12.9.img",
        "boot/vmlinuz-6.9.0-gone",  # an image whose modules are gone
    ):
        p = tmp_path / rel
        if rel.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("")
    assert [(k.release, k.image, k.modules_dir, k.initrd) for k in installed(str(tmp_path))] == [
        (
            "6.1.0-28-amd64",
            "/boot/vmlinuz-6.1.0-28-amd64",
            "/lib/modules/6.1.0-28-amd64",
            "/boot/initrd.img-6.1.0-28-amd64",
        ),
        ("6.12.9", "/boot/vmlinuz-6.12.9", "/usr/lib/modules/6.12.9", "/boot/initramfs-6.12.9.img"),
        ("6.9.0-gone", "/boot/vmlinuz-6.9.0-gone", None, None),
        (
            "7.3.4+deb13-amd64",
            "/usr/lib/modules/7.3.4+deb13-amd64/vmlinuz",
            "/usr/lib/modules/7.3.4+deb13-amd64",
            None,
        ),
    ]


@pytest.mark.parametrize(
    ("tokens", "kept", "dropped"),
    [
        (["root=/dev/vda2", "ro", "single", "quiet"], ["root=/dev/vda2", "ro", "quiet"], ["single"]),
        (
            ["ro", "systemd.unit=rescue.target", "rd.break", "systemd.debug-shell", "-s"],
            ["ro"],
            ["systemd.unit=rescue.target", "rd.break", "systemd.debug-shell", "-s"],
        ),
        (["ro", "--", "single"], ["ro"], ["single"]),  # a -- left with nothing after it goes too
        (["ro", "--", "x", "single"], ["ro", "--", "x"], ["single"]),
        (["ro", "--"], ["ro", "--"], []),  # a trailing -- that was there stays
        (["single", "--"], ["--"], ["single"]),
        ([], [], []),
    ],
)
def test_one_off_parameters_are_not_made_permanent(tokens, kept, dropped):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.kernel_cmdline_file import without_one_off

    assert without_one_off(tokens) == (kept, dropped)


def test_proc_cmdline_fallback_drops_one_off_parameters_with_a_warning(tmp_path):
    write(tmp_path, "/proc/cmdline", "BOOT_IMAGE=/v root=/dev/vda2 ro systemd.unit=rescue.target single quiet\n")
    warnings = []
    plan = plan_kernel_cmdline(str(tmp_path), SET, warnings=warnings)
    assert warnings == [
        "/etc/kernel/cmdline created from the running kernel's /proc/cmdline (kernel-install's own fallback)",
        "one-off boot parameters of the running kernel not carried into /etc/kernel/cmdline (they would come "
        "back at every boot): systemd.unit=rescue.target single",
    ]
    assert plan.change.after == b"root=/dev/vda2 ro quiet vmscape=ibpb\n"


def regen_root(tmp_path, files):
    for rel, text in files.items():
        p = tmp_path / rel
        if rel.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            if "/sbin/" in rel or "/bin/" in rel:
                p.chmod(0o755)
    return str(tmp_path)


BASE = {"etc/kernel/cmdline": "root=/dev/vda2 ro\n"}


def test_regeneration_needs_a_root_prepared_for_chroot(tmp_path):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.systemd_boot import build_plan

    root = regen_root(tmp_path, {**BASE, "usr/bin/kernel-install": "#!/bin/sh\n"})
    plan = build_plan(root, SET)
    assert plan.regen == [] and plan.verify_regen is None
    assert plan.regen_skipped.startswith(f"{root} is not prepared for chroot") or plan.regen_skipped == (
        "chroot needs root privileges"
    )


@pytest.mark.parametrize(
    ("files", "skipped"),
    [
        (
            {"etc/kernel/proxmox-boot-uuids": "1234\n"},
            "/etc/kernel/proxmox-boot-uuids exists but proxmox-boot-tool is missing",
        ),
        ({}, "kernel-install not found under {root}"),
        (
            {"usr/bin/kernel-install": "#!/bin/sh\n", "lib/modules/6.1.0-28-amd64/": ""},
            "no installed kernel (modules directory plus image) found under {root}",
        ),
    ],
)
def test_regeneration_skipped_with_the_reason(tmp_path, monkeypatch, files, skipped):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import (
        systemd_boot as _systemd_boot,
    )

    monkeypatch.setattr(_systemd_boot, "chroot_problem", lambda root: None)
    root = regen_root(tmp_path, {**BASE, **files})
    plan = _systemd_boot.build_plan(root, SET)
    assert plan.regen == [] and plan.regen_skipped == skipped.format(root=root)


def test_proxmox_regenerates_with_its_tool_and_says_what_it_cannot_undo(tmp_path, monkeypatch):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import (
        systemd_boot as _systemd_boot,
    )

    monkeypatch.setattr(_systemd_boot, "chroot_problem", lambda root: None)
    root = regen_root(
        tmp_path, {**BASE, "etc/kernel/proxmox-boot-uuids": "1234\n", "usr/sbin/proxmox-boot-tool": "#!/bin/sh\n"}
    )
    plan = _systemd_boot.build_plan(root, SET)
    assert [c.argv for c in plan.regen] == [["chroot", root, "proxmox-boot-tool", "refresh"]]
    assert plan.notes == [
        "proxmox-boot-tool refresh writes the ESPs it mounts itself; those copies cannot be snapshotted here "
        "and are not restored if a later step fails"
    ]
    assert plan.regen_skipped is None and callable(plan.verify_regen)
    assert plan.expected_cmdline() == ["root=/dev/vda2", "ro", "vmscape=ibpb"]
    assert plan.effective_before == "root=/dev/vda2 ro" and plan.effective_after == "root=/dev/vda2 ro vmscape=ibpb"


# --------------------------------------------------------------------------- a whole plan (found by make mutation)
ENTRIES = "boot/efi/loader/entries"
OLD_ENTRY = "title Debian\nlinux /d/6.1.0-28-amd64/linux\noptions root=/dev/vda2 ro\n"


def sdboot_root(tmp_path, monkeypatch, **extra):
    """kernel-install under root, three kernels (one with an initrd, one image under /usr/lib/modules, one
    without an image), an entry for 6.1.0-28; stand-in: the root counts as prepared for chroot."""
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import (
        systemd_boot as _systemd_boot,
    )

    monkeypatch.setattr(_systemd_boot, "chroot_problem", lambda root: None)
    files = {
        **BASE,
        "usr/bin/kernel-install": "#!/bin/sh\n",
        "lib/modules/5.10.0-1-amd64/": "",  # no image: not installed, and not the end of the list
        "lib/modules/6.1.0-28-amd64/": "",
        "boot/vmlinuz-6.1.0-28-amd64": "MZ" * 50,
        "boot/initrd.img-6.1.0-28-amd64": "initrd",
        "usr/lib/modules/6.12.0-1-amd64/": "",
        "usr/lib/modules/6.12.0-1-amd64/vmlinuz": "MZ" * 50,
        f"{ENTRIES}/d-6.1.0-28-amd64.conf": OLD_ENTRY,
        "boot/efi/d/6.1.0-28-amd64/linux": "MZ" * 50,
        "boot/efi/loader/loader.conf": "default d-6.1.0-28-amd64.conf\n",
        **extra,
    }
    return regen_root(tmp_path, files)


def test_a_whole_systemd_boot_plan(tmp_path, monkeypatch):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.systemd_boot import build_plan

    root = sdboot_root(tmp_path, monkeypatch)
    plan = build_plan(root, SET)
    assert (plan.backend, plan.root) == ("systemd-boot", root)
    assert [(s.label, s.path, s.before, s.after) for s in plan.steps] == [
        (
            "/etc/kernel/cmdline",
            f"{root}/etc/kernel/cmdline",
            b"root=/dev/vda2 ro\n",
            b"root=/dev/vda2 ro vmscape=ibpb\n",
        )
    ]
    entries = [(f"{root}/{ENTRIES}", "*.conf")]
    assert [(c.argv, c.description, c.touch_globs) for c in plan.regen] == [
        (
            ["chroot", root, "kernel-install", "add", "6.1.0-28-amd64", "/boot/vmlinuz-6.1.0-28-amd64",
             "/boot/initrd.img-6.1.0-28-amd64"],
            "kernel-install add 6.1.0-28-amd64",
            entries,
        ),
        (
            ["chroot", root, "kernel-install", "add", "6.12.0-1-amd64", "/usr/lib/modules/6.12.0-1-amd64/vmlinuz"],
            "kernel-install add 6.12.0-1-amd64",
            entries,
        ),
    ]  # fmt: skip
    assert plan.verify() == [
        f"{root}/etc/kernel/cmdline holds 'root=/dev/vda2 ro', planned 'root=/dev/vda2 ro vmscape=ibpb'"
    ]
    (tmp_path / "etc/kernel/cmdline").write_bytes(plan.steps[0].after)
    assert plan.verify() == []
    # kernel-install has not rewritten the entry yet: both checks after regeneration say so
    assert plan.verify_regen() == (
        [
            f"{root}/{ENTRIES}/d-6.1.0-28-amd64.conf: vmscape occurs 0 times (want exactly once)",
            "the default entry of the regenerated boot menu does not carry the configured command line in order "
            "(missing: vmscape=ibpb)",
        ],
        [],
    )
    (tmp_path / ENTRIES / "d-6.1.0-28-amd64.conf").write_text(OLD_ENTRY.replace(" ro\n", " ro vmscape=ibpb\n"))
    assert plan.verify_regen() == ([], [])


def test_the_kernel_booted_before_must_keep_an_entry(tmp_path, monkeypatch):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.systemd_boot import build_plan

    root = sdboot_root(tmp_path, monkeypatch)
    plan = build_plan(root, SET)
    # the regeneration replaced the entry of the kernel booted so far by one for another kernel
    (tmp_path / ENTRIES / "d-6.1.0-28-amd64.conf").unlink()
    (tmp_path / ENTRIES / "d-6.12.0-1-amd64.conf").write_text(
        "title Debian\nlinux /vmlinuz-6.12.0-1-amd64\noptions root=/dev/vda2 ro vmscape=ibpb\n"
    )
    (tmp_path / "boot/efi/vmlinuz-6.12.0-1-amd64").write_text("MZ" * 50)
    (tmp_path / "boot/efi/loader/loader.conf").write_text("default d-6.12.0-1-amd64.conf\n")
    problems, warnings = plan.verify_regen()
    assert warnings == []
    assert problems == [
        "the regenerated boot menu has no entry for 6.1.0-28-amd64 (/boot/efi/d/6.1.0-28-amd64/linux), the kernel the "
        "host booted by default before"
    ]


def test_a_kernel_cmdline_already_right_is_no_step(tmp_path, monkeypatch):
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.systemd_boot import build_plan

    root = sdboot_root(tmp_path, monkeypatch, **{"etc/kernel/cmdline": "root=/dev/vda2 ro vmscape=ibpb\n"})
    plan = build_plan(root, SET)
    assert plan.steps == [] and plan.verify() == []
    assert plan.effective_before == plan.effective_after == "root=/dev/vda2 ro vmscape=ibpb"


@pytest.mark.parametrize(
    ("before", "request_", "after"),
    [
        # lines are kept; the new token goes after the last one
        (b"root=/dev/vda2 ro\nquiet\n", SET, b"root=/dev/vda2 ro\nquiet vmscape=ibpb\n"),
        # a line that only held the removed token goes
        (b"root=/dev/vda2 ro\nvmscape=off\n", REMOVE, b"root=/dev/vda2 ro\n"),
        # an existing file without a token: one line
        (b"\n\n", SET, b"vmscape=ibpb\n"),
        # bytes that are not UTF-8 stay as they were
        (b"root=/dev/vda2 title=\xff\n", SET, b"root=/dev/vda2 title=\xff vmscape=ibpb\n"),
    ],
    ids=["two-lines", "emptied-line", "blank-file", "not-utf-8"],
)
def test_kernel_cmdline_edits(tmp_path, before, request_, after):
    (tmp_path / "etc/kernel").mkdir(parents=True)
    (tmp_path / "etc/kernel/cmdline").write_bytes(before)
    kc = plan_kernel_cmdline(str(tmp_path), request_, create=False)
    assert (kc.change.label, kc.change.before, kc.change.after) == ("/etc/kernel/cmdline", before, after)


def test_the_fallback_works_without_a_warnings_list(tmp_path):
    (tmp_path / "usr/lib/kernel").mkdir(parents=True)
    (tmp_path / "usr/lib/kernel/cmdline").write_text("root=/dev/vda2 ro\n")
    kc = plan_kernel_cmdline(str(tmp_path), SET)
    assert (kc.change.before, kc.change.after) == (None, b"root=/dev/vda2 ro vmscape=ibpb\n")
