#!/usr/bin/env bash
# bench/bundled.sh - start-up of the bundled flavour (dist/bundled: its own C/C++ runtime, for
# EL7) against the plain binary (dist/bin/ctr: the host's), side by side, as the test user.
# Run as root after `npm run build && npm run package`: the bundled lib dir is put at
# /usr/libexec/ctr/lib in a private mount namespace (test/el7/graft.sh), both binaries get the
# same store, and hyperfine (-N) times `version`, `ps` and `run --rm --network none busybox
# true` in rounds that alternate which flavour goes first (against drifts of the machine's
# load). Prints the medians and their difference; the target is within 2 ms.
#
# Knobs: CTR_BENCH_RUNS (per command and flavour, default 60), CTR_BENCH_ROUNDS (default 6),
# CTR_TEST_USER (ctrtest), CTR_TEST_FIXTURES (the busybox archive's dir).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
USER_=${CTR_TEST_USER:-ctrtest}
RUNS=${CTR_BENCH_RUNS:-60}
ROUNDS=${CTR_BENCH_ROUNDS:-6}
FIX=${CTR_TEST_FIXTURES:-/var/tmp/ctr-test/fixtures}
die() { echo "bundled.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$REPO/dist/bundled/bin/ctr" ] || die "no dist/bundled: npm run package"
[ -f "$FIX/busybox.docker.tar" ] || die "no $FIX/busybox.docker.tar (test/run.sh builds the fixtures; set CTR_TEST_FIXTURES)"
command -v hyperfine >/dev/null || die "hyperfine is not installed"

W=$(mktemp -d /var/tmp/ctr-bench-bundled.XXXXXX)
trap 'rm -rf "$W"' EXIT
# private copies: nothing rebuilds them meanwhile, and the test user can read them
mkdir -p "$W/plain/bin" "$W/plain/libexec/ctr" "$W/bundled/bin" "$W/bundled/libexec/ctr" "$W/xr" "$W/out"
cp "$REPO/dist/bin/ctr" "$W/plain/bin/ctr"
cp "$REPO/dist/bundled/bin/ctr" "$W/bundled/bin/ctr"
cp "$REPO/native/build/ctr-helper" "$W/plain/libexec/ctr/"
cp "$REPO/native/build/ctr-helper" "$W/bundled/libexec/ctr/"
cp "$FIX/busybox.docker.tar" "$W/busybox.tar"
chmod -R a+rX "$W"
chown -R "$USER_:" "$W/xr" "$W/out"
chmod 0700 "$W/xr"
mkdir -p "$W/data" && chown "$USER_:" "$W/data"

cat >"$W/inner.sh" <<EOF
set -e
G="--root $W/data --runroot $W/xr/ctr"
P="$W/plain/bin/ctr \$G"
B="$W/bundled/bin/ctr \$G"
\$P load -i $W/busybox.tar >/dev/null
\$B run --rm --network none busybox true
per=\$(( $RUNS / $ROUNDS ))
for r in \$(seq $ROUNDS); do
  for c in version ps "run --rm --network none busybox true"; do
    n=\$(echo "\$c" | cut -d' ' -f1)
    if [ \$((r % 2)) = 0 ]; then order="plain bundled"; else order="bundled plain"; fi
    set --
    for f in \$order; do
      if [ \$f = plain ]; then set -- "\$@" -n plain "\$P \$c"; else set -- "\$@" -n bundled "\$B \$c"; fi
    done
    hyperfine -N --style none -w 3 -r \$per --export-json $W/out/\$n-\$r.json "\$@" >/dev/null
  done
done
EOF
"$REPO/test/el7/graft.sh" "$REPO/dist/bundled/libexec/ctr/lib:/usr/libexec/ctr/lib" -- \
  runuser -u "$USER_" -- env -i HOME="$W" PATH=/usr/bin:/bin XDG_RUNTIME_DIR="$W/xr" sh "$W/inner.sh"
[ -s "$W/xr/ctr/pause.pid" ] && kill -9 "$(cut -d' ' -f1 "$W/xr/ctr/pause.pid")" 2>/dev/null || true
runuser -u "$USER_" -- "$REPO/native/build/ctr-helper" --rundir "$W/xr/gc" rmtree "$W/data" >/dev/null 2>&1 || true
[ -s "$W/xr/gc/pause.pid" ] && kill -9 "$(cut -d' ' -f1 "$W/xr/gc/pause.pid")" 2>/dev/null || true

python3 - "$W/out" <<'EOF'
import glob, json, os, statistics, sys
out = sys.argv[1]
print("| command | plain median (ms) | bundled median (ms) | bundled - plain (ms) | user+sys plain / bundled (ms) |")
print("| --- | ---: | ---: | ---: | ---: |")
for n, label in (("version", "ctr version"), ("ps", "ctr ps"), ("run", "ctr run --rm --network none busybox true")):
    t = {"plain": [], "bundled": []}
    cpu = {"plain": [], "bundled": []}
    for f in glob.glob(os.path.join(out, f"{n}-*.json")):
        for r in json.load(open(f))["results"]:
            t[r["command"]] += r["times"]
            cpu[r["command"]].append(r["user"] + r["system"])
    mp, mb = statistics.median(t["plain"]) * 1000, statistics.median(t["bundled"]) * 1000
    cp, cb = statistics.mean(cpu["plain"]) * 1000, statistics.mean(cpu["bundled"]) * 1000
    print(f"| `{label}` | {mp:.1f} | {mb:.1f} | {mb - mp:+.1f} | {cp:.1f} / {cb:.1f} |")
EOF
