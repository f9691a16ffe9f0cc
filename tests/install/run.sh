#!/bin/sh
# The install test: installs the build into a staging directory (DESTDIR, so not where it was
# configured to go: everything checked here must relocate), then builds the consumer main.c
# against the staged package and runs it:
#   1. find_package(wsheap): wsheap::wsheap is the shared library, wsheap::wsheap_static links
#      libwsheap.a (the consumer has no libwsheap.so.0 among its needed libraries);
#   2. find_package again with no libunwind.pc anywhere: the shared library needs none;
#   3. pkg-config --libs wsheap (shared) with no libunwind.pc anywhere, and no sysroot; and a
#      file written for Windows (tests/compat/heap_windows.c) through the webservices.h opt-in,
#      in CMake (wsheap::webservices) and pkg-config (wsheap-webservices), not without it;
#   4. pkg-config --static --libs wsheap against libwsheap.a;
# and the staged wsheap-run finds the staged valgrind suppressions, not the source tree's.
# Usage: run.sh BUILD_DIR SOURCE_DIR WORK_DIR
# CONSUMER_FLAGS (e.g. -fsanitize=address) is added to the consumer's compile and link.
set -eu
build=$1 src=$2 work=$3
flags_extra=${CONSUMER_FLAGS:-}
rm -rf "$work"
mkdir -p "$work/empty"
DESTDIR="$work/stage" cmake --install "$build" >/dev/null
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
root="$work/stage$prefix"
pc=$(find "$root" -name wsheap.pc)
libdir=$(dirname "$(dirname "$pc")")
shared=no
[ -e "$libdir/libwsheap.so.0" ] && shared=yes
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# needs PROGRAM LIBRARY yes|no: whether PROGRAM's dynamic section needs LIBRARY.
needs() {
  if readelf -d "$1" | grep -q "(NEEDED).*\[$2"; then found=yes; else found=no; fi
  [ "$found" = "$3" ] || fail "$1: needs $2: $found, expected $3"
}

# 1. CMake, from the staged prefix (the package relocates).
cmake -S "$src/tests/install" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$root" \
  -DWSHEAP_CONSUMER_EXPECT_SHARED=$shared \
  -DCMAKE_C_FLAGS="$flags_extra" -DCMAKE_EXE_LINKER_FLAGS="$flags_extra" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"
"$work/cmake/consumer_static"
"$work/cmake/windows" # tests/compat/heap_windows.c through wsheap::webservices
needs "$work/cmake/consumer_static" libwsheap.so no
if [ "$shared" = yes ]; then
  needs "$work/cmake/consumer" libwsheap.so.0 yes

  # 2. No libunwind.pc reachable: the shared library's consumers still configure and link.
  PKG_CONFIG_LIBDIR="$work/empty" PKG_CONFIG_PATH="" \
    cmake -S "$src/tests/install" -B "$work/cmake-nounwind" -DCMAKE_PREFIX_PATH="$root" \
    -DWSHEAP_CONSUMER_STATIC=OFF \
    -DCMAKE_C_FLAGS="$flags_extra" -DCMAKE_EXE_LINKER_FLAGS="$flags_extra" >/dev/null
  cmake --build "$work/cmake-nounwind" >/dev/null
  "$work/cmake-nounwind/consumer"

  # 3. pkg-config sees only the staged .pc files: no libunwind.pc, no sysroot (relocatable).
  grep -q '^prefix=${pcfiledir}/' "$pc" || fail "$pc: the prefix is not relative to the file"
  flags=$(PKG_CONFIG_LIBDIR="$libdir/pkgconfig" PKG_CONFIG_PATH="" \
    pkg-config --cflags --libs wsheap) ||
    fail "pkg-config --libs wsheap fails without libunwind.pc"
  ${CC:-cc} -std=c11 -Wall -Wextra -pedantic -Werror $flags_extra \
    "$src/tests/install/main.c" -o "$work/pc-consumer" $flags
  "$work/pc-consumer"
  needs "$work/pc-consumer" libwsheap.so.0 yes
fi

# 3b. The webservices.h opt-in through pkg-config; without it, <webservices.h> is not found.
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs wsheap-webservices)
${CC:-cc} -std=c11 -Wall -Wextra -Werror $flags_extra "$src/tests/compat/heap_windows.c" \
  -o "$work/pc-windows" $flags
"$work/pc-windows"
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs wsheap)
if echo '#include <webservices.h>' | ${CC:-cc} -E $flags -x c - >/dev/null 2>&1; then
  fail "<webservices.h> is found without the wsheap-webservices opt-in"
fi

# 4. pkg-config --static: libunwind and threads come with it; linked against libwsheap.a.
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --static --cflags --libs wsheap)
case " $flags " in
*" -lunwind "*) ;;
*) fail "pkg-config --static --libs wsheap: no -lunwind: $flags" ;;
esac
flags=$(echo "$flags" | sed 's/-lwsheap\( \|$\)/-l:libwsheap.a\1/')
${CC:-cc} -std=c11 -Wall -Wextra -pedantic -Werror $flags_extra \
  "$src/tests/install/main.c" -o "$work/pc-consumer-static" $flags
"$work/pc-consumer-static"
needs "$work/pc-consumer-static" libwsheap.so no

# The staged wsheap-run uses the staged suppressions, and names no file of the source tree.
if [ -x "$root/bin/wsheap-run" ]; then
  ! grep -qF "$src/tests/valgrind.supp" "$root/bin/wsheap-run" ||
    fail "$root/bin/wsheap-run embeds the source tree's valgrind.supp"
  if command -v valgrind >/dev/null 2>&1; then
    "$root/bin/wsheap-run" --valgrind --verbose -- true 2>"$work/run.err" ||
      fail "wsheap-run --valgrind true: $(cat "$work/run.err")"
    grep -qF -- "--suppressions=$root/" "$work/run.err" ||
      fail "the staged wsheap-run does not use the staged suppressions: $(cat "$work/run.err")"
  fi
fi
echo "PASS: the staged install works through CMake (shared: $shared, static) and pkg-config"
