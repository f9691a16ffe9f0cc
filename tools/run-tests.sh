#!/bin/sh
# Builds and runs wsheap's whole test suite in every mode, as CI does:
#   dev       Debug build, -Werror: every test (unit, death, install, threads, demo)
#   asan      AddressSanitizer + UBSan build: every test
#   valgrind  the dev build's non-death tests under valgrind memcheck (zero errors, zero leaks)
#   tsan      ThreadSanitizer build: the threaded tests
# Usage: tools/run-tests.sh [MODE...]   (default: all modes, in that order)
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
modes=${*:-dev asan valgrind}

for mode in $modes; do
  echo "=== wsheap tests: $mode ==="
  case $mode in
  dev | asan | tsan)
    cmake --preset "$mode" >/dev/null
    cmake --build --preset "$mode" -j "$jobs"
    ctest --preset "$mode" -j "$jobs"
    ;;
  valgrind)
    cmake --preset valgrind >/dev/null
    cmake --build --preset valgrind -j "$jobs"
    (cd build/valgrind && ctest -T memcheck -LE 'death|install' -j "$jobs" --output-on-failure)
    ;;
  *)
    echo "run-tests.sh: unknown mode '$mode' (dev, asan, valgrind, tsan)" >&2
    exit 2
    ;;
  esac
done
echo "=== wsheap tests: all modes passed ($modes) ==="
