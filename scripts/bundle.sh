#!/usr/bin/env bash
# Makes the bundled flavour of ctr from the plain single binary: a copy that runs on any
# x86_64 Linux from glibc 2.17 / kernel 3.10 (CentOS 7) up, because it brings the C and C++
# runtime the embedded Node needs (packaging/runtime/README.md says why and how).
#
#   scripts/bundle.sh PLAIN_BINARY DEBS_DIR OUTDIR
#
# OUTDIR gets a prefix tree:
#   bin/ctr                      the plain binary, patched: its ELF interpreter is
#                                LIBDIR/ld-linux-x86-64.so.2 and its DT_RPATH is LIBDIR (RPATH,
#                                not RUNPATH: a user's LD_LIBRARY_PATH cannot override it)
#   libexec/ctr/lib/             ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libdl.so.2
#                                libpthread.so.0 libgcc_s.so.1 libstdc++.so.6 from the pinned
#                                Debian packages (packaging/runtime/debs.lock, in DEBS_DIR), and
#                                libctr-entropy.so (packaging/runtime/entropy.c)
#   share/licenses/ctr-runtime/  their copyright files and RUNTIME-SOURCES (where their source is)
# LIBDIR is where the package installs that lib directory: $CTR_BUNDLE_LIBDIR, default
# /usr/libexec/ctr/lib (the kernel needs the interpreter's absolute path).
#
# patchelf comes from the pinned Debian package too and runs through the bundled loader, so
# any build host (EL, Fedora, Debian) works without installing it. The binary is patched
# after the SEA injection; scripts/package.sh then checks that the bundled binary still finds
# its SEA blob and takes its code caches.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "bundle: $*" >&2; exit 1; }
[ $# = 3 ] || die "usage: scripts/bundle.sh PLAIN_BINARY DEBS_DIR OUTDIR"
PLAIN=$1
DEBS=$(cd "$2" && pwd)
OUT=$3
LIBDIR=${CTR_BUNDLE_LIBDIR:-/usr/libexec/ctr/lib}
case $LIBDIR in /*) ;; *) die "CTR_BUNDLE_LIBDIR must be an absolute path" ;; esac
CC=${CC:-cc}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# the pinned packages, checked again here (a DEBS_DIR filled by hand is trusted no more)
declare -A FILE VER
while read -r pkg ver sum file; do
  [ -f "$DEBS/$file" ] || die "$DEBS/$file is missing (scripts/runtime-debs.sh $DEBS fetches it)"
  [ "$(sha256sum "$DEBS/$file" | cut -d' ' -f1)" = "$sum" ] || die "$DEBS/$file: SHA-256 differs from packaging/runtime/debs.lock"
  FILE[$pkg]=$file
  VER[$pkg]=$ver
done < <(bash "$REPO/scripts/runtime-debs.sh" --list "$DEBS")

# unpacks a .deb's data member into $TMP/root (dpkg-deb where there is one, else ar + tar)
unpack() {
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb -x "$DEBS/$1" "$TMP/root"
  else
    command -v ar >/dev/null || die "neither dpkg-deb nor ar (binutils) to unpack $1"
    local member
    member=$(cd "$TMP" && ar t "$DEBS/$1" | grep '^data\.tar') || die "$1 has no data member"
    (cd "$TMP" && ar x "$DEBS/$1" "$member" && tar -xf "$member" -C root && rm -f "$member")
  fi
}
mkdir -p "$TMP/root"
for p in libc6 libgcc-s1 libstdc++6 gcc-12-base patchelf; do
  [ -n "${FILE[$p]:-}" ] || die "packaging/runtime/debs.lock has no $p"
  unpack "${FILE[$p]}"
done
R=$TMP/root
MA=x86_64-linux-gnu

rm -rf "$OUT.new"
L=$OUT.new/libexec/ctr/lib
mkdir -p "$OUT.new/bin" "$L" "$OUT.new/share/licenses/ctr-runtime"
for f in ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 libgcc_s.so.1; do
  cp -L "$R/lib/$MA/$f" "$L/$f" 2>/dev/null || cp -L "$R/usr/lib/$MA/$f" "$L/$f" || die "no $f in the runtime packages"
done
cp -L "$R/usr/lib/$MA/libstdc++.so.6" "$L/libstdc++.so.6" || die "no libstdc++.so.6 in libstdc++6"
"$CC" -O2 -Wall -Wextra -Werror -fPIC -shared -nostdlib -fno-stack-protector \
  -Wl,-soname,libctr-entropy.so -Wl,--hash-style=both -Wl,-z,now \
  -o "$L/libctr-entropy.so" "$REPO/packaging/runtime/entropy.c" -lc || die "cannot build libctr-entropy.so"
chmod 0755 "$L"/*

# patchelf through the bundled loader (it needs glibc >= 2.34 and libstdc++ 11). One change
# per run: patchelf 0.14 garbles DT_RPATH when --add-needed comes in the same run.
pe() { "$L/ld-linux-x86-64.so.2" --library-path "$L" "$R/usr/bin/patchelf" "$@"; }
cp "$PLAIN" "$TMP/ctr"
pe --add-needed libctr-entropy.so "$TMP/ctr" &&
  pe --force-rpath --set-rpath "$LIBDIR" "$TMP/ctr" &&
  pe --set-interpreter "$LIBDIR/ld-linux-x86-64.so.2" "$TMP/ctr" || die "patchelf failed"
interp=$(pe --print-interpreter "$TMP/ctr")
rpath=$(readelf -d "$TMP/ctr" 2>/dev/null | sed -n 's/.*(RPATH).*\[\(.*\)\]/\1/p' || true)
[ -n "$rpath" ] || rpath="$(pe --print-rpath "$TMP/ctr") (not as DT_RPATH)"
needed=$(pe --print-needed "$TMP/ctr" | head -1)
[ "$interp" = "$LIBDIR/ld-linux-x86-64.so.2" ] && [ "$rpath" = "$LIBDIR" ] && [ "$needed" = libctr-entropy.so ] ||
  die "the patched binary has interpreter '$interp', rpath '$rpath', first library '$needed'"
install -m 0755 "$TMP/ctr" "$OUT.new/bin/ctr"

# notices: each package's copyright file, and where the source of what we ship is
LIC=$OUT.new/share/licenses/ctr-runtime
cp "$R/usr/share/doc/libc6/copyright" "$LIC/glibc.copyright"
cp "$R/usr/share/doc/gcc-12-base/copyright" "$LIC/gcc.copyright"
url() { echo "https://snapshot.debian.org/package/$1/${2//+/%2B}/"; }
{
  echo "The files in $LIBDIR are not part of ctr's source: they are taken unchanged from"
  echo "these Debian 12 (bookworm, amd64) binary packages, except libctr-entropy.so (ctr's own,"
  echo "Apache-2.0; its source is packaging/runtime/entropy.c in ctr's source tree)."
  echo
  echo "glibc: ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0"
  echo "  from ${FILE[libc6]}"
  echo "  licence: LGPL-2.1-or-later (see glibc.copyright)"
  echo "  source: Debian source package glibc ${VER[libc6]}, $(url glibc "${VER[libc6]}")"
  echo "GCC runtime: libgcc_s.so.1 libstdc++.so.6"
  echo "  from ${FILE[libgcc-s1]} and ${FILE[libstdc++6]}"
  echo "  licence: GPL-3.0-or-later WITH GCC-exception-3.1 (see gcc.copyright)"
  echo "  source: Debian source package gcc-12 ${VER[libstdc++6]}, $(url gcc-12 "${VER[libstdc++6]}")"
  echo
  echo "SHA-256 of the packages:"
  while read -r pkg ver sum file; do
    [ "$pkg" = patchelf ] || echo "  $sum  $file"
  done < <(bash "$REPO/scripts/runtime-debs.sh" --list "$DEBS")
} >"$LIC/RUNTIME-SOURCES"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
