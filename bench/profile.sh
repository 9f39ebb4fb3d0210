#!/usr/bin/env bash
# bench/profile.sh - where the time of one ctr command goes. Run as root after setup.sh:
#
#   bash bench/profile.sh            # run --rm, exec, run -d, stop -t 0, rm
#
# Each command runs once (run --rm and exec after a warm-up run) as the bench user under
#   strace --seccomp-bpf -f -ttt -e trace=execve,exit_group,pivot_root,connect,kill
# (only those syscalls stop the tracee, so the overhead is small), and the timeline is
# printed in milliseconds from ctr's own execve: when Node hands over to ctr-helper, when
# the container's process starts and ends, when the helper and ctr exit. For run -d, which
# leaves a monitor running, only ctr itself is traced (when it starts the helper, when the
# helper reports back, when ctr exits).
set -uo pipefail
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "$(id -u)" = 0 ] || die "profile.sh must run as root"
command -v strace >/dev/null || die "strace is not installed (apt-get install strace)"
bench_user_vars
[ -x "$BIN/ctr" ] || die "run bench/setup.sh first"
T=$(mktemp -d)
trap 'rm -rf "$T"; ctr_u rm -af >/dev/null 2>&1' EXIT
CT=("$BIN/ctr" --root "$CTR_ROOT" --runroot "$CTR_RUNROOT")

timeline() {  # $1 title, rest: command (run as the bench user)
  local title=$1 opts=(--seccomp-bpf -f -e trace=execve,exit_group,pivot_root,connect,kill)
  shift
  # strace -f would wait for a monitor that outlives ctr: follow ctr alone then
  [ "${FOLLOW:-1}" = 0 ] && opts=(-e trace=execve,clone,clone3,vfork,wait4,connect,exit_group)
  (cd / && strace "${opts[@]}" -ttt -o "$T/s" -u "$BENCH_USER" env -i HOME="$BHOME" USER="$BENCH_USER" \
    LOGNAME="$BENCH_USER" PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR="$RUNDIR" \
    CTR_HELPER="$BIN/ctr-helper" "$@" >/dev/null 2>&1)
  echo "== $title"
  awk '{ if ($1 ~ /\./) { pid = "-"; ts = $1; a = $2 " " $3 } else { pid = $1; ts = $2; a = $3 " " $4 } }
       /execve\("[^"]*\/ctr"/ && !t0 { t0 = ts }
       !t0 || /ENOENT|resumed|\+\+\+|CLONE_THREAD/ { next }
       { gsub(/,$/, "", a); printf "  %7.1f ms  pid %-7s %s\n", (ts - t0) * 1000, pid, substr(a, 1, 70) }' "$T/s"
}

ctr_u rm -af >/dev/null 2>&1
ctr_u run --rm --network none busybox true >/dev/null
timeline "run --rm --network none busybox true" "${CT[@]}" run --rm --network none busybox true
ctr_u run -d --network none --name profile-exec busybox sleep 86400 >/dev/null
ctr_u exec profile-exec true
timeline "exec profile-exec true" "${CT[@]}" exec profile-exec true
ctr_u rm -f profile-exec >/dev/null
FOLLOW=0 timeline "run -d --name profile-cycle busybox sleep 86400 (default network)" "${CT[@]}" run -d --name profile-cycle busybox sleep 86400
timeline "stop -t 0 profile-cycle" "${CT[@]}" stop -t 0 profile-cycle
timeline "rm profile-cycle" "${CT[@]}" rm profile-cycle
