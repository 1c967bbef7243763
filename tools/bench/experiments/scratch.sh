#!/bin/sh
# Build a scratch copy of the collection with the experiment files of docs/performance.md overlaid, for
# `python -m tools.bench.run --env ANSIBLE_COLLECTIONS_PATH=<printed path> --custom ...`. The checkout is
# not touched. Usage: tools/bench/experiments/scratch.sh [raw]   (raw: facts without AnsiballZ too)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$(dirname "$(dirname "$here")")")
base=${VMSCAPE_CACHE:-$HOME/.cache/fleetsec-vmscape}/bench/scratch
coll=$base/ansible_collections/fleetsec/vmscape
rm -rf "$base"
mkdir -p "$coll"
cp -r "$repo/plugins" "$repo/roles" "$repo/playbooks" "$repo/meta" "$repo/galaxy.yml" "$repo/remediate.yml" "$coll/"
cp "$here/remediate_v2.yml.in" "$coll/playbooks/remediate_v2.yml"
cp "$here/remediate_v3.yml.in" "$coll/playbooks/remediate_v3.yml"
cp "$here/configure_v3.yml.in" "$coll/roles/vmscape/tasks/configure_v3.yml"
if [ "${1:-}" = raw ]; then
  cp "$here/_action_facts_raw.py" "$coll/plugins/plugin_utils/_observe/action_facts.py"
fi
echo "$base"
