/* SPDX-License-Identifier: MIT */
/*
 * The tracked arena (tracked.c): the arena's behaviour with redzones, block records, poisoning
 * and a quarantine of released chunks, for ASan and valgrind memcheck runs (track.h),
 * and the memcheck mempool requests that only it makes. Its lookup of an address for
 * wsheap_describe_address is declared with the other backends' in ../describe.h.
 */
#ifndef WSH_ARENA_TRACKED_H
#define WSH_ARENA_TRACKED_H

#include <stddef.h>

#include "../internal.h"
#include "../track.h"

/* The tracked arena backend. wsh_backend_select returns it for arena heaps while
 * wsh_track_active(); its name is "arena" too. */
extern const struct wsh_backend_ops wsh_arena_tracked_ops;

/* Bytes of chunks a tracked arena heap holds now for live blocks (redzones included), which
 * ACTUAL_SIZE (Windows' figure, policy.h) does not show. */
size_t wsh_arena_tracked_held(const struct wsh_heap *heap);

/* Memcheck's view of a tracked arena: one mempool per heap, keyed by `pool`. Empty without
 * valgrind support; the caller checks wsh_track_memcheck() first. */
static inline void wsh_track_pool_create(const void *pool, size_t redzone)
{
#if WSH_TRACK_VALGRIND
    VALGRIND_CREATE_MEMPOOL(pool, redzone, 0);
#else
    (void)pool;
    (void)redzone;
#endif
}

static inline void wsh_track_pool_alloc(const void *pool, const void *block, size_t size)
{
#if WSH_TRACK_VALGRIND
    VALGRIND_MEMPOOL_ALLOC(pool, block, size);
#else
    (void)pool;
    (void)block;
    (void)size;
#endif
}

/* Every block of the pool dies (memcheck remembers them as freed, with this call's stack). */
static inline void wsh_track_pool_clear(const void *pool)
{
#if WSH_TRACK_VALGRIND
    VALGRIND_MEMPOOL_TRIM(pool, 0, 0);
#else
    (void)pool;
#endif
}

static inline void wsh_track_pool_destroy(const void *pool)
{
#if WSH_TRACK_VALGRIND
    VALGRIND_DESTROY_MEMPOOL(pool);
#else
    (void)pool;
#endif
}

#endif
