#!/bin/sh
# The install test: installs the build into a staging directory (DESTDIR), then builds the
# consumer twice against the staged package, once with find_package(wsheap) and once with
# pkg-config, and runs both.  Usage: run.sh BUILD_DIR SOURCE_DIR WORK_DIR
# CONSUMER_FLAGS (e.g. -fsanitize=address) is added to the consumer's compile and link.
set -eu
build=$1 src=$2 work=$3
flags_extra=${CONSUMER_FLAGS:-}
rm -rf "$work"
mkdir -p "$work"
DESTDIR="$work/stage" cmake --install "$build" >/dev/null
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
root="$work/stage$prefix"
libdir=$(dirname "$(find "$root" -name 'libwsheap.so*' -o -name 'libwsheap.a' | head -n 1)")
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# 1. CMake: find_package(wsheap CONFIG REQUIRED) from the staged prefix (the package relocates).
cmake -S "$src/tests/install" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$root" \
  -DCMAKE_C_FLAGS="$flags_extra" -DCMAKE_EXE_LINKER_FLAGS="$flags_extra" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"

# 2. pkg-config: the .pc file names the configure-time prefix; the sysroot maps it to the stage.
export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$work/stage"
flags=$(pkg-config --cflags --libs wsheap)
${CC:-cc} -std=c11 -Wall -Wextra -pedantic -Werror $flags_extra \
  "$src/tests/install/main.c" -o "$work/pc-consumer" $flags
"$work/pc-consumer"
