#!/bin/sh
# Tests of the leak report and of the statistics printed at exit, on tests/tools/leak_program:
# what is listed (and what is not), WSHEAP_LEAKS defaults per backend, the exit status left
# alone unless WSHEAP_LEAKS_EXITCODE asks (stdout still flushed), atexit handlers running
# first, and the library's own symbolization agreeing with tools/wsheap-symbolize.
# Usage: SCRIPT LEAK_PROGRAM WSHEAP_SYMBOLIZE WSHEAP_RUN
set -u
prog=$1 symbolize=$2 run=$3
src=$(dirname "$0")/leak_program.c
failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsheap-leaks-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
for v in $(env | sed -n 's/^\(WSHEAP_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
has() { # has FILE TEXT
  grep -qF -- "$2" "$1" || fail "$(basename "$1") lacks '$2':
$(cat "$1")"
}
lacks() {
  if grep -qF -- "$2" "$1"; then
    fail "$(basename "$1") has '$2':
$(cat "$1")"
  fi
}
# go WANT_STATUS NAME [VAR=VALUE...] -- ARGS: runs the program with those variables.
go() {
  want=$1 name=$2
  shift 2
  vars=
  while [ "$1" != -- ]; do
    vars="$vars $1"
    shift
  done
  shift
  env $vars "$prog" "$@" >"$tmp/$name.out" 2>"$tmp/$name.raw"
  got=$?
  # Every line of wsheap's carries the pid, "==wsheap==<pid>== "; the checks read it without.
  if grep -q '^==wsheap== ' "$tmp/$name.raw"; then fail "$name: a line without the pid"; fi
  sed -E 's/==wsheap==[0-9]+==/==wsheap==/g' "$tmp/$name.raw" >"$tmp/$name.err"
  [ "$got" -eq "$want" ] || fail "$name: status $got, want $want: $(cat "$tmp/$name.err")"
}
session_line=$(grep -n 'SESSION_LINE' "$src" | cut -d: -f1)

# The report: the two heaps never freed, with sizes, names, the site's stack; nothing else.
go 0 leak WSHEAP_LEAKS=1 -- leak
has "$tmp/leak.out" "leak_program: done"
has "$tmp/leak.err" "==wsheap== LEAK: 2 heaps never freed, holding 768 bytes (WSHEAP_LEAKS=1), pid "
has "$tmp/leak.err" "==wsheap== site 1: 2 heaps never freed, holding 768 bytes"
has "$tmp/leak.err" "\"session-0\" (arena): maxSize 65536, trimSize 4096, REQUESTED_SIZE 300, ACTUAL_SIZE 384, 1 reset, created by thread "
has "$tmp/leak.err" "\"session-2\" (arena)"
lacks "$tmp/leak.err" "session-1"
lacks "$tmp/leak.err" "temporary"
has "$tmp/leak.err" "==wsheap==   created at:"
grep -q "^  #0 0x[0-9a-f]* in make_session .*leak_program.c:$session_line (.*leak_program+0x[0-9a-f]*)$" "$tmp/leak.err" ||
  fail "frame #0 is not make_session at leak_program.c:$session_line: $(cat "$tmp/leak.err")"
grep -q "^  #1 0x[0-9a-f]* in main .*leak_program.c:[0-9]* (" "$tmp/leak.err" || fail "frame #1 is not main"
has "$tmp/leak.err" "==wsheap== END leak report"

# The exit status: left alone, unless WSHEAP_LEAKS_EXITCODE asks (stdout is flushed first).
go 23 exitcode WSHEAP_LEAKS=1 WSHEAP_LEAKS_EXITCODE=23 WSHEAP_SYMBOLIZE=0 -- leak
has "$tmp/exitcode.out" "leak_program: done"
has "$tmp/exitcode.err" "LEAK: 2 heaps never freed"
go 0 noleak WSHEAP_LEAKS=1 WSHEAP_LEAKS_EXITCODE=23 -- none
lacks "$tmp/noleak.err" "LEAK"
# An atexit handler registered before the heaps runs before the report: nothing leaks.
go 0 atexit WSHEAP_LEAKS=1 WSHEAP_LEAKS_EXITCODE=23 -- atexit
lacks "$tmp/atexit.err" "LEAK"

# Defaults: off with the arena, on with the guarded backend; WSHEAP_LEAKS=0 turns it off.
go 0 default -- leak
[ -s "$tmp/default.err" ] && fail "arena default printed: $(cat "$tmp/default.err")"
go 0 off WSHEAP_LEAKS=0 -- leak
lacks "$tmp/off.err" "LEAK"
go 0 guarded WSHEAP_PAGEHEAP=1 WSHEAP_SYMBOLIZE=0 -- leak
has "$tmp/guarded.err" "LEAK: 2 heaps never freed"
has "$tmp/guarded.err" "\"session-0\" (guarded): maxSize 65536, trimSize 4096, REQUESTED_SIZE 300"
go 0 guarded_off WSHEAP_PAGEHEAP=1 WSHEAP_LEAKS=0 -- leak
lacks "$tmp/guarded_off.err" "LEAK"

# The statistics at exit: both sites, live heaps, names from freed and live heaps.
go 0 stats WSHEAP_STATS=1 WSHEAP_SYMBOLIZE=0 -- leak
has "$tmp/stats.err" "==wsheap== heap statistics by creation site (WSHEAP_STATS=1), pid "
has "$tmp/stats.err" ": 2 sites, 4 heaps created, 2 live"
grep -q '^==wsheap==    1      3     2          6       3 .*  session-1 \.\.\.$' "$tmp/stats.err" ||
  fail "no row for site 1: $(cat "$tmp/stats.err")"
grep -q '^==wsheap==    2      1     0          1       0 .*  temporary$' "$tmp/stats.err" ||
  fail "no row for site 2: $(cat "$tmp/stats.err")"
grep -q '^==wsheap== site 1: heaps "session-1", "session-[02]", "session-[02]" (arena), created with maxSize 65536, trimSize 4096$' "$tmp/stats.err" ||
  fail "site 1's names: $(cat "$tmp/stats.err")"
lacks "$tmp/stats.err" "LEAK" # statistics alone do not report leaks
has "$tmp/stats.err" "==wsheap== END heap statistics"

# Heap names are shown escaped in the leak report and the statistics: a name cannot forge a
# "==wsheap==" line, nor send an escape sequence to the terminal.
go 0 forge WSHEAP_LEAKS=1 WSHEAP_STATS=1 WSHEAP_SYMBOLIZE=0 -- forge
has "$tmp/forge.err" 'LEAK: 1 heap never freed'
grep -q '^==wsheap==   heap 0x[0-9a-f]* "evil\\n==wsheap== ERROR: forged\\x1b\[31m" (arena)' "$tmp/forge.err" ||
  fail "the leaked heap's name is not shown escaped: $(cat "$tmp/forge.err")"
grep -q '^==wsheap== site [0-9]*: heaps "evil\\n==wsheap== ERROR: forged\\x1b\[31m"' "$tmp/forge.err" ||
  fail "the site's name is not shown escaped: $(cat "$tmp/forge.err")"
if grep -q '^==wsheap== ERROR: forged' "$tmp/forge.err"; then
  fail "a heap name forged a line: $(cat "$tmp/forge.err")"
fi
if LC_ALL=C grep -q "$(printf '\033')" "$tmp/forge.err"; then
  fail "an ESC byte reached the report: $(cat -v "$tmp/forge.err")"
fi

# Raw frames (WSHEAP_SYMBOLIZE=0) put through wsheap-symbolize read as the library's own.
go 0 raw WSHEAP_LEAKS=1 WSHEAP_STATS=1 WSHEAP_SYMBOLIZE=0 -- leak
lacks "$tmp/raw.err" " in make_session"
go 0 cooked WSHEAP_LEAKS=1 WSHEAP_STATS=1 WSHEAP_SYMBOLIZE=1 -- leak
sh "$symbolize" "$tmp/raw.err" >"$tmp/raw.sym"
normalize() { sed -E 's/0x[0-9a-f]+/0xN/g; s/pid [0-9]+/pid N/; s/thread [0-9]+/thread N/' "$1"; }
normalize "$tmp/raw.sym" >"$tmp/a"
normalize "$tmp/cooked.err" >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || fail "wsheap-symbolize differs from the library's symbolization:
$(diff "$tmp/a" "$tmp/b")"
has "$tmp/raw.sym" " in make_session "

# Through wsheap-run.
"$run" --leaks --leaks-exitcode 7 --no-symbolize -- "$prog" leak >"$tmp/run.out" 2>"$tmp/run.err"
[ $? -eq 7 ] || fail "wsheap-run --leaks-exitcode 7: wrong status: $(cat "$tmp/run.err")"
has "$tmp/run.err" "LEAK: 2 heaps never freed"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "leak report: all checks passed"
