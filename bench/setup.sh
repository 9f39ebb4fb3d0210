#!/usr/bin/env bash
# bench/setup.sh - prepares this machine for bench/run.sh. Run as root; idempotent (each step
# checks before it changes anything), so run.sh runs it every time.
#
#   1. Debian packages: podman crun conmon uidmap slirp4netns fuse-overlayfs hyperfine, and
#      busybox-static python3 jq (fixtures, result parsing)
#   2. the bench user (CTR_BENCH_USER; default ctrtest when it exists, else a new user
#      ctrbench) with /etc/subuid and /etc/subgid ranges, user namespaces enabled,
#      newuidmap/newgidmap usable, its runtime dir /run/user/UID
#   3. /dev/fuse and /dev/net/tun usable by everybody (0666; some VMs ship them 0600)
#   4. rootless Podman's configuration for that user: cgroupfs manager, file events logger,
#      crun (no systemd here), storage driver overlay (Debian's Podman otherwise silently
#      uses vfs)
#   5. the binaries under test copied to $CTR_BENCH_WORK/bin (see common.sh)
#   6. the busybox fixture image (test/fixtures/build.py) loaded into both engines from the
#      same docker-archive: ctr into the bench store (--root/--runroot), podman into the
#      user's default store
#   7. a smoke test of each engine. On a host whose cgroup layout crun refuses ("hybrid":
#      v1 controllers plus one left on the cgroup2 mount) the scripts run in a private mount
#      namespace where the cgroup2 mount lists no controller (common.sh enter_cgroup_view);
#      that is recorded in $CTR_BENCH_WORK/setup-notes, which run.sh copies into results.md.
#
# Knobs: see bench/common.sh. CTR_BENCH_PODMAN=0 skips everything Podman.
set -euo pipefail
umask 022
# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
enter_cgroup_view "$@"

[ "$(id -u)" = 0 ] || die "setup.sh must run as root (it installs packages and configures the bench user)"

# ------------------------------------------------------------------ 1. packages
PKGS=(uidmap slirp4netns fuse-overlayfs hyperfine busybox-static python3 jq procps)
[ "${CTR_BENCH_PODMAN:-1}" != 0 ] && PKGS+=(podman crun conmon)
# with recommended packages, as a Podman user would have them
bash "$(dirname "${BASH_SOURCE[0]}")/../packaging/apt-install.sh" --recommends "${PKGS[@]}" || die "cannot install ${PKGS[*]}"

# ------------------------------------------------------------------ 2-3. user, sub-IDs, runtime dir, devices
bash "$(dirname "${BASH_SOURCE[0]}")/../packaging/setup-user.sh" --create "$BENCH_USER"
bench_user_vars

# ------------------------------------------------------------------ 4. podman configuration
if have_podman; then
  CONF=$BHOME/.config/containers
  install -d -o "$BUID" -g "$BGID" "$BHOME/.config" "$CONF"
  printf '%s\n' '[engine]' 'cgroup_manager = "cgroupfs"' 'events_logger = "file"' 'runtime = "crun"' \
    >"$CONF/containers.conf.new"
  printf '%s\n' '[storage]' 'driver = "overlay"' "runroot = \"$RUNDIR/containers\"" \
    "graphroot = \"$BHOME/.local/share/containers/storage\"" >"$CONF/storage.conf.new"
  for f in containers.conf storage.conf; do
    if cmp -s "$CONF/$f.new" "$CONF/$f"; then
      rm -f "$CONF/$f.new"
    else
      mv -f "$CONF/$f.new" "$CONF/$f"
      log "wrote $CONF/$f"
    fi
    chown "$BUID:$BGID" "$CONF/$f"
  done
fi

# ------------------------------------------------------------------ 5. binaries
snapshot_binaries
install -d -o "$BUID" -g "$BGID" -m 0755 "$WORK/out"

# ------------------------------------------------------------------ 6. fixture image
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" "$REPO/test/fixtures/build.py" "$FIXTURES" >/dev/null || die "test/fixtures/build.py failed"
chmod -R a+rX "$FIXTURES"
[ -r "$IMAGE_TAR" ] || die "$IMAGE_TAR was not built"

want_id=$(jq -r '.images.busybox.id' "$FIXTURES/fixtures.json")   # sha256:<hex>
if [ "$(ctr_u image inspect --format "{{.Id}}" busybox 2>/dev/null | sed "s/^sha256://" || true)" != "${want_id#sha256:}" ]; then
  ctr_u load -i "$IMAGE_TAR" >/dev/null || die "ctr load -i $IMAGE_TAR failed"
  log "loaded busybox into ctr (store $CTR_ROOT)"
fi
if have_podman; then
  if [ "$(podman_u image inspect --format '{{.Id}}' busybox 2>/dev/null || true)" != "${want_id#sha256:}" ]; then
    podman_u load -q -i "$IMAGE_TAR" >/dev/null || die "podman load -i $IMAGE_TAR failed"
    log "loaded busybox into podman"
  fi
fi

# ------------------------------------------------------------------ 7. smoke tests
NOTES=$WORK/setup-notes
: >"$NOTES.new"
out=$(ctr_u run --rm --network none busybox true 2>&1) || die "ctr run --rm --network none busybox true failed: $out"

if have_podman; then
  out=$(podman_u run --rm --network none busybox true 2>&1) || die "podman run --rm --network none busybox true failed: ${out##*$'\n'}"
fi
if [ "${CTR_BENCH_CGROUP_VIEW:-}" = 1 ]; then
  echo "Both engines ran in a private mount namespace in which /sys/fs/cgroup/unified/cgroup.controllers reads empty: crun refuses this host's hybrid cgroup layout (hugetlb left on the cgroup2 mount). The host's controllers were not touched." >>"$NOTES.new"
fi
mv -f "$NOTES.new" "$NOTES"
log "setup done: user $BENCH_USER (uid $BUID), ctr store $CTR_ROOT, work area $WORK"
