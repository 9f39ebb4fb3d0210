#!/bin/sh
# Builds a busybox rootfs in DEST (owned by the caller): static busybox, applet symlinks,
# /etc/passwd and /etc/group with root and a non-root user (uid 1000) in two extra groups.
set -eu
DEST=${1:?usage: mkrootfs.sh DEST}
BB=${BUSYBOX:-/bin/busybox}
mkdir -p "$DEST"
cd "$DEST"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp home/user proc dev sys var/tmp
chmod 1777 tmp var/tmp
chmod 700 root
cp "$BB" bin/busybox
for a in $(bin/busybox --list); do
  [ "$a" = busybox ] || [ -e "bin/$a" ] || ln -s busybox "bin/$a"
done
cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:Test User:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > etc/group <<'G'
root:x:0:
wheel:x:10:user
audio:x:29:user,root
user:x:1000:
nogroup:x:65534:
G
echo "PRETTY_NAME=busybox test rootfs" > etc/os-release
printf '#!/bin/sh\necho script-ran "$@"\n' > bin/hello.sh
chmod 755 bin/hello.sh
printf 'not executable\n' > bin/noexec
chmod 644 bin/noexec
