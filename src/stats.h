/* SPDX-License-Identifier: MIT */
/*
 * Heap statistics by creation site (WSHEAP_STATS=1) and the leak report (WSHEAP_LEAKS=1): a
 * registry of the heaps created while either is on, grouped by the stack of WsCreateHeap. A
 * watched heap has heap->stats (and heap->watched) set; its window is closed for its first 64 KiB
 * (every WsAlloc reaches these hooks), then ends at the next sample point too, so the fast path
 * runs between sample points and the hooks count through the window (stats.c explains what is
 * exact and what is estimated). An unwatched heap (the normal case) never calls into this file.
 * The hooks sit around the backend calls rather than wrapping them, so stacks the guarded
 * backend records show no extra frame.
 */
#ifndef WSH_STATS_H
#define WSH_STATS_H

#include "internal.h"

/* True when heaps created now are to be watched: WSHEAP_STATS or WSHEAP_LEAKS is on. */
static inline bool wsh_stats_wanted(const struct wsh_options *options)
{
    return options->stats || options->leaks;
}

/* Registers `heap`, whose common fields are filled in, under the site named by its caller's
 * stack (captured here, from WsCreateHeap's caller outwards), and sets heap->stats. When memory
 * for the record
 * runs out the heap simply stays unwatched (heap->stats NULL). Takes the registry lock. */
void wsh_stats_heap_created(struct wsh_heap *heap);

/* Notes the calling thread's system allocation count, so that a *_done hook can count a
 * backend call's own. No lock. */
void wsh_stats_mark(struct wsh_heap *heap);

/* Before ops->alloc of `size` bytes (within the quota) on a watched heap: folds what the fast
 * path handed out since the window opened, decides what this call counts for (1, or more when it
 * is a sample point: the next one is drawn), and marks. No lock (the heap's user serializes). */
void wsh_stats_alloc_begin(struct wsh_heap *heap, size_t size);

/* After a successful ops->alloc of `size` bytes on a watched heap (before requested_size is
 * updated): counts the allocation, its aligned size, the system allocations the backend made
 * and the heap's ACTUAL_SIZE. No lock. */
void wsh_stats_alloc_done(struct wsh_heap *heap, size_t size);

/* Before ops->reset on a watched heap: folds the window and the round's ACTUAL_SIZE, and
 * marks. No lock. */
void wsh_stats_reset_begin(struct wsh_heap *heap);

/* Counts a WsAlloc of `size` bytes from a watched heap refused with WS_E_QUOTA_EXCEEDED.
 * No lock. */
void wsh_stats_quota_failure(struct wsh_heap *heap, size_t size);

/* After ops->reset on a watched heap: counts the reset's system allocations (a chunk sized for
 * the round belongs to the round) and folds the round into the site. Takes the registry lock. */
void wsh_stats_reset_done(struct wsh_heap *heap);

/* Called by WsFreeHeap before the backend destroys a watched heap: ends its last round, keeps
 * its name for the table, and drops it from the live heaps. Takes the registry lock. */
void wsh_stats_heap_freed(struct wsh_heap *heap);

/* Test hook: heaps created from now on are counted call by call for their first `exact` bytes
 * (SIZE_MAX: always), then sampled every `mean` bytes on average, from random numbers seeded
 * with `seed` (0: a different seed per heap). The defaults are 64 KiB, 32 KiB, 0. */
void wsh_stats_set_sampling(size_t exact, size_t mean, uint64_t seed);

#endif
