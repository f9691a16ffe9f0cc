#!/bin/sh
# SPDX-License-Identifier: MIT
# Tests of the gdb extension (tools/gdb/wsheap.py, docs/debugging.md) against gdb_target's
# guarded heaps, reading memory only:
#   kernel core  gdb_target's overrun dies by SIGSEGV and the kernel writes a core (where
#                core_pattern is a file name and ulimit -c can be raised; otherwise it says why
#                and goes on): `wsheap report`, `wsheap describe`, `wsheap heaps` on it
#   gcore        gdb_target's use-after-reset under gdb: gdb passes the fault to wsheap's
#                handler, stops at the fatal second SIGSEGV and takes a core with gcore; the
#                same commands on it (gcore cannot copy spans with MADV_GUARD_INSTALL guard
#                pages: then the report, and that the spans are said to be missing); and the
#                same with gdb_target_noadvice, whose PROT_NONE guards gcore copies around
#   live         gdb_target stopped at a breakpoint: the same commands on the live process
#   strip-*      the live session with copies of the library made by objcopy --strip-debug (as
#                Release builds and packages are) and --strip-all (dynamic symbols only)
#   static       the live session with gdb_target linked to libwsheap.a (when given)
#   auto-load    gdb loads the extension itself with the library (add-auto-load-safe-path)
#   mismatch     an anchor of another format version, and one with a damaged magic, are refused
# Each description must equal the program's own wsheap_describe_address text for the same
# address once the function names gdb adds are taken out; each rebuilt report's lines must be
# those of the report the program wrote on stderr. Exits 77 (skipped), saying why, only when gdb
# or its Python support is missing or gdb cannot run a program here (ptrace not permitted).
# $WSHEAP_TEST_GDB names the gdb to run, as for test_track (default gdb).
# Usage: SCRIPT SOURCE_DIR GDB_TARGET LIBRARY WORK_DIR GDB_TARGET_NOADVICE [GDB_TARGET_STATIC]
set -u
src=$1 target=$2 lib=$3 work=$4 noadvice_target=$5 static_target=${6:-}
gdb=${WSHEAP_TEST_GDB:-gdb}
ext=$src/tools/gdb/wsheap.py
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
note() {
  echo "NOTE: $*"
}
rm -rf "$work"
mkdir -p "$work" || exit 1

# --- Probes: gdb, its Python, and ptrace ---------------------------------------------------------
if ! command -v "$gdb" >/dev/null 2>&1; then
  echo "SKIP: $gdb is not installed (apt-get install gdb)"
  exit 77
fi
"$gdb" -batch -nx -ex 'python print("wsheap-python-" + "ok")' >"$work/probe" 2>&1
if ! grep -q "wsheap-python-ok" "$work/probe"; then
  echo "SKIP: $gdb has no Python support: $(head -n 1 "$work/probe")"
  exit 77
fi
"$gdb" -batch -nx -ex 'set environment WSHEAP_PAGEHEAP=1' -ex 'break gdb_target_stop' -ex run \
  --args "$target" stop >"$work/probe" 2>&1
if ! grep -q "Breakpoint 1, gdb_target_stop" "$work/probe"; then
  echo "SKIP: $gdb cannot run a program here (ptrace not permitted?): $(grep -i -m 1 'rror\|ptrace\|denied' "$work/probe")"
  exit 77
fi

# --- Helpers -------------------------------------------------------------------------------------

# gdb_batch OUT ARGS...: gdb in batch mode with the extension loaded; output in OUT.
gdb_batch() {
  out=$1
  shift
  "$gdb" -batch -nx -ex "source $ext" "$@" >"$out" 2>&1
}

# section FILE NAME: the lines between "GDB NAME BEGIN" and "GDB NAME END" (echoed by the
# session around each command).
section() {
  sed -n "/^GDB $2 BEGIN\$/,/^GDB $2 END\$/p" "$1" | sed '1d;$d'
}

# unnamed: the extension's frame lines without the " in FUNCTION FILE:LINE" gdb adds.
unnamed() {
  sed 's/^\( *#[0-9][0-9]* 0x[0-9a-f]*\) in .* (\([^()]*\))$/\1 (\2)/'
}

# normalized: report lines with the pid taken out of the prefix.
normalized() {
  sed 's/^==wsheap==[0-9]*== /==wsheap== /'
}

# check_describe FILE NAME PROGRAM_OUTPUT: the extension's description of NAME in FILE (section
# NAME) equals the program's own (DESCRIBE NAME ... in PROGRAM_OUTPUT), names taken out, and
# gdb named the frames.
check_describe() {
  section "$1" "$2" >"$work/ext.txt"
  sed -n "/^DESCRIBE $2 BEGIN\$/,/^DESCRIBE $2 END\$/p" "$3" | sed '1d;$d' >"$work/own.txt"
  if [ ! -s "$work/own.txt" ]; then
    fail "$4: the program printed no description of $2"
    return
  fi
  unnamed <"$work/ext.txt" >"$work/ext-unnamed.txt"
  if ! cmp -s "$work/ext-unnamed.txt" "$work/own.txt"; then
    fail "$4: wsheap describe of $2 differs from wsheap_describe_address:
$(diff "$work/own.txt" "$work/ext-unnamed.txt")"
  fi
  grep -q "^    #[0-9]* 0x[0-9a-f]* in " "$work/ext.txt" || fail "$4: describe $2 named no frame"
}

# check_report FILE STDERR WHAT: the rebuilt report (section report of FILE) has every line of
# the report the program wrote (in STDERR), pid and gdb's names taken out; and names frames.
check_report() {
  section "$1" report >"$work/ext.txt"
  unnamed <"$work/ext.txt" | normalized | sed -n '/ERROR: /,/ END$/p' >"$work/ext-report.txt"
  normalized <"$2" | sed -n '/ERROR: /,/ END$/p' >"$work/own-report.txt"
  if [ ! -s "$work/own-report.txt" ]; then
    fail "$3: the program wrote no report: $(cat "$2")"
    return
  fi
  if [ ! -s "$work/ext-report.txt" ]; then
    fail "$3: wsheap report printed no report: $(cat "$work/ext.txt")"
    return
  fi
  # Every line the extension rebuilt is in the program's report, in order.
  if ! awk 'BEGIN { n = 0; i = 0 } NR == FNR { own[n++] = $0; next } { while (i < n && own[i] != $0) i++;
            if (i == n) { print "not in the report: " $0; bad = 1; exit } i++ }
            END { exit bad }' "$work/own-report.txt" "$work/ext-report.txt" >"$work/why"; then
    fail "$3: the rebuilt report differs from the program's: $(cat "$work/why")
--- program:
$(cat "$work/own-report.txt")
--- rebuilt:
$(cat "$work/ext-report.txt")"
  fi
  # And it is the whole report: as many stack lines and sections as the program's.
  own_n=$(grep -c '==wsheap== \|^  #' "$work/own-report.txt")
  ext_n=$(grep -c '==wsheap== \|^  #' "$work/ext-report.txt")
  [ "$own_n" = "$ext_n" ] || fail "$3: the rebuilt report has $ext_n lines, the program's $own_n"
}

# expect FILE REGEX WHAT
expect() {
  grep -q -- "$2" "$1" || fail "$3: no line matching '$2' in:
$(cat "$1")"
}

# The commands run on every core and live session, each between markers.
set -- -ex 'echo GDB report BEGIN\n' -ex 'wsheap report' -ex 'echo GDB report END\n' \
  -ex 'echo GDB heaps BEGIN\n' -ex 'wsheap heaps' -ex 'echo GDB heaps END\n' \
  -ex 'echo GDB inside BEGIN\n' -ex 'wsheap describe gdb_target_inside' -ex 'echo GDB inside END\n' \
  -ex 'echo GDB past BEGIN\n' -ex 'wsheap describe gdb_target_past' -ex 'echo GDB past END\n' \
  -ex 'echo GDB stale BEGIN\n' -ex 'wsheap describe gdb_target_stale' -ex 'echo GDB stale END\n'

# check_heaps FILE WHAT: both heaps with their live blocks, bytes and resets.
check_heaps() {
  section "$1" heaps >"$work/heaps.txt"
  expect "$work/heaps.txt" '2 guarded heaps in wsheap.s records (2 live' "$2"
  expect "$work/heaps.txt" '"requests" *guarded *live *2 *113 *1 ' "$2"
  expect "$work/heaps.txt" '"scratch" *guarded *live *2 *4024 *0 ' "$2"
}

# --- The kernel's core of an overrun ------------------------------------------------------------
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo "?")
mkdir -p "$work/kcore"
kcore=""
case $pattern in
"|"*)
  note "the kernel's cores go to a program here (core_pattern '$pattern', a crash daemon):" \
    "no kernel core to read; gcore's core below stands in for it"
  ;;
*/*)
  note "the kernel writes cores into another directory here (core_pattern '$pattern'): the" \
    "kernel-core part is left out; gcore's core below stands in for it"
  ;;
*)
  if [ "$(ulimit -H -c)" = 0 ]; then
    note "the hard core-size limit is 0 here (ulimit -H -c): no kernel core; gcore's core" \
      "below stands in for it"
    pattern="|"
  fi
  ;;
esac
case $pattern in
"|"* | */*) ;;
*)
  (
    cd "$work/kcore" || exit 1
    ulimit -c "$(ulimit -H -c)" 2>/dev/null
    WSHEAP_PAGEHEAP=1 WSHEAP_SYMBOLIZE=0 exec "$target" overrun >stdout 2>stderr
  )
  status=$?
  [ "$status" -eq 139 ] || fail "kernel core: gdb_target overrun exited with $status, not by SIGSEGV"
  kcore=$(ls -t "$work/kcore" | grep -v '^std' | head -n 1)
  if [ -z "$kcore" ]; then
    note "no kernel core appeared (core_pattern '$pattern', ulimit -H -c $(ulimit -H -c)):" \
      "the kernel-core part is skipped; gcore's core below stands in for it"
  fi
  ;;
esac
if [ -n "${kcore:-}" ]; then
  gdb_batch "$work/kcore.gdb" "$@" "$target" "$work/kcore/$kcore"
  check_report "$work/kcore.gdb" "$work/kcore/stderr" "kernel core"
  expect "$work/kcore.gdb" "ERROR: heap-buffer-overflow WRITE at $(sed -n 's/^ADDR past //p' "$work/kcore/stdout")" "kernel core"
  expect "$work/kcore.gdb" "3 bytes to the right of a 13-byte block #1 from WsAlloc on heap 0x[0-9a-f]* \"requests\"" "kernel core"
  expect "$work/kcore.gdb" "^  #0 0x[0-9a-f]* in main .*gdb_target.c:" "kernel core (access stack)"
  expect "$work/kcore.gdb" "^SUMMARY: wsheap: heap-buffer-overflow .*gdb_target.c:[0-9]* in main\$" "kernel core"
  expect "$work/kcore.gdb" "^  #[0-9]* 0x[0-9a-f]* in make_message .*gdb_target.c:" "kernel core (allocation stack)"
  check_heaps "$work/kcore.gdb" "kernel core"
  for name in inside past stale; do
    check_describe "$work/kcore.gdb" $name "$work/kcore/stdout" "kernel core"
  done
  echo "kernel core: report, heaps and three descriptions checked ($kcore, $(du -k "$work/kcore/$kcore" | cut -f1) KiB)"
fi

# --- gcore at the fatal signal of a use-after-reset ---------------------------------------------
# gcore_session WHAT PROGRAM: PROGRAM use-after-reset under gdb, its core taken by gcore at the
# fatal signal into $work/WHAT.core, then the commands on it (in $work/WHAT.gdb).
gcore_session() {
  what=$1 program=$2
  shift 2
  "$gdb" -batch -nx -ex 'set environment WSHEAP_PAGEHEAP=1' -ex 'set environment WSHEAP_SYMBOLIZE=0' \
    -ex "run use-after-reset >$work/$what.stdout 2>$work/$what.stderr" -ex continue \
    -ex "gcore $work/$what.core" -ex kill --args "$program" use-after-reset >"$work/$what.session" 2>&1
  if [ ! -s "$work/$what.core" ]; then
    fail "$what: no core was saved: $(cat "$work/$what.session")"
    return 1
  fi
  gdb_batch "$work/$what.gdb" "$@" "$program" "$work/$what.core"
  check_report "$work/$what.gdb" "$work/$what.stderr" "$what"
  expect "$work/$what.gdb" "ERROR: use-after-reset READ at $(sed -n 's/^ADDR stale //p' "$work/$what.stdout")" "$what"
  expect "$work/$what.gdb" "2 bytes inside a 13-byte block #0 from WsAlloc on heap 0x[0-9a-f]* \"requests\"" "$what"
  expect "$work/$what.gdb" "block released by WsResetHeap (reset #1 of the heap) in thread" "$what"
  expect "$work/$what.gdb" "^  #[0-9]* 0x[0-9a-f]* in end_round .*gdb_target.c:" "$what (release stack)"
  expect "$work/$what.gdb" "^SUMMARY: wsheap: use-after-reset .*gdb_target.c:[0-9]* in main\$" "$what"
}
if gcore_session gcore "$target" "$@"; then
  # (The vsyscall page, 0xffffffffff600000, is never readable: not a wsheap mapping.)
  grep "Memory read failed for corefile section" "$work/gcore.session" |
    grep -v "0xffffffffff600000" >"$work/gcore.failed"
  if [ -s "$work/gcore.failed" ]; then
    # gdb 13's gcore reads memory in 1 MiB pieces and drops the rest of a mapping at the first
    # piece it cannot read whole: a MADV_GUARD_INSTALL guard page. The spans are then missing
    # from the core, and the extension must say so rather than find no heap.
    note "gcore could not copy the guarded spans ($(head -n 1 "$work/gcore.failed"))"
    section "$work/gcore.gdb" heaps >"$work/heaps.txt"
    expect "$work/heaps.txt" "wsheap: the span header at 0x[0-9a-f]*, which wsheap's address table names, reads as zeros: the core lacks that memory (gdb's gcore" "gcore (spans left out)"
    section "$work/gcore.gdb" past >"$work/past.txt"
    expect "$work/past.txt" "reads as zeros: the core lacks that memory" "gcore (spans left out)"
    echo "gcore: report checked; the spans gcore left out are reported as missing"
  else
    check_heaps "$work/gcore.gdb" "gcore"
    for name in inside past stale; do
      check_describe "$work/gcore.gdb" $name "$work/gcore.stdout" "gcore"
    done
    echo "gcore: report, heaps and three descriptions checked"
  fi
fi
if gcore_session gcore-noadvice "$noadvice_target" "$@"; then
  check_heaps "$work/gcore-noadvice.gdb" "gcore-noadvice"
  for name in inside past stale; do
    check_describe "$work/gcore-noadvice.gdb" $name "$work/gcore-noadvice.stdout" "gcore-noadvice"
  done
  echo "gcore-noadvice: report, heaps and three descriptions checked (PROT_NONE guards)"
fi

# --- A live process stopped at a breakpoint -----------------------------------------------------
# live WHAT LIBRARY_PATH GDB-ARGUMENTS...: the commands in GDB-ARGUMENTS on gdb_target stopped
# in gdb_target_stop (with LD_LIBRARY_PATH set to LIBRARY_PATH unless empty); gdb's output in
# $work/WHAT.gdb, the program's stdout in $work/WHAT.stdout.
live() {
  what=$1 path=$2
  shift 2
  gdb_batch "$work/$what.gdb" -ex 'set environment WSHEAP_PAGEHEAP=1' \
    -ex "set environment LD_LIBRARY_PATH=$path" -ex 'break gdb_target_stop' \
    -ex "run stop >$work/$what.stdout" "$@" --args "$target" stop
}
live live "" "$@"
expect "$work/live.gdb" "no fault was reported in this process" "live"
check_heaps "$work/live.gdb" "live"
for name in inside past stale; do
  check_describe "$work/live.gdb" $name "$work/live.stdout" "live"
done
expect "$work/live.gdb" "^    #[0-9]* 0x[0-9a-f]* in make_header .*gdb_target.c:" "live (allocation stack)"
echo "live: report, heaps and three descriptions checked"

# --- The same with the library stripped: of debug information (as the Release build and the
# packages are), and of everything but the dynamic symbols (strip-all) ---------------------------
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
for how in debug all; do
  dir=$work/strip-$how
  mkdir -p "$dir"
  objcopy --strip-$how "$lib" "$dir/$soname" || fail "objcopy --strip-$how $lib"
  if readelf -S "$dir/$soname" | grep -q '\.debug_info'; then
    fail "strip-$how: objcopy --strip-$how left .debug_info in the copy"
  fi
  live strip-$how "$dir" "$@"
  expect "$work/strip-$how.gdb" "($dir/$soname+0x" "strip-$how (the copy is the library loaded)"
  check_heaps "$work/strip-$how.gdb" "strip-$how"
  for name in inside past stale; do
    check_describe "$work/strip-$how.gdb" $name "$work/strip-$how.stdout" "strip-$how"
  done
  # The exported functions keep their names (a function's symbol must cover the address).
  expect "$work/strip-$how.gdb" "^    #[0-9]* 0x[0-9a-f]* in WsResetHeap ($dir/$soname+0x" "strip-$how"
  echo "strip-$how: heaps and three descriptions checked with objcopy --strip-$how's copy"
done

# --- The same with the library linked into the program -------------------------------------------
if [ -n "$static_target" ]; then
  shared_target=$target
  target=$static_target
  live static "" "$@"
  target=$shared_target
  if grep -q "libwsheap\.so" "$work/static.gdb"; then
    fail "static: a frame names libwsheap.so in a program linked to libwsheap.a"
  fi
  check_heaps "$work/static.gdb" "static"
  for name in inside past stale; do
    check_describe "$work/static.gdb" $name "$work/static.stdout" "static"
  done
  echo "static: heaps and three descriptions checked in a program linked to libwsheap.a"
fi

# --- Auto-load: gdb loads the extension with the library ----------------------------------------
libdir=$(dirname "$lib")
if [ -f "$libdir/$(basename "$(readlink -f "$lib")")-gdb.py" ]; then
  "$gdb" -batch -nx -iex "add-auto-load-safe-path $libdir" -ex 'set environment WSHEAP_PAGEHEAP=1' \
    -ex 'break gdb_target_stop' -ex "run stop >/dev/null" -ex 'wsheap info' --args "$target" stop \
    >"$work/autoload.gdb" 2>&1
  expect "$work/autoload.gdb" "wsheap_debug_info at 0x[0-9a-f]*: format 1\.[0-9]*, [0-9]* entries; library" "auto-load"
  echo "auto-load: the extension came with the library"
else
  fail "auto-load: no $(basename "$(readlink -f "$lib")")-gdb.py next to $lib"
fi

# --- Anchors this reader must refuse ------------------------------------------------------------
live mismatch "" -ex 'set {unsigned int}((char *)&wsheap_debug_info + 16) = 0x20003' \
  -ex 'echo GDB version BEGIN\n' -ex 'wsheap heaps' -ex 'echo GDB version END\n' \
  -ex 'set {char}((char *)&wsheap_debug_info) = 88' \
  -ex 'echo GDB magic BEGIN\n' -ex 'wsheap describe gdb_target_past' -ex 'echo GDB magic END\n'
section "$work/mismatch.gdb" version >"$work/version.txt"
expect "$work/version.txt" "wsheap: wsheap_debug_info has format version 2\.3, but this extension reads version 1\.x only" "mismatch"
section "$work/mismatch.gdb" magic >"$work/magic.txt"
expect "$work/magic.txt" "wsheap: wsheap_debug_info at 0x[0-9a-f]* does not start with the magic 'wsheap-debug'" "mismatch"
echo "mismatch: another format version and a damaged magic refused"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s); sessions in $work" >&2
  exit 1
fi
echo "PASS: the gdb extension on cores and live processes"
