# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmscape facts in one round trip without AnsiballZ (docs/performance.md).

The facts collector (plugins/module_utils/_vmscape_collect.py and what it imports) is standard
library only, so it does not need AnsiballZ, which starts every module run by importing
``ansible.module_utils.basic`` on the host (~0.1 s of host CPU, more than the collector itself on
most hosts). Here the collector's modules travel compressed inside one small Python program on
the command's stdin - the way pipelining sends modules - and are imported from memory on the host
(nothing written there), run by ``python -I -S`` (isolated, no site packages: standard library
only). Same code, same answer as the vmscape_facts module.

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
import json
import os
import shlex
import zlib

from ansible import constants as C

PACKAGE = "ansible_collections.fleetsec.vmscape.plugins.module_utils"
ENTRY = "_vmscape_collect"
MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
AUTO = ("auto", "auto_silent", "auto_legacy", "auto_legacy_silent")
MAX_OUTPUT = 64 * 1024 * 1024

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
from ansible_collections.fleetsec.vmscape.plugins.module_utils._vmscape_collect import FactsError, collect_facts

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
try:
    result = {"facts": collect_facts(root, %(probe)r, run_command)}
except FactsError as e:
    result = {"failed": True, "msg": str(e)}
sys.stdout.write(json.dumps(result))
"""


def _closure() -> dict[str, str]:
    """module name -> source of the collector and every module_utils module it imports."""
    sources: dict[str, str] = {}
    todo = [ENTRY]
    while todo:
        name = todo.pop()
        full = f"{PACKAGE}.{name}"
        if full in sources:
            continue
        with open(os.path.join(MODULE_UTILS, name + ".py"), encoding="utf-8") as f:
            text = f.read()
        sources[full] = text
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
                todo.extend(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
                todo.append(node.module.rsplit(".", 1)[1])
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if any((m or "").split(".")[0] in ("ansible", "ansible_collections") for m in mods):
                    raise RuntimeError(f"{name}.py imports {mods}: the direct facts path ships only module_utils")
    return sources


def program(root: str, probe_image: str) -> bytes:
    """The Python program (stdin of the host's interpreter) that collects the facts under ``root``."""
    blob = base64.b64encode(zlib.compress(json.dumps(_closure()).encode("utf-8"), 9)).decode("ascii")
    return (_PROGRAM % {"blob": blob, "root": root or "/", "probe": probe_image}).encode("utf-8")


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
    res = action._low_level_execute_command(
        command(interpreters(action, task_vars)), sudoable=True, in_data=program(root, probe_image)
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
