#!/bin/sh
# Install the Debian packages listed in tools/system-packages.txt that are missing.
# Idempotent; needs root (CI runs as root) and access to the Debian package registry.
set -eu
here=$(dirname "$0")
missing=""
for p in $(grep -v -E '^\s*(#|$)' "$here/system-packages.txt"); do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-system-deps: missing Debian packages:$missing (run as root or install them)" >&2
  exit 1
fi
echo "install-system-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
