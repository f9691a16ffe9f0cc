#!/bin/sh
# Keeps the documented option tables true: every row of the library's WSHEAP_HELP=1 output must
# appear, exactly, in docs/options.md and in README.md's environment table (as
# "| `NAME` | help |", with "|" escaped), and neither may list a variable the library does not
# have; the ENVIRONMENT section of man 3 wsheap must have an entry for each variable and no other.
# Also checks that WSHEAP_HELP=1 prints the table once, as the library is loaded: the same table
# from a run that creates a heap and from one that creates none.
# Usage: SCRIPT PROGRAM_USING_WSHEAP SOURCE_DIR   (the program is run as PROGRAM --generate 1,
# which creates a heap, and as PROGRAM --help, which creates none)
set -u
prog=$1 src=$2
failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsheap-docs-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

env WSHEAP_HELP=1 "$prog" --generate 1 2>"$tmp/help" >/dev/null
# "  NAME   help text" -> "NAME<TAB>help text"
sed -n 's/^  \(WSHEAP_[A-Z0-9_]*\)  *\(.*\)$/\1	\2/p' "$tmp/help" >"$tmp/options"
[ "$(wc -l <"$tmp/options")" -ge 8 ] || {
  echo "FAIL: cannot read the option table from WSHEAP_HELP=1: $(cat "$tmp/help")" >&2
  exit 1
}
cut -f1 "$tmp/options" | sort >"$tmp/names"

# Printed once, at load: with a heap (not again on first use) and without one.
env WSHEAP_HELP=on "$prog" --help 2>"$tmp/help-noheap" >/dev/null
for f in help help-noheap; do
  n=$(grep -c "^wsheap options (environment variables" "$tmp/$f")
  [ "$n" -eq 1 ] || fail "WSHEAP_HELP: the table printed $n times ($f): $(cat "$tmp/$f")"
done
cmp -s "$tmp/help" "$tmp/help-noheap" ||
  fail "WSHEAP_HELP without a heap differs: $(diff "$tmp/help" "$tmp/help-noheap")"

# check_markdown FILE SECTION_START: the table rows from SECTION_START's heading to the next.
check_markdown() {
  file=$1 start=$2
  awk -v start="$start" 'index($0, start) == 1 { on = 1; next } on && /^## / { exit } on' \
    "$src/$file" >"$tmp/section"
  [ -s "$tmp/section" ] || {
    fail "$file: no section starting '$start'"
    return
  }
  while IFS='	' read -r name help; do
    row="| \`$name\` | $(printf '%s' "$help" | sed 's/|/\\|/g') |"
    grep -qxF -- "$row" "$tmp/section" ||
      fail "$file: the row for $name is missing or differs from WSHEAP_HELP=1; expected:
$row"
  done <"$tmp/options"
  sed -n 's/^| `\(WSHEAP_[A-Z0-9_]*\)` |.*/\1/p' "$tmp/section" | sort >"$tmp/listed"
  for extra in $(comm -13 "$tmp/names" "$tmp/listed"); do
    fail "$file lists $extra, which the library does not have"
  done
}
check_markdown docs/options.md "## The table"
check_markdown README.md "## Environment variables"

# man 3 wsheap: one ".B NAME" entry in ENVIRONMENT per variable.
awk '/^\.SH ENVIRONMENT/ { on = 1; next } on && /^\.SH / { exit } on' \
  "$src/docs/man/man3/wsheap.3" | sed -n 's/^\.B \(WSHEAP_[A-Z0-9_]*\)$/\1/p' | sort >"$tmp/man"
cmp -s "$tmp/names" "$tmp/man" || fail "man3/wsheap.3 ENVIRONMENT differs from WSHEAP_HELP=1:
$(diff "$tmp/names" "$tmp/man")"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "docs: $(wc -l <"$tmp/names") options, in sync"
