#!/bin/sh
# SPDX-License-Identifier: MIT
# callgrind.sh: instructions per allocation (Ir/alloc; W4: per heap) of wsheap-bench workloads,
# the exact, noise-free measure the performance targets are stated in; with -s, system calls
# per round instead. Runs `wsheap-bench --callgrind-mode` (one workload, one backend, in one
# process) twice, with R and 2R rounds, under valgrind --tool=callgrind (or strace -f -c) and
# divides the difference by the difference in allocations (or rounds), so start-up, the first
# round's growth and exit cancel out.
#
# Usage: tools/bench/callgrind.sh [-s] [-b BENCH] [-w "W1 W2"] [-k "floor-inline wsheap"] [-r R] [-- BENCH-OPTIONS]
#   -s  count system calls per round with strace (every call that differs, mmap & co. always)
#   -b  the wsheap-bench binary (default: build/bench/tools/bench/wsheap-bench)
#   -w  workloads among W1 W2 W3 W4 W1K10 G (default: W1 W2; -s: W3 W1)
#   -k  backends (default: floor-inline wsheap wsheap-inline; -s: wsheap); the guarded rows
#       need their environment (wsheap-bench --list), e.g. WSHEAP_PAGEHEAP=1 callgrind.sh ...
#   -r  R (default: whole passes over the size table; -s: 512)
#   options after -- go to wsheap-bench, e.g. -- --trim-size=0 or -- --guarded-n=30000
set -eu

bench=build/bench/tools/bench/wsheap-bench
mode=ir workloads= backends= r=
while getopts sb:w:k:r:h opt; do
    case $opt in
    s) mode=syscalls ;;
    b) bench=$OPTARG ;;
    w) workloads=$OPTARG ;;
    k) backends=$OPTARG ;;
    r) r=$OPTARG ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $mode = ir ]; then
    tool=valgrind
    : "${workloads:=W1 W2}" "${backends:=floor-inline wsheap wsheap-inline}"
else
    tool=strace
    : "${workloads:=W3 W1}" "${backends:=wsheap}" "${r:=512}"
fi
command -v $tool >/dev/null || { echo "callgrind.sh: $tool not found" >&2; exit 1; }
[ -x "$bench" ] || { echo "callgrind.sh: $bench not built" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Default R: whole passes over the size table (64 rows for W1), a few seconds under valgrind.
rounds() {
    case $1 in
    W1) echo 128 ;; W2 | W4 | G) echo 4 ;; W3) echo 1024 ;; W1K10) echo 4096 ;;
    *) echo "callgrind.sh: unknown workload $1" >&2; exit 2 ;;
    esac
}

# run WORKLOAD BACKEND ROUNDS [bench options]: Ir mode prints "IR UNITS"; syscalls mode prints
# "name calls" lines.
run() {
    w=$1 b=$2 n=$3
    shift 3
    out=$tmp/$w.$b.$n
    if [ $mode = ir ]; then
        set -- valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" "$@"
    else
        set -- strace -f -c -o "$out" "$bench" "$@"
    fi
    "$@" --callgrind-mode --only="$w" --backends="$b" --rounds="$n" >"$out.stdout" 2>"$out.stderr" || {
        echo "callgrind.sh: $w $b failed:" >&2
        tail -3 "$out.stderr" >&2
        return 1
    }
    if [ $mode = ir ]; then
        ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p; s/^totals: \([0-9]*\).*/\1/p' "$out" | head -1)
        echo "$ir $(sed -n 's/.* units=\([0-9]*\).*/\1/p' "$out.stdout")"
    else
        # strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall
        awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $NF, $4 }' "$out"
    fi
}

[ $mode = ir ] && printf '%-7s %-15s %12s %14s\n' workload backend "Ir/alloc" "(units)"
for w in $workloads; do
    n=${r:-$(rounds "$w")}
    for b in $backends; do
        if ! one=$(run "$w" "$b" "$n" "$@") || ! two=$(run "$w" "$b" $((2 * n)) "$@"); then
            printf '%-7s %-15s %12s\n' "$w" "$b" "failed"
        elif [ $mode = ir ]; then
            echo "$one $two" | awk -v w="$w" -v b="$b" '{
                printf "%-7s %-15s %12.2f %14d\n", w, b, ($3 - $1) / ($4 - $2), $4 - $2 }'
        else
            printf '%s %s, %s rounds vs %s: system calls per round in steady state\n' \
                "$w" "$b" "$n" $((2 * n))
            printf '%s\n--\n%s\n' "$one" "$two" | awk -v r="$n" '
                /^--$/ { second = 1; next }
                !second { a[$1] = $2; next }
                { c[$1] = $2 }
                END {
                    split("mmap munmap brk mremap madvise mprotect", key, " ")
                    for (i = 1; i <= 6; i++) { seen[key[i]] = 1; c[key[i]] += 0 }
                    for (i = 1; i <= 6; i++) printf "  %-16s %8.3f\n", key[i], (c[key[i]] - a[key[i]]) / r
                    for (k in c)
                        if (!(k in seen) && c[k] != a[k]) printf "  %-16s %8.3f\n", k, (c[k] - a[k]) / r
                }'
        fi
    done
done
