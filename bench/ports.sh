#!/usr/bin/env bash
# bench/ports.sh - published ports (-p) against rootless Podman's rootlessport, same run.
# Run as root: `bash bench/ports.sh` (setup as bench/run.sh: CTR_BENCH_SKIP_SETUP=1 skips it).
# Measures, for host loopback, ctr -p and podman -p:
#   throughput   MiB/s of SIZE bytes (default 200 MiB) sent by `port-client serve` (1 MiB
#                writes) inside a busybox container through the published port (median of RUNS)
#   relay CPU    user+system CPU of the relay per SIZE transfer (ctr: its monitor; podman:
#                the rootlessport processes)
#   connect+GET  median and p90 of connect + `GET /` + read to EOF from busybox httpd (N=1000)
#   memory       resident memory of the relay (ctr: monitor, with and without -p; podman:
#                rootlessport processes), plus slirp4netns for both
# Knobs: CTR_BENCH_PORT_SIZE (bytes), CTR_BENCH_PORT_RUNS (default 7), CTR_BENCH_PORT_GETS (1000),
# CTR_BENCH_PODMAN=0 (ctr alone).
set -uo pipefail
umask 022
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
enter_cgroup_view "$@"
[ "$(id -u)" = 0 ] || die "ports.sh must run as root"
if [ "${CTR_BENCH_SKIP_SETUP:-0}" != 1 ]; then bash "$BENCH_DIR/setup.sh" || die "setup.sh failed"; fi
bench_user_vars
snapshot_binaries
SIZE=${CTR_BENCH_PORT_SIZE:-209715200}
RUNS=${CTR_BENCH_PORT_RUNS:-7}
GETS=${CTR_BENCH_PORT_GETS:-1000}
CC=$(command -v musl-gcc || command -v gcc)
$CC -static -O2 -o "$BIN/port-client" "$BENCH_DIR/port-client.c" || die "cannot build port-client"
chmod 0755 "$BIN/port-client"
PODMAN=0
have_podman && PODMAN=1

# free ports from the ephemeral range's low end
P_HOST=18501 P_CTR_T=18502 P_CTR_G=18503 P_POD_T=18504 P_POD_G=18505
SERVE="mkdir -p /www && head -c 600 /dev/zero | tr '\\0' x > /www/index.html && httpd -p 80 -h /www && exec /pc serve 5001 $SIZE"

cpu_of() { # PIDS...: utime+stime in ms
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo $((t * 1000 / $(getconf CLK_TCK)))
}
rss_of() { # PIDS...: VmRSS sum in kB
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done
  echo "$t"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# throughput NAME PORT PIDS...: median MiB/s and CPU ms per transfer of PIDS
throughput() {
  local name=$1 port=$2; shift 2
  as_user "$BIN/port-client" read 127.0.0.1 "$port" 1 >/dev/null || { echo "n/a n/a"; return; }  # warm-up
  local c0 c1 out
  c0=$(cpu_of "$@")
  out=$(as_user "$BIN/port-client" read 127.0.0.1 "$port" "$RUNS")
  c1=$(cpu_of "$@")
  if [ "$(echo "$out" | awk -v s="$SIZE" '$1 != s' | wc -l)" != 0 ]; then echo "short read: $out" >&2; fi
  echo "$(echo "$out" | awk '{print $2}' | median) $(((c1 - c0) / RUNS))"
}

cleanup() {
  ctr_u rm -f bench-ports-ctr bench-ports-none >/dev/null 2>&1 || true
  [ "$PODMAN" = 1 ] && podman_u rm -f -t 0 bench-ports-podman >/dev/null 2>&1
  [ -n "${HOSTNC:-}" ] && kill "$HOSTNC" 2>/dev/null
  true
}
trap cleanup EXIT
cleanup

log "host loopback"
as_user "$BIN/port-client" serve $P_HOST "$SIZE" &
sleep 0.3
HOSTNC=$(pgrep -u "$BENCH_USER" -f "^$BIN/port-client serve $P_HOST ")
read -r HOST_MIBS _ < <(throughput host $P_HOST)

log "ctr -p"
ctr_u run -d --name bench-ports-none busybox sleep 600 >/dev/null
ctr_u run -d --name bench-ports-ctr -p 127.0.0.1:$P_CTR_T:5001 -p 127.0.0.1:$P_CTR_G:80 -v "$BIN/port-client:/pc:ro" busybox sh -c "$SERVE" >/dev/null || die "ctr run -p failed"
MON=$(ctr_u inspect --format '{{.State.Pid}}' bench-ports-ctr | xargs -I{} awk '{print $4}' /proc/{}/stat)
MON0=$(ctr_u inspect --format '{{.State.Pid}}' bench-ports-none | xargs -I{} awk '{print $4}' /proc/{}/stat)
sleep 0.5
read -r CTR_MIBS CTR_CPU < <(throughput ctr $P_CTR_T "$MON")
read -r CTR_LAT CTR_P90 < <(as_user "$BIN/port-client" get 127.0.0.1 $P_CTR_G "$GETS")
CTR_RSS=$(rss_of "$MON") CTR_RSS0=$(rss_of "$MON0")
CTR_SLIRP=$(rss_of $(pgrep -P "$MON" slirp4netns))

POD_MIBS=n/a POD_CPU=n/a POD_LAT=n/a POD_P90=n/a POD_RSS=n/a POD_SLIRP=n/a
if [ "$PODMAN" = 1 ]; then
  log "podman -p"
  if podman_u run -d --name bench-ports-podman -p 127.0.0.1:$P_POD_T:5001 -p 127.0.0.1:$P_POD_G:80 -v "$BIN/port-client:/pc:ro" busybox sh -c "$SERVE" >/dev/null; then
    sleep 1
    RLP=$(pgrep -u "$BENCH_USER" -f '^rootlessport' | tr '\n' ' ')
    # shellcheck disable=SC2086
    read -r POD_MIBS POD_CPU < <(throughput podman $P_POD_T $RLP)
    read -r POD_LAT POD_P90 < <(as_user "$BIN/port-client" get 127.0.0.1 $P_POD_G "$GETS")
    # shellcheck disable=SC2086
    POD_RSS=$(rss_of $RLP)
    POD_SLIRP=$(rss_of $(pgrep -u "$BENCH_USER" -x slirp4netns | tail -1))
  else
    log "podman run -p failed: podman figures read n/a"
  fi
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "| measure | host loopback | ctr -p | podman -p | ctr/podman | target |"
echo "| --- | --- | --- | --- | --- | --- |"
echo "| throughput, MiB/s ($((SIZE / 1048576)) MiB, median of $RUNS) | $HOST_MIBS | $CTR_MIBS | $POD_MIBS | $(ratio "$CTR_MIBS" "$POD_MIBS") (host: $(ratio "$CTR_MIBS" "$HOST_MIBS")) | >= 1.1 (host: >= 0.75) |"
echo "| relay CPU per transfer, ms | - | $CTR_CPU | $POD_CPU | $(ratio "$CTR_CPU" "$POD_CPU") | <= 0.5 |"
echo "| connect+GET median (p90), µs | - | $CTR_LAT ($CTR_P90) | $POD_LAT ($POD_P90) | $(ratio "$CTR_LAT" "$POD_LAT") | <= 0.6 |"
echo "| relay resident memory, kB | - | monitor $CTR_RSS (without -p: $CTR_RSS0) | rootlessport $POD_RSS | | added <= 2048 |"
echo "| slirp4netns resident memory, kB | - | $CTR_SLIRP | $POD_SLIRP | | |"
