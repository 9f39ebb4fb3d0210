#!/usr/bin/env bash
# bench/profile.sh - where the time of one ctr command goes. Run as root after setup.sh:
#
#   bash bench/profile.sh            # run --rm, exec, run -d, stop -t 0, rm
#
# Each command runs once (run --rm and exec after a warm-up run) as the bench user under
#   strace --seccomp-bpf -f -ttt -e trace=execve,exit_group,pivot_root,connect,kill
# (only those syscalls stop the tracee, so the overhead is small), and the timeline is
# printed in milliseconds from ctr's own execve: when Node hands over to ctr-helper, when
# the container's process starts and ends, when the helper and ctr exit. run -d leaves a
# monitor running, which strace -f would wait for: the last part times run -d, stop -t 0
# and rm by the wall clock instead.
set -uo pipefail
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
enter_cgroup_view "$@"
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
ctr_u run -d --name profile-cycle busybox sleep 86400 >/dev/null
timeline "stop -t 0 profile-cycle (default network: the monitor also ends slirp4netns)" "${CT[@]}" stop -t 0 profile-cycle
timeline "rm profile-cycle" "${CT[@]}" rm profile-cycle

# run -d leaves a monitor that strace -f would wait for: wall-clock medians of the cycle instead
echo "== run -d / stop -t 0 / rm, wall clock, median of 11 cycles (default network)"
as_user bash -c '
  t() { date +%s%N; }
  for i in $(seq 1 11); do
    a=$(t); id=$("$@" run -d busybox sleep 86400); b=$(t)
    "$@" stop -t 0 "$id" >/dev/null; c=$(t); "$@" rm "$id" >/dev/null; d=$(t)
    echo $(((b - a) / 1000)) $(((c - b) / 1000)) $(((d - c) / 1000))
  done' - "${CT[@]}" >"$T/cyc"
for col in 1 2 3; do
  sort -n -k$col "$T/cyc" | awk -v c=$col 'NR == 6 { printf "  %-8s %6.1f ms\n", (c == 1 ? "run -d" : c == 2 ? "stop" : "rm"), $c / 1000 }'
done
