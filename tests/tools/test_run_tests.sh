#!/bin/sh
# tools/run-tests.sh runs every mode it is given even after one fails, ends with a table of
# every mode, and exits 1 when any failed. Two unknown modes are two failures: both must be
# tried and listed (the old script stopped at the first).
# Usage: test_run_tests.sh SOURCE_DIR
set -u
out=$(sh "$1/tools/run-tests.sh" no-such-mode other-bad-mode 2>&1)
status=$?
fail() {
  echo "FAIL: $1"
  echo "$out"
  exit 1
}
[ "$status" -eq 1 ] || fail "exit status $status, expected 1"
echo "$out" | grep -q "unknown mode 'other-bad-mode'" || fail "the second mode was not run"
echo "$out" | grep -Eq '^no-such-mode +FAILED +[0-9]+$' || fail "no table row for the first mode"
echo "$out" | grep -Eq '^other-bad-mode +FAILED +[0-9]+$' || fail "no table row for the second mode"
echo "$out" | grep -q '^modes: 0 passed, 2 failed$' || fail "no closing count"
echo "ok: both modes ran and failed, table and exit status as documented"
