# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmscape facts in one round trip without AnsiballZ (docs/performance.md).

The facts collector (plugins/module_utils/_facts/collect.py and what it imports) is standard
library only, so it does not need AnsiballZ, which starts every module run by importing
``ansible.module_utils.basic`` on the host (~0.1 s of host CPU, more than the collector itself on
most hosts). Here the collector's modules travel compressed inside one small Python program on
the command's stdin - the way pipelining sends modules - and are imported from memory on the host
(nothing written there but the probe cache below), run by ``python -I -S`` (isolated, no site
packages: standard library only). Same code, same answer as the vmscape_facts module; where an
earlier run probed the same kernel image, its answers come from ``PROBE_CACHE`` (a directory of
the connecting user's own, 0700, on /run) instead of decompressing the image again, and the
evidence says so.

Used where module pipelining is enabled and possible (``ActionBase._is_pipelining_enabled``: the
connection supports it, the configuration enables it, the become method allows it), so it adds no
requirement Ansible's own pipelining does not have (for example sudoers without ``requiretty``);
elsewhere the action plugins run the vmscape_facts module as before. The interpreter is the
host's ``ansible_python_interpreter``, the one discovered earlier, or the first of
``INTERPRETER_PYTHON_FALLBACK`` found on the host (ansible's discovery list); Python >= 3.6.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import json
import os
import shlex
import tempfile
import zlib

from ansible import constants as C

PACKAGE = "ansible_collections.fleetsec.vmscape.plugins.module_utils"
ENTRY = "_facts.collect"  # module_utils module, dotted below module_utils
MODULE_UTILS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "module_utils"
)
AUTO = ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent")
MAX_OUTPUT = 64 * 1024 * 1024
# Answers of the kernel-image probe, kept between runs on tmpfs (a reboot, the moment kernels
# change, clears them) and keyed by the image file's identity (device, inode, size, mtime, ctime)
# and the question: an audit after the first decompresses no image. Off: vmscape_probe_cache=false.
PROBE_CACHE = "/run/fleetsec-vmscape/kernel-probe.json"
_BLOB: str | None = None

# The program run on the host (Python 3.6+): imports the shipped modules from memory and prints
# {"facts": ...} or {"failed": true, "msg": ...}. %(blob)s, %(root)s, %(probe)s filled in below.
_PROGRAM = r"""
import base64, json, os, subprocess, sys, zlib
if sys.version_info < (3, 6):
    sys.stdout.write(json.dumps({"failed": True, "msg": "fleetsec.vmscape needs Python 3.6 or newer on the host, "
                                 "%%s is %%d.%%d" %% ((sys.executable,) + tuple(sys.version_info[:2]))}))
    sys.exit(0)
import importlib.util
SOURCES = json.loads(zlib.decompress(base64.b64decode(%(blob)r)).decode("utf-8"))
PACKAGES = set()
for _name in SOURCES:
    _parts = _name.split(".")
    for _i in range(1, len(_parts)):
        PACKAGES.add(".".join(_parts[:_i]))

class _FromMemory(object):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in SOURCES or fullname in PACKAGES:
            return importlib.util.spec_from_loader(fullname, self, is_package=fullname in PACKAGES)
        return None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        code = compile(SOURCES.get(module.__name__, ""), "<fleetsec.vmscape>/" + module.__name__, "exec")
        exec(code, module.__dict__)

sys.meta_path.insert(0, _FromMemory())
from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import FactsError, collect_facts

def run_command(argv):
    # as the module's: the tool from PATH, /sbin or /usr/sbin; with a time limit
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/sbin", "/usr/sbin"]:
        path = os.path.join(d, argv[0])
        if d and os.access(path, os.X_OK):
            break
    else:
        return 127, "", "%%s not found" %% argv[0]
    try:
        p = subprocess.Popen([path] + list(argv[1:]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return 124, "", "%%s: no answer within 60 s" %% argv[0]
    except OSError as e:
        return 126, "", "%%s: %%s" %% (argv[0], e.strerror or e)
    return p.returncode, out, err

root = os.path.expanduser(os.path.expandvars(%(root)r))
CACHE = %(cache)r
REUSED = "image: answers reused from the same file probed earlier by this process"


def _cache_path():
    # under root (a snapshot root keeps its own); a directory of ours only (0700, our uid), never a
    # symlink: an answer planted by someone else must not decide
    d = os.path.join(root, os.path.dirname(CACHE).lstrip("/"))
    try:
        if not os.path.isdir(d):
            os.makedirs(d, 0o700)
        st = os.lstat(d)
    except OSError:
        return None
    if os.path.islink(d) or not os.path.isdir(d) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        return None
    return os.path.join(d, os.path.basename(CACHE))


def _load(path, memo):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    try:
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & 0o077 or (st.st_mode & 0o170000) != 0o100000:
                return
            for key, value in json.loads(f.read(4 * 1024 * 1024).decode("utf-8")):
                memo[tuple(key)] = (dict(value[0]), list(value[1]), list(value[2]))
    except (OSError, ValueError, TypeError, IndexError, KeyError):
        memo.clear()


def _save(path, memo):
    tmp = path + ".%%d.tmp" %% os.getpid()
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            json.dump([[list(k), [v[0], v[1], v[2]]] for k, v in memo.items()], f)
        os.rename(tmp, path)
    except (OSError, TypeError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass


path = _cache_path() if CACHE else None
if path:
    from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts import kernel_probe as _kernel_probe
    memo = getattr(_kernel_probe, "_MEMO", None)
    if isinstance(memo, dict):
        _load(path, memo)
        known = dict(memo)
    else:
        path = None
try:
    result = {"facts": collect_facts(root, %(probe)r, run_command)}
except FactsError as e:
    result = {"failed": True, "msg": str(e)}
if path and "facts" in result:
    cached = "image: answers reused from the probe cache %%s (the same file: device, inode, size, times)" %% CACHE
    boot = result["facts"].get("boot_kernel") or {}
    boot["evidence"] = [cached if e == REUSED else e for e in boot.get("evidence") or []]
    if memo != known:
        _save(path, memo)
sys.stdout.write(json.dumps(result))
"""


def _module_file(name: str) -> str | None:
    """The file of module_utils module ``name`` (dotted, e.g. ``_bootcfg.grub_cfg``): a .py file or a
    package's __init__.py; None when there is none."""
    base = os.path.join(MODULE_UTILS, *name.split("."))
    if os.path.isfile(base + ".py"):
        return base + ".py"
    init = os.path.join(base, "__init__.py")
    return init if os.path.isfile(init) else None


def _closure() -> dict[str, str]:
    """module name -> source of the collector and every module_utils module (and package) it imports."""
    sources: dict[str, str] = {}
    todo = [ENTRY]
    while todo:
        name = todo.pop()
        full = f"{PACKAGE}.{name}"
        if full in sources:
            continue
        path = _module_file(name)
        if path is None:
            raise RuntimeError(f"{PACKAGE}.{name}: no such module_utils module")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        sources[full] = text
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # the packages it lives in
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith(PACKAGE):
                rel = node.module[len(PACKAGE) :].lstrip(".")
                if rel:
                    todo.append(rel)
                for alias in node.names:
                    cand = f"{rel}.{alias.name}" if rel else alias.name
                    if _module_file(cand):
                        todo.append(cand)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if any((m or "").split(".")[0] in ("ansible", "ansible_collections") for m in mods):
                    raise RuntimeError(f"{name} imports {mods}: the direct facts path ships only module_utils")
    return sources


def _signature() -> str:
    """Names, sizes and mtimes of the module_utils files: what the payload is built from."""
    h = hashlib.sha256()
    for directory, dirs, files in sorted(os.walk(MODULE_UTILS)):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                st = os.stat(os.path.join(directory, name))
                rel = os.path.relpath(os.path.join(directory, name), MODULE_UTILS)
                h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _blob() -> str:
    """The collector's modules, compressed. Building it (parsing ~80 kB of source) costs ~40 ms,
    which every task's worker process would pay per host: it is built once per run and kept in the
    run's local temporary directory, shared by the workers."""
    global _BLOB
    if _BLOB is None:
        path = None
        with contextlib.suppress(Exception):  # no usable local tmp: build it here
            path = os.path.join(C.DEFAULT_LOCAL_TMP, f"fleetsec-vmscape-facts-{_signature()}.b64")
            with open(path, encoding="ascii") as f:
                _BLOB = f.read()
        if not _BLOB:
            _BLOB = base64.b64encode(zlib.compress(json.dumps(_closure()).encode("utf-8"), 6)).decode("ascii")
            if path:
                with contextlib.suppress(OSError):
                    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".fleetsec-facts-")
                    with os.fdopen(fd, "w", encoding="ascii") as f:
                        f.write(_BLOB)
                    os.replace(tmp, path)
    return _BLOB


def program(root: str, probe_image: str, cache: str | None = None) -> bytes:
    """The Python program (stdin of the host's interpreter) that collects the facts under ``root``;
    ``cache``: host path of the kernel-probe cache (None: none)."""
    values = {"blob": _blob(), "root": root or "/", "probe": probe_image, "cache": cache}
    return (_PROGRAM % values).encode("utf-8")


def command(interpreters: list[str]) -> str:
    """The shell command: the first interpreter found, isolated (-I) and without site (-S)."""
    if len(interpreters) == 1 and "/" in interpreters[0]:
        return f"{shlex.quote(interpreters[0])} -I -S -"
    cands = " ".join(shlex.quote(p) for p in interpreters)
    return (
        f'for p in {cands}; do if command -v "$p" >/dev/null 2>&1; then exec "$p" -I -S -; fi; done; '
        "echo 'fleetsec.vmscape: no Python interpreter found' >&2; exit 127"
    )


def interpreters(action, task_vars: dict) -> list[str]:
    """The host's interpreter as Ansible would pick it: explicit, discovered before, else the
    discovery fallback list."""
    explicit = task_vars.get("ansible_python_interpreter")
    if explicit:
        explicit = str(action._templar.template(explicit)).strip()
        if explicit and explicit not in AUTO:
            return [explicit]
    discovered = (task_vars.get("ansible_facts") or {}).get("discovered_interpreter_python")
    if discovered:
        return [str(discovered)]
    return [
        str(p) for p in C.config.get_config_value("INTERPRETER_PYTHON_FALLBACK", variables=task_vars) or ["python3"]
    ]


def usable(action) -> bool:
    try:
        return bool(action._is_pipelining_enabled("new")) and action._connection.transport != "winrm"
    except Exception:  # a connection plugin without the pipelining interface: the module path
        return False


def gather(action, task_vars: dict, root: str, probe_image: str) -> tuple[dict | None, str | None]:
    """(facts, None) or (None, error message), from one command on the host."""
    cache = task_vars.get("vmscape_probe_cache", True)
    cache = action._templar.template(cache) if isinstance(cache, str) else cache
    use_cache = str(cache).strip().lower() not in ("false", "no", "0", "off", "n", "f")
    res = action._low_level_execute_command(
        command(interpreters(action, task_vars)),
        sudoable=True,
        in_data=program(root, probe_image, PROBE_CACHE if use_cache else None),
    )
    out = res.get("stdout") or ""
    if res.get("rc") != 0 or not out.strip():
        err = (res.get("stderr") or out or "").strip()
        return None, f"vmscape facts (rc={res.get('rc')}): {err[-2000:] or 'no output'}"
    if len(out) > MAX_OUTPUT:
        return None, f"vmscape facts: more than {MAX_OUTPUT} bytes of output"
    try:
        doc = json.loads(out)
    except ValueError as exc:
        return None, f"vmscape facts: not JSON ({exc}): {out[:200]!r}"
    if doc.get("failed"):
        return None, f"fleetsec.vmscape.vmscape_facts failed: {doc.get('msg')}"
    if not isinstance(doc.get("facts"), dict):
        return None, "vmscape facts: no facts in the output"
    return doc["facts"], None
