#!/bin/sh
# Tests of wsheap-run --fail-sweep: the sweep of tests/tools/sweep_target.c (four call sites with
# seeded error-path bugs) classifies each site's runs (handled, crash, leak, hang), names each
# site's function, exits non-zero, writes JSON that parses, and each printed replay command
# reproduces its run's outcome; the sweeps of wsheap-demo over its sample file and over
# --generate find every site handled; usage errors and a program with nothing to sweep exit 2.
# Usage: SCRIPT WSHEAP_RUN SWEEP_TARGET WSHEAP_DEMO SAMPLE_INPUT
set -u
run=$1 target=$2 demo=$3 sample=$4
failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsheap-fail-sweep-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
ulimit -c 0
for v in $(env | sed -n 's/^\(WSHEAP_[A-Z0-9_]*\)=.*/\1/p'); do unset "$v"; done
# In a sanitizer build: a NULL write must stay a SIGSEGV, and LeakSanitizer must not change the
# exit statuses of the error paths.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:detect_leaks=0"
export ASAN_OPTIONS

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# outcome_of FUNCTION KIND: the outcome word(s) of that row of $tmp/out.
outcome_of() {
  awk -v f="$1" -v k="$2" '$2 == f && $7 == k { print $8 ($8 == "not" || $8 == "bad" ? " " $9 : ""); exit }' "$tmp/out"
}

# replay_of FUNCTION KIND: the replay command printed under that row.
replay_of() {
  awk -v f="$1" -v k="$2" 'hit { sub(/^  replay: /, ""); print; exit } $2 == f && $7 == k { hit = 1 }' "$tmp/out"
}

# check_replay FUNCTION KIND OUTCOME: runs the row's replay command and checks its outcome.
check_replay() {
  cmd=$(replay_of "$1" "$2")
  [ -n "$cmd" ] || { fail "no replay command for $1 $2"; return; }
  timeout 4 sh -c "$cmd" </dev/null >"$tmp/replay.out" 2>"$tmp/replay.err"
  st=$?
  case $3 in
  handled) [ "$st" -lt 124 ] && ! grep -Eq "==wsheap==[0-9]+== LEAK" "$tmp/replay.err" ;;
  crash) [ "$st" -eq 139 ] ;;
  leak) [ "$st" -lt 124 ] && grep -Eq "==wsheap==[0-9]+== LEAK" "$tmp/replay.err" ;;
  hang) [ "$st" -eq 124 ] ;;
  esac || fail "replay of $1 $2 ($cmd): status $st, want $3: $(head -c 600 "$tmp/replay.err")"
}

# The seeded program: transient and persistent failures, 3 s per run.
start=$(date +%s)
"$run" --fail-sweep --persistent --timeout 3 -j 2 --json "$tmp/sweep.json" -- "$target" \
  >"$tmp/out" 2>"$tmp/err"
st=$?
[ "$st" -eq 1 ] || fail "sweep of sweep_target: status $st, want 1: $(cat "$tmp/err")"
for row in "open_heap oom handled" "open_heap oom,persistent handled" \
  "fill_unchecked oom crash" "fill_unchecked oom,persistent crash" \
  "copy_or_leak oom leak" "copy_or_leak oom,persistent leak" \
  "alloc_retrying oom handled" "alloc_retrying oom,persistent hang"; do
  set -- $row
  got=$(outcome_of "$1" "$2")
  [ "$got" = "$3" ] || fail "sweep_target: $1 $2: outcome '$got', want '$3'"
  check_replay "$1" "$2" "$3"
done
[ "$(grep -c '  replay: ' "$tmp/out")" -eq 8 ] || fail "want 8 runs: $(cat "$tmp/out")"
grep -q "sweep_target.c:[0-9]" "$tmp/out" || fail "no file:line in the table: $(cat "$tmp/out")"
grep -q "heap created in open_heap" "$tmp/out" || fail "the leak does not name its heap's site"
grep -q "the injected failure:" "$tmp/out" || fail "no injected failure's stack"
if command -v gdb >/dev/null 2>&1; then
  grep -q "^  #0 .*fill_unchecked" "$tmp/out" || fail "no crash stack from gdb: $(cat "$tmp/out")"
fi
if command -v python3 >/dev/null 2>&1; then
  python3 -m json.tool "$tmp/sweep.json" >/dev/null || fail "--json wrote invalid JSON"
  grep -q '"outcome": "hang"' "$tmp/sweep.json" || fail "--json lacks the hang"
fi
echo "sweep of sweep_target and its replays: $(($(date +%s) - start)) s"

# wsheap-demo: every site handled, over the sample file (as --stdin too) and generated input,
# with both kinds of failure.
start=$(date +%s)
"$run" --fail-sweep --kinds oom,quota --persistent --timeout 20 -- "$demo" "$sample" \
  >"$tmp/out" 2>"$tmp/err" || fail "sweep of the demo (sample): status $?: $(cat "$tmp/out" "$tmp/err")"
grep -q "heap_alloc" "$tmp/out" || fail "the demo's sweep does not name heap_alloc: $(cat "$tmp/out")"
awk '/  replay: /{next} $8 ~ /^[a-z]/ && $1 ~ /^[0-9a-f]+$/ && $8 != "handled" {bad = 1; print}
     END {exit bad}' "$tmp/out" >&2 || fail "the demo's sweep (sample) found unhandled sites"
"$run" --fail-sweep --kinds=oom,quota --timeout=20 --stdin "$sample" -- "$demo" --generate 200 \
  >"$tmp/out" 2>"$tmp/err" || fail "sweep of the demo (--generate): status $?: $(cat "$tmp/out" "$tmp/err")"
awk '/  replay: /{next} $8 ~ /^[a-z]/ && $1 ~ /^[0-9a-f]+$/ && $8 != "handled" {bad = 1; print}
     END {exit bad}' "$tmp/out" >&2 || fail "the demo's sweep (--generate) found unhandled sites"
grep -q "< .*sample-requests.txt" "$tmp/out" || fail "--stdin is not in the replay commands"
echo "sweeps of wsheap-demo: $(($(date +%s) - start)) s"

# Usage errors, and a program that records no site.
"$run" --fail-sweep --kinds oops -- "$target" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "expected oom, quota" "$tmp/err" || fail "--kinds oops: $(cat "$tmp/err")"
"$run" --timeout 3 -- "$target" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "needs --fail-sweep" "$tmp/err" || fail "--timeout alone: $(cat "$tmp/err")"
"$run" --fail-sweep -j 0 -- "$target" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "-j 0 was accepted"
"$run" --fail-sweep --ok-status 1,x -- "$target" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "--ok-status 1,x was accepted"
"$run" --fail-sweep -- true >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "recorded no call site" "$tmp/err" || fail "sweep of true: $(cat "$tmp/err")"

# --strict-status: open_heap's exit status 1 fails the run, unless --ok-status allows it.
"$run" --fail-sweep --strict-status --timeout 3 -- "$target" >"$tmp/out" 2>"$tmp/err"
[ "$(outcome_of open_heap oom)" = "bad status" ] || fail "--strict-status: $(cat "$tmp/out")"
"$run" --fail-sweep --strict-status --ok-status 1 --timeout 3 -- "$target" >"$tmp/out" 2>"$tmp/err"
[ "$(outcome_of open_heap oom)" = "handled" ] || fail "--ok-status 1: $(cat "$tmp/out")"

[ "$failures" -eq 0 ] || exit 1
echo "all fail-sweep checks passed"
