#!/bin/bash
# Unpacking speed: ctr-helper untar against GNU tar -x on the same uncompressed archive.
# usage: storage-bench.sh ARCHIVE.tar TARGET_PARENT_DIR [RUNS]
#   e.g. tar -C / -cf /var/tmp/usr.tar usr; storage-bench.sh /var/tmp/usr.tar /dev/shm 3
# Needs hyperfine. The archive is read once first so it is served from the page cache; the
# figures are for extraction (no fsync, as neither tool syncs). Prints MB/s per tool.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
helper=${CTR_HELPER:-$here/../build/ctr-helper}
tarfile=${1:?archive}
parent=${2:?target parent dir}
runs=${3:-3}
t="$parent/ctr-bench-target"
cat "$tarfile" > /dev/null
size=$(stat -c %s "$tarfile")
json=$(mktemp)
flags=""
[ "$(id -u)" = 0 ] || flags="--rootless-xattrs"
hyperfine --style basic --runs "$runs" --export-json "$json" \
  --prepare "'$helper' rmtree '$t'; mkdir '$t'; sync" --cleanup "'$helper' rmtree '$t'" \
  -n "ctr-helper untar (file)" "'$helper' untar $flags '$t' < '$tarfile' > /dev/null" \
  -n "ctr-helper untar (pipe)" "cat '$tarfile' | '$helper' untar $flags '$t' > /dev/null" \
  -n "GNU tar -xpf" "tar -xpf '$tarfile' -C '$t'" >&2
python3 - "$json" "$size" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); size = int(sys.argv[2])
for r in d["results"]:
    print("%-26s %7.3f s  %7.0f MB/s" % (r["command"], r["mean"], size / r["mean"] / 1e6))
EOF
rm -f "$json"
