#!/bin/bash
# parallel.sh SHELLS PER_SHELL PREFIX ENGINE [GLOBAL-OPTIONS...]
# Starts SHELLS background shells at once; each runs PER_SHELL times, one after the other,
#   ENGINE run -d --network none --name PREFIX<shell>-<n> busybox sleep 86400
# and prints one line: "<elapsed ms> <started> <failed>", elapsed from the first start to the
# last shell's end. The first error messages go to stderr.
set -u
shells=$1 per=$2 prefix=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s%N)
for s in $(seq 1 "$shells"); do
  (
    ok=0 bad=0
    for n in $(seq 1 "$per"); do
      if "$@" run -d --network none --name "$prefix$s-$n" busybox sleep 86400 >/dev/null 2>>"$tmp/err.$s"; then
        ok=$((ok + 1))
      else
        bad=$((bad + 1))
      fi
    done
    echo "$ok $bad" >"$tmp/count.$s"
  ) &
done
wait
t1=$(date +%s%N)
ok=0 bad=0
for s in $(seq 1 "$shells"); do
  read -r o b <"$tmp/count.$s" || { o=0; b=$per; }
  ok=$((ok + o))
  bad=$((bad + b))
done
cat "$tmp"/err.* 2>/dev/null | head -5 >&2
echo "$(((t1 - t0) / 1000000)) $ok $bad"
