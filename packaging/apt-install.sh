#!/usr/bin/env bash
# packaging/apt-install.sh [--recommends] PKG... - installs the Debian packages of the list that
# are not installed yet (quietly; apt's lists are refreshed first). Run as root. Used by the
# test setup and the benchmark scripts.
set -euo pipefail
REC=(--no-install-recommends)
[ "${1:-}" = --recommends ] && { REC=(); shift; }
missing=()
for p in "$@"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
echo "apt-install: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${REC[@]}" "${missing[@]}" >/dev/null
