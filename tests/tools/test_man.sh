#!/bin/sh
# Tests of the man pages in docs/man: each renders without a single groff warning
# (groff -ww -man, and man --warnings -l where man-db is installed), every .so link points at a
# page that exists, every function wsheap.h exports has a section 3 page, and every page that
# documents functions has RETURN VALUE and ERRORS sections.
# Usage: SCRIPT DOCS_MAN_DIR INCLUDE_WSHEAP_H
set -u
man_dir=$1 header=$2
failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsheap-man-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
command -v groff >/dev/null 2>&1 || {
  echo "FAIL: groff is not installed (apt-get install groff-base)" >&2
  exit 1
}
cd "$man_dir" || exit 1
n=0
for page in man1/*.1 man3/*.3; do
  n=$((n + 1))
  # .so links are resolved from the man root, as man does.
  groff -ww -man -Tutf8 -z "$page" >"$tmp/out" 2>"$tmp/err"
  [ -s "$tmp/err" ] && fail "$page: groff warns: $(cat "$tmp/err")"
  if command -v man >/dev/null 2>&1; then
    MANWIDTH=80 man --warnings -E UTF-8 -l "$page" >"$tmp/out" 2>"$tmp/err"
    [ -s "$tmp/err" ] && fail "$page: man --warnings: $(cat "$tmp/err")"
    grep -q "^NAME" "$tmp/out" || fail "$page: no NAME section in the rendered page"
  fi
  target=$(sed -n 's/^\.so //p' "$page")
  if [ -n "$target" ]; then
    [ -f "$target" ] || fail "$page: .so $target: no such page"
    continue
  fi
  first=$(head -n 1 "$page")
  case $first in
  '.\" SPDX-License-Identifier: MIT') ;;
  *) fail "$page: first line is not the SPDX comment" ;;
  esac
  case $page in
  man3/wsheap.3) ;; # the overview
  man3/*)
    grep -q '^\.SH RETURN VALUE' "$page" || fail "$page: no RETURN VALUE section"
    grep -q '^\.SH ERRORS' "$page" || fail "$page: no ERRORS section"
    ;;
  man1/*)
    grep -q '^\.SH EXIT STATUS' "$page" || fail "$page: no EXIT STATUS section"
    ;;
  esac
done
[ "$n" -ge 20 ] || fail "only $n pages found in $man_dir"

# Every exported function has a page of its own name (a full page or a .so link).
sed -n 's/^WSHEAP_API[^(]*[ *]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$header" >"$tmp/functions"
[ "$(wc -l <"$tmp/functions")" -ge 17 ] || fail "found only $(wc -l <"$tmp/functions") functions in $header"
while read -r f; do
  [ -f "man3/$f.3" ] || fail "$f is exported by wsheap.h but has no page man3/$f.3"
  grep -q "BR $f (3)" man3/wsheap.3 || fail "wsheap.3 does not list $f"
done <"$tmp/functions"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "man pages: $n pages render without warnings"
