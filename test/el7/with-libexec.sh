#!/usr/bin/env bash
# Runs a command in a private mount namespace in which DIR appears at /usr/libexec/ctr/lib, as
# an installed bundled ctr has it (its interpreter and DT_RPATH point there). Nothing on the
# host changes: /usr/libexec is covered by a tmpfs holding bind mounts of every entry the host
# has there, plus ctr/lib. Run as root.
#
#   test/el7/with-libexec.sh DIR COMMAND [ARGS...]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: with-libexec.sh DIR COMMAND [ARGS...]" >&2; exit 125; }
if [ "${CTR_WITH_LIBEXEC_INNER:-}" != 1 ]; then
  exec env CTR_WITH_LIBEXEC_INNER=1 unshare --mount --propagation private -- "$0" "$@"
fi
unset CTR_WITH_LIBEXEC_INNER
DIR=$(cd "$1" && pwd)
shift
T=$(mktemp -d /run/ctr-libexec.XXXXXX)
mount -t tmpfs -o mode=0755 tmpfs "$T"
if [ -d /usr/libexec ]; then
  for e in /usr/libexec/* /usr/libexec/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=${e##*/}
    [ "$n" = ctr ] && continue
    if [ -L "$e" ]; then cp -P "$e" "$T/$n"
    elif [ -d "$e" ]; then mkdir "$T/$n" && mount --rbind "$e" "$T/$n"
    else touch "$T/$n" && mount --bind "$e" "$T/$n"
    fi
  done
else
  mkdir -p /usr/libexec
fi
mkdir -p "$T/ctr/lib"
if [ -d /usr/libexec/ctr ]; then
  for e in /usr/libexec/ctr/*; do
    [ -e "$e" ] || continue
    n=${e##*/}
    [ "$n" = lib ] && continue
    if [ -d "$e" ]; then mkdir "$T/ctr/$n"; else touch "$T/ctr/$n"; fi
    mount --rbind "$e" "$T/ctr/$n"
  done
fi
mount --bind "$DIR" "$T/ctr/lib"
mount --rbind "$T" /usr/libexec
umount -l "$T" 2>/dev/null || true
rmdir "$T" 2>/dev/null || true
exec "$@"
