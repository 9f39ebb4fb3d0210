#!/usr/bin/env bash
# Runs a command in a private mount namespace in which directories of the test tree appear at
# paths of an installed system, e.g. the bundled ctr's lib directory at /usr/libexec/ctr/lib
# (its ELF interpreter and DT_RPATH point there) or a test /etc/ctr. Nothing on the host
# changes. A destination whose parent exists is bind-mounted directly; otherwise its nearest
# existing ancestor is covered by a tmpfs that holds bind mounts of everything the host has
# there, plus the missing directories. Run as root.
#
#   test/el7/graft.sh SRC:DEST [SRC:DEST...] -- COMMAND [ARGS...]
set -euo pipefail
if [ "${CTR_GRAFT_INNER:-}" != 1 ]; then
  exec env CTR_GRAFT_INNER=1 unshare --mount --propagation private -- "$0" "$@"
fi
unset CTR_GRAFT_INNER
die() { echo "graft.sh: $*" >&2; exit 125; }

# cover DIR with a tmpfs holding bind mounts of its entries (same names, same content)
replicate() {
  local dir=$1 t e n
  t=$(mktemp -d /run/ctr-graft.XXXXXX)
  mount -t tmpfs -o "mode=$(stat -c %a "$dir")" tmpfs "$t"
  for e in "$dir"/* "$dir"/.[!.]* "$dir"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=${e##*/}
    if [ -L "$e" ]; then cp -P "$e" "$t/$n"
    elif [ -d "$e" ]; then mkdir "$t/$n" && mount --rbind "$e" "$t/$n"
    else touch "$t/$n" && mount --bind "$e" "$t/$n"
    fi
  done
  mount --rbind "$t" "$dir"
  umount -l "$t"
  rmdir "$t"
}

while [ $# -gt 0 ] && [ "$1" != -- ]; do
  src=${1%%:*}
  dest=${1#*:}
  shift
  [ -d "$src" ] || die "$src is not a directory"
  src=$(cd "$src" && pwd)
  case $dest in /*) ;; *) die "$dest: an absolute path is needed" ;; esac
  if [ ! -d "$dest" ]; then
    anc=$dest
    while [ ! -d "$anc" ]; do anc=$(dirname "$anc"); done
    replicate "$anc"
    mkdir -p "$dest"
  fi
  mount --bind "$src" "$dest"
done
[ "${1:-}" = -- ] || die "usage: graft.sh SRC:DEST [SRC:DEST...] -- COMMAND [ARGS...]"
shift
[ $# -gt 0 ] || die "no command"
exec "$@"
