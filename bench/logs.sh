#!/usr/bin/env bash
# bench/logs.sh - `ctr logs` on a 1 GiB log, against rootless `podman logs` on the same amount
# of log (its k8s-file format), same user, same run. Run as root: `bash bench/logs.sh`.
# Writes bench/results-logs.md.
#
#   1. a container of each engine (busybox, run once so its log file exists), whose log is then
#      replaced by a generated one (bench/logs-gen.js): 1 GiB of 100-character lines, ctr's
#      split over ctr.log.2, ctr.log.1 and ctr.log as its rotation leaves them, Podman's in its
#      one file; both have the same lines and time stamps
#   2. hyperfine: `logs --tail 10`, `logs --since` (the last MiB), `logs --since T --until T`
#      (one MiB in the oldest quarter), `--tail 10` in the same runs as `ctr version` (the
#      start-up floor); then the whole log to /dev/null (one run per round)
#   3. peak RSS of each (/usr/bin/time -f %M)
#
# Knobs (see also bench/common.sh):
#   CTR_BENCH_LOGS_RUNS    hyperfine runs per command (default 20; the whole read: 3)
#   CTR_BENCH_LOGS_ROUNDS  split them into this many rounds alternating the commands' order (5)
#   CTR_BENCH_LOGS_MIB     size of the log (default 1024)
#   CTR_BENCH_LOGS_CACHE   work dir (default /var/tmp/ctr-bench-logs)
#   CTR_BENCH_PODMAN=0     measure ctr alone
#   CTR_BENCH_RESULTS_LOGS where to write the results (default bench/results-logs.md)
# Exit status: 0 when every target passed (ctr: --tail 10 under 100 ms, peak RSS under 64 MB).
set -uo pipefail
umask 022
CACHE=${CTR_BENCH_LOGS_CACHE:-/var/tmp/ctr-bench-logs}
export CTR_BENCH_WORK=${CTR_BENCH_WORK:-$CACHE/work}
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
enter_cgroup_view "$@"

bench_script_start logs.sh ctr-bench-logs
for t in hyperfine jq /usr/bin/time python3; do
  command -v "$t" >/dev/null || die "$t is missing: apt-get install -y hyperfine jq time python3"
done
RUNS=${CTR_BENCH_LOGS_RUNS:-20}
ROUNDS=${CTR_BENCH_LOGS_ROUNDS:-5}
MIB=${CTR_BENCH_LOGS_MIB:-1024}
RESULTS=${CTR_BENCH_RESULTS_LOGS:-$BENCH_DIR/results-logs.md}
OUT=$WORK/out
snapshot_binaries
install -m 0644 "$BENCH_DIR/logs-gen.js" "$BIN/"
install -d -o "$BUID" -g "$BGID" -m 0755 "$OUT"
rm -f "$OUT"/logs-*.json
PODMAN=0
if have_podman; then PODMAN=1; PODMAN_BIN=$(command -v podman); fi

# the busybox image, built without network by the test fixtures' builder
FX=$CACHE/fixtures
install -d -m 0755 "$FX"
python3 "$REPO/test/fixtures/build.py" "$FX" >/dev/null || die "building the fixture image failed"
chmod -R a+rX "$FX"
ctr_u load -i "$FX/busybox.docker.tar" >/dev/null || die "ctr load failed"

CTR_ID=
POD_ID=
cleanup() {
  [ -n "$CTR_ID" ] && ctr_u rm -f "$CTR_ID" >/dev/null 2>&1
  [ -n "$POD_ID" ] && podman_u rm -f "$POD_ID" >/dev/null 2>&1
}
trap cleanup EXIT

log "a ${MIB} MiB log for each engine"
CTR_ID=$(ctr_u run -d busybox true) || die "ctr run failed"
ctr_u wait "$CTR_ID" >/dev/null
CTR_LOG=$(ctr_u inspect --format '{{.LogPath}}' "$CTR_ID")
as_user "$BIN/node" "$BIN/logs-gen.js" "$CTR_LOG" "$MIB" || die "writing the ctr log failed"
if [ "$PODMAN" = 1 ]; then
  podman_u load -i "$FX/busybox.docker.tar" >/dev/null 2>&1
  POD_ID=$(podman_u run -d --log-driver k8s-file busybox true 2>/dev/null) || { log "podman run failed: ctr alone"; PODMAN=0; }
fi
if [ "$PODMAN" = 1 ]; then
  podman_u wait "$POD_ID" >/dev/null
  POD_LOG=$(podman_u inspect --format '{{.HostConfig.LogConfig.Path}}' "$POD_ID")
  as_user "$BIN/node" "$BIN/logs-gen.js" --k8s "$POD_LOG" "$MIB" || die "writing the podman log failed"
fi
# RSS counts the pages of the binary a start maps: measure the binary as read from disk
dd if="$BIN/ctr" iflag=nocache count=0 status=none 2>/dev/null

LAST=$(date -u -d "@$(( $(date -u -d 2024-03-01T10:00:00Z +%s) + MIB - 1 ))" +%Y-%m-%dT%H:%M:%SZ)
OLD=$(date -u -d "@$(( $(date -u -d 2024-03-01T10:00:00Z +%s) + MIB / 10 ))" +%Y-%m-%dT%H:%M:%SZ)
CTRC="$BIN/ctr --root $CTR_ROOT --runroot $CTR_RUNROOT"
# hf NAME RUNS LABEL CMD [LABEL CMD...] - hyperfine as the bench user, in $ROUNDS rounds that
# alternate the order of the commands (as bench/run.sh does: a change in the machine's load
# falls on every command alike), merged into logs-NAME.json (times, median; user and system
# averaged over the rounds)
hf() {
  local name=$1 runs=$2 pairs=() args r i n per k
  shift 2
  while [ $# -gt 0 ]; do pairs+=("$1" "$2"); shift 2; done
  n=$((${#pairs[@]} / 2))
  per=$(((runs + ROUNDS - 1) / ROUNDS))
  rm -f "$OUT/logs-$name".r*.json
  for r in $(seq 1 "$ROUNDS"); do
    args=()
    for i in $(seq 0 $((n - 1))); do
      k=$i
      [ $((r % 2)) = 0 ] && k=$((n - 1 - i))
      args+=(-n "${pairs[$((2 * k))]}" "${pairs[$((2 * k + 1))]}")
    done
    as_user hyperfine -N --style basic --warmup 1 --runs "$per" --export-json "$OUT/logs-$name.r$r.json" "${args[@]}" >/dev/null \
      || { echo "bench: hyperfine failed for $name" >&2; return 1; }
  done
  jq -s '{results: ([.[].results[]] | group_by(.command) | map(
      {command: .[0].command, times: [.[].times[]], user: ([.[].user] | add / length), system: ([.[].system] | add / length)}
      | .times |= sort
      | .median = (.times | if length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end)))}' \
    "$OUT/logs-$name".r*.json >"$OUT/logs-$name.json"
}
declare -A CMDS=(
  [version]="version"
  [tail]="logs --tail 10"
  [since]="logs --since $LAST"
  [range]="logs --since $OLD --until $OLD"
  [all]="logs"
)
for k in tail since range all; do
  log "logs: $k"
  runs=$RUNS
  [ "$k" = all ] && runs=$ROUNDS
  if [ "$k" = tail ]; then
    set -- ctr "$CTRC ${CMDS[$k]} $CTR_ID" ctr-version "$CTRC version"
    [ "$PODMAN" = 1 ] && set -- "$@" podman "$PODMAN_BIN logs ${CMDS[$k]#logs } $POD_ID"
    hf "$k" "$runs" "$@"
    continue
  fi
  hf "$k" "$runs" ctr "$CTRC ${CMDS[$k]} $CTR_ID"
  # Podman reads its whole file for these (tens of seconds on 1 GiB): one run each
  # shellcheck disable=SC2086
  [ "$PODMAN" = 1 ] && as_user hyperfine -N --style basic --runs 1 --export-json "$OUT/logs-$k-podman.json" \
    -n podman "$PODMAN_BIN logs ${CMDS[$k]#logs} $POD_ID" >/dev/null
done

# peak RSS (KiB) of ENGINE ARGS, output to /dev/null
rss() {
  local f=$OUT/rss.txt
  rm -f "$f"
  as_user /usr/bin/time -f %M -o "$f" "$@" >/dev/null 2>&1
  cat "$f" 2>/dev/null || echo 0
}
OUT_BYTES=$(as_user $CTRC logs "$CTR_ID" 2>/dev/null | wc -c)
ms() {
  local f=$OUT/logs-$1.json
  [ "$2" = podman ] && [ "$1" != tail ] && f=$OUT/logs-$1-podman.json
  jq -r --arg n "$2" '.results[] | select(.command == $n) | .median * 1000 | . * 10 | round / 10' "$f" 2>/dev/null
}
# user + system CPU milliseconds (the machine's load changes them less than the wall time)
cpu() { jq -r --arg n "$2" '.results[] | select(.command == $n) | (.user + .system) * 1000 | round' "$OUT/logs-$1.json" 2>/dev/null; }
FAILS=0
ROWS=()
for k in tail since range all; do
  # shellcheck disable=SC2086 # the command's words
  c_rss=$(rss $CTRC ${CMDS[$k]} "$CTR_ID")
  p_rss=n/a
  # shellcheck disable=SC2086
  [ "$PODMAN" = 1 ] && [ "$k" = tail ] && p_rss=$(rss "$PODMAN_BIN" logs ${CMDS[$k]#logs} "$POD_ID")
  c=$(ms "$k" ctr)
  p=$([ "$PODMAN" = 1 ] && ms "$k" podman || echo n/a)
  verdict=PASS
  awk -v r="$c_rss" 'BEGIN { exit !(r < 65536) }' || verdict=FAIL
  target="RSS < 64 MB"
  if [ "$k" = tail ]; then
    target="< 100 ms, RSS < 64 MB"
    awk -v t="$c" 'BEGIN { exit !(t < 100) }' || verdict=FAIL
  fi
  extra=
  [ "$k" = all ] && extra=" ($(awk -v b="$OUT_BYTES" -v t="$c" 'BEGIN { printf "%.0f", b / 1048576 / (t / 1000) }') MiB/s of output)"
  [ "$verdict" = FAIL ] && FAILS=$((FAILS + 1))
  ROWS+=("| \`${CMDS[$k]}\` | ${c:-error} ms$extra | $((c_rss / 1024)) MB | ${p:-error}$([ "$p" != n/a ] && echo ' ms') | $([ "$p_rss" != n/a ] && echo "$((p_rss / 1024)) MB" || echo n/a) | $target | $verdict |")
done
V=$(ms tail ctr-version)
V_CPU=$(cpu tail ctr-version)
T_CPU=$(cpu tail ctr)
V_RSS=$(rss "$BIN/ctr" version)

{
  echo "# ctr logs on a ${MIB} MiB log"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ctr $("$BIN/ctr" version 2>/dev/null | head -1 | awk '{print $3}')$([ "$PODMAN" = 1 ] && echo ", $("$PODMAN_BIN" --version)"), hyperfine medians of $RUNS runs in $ROUNDS rounds (the whole log: $ROUNDS runs),"
  echo "rootless, the log on ext4 in the page cache (\`bash bench/logs.sh\`). ctr's log is ctr.log.2, ctr.log.1 and ctr.log (256, 256 and 512 MiB);"
  echo "Podman's one k8s-file of the same lines. \`ctr version\` (the start-up floor) for comparison: $V ms ($V_CPU ms of CPU), $((V_RSS / 1024)) MB;"
  echo "\`logs --tail 10\`: $(awk -v a="$(ms tail ctr)" -v b="$V" 'BEGIN { printf "%.1f", a - b }') ms more than \`version\` in the same runs, $T_CPU ms of CPU. Podman's --since runs and its whole log: one run each (it reads the whole file); its peak RSS only for --tail."
  echo
  echo "| command | ctr | ctr peak RSS | podman | podman peak RSS | target | verdict |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "\`--since\` selects the last MiB ($LAST), \`--since T --until T\` one MiB in the oldest file ($OLD);"
  echo "the whole log is $OUT_BYTES bytes of output. Peak RSS includes the binary's own pages (read from disk)."
} >"$RESULTS"
cat "$RESULTS"
[ "$FAILS" = 0 ]
