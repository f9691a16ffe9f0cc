#!/bin/sh
# An ASan application against a libwsheap built without sanitizers, as users run their tests
# against the library their distribution ships: tests/tools/asan_consumer.c is built with
# `gcc -fsanitize=address` and `clang -fsanitize=address` (each skipped, saying why, when the
# compiler or its ASan runtime is missing), linked to each library given (libwsheap.so and/or
# libwsheap.a), and must get ASan's report of a one-byte overrun and of a use after reset with
# wsheap's description of the block and its allocating function, and the poisoning that the
# ASan build of the library makes (tests/test_track.c).
# Usage: SCRIPT SOURCE_DIR LIBRARY_FILE...   Exit status 77: no compiler here can build for ASan.
set -u
src=$1
shift
failures=0 builds=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsheap-asan-consumer.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
for v in $(env | sed -n 's/^\(WSHEAP_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
export ASAN_OPTIONS=abort_on_error=0:detect_leaks=0

# expect NAME FILE TEXT: FILE contains TEXT.
expect() {
  grep -qF -- "$3" "$2" || fail "$1: no \"$3\" in its output:
$(cat "$2")"
}

# run_case NAME PROGRAM: the program's three modes.
run_case() {
  name=$1 program=$2
  "$program" layout >"$tmp/out" 2>&1 || fail "$name layout: exit status $?:
$(cat "$tmp/out")"

  "$program" overrun >"$tmp/out" 2>&1
  [ $? -ne 0 ] || fail "$name overrun: exit status 0 (ASan saw nothing)"
  expect "$name overrun" "$tmp/out" "ERROR: AddressSanitizer: use-after-poison"
  expect "$name overrun" "$tmp/out" "READ of size 1"
  expect "$name overrun" "$tmp/out" "is 0 bytes after the 13-byte block at"
  expect "$name overrun" "$tmp/out" "\"requests\" (arena backend)"
  # The allocating function, in wsheap's lines (ASan's own name only the chunk's allocation).
  sed -n '/^wsheap: allocated by thread/,$p' "$tmp/out" >"$tmp/alloc"
  expect "$name overrun, wsheap's allocation stack" "$tmp/alloc" " in make_message "

  "$program" use-after-reset >"$tmp/out" 2>&1
  [ $? -ne 0 ] || fail "$name use-after-reset: exit status 0 (ASan saw nothing)"
  expect "$name use-after-reset" "$tmp/out" "ERROR: AddressSanitizer: use-after-poison"
  expect "$name use-after-reset" "$tmp/out" "is 0 bytes inside the 13-byte block"
  expect "$name use-after-reset" "$tmp/out" "released by reset #1 (WsResetHeap): a stale pointer"
}

for cc in gcc clang; do
  if ! command -v "$cc" >/dev/null 2>&1; then
    echo "SKIP $cc: not installed"
    continue
  fi
  echo 'int main(void) { return 0; }' >"$tmp/probe.c"
  if ! "$cc" -fsanitize=address "$tmp/probe.c" -o "$tmp/probe" >"$tmp/cc.err" 2>&1 ||
    ! "$tmp/probe" >>"$tmp/cc.err" 2>&1; then
    echo "SKIP $cc: cannot build or run an ASan program (its ASan runtime is missing?):"
    sed 's/^/    /' "$tmp/cc.err"
    continue
  fi
  for lib in "$@"; do
    case $lib in
    *.a) kind=static extra="-lunwind -lpthread" ;;
    *) kind=shared extra="-Wl,-rpath,$(dirname "$lib")" ;;
    esac
    program=$tmp/consumer-$cc-$kind
    if ! "$cc" -g -O1 -fsanitize=address -fno-omit-frame-pointer -Wall -Wextra -Werror \
      -I"$src/include" "$src/tests/tools/asan_consumer.c" "$lib" $extra -o "$program" \
      2>"$tmp/cc.err"; then
      fail "$cc, $kind: asan_consumer.c does not build: $(cat "$tmp/cc.err")"
      continue
    fi
    builds=$((builds + 1))
    run_case "$cc, $kind ($lib)" "$program"
  done
done

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
if [ "$builds" -eq 0 ]; then
  echo "SKIP: no compiler here builds ASan programs"
  exit 77
fi
echo "asan consumers: all $builds programs report arena bugs"
