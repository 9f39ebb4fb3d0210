#!/usr/bin/env bash
# bench/run.sh - ctr's benchmarks against rootless Podman, same user, same image, same run.
# Run as root: `bash bench/run.sh`. It runs bench/setup.sh first (idempotent), then every
# command as the bench user through runuser with a clean environment, times them with
# hyperfine (-N: no shell in between) and prints a table of medians, ratios and pass/fail
# against the project's targets. The table also goes to bench/results.md; the raw hyperfine
# JSON stays in $CTR_BENCH_WORK/out.
#
# Knobs (see also bench/common.sh):
#   CTR_BENCH_RUNS        hyperfine runs per command (default 30, at least 20; warmup 3)
#   CTR_BENCH_ROUNDS      split them into this many rounds that alternate the order of the
#                         commands (default 5), against drifts in the machine's load
#   CTR_BENCH_PAR_ROUNDS  rounds of the 50-container parallel start (default 3)
#   CTR_BENCH_PODMAN=0    measure ctr alone (also automatic when podman is not installed)
#   CTR_BENCH_SKIP_SETUP=1  do not run setup.sh first
#   CTR_BENCH_RESULTS     where to write the results (default bench/results.md)
# Exit status: 0 when every target that could be checked passed, 1 otherwise.
set -uo pipefail
umask 022
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
enter_cgroup_view "$@"

[ "$(id -u)" = 0 ] || die "run.sh must run as root (it runs the benchmarks as the bench user with runuser)"
if [ "${CTR_BENCH_SKIP_SETUP:-0}" != 1 ]; then
  bash "$BENCH_DIR/setup.sh" || die "setup.sh failed"
fi
id "$BENCH_USER" >/dev/null 2>&1 || die "user $BENCH_USER does not exist: run bench/setup.sh"
bench_user_vars
snapshot_binaries
command -v hyperfine >/dev/null || die "hyperfine is not installed: run bench/setup.sh"
command -v jq >/dev/null || die "jq is not installed: run bench/setup.sh"

RUNS=${CTR_BENCH_RUNS:-30}
[ "$RUNS" -ge 20 ] 2>/dev/null || die "CTR_BENCH_RUNS must be a number >= 20"
ROUNDS=${CTR_BENCH_ROUNDS:-5}
[ "$ROUNDS" -ge 1 ] 2>/dev/null || die "CTR_BENCH_ROUNDS must be a number >= 1"
PAR_ROUNDS=${CTR_BENCH_PAR_ROUNDS:-3}
RESULTS=${CTR_BENCH_RESULTS:-$BENCH_DIR/results.md}
OUT=$WORK/out
install -d -o "$BUID" -g "$BGID" -m 0755 "$OUT"
rm -f "$OUT"/*.json

PODMAN=0
if have_podman; then
  PODMAN=1
  PODMAN_BIN=$(command -v podman)
else
  log "podman is not installed (or CTR_BENCH_PODMAN=0): measuring ctr alone; ratios read n/a"
fi
CTRC="$BIN/ctr --root $CTR_ROOT --runroot $CTR_RUNROOT"   # split into words by hyperfine -N
NODE="$BIN/node"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')

cleanup_ctr() { ctr_u rm -af >/dev/null 2>&1 || true; }
cleanup_podman() {
  [ "$PODMAN" = 1 ] || return 0
  local ids
  ids=$(podman_u ps -aq --filter 'name=^bench-' 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || podman_u rm -f -t 0 $ids >/dev/null 2>&1 || true
}
cleanup() { cleanup_ctr; cleanup_podman; }

# hf NAME LABEL CMD [LABEL CMD]... - one hyperfine invocation, as the bench user
# hf NAME LABEL CMD [LABEL CMD]... - hyperfine as the bench user, in $ROUNDS rounds that
# alternate the order of the commands, so that a change in the machine's load during the
# benchmark falls on every command alike; the rounds' times are merged into NAME.json
# (hyperfine's shape: results[] with command, times, median, mean, stddev, min, max).
hf() {
  local name=$1 pairs=() args r i n per
  shift
  while [ $# -gt 0 ]; do pairs+=("$1" "$2"); shift 2; done
  n=$((${#pairs[@]} / 2))
  per=$(((RUNS + ROUNDS - 1) / ROUNDS))
  echo
  log "$name ($ROUNDS rounds of $per runs)"
  rm -f "$OUT/$name".r*.json
  for r in $(seq 1 "$ROUNDS"); do
    args=()
    for i in $(seq 0 $((n - 1))); do
      local k=$i
      [ $((r % 2)) = 0 ] && k=$((n - 1 - i))      # even rounds: reverse order
      args+=(-n "${pairs[$((2 * k))]}" "${pairs[$((2 * k + 1))]}")
    done
    as_user hyperfine -N --style basic --warmup 3 --runs "$per" --export-json "$OUT/$name.r$r.json" "${args[@]}" \
      || { echo "bench: hyperfine failed for $name (a command exited non-zero?)" >&2; return 1; }
  done
  jq -s '{results: ([.[].results[]] | group_by(.command) | map(
      {command: .[0].command, times: [.[].times[]]}
      | .times |= sort
      | .mean = (.times | add / length)
      | .median = (.times | if length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end)
      | .min = .times[0] | .max = .times[-1]
      | .mean as $m | .stddev = (if (.times | length) > 1 then ((.times | map((. - $m) * (. - $m)) | add) / ((.times | length) - 1) | sqrt) else 0 end)))}' \
    "$OUT/$name".r*.json >"$OUT/$name.json"
  jq -r '.results[] | "   \(.command): median \(.median * 10000 | round / 10) ms over \(.times | length) runs"' "$OUT/$name.json"
}
# median, ratio, le, row, ratio_row, FAILS and ROWS: bench/common.sh
INFO=()      # informational rows (no target)
info_row() {
  local c p
  c=$(median "$2" ctr)
  p=$(median "$2" podman)
  INFO+=("| $1 | ${c:-error} | ${p:-n/a} | $(ratio "$c" "$p" || echo n/a) |")
}

cleanup
trap cleanup EXIT

# ------------------------------------------------------------------ 1. run --rm
P=()
[ "$PODMAN" = 1 ] && P=(podman "$PODMAN_BIN run --rm --network none busybox true")
hf run-rm-none ctr "$CTRC run --rm --network none busybox true" "${P[@]}"
cleanup
P=()
[ "$PODMAN" = 1 ] && P=(podman "$PODMAN_BIN run --rm busybox true")
hf run-rm-default ctr "$CTRC run --rm busybox true" "${P[@]}"
cleanup

# ------------------------------------------------------------------ 2. exec
ctr_u run -d --network none --name bench-exec busybox sleep 86400 >/dev/null || echo "bench: ctr run -d failed" >&2
P=()
if [ "$PODMAN" = 1 ]; then
  podman_u run -d --network none --name bench-exec busybox sleep 86400 >/dev/null || echo "bench: podman run -d failed" >&2
  P=(podman "$PODMAN_BIN exec bench-exec true")
fi
hf exec ctr "$CTRC exec bench-exec true" "${P[@]}"
cleanup

# ------------------------------------------------------------------ 3. run -d / stop -t 0 / rm
P=()
[ "$PODMAN" = 1 ] && P=(podman "/bin/sh $BIN/cycle.sh default $PODMAN_BIN")
hf cycle-default ctr "/bin/sh $BIN/cycle.sh default $CTRC" "${P[@]}"
cleanup
P=()
[ "$PODMAN" = 1 ] && P=(podman "/bin/sh $BIN/cycle.sh none $PODMAN_BIN")
hf cycle-none ctr "/bin/sh $BIN/cycle.sh none $CTRC" "${P[@]}"
cleanup

# ------------------------------------------------------------------ 4. ps with 20 running + monitor RSS
echo
log "starting 20 containers per engine"
for i in $(seq 1 20); do
  ctr_u run -d --network none --name "bench-ps-$i" busybox sleep 86400 >/dev/null || echo "bench: ctr run -d bench-ps-$i failed" >&2
  [ "$PODMAN" = 1 ] && { podman_u run -d --network none --name "bench-ps-$i" busybox sleep 86400 >/dev/null || echo "bench: podman run -d bench-ps-$i failed" >&2; }
done
CTR_RUNNING=$(ctr_u ps -q | wc -l)
PODMAN_RUNNING=$([ "$PODMAN" = 1 ] && podman_u ps -q --filter 'name=^bench-ps-' | wc -l || echo 0)
# VmRSS (KiB) of the monitors of this store / of the conmons of these containers
rss_of() {  # $1 process name, $2 string its command line must contain
  local p
  for p in $(pgrep -u "$BUID" -x "$1"); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$2" || continue
    awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null
  done | sort -n
}
stats() {  # numbers on stdin -> "n min median max"
  awk '{ v[NR] = $1 } END { if (NR == 0) { print "0 - - -"; exit } m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print NR, v[1], m, v[NR] }'
}
read -r MON_N MON_MIN MON_MED MON_MAX < <(rss_of ctr-monitor "--rundir $CTR_RUNROOT " | stats)
read -r CON_N CON_MIN CON_MED CON_MAX < <(rss_of conmon " -n bench-ps-" | stats)
P=()
[ "$PODMAN" = 1 ] && P=(podman "$PODMAN_BIN ps")
hf ps-20 node "$NODE -e 0" ctr "$CTRC ps" "${P[@]}"
cleanup

# ------------------------------------------------------------------ 5. 50 containers from 5 shells
# par ENGINE-NAME CMD... -> per round: "elapsed ok failed listed"
par() {
  local eng=$1 r line listed
  shift
  for r in $(seq 1 "$PAR_ROUNDS"); do
    cleanup
    line=$(as_user "$BIN/parallel.sh" 5 10 bench-par- "$@")
    if [ "$eng" = ctr ]; then
      listed=$(ctr_u ps -a -q | wc -l)         # the bench store holds nothing else
    else
      listed=$(podman_u ps -a -q --filter 'name=^bench-par-' | wc -l)
    fi
    echo "$line $listed"
  done
  cleanup
}
echo
log "parallel start: 5 shells x 10 containers, $PAR_ROUNDS rounds per engine"
mapfile -t PAR_CTR < <(par ctr "$BIN/ctr" --root "$CTR_ROOT" --runroot "$CTR_RUNROOT")
printf '   ctr    (ms started failed listed): %s\n' "${PAR_CTR[@]}"
PAR_PODMAN=()
if [ "$PODMAN" = 1 ]; then
  mapfile -t PAR_PODMAN < <(par podman "$PODMAN_BIN")
  printf '   podman (ms started failed listed): %s\n' "${PAR_PODMAN[@]}"
fi
par_median() { printf '%s\n' "$@" | awk 'NF { print $1 }' | sort -n | stats | awk '{ print $3 }'; }
par_ok() {  # every round: 50 started, 0 failed, 50 listed
  [ $# -gt 0 ] || return 1
  local l
  for l in "$@"; do [ "$(echo "$l" | awk '{ print ($2 == 50 && $3 == 0 && $4 == 50) }')" = 1 ] || return 1; done
}

# ------------------------------------------------------------------ table
ratio_row '`run --rm --network none busybox true`' run-rm-none 0.5
ratio_row '`exec CTR true`' exec 0.6
ratio_row '`run -d` + `stop -t 0` + `rm`' cycle-default 0.5

N=$(median ps-20 node); C=$(median ps-20 ctr); Pm=$(median ps-20 podman)
if [ -n "$C" ] && [ -n "$N" ]; then
  D=$(awk -v a="$C" -v b="$N" 'BEGIN { printf "%+.1f", a - b }')
  V=FAIL; le "$C" "$(awk -v b="$N" 'BEGIN { print b + 25 }')" && V=PASS
  [ "$CTR_RUNNING" = 20 ] || V=FAIL
else
  D=error V=FAIL
fi
row "\`ps\`, 20 running (node -e 0: ${N:-?} ms)" "$C" "${Pm:-n/a}" "node $D ms" "≤ node + 25 ms" "$V"

V=FAIL
[ "$MON_N" -ge 1 ] && [ "$MON_MAX" -lt 1024 ] && V=PASS
if [ "$PODMAN" = 1 ] && [ "$CON_N" -ge 1 ]; then
  R=$(ratio "$MON_MAX" "$CON_MED")
else
  R=n/a
fi
row "monitor VmRSS, max of $MON_N (KiB)" "$MON_MAX" "$([ "$CON_N" -ge 1 ] && echo "$CON_MED (conmon)" || echo n/a)" "$R" "< 1024 KiB" "$V"

PC=$(par_median "${PAR_CTR[@]}")
PP=$([ ${#PAR_PODMAN[@]} -gt 0 ] && par_median "${PAR_PODMAN[@]}")
V=FAIL
par_ok "${PAR_CTR[@]}" && V=PASS
row "50 \`run -d\` from 5 shells, then \`ps -a\`" "$PC" "${PP:-n/a}" "$(ratio "$PC" "$PP" || echo n/a)" "50 succeed, ps -a lists 50" "$V"

info_row '`run --rm busybox true` (slirp4netns)' run-rm-default
info_row '`run -d --network none` + `stop -t 0` + `rm`' cycle-none

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
trap - EXIT

# ------------------------------------------------------------------ results.md
details() {  # per hyperfine command: median mean stddev min max runs
  local f
  for f in run-rm-none run-rm-default exec cycle-default cycle-none ps-20; do
    [ -f "$OUT/$f.json" ] || continue
    jq -r --arg f "$f" '.results[] | "| \($f) | \(.command) | \(.median*1000*10|round/10) | \(.mean*1000*10|round/10) | \(.stddev*1000*10|round/10) | \(.min*1000*10|round/10) | \(.max*1000*10|round/10) | \(.times|length) |"' "$OUT/$f.json"
  done
}
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "# ctr benchmark results"
  echo
  echo "Written by \`bench/run.sh\` on $STARTED. Medians in milliseconds (hyperfine -N, warmup 3, $RUNS runs in $ROUNDS rounds;"
  echo "the parallel start: median of $PAR_ROUNDS rounds). Ratio = ctr / podman. Rootless, as user \`$BENCH_USER\`,"
  echo "same busybox image (test/fixtures/build.py, loaded from one docker-archive) in both engines."
  echo
  echo "| benchmark | ctr | podman | ratio | target | result |"
  echo "| --- | ---: | ---: | ---: | --- | --- |"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Not targets, for context:"
  echo
  echo "| benchmark | ctr | podman | ratio |"
  echo "| --- | ---: | ---: | ---: |"
  printf '%s\n' "${INFO[@]}"
  echo
  echo "Monitor memory with 20 containers running (VmRSS, KiB, min / median / max):"
  echo "ctr-monitor $MON_MIN / $MON_MED / $MON_MAX ($MON_N processes);"
  echo "conmon $CON_MIN / $CON_MED / $CON_MAX ($CON_N processes)."
  echo
  echo "Parallel start, per round (elapsed ms, started, failed, listed by \`ps -a\`):"
  echo "ctr: $(printf '%s; ' "${PAR_CTR[@]}")"
  [ ${#PAR_PODMAN[@]} -gt 0 ] && echo "podman: $(printf '%s; ' "${PAR_PODMAN[@]}")"
  echo
  echo "## Machine and versions"
  echo
  echo "- $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "- load average before / after: $LOAD_BEFORE / $LOAD_AFTER (other work on the machine shows up here)"
  echo "- ctr: tree at $COMMIT, binary built $(date -u -r "$SRC_CTR" '+%Y-%m-%d %H:%M UTC'), storage driver $(ctr_u info --format '{{.Store.GraphDriverName}}' 2>/dev/null || echo '?')"
  if [ "$PODMAN" = 1 ]; then
    echo "- podman $(ver podman), crun $(ver crun), conmon $(ver conmon), slirp4netns $(ver slirp4netns), storage driver $(podman_u info --format '{{.Store.GraphDriverName}}' 2>/dev/null || echo '?')"
  else
    echo "- podman: not measured (not installed, or CTR_BENCH_PODMAN=0)"
  fi
  echo "- hyperfine $(ver hyperfine), node (for \`node -e 0\`) $("$NODE" --version)"
  while IFS= read -r l; do [ -n "$l" ] && echo "- $l"; done <"$WORK/setup-notes" 2>/dev/null
  echo
  echo "## Every hyperfine command (ms)"
  echo
  echo "| benchmark | command | median | mean | σ | min | max | runs |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  details
} >"$RESULTS.new" && mv -f "$RESULTS.new" "$RESULTS"

# the figures in README.md, between its markers (only for the default results file)
if [ -z "${CTR_BENCH_RESULTS:-}" ] && grep -q '^<!-- figures -->$' "$BENCH_DIR/README.md"; then
  {
    echo "Run of $STARTED, load average ${LOAD_BEFORE%% *} before, ${LOAD_AFTER%% *} after ($(nproc) CPUs)."
    echo
    echo "| benchmark | ctr | podman | ratio | target | result |"
    echo "| --- | ---: | ---: | ---: | --- | --- |"
    printf '%s\n' "${ROWS[@]}"
  } >"$WORK/figures.md"
  awk -v f="$WORK/figures.md" '
    /^<!-- \/figures -->$/ { skip = 0 }
    !skip { print }
    /^<!-- figures -->$/ { while ((getline l < f) > 0) print l; skip = 1 }
  ' "$BENCH_DIR/README.md" >"$BENCH_DIR/README.md.new" && mv -f "$BENCH_DIR/README.md.new" "$BENCH_DIR/README.md"
fi

echo
echo "| benchmark | ctr | podman | ratio | target | result |"
printf '%s\n' "${ROWS[@]}"
printf '%s\n' "${INFO[@]}"
echo "monitor VmRSS KiB min/median/max: ctr-monitor $MON_MIN/$MON_MED/$MON_MAX (n=$MON_N), conmon $CON_MIN/$CON_MED/$CON_MAX (n=$CON_N)"
echo "load average before/after: $LOAD_BEFORE / $LOAD_AFTER"
echo "results written to $RESULTS"
[ "$FAILS" = 0 ]
