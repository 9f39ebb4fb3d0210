#!/bin/sh
# cycle.sh NETWORK ENGINE [GLOBAL-OPTIONS...] - one container life cycle, timed by run.sh:
#   ENGINE run -d [--network NETWORK] busybox sleep 86400; ENGINE stop -t 0 ID; ENGINE rm ID
# NETWORK "default" leaves the engine's default (slirp4netns for both engines, rootless).
set -e
net=$1
shift
if [ "$net" = default ]; then
  id=$("$@" run -d busybox sleep 86400)
else
  id=$("$@" run -d --network "$net" busybox sleep 86400)
fi
"$@" stop -t 0 "$id" >/dev/null
"$@" rm "$id" >/dev/null
