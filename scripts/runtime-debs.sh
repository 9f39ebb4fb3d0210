#!/usr/bin/env bash
# Makes sure DIR holds the Debian packages packaging/runtime/debs.lock pins, each with the
# SHA-256 written there: the ones already in DIR are checked, the missing ones are fetched with
# `apt-get download PACKAGE=VERSION` (apt checks them against the archive's signed index; we
# check them against the lock). Nothing else is fetched, and a wrong file is never kept.
#
#   scripts/runtime-debs.sh DIR             # prints DIR's path; exit 0 when all are there
#   scripts/runtime-debs.sh --list [DIR]    # the entries in use: PACKAGE VERSION SHA256 FILE
#
# When a pinned version has left the archive (Debian keeps only the newest point release of a
# package), the build does not stop: the archive's current version of that package is taken
# instead, but only with the same upstream version (glibc 2.36, GCC 12.2.0: the same ABI as
# what was tested), verified by apt against the signed index, with one warning line asking for
# a re-pin. What was taken instead is written to DIR/debs.lock.effective (same format as the
# lock), which --list DIR then reports, and which the bundle's RUNTIME-SOURCES records.
# CTR_RUNTIME_STRICT=1 refuses that fallback.
#
# Exit 2: something is missing and this host has no apt-get (not an error for
# scripts/package.sh, which then makes only the plain binary); 1: anything else.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCK=$REPO/packaging/runtime/debs.lock
die() { echo "runtime-debs: $*" >&2; exit "${2:-1}"; }

# PACKAGE VERSION SHA256 FILE (apt-get download's file name: an epoch's ':' is written %3a)
entries() {  # [$1 lock file]
  local pkg ver sum rest lock=${1:-$LOCK}
  while read -r pkg ver sum rest; do
    case $pkg in '' | '#'*) continue ;; esac
    [[ $sum =~ ^[0-9a-f]{64}$ ]] || die "$lock: bad SHA-256 for $pkg"
    echo "$pkg $ver $sum ${pkg}_${ver/:/%3a}_amd64.deb"
  done <"$lock"
}

if [ "${1:-}" = --list ]; then
  if [ -n "${2:-}" ] && [ -f "$2/debs.lock.effective" ]; then entries "$2/debs.lock.effective"; else entries; fi
  exit 0
fi
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

upstream() { local v=${1#*:}; echo "${v%-*}"; }   # 1:2.36-9+deb12u14 -> 2.36

# The pinned versions are gone: the archive's current version of each package of the same
# upstream version, recorded in DIR/debs.lock.effective (see the top of this file).
fallback() {
  local pkg ver sum file cand eff=$DIR/debs.lock.effective.new
  : >"$eff"
  while read -r pkg ver sum file; do
    cand=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    [ -n "$cand" ] && [ "$cand" != "(none)" ] || die "$pkg: pinned $ver is not in the archive and apt knows no other version"
    [ "$(upstream "$cand")" = "$(upstream "$ver")" ] || die "$pkg: pinned $ver is not in the archive, and its current version $cand is another upstream release: pin and test it in $LOCK"
    if [ "$cand" = "$ver" ]; then
      [ -f "$DIR/$file" ] || (cd "$TMP" && apt-get download -q "$pkg=$ver") >>"$TMP/.log" 2>&1 || die "apt-get download $pkg=$ver failed"
      [ -f "$DIR/$file" ] || { sum_ok "$TMP/$file" "$sum" || die "$pkg $ver from the archive does not have the pinned SHA-256: refused"; chmod 0644 "$TMP/$file"; mv -f "$TMP/$file" "$DIR/$file"; }
      echo "$pkg $ver $sum" >>"$eff"
      continue
    fi
    local cfile=${pkg}_${cand/:/%3a}_amd64.deb
    [ -f "$DIR/$cfile" ] || (cd "$TMP" && apt-get download -q "$pkg=$cand") >>"$TMP/.log" 2>&1 || die "apt-get download $pkg=$cand failed"
    [ -f "$DIR/$cfile" ] || { chmod 0644 "$TMP/$cfile"; mv -f "$TMP/$cfile" "$DIR/$cfile"; }
    local csum; csum=$(sha256sum "$DIR/$cfile" | cut -d' ' -f1)
    echo "$pkg $cand $csum" >>"$eff"
    echo "warning: runtime-debs: $pkg $ver has left the Debian archive; took $cand (same upstream version, verified by apt; SHA-256 $csum): pin it in $LOCK" >&2
  done < <(entries)
  mv -f "$eff" "$DIR/debs.lock.effective"
  echo "$DIR"
  exit 0
}

# all pinned files there: the lock itself is in use
if [ ${#missing[@]} -eq 0 ]; then rm -f "$DIR/debs.lock.effective"; fi
# an earlier fallback's files, all there and as recorded (e.g. the RPM build's copy, offline)
if [ ${#missing[@]} -gt 0 ] && [ -f "$DIR/debs.lock.effective" ]; then
  ok=1
  while read -r pkg ver sum file; do
    [ -f "$DIR/$file" ] && sum_ok "$DIR/$file" "$sum" || { ok=0; break; }
  done < <(entries "$DIR/debs.lock.effective")
  if [ "$ok" = 1 ]; then
    echo "warning: runtime-debs: using $DIR/debs.lock.effective (versions taken instead of pinned ones that left the archive): pin them in $LOCK" >&2
    echo "$DIR"
    exit 0
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "no apt-get on this host to fetch ${missing[*]} (put the pinned .deb files in $DIR)" 2
  TMP=$(mktemp -d "$DIR/.fetch.XXXXXX")
  trap 'rm -rf "$TMP"' EXIT
  chmod 0755 "$TMP" # apt's sandbox user writes there
  fetch() { (cd "$TMP" && apt-get download -q "${missing[@]}") >"$TMP/.log" 2>&1; }
  if ! fetch; then
    # a host whose package lists are missing or old: refresh them once (root only), then again
    [ "$(id -u)" = 0 ] && apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null 2>&1 || true
    if ! fetch; then
      [ "${CTR_RUNTIME_STRICT:-0}" != 1 ] || die "apt-get download ${missing[*]} failed: $(grep -E '^(E|W):' "$TMP/.log" | head -3 | tr '\n' ' ')
the pinned versions may have left the Debian archive: pin the current ones in $LOCK (version and SHA-256 of each .deb), review, rebuild"
      fallback
    fi
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
