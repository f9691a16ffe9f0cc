#!/bin/sh
# SPDX-License-Identifier: MIT
# callgrind.sh: instructions per allocation (Ir/alloc; W4: per heap) of wsheap-bench workloads,
# the exact, noise-free gate of performance.md. Runs `wsheap-bench --callgrind-mode` under
# valgrind --tool=callgrind twice, with R and 2R rounds, and divides the difference in total Ir
# by the difference in allocations, so start-up, the first round's growth and exit cancel out.
#
# Usage: tools/bench/callgrind.sh [-b BENCH] [-w "W1 W2"] [-k "floor-inline ... wsheap"]
#   -b  the wsheap-bench binary (default: build/bench/tools/bench/wsheap-bench)
#   -w  workloads among W1 W2 W3 W4 W1K10 (default: W1 W2)
#   -k  backends (default: floor-inline floor-call floor-so wsheap)
# Prints one line per (workload, backend): Ir per allocation, harness included.
set -eu

bench=build/bench/tools/bench/wsheap-bench
workloads="W1 W2"
backends="floor-inline floor-call floor-so wsheap"
while getopts b:w:k:h opt; do
    case $opt in
    b) bench=$OPTARG ;;
    w) workloads=$OPTARG ;;
    k) backends=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
    esac
done
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not found" >&2; exit 1; }
[ -x "$bench" ] || { echo "callgrind.sh: $bench not built" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Rounds per workload: R and 2R, whole passes over the size table (64 rows for W1).
rounds() {
    case $1 in
    W1) echo 128 ;;
    W2) echo 4 ;;
    W3) echo 1024 ;;
    W4) echo 4 ;;
    W1K10) echo 4096 ;;
    *) echo "callgrind.sh: unknown workload $1" >&2; exit 2 ;;
    esac
}

# run WORKLOAD BACKEND ROUNDS -> "IR ALLOCATIONS"
run() {
    out=$tmp/cg.$1.$2.$3
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --callgrind-mode \
        --only="$1" --backends="$2" --rounds="$3" >"$out.stdout" 2>"$out.stderr" || {
        echo "callgrind.sh: $1 $2 failed:" >&2
        tail -3 "$out.stderr" >&2
        return 1
    }
    ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p; s/^totals: \([0-9]*\).*/\1/p' "$out" | head -1)
    allocs=$(sed -n 's/.* units=\([0-9]*\).*/\1/p' "$out.stdout")
    echo "$ir $allocs"
}

printf '%-7s %-15s %12s %14s\n' workload backend "Ir/alloc" "(units)"
for w in $workloads; do
    r=$(rounds "$w")
    for b in $backends; do
        if ! one=$(run "$w" "$b" "$r") || ! two=$(run "$w" "$b" $((2 * r))); then
            printf '%-7s %-15s %12s\n' "$w" "$b" "failed"
            continue
        fi
        set -- $one $two
        awk -v w="$w" -v b="$b" -v i1="$1" -v a1="$2" -v i2="$3" -v a2="$4" 'BEGIN {
            printf "%-7s %-15s %12.2f %14d\n", w, b, (i2 - i1) / (a2 - a1), a2 - a1
        }'
    done
done
