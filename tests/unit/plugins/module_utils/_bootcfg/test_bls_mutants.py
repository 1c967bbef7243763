"""The BLS backend (EL8 ``$kernelopts``, EL9/Fedora literal options) planned on small roots written
by hand, and the entry order by rpm's version comparison (found by `make mutation`: this file was
reached only through the end-to-end module tests, which the mutation run leaves out).

Entries follow the Boot Loader Specification as RHEL writes them (``options $kernelopts
$tuned_params`` on EL8; literal options on EL9); grubenv blocks are 1024 bytes, as grub-editenv
writes them. rpmvercmp is judged by rpm's own test vectors (tests/rpmvercmp.at in rpm's source).
Plans are only computed, never applied, except where the real grub-editenv writes a scratch
grubenv to prove the plan predicted its bytes.
"""

import os
import subprocess

import pytest
from skip_policy import needs_tool

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import bls as _bls_reader
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import bls as _bls
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends import grub as _grub_defaults
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.backends.bls import build_plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.bls import (
    Entry,
    read_entries,
    rpmvercmp,
    uses_kernelopts,
)
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.errors import BootConfigError
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.menu import bls_default
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.plan import FileChange, Plan
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg.tokens import build_request
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common import command_runner as _command_runner


def default_entry(entries, env):
    """The default BLS entry for grubenv's variables, on a root without grub.cfg (the newest else)."""
    return bls_default("/nonexistent-root", entries, env)


def entries_use_kernelopts(root):
    return uses_kernelopts(read_entries(root))


SET = build_request({"vmscape": "ibpb"}, [])
REMOVE = build_request({}, ["vmscape"])
MID = "3f1b5a7c9d2e4f60a1b2c3d4e5f60718"
EL9_OPTS = "root=/dev/mapper/rl-root ro rhgb quiet"

# rpm's tests/rpmvercmp.at: (a, b, rpm.vercmp(a, b))
RPM_VECTORS = """
1.0 1.0 0|1.0 2.0 -1|2.0 1.0 1|2.0.1 2.0.1 0|2.0 2.0.1 -1|2.0.1 2.0 1|2.0.1a 2.0.1a 0|2.0.1a 2.0.1 1
2.0.1 2.0.1a -1|5.5p1 5.5p1 0|5.5p1 5.5p2 -1|5.5p2 5.5p1 1|5.5p10 5.5p10 0|5.5p1 5.5p10 -1|5.5p10 5.5p1 1
10xyz 10.1xyz -1|10.1xyz 10xyz 1|xyz10 xyz10 0|xyz10 xyz10.1 -1|xyz10.1 xyz10 1|xyz.4 xyz.4 0|xyz.4 8 -1
8 xyz.4 1|xyz.4 2 -1|2 xyz.4 1|5.5p2 5.6p1 -1|5.6p1 5.5p2 1|5.6p1 6.5p1 -1|6.5p1 5.6p1 1|6.0.rc1 6.0 1
6.0 6.0.rc1 -1|10b2 10a1 1|10a2 10b2 -1|1.0aa 1.0aa 0|1.0a 1.0aa -1|1.0aa 1.0a 1|10.0001 10.0001 0
10.0001 10.1 0|10.1 10.0001 0|10.0001 10.0039 -1|10.0039 10.0001 1|4.999.9 5.0 -1|5.0 4.999.9 1
20101121 20101121 0|20101121 20101122 -1|20101122 20101121 1|2_0 2_0 0|2.0 2_0 0|2_0 2.0 0|a a 0|a+ a+ 0
a+ a_ 0|a_ a+ 0|+a +a 0|+a _a 0|_a +a 0|+_ +_ 0|_+ +_ 0|_+ _+ 0|+ _ 0|_ + 0|1.0~rc1 1.0~rc1 0
1.0~rc1 1.0 -1|1.0 1.0~rc1 1|1.0~rc1 1.0~rc2 -1|1.0~rc2 1.0~rc1 1|1.0~rc1~git123 1.0~rc1~git123 0
1.0~rc1~git123 1.0~rc1 -1|1.0~rc1 1.0~rc1~git123 1|1.0^ 1.0^ 0|1.0^ 1.0 1|1.0 1.0^ -1|1.0^git1 1.0^git1 0
1.0^git1 1.0 1|1.0 1.0^git1 -1|1.0^git1 1.0^git2 -1|1.0^git2 1.0^git1 1|1.0^git1 1.01 -1|1.01 1.0^git1 1
1.0^20160101 1.0^20160101 0|1.0^20160101 1.0.1 -1|1.0.1 1.0^20160101 1
1.0^20160101^git1 1.0^20160101^git1 0|1.0^20160102 1.0^20160101^git1 1|1.0^20160101^git1 1.0^20160102 -1
1.0~rc1^git1 1.0~rc1^git1 0|1.0~rc1^git1 1.0~rc1 1|1.0~rc1 1.0~rc1^git1 -1|1.0^git1~pre 1.0^git1~pre 0
1.0^git1 1.0^git1~pre 1|1.0^git1~pre 1.0^git1 -1
"""


def vectors():
    out = []
    for chunk in RPM_VECTORS.replace("\n", "|").split("|"):
        if chunk.strip():
            a, b, want = chunk.split()
            out.append((a, b, int(want)))
    return out


@pytest.mark.parametrize(("a", "b", "want"), vectors())
def test_rpmvercmp_answers_like_rpm(a, b, want):
    assert rpmvercmp(a, b) == want


def test_a_caret_sorts_before_capital_letters_too():
    # rpm: "^" loses to anything but the end of the version, whatever its byte value
    assert rpmvercmp("1.0^", "1.0A") == -1
    assert rpmvercmp("1.0A", "1.0^") == 1


def test_a_tilde_in_the_middle_sorts_before_anything():
    # rpm skips the "." and meets "~" against "1": the tilde side is older
    assert rpmvercmp("1.0~rc1", "1.0.1") == -1
    assert rpmvercmp("1.0.1", "1.0~rc1") == 1
    assert rpmvercmp("1.0~rc1", "1.0a") == -1
    assert rpmvercmp("1.0a", "1.0~rc1") == 1


# --------------------------------------------------------------------------- roots
def env_block(**values):
    """A grubenv block as grub-editenv writes it: header, name=value lines, '#' up to 1024 bytes."""
    body = "# GRUB Environment Block\n" + "".join(f"{k}={v}\n" for k, v in values.items())
    return (body + "#" * (1024 - len(body))).encode()


def write(root, host_path, data):
    path = os.path.join(root, host_path.lstrip("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return path


def entry_text(version, options, title=None):
    lines = [f"title {title or 'Rocky Linux (' + version + ')'}", f"version {version}", f"linux /vmlinuz-{version}"]
    if options is not None:
        lines.append(f"options {options}")
    return "\n".join([*lines, "grub_class kernel", ""])


def add_entry(root, version, options, title=None, name=None):
    return write(root, f"/boot/loader/entries/{name or MID + '-' + version}.conf", entry_text(version, options, title))


def el9_root(tmp_path, kernel_cmdline=True, defaults=True):
    root = str(tmp_path / "root")
    add_entry(root, "5.14.0-362.8.1.el9_3.x86_64", EL9_OPTS + " $tuned_params")
    add_entry(root, "5.14.0-284.30.1.el9_2.x86_64", EL9_OPTS + " $tuned_params")
    write(root, "/boot/grub2/grubenv", env_block(saved_entry=f"{MID}-5.14.0-362.8.1.el9_3.x86_64", boot_success="0"))
    if kernel_cmdline:
        write(root, "/etc/kernel/cmdline", EL9_OPTS + "\n")
    if defaults:
        write(root, "/etc/default/grub", 'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="rhgb quiet"\n')
    return root


def el8_root(tmp_path, kernelopts=EL9_OPTS):
    root = str(tmp_path / "root")
    add_entry(root, "4.18.0-513.5.1.el8_9.x86_64", "$kernelopts $tuned_params")
    add_entry(root, "4.18.0-477.27.1.el8_8.x86_64", "$kernelopts $tuned_params")
    values = {"saved_entry": f"{MID}-4.18.0-513.5.1.el8_9.x86_64"}
    if kernelopts is not None:
        values["kernelopts"] = kernelopts
    write(root, "/boot/grub2/grubenv", env_block(**values))
    return root


def labels(plan):
    return [getattr(step, "label", None) or getattr(step, "argv", None) for step in plan.steps]


# --------------------------------------------------------------------------- entries
def test_entries_are_read_newest_version_first_like_blscfg(tmp_path):
    root = str(tmp_path)
    # the ids sort the other way round: only the version comparison puts 570 first
    add_entry(root, "5.14.0-570.el9.x86_64", "ro", name="a-570")
    add_entry(root, "5.14.0-503.40.1.el9_5.x86_64", "ro", name="z-503")
    add_entry(root, "5.14.0-503.40.1.el9_5.x86_64", "ro", name="b-503")
    write(root, "/boot/loader/entries/notes.txt", "not an entry")
    os.makedirs(os.path.join(root, "boot/loader/entries/dir.conf"))
    assert [e.id for e in read_entries(root)] == ["a-570", "z-503", "b-503"]


def test_options_use_kernelopts_in_either_spelling(tmp_path):
    plain = Entry("/boot/loader/entries/a.conf", "/r/a.conf", "options $kernelopts\n")
    braced = Entry("/boot/loader/entries/b.conf", "/r/b.conf", "options ro ${kernelopts} quiet\n")
    literal = Entry("/boot/loader/entries/c.conf", "/r/c.conf", "options ro kernelopts=x $tuned_params\n")
    assert (plain.uses("kernelopts"), braced.uses("kernelopts"), literal.uses("kernelopts")) == (True, True, False)
    assert _bls_reader._vars_in("$a ${b_1} $ ${} x$c") == ["a", "b_1", "c"]
    assert entries_use_kernelopts(el8_root(tmp_path)) is True
    assert entries_use_kernelopts(el9_root(tmp_path / "el9")) is False


def test_render_spaces_the_options_key_and_value():
    e = Entry("/b/x.conf", "/r/x.conf", "title x\noptions  ro quiet\r\noptions\nlinux /v\n")
    assert e.render(["ro", "vmscape=ibpb"]) == "title x\noptions  ro\r\noptions vmscape=ibpb\nlinux /v\n"
    assert e.render(["", ""]) == "title x\noptions\r\noptions\nlinux /v\n"


def test_the_default_entry_is_the_saved_one_by_id_or_title_else_the_newest():
    new = Entry("/b/new.conf", "/r/new.conf", "title Rocky 9.3\nversion 2\noptions ro\n")
    old = Entry("/b/old.conf", "/r/old.conf", "title Rocky 9.2\nversion 1\noptions ro\n")
    entries = [new, old]
    assert default_entry(entries, {"saved_entry": "old"}) is old
    assert default_entry(entries, {"saved_entry": "Rocky 9.2"}) is old
    assert default_entry(entries, {"saved_entry": "new"}) is new
    assert default_entry(entries, {"saved_entry": "gone"}) is new
    assert default_entry(entries, {}) is new
    assert default_entry([], {"saved_entry": "old"}) is None


# --------------------------------------------------------------------------- refusals
def test_no_entries_is_an_error_naming_the_directory(tmp_path):
    with pytest.raises(BootConfigError) as err:
        build_plan(str(tmp_path), SET, "grubenv")
    assert str(err.value) == f"no BLS entries in /boot/loader/entries under {tmp_path}"


def test_kernelopts_in_the_entries_but_not_in_grubenv_is_refused(tmp_path):
    root = el8_root(tmp_path, kernelopts=None)
    with pytest.raises(BootConfigError) as err:
        build_plan(root, SET, "grubenv")
    assert str(err.value) == (
        f"the BLS entries use $kernelopts but {root}/boot/grub2/grubenv has no kernelopts (grub.cfg's fallback "
        "would apply); run grub2-mkconfig first"
    )
    os.remove(os.path.join(root, "boot/grub2/grubenv"))
    with pytest.raises(BootConfigError) as err:
        build_plan(root, SET, "grubenv")
    assert "but /boot/grub2/grubenv has no kernelopts" in str(err.value)


def test_a_parameter_tuned_manages_is_refused(tmp_path):
    root = el9_root(tmp_path)
    write(root, "/boot/grub2/grubenv", env_block(tuned_params="skew_tick=1 vmscape=force"))
    with pytest.raises(BootConfigError) as err:
        build_plan(root, SET, "grubenv")
    assert str(err.value) == (
        f"{root}/boot/grub2/grubenv: tuned_params='skew_tick=1 vmscape=force' contains vmscape=force, which tuned "
        "manages; change the tuned profile instead"
    )
    write(root, "/boot/grub2/grubenv", env_block(tuned_params="skew_tick=1"))
    assert build_plan(root, SET, "grubenv").effective_after.endswith("skew_tick=1 vmscape=ibpb")


# --------------------------------------------------------------------------- EL9: literal options
def test_el9_plan_changes_defaults_kernel_cmdline_and_every_entry(tmp_path):
    root = el9_root(tmp_path)
    plan = build_plan(root, SET, "grubenv")
    assert (plan.backend, plan.root) == ("grubenv", root)
    new, old = (
        f"/boot/loader/entries/{MID}-5.14.0-{v}.conf" for v in ("362.8.1.el9_3.x86_64", "284.30.1.el9_2.x86_64")
    )
    assert labels(plan) == ["/etc/default/grub", "/etc/kernel/cmdline", new, old]
    assert all(isinstance(s, FileChange) for s in plan.steps)
    entry = plan.steps[2]
    assert entry.path == os.path.join(root, new.lstrip("/"))
    assert entry.before == entry_text("5.14.0-362.8.1.el9_3.x86_64", EL9_OPTS + " $tuned_params").encode()
    assert entry.after == entry_text("5.14.0-362.8.1.el9_3.x86_64", EL9_OPTS + " $tuned_params vmscape=ibpb").encode()
    assert plan.effective_before == EL9_OPTS
    assert plan.effective_after == EL9_OPTS + " vmscape=ibpb"
    assert plan.warnings == [] and plan.notes == []


def test_without_defaults_or_kernel_cmdline_only_the_entries_change(tmp_path):
    root = el9_root(tmp_path, kernel_cmdline=False, defaults=False)
    plan = build_plan(root, SET, "grubenv")
    assert [os.path.basename(str(x)) for x in labels(plan)] == [
        f"{MID}-5.14.0-362.8.1.el9_3.x86_64.conf",
        f"{MID}-5.14.0-284.30.1.el9_2.x86_64.conf",
    ]


def test_a_kernel_cmdline_that_already_carries_the_parameter_is_no_step(tmp_path):
    root = el9_root(tmp_path, defaults=False)
    write(root, "/etc/kernel/cmdline", EL9_OPTS + " vmscape=ibpb\n")
    plan = build_plan(root, SET, "grubenv")
    assert [os.path.basename(str(x)) for x in labels(plan)] == [
        f"{MID}-5.14.0-362.8.1.el9_3.x86_64.conf",
        f"{MID}-5.14.0-284.30.1.el9_2.x86_64.conf",
    ]


def test_entries_without_options_are_left_alone_and_named(tmp_path):
    root = str(tmp_path / "root")
    # the newest entry has no options line: it must not stop the others from being planned
    add_entry(root, "5.14.0-570.el9.x86_64", None, name="c-570")
    add_entry(root, "5.14.0-503.el9.x86_64", "ro", name="b-503")
    add_entry(root, "5.14.0-427.el9.x86_64", None, name="a-427")
    plan = build_plan(root, SET, "grubenv")
    assert plan.warnings == ["BLS entries without an options line were left alone: c-570, a-427"]
    assert [os.path.basename(s.label) for s in plan.steps] == ["b-503.conf"]
    assert (plan.effective_before, plan.effective_after) == ("", "")  # the default (newest) has none
    assert build_plan(root, REMOVE, "grubenv").warnings == []  # nothing to add: nothing left alone


# --------------------------------------------------------------------------- EL8: $kernelopts
def test_el8_plan_edits_kernelopts_not_the_entries(tmp_path, monkeypatch):
    # stand-in for a host without grub2-editenv/grub-editenv: the block is written by this code
    monkeypatch.setattr(_bls, "find_tool", lambda root, names: None)
    root = el8_root(tmp_path)
    env = os.path.join(root, "boot/grub2/grubenv")
    plan = build_plan(root, SET, "grubenv")
    assert labels(plan) == ["/boot/grub2/grubenv"]
    change = plan.steps[0]
    assert change.path == env and change.writer is None
    assert change.before == env_block(saved_entry=f"{MID}-4.18.0-513.5.1.el8_9.x86_64", kernelopts=EL9_OPTS)
    assert change.after == env_block(
        saved_entry=f"{MID}-4.18.0-513.5.1.el8_9.x86_64", kernelopts=EL9_OPTS + " vmscape=ibpb"
    )
    assert plan.effective_before == EL9_OPTS
    assert plan.effective_after == EL9_OPTS + " vmscape=ibpb"


@needs_tool("grub-editenv", "grub-common")
def test_el8_kernelopts_are_written_by_grub_editenv_as_predicted(tmp_path):
    root = el8_root(tmp_path)
    plan = build_plan(root, SET, "grubenv")
    change = plan.steps[0]
    assert change.writer is not None
    commands = []
    change.writer(lambda argv: _command_runner.run(argv, timeout=60), commands)
    with open(change.path, "rb") as f:
        assert f.read() == change.after  # what the real tool wrote is what the plan predicted
    listed = subprocess.run(["grub-editenv", change.path, "list"], capture_output=True, text=True, check=True)
    assert f"kernelopts={EL9_OPTS} vmscape=ibpb" in listed.stdout.splitlines()


def test_regeneration_of_a_restore_checks_every_entry(tmp_path, monkeypatch):
    # stand-in: a root prepared for chroot (/proc, /sys, /dev mounted) is assumed; nothing runs
    root = el9_root(tmp_path)
    write(root, "/usr/sbin/grub2-mkconfig", "#!/bin/sh\n")
    os.chmod(os.path.join(root, "usr/sbin/grub2-mkconfig"), 0o755)
    monkeypatch.setattr(_grub_defaults, "chroot_problem", lambda r: None)
    plan = Plan("grubenv", root)
    _bls.add_regeneration_for_restore(root, plan, SET)
    assert [c.argv for c in plan.regen] == [["chroot", root, "grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]]
    env = os.path.join(root, "boot/grub2/grubenv")
    assert env in plan.regen[0].touches
    assert plan.regen[0].touch_globs == [(os.path.join(root, "boot/loader/entries"), "*.conf")]
    problems, warnings = plan.verify_regen()
    entries = sorted(e.real_path for e in read_entries(root))
    assert problems == [
        *(f"{p}: vmscape occurs 0 times (want exactly once)" for p in reversed(entries)),
        f"{root}/boot/grub2/grub.cfg is missing",
    ]
    assert warnings == []


# --------------------------------------------------------------------------- applying and checking
def apply(plan):
    """Write what the plan's file steps predict (what the module's executor does with them)."""
    for step in plan.steps:
        with open(step.path, "wb") as f:
            f.write(step.after)


def regen_ready(root, monkeypatch):
    """grub2-mkconfig under root; stand-in: the root counts as prepared for chroot (nothing runs)."""
    write(root, "/usr/sbin/grub2-mkconfig", "#!/bin/sh\n")
    os.chmod(os.path.join(root, "usr/sbin/grub2-mkconfig"), 0o755)
    monkeypatch.setattr(_grub_defaults, "chroot_problem", lambda r: None)
    for v in ("5.14.0-362.8.1.el9_3.x86_64", "5.14.0-284.30.1.el9_2.x86_64"):
        write(root, f"/boot/vmlinuz-{v}", b"MZ" * 100)


def test_the_check_after_the_change_names_each_wrong_file(tmp_path):
    root = el9_root(tmp_path)
    plan = build_plan(root, SET, "grubenv")
    apply(plan)
    assert plan.verify() == []
    assert plan.expected_cmdline() == ["root=/dev/mapper/rl-root", "ro", "rhgb", "quiet", "vmscape=ibpb"]
    new = plan.steps[2]
    with open(new.path, "wb") as f:  # the value changed and another parameter replaced
        f.write(new.after.replace(b"vmscape=ibpb", b"vmscape=off").replace(b"rhgb", b"nomodeset"))
    add_entry(root, "5.14.0-570.el9.x86_64", "ro")  # appeared after the plan: not judged
    add_entry(root, "5.14.0-1.el9.x86_64", None, name="z-no-options")
    wrong = f"{new.path}: vmscape has the value 'off' (want 'ibpb')"
    other = (
        f"{new.path}: other parameters changed: 'root=/dev/mapper/rl-root ro rhgb quiet' -> "
        "'root=/dev/mapper/rl-root ro nomodeset quiet'"
    )
    assert plan.verify() == [wrong, other]
    assert plan.verify(strict=False) == [wrong]
    with open(os.path.join(root, "etc/kernel/cmdline"), "w") as f:
        f.write("root=x\n")
    with open(os.path.join(root, "etc/default/grub"), "w") as f:
        f.write("GRUB_TIMEOUT=5\n")
    assert plan.verify() == [
        wrong,
        other,
        "GRUB_CMDLINE_LINUX='' GRUB_CMDLINE_LINUX_DEFAULT='' on disk, planned 'rhgb quiet vmscape=ibpb' and ''",
        f"{root}/etc/kernel/cmdline holds 'root=x', planned 'root=/dev/mapper/rl-root ro rhgb quiet vmscape=ibpb'",
    ]
    assert plan.verify(strict=False) == [wrong]  # defaults and kernel-install input: checked strictly only


def test_the_check_of_kernelopts_names_grubenv(tmp_path, monkeypatch):
    monkeypatch.setattr(_bls, "find_tool", lambda root, names: None)
    root = el8_root(tmp_path)
    plan = build_plan(root, SET, "grubenv")
    apply(plan)
    assert plan.verify() == []
    env = os.path.join(root, "boot/grub2/grubenv")
    write(root, "/boot/grub2/grubenv", env_block(kernelopts=EL9_OPTS + " vmscape=ibpb vmscape=off"))
    twice = "vmscape occurs 2 times (want exactly once)"
    # each entry takes $kernelopts (newest first), then grubenv itself
    assert plan.verify() == [*(f"{e.real_path}: {twice}" for e in read_entries(root)), f"{env} kernelopts: {twice}"]


def test_the_check_after_regeneration(tmp_path, monkeypatch):
    root = el9_root(tmp_path)
    regen_ready(root, monkeypatch)
    plan = build_plan(root, SET, "grubenv")
    env = os.path.join(root, "boot/grub2/grubenv")
    assert [c.argv for c in plan.regen] == [["chroot", root, "grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]]
    assert plan.regen[0].touches[-1] == env
    assert plan.regen[0].touch_globs == [(os.path.join(root, "boot/loader/entries"), "*.conf")]
    apply(plan)
    cfg = os.path.join(root, "boot/grub2/grub.cfg")
    assert plan.verify_regen() == ([f"{cfg} is missing"], [])
    write(root, "/boot/grub2/grub.cfg", " \n")
    assert plan.verify_regen() == ([f"{cfg} is empty"], [])
    write(root, "/boot/grub2/grub.cfg", "set default=0\nblscfg\n")
    assert plan.verify_regen() == ([], [])
    new = plan.steps[2]
    with open(new.path, "wb") as f:
        f.write(new.after.replace(b"vmscape=ibpb", b"vmscape=off").replace(b"rhgb", b"nomodeset"))
    # after regeneration the check is not strict (grub2-mkconfig may rewrite other parameters),
    # and the default entry must carry the planned command line in order
    assert plan.verify_regen() == (
        [
            f"{new.path}: vmscape has the value 'off' (want 'ibpb')",
            "the default entry of the regenerated boot menu does not carry the configured command line in order "
            "(missing: rhgb vmscape=ibpb)",
        ],
        [],
    )


# --------------------------------------------------------------------------- grubby (real host)
GRUBBY = "/usr/sbin/grubby"


@pytest.fixture
def grubby(monkeypatch):
    """Stand-in for the real host (root /) with grubby installed: the plan only names the command."""
    monkeypatch.setattr(_bls, "grubby_tool", lambda root, backend: GRUBBY if backend == "grubby" else None)


def test_grubby_updates_every_kernel_removing_each_old_occurrence(tmp_path, grubby):
    root = el9_root(tmp_path)
    old = os.path.join(root, f"boot/loader/entries/{MID}-5.14.0-284.30.1.el9_2.x86_64.conf")
    with open(old, "w") as f:
        f.write(entry_text("5.14.0-284.30.1.el9_2.x86_64", EL9_OPTS + " vmscape=off vmscape=auto"))
    plan = build_plan(root, SET, "grubby")
    argv = [GRUBBY, "--update-kernel=ALL", "--remove-args=vmscape vmscape", "--args=vmscape=ibpb"]
    assert labels(plan) == ["/etc/default/grub", "/etc/kernel/cmdline", argv]
    cmd = plan.steps[2]
    assert cmd.description == "grubby"
    assert cmd.touches == [os.path.join(root, "boot/grub2/grubenv")]
    assert cmd.touch_globs == [(os.path.join(root, "boot/loader/entries"), "*.conf")]
    assert [c.label for c in cmd.predicted] == [
        f"/boot/loader/entries/{MID}-5.14.0-362.8.1.el9_3.x86_64.conf",
        f"/boot/loader/entries/{MID}-5.14.0-284.30.1.el9_2.x86_64.conf",
    ]
    assert plan.notes == ["entries changed with " + " ".join(argv)]
    assert build_plan(root, SET, "grubenv").notes == []  # the grubenv backend never runs grubby


def test_grubby_sets_a_flag_and_needs_no_grubenv(tmp_path, grubby):
    root = el9_root(tmp_path, kernel_cmdline=False, defaults=False)
    os.remove(os.path.join(root, "boot/grub2/grubenv"))
    plan = build_plan(root, build_request({"nosmt": None}, []), "grubby")
    assert [s.argv for s in plan.steps] == [[GRUBBY, "--update-kernel=ALL", "--args=nosmt"]]
    assert plan.steps[0].touches == []


def test_grubby_only_removes(tmp_path, grubby):
    root = el9_root(tmp_path, kernel_cmdline=False, defaults=False)
    for p in [e.real_path for e in read_entries(root)]:
        with open(p) as f:
            text = f.read()
        with open(p, "w") as f:
            f.write(text.replace(" quiet", " quiet vmscape=off"))
    plan = build_plan(root, REMOVE, "grubby")
    assert [s.argv for s in plan.steps] == [[GRUBBY, "--update-kernel=ALL", "--remove-args=vmscape"]]


def test_grubby_is_not_used_for_kernelopts_or_look_alike_parameters(tmp_path, grubby, monkeypatch):
    monkeypatch.setattr(_bls, "find_tool", lambda root, names: None)
    el8 = build_plan(el8_root(tmp_path / "el8"), SET, "grubby")
    assert el8.notes == [
        "grubby not used: entries use $kernelopts (grubby versions treat it differently); entry files edited directly"
    ]
    assert labels(el8) == ["/boot/grub2/grubenv"]
    root = el9_root(tmp_path / "el9", kernel_cmdline=False, defaults=False)
    old = os.path.join(root, f"boot/loader/entries/{MID}-5.14.0-284.30.1.el9_2.x86_64.conf")
    with open(old, "w") as f:
        f.write(entry_text("5.14.0-284.30.1.el9_2.x86_64", EL9_OPTS + " rd.novmscape=1"))
    plan = build_plan(root, SET, "grubby")
    assert plan.notes == [f"grubby not used: {old}: 'rd.novmscape=1' contains 'vmscape'; entry files edited directly"]
    assert all(isinstance(s, FileChange) for s in plan.steps) and len(plan.steps) == 2
