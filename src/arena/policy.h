/* SPDX-License-Identifier: MIT */
/*
 * The arena's sizing policy: the first chunk, how chunks grow, and what a reset keeps. The
 * arena (arena.c) and the tracked arena (tracked.c, the same chunks plus redzones) size their
 * chunks with it, and the statistics (stats.c) suggest a trimSize with it, so the advice follows
 * the arena by construction. Pure functions of their arguments.
 */
#ifndef WSH_ARENA_POLICY_H
#define WSH_ARENA_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../internal.h"

#define WSH_ARENA_FIRST_CHUNK ((size_t)4096)    /* the first chunk, and the least a reset keeps */
#define WSH_ARENA_MAX_CHUNK   ((size_t)1 << 20) /* normal chunks double until this size */
#define WSH_ARENA_MAX_REQUEST (SIZE_MAX / 4)    /* larger requests fail before any arithmetic */
#define WSH_ARENA_ROUND_UNIT  ((size_t)4096)    /* a kept chunk's size is a multiple of this */

/* The size of the normal chunk after one of `size` bytes: twice as large, until
 * WSH_ARENA_MAX_CHUNK is reached. */
static inline size_t wsh_arena_grow(size_t size)
{
    return size < WSH_ARENA_MAX_CHUNK ? 2 * size : size;
}

/* Whether a request of `need` bytes gets a chunk of its own instead of starting a new normal
 * chunk of `next_size` bytes: when it would fill more than half of that chunk. */
static inline bool wsh_arena_own_chunk(size_t need, size_t next_size)
{
    return need > next_size / 2;
}

/* The most a reset may keep for a heap with these sizes: trimSize rounded down to a multiple of
 * 8 (a kept chunk's end is the window's end, which must stay 8-aligned for the fast path's
 * rounding), but never less than the first chunk (Windows keeps its first chunk too), and
 * everything (SIZE_MAX) when trimSize > maxSize ("not trimmed"). */
static inline size_t wsh_arena_keep_limit(size_t trim_size, size_t max_size)
{
    size_t trim = trim_size & ~(WSH_ALIGN - 1);

    if (trim_size > max_size) return SIZE_MAX;
    return trim > WSH_ARENA_FIRST_CHUNK ? trim : WSH_ARENA_FIRST_CHUNK;
}

/* The size of the one chunk a reset keeps after a round of `used` bytes (8-byte aligned, as
 * handed out) that spilled over several chunks: room for the round and a quarter more, in whole
 * WSH_ARENA_ROUND_UNITs (the largest multiple when that overflows), capped at `keep_limit`
 * (from wsh_arena_keep_limit). A multiple of 8. */
static inline size_t wsh_arena_kept_size(size_t used, size_t keep_limit)
{
    size_t want = used + used / 4, size;

    if (want < used || want > SIZE_MAX - WSH_ARENA_ROUND_UNIT)
        size = SIZE_MAX & ~(WSH_ARENA_ROUND_UNIT - 1);
    else
        size = wsh_align_up(want, WSH_ARENA_ROUND_UNIT);
    return size < keep_limit ? size : keep_limit;
}

/* The least trimSize with which a reset keeps a chunk for a round of `used` bytes: that chunk's
 * size, at least the first chunk (which a reset keeps anyway). For any maxSize >= the answer,
 * wsh_arena_keep_limit(answer, maxSize) >= wsh_arena_kept_size(used, SIZE_MAX). */
static inline size_t wsh_arena_suggested_trim(size_t used)
{
    size_t size = wsh_arena_kept_size(used, SIZE_MAX);

    return size > WSH_ARENA_FIRST_CHUNK ? size : WSH_ARENA_FIRST_CHUNK;
}

/*
 * ACTUAL_SIZE as Windows reports it. Windows' heap takes its memory in chunks of 128, 256, 512,
 * ... bytes, each twice the last, and a reset keeps its first chunks up to trimSize (at least
 * the first): it reports 128 after WsAlloc(128) on a new heap, 384 after a further WsAlloc(1),
 * and 128 after a reset with trimSize 0. The arena's own chunks are larger (policy above), so
 * ACTUAL_SIZE is computed from this model instead: chunks of Windows' sizes, carved in order
 * from the bytes the heap handed out, with no memory or work behind them (docs/api.md).
 */
#define WSH_WINDOWS_CHUNK ((size_t)128) /* Windows' first chunk; each next one doubles */

/* Windows' chunks holding `used` bytes: the least 128 * (2^k - 1) >= used; 0 for 0, and
 * saturated (a multiple of 8 near SIZE_MAX) when that overflows. */
static inline size_t wsh_windows_chunks_for(size_t used)
{
    size_t q;
    int k;

    if (used == 0) return 0;
    q = used / WSH_WINDOWS_CHUNK + (used % WSH_WINDOWS_CHUNK != 0);
    k = 64 - __builtin_clzll((unsigned long long)q);
    if (k >= 57) return SIZE_MAX & ~(WSH_ALIGN - 1);
    return WSH_WINDOWS_CHUNK * (((size_t)1 << k) - 1);
}

/* Windows' chunks that fit in `limit` bytes: the largest 128 * (2^k - 1) <= limit. */
static inline size_t wsh_windows_chunks_within(size_t limit)
{
    size_t q = limit / WSH_WINDOWS_CHUNK;
    int k;

    if (q == SIZE_MAX / WSH_WINDOWS_CHUNK) q--; /* q + 1 must not overflow */
    k = 63 - __builtin_clzll((unsigned long long)(q + 1));
    return WSH_WINDOWS_CHUNK * (((size_t)1 << k) - 1);
}

/* ACTUAL_SIZE for a heap that handed out `used` bytes (8-aligned, zero-size blocks counting 8)
 * since its last reset, whose rounds before used at most `peak` bytes each (0: no round with a
 * block yet): the chunks this round needs, or the chunks the last reset kept if more, which are
 * those of the largest round, capped at trimSize's worth (at least the first chunk; uncapped
 * when trimSize > maxSize, "not trimmed"). */
static inline size_t wsh_windows_actual_size(size_t used, size_t peak, size_t trim_size,
                                             size_t max_size)
{
    size_t now = wsh_windows_chunks_for(used), kept = wsh_windows_chunks_for(peak);

    if (trim_size <= max_size) {
        size_t cap = wsh_windows_chunks_within(trim_size);

        if (cap < WSH_WINDOWS_CHUNK) cap = WSH_WINDOWS_CHUNK;
        if (kept > cap) kept = cap;
    }
    return now > kept ? now : kept;
}

#endif
