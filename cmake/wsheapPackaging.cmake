# Debian packages with CPack (`cpack -G DEB` in a build directory), one per install component:
#   libwsheap0     lib    the shared library (libwsheap.so.0 and its real name), LICENSE, NEWS
#   libwsheap-dev  dev    headers, the .so link, libwsheap.a, the CMake package, the .pc files,
#                         man 3, docs/abi.md
#   wsheap-tools   tools  wsheap-run, wsheap-symbolize, man 1, the valgrind suppressions
# For packages configure with -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=RelWithDebInfo
# -DWSHEAP_REPRODUCIBLE=ON (no build path in any binary; tests/tools/test_deb.sh checks that).
# The library and the tools' dependencies come from dpkg-shlibdeps (dpkg-dev, and `file`). The
# first line of each CPACK_COMPONENT_*_DESCRIPTION is its package's synopsis.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME wsheap)
set(CPACK_PACKAGE_VENDOR "The wsheap authors")
set(CPACK_PACKAGE_CONTACT "The wsheap authors")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGE_FILE_NAME wsheap-${PROJECT_VERSION})
set(CPACK_COMPONENTS_ALL lib dev tools)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # NAME_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libwsheap${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_LIB_PACKAGE_GENERATE_SHLIBS ON) # shlibs file and the ldconfig trigger
set(CPACK_DEBIAN_LIB_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_COMPONENT_LIB_DESCRIPTION
    "WWSAPI heap for Linux: shared library\n\
WsCreateHeap, WsAlloc, WsResetHeap, WsFreeHeap and the WS_ERROR object with the Windows\n\
names, types and HRESULT values, an arena backend and a guarded (PageHeap) backend.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libwsheap-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_SHLIBDEPS OFF) # libwsheap.a: its needs are the Depends below
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libwsheap${PROJECT_VERSION_MAJOR} (= ${PROJECT_VERSION}), libunwind-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "WWSAPI heap for Linux: development files\n\
Headers, the static library, the CMake package (wsheap::wsheap, wsheap::wsheap_static),\n\
pkg-config files and the section 3 man pages.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME wsheap-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_TOOLS_PACKAGE_RECOMMENDS "binutils, valgrind") # addr2line; wsheap-run --valgrind
set(CPACK_COMPONENT_TOOLS_DESCRIPTION
    "WWSAPI heap for Linux: tools\n\
wsheap-run runs a program with the guarded backend, statistics, leak report or valgrind;\n\
wsheap-symbolize adds file:line to a saved report.")

include(CPack)
