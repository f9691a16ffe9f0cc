#!/bin/sh
# The files a distribution takes a release by (docs/abi.md): LICENSE is the MIT licence with a
# copyright holder, every SPDX tag in the tree names MIT, NEWS.md's newest section is the
# version in include/wsheap/version.h, and docs/abi.md names the soname of that major version.
# Usage: SCRIPT SOURCE_DIR
set -u
src=$1
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
cd "$src" || exit 1
version=$(sed -n 's/^#define WSHEAP_VERSION_STRING "\(.*\)"$/\1/p' include/wsheap/version.h)
major=${version%%.*}
[ -n "$version" ] || fail "no WSHEAP_VERSION_STRING in include/wsheap/version.h"

head -n 1 LICENSE | grep -qx "MIT License" || fail "LICENSE does not start with 'MIT License'"
grep -Eq "^Copyright \(c\) [0-9]{4}(-[0-9]{4})? The wsheap authors$" LICENSE ||
  fail "LICENSE has no line 'Copyright (c) YEAR The wsheap authors'"
# The files that carry SPDX tags: sources, scripts, man pages (the tag is split here so that
# this line is not one).
tag="SPDX-License-""Identifier"
others=$(grep -rIho "$tag: [A-Za-z0-9.+-]*" src include tools tests docs cmake | grep -v ": MIT$" |
  sort -u)
[ -z "$others" ] || fail "SPDX tags other than MIT: $others"

newest=$(grep -m 1 '^## ' NEWS.md)
[ "$newest" = "## wsheap $version" ] ||
  fail "NEWS.md's newest section is '$newest', not '## wsheap $version' (version.h)"
grep -q "libwsheap\.so\.$major\b" docs/abi.md ||
  fail "docs/abi.md does not name libwsheap.so.$major"

[ "$failures" -eq 0 ] || exit 1
echo "PASS: LICENSE, SPDX tags, NEWS.md ($version) and docs/abi.md agree"
