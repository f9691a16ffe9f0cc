#!/bin/sh
# Keeps the examples in docs/ true: the C program in docs/porting.md is compiled against the
# built library and its output compared with the output shown; the statistics and leak report
# in docs/statistics.md are compared, line by line for the ==wsheap== lines, with a fresh run of
# tests/tools/leak_program (pids, thread ids and heap addresses aside).
# Usage: SCRIPT SOURCE_DIR LIBRARY_FILE LEAK_PROGRAM
# CC may name the compiler; CONSUMER_FLAGS (e.g. -fsanitize=address) is added to its command.
set -u
src=$1 lib=$2 leak_program=$3
failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsheap-doc-examples.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
for v in $(env | sed -n 's/^\(WSHEAP_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done

# block FILE MARKER: the fenced block that follows the line "<!-- MARKER -->".
block() {
  awk -v m="<!-- $2 -->" '$0 == m { want = 1; next }
    want && /^```/ { if (on) exit; on = 1; next }
    on { print }' "$1"
}

# 1. docs/porting.md: the ACTUAL_SIZE program.
block "$src/docs/porting.md" "example: porting-actual-size" >"$tmp/actual.c"
block "$src/docs/porting.md" "output: porting-actual-size" >"$tmp/want"
[ -s "$tmp/actual.c" ] && [ -s "$tmp/want" ] || fail "porting.md: example or output block not found"
libdir=$(dirname "$lib")
extra=
case $lib in *.a) extra="-lunwind -lpthread" ;; esac
if ${CC:-cc} -std=c11 -Wall -Wextra -Werror ${CONSUMER_FLAGS:-} -I"$src/include" "$tmp/actual.c" \
  "$lib" $extra -o "$tmp/actual" 2>"$tmp/cc.err"; then
  LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/actual" >"$tmp/got"
  cmp -s "$tmp/want" "$tmp/got" || fail "porting.md: the program's output changed:
$(diff "$tmp/want" "$tmp/got")"
else
  fail "porting.md: the example does not compile: $(cat "$tmp/cc.err")"
fi

# 2. docs/statistics.md: the statistics and leak report of leak_program.
normalize() {
  grep '^==wsheap==' "$1" | sed -E 's/^==wsheap==[0-9]+==/==wsheap==/; s/pid [0-9]+/pid N/; s/thread [0-9]+/thread N/; s/heap 0x[0-9a-f]+/heap 0xN/'
}
block "$src/docs/statistics.md" "example: WSHEAP_STATS=1 WSHEAP_LEAKS=1 leak_program leak" >"$tmp/doc"
[ "$(grep -c '^==wsheap==' "$tmp/doc")" -ge 20 ] || fail "statistics.md: example block not found"
env WSHEAP_STATS=1 WSHEAP_LEAKS=1 "$leak_program" leak 2>"$tmp/run" >/dev/null
normalize "$tmp/doc" >"$tmp/a"
normalize "$tmp/run" >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || fail "statistics.md: the report changed:
$(diff "$tmp/a" "$tmp/b")"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "docs examples: as shown"
