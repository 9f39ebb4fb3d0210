#!/bin/bash
# End-to-end tests of the ctr-helper runtime with a hand-made busybox rootfs and hand-written
# bundles. Run as a non-root user with subordinate IDs (or as root for the real-root path):
#   runuser -u ctrtest -- env HOME=/home/ctrtest XDG_RUNTIME_DIR=/run/user/1001 PATH=/usr/local/bin:/usr/bin:/bin \
#     native/tests/runtime-tests.sh
# Needs: /bin/busybox (busybox-static), node, python3; fuse-overlayfs and slirp4netns for those tests.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
H=${CTR_HELPER:-$HERE/../build/ctr-helper}
# A rundir (hence a pause process) of our own: another run of this script at the same time
# (the same user's test suites side by side) kills its pause at the end, never ours.
RUNBASE=${XDG_RUNTIME_DIR:-/tmp}
RD=${CTR_RT_RUNDIR:-$(mktemp -d "$RUNBASE/ctr-rt-run.XXXXXX")} || { echo "cannot create a rundir in $RUNBASE"; exit 1; }
W=${TESTDIR:-$(mktemp -d /tmp/ctr-rt.XXXXXX)}
HR=("$H" --rundir "$RD")
pass=0 fails=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected [$2] got [$3]"; fi; }
has() { case "$3" in *"$2"*) ok "$1" ;; *) bad "$1" "no [$2] in [$3]" ;; esac; }
mk() { local b=$1; shift; rm -rf "$W/$b"; node "$HERE/mkbundle.js" "$W/$b" "$@"; }
run() { "${HR[@]}" run "$W/$1" --attach "${@:2}"; }
# Under load (test files side by side on 2 CPUs) nothing is instant: wait for a condition
# (a shell command) for up to 10 s instead of sleeping a fixed time.
waitfor() { local i; for i in $(seq 1 100); do eval "$1" && return 0; sleep 0.1; done; return 1; }
jpid() { sed 's/.*"pid":\([0-9]*\).*/\1/'; }
proc() { # PROCESS_JSON file from args: proc NAME ARGS_JSON [extra json members]
  printf '{"args":%s,"env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"cwd":"/"%s}\n' "$2" "${3:-}" > "$W/$1.json"
  echo "$W/$1.json"
}

echo "# work dir $W, rundir $RD"
"$HERE/mkrootfs.sh" "$W/rootfs" >/dev/null || { echo "cannot build the rootfs"; exit 1; }
ROOTLESS=1; [ "$(id -u)" = 0 ] && ROOTLESS=0

# --- basics, exit codes
mk b1 "$W/rootfs" -- echo hi
eq "echo hi" "hi" "$(run b1)"
mk b2 "$W/rootfs" -- sh -c 'exit 3'; run b2; eq "exit code 3" 3 $?
mk b3 "$W/rootfs" -- nosuchcmd; err=$(run b3 2>&1); eq "not found: 127" 127 $?
has "not found message" 'executable file "nosuchcmd" not found in $PATH' "$err"
has "exit file error" '"exitCode":127' "$(cat "$W/b3/exit.json")"
mk b4 "$W/rootfs" -- /bin/noexec; err=$(run b4 2>&1); eq "not executable: 126" 126 $?
has "permission denied message" "/bin/noexec: permission denied" "$err"
mk b5 "$W/rootfs" -- /no/such; run b5 2>/dev/null; eq "missing path: 127" 127 $?
out=$("${HR[@]}" run "$W/b1"); has "run prints pid json" '"monitorPid":' "$out"
waitfor '[ -f "$W/b1/exit.json" ]'
has "state file" '"bootId":"' "$(cat "$W/b1/state.json")"
has "startedAt RFC 3339 ns" 'Z"' "$(grep -o '"startedAt":"[0-9T:.-]*Z"' "$W/b1/state.json")"
has "log line" '{"log":"hi\n","stream":"stdout","time":"' "$(cat "$W/b1/ctr.log")"

# --- security: capabilities, no_new_privs, masked and read-only paths, hostname
mk s1 "$W/rootfs" --hostname box1 -- sh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; hostname;
  cat /proc/kcore 2>&1 | wc -c; (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null || echo ro-ok; ls /proc/acpi | wc -l; mount | grep -c " /sys type sysfs (ro"'
out=$(run s1)
has "CapEff is Docker's default set" "CapEff:	00000000a80425fb" "$out"
has "CapBnd is Docker's default set" "CapBnd:	00000000a80425fb" "$out"
has "NoNewPrivs 1" "NoNewPrivs:	1" "$out"
has "hostname" "box1" "$out"
has "/proc/sys read-only" "ro-ok" "$out"
eq "/proc/acpi masked (empty)" 0 "$(echo "$out" | sed -n 7p)"
eq "/sys read-only sysfs" 1 "$(echo "$out" | tail -1)"

# --- users
mk u1 "$W/rootfs" --user user -- sh -c 'id; echo $HOME; grep CapEff /proc/self/status'
out=$(run u1)
has "user by name, supplementary groups" "uid=1000(user) gid=1000(user) groups=10(wheel),29(audio)" "$out"
has "HOME from passwd" "/home/user" "$out"
has "non-root has no effective caps" "CapEff:	0000000000000000" "$out"
mk u2 "$W/rootfs" --user 1000:audio -- id; has "uid:group" "uid=1000(user) gid=29(audio)" "$(run u2)"
mk u3 "$W/rootfs" --user 4321:55 -- id; has "unknown numeric uid" "uid=4321 gid=55" "$(run u3)"
mk u4 "$W/rootfs" --user bogus -- id; err=$(run u4 2>&1); eq "unknown user: 125" 125 $?
has "unknown user message" "unable to find user bogus: no matching entries in passwd file" "$err"
mk u5 "$W/rootfs" --user user --cwd /work/dir -- pwd; eq "cwd created" /work/dir "$(run u5)"

# --- terminal
mk t1 "$W/rootfs" --tty -- sh -c 'tty; stty size'
out=$(run t1 --tty | tr -d '\r')
has "tty is a /dev/pts path" "/dev/pts/0" "$out"
has "default size 24x80" "24 80" "$out"
mk t2 "$W/rootfs" --tty -- sh
if python3 "$HERE/ttytest.py" "$H" "$RD" "$W/t2" > "$W/tty.out" 2>&1; then ok "tty: raw mode, resize, detach keys, reattach ($(grep -c ^ok "$W/tty.out") checks)"; else bad "ttytest" "$(cat "$W/tty.out")"; fi

# --- stdin
mk i1 "$W/rootfs" -- sh -c 'cat; echo end'
eq "stdin through attach" "$(printf 'a\nb\nend')" "$(printf 'a\nb\n' | run i1 --stdin)"
mk i2 "$W/rootfs" -- wc -c
eq "50 MB of stdin" 50000000 "$(head -c 50000000 /dev/zero | run i2 --stdin)"
mk i3 "$W/rootfs" -- cat
head -c 5000000 /dev/urandom > "$W/rnd"
if run i3 --stdin < "$W/rnd" | cmp -s - "$W/rnd"; then ok "binary stdin/stdout round trip"; else bad "binary round trip" "differs"; fi

# --- init
mk z1 "$W/rootfs" -- sh -c '(sleep 0.1 &); exec sleep 30'
mk z2 "$W/rootfs" --init -- sh -c '(sleep 0.1 &); exec sleep 30'
p1=$("${HR[@]}" run "$W/z1" | jpid); p2=$("${HR[@]}" run "$W/z2" | jpid)
PS=$(proc ps '["ps","-o","stat,pid,args"]')
# the orphan has exited once the namespace holds no `sleep 0.1` that is not a zombie
waitfor 'out1=$("${HR[@]}" exec "$p1" "$PS"); case "$out1" in *"Z "*) true ;; *) false ;; esac'
waitfor 'out2=$("${HR[@]}" exec "$p2" "$PS"); case "$out2" in *"sleep 0.1"*) false ;; *) true ;; esac'
has "without init the orphan stays a zombie" "Z " "$out1"
case "$out2" in *"Z "*) bad "init reaps zombies" "$out2" ;; *) ok "init reaps zombies" ;; esac
has "init is PID 1 named ctr-init" "1 ctr-init" "$out2"
EXE=$(proc exe '["sh","-c","readlink /proc/1/exe; echo x >> /proc/1/exe || echo sealed"]')
out=$("${HR[@]}" exec "$p2" "$EXE" 2>/dev/null)
# a sealed memfd; before Linux 3.17 (no memfd_create) an unlinked copy in the container's /dev
case "$out" in
  *memfd:ctr-init* | */dev/.ctr-init-*"(deleted)"*) ok "init image is a private copy (not the helper's file)" ;;
  *) bad "init image is a private copy (not the helper's file)" "$out" ;;
esac
has "init image not writable" sealed "$out"
eq "pids lists the namespace (init + sleep)" 2 "$("${HR[@]}" pids "$p2" | wc -l)"
"${HR[@]}" signal-all "$p2" TERM; waitfor '[ -f "$W/z2/exit.json" ]'
has "signal-all TERM through init: 143" '"exitCode":143' "$(cat "$W/z2/exit.json")"

# --- exec
ID=$(proc id '["sh","-c","id; pwd; grep NoNewPrivs /proc/self/status; exit 4"]' ',"user":"user:audio","cwd":"/tmp/x","noNewPrivileges":true')
out=$("${HR[@]}" exec "$p1" "$ID"); rc=$?
eq "exec exit code" 4 $rc
has "exec user" "uid=1000(user) gid=29(audio)" "$out"
has "exec cwd created" "/tmp/x" "$out"
NF=$(proc nf '["nosuch"]'); "${HR[@]}" exec "$p1" "$NF" 2>/dev/null; eq "exec not found: 127" 127 $?
TT=$(proc tt '["tty"]' ',"terminal":true'); has "exec --tty" "/dev/pts/" "$(script -qc "'$H' --rundir '$RD' exec $p1 $TT --tty" /dev/null)"
BG=$(proc bg '["sh","-c","sleep 7"]'); "${HR[@]}" exec "$p1" "$BG" --detach; eq "exec --detach" 0 $?
has "detached exec runs in the container" "sleep 7" "$("${HR[@]}" exec "$p1" "$PS")"

# --- attach socket: signals, stdin, exit frame
S=$HERE/sockctl.py
mk a1 "$W/rootfs" -- sh -c 'trap "echo got TERM; exit 42" TERM; echo ready; while true; do sleep 0.05; done'
"${HR[@]}" run "$W/a1" >/dev/null; waitfor 'grep -q ready "$W/a1/ctr.log"'
eq "signal frame, exit frame" "exit 42" "$(python3 "$S" "$W/a1/mon/attach" signal 15)"
mk a2 "$W/rootfs" --stdin -- sh -c 'read x; echo got $x; echo done >&2'
"${HR[@]}" run "$W/a2" >/dev/null
out=$(python3 "$S" "$W/a2/mon/attach" stdin "hello
")
has "stdin frame" "out: got hello" "$out"; has "stderr frame" "err: done" "$out"
python3 "$S" "$W/z1/mon/attach" signal 9 >/dev/null
has "SIGKILL: 137 and signal 9" '"exitCode":137,' "$(cat "$W/z1/exit.json")"
has "signal in the exit file" '"signal":9' "$(cat "$W/z1/exit.json")"
mk a3 "$W/rootfs" -- sh -c 'trap "echo got USR1" USR1; trap "exit 9" TERM; echo ready; while true; do sleep 0.05; done'
"${HR[@]}" run "$W/a3" --attach --sig-proxy > "$W/a3.out" & c=$!
waitfor 'grep -q ready "$W/a3.out"'; kill -USR1 $c; waitfor 'grep -q "got USR1" "$W/a3.out"'; kill -TERM $c; wait $c
eq "sig-proxy exit" 9 $?; has "sig-proxy USR1" "got USR1" "$(cat "$W/a3.out")"
"${HR[@]}" attach "$W/b1/mon/attach" 2>/dev/null; eq "attach to a stopped container: 125" 125 $?

# --- log rotation, --rm
mk l1 "$W/rootfs" --log-max-size 1000 -- sh -c 'for i in $(seq 1 40); do echo line $i; done'
run l1 >/dev/null
[ -f "$W/l1/ctr.log.1" ] && [ "$(wc -c < "$W/l1/ctr.log")" -le 1000 ] && ok "log rotated to .1" || bad "log rotation" "$(ls -la "$W/l1")"
has "last line in the new log" '"log":"line 40\n"' "$(cat "$W/l1/ctr.log")"
mk r1 "$W/rootfs" --rm -- true; run r1; [ ! -e "$W/r1" ] && ok "--rm removed the bundle" || bad "--rm" "still there"

# --- mounts: safe mount points, read-only root, ro binds
cp -a "$W/rootfs" "$W/esc"; mkdir -p "$W/outside" "$W/vol"; echo volfile > "$W/vol/f"
ln -s "$W/outside" "$W/esc/abs"; ln -s "../../../../../../..$W/outside" "$W/esc/rel"
mk m1 "$W/esc" --mount "$W/vol:/abs/x" --mount "$W/vol:/rel/y:ro" -- sh -c 'cat /abs/x/f; (echo w > /rel/y/new) 2>/dev/null || echo ro'
out=$(run m1)
has "bind through an absolute symlink" volfile "$out"; has "ro bind" ro "$out"
eq "nothing created outside the rootfs" "" "$(ls -A "$W/outside")"
mk m2 "$W/rootfs" --read-only -- sh -c 'touch /x 2>/dev/null || echo ro-root'
eq "--read-only" ro-root "$(run m2)"

# --- overlay, fuse-overlayfs, mount-exec
O=$W/ov; mkdir -p "$O/l2/data" "$O/up" "$O/work" "$O/m" "$O/up2" "$O/work2" "$O/m2"
cp -a "$W/rootfs" "$O/l1"; echo from-l2 > "$O/l2/data/f"
"${HR[@]}" userns-exec -- chown -R 1000:1000 "$O/l2/data"
mk o1 "$O/m" --driver overlay --lower "$O/l2:$O/l1" --upper "$O/up" --work "$O/work" -- sh -c 'stat -c %u /data/f; cat /data/f; echo n > /new; rm /bin/vi'
out=$(run o1 2>&1)
if [ $? = 0 ]; then
  has "overlay lower ownership" "1000" "$out"; has "overlay lower order" from-l2 "$out"
  [ -f "$O/up/new" ] && [ -c "$O/up/bin/vi" ] && ok "overlay upper: file and whiteout" || bad "overlay upper" "$(ls -la "$O/up" "$O/up/bin")"
  eq "merged dir not mounted on the host" "" "$(ls -A "$O/m")"
  eq "mount-exec" from-l2 "$("${HR[@]}" mount-exec "$W/o1" -- sh -c 'cat $CTR_ROOTFS/data/f')"
else
  echo "skip overlay: $out"
fi
if command -v fuse-overlayfs >/dev/null; then
  mk f1 "$O/m2" --driver fuse-overlayfs --lower "$O/l2:$O/l1" --upper "$O/up2" --work "$O/work2" --user user -- sh -c 'echo x > /data/g; mount | head -1'
  has "fuse-overlayfs" "fuse-overlayfs on / type fuse" "$(run f1)"
  [ -f "$O/up2/data/g" ] && ok "fuse-overlayfs upper" || bad "fuse-overlayfs upper" "no file"
fi

# --- network
mk n1 "$W/rootfs" --network none -- sh -c 'ip -o link | wc -l; ip -o link show lo | grep -c UP'
eq "network none: loopback only, up" "$(printf '1\n1')" "$(run n1)"
if command -v slirp4netns >/dev/null && [ -w /dev/net/tun ]; then
  mk n2 "$W/rootfs" --network slirp4netns -- sh -c 'ip -o addr show tap0 | grep -o "inet [0-9./]*"; ping -c1 -W2 10.0.2.2 >/dev/null && echo ping-ok'
  out=$(run n2); has "slirp4netns address" "inet 10.0.2.100/24" "$out"; has "slirp4netns gateway" ping-ok "$out"
fi
mk n3 "$W/rootfs" --network host -- sh -c 'touch /sys/x 2>/dev/null || echo ro-sys'
eq "host network: read-only /sys bind" ro-sys "$(run n3)"

# --- monitor memory
mk v1 "$W/rootfs" -- sleep 5
mp=$("${HR[@]}" run "$W/v1" | sed 's/.*"monitorPid":\([0-9]*\).*/\1/')
rss=$(awk '/VmRSS/ {print $2}' /proc/$mp/status)
[ "$rss" -lt 1024 ] && ok "monitor VmRSS ${rss} kB < 1 MiB" || bad "monitor VmRSS" "$rss kB"
eq "monitor name" ctr-monitor "$(cat /proc/$mp/comm)"
python3 "$S" "$W/v1/mon/attach" signal 9 >/dev/null

echo "# $pass passed, $fails failed"
[ $fails = 0 ] && "${HR[@]}" userns-exec -- rm -rf "$W"
[ $ROOTLESS = 1 ] && [ -f "$RD/pause.pid" ] && kill -9 "$(cut -d' ' -f1 "$RD/pause.pid")" 2>/dev/null
[ -z "${CTR_RT_RUNDIR:-}" ] && rm -rf "$RD"
exit $((fails > 0))
