#!/bin/sh
# The Debian packages (cmake/wsheapPackaging.cmake): builds the source tree as a distribution
# would (RelWithDebInfo, prefix /usr, WSHEAP_REPRODUCIBLE) in WORK_DIR, makes the three packages
# with `cpack -G DEB`, checks their names, dependencies and contents, extracts them into a
# scratch root (dpkg-deb -x, no root needed), checks that no file in them names the source or
# build directory, and builds and runs the install test's consumer against that root through
# find_package and pkg-config. Only as root with CI=true, it also installs the packages with
# dpkg -i, builds the consumer against /usr, and removes them again with dpkg --purge.
# Exits 77 (skipped), saying why, without dpkg-deb, dpkg-shlibdeps (dpkg-dev) or file.
# Usage: SCRIPT SOURCE_DIR WORK_DIR   (CPACK: the cpack to use; CC: the compiler)
set -eu
src=$1 work=$2
cpack=${CPACK:-cpack}
for tool in dpkg-deb dpkg-shlibdeps file readelf "$cpack"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool not found (apt-get install dpkg-dev file binutils); no packages built"
    exit 77
  fi
done
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
rm -rf "$work"
mkdir -p "$work/root"
build="$work/build"

# Only what the packages hold is built (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: cpack builds nothing).
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DWSHEAP_REPRODUCIBLE=ON -DWSHEAP_BUILD_TESTS=OFF -DWSHEAP_BUILD_TOOLS=ON \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON ${CC:+-DCMAKE_C_COMPILER="$CC"} >"$work/configure.log" ||
  fail "configure: $(cat "$work/configure.log")"
cmake --build "$build" -j 2 --target wsheap wsheap_static wsheap-run >"$work/build.log" ||
  fail "build: $(tail -n 30 "$work/build.log")"
(cd "$build" && "$cpack" -G DEB >"$work/cpack.log" 2>&1) || fail "cpack: $(cat "$work/cpack.log")"

version=$(sed -n 's/^#define WSHEAP_VERSION_STRING "\(.*\)"$/\1/p' "$src/include/wsheap/version.h")
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$build/CMakeCache.txt")
# package NAME: the .deb of NAME, checked to be exactly one file.
package() {
  set -- "$build"/"$1"_"$version"_*.deb
  if [ $# -ne 1 ] || [ ! -f "$1" ]; then fail "no single package file $*"; fi
  echo "$1"
}
lib=$(package libwsheap0)
dev=$(package libwsheap-dev)
tools=$(package wsheap-tools)

# field DEB FIELD EXPECTED-SUBSTRING
field() {
  value=$(dpkg-deb -f "$1" "$2")
  case "$value" in *"$3"*) ;; *) fail "$(basename "$1"): $2 is '$value', without '$3'" ;; esac
}
field "$lib" Depends libunwind8
field "$lib" Depends libc6
field "$dev" Depends "libwsheap0 (= $version)"
field "$dev" Depends libunwind-dev
field "$tools" Depends libc6
# contents DEB PATH...: each PATH (relative to /usr) is in the package.
contents() {
  deb=$1
  shift
  dpkg-deb -c "$deb" | awk '{ print $6 }' >"$work/list"
  for path in "$@"; do
    grep -qx "\./usr/$path" "$work/list" || fail "$(basename "$deb") lacks /usr/$path"
  done
}
contents "$lib" "$libdir/libwsheap.so.0" "$libdir/libwsheap.so.$version" \
  share/doc/wsheap/LICENSE
! grep -q 'libwsheap\.so$\|\.a$\|include/' "$work/list" || fail "libwsheap0 has development files"
contents "$dev" include/wsheap.h include/wsheap/version.h "$libdir/libwsheap.so" \
  "$libdir/libwsheap.a" "$libdir/pkgconfig/wsheap.pc" \
  "$libdir/cmake/wsheap/wsheapConfig.cmake" "$libdir/cmake/wsheap/wsheapTargets.cmake" \
  "$libdir/cmake/wsheap/wsheapStaticTargets.cmake" share/man/man3/WsAlloc.3
contents "$tools" bin/wsheap-run bin/wsheap-symbolize share/man/man1/wsheap-run.1 \
  share/wsheap/valgrind.supp

for deb in "$lib" "$dev" "$tools"; do
  dpkg-deb -x "$deb" "$work/root"
done
# Reproducible: no file of any package (binaries, scripts, man pages, CMake files) names the
# source or the build directory.
for dir in "$src" "$build"; do
  found=$(grep -rlF "$dir" "$work/root" || true)
  [ -z "$found" ] || fail "these packaged files name $dir: $found"
done

# The consumer against the extracted packages: CMake (shared and static) and pkg-config.
usr="$work/root/usr"
export LD_LIBRARY_PATH="$usr/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cmake -S "$src/tests/install" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$usr" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer"
"$work/consumer/consumer_static"
flags=$(PKG_CONFIG_LIBDIR="$usr/$libdir/pkgconfig" pkg-config --cflags --libs wsheap)
${CC:-cc} -std=c11 -Wall -Wextra -Werror "$src/tests/install/main.c" -o "$work/pc-consumer" $flags
"$work/pc-consumer"
unset LD_LIBRARY_PATH

# A real installation, only where it changes no developer's machine.
if [ "$(id -u)" = 0 ] && [ "${CI:-}" = true ]; then
  trap 'dpkg --purge wsheap-tools libwsheap-dev libwsheap0 >/dev/null 2>&1 || true' EXIT
  dpkg -i "$lib" "$dev" "$tools" >"$work/dpkg.log" 2>&1 || fail "dpkg -i: $(cat "$work/dpkg.log")"
  cmake -S "$src/tests/install" -B "$work/consumer-usr" >/dev/null
  cmake --build "$work/consumer-usr" >/dev/null
  "$work/consumer-usr/consumer"
  needs=$(readelf -d "$work/consumer-usr/consumer" | grep -c "NEEDED.*libwsheap.so.0" || true)
  [ "$needs" = 1 ] || fail "the consumer built against /usr does not need libwsheap.so.0"
  ${CC:-cc} -std=c11 -Wall -Wextra -Werror "$src/tests/install/main.c" -o "$work/usr-consumer" \
    $(pkg-config --cflags --libs wsheap)
  "$work/usr-consumer"
  /usr/bin/wsheap-run --help >/dev/null || fail "the installed wsheap-run does not run"
  dpkg --purge wsheap-tools libwsheap-dev libwsheap0 >"$work/dpkg.log" 2>&1 ||
    fail "dpkg --purge: $(cat "$work/dpkg.log")"
  trap - EXIT
  echo "installed with dpkg -i, built against /usr, removed with dpkg --purge"
fi
echo "PASS: libwsheap0, libwsheap-dev and wsheap-tools $version build, hold no build path, and link"
