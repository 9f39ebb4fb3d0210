#!/bin/sh
# The per-user pause process: created once, reused, replaced after kill -9, and two racing
# invocations end with one pause. Run as the test user. usage: pause-test.sh HELPER
set -u
H=${1:-$(dirname "$0")/../build/ctr-helper}
RD=${XDG_RUNTIME_DIR:-/tmp/ctr-$(id -u)}/ctr-pause-test
fail() { echo "FAIL: $*"; exit 1; }
pausepid() { cut -d' ' -f1 "$RD/pause.pid" 2>/dev/null; }
[ -f "$RD/pause.pid" ] && kill -9 "$(pausepid)" 2>/dev/null
rm -rf "$RD"
out=$("$H" --rundir "$RD" id-map) || fail "id-map"
echo "$out"
p1=$(pausepid); [ -n "$p1" ] || fail "no pause.pid"
[ "$(cat /proc/$p1/comm)" = ctr-pause ] || fail "pause comm is $(cat /proc/$p1/comm)"
echo "ok: pause $p1 created ($(tr '\0' ' ' < /proc/$p1/cmdline))"
"$H" --rundir "$RD" userns-exec -- true || fail "userns-exec"
[ "$(pausepid)" = "$p1" ] || fail "pause not reused"
echo "ok: reused"
[ "$(readlink /proc/$p1/ns/user)" != "$(readlink /proc/self/ns/user)" ] || fail "pause in our namespace"
inside=$("$H" --rundir "$RD" userns-exec -- sh -c 'readlink /proc/self/ns/user; echo $CTR_USERNS; id -u')
[ "$(echo "$inside" | head -1)" = "$(readlink /proc/$p1/ns/user)" ] || fail "userns-exec not in the pause namespace"
[ "$(echo "$inside" | sed -n 2p)" = 1 ] || fail "CTR_USERNS not set"
[ "$(echo "$inside" | sed -n 3p)" = 0 ] || fail "not root inside"
echo "ok: userns-exec joins it as root with CTR_USERNS=1"
kill -9 "$p1"; sleep 0.1
"$H" --rundir "$RD" userns-exec -- true || fail "after kill"
p2=$(pausepid)
[ -n "$p2" ] && [ "$p2" != "$p1" ] && [ -d /proc/$p2 ] || fail "pause not replaced ($p1 -> $p2)"
echo "ok: replaced after kill -9 ($p1 -> $p2)"
kill -9 "$p2"; sleep 0.1
before=$(pgrep -r S,R,D -u "$(id -u)" -x ctr-pause | wc -l)
for i in 1 2 3 4 5 6; do "$H" --rundir "$RD" userns-exec -- sh -c 'readlink /proc/self/ns/user' > "$RD.out$i" & done
wait
n=$(cat "$RD".out* | sort -u | wc -l); rm -f "$RD".out*
after=$(pgrep -r S,R,D -u "$(id -u)" -x ctr-pause | wc -l)
[ "$n" = 1 ] || fail "racing invocations used $n namespaces"
[ "$after" = $((before + 1)) ] || fail "racing invocations started $((after - before)) pause processes"
echo "ok: 6 racing invocations share one namespace and one new pause ($(pausepid))"
kill -9 "$(pausepid)"
echo "ok: all pause tests passed"
