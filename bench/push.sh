#!/usr/bin/env bash
# bench/push.sh - `ctr push` against rootless `podman push`: the Debian minbase image (one
# layer, ~120 MB unpacked) pushed to an empty local registry (Debian's docker-registry, plain
# HTTP on 127.0.0.1), same user, same registry, same image, in the same run.
#
#   bash bench/push.sh            (as root, from a built tree: npm run build && npm run package)
#
# The image: /var/tmp/ctr-bench/debian-minbase.tar (docker-archive, shared with bench/pull.sh),
# built when missing with `debootstrap --variant=minbase bookworm` from the apt mirror in
# /etc/apt/sources.list*, made into a one-layer docker-archive. Both engines load that file.
#
# What is measured (hyperfine, medians; before every run the registry's storage is wiped, so
# each push goes to an empty registry):
#   ctr cold   the image is removed and loaded again before each run, so the push compresses
#              the plain layer of the docker-archive (as podman does every time)
#   ctr warm   the image as a previous push left it: the gzip layer made by the first push is
#              kept in the store, so only the upload is left
#   podman     `podman push` (compresses the layer every time)
# The target (issue 3) is ctr <= 0.5x podman; it is checked on the cold figure.
#
# Knobs: CTR_BENCH_BASE_BIN (an older ctr binary, measured cold too), CTR_BENCH_PUSH_RUNS (default 5), CTR_BENCH_PUSH_WORK (default /var/tmp/ctr-bench-push:
# binaries snapshot, registry storage, raw JSON), CTR_BENCH_DEBIAN_TAR, CTR_BENCH_SKIP_SETUP=1
# (do not run bench/setup.sh), CTR_BENCH_PUSH_RESULTS (default bench/results-push.md), and
# those of bench/common.sh.
set -uo pipefail
umask 022
export CTR_BENCH_WORK=${CTR_BENCH_PUSH_WORK:-/var/tmp/ctr-bench-push}
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
enter_cgroup_view "$@"

[ "$(id -u)" = 0 ] || die "push.sh must run as root (it sets up the bench user and a registry)"
DEB_TAR=${CTR_BENCH_DEBIAN_TAR:-/var/tmp/ctr-bench/debian-minbase.tar}
RUNS=${CTR_BENCH_PUSH_RUNS:-5}
RESULTS=${CTR_BENCH_PUSH_RESULTS:-$BENCH_DIR/results-push.md}

bash "$BENCH_DIR/../packaging/apt-install.sh" debootstrap docker-registry hyperfine jq python3 || die "cannot install the bench packages"

if [ "${CTR_BENCH_SKIP_SETUP:-0}" != 1 ]; then
  bash "$BENCH_DIR/setup.sh" >/dev/null || die "bench/setup.sh failed"
fi
bench_user_vars
snapshot_binaries

# ------------------------------------------------------------------ the Debian image
mirror() {
  local m
  m=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -v security | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//' | awk '{print $1}' | head -n1)
  echo "${m:-http://deb.debian.org/debian}"
}

build_debian_tar() {
  local dir tmp
  dir=$(dirname "$DEB_TAR")
  install -d -m 0755 "$dir"
  exec 9>"$DEB_TAR.lock"
  flock 9
  [ -s "$DEB_TAR" ] && return 0
  tmp=$(mktemp -d "$dir/.debian-build.XXXXXX")
  log "building $DEB_TAR (debootstrap --variant=minbase bookworm from $(mirror))"
  if ! debootstrap --variant=minbase bookworm "$tmp/rootfs" "$(mirror)" >"$tmp/debootstrap.log" 2>&1; then
    tail -n 5 "$tmp/debootstrap.log" >&2
    rm -rf "$tmp"
    die "debootstrap failed (log above)"
  fi
  rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"* 2>/dev/null
  tar --numeric-owner --xattrs -C "$tmp/rootfs" -cf "$tmp/layer.tar" . || die "cannot tar the rootfs"
  python3 - "$tmp" <<'EOF' || die "cannot write the docker-archive"
import hashlib, json, os, sys, tarfile
d = sys.argv[1]
h = hashlib.sha256()
with open(os.path.join(d, "layer.tar"), "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
diff = "sha256:" + h.hexdigest()
cfg = {
    "architecture": "amd64", "os": "linux", "created": "2025-05-20T00:00:00Z",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["bash"]},
    "rootfs": {"type": "layers", "diff_ids": [diff]},
    "history": [{"created": "2025-05-20T00:00:00Z", "created_by": "debootstrap --variant=minbase bookworm"}],
}
cb = json.dumps(cfg, separators=(",", ":")).encode()
cid = hashlib.sha256(cb).hexdigest()
with open(os.path.join(d, cid + ".json"), "wb") as f:
    f.write(cb)
os.makedirs(os.path.join(d, h.hexdigest()))
os.rename(os.path.join(d, "layer.tar"), os.path.join(d, h.hexdigest(), "layer.tar"))
with open(os.path.join(d, "manifest.json"), "w") as f:
    json.dump([{"Config": cid + ".json", "RepoTags": ["debian:minbase"], "Layers": [h.hexdigest() + "/layer.tar"]}], f)
with tarfile.open(os.path.join(d, "archive.tar"), "w", format=tarfile.PAX_FORMAT) as t:
    for n in ("manifest.json", cid + ".json", h.hexdigest() + "/layer.tar"):
        t.add(os.path.join(d, n), arcname=n)
EOF
  chmod 0644 "$tmp/archive.tar"
  mv -f "$tmp/archive.tar" "$DEB_TAR"
  rm -rf "$tmp"
}
[ -s "$DEB_TAR" ] || build_debian_tar
[ -s "$DEB_TAR" ] || die "no $DEB_TAR"

# ------------------------------------------------------------------ registry, images
OUT=$WORK/out
REGDIR=$WORK/registry
install -d -o "$BUID" -g "$BGID" -m 0755 "$OUT" "$REGDIR"
rm -f "$OUT"/push*.json
cleanup() {
  stop_registry
  ctr_u rmi -f debian:minbase >/dev/null 2>&1
  have_podman && podman_u rmi -f debian:minbase >/dev/null 2>&1
  rm -rf "$REGDIR/data"
}
trap cleanup EXIT
start_registry "$REGDIR" user
REG=$REGISTRY_HOST
DEST=$REG/bench/debian:minbase
log "registry at $REG; loading $DEB_TAR ($(du -h "$DEB_TAR" | cut -f1)) into both engines"
ctr_u rmi -f debian:minbase >/dev/null 2>&1
ctr_u load -i "$DEB_TAR" >/dev/null || die "ctr load failed"
PODMAN=0
if have_podman; then
  podman_u load -q -i "$DEB_TAR" >/dev/null && PODMAN=1 || echo "bench: podman load failed; measuring ctr alone" >&2
fi

CTRC="$BIN/ctr --root $CTR_ROOT --runroot $CTR_RUNROOT"
# (sync: the pages a load or a push left dirty are written before the next measured run)
cat >"$BIN/push-wipe.sh" <<EOF
#!/bin/sh
rm -rf "$REGDIR/data"
sync
EOF
cat >"$BIN/push-reload.sh" <<EOF
#!/bin/sh
rm -rf "$REGDIR/data"
$CTRC rmi -f debian:minbase >/dev/null 2>&1
$CTRC load -i "$DEB_TAR" >/dev/null || exit 1
sync
EOF
chmod 0755 "$BIN/push-wipe.sh" "$BIN/push-reload.sh"

# one push first: checks that both engines work and leaves ctr's gzip layer for "warm"
ctr_u push -q --tls-verify=false debian:minbase "$DEST" || die "ctr push failed"
rm -rf "$REGDIR/data"
if [ "$PODMAN" = 1 ]; then
  podman_u push -q --tls-verify=false debian:minbase "$DEST" >/dev/null || { echo "bench: podman push failed; measuring ctr alone" >&2; PODMAN=0; }
  rm -rf "$REGDIR/data"
fi

ARGS=(-n "ctr cold" --prepare "/bin/sh $BIN/push-reload.sh" "$CTRC push -q --tls-verify=false debian:minbase $DEST"
      -n "ctr warm" --prepare "/bin/sh $BIN/push-wipe.sh" "$CTRC push -q --tls-verify=false debian:minbase $DEST")
[ "$PODMAN" = 1 ] && ARGS+=(-n podman --prepare "/bin/sh $BIN/push-wipe.sh" "podman push -q --tls-verify=false debian:minbase $DEST")
# CTR_BENCH_BASE_BIN: an older ctr binary measured cold in the same run (before/after figures)
BASE_ROW=
if [ -n "${CTR_BENCH_BASE_BIN:-}" ]; then
  install -m 0755 "$CTR_BENCH_BASE_BIN" "$BIN/ctr-base" || die "cannot copy $CTR_BENCH_BASE_BIN"
  ARGS+=(-n "ctr cold (baseline)" --prepare "/bin/sh $BIN/push-reload.sh" "$BIN/ctr-base --root $CTR_ROOT --runroot $CTR_RUNROOT push -q --tls-verify=false debian:minbase $DEST")
fi
log "push of debian:minbase to an empty registry, $RUNS runs each"
as_user hyperfine -N --style basic --runs "$RUNS" --export-json "$OUT/push.json" "${ARGS[@]}" || die "hyperfine failed"

med() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000 | round' "$OUT/push.json"; }
C_COLD=$(med "ctr cold")
C_WARM=$(med "ctr warm")
P=$([ "$PODMAN" = 1 ] && med podman || echo "")
R_COLD=$(ratio "$C_COLD" "$P" || echo n/a)
if [ -n "${CTR_BENCH_BASE_BIN:-}" ]; then
  C_BASE=$(med "ctr cold (baseline)")
  BASE_ROW="| ctr cold, baseline binary ($(basename "$CTR_BENCH_BASE_BIN")) | $C_BASE | $(ratio "$C_BASE" "$P" || echo n/a)× | |"
fi
R_WARM=$(ratio "$C_WARM" "$P" || echo n/a)
VERDICT=n/a
[ -n "$P" ] && VERDICT=$(awk -v r="$R_COLD" 'BEGIN { print (r <= 0.5) ? "PASS" : "FAIL" }')
LAYER=$(tar -tvf "$DEB_TAR" | awk '/layer.tar/ { print $3 }')
{
  echo "# Push benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load before: $(cut -d' ' -f1-3 /proc/loadavg); ctr $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), $(podman --version 2>/dev/null || echo 'no podman')."
  echo "Image: Debian bookworm minbase, one layer of $((LAYER / 1000000)) MB (plain tar in the docker-archive), pushed to an empty docker-registry on 127.0.0.1 (plain HTTP), rootless, $RUNS runs each, medians."
  echo
  echo "| push of debian:minbase | ms | vs podman | target |"
  echo "| --- | --- | --- | --- |"
  echo "| ctr, cold (layer compressed during the push) | $C_COLD | $R_COLD× | ≤ 0.5× ($VERDICT) |"
  echo "| ctr, warm (gzip layer kept from an earlier push) | $C_WARM | $R_WARM× | |"
  [ -n "$BASE_ROW" ] && echo "$BASE_ROW"
  echo "| podman push | ${P:-n/a} | 1× | |"
  echo
  echo "Cold is the fair comparison: both engines compress the 130 MB plain layer and upload it."
  echo "Warm is what ctr does on every push after the first (Podman compresses again each time)."
} >"$RESULTS"
cat "$RESULTS"
[ "$VERDICT" != FAIL ]
