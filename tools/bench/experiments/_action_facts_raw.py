# PROTOTYPE for docs/performance.md, overlaid on a scratch copy by `tools/bench/experiments/scratch.sh raw`:
# run the facts collection as a plain python script on the host (the module_utils zipped on stdin), without
# AnsiballZ and without importing ansible.module_utils.basic. No become support, no error mapping: a sketch.
from __future__ import annotations

import base64
import io
import json
import os
import shlex
import zipfile

FACTS_MODULE = "fleetsec.vmscape.vmscape_facts"
_SCRIPT = None
_MU = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")


def _script():
    global _SCRIPT
    if _SCRIPT is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            base = "ansible_collections/fleetsec/vmscape/plugins/module_utils"
            parts = base.split("/")
            for i in range(1, len(parts) + 1):
                z.writestr("/".join(parts[:i]) + "/__init__.py", "")
            for f in sorted(os.listdir(_MU)):
                if f.endswith(".py"):
                    z.write(os.path.join(_MU, f), base + "/" + f)
        b = base64.b64encode(buf.getvalue()).decode()
        _SCRIPT = (
            "import base64,sys,os,tempfile,json\n"
            "fd,p=tempfile.mkstemp(suffix='.zip')\n"
            f"os.write(fd,base64.b64decode('{b}'));os.close(fd)\n"
            "sys.path.insert(0,p)\n"
            "try:\n"
            "    from ansible_collections.fleetsec.vmscape.plugins.module_utils._facts.collect import collect_facts\n"
            "    print(json.dumps(collect_facts(sys.argv[1], sys.argv[2])))\n"
            "finally:\n"
            "    os.unlink(p)\n"
        )
    return _SCRIPT


def gather_facts(action, task_vars: dict, root: str, probe_image: str = "auto"):
    python = task_vars.get("ansible_python_interpreter") or "/usr/bin/python3"
    cmd = f"{python} - {shlex.quote(root or '/')} {shlex.quote(probe_image)}"
    res = action._low_level_execute_command(cmd, in_data=_script())
    if res.get("rc") != 0:
        return None, f"facts script failed: {res.get('stderr')}"
    try:
        return json.loads(res["stdout"]), None
    except ValueError as exc:
        return None, f"facts script output: {exc}"
