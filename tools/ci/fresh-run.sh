#!/usr/bin/env bash
# Run .ci/run as CI on a new machine does: a clean clone of the committed HEAD, CI=true, and an
# EMPTY $VMSCAPE_CACHE (kernels, QEMU 10, the lab image and every oracle boot fetched/made again).
# A warm cache hides a registry that moved on (a kernel ABI bump) or a missing install step.
#
#   tools/ci/fresh-run.sh            (make ci-fresh)
#   FRESH_KEEP=1 tools/ci/fresh-run.sh   keep the clone and cache afterwards (default: removed on success)
#
# Prints the wall time and leaves the log in $FRESH_LOG (default /tmp/fleetsec-ci-fresh.log).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
log=${FRESH_LOG:-/tmp/fleetsec-ci-fresh.log}
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ]; then
  echo "ci-fresh: uncommitted changes in $src are NOT part of this run (it tests the committed HEAD)" >&2
fi
work=$(mktemp -d /tmp/fleetsec-ci-fresh.XXXXXX)
git clone -q --no-hardlinks "$src" "$work/repo"
mkdir "$work/cache"
echo "ci-fresh: $(git -C "$work/repo" rev-parse --short HEAD) in $work/repo, VMSCAPE_CACHE=$work/cache, log $log"
start=$(date +%s)
rc=0
(cd "$work/repo" && CI=true VMSCAPE_CACHE="$work/cache" bash .ci/run) >"$log" 2>&1 || rc=$?
end=$(date +%s)
secs=$((end - start))
printf 'ci-fresh: .ci/run exited %d after %d min %02d s (%d s)\n' "$rc" $((secs / 60)) $((secs % 60)) "$secs"
# the lab VMs of that clone (molecule destroys them; a failure may leave them up)
VMSCAPE_CACHE="$work/cache" "$work/repo/tools/lab/labctl" destroy >/dev/null 2>&1 || true
if [ "$rc" = 0 ] && [ -z "${FRESH_KEEP:-}" ]; then
  rm -rf "$work"
else
  echo "ci-fresh: kept $work (clone and cache) for inspection"
fi
exit "$rc"
