"""kernel_cmdline with Debian's real grub-mkconfig (grub-common + grub-pc-bin), and from the CLI.

grub-mkconfig reads /etc/default/grub and /etc/default/grub.d from a fixed sysconfdir, runs
/etc/grub.d/* and probes the devices of / and /boot; its output path is ours (-o). To run it
for real without touching this machine, every run happens in a private mount namespace
(``unshare --mount``, propagation private) where a scratch /etc/default and a scratch /boot
(fake kernel images and initrds) are bind-mounted over the real ones; the script refuses to
go on unless marker files prove the scratch directories are in place. /etc/grub.d is the
machine's own, read-only use. Outside the namespace the real /etc/default, /boot and
/etc/kernel are checksummed before and after every test. Only where grub-probe cannot name
the device of / (overlayfs roots in CI containers) is grub-probe replaced by a stub inside
the namespace.

A scratch /var/lib is bind-mounted too, so the change journal (/var/lib/fleetsec-vmscape)
lands in the scratch tree (grub-mkconfig needs nothing from /var/lib: ``dpkg
--compare-versions`` works without its database); the real /var/lib/fleetsec-vmscape is
checked to stay as it was.

Inside the namespace the module runs with root=/ and regenerate=true, exactly as on a host:
it finds grub-mkconfig (or a stand-in update-grub in a tmpfs on /usr/local/sbin), runs it,
and checks the generated ``linux`` lines itself; the test then checks them again: each
10_linux entry carries vmscape= exactly once (recovery entries too: grub-mkconfig gives them
``single`` + GRUB_CMDLINE_LINUX, never GRUB_CMDLINE_LINUX_DEFAULT) and every other token in
order. A change followed by ``restore: latest`` must give grub.cfg's ``linux`` lines (and the
GRUB defaults, byte for byte) back.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from skip_policy import needs_path, needs_root, needs_tool

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "bootcfg"
PY = sys.executable
ANSIBLE = shutil.which("ansible") or str(REPO / ".venv" / "bin" / "ansible")
MARKER = ".fleetsec-scratch-marker"
KERNELS = ("6.1.0-28-amd64", "6.1.0-31-amd64")

pytestmark = [
    pytest.mark.integration,
    needs_root("grub-mkconfig and mount namespaces need root"),
    needs_tool("unshare", "util-linux"),
    needs_path("/usr/sbin/grub-mkconfig", "grub-common"),
    needs_path("/etc/grub.d/10_linux", "grub-common"),
]


def real_state():
    """What must never change: /etc/default (recursively) and /boot (recursively)."""
    out = {}
    for top in ("/etc/default", "/boot", "/etc/kernel", "/var/lib/fleetsec-vmscape"):
        if not os.path.exists(top):
            out[top] = None
            continue
        for dirpath, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                p = os.path.join(dirpath, name)
                try:
                    with open(p, "rb") as f:
                        out[p] = hashlib.sha256(f.read()).hexdigest()
                except OSError as e:
                    out[p] = f"unreadable: {e.errno}"
            out[dirpath] = sorted(dirs + files)
    out["/etc/default/grub exists"] = os.path.exists("/etc/default/grub")
    out["/boot/grub/grub.cfg exists"] = os.path.exists("/boot/grub/grub.cfg")
    return out


@pytest.fixture(autouse=True)
def machine_untouched():
    before = real_state()
    yield
    assert real_state() == before, "the machine's real /etc/default or /boot changed"


def make_tree(tmp_path, case):
    tree = tmp_path / "tree"
    shutil.copytree(CORPUS / case / "root" / "etc" / "default", tree / "etc" / "default", symlinks=True)
    boot = tree / "boot"
    (boot / "grub").mkdir(parents=True)
    for k in KERNELS:
        (boot / f"vmlinuz-{k}").write_bytes(b"fake kernel image\n")
        (boot / f"initrd.img-{k}").write_bytes(b"fake initrd\n")
    (tree / "var" / "lib").mkdir(parents=True)
    for d in (tree / "etc" / "default", boot, tree / "var" / "lib"):
        (d / MARKER).write_text("scratch\n")
    return tree


# grub-mkconfig dies (set -e) when grub-probe cannot name the device of / (e.g. an overlayfs
# root in a CI container). Only then, grub-probe alone is replaced inside the namespace by a
# stub answering like a plain ext4 partition; everything else stays the real grub-mkconfig.
PROBE_STUB = """#!/bin/sh
for a in "$@"; do case "$a" in
  --target=device) echo /dev/sda1 ;; --target=fs) echo ext2 ;;
  --target=fs_uuid) echo 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b ;;
  --target=partuuid) echo 1a2b3c4d-01 ;; --target=drive) echo "(hd0,msdos1)" ;; --target=partmap) echo msdos ;;
  --target=compatibility_hint) echo hd0,msdos1 ;; --target=*) ;;
esac; done
"""


def probe_works():
    p = subprocess.run(["/usr/sbin/grub-probe", "--target=device", "/"], capture_output=True, check=False)
    return p.returncode == 0


def in_namespace(tree, argv, update_grub=False, env=None):
    """Run argv with the scratch /etc/default and /boot mounted over the real ones."""
    script = [
        "set -eu",
        f'mount --bind "{tree}/etc/default" /etc/default',
        f'mount --bind "{tree}/boot" /boot',
        f'mount --bind "{tree}/var/lib" /var/lib',
        f"test -e /etc/default/{MARKER}",
        f"test -e /boot/{MARKER}",
        f"test -e /var/lib/{MARKER}",
    ]
    if not probe_works():
        stub = tree.parent / "grub-probe-stub"
        stub.write_text(PROBE_STUB)
        stub.chmod(0o755)
        script.append(f'mount --bind "{stub}" /usr/sbin/grub-probe')
    if update_grub:
        script += [
            "mount -t tmpfs fleetsec-sbin /usr/local/sbin",
            # Debian's /usr/sbin/update-grub (grub2-common), verbatim in behaviour
            "printf '#!/bin/sh\\nset -e\\nexec grub-mkconfig -o /boot/grub/grub.cfg \"$@\"\\n' "
            "> /usr/local/sbin/update-grub",
            "chmod 755 /usr/local/sbin/update-grub",
        ]
    script.append('exec "$@"')
    full_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), LC_ALL="C")
    full_env.update(env or {})
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script), "sh", *argv],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(REPO),
        check=False,
    )


MODULE_DRIVER = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from test_kernel_cmdline_support import run_module
args = dict({"restore": None, "force": False}, **json.loads(sys.argv[3]))
res, failed = run_module(args, check_mode=sys.argv[4] == "check")
res["failed"] = failed
print(json.dumps(res))
"""


def module_in_namespace(tree, args, update_grub=False, check_mode=False):
    mode = "check" if check_mode else "run"
    p = in_namespace(
        tree,
        [PY, "-c", MODULE_DRIVER, str(REPO / "collections"), str(REPO / "tests" / "unit"), json.dumps(args), mode],
        update_grub=update_grub,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def linux_lines(tree):
    """(is_recovery, [args after the kernel path]) for each 10_linux entry of the scratch grub.cfg."""
    text = (tree / "boot" / "grub" / "grub.cfg").read_text()
    section = text.split("### BEGIN /etc/grub.d/10_linux ###")[1].split("### END /etc/grub.d/10_linux ###")[0]
    out = []
    for line in section.splitlines():
        words = line.split()
        if words and words[0] == "linux":
            args = words[2:]
            assert args[0].startswith("root=") and args[1] == "ro", line  # grub-mkconfig's own
            rest = args[2:]
            recovery = bool(rest) and rest[0] == "single"
            out.append((recovery, rest[1:] if recovery else rest))
    return out


def grub_values(tree, tmp_path):
    sys.path.insert(0, str(REPO / "tests" / "unit"))
    from test_kernel_cmdline_support import dash_values

    return dash_values(str(tree), tmp_path)


CASES = ["debian12-default", "duplicated-tokens", "ubuntu2404-cloudimg", "backslash-continuation", "heredoc-custom-cfg"]


@pytest.mark.parametrize("case", CASES)
def test_real_grub_mkconfig_gives_every_linux_entry_the_parameter_once(case, tmp_path):
    tree = make_tree(tmp_path, case)
    p = in_namespace(tree, ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"])
    assert p.returncode == 0, p.stderr
    assert len(linux_lines(tree)) == 2 * 2 + 1  # simple entry + (normal, recovery) per kernel

    res = module_in_namespace(tree, {"params": {"vmscape": "ibpb"}})
    assert not res["failed"], res["msg"]
    assert res["changed"] and res["regenerated"]
    assert res["regenerate_commands"] in ([["grub-mkconfig", "-o", "/boot/grub/grub.cfg"]], [["update-grub"]])
    assert res["regenerated_files"] == ["/boot/grub/grub.cfg"]
    assert all(path.startswith("/etc/default/") for path in res["files"])

    if case == "heredoc-custom-cfg":  # grub-mkconfig really ran the drop-in: inside the scratch /boot
        assert (tree / "boot" / "grub" / "custom.cfg").exists()
    linux, default = (s.split() for s in grub_values(tree, tmp_path))
    assert res["effective_cmdline"] == " ".join(linux + default)
    for recovery, args in linux_lines(tree):
        assert [a for a in args if a.startswith("vmscape=")] == ["vmscape=ibpb"]
        assert args == (linux if recovery else linux + default)

    res = module_in_namespace(tree, {"params": {"vmscape": "ibpb"}})
    assert not res["failed"] and not res["changed"] and not res["regenerated"]

    res = module_in_namespace(tree, {"remove": ["vmscape"]})
    assert not res["failed"], res["msg"]
    for _recovery, args in linux_lines(tree):
        assert not [a for a in args if a.startswith("vmscape")]


def test_change_then_restore_gives_the_linux_lines_back(tmp_path):
    tree = make_tree(tmp_path, "debian12-serial-vmscape-off")
    p = in_namespace(tree, ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"])
    assert p.returncode == 0, p.stderr
    lines_before = linux_lines(tree)
    assert all(args.count("vmscape=off") == 1 for _r, args in lines_before)
    defaults_before = {q: q.read_bytes() for q in (tree / "etc" / "default").rglob("*") if q.is_file()}

    change = module_in_namespace(tree, {"params": {"vmscape": "ibpb"}})
    assert not change["failed"], change["msg"]
    assert change["regenerated"] and change["journal_entry"]
    assert all(args.count("vmscape=ibpb") == 1 and "vmscape=off" not in args for _r, args in linux_lines(tree))
    journal = json.loads((tree / "var" / "lib" / "fleetsec-vmscape" / "kernel_cmdline-journal.json").read_text())
    files = {r["path"]: r for r in journal["entries"][-1]["files"]}
    assert files["/boot/grub/grub.cfg"]["generated"] and files["/etc/default/grub"]["existed"]

    # check mode: grub.cfg's diff goes back to the backup, nothing is touched
    state = {q: q.read_bytes() for q in tree.rglob("*") if q.is_file()}
    check = module_in_namespace(tree, {"restore": "latest"}, check_mode=True)
    assert not check["failed"], check["msg"]
    assert check["changed"] and sorted(check["files"]) == ["/boot/grub/grub.cfg", "/etc/default/grub"]
    assert {q: q.read_bytes() for q in tree.rglob("*") if q.is_file()} == state

    res = module_in_namespace(tree, {"restore": "latest"})
    assert not res["failed"], res["msg"]
    assert res["changed"] and res["regenerated"]
    assert res["restored_entry"]["id"] == change["journal_entry"]
    assert res["effective_cmdline"] == change["previous_cmdline"]
    assert linux_lines(tree) == lines_before
    defaults_after = {
        q: q.read_bytes() for q in (tree / "etc" / "default").rglob("*") if q.is_file() and not q.name.endswith("~")
    }
    assert defaults_after == defaults_before

    again = module_in_namespace(tree, {"restore": "latest"})
    assert not again["failed"] and not again["changed"] and not again["regenerated"]


def test_restore_of_a_parameter_only_the_default_entries_get(tmp_path):
    """Found on the lab (skylake-sp): vmscape=off lived in GRUB_CMDLINE_LINUX_DEFAULT, which
    grub-mkconfig does not give to recovery entries. The change moves vmscape=ibpb where every
    entry gets it; the restore must put the old place back and accept recovery entries without it."""
    tree = make_tree(tmp_path, "debian12-default")
    grub = tree / "etc" / "default" / "grub"
    grub.write_text(
        grub.read_text().replace('GRUB_CMDLINE_LINUX_DEFAULT="quiet"', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet vmscape=off"')
    )
    p = in_namespace(tree, ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"])
    assert p.returncode == 0, p.stderr
    lines_before = linux_lines(tree)
    assert {r: args.count("vmscape=off") for r, args in lines_before} == {False: 1, True: 0}

    change = module_in_namespace(tree, {"params": {"vmscape": "ibpb"}})
    assert not change["failed"], change["msg"]
    assert all(args.count("vmscape=ibpb") == 1 and "vmscape=off" not in args for _r, args in linux_lines(tree))

    res = module_in_namespace(tree, {"restore": "latest"})
    assert not res["failed"], res["msg"]
    assert res["changed"] and res["regenerated"]
    assert linux_lines(tree) == lines_before
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet vmscape=off"' in grub.read_text()


def test_update_grub_is_preferred_when_present(tmp_path):
    tree = make_tree(tmp_path, "debian12-serial-vmscape-off")
    res = module_in_namespace(tree, {"params": {"vmscape": "force"}}, update_grub=True)
    assert not res["failed"], res["msg"]
    assert res["regenerate_commands"] == [["update-grub"]]
    assert [c["rc"] for c in res["commands"]] == [0]
    for _recovery, args in linux_lines(tree):
        assert args.count("vmscape=force") == 1 and "vmscape=off" not in args


def test_real_grub_mkconfig_failure_leaves_everything_as_it_was(tmp_path):
    tree = make_tree(tmp_path, "debian12-default")
    p = in_namespace(tree, ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"])
    assert p.returncode == 0, p.stderr
    # grub-mkconfig rejects this (exit 1, "Invalid output terminal"); our parser has no reason to
    (tree / "etc" / "default" / "grub.d" / "60-terminal.cfg").write_text('GRUB_TERMINAL_OUTPUT="bogus"\n')
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    res = module_in_namespace(tree, {"params": {"vmscape": "ibpb"}})
    assert res["failed"]
    assert "grub-mkconfig" in res["msg"] and "Invalid output terminal" in res["msg"]
    assert "every file was restored" in res["msg"]
    after = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    assert after == before  # /etc/default/grub, grub.cfg, no grub.cfg.new, no backups


def test_ansible_cli_check_diff_on_a_scratch_root(tmp_path):
    tree = make_tree(tmp_path, "duplicated-tokens")
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    p = ansible_cli(tree, 'params={"vmscape":"ibpb"}', "--check", "--diff")
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    # the --diff rendering of the standard diff return, then the result
    assert f"--- before: {tree}/etc/default/grub" in out
    assert '-GRUB_CMDLINE_LINUX="console=ttyS0,115200 vmscape=off intel_iommu=on' in out
    assert '+GRUB_CMDLINE_LINUX="console=ttyS0,115200 intel_iommu=on vmscape=ibpb console=ttyS0,115200"' in out
    result = json.loads(out[out.index("CHANGED => ") + len("CHANGED => ") :])
    assert result["changed"] and result["backend"] == "grub"
    assert "no update-grub, grub-mkconfig or grub2-mkconfig found under" in result["regenerate_skipped"]
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before


def ansible_cli(tree, args, *options):
    return subprocess.run(
        [ANSIBLE, "localhost", "-m", "fleetsec.vmscape.kernel_cmdline", "-a", f"root={tree} {args}", *options],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        check=False,
        env=dict(
            os.environ,
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_CALLBACK_RESULT_FORMAT="json",
            ANSIBLE_NOCOLOR="1",
        ),
    )


def cli_result(out, status):
    marker = f"{status} => "
    return json.loads(out[out.index(marker) + len(marker) :])


def test_ansible_cli_restore_latest_check_diff(tmp_path):
    tree = make_tree(tmp_path, "debian12-serial-vmscape-off")
    original = {q: q.read_bytes() for q in tree.rglob("*") if q.is_file()}
    p = ansible_cli(tree, 'params={"vmscape":"ibpb"}')
    assert p.returncode == 0, p.stdout + p.stderr
    change = cli_result(p.stdout, "CHANGED")
    state = {q: q.read_bytes() for q in tree.rglob("*") if q.is_file()}

    p = ansible_cli(tree, "restore=latest", "--check", "--diff")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"--- before: {tree}/etc/default/grub" in p.stdout
    assert '-GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 vmscape=ibpb"' in p.stdout
    assert '+GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 vmscape=off"' in p.stdout
    check = cli_result(p.stdout, "CHANGED")
    assert check["restored_entry"]["id"] == change["journal_entry"] and check["restored_entry"]["restored"] is None
    assert {q: q.read_bytes() for q in tree.rglob("*") if q.is_file()} == state

    p = ansible_cli(tree, "restore=latest")
    assert p.returncode == 0, p.stdout + p.stderr
    assert cli_result(p.stdout, "CHANGED")["effective_cmdline"] == change["previous_cmdline"]
    now = {q: q.read_bytes() for q in tree.rglob("*") if q.is_file()}
    assert {q: b for q, b in now.items() if q in original} == original
    p = ansible_cli(tree, "restore=latest", "--check", "--diff")
    assert p.returncode == 0 and cli_result(p.stdout, "SUCCESS")["changed"] is False


def test_ansible_doc_renders():
    p = subprocess.run(
        [shutil.which("ansible-doc") or str(REPO / ".venv" / "bin" / "ansible-doc"), "fleetsec.vmscape.kernel_cmdline"],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
    )
    assert p.returncode == 0, p.stderr
    for word in (
        "effective_cmdline",
        "update-grub",
        "grubby",
        "systemd-boot",
        "99-fleetsec-vmscape.cfg",
        "restored_entry",
        "kernel_cmdline-journal.json",
    ):
        assert word in p.stdout
