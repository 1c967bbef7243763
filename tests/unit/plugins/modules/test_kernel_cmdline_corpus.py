"""kernel_cmdline over the corpus in tests/data/bootcfg (index: cases.yml, provenance: README.md).

For every case and operation: the backend detected; the effective command line before and
after (GRUB cases also through the real /bin/sh oracle; grubenv through the real
grub-editenv; /etc/kernel/cmdline through kernel-install's own ``tr -s "$IFS" ' '``);
check mode touches nothing (checksums, modes, owners); the exact unified diff of every file
equals <case>/expected/<op>.diff, in check mode and for real; backups hold the old content;
a second run changes nothing. Refused cases fail with file and line and touch nothing.

Regeneration never runs here: the scratch roots have no update-grub/grub-mkconfig and are
not chroot-ready, so the module reports ``regenerate_skipped`` (the integration tests run the
real grub-mkconfig).

``KC_WRITE_GOLDEN=1`` rewrites the expected diffs from the current code (review them!).
"""

import os
import shutil
import subprocess

import pytest
from hypothesis_profiles import in_ci
from skip_policy import missing
from test_kernel_cmdline_support import CORPUS, copy_case, dash_effective, load_cases, run_module, tree_state

from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import detect as _detect
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grub_defaults as _grub_defaults
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import grubenv as _grubenv
from ansible_collections.fleetsec.vmscape.plugins.module_utils._bootcfg import tokens as _tokens
from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import split_raw

CASES = load_cases()
DEFAULT_OPS = {"set": {"params": {"vmscape": "ibpb"}}, "remove": {"remove": ["vmscape"]}}
# The expected diffs are regression goldens; what the change must achieve is judged by the
# hand-written before/after of cases.yml through the real /bin/sh, grub-editenv and tr.
WRITE_GOLDEN = os.environ.get("KC_WRITE_GOLDEN") == "1"
if WRITE_GOLDEN and in_ci():
    raise RuntimeError("KC_WRITE_GOLDEN=1 under CI=true: goldens are written by hand-reviewed local runs only")
GRUB_EDITENV = shutil.which("grub-editenv")


def op_args(op, spec):
    args = dict(DEFAULT_OPS.get(op, {}))
    for key in ("params", "remove"):
        if key in spec:
            args = {key: spec[key]}
    return args


OPS = [
    (case, op, spec)
    for case, c in sorted(CASES.items())
    if "error" not in c
    for op, spec in sorted(c["ops"].items())
    if "error" not in spec
]
ERRORS = [(case, None, c) for case, c in sorted(CASES.items()) if "error" in c] + [
    (case, op, spec)
    for case, c in sorted(CASES.items())
    if "error" not in c
    for op, spec in sorted(c["ops"].items())
    if "error" in spec
]


def normalized(text, root):
    return text.replace(root, "")


def golden_path(case, op):
    return os.path.join(CORPUS, case, "expected", f"{op}.diff")


def read_golden(case, op):
    with open(golden_path(case, op)) as f:
        return f.read()


def grubenv_list(root):
    """Variables of the case's grubenv as the real grub-editenv lists them."""
    real = _grubenv.load(root).real_path
    out = subprocess.run([GRUB_EDITENV, real, "list"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def kernel_install_view(root):
    """/etc/kernel/cmdline the way kernel-install 252 reads it: tr -s "$IFS" ' '."""
    path = os.path.join(root, "etc", "kernel", "cmdline")
    script = 'tr -s "$IFS" " " < "$1"'
    if not os.path.exists(path):  # its fallback (90-loaderentry.install, systemd 252)
        path = os.path.join(root, "proc", "cmdline")
        script = """tr -s "$IFS" '\\n' < "$1" | grep -ve '^BOOT_IMAGE=' -e '^initrd=' | tr '\\n' ' '"""
    out = subprocess.run(["sh", "-c", script, "sh", path], capture_output=True, text=True, check=True).stdout
    return " ".join(split_raw(out))


def bls_views(root):
    """Each BLS entry's ``options`` as GRUB's blscfg expands them: ``$name`` from the env block
    (read by the real grub-editenv), unknown variables empty. Independent of the module's
    own BLS and grubenv readers, so the after-state is judged by something else than the code."""
    env_path = os.path.join(root, "boot", "grub2", "grubenv")
    env = {}
    if GRUB_EDITENV is None:
        missing("grub-editenv not found on PATH (Debian package grub-common, listed in tools/system-packages.txt)")
    if os.path.exists(env_path):
        out = subprocess.run([GRUB_EDITENV, env_path, "list"], capture_output=True, text=True, check=True).stdout
        env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    views = {}
    entries = os.path.join(root, "boot", "loader", "entries")
    for name in sorted(os.listdir(entries)):
        with open(os.path.join(entries, name)) as f:
            opts = [line.split(None, 1)[1] for line in f if line.startswith("options ")]
        words = []
        for word in (opts[0] if opts else "").split():
            words += env.get(word[1:], "").split() if word.startswith("$") else [word]
        views[name] = " ".join(words)
    return views


@pytest.mark.parametrize("case", sorted(c for c in CASES if "error" not in CASES[c]))
def test_detects_backend(case, tmp_path):
    root = copy_case(case, tmp_path)
    assert _detect.detect(root)[0] == CASES[case]["backend"]


@pytest.mark.parametrize(("case", "op", "spec"), OPS, ids=[f"{c}-{o}" for c, o, _s in OPS])
def test_corpus_operation(case, op, spec, tmp_path):
    c = CASES[case]
    root = copy_case(case, tmp_path)
    args = dict(op_args(op, spec), root=root)
    original = tree_state(root)
    if c.get("oracle"):
        assert dash_effective(root, tmp_path) == c["before"]
    if c["backend"] in ("grubby", "grubenv"):
        bls_before = bls_views(root)
        assert c["before"] in bls_before.values()

    # check mode: the planned diff, nothing touched
    res, failed = run_module(args, check_mode=True)
    assert not failed, res["msg"]
    assert tree_state(root) == original
    assert res["backend"] == c["backend"]
    assert res["previous_cmdline"] == c["before"]
    assert res["effective_cmdline"] == spec["after"]
    diff = normalized(res["unified_diff"], root)
    if WRITE_GOLDEN:
        os.makedirs(os.path.dirname(golden_path(case, op)), exist_ok=True)
        with open(golden_path(case, op), "w") as f:
            f.write(diff)
    golden = read_golden(case, op)
    assert diff == golden
    assert res["changed"] == bool(golden)
    assert [d["after_header"] for d in res["diff"]] == res["files"]
    if "warning" in c:
        assert any(c["warning"] in w for w in res["warnings"])

    # for real: the same diff, backups of the old content, the effective result
    res, failed = run_module(args)
    assert not failed, res["msg"]
    assert normalized(res["unified_diff"], root) == golden
    assert res["changed"] == bool(golden)
    assert res["regenerated"] is False and res["regenerate_skipped"]
    changed_rel = sorted(os.path.relpath(p, root) for p in res["files"])
    after = tree_state(root)
    backups = {os.path.relpath(b, root) for b in res["backups"].values()}
    journal = os.path.join("var", "lib", "fleetsec-vmscape", "")  # kernel_cmdline's change journal
    changed = [k for k in after if k not in backups and after[k] != original.get(k) and not k.startswith(journal)]
    assert sorted(changed) == changed_rel
    for path, backup in res["backups"].items():
        rel = os.path.relpath(path, root)
        assert backup.startswith(path + ".") and backup.endswith("~")
        assert after[os.path.relpath(backup, root)][0] == original[rel][0]
        assert after[rel][1:] == original[rel][1:]  # mode, owner, group kept
    if c.get("oracle"):
        assert dash_effective(root, tmp_path) == spec["after"]
    if c["backend"] == "grubenv":
        env = grubenv_list(root)
        for _n, _v, key in _tokens.build_request(args.get("params"), args.get("remove")).sets:
            assert sum(1 for t in split_raw(env["kernelopts"]) if _tokens.token_key(t) == key) == 1
    if c["backend"] == "systemd-boot":
        assert kernel_install_view(root) == spec["after"]
    if c["backend"] in ("grubby", "grubenv"):
        # every entry that booted with ``before`` boots with ``after`` now
        bls_after = bls_views(root)
        assert {n: bls_after[n] for n, v in bls_before.items() if v == c["before"]} == {
            n: spec["after"] for n, v in bls_before.items() if v == c["before"]
        }

    # idempotent
    res, failed = run_module(args)
    assert not failed and not res["changed"] and res["files"] == []
    assert tree_state(root) == after


@pytest.mark.parametrize(("case", "op", "spec"), ERRORS, ids=[f"{c}-{o}" for c, o, _s in ERRORS])
@pytest.mark.parametrize("check_mode", [True, False])
def test_corpus_refusal(case, op, spec, check_mode, tmp_path):
    root = copy_case(case, tmp_path)
    original = tree_state(root)
    args = dict(op_args(op or "set", spec), root=root)
    res, failed = run_module(args, check_mode=check_mode)
    assert failed
    assert spec["error"] in res["msg"]
    if op is None:
        assert res["msg"].startswith(os.path.join(root, ""))  # names the file (and line)
    assert tree_state(root) == original


@pytest.mark.parametrize("case", sorted(c for c, v in CASES.items() if v.get("oracle")))
def test_parser_matches_dash_exactly(case, tmp_path):
    """Not only the tokens: the two variables byte for byte."""
    from test_kernel_cmdline_support import dash_values

    root = copy_case(case, tmp_path)
    _state, _lt, _dt, lv, dv = _grub_defaults.evaluate(_grub_defaults.load(root))
    mine = (lv.text if lv is not None else "", dv.text if dv is not None else "")
    assert mine == dash_values(root, tmp_path)


def test_heredoc_case_is_not_sourced_but_parsed(tmp_path):
    """The heredoc drop-in would write /boot/grub/custom.cfg if run; the parser still follows it."""
    root = copy_case("heredoc-custom-cfg", tmp_path)
    _state, lt, dt, _lv, _dv = _grub_defaults.evaluate(_grub_defaults.load(root))
    assert lt == ["console=ttyS0", "panic=30"] and dt == ["quiet"]
    assert not os.path.exists(os.path.join(root, "boot"))
