#!/bin/sh
# Tests of tools/wsheap-symbolize on synthetic reports whose frames point into a real program
# built with debug information: addresses computed with nm and objdump, expected lines taken
# from the source's markers. Covers return-address adjustment, separate debug files found by
# build-id (--debug-dir), module paths containing "+", frames and lines that must stay as they
# were, stdin/FILE input, usage errors, and no function name for an address outside every sized
# function symbol of a library without debug information (NODEBUG_LIBRARY, optional).
# Usage: SCRIPT WSHEAP_SYMBOLIZE TARGET_PROGRAM TARGET_SOURCE TARGET_PROGRAM_NO_PIE [NODEBUG_LIBRARY]
set -u
tool=$1 exe=$2 src=$3 nopie=$4 nodebug=${5:-}
failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsheap-symbolize-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
has() { # has FILE TEXT
  grep -qF -- "$2" "$1" || fail "output lacks '$2':
$(cat "$1")"
}
lacks() {
  grep -qF -- "$2" "$1" && fail "output has '$2':
$(cat "$1")"
  return 0
}

for cmd in nm objdump objcopy strip readelf addr2line; do
  command -v $cmd >/dev/null 2>&1 || {
    echo "$cmd not installed: test skipped"
    exit 0
  }
done

# Addresses in the target: the leaf function's entry, and the return address of the call to it
# inside the caller (the instruction after the call).
leaf=$(nm "$exe" | awk '$3 == "symbolize_target_leaf" { print $1 }')
ret=$(objdump -d --no-show-raw-insn "$exe" |
  awk '/<symbolize_target_caller>:/ { on = 1; next } on && /^$/ { exit }
       on && /call.*<symbolize_target_leaf>/ { want = 1; next }
       on && want { sub(/:.*/, ""); gsub(/ /, ""); print; exit }')
[ -n "$leaf" ] && [ -n "$ret" ] || {
  echo "FAIL: cannot find the target's addresses (leaf '$leaf', return '$ret')" >&2
  exit 1
}
leaf=$(echo "$leaf" | sed 's/^0*//')
outer=$(nm "$exe" | awk '$3 == "symbolize_target_outer" { print $1 }' | sed 's/^0*//')
outer_in=$(printf '%x' $((0x$outer + 1))) # a return address whose call is the inlined code
caller_line=$(grep -n 'CALLER_LINE' "$src" | cut -d: -f1)
inlined_line=$(grep -n 'INLINED_LINE' "$src" | cut -d: -f1)
outer_line=$(grep -n 'OUTER_LINE' "$src" | cut -d: -f1)
src_name=$(basename "$src")

report() { # report MODULE: a small report with raw frames into MODULE
  cat <<END
==wsheap== ERROR: heap-buffer-overflow WRITE at 0x7f0000001000
==wsheap== 0 bytes to the right of a 24-byte block from WsAlloc on heap 0x5555deadbeef (backend guarded)
  #0 0x55550000$leaf ($1+0x$leaf)
  #1 0x55550000$ret ($1+0x$ret)
  #2 0x7f0000abcdef (/nonexistent/libgone.so+0x1234)
  #3 0x555500000000 ($1+0x0)
==wsheap== block allocated by thread 7:
  #0 0x55550000$ret ($1+0x$ret)
not a frame: #4 0x1 ($1+0x$leaf)
==wsheap== heap created by thread 7:
  #0 0x55550000$outer_in ($1+0x$outer_in)
  #1 0x55550000$ret ($1+0x$ret)
  #2 0x7f0000abcdef (<unknown module>)
==wsheap== END
END
}

# 1. A module with debug information: function names and file:line, the right lines.
report "$exe" >"$tmp/r1"
sh "$tool" "$tmp/r1" >"$tmp/o1" || fail "status $? on a good report"
has "$tmp/o1" "#0 0x55550000$leaf in symbolize_target_leaf "
has "$tmp/o1" "$src_name:"
has "$tmp/o1" "#1 0x55550000$ret in symbolize_target_caller "
has "$tmp/o1" "$src_name:$caller_line ($exe+0x$ret)" # the call's line: return address - 1
# Frame #0 of a stack that is not the access stack is a return address too.
has "$tmp/o1" "  #0 0x55550000$ret in symbolize_target_caller "
[ "$(grep -c "$src_name:$caller_line " "$tmp/o1")" -eq 3 ] || fail "want 3 frames at line $caller_line"
# Inlined code: one line per function, innermost first, and the stack numbered again.
sed -n '/heap created by thread 7/,/END/p' "$tmp/o1" >"$tmp/o1.inl"
printf '%s\n' "==wsheap== heap created by thread 7:" \
  "  #0 0x55550000$outer_in in symbolize_target_inlined $src:$inlined_line ($exe+0x$outer_in)" \
  "  #1 0x55550000$outer_in in symbolize_target_outer $src:$outer_line ($exe+0x$outer_in)" \
  "  #2 0x55550000$ret in symbolize_target_caller $src:$caller_line ($exe+0x$ret)" \
  "  #3 0x7f0000abcdef (<unknown module>)" "==wsheap== END" | cmp -s - "$tmp/o1.inl" ||
  fail "inlined frames: got
$(cat "$tmp/o1.inl")"
# Everything else stays byte for byte.
sed '/heap created by thread 7/,$d' "$tmp/r1" | grep -v "^  #[01] 0x55550000\($leaf\|$ret\) " >"$tmp/r1.rest"
sed '/heap created by thread 7/,$d' "$tmp/o1" | grep -v "^  #[01] 0x55550000\($leaf\|$ret\) " >"$tmp/o1.rest"
cmp -s "$tmp/r1.rest" "$tmp/o1.rest" || fail "lines other than the resolved frames changed:
$(diff "$tmp/r1.rest" "$tmp/o1.rest")"

# 2. Standard input and "-" give the same output as FILE.
sh "$tool" <"$tmp/r1" >"$tmp/o2" && cmp -s "$tmp/o1" "$tmp/o2" || fail "stdin output differs"
sh "$tool" - <"$tmp/r1" >"$tmp/o2" && cmp -s "$tmp/o1" "$tmp/o2" || fail "'-' output differs"
# Symbolizing twice changes nothing more.
sh "$tool" "$tmp/o1" >"$tmp/o2" && cmp -s "$tmp/o1" "$tmp/o2" || fail "not idempotent"

# 3. A stripped module whose debug information lives in a separate file found by build-id.
id=$(readelf -n "$exe" | sed -n 's/^[[:space:]]*Build ID:[[:space:]]*//p')
if [ -n "$id" ]; then
  mkdir -p "$tmp/stripped" "$tmp/debug/.build-id/$(echo "$id" | cut -c1-2)"
  objcopy --only-keep-debug "$exe" "$tmp/debug/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug"
  strip --strip-all -o "$tmp/stripped/target" "$exe"
  report "$tmp/stripped/target" >"$tmp/r3"
  # Without the debug directory nothing can be resolved: the report is unchanged.
  sh "$tool" --debug-dir "$tmp/nowhere" "$tmp/r3" >"$tmp/o3" || fail "status $?"
  cmp -s "$tmp/r3" "$tmp/o3" || fail "a stripped module was resolved without debug files:
$(cat "$tmp/o3")"
  sh "$tool" --debug-dir "$tmp/debug" "$tmp/r3" >"$tmp/o3" || fail "status $?"
  has "$tmp/o3" "in symbolize_target_caller "
  has "$tmp/o3" "$src_name:$caller_line ($tmp/stripped/target+0x$ret)"
  sh "$tool" --debug-dir="$tmp/debug" "$tmp/r3" >"$tmp/o4" && cmp -s "$tmp/o3" "$tmp/o4" ||
    fail "--debug-dir=DIR differs from --debug-dir DIR"
else
  fail "the target has no build-id (linker without --build-id?)"
fi

# 4. A module path containing "+".
mkdir -p "$tmp/lib+x"
cp "$exe" "$tmp/lib+x/tar+get"
report "$tmp/lib+x/tar+get" >"$tmp/r5"
sh "$tool" "$tmp/r5" >"$tmp/o5"
has "$tmp/o5" "$src_name:$caller_line ($tmp/lib+x/tar+get+0x$ret)"

# 5. A fixed-address (ET_EXEC) program: offsets count from its first mapping (0x400000 or so).
if [ -n "$nopie" ] && readelf -h "$nopie" | grep -q 'EXEC'; then
  load=$(readelf -lW "$nopie" | awk '$1 == "LOAD" && $2 ~ /^0x0+$/ { print $3; exit }')
  at=$(nm "$nopie" | awk '$3 == "symbolize_target_leaf" { print $1 }')
  off=$(printf '%x' $((0x$at - (load & ~4095) + 1)))
  printf '  #1 0x%x (%s+0x%s)\n' $((0x$at + 1)) "$nopie" "$off" >"$tmp/r9"
  sh "$tool" "$tmp/r9" >"$tmp/o9"
  has "$tmp/o9" "in symbolize_target_leaf "
else
  fail "no fixed-address target given, or it is not ET_EXEC"
fi

# 6. A system library with its separate debug file in /usr/lib/debug (libc6-dbg), if present.
libc=$(ldd "$exe" 2>/dev/null | awk '$1 ~ /^libc\.so/ { print $3 }')
libc_id=$( [ -n "$libc" ] && readelf -n "$libc" | sed -n 's/^[[:space:]]*Build ID:[[:space:]]*//p')
if [ -n "$libc_id" ] && [ -r "/usr/lib/debug/.build-id/$(echo "$libc_id" | cut -c1-2)/$(echo "$libc_id" | cut -c3-).debug" ]; then
  malloc_at=$(nm -D "$libc" | awk '$3 ~ /^malloc(@|$)/ { sub(/^0*/, "", $1); print $1; exit }')
  malloc_in=$(printf '%x' $((0x$malloc_at + 16))) # a return address inside malloc
  printf '  #0 0x7f00%s (%s+0x%s)\n' "$malloc_in" "$libc" "$malloc_in" >"$tmp/r6"
  sh "$tool" "$tmp/r6" >"$tmp/o6"
  has "$tmp/o6" "malloc.c:"
else
  echo "no separate debug file for libc: that case is not tested"
fi

# 7. A stripped library without debug information (tests/tools/report_nodebug.c): addr2line
# names its tiny exported function for code 12 KiB past that function's end, inside a static
# function .dynsym lacks; the tool must leave that frame raw, and name the sized function whose
# extent covers the other frame.
if [ -n "$nodebug" ]; then
  tiny=$(nm -D "$nodebug" | awk '$3 == "report_nodebug_tiny" { print $1 }' | sed 's/^0*//')
  entry=$(nm -D "$nodebug" | awk '$3 == "report_nodebug_alloc" { print $1 }' | sed 's/^0*//')
  far=$(printf '%x' $((0x$tiny + 0x3000 + 1))) # a return address 12 KiB past the tiny function
  entry_ret=$(printf '%x' $((0x$entry + 1)))
  if [ -n "$tiny" ] && [ -n "$entry" ] &&
    addr2line -f -e "$nodebug" "$(printf '0x%x' $((0x$far - 1)))" | grep -q report_nodebug_tiny; then
    printf '  #0 0x7f0000%s (%s+0x%s)\n  #1 0x7f0000%s (%s+0x%s)\n' "$far" "$nodebug" "$far" \
      "$entry_ret" "$nodebug" "$entry_ret" >"$tmp/r10"
    sh "$tool" "$tmp/r10" >"$tmp/o10" || fail "status $? on a stripped library"
    lacks "$tmp/o10" "report_nodebug_tiny"
    has "$tmp/o10" "  #0 0x7f0000$far ($nodebug+0x$far)"
    has "$tmp/o10" "  #1 0x7f0000$entry_ret in report_nodebug_alloc ($nodebug+0x$entry_ret)"
  else
    fail "cannot set up the stripped-library case (tiny '$tiny', entry '$entry', or addr2line \
does not misname the address)"
  fi
fi

# 8. Usage errors and a missing addr2line.
sh "$tool" --bogus >"$tmp/o7" 2>&1 && fail "--bogus accepted"
has "$tmp/o7" "unknown option '--bogus'"
sh "$tool" a b >"$tmp/o7" 2>&1
[ $? -eq 2 ] || fail "two files accepted"
sh "$tool" "$tmp/missing" >"$tmp/o7" 2>&1 && fail "a missing file gave status 0"
sh "$tool" --help >"$tmp/o7" || fail "--help failed"
has "$tmp/o7" "usage: wsheap-symbolize"
mkdir "$tmp/bin"
for cmd in cat mktemp rm awk sed cut sort readelf; do
  ln -s "$(command -v $cmd)" "$tmp/bin/$cmd"
done
PATH="$tmp/bin" "$(command -v sh)" "$tool" "$tmp/r1" >"$tmp/o8" 2>"$tmp/o8.err"
[ $? -eq 1 ] || fail "no addr2line: status was not 1"
cmp -s "$tmp/r1" "$tmp/o8" || fail "no addr2line: the report changed"
has "$tmp/o8.err" "addr2line not found"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "wsheap-symbolize: all checks passed"
