#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection as `ansible-galaxy collection build` ships it
# (galaxy.yml's manifest is the one list of its contents), unpacked as
# ansible_collections/fleetsec/vmscape (ansible-test needs that real path, not a symlink).
# Developer tooling (tools/, mk/, tests/) is not shipped; ruff and pytest check it instead.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/.venv}
build=$repo/build/sanity$(basename "$venv" | sed "s/^.venv//")
dest=$build/ansible_collections/fleetsec/vmscape
dist=$build/dist
rm -rf "$dest" "$dist"
mkdir -p "$dest" "$dist"
cd "$repo"
"$venv/bin/ansible-galaxy" collection build --force --output-path "$dist" . >/dev/null
tar -xzf "$dist"/fleetsec-vmscape-*.tar.gz -C "$dest"
cd "$dest"
git init -q . && git add -A >/dev/null 2>&1 || true
py=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# ansible-test bootstraps pip into its per-test virtualenvs with a get-pip script downloaded
# from ci-files.testing.ansible.com, which this network cannot reach. A stand-in with the same
# contract (run as __main__ with pip-install arguments) uses the interpreter's own ensurepip,
# then installs the pinned packages from PyPI.
pipver=$("$venv/bin/python" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version="3", path="/usr/bin/python3"))["pip"])
PY
)
boot="$HOME/.ansible/test/cache/get_pip_${pipver//./_}.py"
if [ ! -s "$boot" ] || ! grep -q "fleetsec stand-in v2" "$boot"; then
  mkdir -p "$(dirname "$boot")"
  cat > "$boot" <<'PY'
# Stand-in for get-pip.py (written by fleetsec.vmscape tools/ansible-test-sanity.sh; fleetsec stand-in v2).
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap()
# ensurepip points PIP_CONFIG_FILE at /dev/null for its own run; the pip install below must read
# the machine's pip configuration (a CA bundle for a TLS-inspecting proxy: pip older than 24.2 has
# no system trust store, as with ansible-core 2.16's pinned pip).
os.environ.pop("PIP_CONFIG_FILE", None)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
PY
fi
export PATH="$venv/bin:$PATH"
exec "$venv/bin/ansible-test" sanity --local --requirements --python "$py" --color no "$@"
