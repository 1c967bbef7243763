"""The fault-injection harness: sandboxed hosts, the real module, an independent judge.

A *sandbox* is a scratch host: ``etc/default`` (a corpus case), ``boot`` (kernel images and
``grub/grub.cfg``), ``var/lib`` (the change journal), ``sbin`` (the ``update-grub`` the module
finds) and ``run`` (the run lock's directory). Every module run happens in a private mount
namespace (``unshare --mount --propagation private``) where those directories are bind-mounted
over ``/etc/default``, ``/boot``, ``/var/lib``, ``/usr/local/sbin`` and ``/run/fleetsec-vmscape``,
so the module runs with ``root: /`` exactly as on a host: real run lock, real chroot-free
regeneration, real grub-script-check. The machine's own /etc/default, /boot and /var/lib are
checksummed before and after the suite (conftest) - they never change.

The module runs as Ansible runs a module on a host: ``python kernel_cmdline.py <args.json>``
(AnsibleModule reads ``ANSIBLE_MODULE_ARGS``), a separate process that can be SIGKILLed.

``update-grub`` is a stand-in for grub-mkconfig with its write pattern (it sources the defaults
with ``/bin/sh -e`` exactly like grub-mkconfig, writes ``grub.cfg.new`` with a 10_linux section
per ``/boot/vmlinuz-*`` (newest first; normal and recovery entries), runs the real
``grub-script-check`` on it, then ``cat grub.cfg.new > grub.cfg`` in place and removes the .new
file), or a faulty variant (``MODES``), or the real ``grub-mkconfig`` (mode ``real``). The real
one is slow (~3 s), so it is used where its behaviour matters, the stand-in elsewhere.

The judge (``judge``) never uses the module's code: the GRUB defaults must source under the real
``/bin/sh -e`` like grub-mkconfig does them, grub.cfg must pass the real ``grub-script-check``,
and its default entry (``set default=0``: the first menuentry) must boot a kernel image that
exists and is not empty. Anything else is an *unbootable* outcome.
"""

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "data" / "bootcfg"
MODULE = REPO / "plugins" / "modules" / "kernel_cmdline.py"
COLLECTIONS = REPO / "collections"
KILLPOINT = Path(__file__).resolve().parent / "killpoint.py"
KERNELS = ("6.1.0-28-amd64", "6.1.0-31-amd64")
GRUB_SCRIPT_CHECK = shutil.which("grub-script-check") or "/usr/bin/grub-script-check"
SH = "/bin/sh"

# Sourcing exactly like grub-mkconfig (util/grub-mkconfig.in): set -e, the main file if it is a
# file, then every grub.d/*.cfg that exists, in glob order.
SOURCE_DEFAULTS = r"""
set -e
if test -f /etc/default/grub ; then . /etc/default/grub ; fi
for x in /etc/default/grub.d/*.cfg ; do
  if [ -e "${x}" ]; then . "${x}"; fi
done
"""

STAND_IN = r"""#!/bin/sh
# fleetsec fault harness: update-grub stand-in (mode file: {mode_file})
set -e
mode=$(cat {mode_file} 2>/dev/null || echo honest)
cfg=/boot/grub/grub.cfg
case "$mode" in
  real) exec /usr/sbin/grub-mkconfig -o "$cfg" ;;
  real-then-truncate)
    /usr/sbin/grub-mkconfig -o "$cfg"
    head -c 300 "$cfg" > "$cfg.cut"; cat "$cfg.cut" > "$cfg"; rm -f "$cfg.cut"; exit 0 ;;
  fail) echo "grub-probe: error: disk \`hd0,msdos1' not found." >&2; exit 1 ;;
  fail-50mb) head -c 52428800 /dev/zero | tr '\0' 'x'; echo; echo "grub-mkconfig: error: out of cheese" >&2; exit 1 ;;
  hang) echo "probing devices..."; sleep 300 ;;  # bounded, should a test die before killing it
  hang-child) (sleep 300 &) ; sleep 300 ;;
  extra-files-fail)
    echo junk > /boot/grub/grub.cfg.bak; echo junk > /boot/grub/unicode.pf2.tmp; echo "x" > "$cfg.new"; exit 2 ;;
esac
{source_defaults}
{{
echo "### BEGIN /etc/grub.d/00_header ###"
echo 'set default="0"'
echo "set timeout=1"
echo "### END /etc/grub.d/00_header ###"
echo "### BEGIN /etc/grub.d/10_linux ###"
for img in $(ls /boot/vmlinuz-* 2>/dev/null | sort -V -r); do
  ver=${{img#/boot/vmlinuz-}}
  args="$GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT"
  [ "$mode" = drop-param ] && args=$(echo "$args" | sed 's/vmscape=[^ ]*//g')
  [ "$mode" = missing-kernel ] && img=/boot/vmlinuz-9.9.9-gone
  echo "menuentry 'Debian GNU/Linux, with Linux $ver' --class debian {{"
  echo "	linux	$img root=UUID=0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b ro $args"
  echo "	initrd	/boot/initrd.img-$ver"
  echo "}}"
  echo "menuentry 'Debian GNU/Linux, with Linux $ver (recovery mode)' --class debian {{"
  echo "	linux	$img root=UUID=0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b ro single $GRUB_CMDLINE_LINUX"
  echo "	initrd	/boot/initrd.img-$ver"
  echo "}}"
done
echo "### END /etc/grub.d/10_linux ###"
}} > "$cfg.new"
case "$mode" in
  empty) : > "$cfg.new" ;;
  no-linux)
    printf '### BEGIN /etc/grub.d/00_header ###\nset default="0"\n### END /etc/grub.d/00_header ###\n' > "$cfg.new" ;;
  custom-only)
    sed -e 's|/etc/grub.d/10_linux|/etc/grub.d/40_custom|' "$cfg.new" > "$cfg.cut"; mv "$cfg.cut" "$cfg.new" ;;
  truncated) head -c 400 "$cfg.new" > "$cfg.cut"; mv "$cfg.cut" "$cfg.new" ;;
esac
[ "$mode" = slow ] && sleep 0.4
case "$mode" in
  honest|slow|drop-param|missing-kernel|custom-only) {script_check} "$cfg.new" ;;
esac
cat "$cfg.new" > "$cfg"
rm -f "$cfg.new"
"""

MODES = (
    "honest",
    "slow",
    "real",
    "real-then-truncate",
    "fail",
    "fail-50mb",
    "hang",
    "hang-child",
    "extra-files-fail",
    "empty",
    "no-linux",
    "truncated",
    "drop-param",
    "missing-kernel",
    "custom-only",
)

# grub-mkconfig dies when grub-probe cannot name the device of / (an overlayfs root in a CI
# container): then only grub-probe is replaced inside the namespace (as tests/integration does).
PROBE_STUB = """#!/bin/sh
for a in "$@"; do case "$a" in
  --target=device) echo /dev/sda1 ;; --target=fs) echo ext2 ;;
  --target=fs_uuid) echo 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b ;;
  --target=partuuid) echo 1a2b3c4d-01 ;; --target=drive) echo "(hd0,msdos1)" ;; --target=partmap) echo msdos ;;
  --target=compatibility_hint) echo hd0,msdos1 ;; --target=*) ;;
esac; done
"""
_PROBE_WORKS = None


def probe_works():
    global _PROBE_WORKS
    if _PROBE_WORKS is None:
        p = subprocess.run(["/usr/sbin/grub-probe", "--target=device", "/"], capture_output=True, check=False)
        _PROBE_WORKS = p.returncode == 0
    return _PROBE_WORKS


def sha(data):
    return None if data is None else hashlib.sha256(data).hexdigest()


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


class Sandbox:
    """One scratch host (see the module docstring)."""

    def __init__(self, base, case="debian12-default", mode="honest", generate=True, scratch=None, extra_kernels=0):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.etc_default = self.base / "etc-default"
        self.boot = self.base / "boot"
        self.varlib = self.base / "var-lib"
        self.sbin = self.base / "sbin"
        self.run = self.base / "run-lock"
        self.mode_file = self.base / "mode"
        shutil.copytree(CORPUS / case / "root" / "etc" / "default", self.etc_default, symlinks=True)
        (self.boot / "grub").mkdir(parents=True)
        kernels = list(KERNELS) + [f"6.1.0-{100 + i}-amd64" for i in range(extra_kernels)]
        for k in kernels:
            (self.boot / f"vmlinuz-{k}").write_bytes(b"MZ\x00fake kernel image " + k.encode() + b"\n" * 64)
            (self.boot / f"initrd.img-{k}").write_bytes(b"fake initrd\n")
        for d in (self.varlib, self.sbin, self.run):
            d.mkdir(parents=True, exist_ok=True)
        self.set_mode(mode)
        script = STAND_IN.format(
            mode_file=shlex.quote(str(self.mode_file)),
            source_defaults=SOURCE_DEFAULTS,
            script_check=GRUB_SCRIPT_CHECK,
        )
        (self.sbin / "update-grub").write_text(script)
        (self.sbin / "update-grub").chmod(0o755)
        if not probe_works():
            (self.base / "grub-probe-stub").write_text(PROBE_STUB)
            (self.base / "grub-probe-stub").chmod(0o755)
        # the harness's own files (module arguments) live outside the host when asked (full disks)
        self.args_dir = Path(scratch) if scratch else self.base / "args"
        self.args_dir.mkdir(parents=True, exist_ok=True)
        self._n = 0
        if generate:
            self.regenerate()

    def regenerate(self):
        """Run the honest stand-in once (the host's grub.cfg before anything happens)."""
        mode = self.mode_file.read_text()
        self.set_mode("honest")
        p = subprocess.run(
            [*self.ns_prefix(), str(self.sbin / "update-grub")], capture_output=True, timeout=60, check=False
        )
        self.mode_file.write_text(mode)
        assert p.returncode == 0, p.stderr

    def set_mode(self, mode):
        assert mode in MODES, mode
        self.mode_file.write_text(mode + "\n")

    # ----- running things in the host's shape
    def ns_prefix(self):
        """argv prefix running a command with this sandbox mounted over the host paths."""
        mounts = [
            f"mount --bind {shlex.quote(str(self.etc_default))} /etc/default",
            f"mount --bind {shlex.quote(str(self.boot))} /boot",
            f"mount --bind {shlex.quote(str(self.varlib))} /var/lib",
            f"mount --bind {shlex.quote(str(self.sbin))} /usr/local/sbin",
            "mkdir -p /run/fleetsec-vmscape",
            f"mount --bind {shlex.quote(str(self.run))} /run/fleetsec-vmscape",
        ]
        if not probe_works():
            mounts.append(f"mount --bind {shlex.quote(str(self.base / 'grub-probe-stub'))} /usr/sbin/grub-probe")
        script = "set -e\n" + "\n".join(mounts) + '\nexec "$@"\n'
        return ["unshare", "--mount", "--propagation", "private", SH, "-c", script, "sh"]

    def module_argv(self, args, killpoint=None):
        self._n += 1
        path = self.args_dir / f"args-{self._n}.json"
        path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict({"_ansible_check_mode": False}, **args)}))
        py = [sys.executable]
        if killpoint is not None:
            py += [str(KILLPOINT), str(killpoint), str(MODULE), str(path)]
        else:
            py += [str(MODULE), str(path)]
        return self.ns_prefix() + py

    def env(self):
        return dict(os.environ, PYTHONPATH=str(COLLECTIONS), LC_ALL="C", PYTHONDONTWRITEBYTECODE="1")

    def start(self, args, killpoint=None):
        return subprocess.Popen(
            self.module_argv(args, killpoint),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(),
            cwd=str(self.base),
        )

    def run_module(self, args, timeout=120, killpoint=None):
        """Run the module to the end; returns (result dict or None, returncode, seconds, stderr)."""
        t = time.monotonic()
        p = self.start(args, killpoint)
        out, err = p.communicate(timeout=timeout)
        return parse_result(out), p.returncode, time.monotonic() - t, err.decode("utf-8", "replace")

    # ----- state
    def files(self):
        """The configuration a boot depends on: {relative path: bytes} (defaults and grub.cfg)."""
        out = {}
        for d, rel in ((self.etc_default, "etc/default"), (self.boot / "grub", "boot/grub")):
            for dirpath, _dirs, names in os.walk(d):
                for n in names:
                    p = Path(dirpath) / n
                    if p.is_file() and not p.is_symlink():
                        out[f"{rel}/{p.relative_to(d)}"] = p.read_bytes()
        return out

    def config(self):
        """The GRUB defaults grub-mkconfig reads (/etc/default/grub, grub.d/*.cfg): what a change
        edits and a restore must give back byte for byte."""
        return {
            k: v
            for k, v in self.files().items()
            if k == "etc/default/grub" or (k.startswith("etc/default/grub.d/") and k.endswith(".cfg"))
        }

    def litter(self):
        """Files a run leaves that it should not: temporary files, and copies (``~``) that no
        journal entry owns."""
        owned = set()
        for e in (self.journal() or {}).get("entries", []):
            for rec in e["files"] + ((e.get("restored") or {}).get("files") or []):
                if rec.get("backup"):
                    owned.add(rec["backup"])
        out = []
        for d, host in ((self.etc_default, "/etc/default"), (self.boot, "/boot")):
            for dirpath, _dirs, names in os.walk(d):
                for n in names:
                    hp = host + "/" + str((Path(dirpath) / n).relative_to(d))
                    if n.endswith(".fleetsec-tmp") or (n.endswith("~") and hp not in owned):
                        out.append(hp)
        return sorted(out)

    def journal(self):
        data = read(self.varlib / "fleetsec-vmscape" / "kernel_cmdline-journal.json")
        return json.loads(data) if data else None

    def intent_exists(self):
        return (self.varlib / "fleetsec-vmscape" / "kernel_cmdline-intent.json").exists()

    def wait_quiet(self, timeout=30):
        """Wait until nothing holds the sandbox's run lock (an orphaned update-grub finished)."""
        lock = self.run / "kernel_cmdline.lock"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not lock.exists():
                return True
            p = subprocess.run(["flock", "-n", str(lock), "true"], check=False)
            if p.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def judge(self):
        return judge(self.etc_default, self.boot)


def parse_result(out):
    text = out.decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    try:
        return json.loads(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------- the judge
def source_defaults(etc_default):
    """(GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT) sourced by the real /bin/sh -e from a copy
    of ``etc_default`` placed at /etc/default in a private namespace, or None when it fails."""
    script = SOURCE_DEFAULTS + 'printf "%s\\0%s" "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT"\n'
    argv = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        SH,
        "-c",
        f'mount --bind {shlex.quote(str(etc_default))} /etc/default && exec env -i PATH=/usr/bin:/bin {SH} -c "$0"',
        script,
    ]
    try:
        p = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        return None
    linux, _sep, default = p.stdout.decode("utf-8", "replace").partition("\0")
    return linux, default


def first_entry(cfg_text):
    """(image path, args) of the first menuentry's linux line, or None."""
    inside = False
    for line in cfg_text.splitlines():
        s = line.strip()
        if s.startswith("menuentry "):
            inside = True
            continue
        if inside and s.split(None, 1)[:1] in (["linux"], ["linuxefi"], ["linux16"]):
            words = s.split()
            return (words[1] if len(words) > 1 else None), words[2:]
        if inside and s == "}":
            return None
    return None


def judge(etc_default, boot):
    """(bootable: bool, why: str) - see the module docstring."""
    values = source_defaults(etc_default)
    if values is None:
        return False, "the GRUB defaults no longer source under /bin/sh -e"
    cfg = Path(boot) / "grub" / "grub.cfg"
    data = read(cfg)
    if not data or not data.strip():
        return False, "grub.cfg is missing or empty"
    p = subprocess.run([GRUB_SCRIPT_CHECK, str(cfg)], capture_output=True, timeout=30, check=False)
    if p.returncode != 0:
        return False, "grub-script-check rejects grub.cfg"
    entry = first_entry(data.decode("utf-8", "replace"))
    if entry is None or not entry[0]:
        return False, "grub.cfg's default entry has no linux line"
    image = entry[0]
    rel = image[len("/boot/") :] if image.startswith("/boot/") else image.rsplit("/boot/", 1)[-1]
    img = Path(boot) / rel
    if not img.is_file() or img.stat().st_size == 0:
        return False, f"the default entry boots {image}, which is missing or empty"
    return True, "ok"


# --------------------------------------------------------------------------- counting
class Tally:
    """Counts of one fault class for the report: faults injected, module runs (the faulty ones and
    the ones after them), data lost, unbootable outcomes, clear errors, runs that succeeded."""

    def __init__(self, fault, tried):
        self.fault = fault
        self.tried = tried
        self.injected = 0
        self.runs = 0
        self.data_lost = 0
        self.unbootable = 0
        self.clear_errors = 0
        self.succeeded = 0
        self.notes = []

    def as_dict(self):
        return {
            "fault": self.fault,
            "tried": self.tried,
            "injected": self.injected,
            "runs": self.runs,
            "data_lost": self.data_lost,
            "unbootable": self.unbootable,
            "clear_errors": self.clear_errors,
            "succeeded": self.succeeded,
            "notes": self.notes,
        }
