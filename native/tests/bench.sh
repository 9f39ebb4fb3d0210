#!/bin/sh
# `run --attach` of `true` end to end (vfs rootfs, network none, and overlay), with hyperfine.
# Run as the test user: native/tests/bench.sh
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
H=${CTR_HELPER:-$HERE/../build/ctr-helper}
RD=${XDG_RUNTIME_DIR:-/tmp/ctr-$(id -u)}/ctr-bench-test
W=$(mktemp -d /tmp/ctr-bench.XXXXXX)
"$HERE/mkrootfs.sh" "$W/rootfs" >/dev/null
mkdir -p "$W/up" "$W/work" "$W/m"
node "$HERE/mkbundle.js" "$W/vfs" "$W/rootfs" -- true
node "$HERE/mkbundle.js" "$W/ov" "$W/m" --driver overlay --lower "$W/rootfs" --upper "$W/up" --work "$W/work" -- true
"$H" --rundir "$RD" id-map >/dev/null
hyperfine -N --warmup 10 --runs 200 \
  "$H --rundir $RD run $W/vfs --attach" \
  "$H --rundir $RD run $W/ov --attach"
"$H" --rundir "$RD" userns-exec -- rm -rf "$W"
[ -f "$RD/pause.pid" ] && kill -9 "$(cut -d' ' -f1 "$RD/pause.pid")" 2>/dev/null || true
