#!/usr/bin/env bash
# packaging/setup-user.sh [--create] USER - makes this host ready for rootless ctr as USER.
# Run as root; idempotent (each step checks before it changes anything). Used by the install
# script, the test setup and the benchmark setup, so all three prepare a host the same way.
#
#   1. the user (created with --create when missing)
#   2. 65536 sub-IDs in /etc/subuid and /etc/subgid, after every range already given out
#   3. newuidmap/newgidmap usable (setuid or file capabilities)
#   4. unprivileged user namespaces enabled
#   5. the runtime dir /run/user/UID (nothing creates it on a host without logind)
#   6. /dev/fuse and /dev/net/tun usable by everybody (0666, as distributions ship them)
set -euo pipefail
log() { echo "setup-user: $*"; }
die() { echo "setup-user.sh: $*" >&2; exit 1; }
CREATE=0
[ "${1:-}" = --create ] && { CREATE=1; shift; }
U=${1:?usage: setup-user.sh [--create] USER}
[ "$(id -u)" = 0 ] || die "must run as root"

if ! id "$U" >/dev/null 2>&1; then
  [ "$CREATE" = 1 ] || die "no user $U"
  log "creating user $U"
  useradd -m -s /bin/bash "$U"
fi
UID_=$(id -u "$U")
GID_=$(id -g "$U")
HOME_=$(getent passwd "$U" | cut -d: -f6)
[ -d "$HOME_" ] || install -d -o "$UID_" -g "$GID_" -m 0755 "$HOME_"

for f in /etc/subuid /etc/subgid; do
  touch "$f"
  if ! grep -qE "^(${U}|${UID_}):" "$f"; then
    start=$(cat /etc/subuid /etc/subgid | awk -F: 'BEGIN { m = 100000 } NF == 3 { e = $2 + $3; if (e > m) m = e } END { print m }')
    echo "${U}:${start}:65536" >>"$f"
    log "added ${U}:${start}:65536 to $f"
  fi
done

for b in /usr/bin/newuidmap /usr/bin/newgidmap; do
  [ -x "$b" ] || die "$b is missing (package uidmap on Debian, shadow-utils on EL)"
  if [ ! -u "$b" ] && ! { command -v getcap >/dev/null && getcap "$b" | grep -q cap_set; }; then
    chmod u+s "$b"
    log "made $b setuid"
  fi
done

if [ -f /proc/sys/kernel/unprivileged_userns_clone ] && [ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" != 1 ]; then
  sysctl -qw kernel.unprivileged_userns_clone=1
fi
if [ "$(cat /proc/sys/user/max_user_namespaces 2>/dev/null || echo 1)" = 0 ]; then
  sysctl -qw user.max_user_namespaces=15000
fi
if [ "$(cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns 2>/dev/null || echo 0)" = 1 ]; then
  sysctl -qw kernel.apparmor_restrict_unprivileged_userns=0
fi

install -d -m 0755 /run/user
if [ ! -d "/run/user/$UID_" ] || [ "$(stat -c %u "/run/user/$UID_")" != "$UID_" ]; then
  install -d -o "$UID_" -g "$GID_" -m 0700 "/run/user/$UID_"
  log "created /run/user/$UID_"
fi

mkdev() {  # $1 path, $2 major, $3 minor
  if [ ! -e "$1" ]; then
    mkdir -p "$(dirname "$1")"
    mknod -m 0666 "$1" c "$2" "$3" || log "cannot create $1 (fuse-overlayfs / slirp4netns will not work)"
  fi
  if [ -c "$1" ] && [ "$(stat -c %a "$1")" != 666 ]; then
    chmod 0666 "$1"
    log "made $1 usable by non-root users (0666, as distributions ship it)"
  fi
}
mkdev /dev/fuse 10 229
mkdev /dev/net/tun 10 200
