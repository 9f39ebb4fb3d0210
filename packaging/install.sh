#!/usr/bin/env bash
# Installs ctr on a fresh machine: the OS packages it needs (apt or dnf/yum), sub-ID ranges
# for the invoking user, then builds ctr and ctr-helper from this checkout and installs them.
#
#   sudo ./packaging/install.sh            # PREFIX=/usr/local by default
#
# Env: PREFIX (install prefix), CTR_USER (user to give /etc/subuid ranges; default $SUDO_USER),
#      SKIP_DEPS=1 (do not install OS packages), SKIP_BUILD=1 (install what dist/ holds).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
CTR_USER=${CTR_USER:-${SUDO_USER:-}}
log() { printf '== %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo ./packaging/install.sh)" >&2; exit 1; }

if [ "${SKIP_DEPS:-0}" != 1 ]; then
  if command -v apt-get >/dev/null; then
    pkgs="uidmap slirp4netns fuse-overlayfs fuse3 make gcc libc6-dev musl-tools libdeflate-dev procps iproute2 ca-certificates"
    missing=""
    for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"; done
    command -v npm >/dev/null || missing="$missing nodejs npm"
    if [ -n "$missing" ]; then
      log "apt-get install$missing"
      apt-get update -q
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
    fi
  elif command -v dnf >/dev/null || command -v yum >/dev/null; then
    PM=$(command -v dnf || command -v yum)
    log "$PM install"
    "$PM" install -y shadow-utils slirp4netns fuse-overlayfs fuse3 make gcc glibc-static procps-ng iproute nodejs npm || \
      "$PM" install -y shadow-utils slirp4netns fuse-overlayfs make gcc glibc-static procps-ng iproute nodejs npm
    # the push compressor (static libdeflate); without it pushes compress with Node's zlib
    "$PM" install -y libdeflate-devel 2>/dev/null || log "no libdeflate-devel: ctr push compresses with zlib (slower)"
  else
    echo "install.sh: neither apt-get nor dnf/yum found: install uidmap (newuidmap), slirp4netns, fuse-overlayfs, gcc, make, node and npm yourself, then rerun with SKIP_DEPS=1" >&2
    exit 1
  fi
fi

# Sub-ID ranges, user namespaces, runtime dir and devices for the user who will run ctr.
if [ -n "$CTR_USER" ] && [ "$CTR_USER" != root ]; then
  bash packaging/setup-user.sh "$CTR_USER"
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building"
  npm ci --no-audit --no-fund
  npm run build
  CTR_BUNDLE=0 npm run package   # the plain binary: it runs on the libraries of this host
fi
install -D -m 0755 dist/bin/ctr "$PREFIX/bin/ctr"
install -D -m 0755 native/build/ctr-helper "$PREFIX/libexec/ctr/ctr-helper"
log "installed $PREFIX/bin/ctr and $PREFIX/libexec/ctr/ctr-helper"
"$PREFIX/bin/ctr" version
