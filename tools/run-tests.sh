#!/bin/sh
# Builds and runs wsheap's whole test suite in every mode, as CI does:
#   dev       Debug build, -Werror: every test (unit, death, install, threads, demo)
#   asan      AddressSanitizer + UBSan build: every test
#   valgrind  the dev build's non-death tests under valgrind memcheck (zero errors, zero leaks)
#   tsan      ThreadSanitizer build: the threaded tests
#   fuzz      clang libFuzzer + ASan + UBSan build: tests/fuzz/fuzz_api for WSHEAP_FUZZ_SECONDS
#             (default 60) on each of the tracked arena, the untracked arena and the guarded
#             backend, starting from tests/fuzz/corpus
# Every mode runs even when an earlier one failed, so that one environment problem hides
# nothing; a table (mode, result, seconds) ends the run, and the exit status is 1 when any mode
# failed.
# Usage: tools/run-tests.sh [MODE...]   (default: all modes, in that order)
set -u
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
modes=${*:-dev asan valgrind tsan fuzz}

# Runs one mode; its exit status is the mode's result.
run_mode() {
  case $1 in
  dev | asan | tsan)
    cmake --preset "$1" >/dev/null &&
      cmake --build --preset "$1" -j "$jobs" &&
      ctest --preset "$1" -j "$jobs"
    ;;
  valgrind)
    cmake --preset valgrind >/dev/null &&
      cmake --build --preset valgrind -j "$jobs" &&
      (cd build/valgrind && ctest -T memcheck -LE 'death|install|script|bench' -j "$jobs" \
        --output-on-failure)
    ;;
  fuzz)
    cmake --preset fuzz >/dev/null && cmake --build --preset fuzz -j "$jobs" || return 1
    # New inputs go to a scratch corpus; the repository's corpus is read only. A crash leaves
    # its input in build/fuzz/ (keep it in tests/fuzz/corpus once fixed).
    for target in arena untracked guarded; do
      pageheap=0 untracked=0
      [ "$target" = guarded ] && pageheap=1
      [ "$target" = untracked ] && untracked=1
      mkdir -p "build/fuzz/corpus-$target"
      echo "--- fuzzing: $target ---"
      WSHEAP_PAGEHEAP=$pageheap WSHEAP_FUZZ_UNTRACKED=$untracked build/fuzz/tests/fuzz_api \
        -max_total_time="${WSHEAP_FUZZ_SECONDS:-60}" -print_final_stats=1 \
        -artifact_prefix=build/fuzz/ "build/fuzz/corpus-$target" tests/fuzz/corpus || return 1
    done
    ;;
  *)
    echo "run-tests.sh: unknown mode '$1' (dev, asan, valgrind, tsan, fuzz)" >&2
    return 2
    ;;
  esac
}

table=""
failed=0
for mode in $modes; do
  echo "=== wsheap tests: $mode ==="
  start=$(date +%s)
  if run_mode "$mode"; then result=passed; else result=FAILED failed=$((failed + 1)); fi
  seconds=$(($(date +%s) - start))
  echo "=== wsheap tests: $mode $result in ${seconds}s ==="
  table="$table$(printf '%-10s %-8s %6s' "$mode" "$result" "$seconds")
"
done

echo
echo "=== wsheap tests: summary ==="
printf '%-10s %-8s %6s\n' mode result seconds
printf '%s' "$table"
count=$(echo $modes | wc -w)
echo "modes: $((count - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
