/* SPDX-License-Identifier: MIT */
/*
 * Heap statistics by creation site (WSHEAP_STATS=1) and the leak report (WSHEAP_LEAKS=1): a
 * registry of the heaps created while either is on, grouped by the stack of WsCreateHeap. A
 * watched heap has heap->stats set and an empty window, so every WsAlloc takes the slow path and
 * reaches these hooks; an unwatched heap (the normal case) never calls into this file. The hooks
 * sit around the backend calls rather than wrapping them, so stacks the guarded backend records
 * show no extra frame.
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

/* Called before each backend call (alloc, reset) on a watched heap: notes the calling thread's
 * system allocation count, so that the *_done hook can count the call's own. No lock. */
void wsh_stats_mark(struct wsh_heap *heap);

/* After a successful ops->alloc of `size` bytes on a watched heap (before requested_size is
 * updated): counts the allocation, its aligned size, the system allocations the backend made
 * and the heap's ACTUAL_SIZE. No lock (the heap's user serializes). */
void wsh_stats_alloc_done(struct wsh_heap *heap, size_t size);

/* Counts a WsAlloc of `size` bytes from a watched heap refused with WS_E_QUOTA_EXCEEDED.
 * No lock. */
void wsh_stats_quota_failure(struct wsh_heap *heap, size_t size);

/* After ops->reset on a watched heap: counts the reset's system allocations (a chunk sized for
 * the round belongs to the round) and folds the round into the site. Takes the registry lock. */
void wsh_stats_reset_done(struct wsh_heap *heap);

/* Called by WsFreeHeap before the backend destroys a watched heap: ends its last round, keeps
 * its name for the table, and drops it from the live heaps. Takes the registry lock. */
void wsh_stats_heap_freed(struct wsh_heap *heap);

#endif
