#!/usr/bin/env bash
# `make ee`: the execution environment of execution-environment.yml (docs/awx.md).
#   1. ansible-galaxy collection build -> build/ee/fleetsec-vmscape.tar.gz
#   2. ansible-builder create          -> build/ee/context (Containerfile + _build)
#   3. ansible-builder build           -> image fleetsec-vmscape-ee:latest, only where podman or docker
#      can run containers (a docker client without an engine cannot); otherwise says so.
# EE_DIR (default build/ee) and EE_BUILD=never|auto|always change where and whether it builds.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${VENV:-$repo/.venv}/bin
out=${EE_DIR:-$repo/build/ee}
mode=${EE_BUILD:-auto}
rm -rf "$out"
mkdir -p "$out"
cd "$repo"
env -u ANSIBLE_CONFIG "$bin/ansible-galaxy" collection build "$repo" --output-path "$out" --force >/dev/null
mv "$out"/fleetsec-vmscape-*.tar.gz "$out/fleetsec-vmscape.tar.gz"
definition=$out/execution-environment.yml
# the definition's additional_build_files name the tarball relative to the definition
sed "s|src: build/ee/fleetsec-vmscape.tar.gz|src: $out/fleetsec-vmscape.tar.gz|" execution-environment.yml > "$definition"
"$bin/ansible-builder" create -f "$definition" -c "$out/context" --output-filename Containerfile
runtime=
for r in podman docker; do
  if command -v "$r" >/dev/null 2>&1 && "$r" info >/dev/null 2>&1; then runtime=$r; break; fi
done
if [ "$mode" = never ] || { [ -z "$runtime" ] && [ "$mode" = auto ]; }; then
  echo "ee: build context in $out/context; no image built (${runtime:-no podman or docker engine runs here})"
  exit 0
fi
[ -n "$runtime" ] || { echo "ee: EE_BUILD=always but no podman or docker engine runs here" >&2; exit 1; }
"$bin/ansible-builder" build -f "$definition" -c "$out/context" --container-runtime "$runtime" -t fleetsec-vmscape-ee:latest
