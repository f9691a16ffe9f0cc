/* SPDX-License-Identifier: MIT */
/* wsheap's version: the single source of truth. CMakeLists.txt reads these three lines. */
#ifndef WSHEAP_VERSION_H
#define WSHEAP_VERSION_H

#define WSHEAP_VERSION_MAJOR 0
#define WSHEAP_VERSION_MINOR 1
#define WSHEAP_VERSION_PATCH 0

#define WSHEAP_VERSION_STRING "0.1.0"

#endif
