#!/usr/bin/env bash
# bench/pull.sh - `ctr pull` against rootless `podman pull`, same user, same local registry,
# same images, same run. Run as root: `bash bench/pull.sh`. Writes bench/results-pull.md.
#
#   1. a Debian bookworm minbase rootfs made with debootstrap from the apt mirror of
#      /etc/apt/sources.list* (cached in $CTR_BENCH_PULL_CACHE, default /var/tmp/ctr-bench-pull)
#   2. two OCI images built from it: debian:minbase (one gzip layer, the rootfs without apt's
#      .deb cache and package lists) and debian:app (that layer + two small ones)
#   3. Debian's docker-registry on 127.0.0.1 (plain HTTP, a temp store), seeded with skopeo
#   4. hyperfine: pull of debian:minbase with the image removed before each run (--prepare),
#      and pull of debian:app with its base present (only the app image removed)
#   5. peak RSS of `ctr pull` (/usr/bin/time -f %M), and the SIGKILL trials of a pull killed at
#      random moments (the image that lists must run; the next pull completes)
#
# Knobs (see also bench/common.sh):
#   CTR_BENCH_PULL_RUNS     hyperfine runs per command (default 10)
#   CTR_BENCH_PULL_KILLS    SIGKILL trials (default 20; 0 skips)
#   CTR_BENCH_PULL_CACHE    rootfs / OCI layout cache (default /var/tmp/ctr-bench-pull)
#   CTR_BENCH_PODMAN=0      measure ctr alone
#   CTR_BENCH_BASE_BIN      an older ctr binary, measured in the same runs (before/after rows)
#   CTR_BENCH_RESULTS_PULL  where to write the results (default bench/results-pull.md)
# The binaries are snapshot into $CTR_BENCH_WORK/bin (default $CTR_BENCH_PULL_CACHE/work, not the
# shared bench work dir) and ctr uses a store of its own (~/.local/share/ctr-bench-pull).
# Exit status: 0 when every target that could be checked passed, 1 otherwise.
set -uo pipefail
umask 022
CACHE=${CTR_BENCH_PULL_CACHE:-/var/tmp/ctr-bench-pull}
export CTR_BENCH_WORK=${CTR_BENCH_WORK:-$CACHE/work}
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
enter_cgroup_view "$@"

bench_script_start pull.sh ctr-bench-pull
for t in hyperfine jq skopeo debootstrap docker-registry /usr/bin/time; do
  command -v "$t" >/dev/null || die "$t is missing: apt-get install -y hyperfine jq skopeo debootstrap docker-registry time"
done
snapshot_binaries

RUNS=${CTR_BENCH_PULL_RUNS:-10}
KILLS=${CTR_BENCH_PULL_KILLS:-20}
RESULTS=${CTR_BENCH_RESULTS_PULL:-$BENCH_DIR/results-pull.md}
OUT=$CTR_BENCH_WORK/out-pull
install -d -m 0755 "$CACHE" "$CTR_BENCH_WORK"
install -d -o "$BUID" -g "$BGID" -m 0755 "$OUT"
rm -f "$OUT"/*.json
PODMAN=0
if have_podman; then PODMAN=1; PODMAN_BIN=$(command -v podman); fi

# ------------------------------------------------------------------ 1. rootfs
ROOTFS=$CACHE/rootfs
if [ ! -x "$ROOTFS/bin/sh" ]; then
  MIRROR=$(grep -hoE '^(URIs:|deb) +http[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '{print $2}' | grep -v security | head -1)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  log "debootstrap --variant=minbase bookworm from $MIRROR"
  rm -rf "$ROOTFS.new"
  debootstrap --variant=minbase bookworm "$ROOTFS.new" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || die "debootstrap failed: see $CACHE/debootstrap.log"
  mv "$ROOTFS.new" "$ROOTFS"
fi

# ------------------------------------------------------------------ 2. OCI layout
LAYOUT=$CACHE/oci
if [ ! -f "$LAYOUT/index.json" ]; then
  log "building the OCI layout (debian:minbase, debian:app)"
  rm -rf "$LAYOUT" "$CACHE/layers"
  mkdir -p "$LAYOUT/blobs/sha256" "$CACHE/layers/app/opt/app" "$CACHE/layers/conf/etc"
  tar --sort=name --numeric-owner --mtime='2025-01-01 00:00:00' -C "$ROOTFS" \
    --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$CACHE/layers/base.tar" . || die "tar of the rootfs failed"
  # the app layer: a few MB of files that compress like program data, then a small config layer
  head -c 3000000 /dev/urandom >"$CACHE/layers/app/opt/app/blob.bin"
  cp -r "$ROOTFS/usr/share/perl5" "$CACHE/layers/app/opt/app/lib" 2>/dev/null || true
  echo "greeting=hello" >"$CACHE/layers/conf/etc/app.conf"
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime='2025-01-01 00:00:00' -C "$CACHE/layers/app" -cf "$CACHE/layers/app.tar" .
  tar --sort=name --numeric-owner --owner=0 --group=0 --mtime='2025-01-01 00:00:00' -C "$CACHE/layers/conf" -cf "$CACHE/layers/conf.tar" .
  for l in base app conf; do gzip -n -6 -c "$CACHE/layers/$l.tar" >"$CACHE/layers/$l.tar.gz"; done
  python3 - "$LAYOUT" "$CACHE/layers" <<'PY' || die "cannot write the OCI layout"
import hashlib, json, os, shutil, sys
layout, layers = sys.argv[1], sys.argv[2]
arch = {'x86_64': 'amd64', 'aarch64': 'arm64'}.get(os.uname().machine, os.uname().machine)
def sha_file(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''): h.update(b)
    return 'sha256:' + h.hexdigest()
def put_bytes(b):
    d = 'sha256:' + hashlib.sha256(b).hexdigest()
    open(os.path.join(layout, 'blobs', 'sha256', d[7:]), 'wb').write(b)
    return d, len(b)
def put_layer(name):
    gz = os.path.join(layers, name + '.tar.gz')
    d = sha_file(gz)
    shutil.copyfile(gz, os.path.join(layout, 'blobs', 'sha256', d[7:]))
    return {'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip', 'digest': d, 'size': os.path.getsize(gz)}, sha_file(os.path.join(layers, name + '.tar'))
def image(names, ref):
    descs, diffs = zip(*[put_layer(n) for n in names])
    cfg = {'architecture': arch, 'os': 'linux', 'created': '2025-01-01T00:00:00Z',
           'config': {'Cmd': ['bash'], 'Env': ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']},
           'rootfs': {'type': 'layers', 'diff_ids': list(diffs)},
           'history': [{'created': '2025-01-01T00:00:00Z', 'created_by': 'bench/pull.sh ' + n} for n in names]}
    cd, cs = put_bytes(json.dumps(cfg).encode())
    man = {'schemaVersion': 2, 'mediaType': 'application/vnd.oci.image.manifest.v1+json',
           'config': {'mediaType': 'application/vnd.oci.image.config.v1+json', 'digest': cd, 'size': cs}, 'layers': list(descs)}
    md, ms = put_bytes(json.dumps(man).encode())
    return {'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': md, 'size': ms,
            'annotations': {'org.opencontainers.image.ref.name': ref}}
index = {'schemaVersion': 2, 'manifests': [image(['base'], 'minbase'), image(['base', 'app', 'conf'], 'app')]}
open(os.path.join(layout, 'oci-layout'), 'w').write('{"imageLayoutVersion": "1.0.0"}')
open(os.path.join(layout, 'index.json'), 'w').write(json.dumps(index))
PY
fi
BASE_GZ=$(stat -c %s "$CACHE/layers/base.tar.gz")
BASE_TAR=$(stat -c %s "$CACHE/layers/base.tar")

# ------------------------------------------------------------------ 3. registry
REG=$CACHE/registry
rm -rf "$REG"
start_registry "$REG"
HOST=$REGISTRY_HOST

cleanup() {
  ctr_u rmi -f "$HOST/debian:minbase" "$HOST/debian:app" ${ID_MIN:-} ${ID_APP:-} >/dev/null 2>&1 || true
  [ "$PODMAN" = 1 ] && podman_u rmi -i -f "$HOST/debian:minbase" "$HOST/debian:app" >/dev/null 2>&1
  stop_registry
  rm -rf "$REG"
}
trap cleanup EXIT
for ref in minbase app; do
  skopeo copy --quiet --dest-tls-verify=false "oci:$LAYOUT:$ref" "docker://$HOST/debian:$ref" || die "skopeo copy of debian:$ref failed"
done
log "registry $HOST seeded: debian:minbase ($((BASE_GZ / 1000000)) MB compressed, $((BASE_TAR / 1000000)) MB unpacked), debian:app"

CTRC="$BIN/ctr --root $CTR_ROOT --runroot $CTR_RUNROOT"
TLS=--tls-verify=false
MIN=$HOST/debian:minbase
APP=$HOST/debian:app
ctr_u rmi -f "$MIN" "$APP" >/dev/null 2>&1
[ "$PODMAN" = 1 ] && podman_u rmi -i -f "$MIN" "$APP" >/dev/null 2>&1
# the image IDs (config digests): removal by ID drops every name an image has
ID_MIN=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "minbase") | .digest' "$LAYOUT/index.json" \
  | sed 's/^sha256://' | xargs -I{} jq -r .config.digest "$LAYOUT/blobs/sha256/{}" | sed 's/^sha256://')
ID_APP=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "app") | .digest' "$LAYOUT/index.json" \
  | sed 's/^sha256://' | xargs -I{} jq -r .config.digest "$LAYOUT/blobs/sha256/{}" | sed 's/^sha256://')
[ ${#ID_MIN} = 64 ] && [ ${#ID_APP} = 64 ] || die "cannot read the image IDs from $LAYOUT"
ctr_u rmi -f "$ID_MIN" "$ID_APP" >/dev/null 2>&1
[ "$PODMAN" = 1 ] && podman_u rmi -i -f "$ID_MIN" "$ID_APP" >/dev/null 2>&1
# sanity: both engines pull and run it
ctr_u pull -q $TLS "$MIN" >/dev/null || die "ctr pull $MIN failed"
ctr_u run --rm --network none "$MIN" cat /etc/debian_version >/dev/null || die "ctr cannot run the pulled image"
if [ "$PODMAN" = 1 ]; then
  podman_u pull -q $TLS "$MIN" >/dev/null || die "podman pull $MIN failed"
fi

# hf NAME LABEL PREPARE CMD [LABEL PREPARE CMD] - hyperfine as the bench user, -N, --prepare per command
hf() {
  local name=$1 args=()
  shift
  while [ $# -gt 0 ]; do args+=(-n "$1" --prepare "$2" "$3"); shift 3; done
  echo
  log "$name ($RUNS runs)"
  as_user hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$OUT/$name.json" "${args[@]}" \
    || { echo "bench: hyperfine failed for $name" >&2; return 1; }
}
# median, ratio, le, row, ratio_row, FAILS and ROWS: bench/common.sh

# ------------------------------------------------------------------ 4. pulls
# prepare commands run without a shell (-N): sh -c keeps "remove, ignore absence" in one word list
CTR_RM_MIN="sh -c '$CTRC rmi -f $ID_MIN $ID_APP >/dev/null 2>&1; true'"
CTR_RM_APP="sh -c '$CTRC rmi -f $ID_APP >/dev/null 2>&1; $CTRC pull -q $TLS $MIN >/dev/null'"
# CTR_BENCH_BASE_BIN: an older ctr binary measured in the same hyperfine runs (before/after)
BMIN=() BAPP=()
if [ -n "${CTR_BENCH_BASE_BIN:-}" ]; then
  install -m 0755 "$CTR_BENCH_BASE_BIN" "$BIN/ctr-base" || die "cannot copy $CTR_BENCH_BASE_BIN"
  CTRB="$BIN/ctr-base --root $CTR_ROOT --runroot $CTR_RUNROOT"
  BMIN=(ctr-baseline "$CTR_RM_MIN" "$CTRB pull -q $TLS $MIN")
  BAPP=(ctr-baseline "$CTR_RM_APP" "$CTRB pull -q $TLS $APP")
fi
P=()
[ "$PODMAN" = 1 ] && P=(podman "sh -c '$PODMAN_BIN rmi -i -f $ID_MIN $ID_APP >/dev/null 2>&1; true'" "$PODMAN_BIN pull -q $TLS $MIN")
hf pull-minbase ctr "$CTR_RM_MIN" "$CTRC pull -q $TLS $MIN" "${P[@]}" "${BMIN[@]}"
P=()
[ "$PODMAN" = 1 ] && P=(podman "sh -c '$PODMAN_BIN rmi -i -f $ID_APP >/dev/null 2>&1; $PODMAN_BIN pull -q $TLS $MIN >/dev/null'" "$PODMAN_BIN pull -q $TLS $APP")
hf pull-app-base-present ctr "$CTR_RM_APP" "$CTRC pull -q $TLS $APP" "${P[@]}" "${BAPP[@]}"

# ------------------------------------------------------------------ 5. memory
ctr_u rmi -f "$ID_MIN" "$ID_APP" >/dev/null 2>&1
RSS_KB=$(as_user /usr/bin/time -f '%M' "$BIN/ctr" --root "$CTR_ROOT" --runroot "$CTR_RUNROOT" pull -q $TLS "$MIN" 2>&1 >/dev/null | tail -1)
RSS_MB=$(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
PRSS_MB=n/a
if [ "$PODMAN" = 1 ]; then
  podman_u rmi -i -f "$ID_MIN" "$ID_APP" >/dev/null 2>&1
  PRSS_KB=$(as_user /usr/bin/time -f '%M' "$PODMAN_BIN" pull -q $TLS "$MIN" 2>&1 >/dev/null | tail -1)
  PRSS_MB=$(awk -v k="$PRSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
fi
V=FAIL
le "$RSS_MB" 150 && V=PASS
[ "$V" = FAIL ] && FAILS=$((FAILS + 1))

# ------------------------------------------------------------------ 6. SIGKILL trials
KILL_LINE="not run"
if [ "$KILLS" -gt 0 ]; then
  echo
  log "$KILLS pulls of debian:app killed at random moments"
  ctr_u rmi -f "$ID_MIN" "$ID_APP" >/dev/null 2>&1
  T0=$(date +%s%N)
  ctr_u pull -q $TLS "$APP" >/dev/null || die "ctr pull $APP failed"
  SPAN_MS=$((($(date +%s%N) - T0) / 1000000))
  bad=0 listed=0
  for i in $(seq 1 "$KILLS"); do
    ctr_u rmi -f "$ID_MIN" "$ID_APP" >/dev/null 2>&1
    rm -f "$OUT/kill.pid"
    # the shell writes its PID and execs ctr: the kill goes to ctr itself, by its PID
    as_user sh -c 'echo $$ >"$0"; exec "$@"' "$OUT/kill.pid" "$BIN/ctr" --root "$CTR_ROOT" --runroot "$CTR_RUNROOT" pull -q $TLS "$APP" >/dev/null 2>&1 &
    BG=$!
    for _ in $(seq 1 200); do [ -s "$OUT/kill.pid" ] && break; sleep 0.005; done
    sleep "$(awk -v s="$SPAN_MS" -v r="$RANDOM" 'BEGIN { printf "%.3f", s * 1.5 * r / 32768 / 1000 }')"
    [ -s "$OUT/kill.pid" ] && kill -KILL "$(cat "$OUT/kill.pid")" 2>/dev/null
    wait "$BG" 2>/dev/null
    if [ -n "$(ctr_u images -q)" ]; then
      listed=$((listed + 1))
      ctr_u run --rm --network none "$APP" cat /etc/app.conf >/dev/null 2>&1 || { bad=$((bad + 1)); echo "bench: trial $i: the image lists but does not run" >&2; }
    fi
  done
  ctr_u pull -q $TLS "$APP" >/dev/null && ctr_u run --rm --network none "$APP" cat /etc/app.conf >/dev/null 2>&1
  next=$?
  KILL_LINE="$KILLS trials (pull span ${SPAN_MS} ms, kill at 0-150% of it): image listed after the kill in $listed, listed but not runnable in $bad; next pull $([ $next = 0 ] && echo completed || echo FAILED)"
  { [ "$bad" = 0 ] && [ "$next" = 0 ]; } || FAILS=$((FAILS + 1))
  echo "   $KILL_LINE"
fi

# ------------------------------------------------------------------ report
ratio_row "pull debian:minbase ($((BASE_GZ / 1000000)) MB gz), image removed before each run" pull-minbase 0.25 " ms"
ratio_row "pull debian:app (3 layers), base present" pull-app-base-present 0.5 " ms"
if [ -n "${CTR_BENCH_BASE_BIN:-}" ]; then
  for b in "pull-minbase:pull debian:minbase" "pull-app-base-present:pull debian:app, base present"; do
    bm=$(median "${b%%:*}" ctr-baseline)
    pm=$(median "${b%%:*}" podman)
    ROWS+=("| ${b#*:}: baseline binary ($(basename "$CTR_BENCH_BASE_BIN")) | ${bm:-error} ms | ${pm:-n/a} ms | $(ratio "$bm" "$pm") | | |")
  done
fi
row "peak RSS of ctr pull (debian:minbase)" "$RSS_MB MB" "$PRSS_MB MB" "" "< 150 MB" "$V"
{
  echo "# ctr pull vs podman pull"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ctr $("$BIN/ctr" version 2>/dev/null | head -1 | awk '{print $3}')$([ "$PODMAN" = 1 ] && echo ", $("$PODMAN_BIN" --version)"), hyperfine medians of $RUNS runs,"
  echo "local docker-registry over plain HTTP on 127.0.0.1 (\`bash bench/pull.sh\`)."
  echo
  echo "| what | ctr | podman | ratio | target | verdict |"
  echo "| --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "SIGKILL: $KILL_LINE."
} >"$RESULTS"
echo
cat "$RESULTS"
[ "$FAILS" = 0 ]
