#!/bin/sh
# The ABI check (docs/abi.md): the freshly built libwsheap.so has the soname libwsheap.so.MAJOR
# for the MAJOR of include/wsheap/version.h, and abidiff finds no change against the baseline
# abi/libwsheap.so.MAJOR.abi except added functions or variables. Exits 77 (skipped), saying
# why, without abigail-tools or when the library has no debug information.
# Usage: SCRIPT SOURCE_DIR LIBRARY
set -u
src=$1 lib=$2
major=$(sed -n 's/^#define WSHEAP_VERSION_MAJOR \([0-9]*\)$/\1/p' "$src/include/wsheap/version.h")
baseline=$src/abi/libwsheap.so.$major.abi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsheap-abi-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
if [ "$soname" != "libwsheap.so.$major" ]; then
  echo "FAIL: $lib has the soname '$soname', not libwsheap.so.$major (version.h)" >&2
  exit 1
fi
if [ ! -f "$baseline" ]; then
  echo "FAIL: no ABI baseline $baseline for major version $major (docs/abi.md)" >&2
  exit 1
fi
if ! grep -q "soname='libwsheap.so.$major'" "$baseline"; then
  echo "FAIL: $baseline is not the ABI of libwsheap.so.$major" >&2
  exit 1
fi
if ! command -v abidw >/dev/null 2>&1 || ! command -v abidiff >/dev/null 2>&1; then
  echo "SKIP: abidw/abidiff not found (apt-get install abigail-tools); ABI not compared"
  exit 77
fi
if ! readelf -S "$lib" | grep -q '\.debug_info'; then
  echo "SKIP: $lib has no debug information (build with -g: Debug or RelWithDebInfo)"
  exit 77
fi

# Recorded exactly as the baseline is (docs/abi.md), then compared as two records.
abidw --headers-dir "$src/include" --drop-private-types --drop-undefined-syms --no-corpus-path \
  --no-comp-dir-path --short-locs "$lib" >"$tmp/new.abi" || {
  echo "FAIL: abidw could not read $lib" >&2
  exit 1
}
# abidiff's status is a bit set: 1 error, 2 usage, 4 a change, 8 an incompatible change.
# Additions are allowed (a MINOR release), so they are left out of the verdict and only shown.
abidiff --no-added-syms "$baseline" "$tmp/new.abi" >"$tmp/diff" 2>&1
status=$?
if [ "$status" -ne 0 ]; then
  echo "FAIL: abidiff found an ABI change against $baseline (status $status):" >&2
  cat "$tmp/diff" >&2
  echo "An incompatible change needs a new major version and soname (docs/abi.md)." >&2
  exit 1
fi
abidiff "$baseline" "$tmp/new.abi" >"$tmp/all" 2>&1 ||
  { echo "Compatible additions since the baseline (record them at the next release):" &&
    cat "$tmp/all"; }
echo "PASS: libwsheap.so.$major matches $baseline"
