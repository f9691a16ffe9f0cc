/* SPDX-License-Identifier: MIT */
/*
 * A per-thread cache of arena heap objects (each with its embedded first chunk). Programs that
 * create and free many short-lived heaps would otherwise send these 4 KiB blocks back to glibc,
 * which trims them to the OS and page-faults them back every round.
 */
#ifndef WSH_ARENA_CACHE_H
#define WSH_ARENA_CACHE_H

#include <stdbool.h>

/* A heap object cached by this thread, or NULL. No system call, no lock. */
void *wsh_cache_get(void);

/* Keeps the heap object `block` for reuse by this thread; false when the cache is full and the
 * caller must free it. The cache keeps its list link in the object's first word, which stays
 * unchanged until wsh_cache_get hands the object out again. A thread's cache is released when
 * the thread exits (the main thread's at process exit). */
bool wsh_cache_put(void *block);

#endif
