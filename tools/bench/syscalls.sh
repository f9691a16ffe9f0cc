#!/bin/sh
# SPDX-License-Identifier: MIT
# syscalls.sh: system calls per round in steady state, counted with strace. Runs
# `wsheap-bench --callgrind-mode` (one workload, one backend, in one process) under `strace -f -c`
# with R and 2R rounds and prints (calls(2R) - calls(R)) / R for every system call that differs,
# so start-up and the first rounds' growth cancel out. Target (performance.md): W3 with trimSize
# covering a round makes no mmap/munmap/brk per round.
#
# Usage: tools/bench/syscalls.sh [-b BENCH] [-w "W3 W1"] [-k "wsheap apr"] [-r ROUNDS] [-- BENCH-OPTIONS]
#   -b  the wsheap-bench binary (default: build/bench/tools/bench/wsheap-bench)
#   -w  workloads among W1 W2 W3 W4 W1K10 (default: W3 W1)
#   -k  backends (default: wsheap)
#   -r  R (default 512; 2R rounds are run too)
#   options after -- go to wsheap-bench, e.g. -- --trim-size=0 to see a heap that trims
set -eu

bench=build/bench/tools/bench/wsheap-bench
workloads="W3 W1"
backends="wsheap"
rounds=512
while getopts b:w:k:r:h opt; do
    case $opt in
    b) bench=$OPTARG ;;
    w) workloads=$OPTARG ;;
    k) backends=$OPTARG ;;
    r) rounds=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
command -v strace >/dev/null || { echo "syscalls.sh: strace not found" >&2; exit 1; }
[ -x "$bench" ] || { echo "syscalls.sh: $bench not built" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# count WORKLOAD BACKEND ROUNDS [bench options] -> "name calls" lines
count() {
    w=$1 b=$2 r=$3
    shift 3
    out=$tmp/st.$w.$b.$r
    strace -f -c -o "$out" "$bench" --callgrind-mode --only="$w" --backends="$b" --rounds="$r" \
        "$@" >"$out.stdout" 2>"$out.stderr" || {
        echo "syscalls.sh: $w $b failed:" >&2
        tail -3 "$out.stderr" >&2
        return 1
    }
    # strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall
    awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $NF, $4 }' "$out"
}

for w in $workloads; do
    for b in $backends; do
        one=$(count "$w" "$b" "$rounds" "$@") || continue
        two=$(count "$w" "$b" $((2 * rounds)) "$@") || continue
        printf '%s %s, %s rounds vs %s: system calls per round in steady state\n' \
            "$w" "$b" "$rounds" $((2 * rounds))
        printf '%s\n--\n%s\n' "$one" "$two" | awk -v r="$rounds" '
            /^--$/ { second = 1; next }
            !second { a[$1] = $2; names[$1] = 1; next }
            { c[$1] = $2; names[$1] = 1 }
            END {
                split("mmap munmap brk mremap madvise mprotect", key, " ")
                for (i = 1; i <= 6; i++) {
                    n = key[i]
                    printf "  %-10s %8.3f\n", n, (c[n] - a[n]) / r
                    seen[n] = 1
                }
                other = 0
                for (n in names)
                    if (!(n in seen) && c[n] != a[n]) {
                        printf "  %-10s %8.3f\n", n, (c[n] - a[n]) / r
                        other = 1
                    }
            }'
    done
done
