"""Shared helpers of the kernel_cmdline tests (and tests of the helpers themselves).

- ``run_module``: the module's own ``run_module`` with a stand-in for AnsibleModule, so the
  orchestration (check mode, diff, backups, failure handling) is what is tested.
- ``dash_effective``: the /bin/sh oracle. The GRUB defaults of a case are copied to a scratch
  directory and sourced exactly like grub-mkconfig does (``set -e``; main file; then
  ``for x in grub.d/*.cfg; [ -e "$x" ] && . "$x"``) by the real /bin/sh (dash on Debian), with
  an empty environment; the two variables are printed NUL-separated on a separate fd.
- ``tree_state``: sha256 + mode + owner of every file of a tree, to prove check mode and
  refusals touch nothing.
"""

import hashlib
import os
import shutil
import stat
import subprocess

import pytest
import yaml

from ansible_collections.fleetsec.vmscape.plugins.module_utils._common.cmdline import split_raw
from ansible_collections.fleetsec.vmscape.plugins.modules import kernel_cmdline

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(REPO, "tests", "data", "bootcfg")
SH = "/bin/sh"


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def load_cases():
    with open(os.path.join(CORPUS, "cases.yml")) as f:
        return yaml.safe_load(f)["cases"]


def copy_case(case, dest):
    root = os.path.join(str(dest), "root")
    shutil.copytree(os.path.join(CORPUS, case, "root"), root, symlinks=True)
    return root


class ModuleExit(Exception):
    def __init__(self, result, failed):
        Exception.__init__(self, result.get("msg", ""))
        self.result = result
        self.failed = failed


class FakeModule:
    """The subset of AnsibleModule that kernel_cmdline.run_module uses."""

    def __init__(self, params, check_mode=False):
        defaults = {"params": {}, "remove": [], "root": "/", "backend": "auto", "regenerate": True, "backup": True}
        defaults.update(params)
        self.params = defaults
        self.check_mode = check_mode
        self.warnings = []
        self.commands = []

    def warn(self, msg):
        self.warnings.append(msg)

    def get_bin_path(self, name, opt_dirs=None):
        return shutil.which(name, path=":".join([*(opt_dirs or []), os.environ.get("PATH", "")]))

    def run_command(self, argv, environ_update=None):
        self.commands.append(list(argv))
        env = dict(os.environ)
        env.update(environ_update or {})
        p = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        return p.returncode, p.stdout, p.stderr

    def exit_json(self, **result):
        result["warnings"] = list(self.warnings)
        raise ModuleExit(result, failed=False)

    def fail_json(self, msg, **result):
        result["msg"] = msg
        result["warnings"] = list(self.warnings)
        raise ModuleExit(result, failed=True)


def run_module(params, check_mode=False, module=None):
    """Run the module; return (result, failed)."""
    module = module or FakeModule(params, check_mode)
    try:
        kernel_cmdline.run_module(module)
    except ModuleExit as e:
        return e.result, e.failed
    raise AssertionError("module returned without exit_json/fail_json")


def tree_state(root):
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(path, root)] = (digest, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return out


def dash_values(root, tmp):
    """(GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT) as /bin/sh sees them after sourcing."""
    scratch = os.path.join(str(tmp), "oracle-etc")
    if os.path.exists(scratch):
        shutil.rmtree(scratch)
    os.makedirs(os.path.join(scratch, "default", "grub.d"))
    main = os.path.join(root, "etc", "default", "grub")
    if os.path.isfile(main):
        shutil.copy(main, os.path.join(scratch, "default", "grub"))
    dropins = os.path.join(root, "etc", "default", "grub.d")
    if os.path.isdir(dropins):
        for name in os.listdir(dropins):
            shutil.copy(os.path.join(dropins, name), os.path.join(scratch, "default", "grub.d", name))
    out = os.path.join(str(tmp), "oracle-out")
    script = (
        'sysconfdir="$1"\n'
        "if test -f ${sysconfdir}/default/grub ; then . ${sysconfdir}/default/grub; fi\n"
        "for x in ${sysconfdir}/default/grub.d/*.cfg ; do\n"
        '  if [ -e "${x}" ]; then . "${x}"; fi\n'
        "done\n"
        'printf "%s\\0%s" "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT" > "$2"\n'
    )
    p = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", SH, "-e", "-c", script, "sh", scratch, out],
        capture_output=True,
        cwd=str(tmp),
        check=False,
    )
    assert p.returncode == 0, p.stderr
    with open(out, "rb") as f:
        linux, default = f.read().decode().split("\0")
    return linux, default


def dash_effective(root, tmp):
    linux, default = dash_values(root, tmp)
    return " ".join(split_raw(linux) + split_raw(default))


# --------------------------------------------------------------------------- tests of the helpers
def test_corpus_index_matches_directories():
    cases = load_cases()
    dirs = sorted(d for d in os.listdir(CORPUS) if os.path.isdir(os.path.join(CORPUS, d)))
    assert sorted(cases) == dirs
    files = sum(len(fs) for _d, _s, fs in os.walk(CORPUS))
    assert files >= 25


def test_dash_oracle_sees_dropin_override(tmp_path):
    root = copy_case("ubuntu2404-cloudimg", tmp_path)
    assert dash_values(root, tmp_path) == ("", "console=tty1 console=ttyS0")


def test_dash_oracle_fails_loudly_on_broken_file(tmp_path):
    root = tmp_path / "r"
    (root / "etc" / "default").mkdir(parents=True)
    (root / "etc" / "default" / "grub").write_text('GRUB_CMDLINE_LINUX="unterminated\n')
    with pytest.raises(AssertionError):
        dash_values(str(root), tmp_path)


def test_tree_state_notices_mode_change(tmp_path):
    (tmp_path / "f").write_text("x")
    before = tree_state(str(tmp_path))
    os.chmod(str(tmp_path / "f"), 0o600)
    assert tree_state(str(tmp_path)) != before
