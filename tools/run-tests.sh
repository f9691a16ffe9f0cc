#!/bin/sh
# Builds and runs wsheap's whole test suite in every mode, as CI does:
#   dev       Debug build, -Werror: every test (unit, death, install, threads, demo)
#   asan      AddressSanitizer + UBSan build: every test
#   valgrind  the dev build's non-death tests under valgrind memcheck (zero errors, zero leaks)
#   tsan      ThreadSanitizer build: the threaded tests
#   fuzz      clang libFuzzer + ASan + UBSan build: tests/fuzz/fuzz_api for WSHEAP_FUZZ_SECONDS
#             (default 60) per backend, starting from tests/fuzz/corpus
# Usage: tools/run-tests.sh [MODE...]   (default: all modes, in that order)
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
modes=${*:-dev asan valgrind tsan fuzz}

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
    (cd build/valgrind && ctest -T memcheck -LE 'death|install|script|bench' -j "$jobs" --output-on-failure)
    ;;
  fuzz)
    cmake --preset fuzz >/dev/null
    cmake --build --preset fuzz -j "$jobs"
    for pageheap in 0 1; do
      # New inputs go to a scratch corpus; the repository's corpus is read only. A crash leaves
      # its input in build/fuzz/ (keep it in tests/fuzz/corpus once fixed).
      mkdir -p "build/fuzz/corpus-$pageheap"
      WSHEAP_PAGEHEAP=$pageheap build/fuzz/tests/fuzz_api -max_total_time="${WSHEAP_FUZZ_SECONDS:-60}" \
        -print_final_stats=1 -artifact_prefix=build/fuzz/ "build/fuzz/corpus-$pageheap" tests/fuzz/corpus
    done
    ;;
  *)
    echo "run-tests.sh: unknown mode '$mode' (dev, asan, valgrind, tsan, fuzz)" >&2
    exit 2
    ;;
  esac
done
echo "=== wsheap tests: all modes passed ($modes) ==="
