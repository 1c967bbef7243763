#!/bin/sh
# Print the path of a Python >= 3.12 interpreter: python3.13, python3.12, then the newest
# 3.12+ under `pyenv root`. Exits 1 with a message when none is found.
set -eu
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
for cand in python3.14 python3.13 python3.12; do
  p=$(command -v "$cand" 2>/dev/null || true)
  if [ -n "$p" ] && ok "$p"; then echo "$p"; exit 0; fi
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
echo "find-python: no Python >= 3.12 found (tried python3.14/3.13/3.12 and $root/versions)" >&2
exit 1
