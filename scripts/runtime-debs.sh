#!/usr/bin/env bash
# Makes sure DIR holds the Debian packages packaging/runtime/debs.lock pins, each with the
# SHA-256 written there: the ones already in DIR are checked, the missing ones are fetched with
# `apt-get download PACKAGE=VERSION` (apt checks them against the archive's signed index; we
# check them against the lock). Nothing else is fetched, and a wrong file is never kept.
#
#   scripts/runtime-debs.sh DIR             # prints DIR's path; exit 0 when all are there
#   scripts/runtime-debs.sh --list          # the lock's entries: PACKAGE VERSION SHA256 FILE
#
# Exit 2: something is missing and this host has no apt-get (not an error for
# scripts/package.sh, which then makes only the plain binary); 1: anything else.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCK=$REPO/packaging/runtime/debs.lock
die() { echo "runtime-debs: $*" >&2; exit "${2:-1}"; }

# PACKAGE VERSION SHA256 FILE (apt-get download's file name: an epoch's ':' is written %3a)
entries() {
  local pkg ver sum rest
  while read -r pkg ver sum rest; do
    case $pkg in '' | '#'*) continue ;; esac
    [[ $sum =~ ^[0-9a-f]{64}$ ]] || die "$LOCK: bad SHA-256 for $pkg"
    echo "$pkg $ver $sum ${pkg}_${ver/:/%3a}_amd64.deb"
  done <"$LOCK"
}

if [ "${1:-}" = --list ]; then entries; exit 0; fi
[ $# = 1 ] || die "usage: scripts/runtime-debs.sh DIR | --list"
mkdir -p "$1"
DIR=$(cd "$1" && pwd)

sum_ok() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

missing=()
while read -r pkg ver sum file; do
  if [ -f "$DIR/$file" ]; then
    sum_ok "$DIR/$file" "$sum" || die "$DIR/$file does not have the SHA-256 $LOCK pins ($sum): remove it"
  else
    missing+=("$pkg=$ver")
  fi
done < <(entries)

if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "no apt-get on this host to fetch ${missing[*]} (put the pinned .deb files in $DIR)" 2
  TMP=$(mktemp -d "$DIR/.fetch.XXXXXX")
  trap 'rm -rf "$TMP"' EXIT
  chmod 0755 "$TMP" # apt's sandbox user writes there
  fetch() { (cd "$TMP" && apt-get download -q "${missing[@]}") >"$TMP/.log" 2>&1; }
  if ! fetch; then
    # a host whose package lists are missing or old: refresh them once (root only), then again
    [ "$(id -u)" = 0 ] && apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null 2>&1 || true
    fetch || die "apt-get download ${missing[*]} failed: $(grep -E '^(E|W):' "$TMP/.log" | head -3 | tr '\n' ' ')
the pinned versions may have left the Debian archive: pin the current ones in $LOCK (version and SHA-256 of each .deb), review, rebuild"
  fi
  while read -r pkg ver sum file; do
    [ -f "$DIR/$file" ] && continue
    [ -f "$TMP/$file" ] || die "apt-get download gave no $file"
    sum_ok "$TMP/$file" "$sum" || die "$pkg $ver from the archive has SHA-256 $(sha256sum "$TMP/$file" | cut -d' ' -f1), not the pinned $sum: refused"
    chmod 0644 "$TMP/$file"
    mv -f "$TMP/$file" "$DIR/$file"
  done < <(entries)
fi
echo "$DIR"
