/* SPDX-License-Identifier: MIT */
/*
 * A per-thread cache of the arena's two most common allocations: heap objects and first
 * chunks. Programs that create and free many short-lived heaps would otherwise send these
 * blocks back to glibc, which trims them to the OS and page-faults them back every round.
 */
#ifndef WSH_ARENA_CACHE_H
#define WSH_ARENA_CACHE_H

#include <stdbool.h>

enum wsh_cache_class {
    WSH_CACHE_HEAP,  /* a struct arena */
    WSH_CACHE_CHUNK, /* a first chunk with its header */
    WSH_CACHE_N_CLASSES
};

/* A block of class `cls` cached by this thread, or NULL. No system call, no lock. */
void *wsh_cache_get(enum wsh_cache_class cls);

/* Keeps `block` (of class `cls`) for reuse by this thread; false when the cache is full and the
 * caller must free it. A thread's cache is released when the thread exits (the main thread's
 * at process exit). */
bool wsh_cache_put(enum wsh_cache_class cls, void *block);

#endif
