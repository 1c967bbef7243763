#!/bin/sh
# Print the path of a Python interpreter within [MIN, MAX] (default: >= 3.12, any newer):
#   tools/find-python.sh            -> python3.14/3.13/3.12 on PATH, then the newest 3.12+ under `pyenv root`
#   tools/find-python.sh 3.10 3.12  -> the newest of 3.12, 3.11, 3.10 (ansible-core 2.16's controller range)
#   tools/find-python.sh 3.6 3.6    -> a Python 3.6 (the oldest target Python the collection supports)
# Exits 1 with a message when none is found.
set -eu
min=${1:-3.12}
max=${2:-3.99}
minor() { echo "$1" | cut -d. -f2; }
lo=$(minor "$min"); hi=$(minor "$max")
ok() {
  "$1" -c "import sys; sys.exit(0 if (3, $lo) <= sys.version_info[:2] <= (3, $hi) else 1)" 2>/dev/null
}
v=$hi; [ "$v" -gt 14 ] && v=14
while [ "$v" -ge "$lo" ]; do
  p=$(command -v "python3.$v" 2>/dev/null || true)
  if [ -n "$p" ] && ok "$p"; then echo "$p"; exit 0; fi
  v=$((v - 1))
done
root=${PYENV_ROOT:-}
if [ -z "$root" ] && command -v pyenv >/dev/null 2>&1; then root=$(pyenv root); fi
[ -n "$root" ] || root="$HOME/.pyenv"
if [ -d "$root/versions" ]; then
  for d in $(ls -1 "$root/versions" | grep -E '^3\.[0-9]+\.[0-9]+$' | sort -t. -k1,1nr -k2,2nr -k3,3nr); do
    p="$root/versions/$d/bin/python3"
    if [ -x "$p" ] && ok "$p"; then echo "$p"; exit 0; fi
  done
fi
echo "find-python: no Python $min..$max found (tried python3.N on PATH and $root/versions)" >&2
exit 1
