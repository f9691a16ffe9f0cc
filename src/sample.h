/* SPDX-License-Identifier: MIT */
/*
 * Sampled guarding (WSHEAP_SAMPLE_BYTES, docs/sampling.md): an arena heap puts about one block
 * per WSHEAP_SAMPLE_BYTES bytes allocated on guard pages, placed exactly as a guarded heap places
 * it, so that production traffic finds overruns and stale pointers at a cost the fast path never
 * sees. The sample points fold into the bump window (heap->guard, wsh_heap_sync_window): the
 * window ends at the next one, and the allocation that crosses it takes the slow path, where
 * wsh_sample_alloc serves it from the heap's shadow, a guarded heap of its own created on the
 * first sample. Intervals are exponential in bytes with the configured mean, from a per-heap
 * xorshift64* state, so programs that repeat the same sizes do not alias with the sampler.
 * A process-wide budget (WSHEAP_SAMPLE_SLOTS) bounds the live sampled blocks: when it is full,
 * a sample point is skipped, never failed. Whole rounds (WSHEAP_SAMPLE_ROUNDS=N): at each reset
 * (and at creation) a heap draws whether its next round is sampled, with probability 1/N; a
 * sampled round keeps the window closed and serves every block from the shadow, so an overrun
 * from one block into its neighbour traps too, within a process-wide budget of data bytes
 * (WSH_SAMPLE_ROUND_BUDGET; past it, the round's further blocks come from the arena). Arena
 * heaps only: the guarded backend already guards everything, and under ASan or memcheck the
 * tracked arena wins.
 */
#ifndef WSH_SAMPLE_H
#define WSH_SAMPLE_H

#include <stdatomic.h>

#include "internal.h"

/* Largest block served from guard pages; a sample point that falls on a larger one is skipped
 * (it bounds a sampled block's memory: the budget times this is the documented worst case). */
#define WSH_SAMPLE_MAX_BLOCK ((size_t)256 << 10)

/* Data bytes that sampled rounds may hold live in the process, all heaps together. */
#define WSH_SAMPLE_ROUND_BUDGET ((size_t)32 << 20)

/* True once a test forced sampling on (wsh_sample_test_configure); false again after. */
extern atomic_bool wsh_sample_test_on;

/* True when heaps created now may sample: WSHEAP_SAMPLE_BYTES or _ROUNDS is set, or a test
 * forced it. */
static inline bool wsh_sample_wanted(const struct wsh_options *options)
{
    return options->sample_bytes != 0 || options->sample_rounds != 0 ||
           atomic_load_explicit(&wsh_sample_test_on, memory_order_relaxed);
}

/* Called by WsCreateHeap when wsh_sample_wanted, after the public fields of `heap` are set and
 * before its window is synced: an arena heap (`ops` is wsh_arena_ops) starts sampling, with its
 * own random state and first interval. Any other backend does not sample; with WSHEAP_VERBOSE one
 * note (once per process) says why. The first sampling heap prints the settings in verbose mode. */
void wsh_sample_heap_created(struct wsh_heap *heap, const struct wsh_options *options,
                             const struct wsh_backend_ops *ops);

/* The backend call of WsAlloc's slow path on a sampling heap (the quota is checked): folds what
 * the fast path handed out since the window opened into the interval; when this block crosses
 * the sample point, draws the next interval and, when the budget has a slot and the block is at
 * most WSH_SAMPLE_MAX_BLOCK bytes, serves it from the shadow heap (created now if need be).
 * Otherwise, or when the shadow cannot serve it, calls heap->ops->alloc. Returns its answer. */
HRESULT wsh_sample_alloc(struct wsh_heap *heap, size_t size, void **out);

/* Called by WsResetHeap on a sampling heap before anything moves its window: folds the round's
 * bytes into the interval and, when this round sampled blocks, resets the shadow (pattern check,
 * pages inaccessible and quarantined, as a guarded reset) under the reset number the arena heap
 * is about to get, and gives the blocks' slots back to the budget. */
void wsh_sample_reset(struct wsh_heap *heap);

/* Called by WsFreeHeap on a sampling heap while it is still live: frees the shadow (pattern
 * check, quarantine) and gives its slots back. */
void wsh_sample_heap_freed(struct wsh_heap *heap);

/* What a fault report says about a sampled block: the arena heap and its rates. */
struct wsh_sample_info {
    uintptr_t heap;  /* the arena heap's WS_HEAP handle */
    size_t mean;     /* WSHEAP_SAMPLE_BYTES: mean bytes between sampled blocks; 0: none */
    unsigned rounds; /* WSHEAP_SAMPLE_ROUNDS: about 1 round in this many sampled whole; 0: none */
};

/* When `shadow` (a WS_HEAP handle a fault report names) is, or was, the shadow of an arena heap,
 * fills `out` and returns true. Async-signal-safe and lock-free (the report writer calls it);
 * remembers the last 1024 shadows. */
bool wsh_sample_lookup(uintptr_t shadow, struct wsh_sample_info *out);

/* Live sampled blocks in the process (what the budget holds), sampled rounds' not counted. */
unsigned wsh_sample_live(void);

/* Data bytes live sampled rounds hold in the process (against WSH_SAMPLE_ROUND_BUDGET). */
size_t wsh_sample_round_bytes(void);

/* Test hook: heaps created from now on sample one block per `mean` bytes on average (0: none)
 * and one round in `rounds` (0: none), instead of what WSHEAP_SAMPLE_BYTES and _ROUNDS say,
 * with at most `slots` live sampled blocks (0: WSHEAP_SAMPLE_SLOTS); heap number i (counted from
 * this call) is seeded from `seed` and i (seed 0: a different seed each time). With all of
 * mean, rounds and slots 0, the environment rules again. */
void wsh_sample_test_configure(size_t mean, unsigned rounds, unsigned slots, uint64_t seed);

#endif
