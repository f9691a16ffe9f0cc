#!/bin/sh
# Tests of tools/wsheap-run: the exit status passes through (128+N for signal N), unknown options
# and missing values are refused with a clear message, values are taken as "--opt N" and
# "--opt=N", --version prints include/wsheap/version.h's version, exactly the chosen WSHEAP_*
# variables are set and nothing else changes, --valgrind runs memcheck with the suppressions and
# fails the run (status 99) when memcheck reports an error, and with the demo program and its
# sample input --pageheap catches the demo's injected overrun, a boolean spelt "yes" works and a
# misspelt variable is named with the nearest option.
# Usage: SCRIPT WSHEAP_RUN HELPER [WSHEAP_DEMO SAMPLE_INPUT]
set -u
run=$1 helper=$2 demo=${3:-} sample=${4:-}
failures=0
out=${TMPDIR:-/tmp}/wsheap-run-test.$$
trap 'rm -f "$out" "$out.err"' EXIT
ulimit -c 0
# Start from an environment without WSHEAP_* variables.
for v in $(env | sed -n 's/^\(WSHEAP_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect_status WANT ARGS...: runs wsheap-run ARGS, stdout to $out, stderr to $out.err, with
# the extra environment assignments in $with (e.g. with="FOO=bar").
with=
expect_status() {
  want=$1
  shift
  env $with "$run" "$@" >"$out" 2>"$out.err"
  got=$?
  [ "$got" -eq "$want" ] || fail "wsheap-run $*: status $got, want $want ($(cat "$out.err"))"
}

expect_stdout() { # expect_stdout TEXT: $out must be exactly TEXT (lines), or empty for ""
  if [ -z "$1" ]; then
    [ -s "$out" ] && fail "stdout was not empty: $(cat "$out")"
    return
  fi
  printf '%s\n' "$1" | cmp -s - "$out" || fail "stdout was:
$(cat "$out")
want:
$1"
}

expect_stderr_has() {
  grep -qF -- "$1" "$out.err" || fail "stderr lacks '$1': $(cat "$out.err")"
}

# Exit status passthrough.
expect_status 0 -- "$helper" exit 0
expect_status 7 -- "$helper" exit 7
expect_status 255 --stats -- "$helper" exit 255
expect_status 7 "$helper" exit 7 # no "--": the first non-option is the program
# Death by signal N: 128+N.
expect_status 143 -- "$helper" signal 15
expect_status 134 --pageheap -- "$helper" signal 6
expect_status 139 -- "$helper" signal 11
# Program not found / not executable: 127 / 126, as a shell says.
expect_status 127 -- /nonexistent/program
expect_stderr_has "cannot run '/nonexistent/program'"
expect_status 126 -- /dev/null

# Usage errors: status 2, a message naming the problem, and the program is not run.
expect_status 2 --bogus -- "$helper" exit 0
expect_stderr_has "wsheap-run: unknown option '--bogus'"
expect_status 2 -x "$helper" exit 0
expect_stderr_has "unknown option '-x'"
expect_status 2 --stack-depth
expect_stderr_has "option '--stack-depth' needs a value"
expect_status 2 --stack-depth -- "$helper" env # "--" is not a value
expect_stderr_has "option '--stack-depth' needs a value, not '--'"
[ -s "$out" ] && fail "the program ran after a usage error"
expect_status 2 --stack-depth= -- "$helper" env
expect_stderr_has "option '--stack-depth' needs a value"
expect_status 2 --set --pageheap -- "$helper" env
expect_stderr_has "option '--set' needs a value, not '--pageheap'"
expect_status 2 --pageheap=1 -- "$helper" env
expect_stderr_has "option '--pageheap' takes no value"
expect_status 2 --pageheap --
expect_stderr_has "no program given"
expect_status 2 --set PATH=/tmp -- "$helper" env
expect_stderr_has "only wsheap's own variables"
expect_status 2 --set WSHEAP_=1 -- "$helper" env
[ -s "$out" ] && fail "the program ran after a usage error"
expect_status 0 --help
grep -q -- "--pageheap" "$out" || fail "--help does not list --pageheap"
grep -q -- "--valgrind" "$out" || fail "--help does not list --valgrind"
grep -q -- "--version" "$out" || fail "--help does not list --version"

# --version: the version in include/wsheap/version.h (this script is tests/tools/ in the tree).
version_h=$(dirname "$0")/../../include/wsheap/version.h
version=$(sed -n 's/^#define WSHEAP_VERSION_STRING "\(.*\)"$/\1/p' "$version_h")
[ -n "$version" ] || fail "cannot read WSHEAP_VERSION_STRING from $version_h"
expect_status 0 --version
expect_stdout "wsheap-run (wsheap) $version"

# The environment: exactly the variables asked for, values passed through verbatim (the library
# parses them), other variables untouched.
expect_status 0 -- "$helper" env
expect_stdout ""
expect_status 0 --pageheap --stats --no-symbolize --stack-depth 8 -- "$helper" env
expect_stdout "WSHEAP_PAGEHEAP=1
WSHEAP_STACK_DEPTH=8
WSHEAP_STATS=1
WSHEAP_SYMBOLIZE=0"
expect_status 0 --backward --unaligned --leaks --quarantine-mb 0 --verbose -- "$helper" env
expect_stdout "WSHEAP_LEAKS=1
WSHEAP_PAGEHEAP=1
WSHEAP_PAGEHEAP_BACKWARD=1
WSHEAP_PAGEHEAP_UNALIGNED=1
WSHEAP_QUARANTINE_MB=0
WSHEAP_VERBOSE=1"
expect_stderr_has "wsheap-run: WSHEAP_PAGEHEAP=1 WSHEAP_PAGEHEAP_BACKWARD=1"
expect_status 0 --leaks-exitcode 23 --no-leaks --set WSHEAP_FUTURE_OPTION=abc -- "$helper" env
expect_stdout "WSHEAP_FUTURE_OPTION=abc
WSHEAP_LEAKS=0
WSHEAP_LEAKS_EXITCODE=23"
expect_status 0 --stack-depth banana -- "$helper" env # not validated here: the library warns
expect_stdout "WSHEAP_STACK_DEPTH=banana"
# "--opt=value" is "--opt value"; the value may start with one "-".
expect_status 0 --stack-depth=5 --leaks-exitcode=3 --set=WSHEAP_FUTURE_OPTION=a=b -- "$helper" env
expect_stdout "WSHEAP_FUTURE_OPTION=a=b
WSHEAP_LEAKS_EXITCODE=3
WSHEAP_STACK_DEPTH=5"
expect_status 0 --stack-depth -1 "$helper" env
expect_stdout "WSHEAP_STACK_DEPTH=-1"
with="FOO=bar WSHEAP_PAGEHEAP=0"
expect_status 0 --stats -- "$helper" env FOO
expect_stdout "WSHEAP_PAGEHEAP=0
WSHEAP_STATS=1
FOO=bar"
with="WSHEAP_STATS=0"
expect_status 0 --stats -- "$helper" env # the option wins over the inherited value
expect_stdout "WSHEAP_STATS=1"
with=

# --valgrind: memcheck runs the program, with the suppressions, and its status passes through.
if command -v valgrind >/dev/null 2>&1; then
  expect_status 3 --valgrind --verbose -- "$helper" exit 3
  expect_stderr_has "valgrind --tool=memcheck --error-exitcode=99 --suppressions="
  expect_stderr_has "valgrind.supp"
  expect_stderr_has "Memcheck"
  expect_status 0 --valgrind --stats -- "$helper" env
  expect_stdout "WSHEAP_STATS=1"
  # A memcheck error fails the run, although the program itself exits 0.
  expect_status 0 -- "$helper" bad-read
  expect_status 99 --valgrind -- "$helper" bad-read
  expect_stderr_has "Invalid read of size 1"
  expect_stderr_has "ERROR SUMMARY: 1 errors"
else
  echo "valgrind not installed: --valgrind not tested"
fi

# The real thing: --pageheap stops the demo's off-by-one write by SIGSEGV (the arena does not
# notice it, except in an ASan build).
if [ -n "$demo" ]; then
  expect_status 139 --pageheap --no-symbolize -- "$demo" --inject-overrun 3 "$sample"
  expect_stderr_has "== ERROR: heap-buffer-overflow WRITE at 0x"
  expect_stderr_has "\"demo-messages\" (backend guarded)"
  # Booleans take yes/true/on too: the guarded backend, not a warning.
  expect_status 139 --set WSHEAP_PAGEHEAP=yes --no-symbolize -- "$demo" --inject-overrun 3 "$sample"
  expect_stderr_has "== ERROR: heap-buffer-overflow WRITE at 0x"
  grep -q "warning" "$out.err" && fail "WSHEAP_PAGEHEAP=yes warned: $(cat "$out.err")"
  # A misspelt variable is named, with the option meant, once.
  expect_status 0 --set WSHEAP_PAGHEAP=1 -- "$demo" --generate 3
  expect_stderr_has "== warning: unknown variable WSHEAP_PAGHEAP (did you mean WSHEAP_PAGEHEAP?)"
  [ "$(grep -c "unknown variable" "$out.err")" -eq 1 ] ||
    fail "the unknown variable is not reported exactly once: $(cat "$out.err")"
  # The project's own test variables are not options, and are not reported.
  expect_status 0 --set WSHEAP_FUZZ_UNTRACKED=1 --set WSHEAP_TEST_GDB=gdb -- "$demo" --generate 3
  grep -q "warning" "$out.err" && fail "a test variable was reported: $(cat "$out.err")"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "wsheap-run: all checks passed"
