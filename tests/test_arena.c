/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the arena backend: the fast-path window and the quota folded into it,
 * chunk growth, large blocks in chunks of their own, what a reset keeps (trimSize), that
 * repeating the same round after a reset makes no request to the system allocator, the model
 * behind ACTUAL_SIZE (Windows' figures, not the chunks: HELD is the memory really held), that
 * the statistics' suggested trimSize is what the sizing policy keeps, and that a debug build
 * stops at a corrupted window.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "arena/arena.h"
#include "arena/cache.h"
#include "arena/policy.h"
#include "death.h"
#include "heaps.h"
#include "internal.h"
#include "os.h"
#include "track.h"

/* Bytes of chunks the heap really holds (ACTUAL_SIZE reports Windows' model instead). */
#define HELD(heap) wsh_arena_held((const struct wsh_heap *)(heap))

#define ACTUAL(heap) heap_property((heap), WS_HEAP_PROPERTY_ACTUAL_SIZE)

static WS_HEAP *new_heap(size_t max_size, size_t trim_size)
{
    WS_HEAP *heap = NULL;

    assert_int_equal(WsCreateHeap(max_size, trim_size, NULL, 0, &heap, NULL), S_OK);
    assert_string_equal(wsheap_backend_name(heap), "arena");
    return heap;
}

/* One round of the W1-like workload: a fixed sequence of sizes, every byte written. */
static size_t run_round(WS_HEAP *heap, unsigned seed, int n)
{
    size_t total = 0;

    for (int i = 0; i < n; i++) {
        size_t size;

        seed = seed * 1103515245u + 12345u;
        size = (seed >> 8) % 100 < 70   ? 8 + (seed >> 16) % 57
               : (seed >> 8) % 100 < 95 ? 65 + (seed >> 16) % 448
                                        : 513 + (seed >> 16) % 3584;
        alloc_written(heap, size);
        total += size;
    }
    return total;
}

static void test_window_is_the_chunk_and_the_quota(void **state)
{
    struct wsh_heap *h;
    WS_HEAP *heap = new_heap(100, 0);

    (void)state;
    h = (struct wsh_heap *)heap;
    /* A new heap's window is open on its embedded first chunk, narrowed to the quota (100
     * bytes, rounded down to 96); ACTUAL_SIZE is Windows' 0, then its first 128-byte chunk. */
    assert_int_equal((size_t)(h->end - h->cur), 96);
    assert_int_equal(ACTUAL(heap), 0);
    assert_int_equal(HELD(heap), 4096);
    alloc_written(heap, 1); /* the fast path */
    assert_int_equal(ACTUAL(heap), 128);
    assert_int_equal(HELD(heap), 4096);
    /* The fast path does not recompute the window; it just used 8 of its 96 bytes. */
    assert_int_equal((size_t)(h->end - h->cur), 88);
    alloc_written(heap, 96); /* 99 bytes of quota are left: the slow path's exact test allows it */
    assert_ptr_equal(h->cur, h->end); /* 3 bytes of quota left: the window is closed */
    alloc_written(heap, 3);           /* 3 bytes left: the slow path's exact test allows it */
    assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE), 100);
    WsFreeHeap(heap);
}

/* A new heap's first reset is already "cur = rewind" (heap.c alone, no backend call), and
 * ACTUAL_SIZE still follows Windows through such resets: 0 before any block, then the first
 * chunk that a reset keeps. */
static void test_first_reset_rewinds_and_actual_size_follows(void **state)
{
    WS_HEAP *heap = new_heap(SIZE_MAX, 0);
    struct wsh_heap *h = (struct wsh_heap *)heap;

    (void)state;
    assert_non_null(h->rewind);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK); /* a reset with nothing allocated */
    assert_int_equal(ACTUAL(heap), 0);
    alloc_written(heap, 16);
    assert_int_equal(ACTUAL(heap), 128);
    for (int round = 0; round < 3; round++) {
        wsh_os_fail_at(0);
        assert_int_equal(WsResetHeap(heap, NULL), S_OK);
        assert_int_equal(wsh_os_requests(), 0);
        assert_int_equal(ACTUAL(heap), 128);
        assert_non_null(h->rewind); /* one kept chunk: the next reset is "cur = rewind" */
        assert_ptr_equal(h->cur, h->rewind);
        assert_int_equal(HELD(heap), 4096);
    }
    alloc_written(heap, 4096);
    alloc_written(heap, 8); /* spills into a second chunk: a reset needs the backend again */
    assert_null(h->rewind);
    assert_int_equal(ACTUAL(heap), 128 + 256 + 512 + 1024 + 2048 + 4096); /* 4120 bytes */
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(ACTUAL(heap), 128); /* trimSize 0: Windows keeps its first chunk */
    assert_int_equal(HELD(heap), 4096);  /* and wsheap its own */
    WsFreeHeap(heap);
}

/* The model itself: Windows' chunks are 128, 256, 512, ... bytes; a round needs the fewest
 * that hold its bytes; a reset keeps the largest round's chunks up to trimSize (at least the
 * first), or all of them when trimSize > maxSize. */
static void test_windows_actual_size_model(void **state)
{
    (void)state;
    assert_int_equal(wsh_windows_chunks_for(0), 0);
    assert_int_equal(wsh_windows_chunks_for(1), 128);
    assert_int_equal(wsh_windows_chunks_for(128), 128);
    assert_int_equal(wsh_windows_chunks_for(129), 384);
    assert_int_equal(wsh_windows_chunks_for(384), 384);
    assert_int_equal(wsh_windows_chunks_for(385), 896);
    assert_int_equal(wsh_windows_chunks_for(SIZE_MAX / 2), SIZE_MAX & ~(size_t)7);
    assert_int_equal(wsh_windows_chunks_within(0), 0);
    assert_int_equal(wsh_windows_chunks_within(383), 128);
    assert_int_equal(wsh_windows_chunks_within(384), 384);
    assert_int_equal(wsh_windows_chunks_within(SIZE_MAX), SIZE_MAX / 128 / 2 * 128);
    /* used, peak, trimSize, maxSize */
    assert_int_equal(wsh_windows_actual_size(0, 0, 0, SIZE_MAX), 0);
    assert_int_equal(wsh_windows_actual_size(128, 0, 0, SIZE_MAX), 128);
    assert_int_equal(wsh_windows_actual_size(136, 0, 0, SIZE_MAX), 384);
    assert_int_equal(wsh_windows_actual_size(0, 136, 0, SIZE_MAX), 128);
    assert_int_equal(wsh_windows_actual_size(0, 100000, 1000, SIZE_MAX), 896);
    assert_int_equal(wsh_windows_actual_size(200, 100000, 1000, SIZE_MAX), 896);
    assert_int_equal(wsh_windows_actual_size(0, 100000, 1000, 999), 130944); /* not trimmed */
    assert_int_equal(wsh_windows_actual_size(5000, 136, 0, SIZE_MAX), 8064);
}

static void test_chunks_double_and_large_blocks_get_their_own(void **state)
{
    WS_HEAP *heap = new_heap(SIZE_MAX, 0);

    (void)state;
    alloc_written(heap, 16);
    assert_int_equal(HELD(heap), 4096);
    alloc_written(heap, 4096 - 16); /* fills the first chunk exactly */
    assert_int_equal(HELD(heap), 4096);
    alloc_written(heap, 8); /* second chunk: twice the first */
    assert_int_equal(HELD(heap), 4096 + 8192);
    alloc_written(heap, 1 << 20); /* far larger than the next chunk: a chunk of its own */
    assert_int_equal(HELD(heap), 4096 + 8192 + (1 << 20));
    alloc_written(heap, 8); /* still served from the second chunk, not a new one */
    assert_int_equal(HELD(heap), 4096 + 8192 + (1 << 20));
    WsFreeHeap(heap);
}

static void test_zero_size_blocks_are_distinct(void **state)
{
    WS_HEAP *heap = new_heap(0, 0); /* maxSize 0: only zero-size requests succeed */
    void *a, *b;

    (void)state;
    a = alloc_written(heap, 0);
    b = alloc_written(heap, 0);
    assert_ptr_not_equal(a, b);
    assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE), 0);
    WsFreeHeap(heap);
}

static void test_reset_rewinds_a_single_chunk_without_requests(void **state)
{
    WS_HEAP *heap = new_heap(SIZE_MAX, 0);
    void *first, *again;

    (void)state;
    first = alloc_written(heap, 24);
    alloc_written(heap, 100);
    wsh_os_fail_at(0); /* resets the request counter */
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    again = alloc_written(heap, 24);
    assert_ptr_equal(first, again); /* the same memory, reused */
    assert_int_equal(wsh_os_requests(), 0);
    assert_int_equal(HELD(heap), 4096);
    assert_int_equal(ACTUAL(heap), 128);
    WsFreeHeap(heap);
}

static void test_trim_zero_keeps_the_first_chunk_only(void **state)
{
    WS_HEAP *heap = new_heap(SIZE_MAX, 0);

    (void)state;
    run_round(heap, 1, 1000);
    assert_true(HELD(heap) > 100000);
    assert_true(ACTUAL(heap) > 100000);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    /* Windows keeps its first chunk at trimSize 0 (128 bytes); so does wsheap (4096). */
    assert_int_equal(HELD(heap), 4096);
    assert_int_equal(ACTUAL(heap), 128);
    WsFreeHeap(heap);
}

static void test_trim_size_bounds_what_reset_keeps(void **state)
{
    WS_HEAP *heap = new_heap(SIZE_MAX, 64 * 1024);

    (void)state;
    run_round(heap, 2, 1000); /* about 200 KiB */
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_true(HELD(heap) <= 64 * 1024);
    assert_true(HELD(heap) >= 4096);
    assert_int_equal(ACTUAL(heap), 128 * 511); /* Windows' chunks up to 64 KiB: 128..32768 */
    WsFreeHeap(heap);
}

static void test_trim_above_max_keeps_everything_needed(void **state)
{
    /* trimSize > maxSize: "not trimmed". A reset gives nothing back, and the one chunk it
     * keeps holds the whole round. */
    WS_HEAP *heap = new_heap(1 << 20, (1 << 20) + 1);
    size_t used, held;

    (void)state;
    used = run_round(heap, 3, 1000);
    held = HELD(heap);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_true(HELD(heap) >= used);
    assert_true(HELD(heap) >= held);
    assert_true(ACTUAL(heap) >= used);
    wsh_os_fail_at(0);
    run_round(heap, 3, 1000);
    assert_int_equal(wsh_os_requests(), 0);
    WsFreeHeap(heap);
}

/* Any trimSize is safe, not only multiples of 8: a reset keeps a chunk of at most trimSize
 * bytes, and that chunk's end must stay 8-aligned, or the fast path hands out blocks running
 * past it (the window's end is the chunk's end, and blocks are rounded up to 8 bytes). Every
 * block must lie inside the window it was cut from, whatever trimSize and maxSize are. */
static void test_odd_trim_sizes_keep_blocks_inside_the_chunk(void **state)
{
    static const size_t trims[] = {4097, 4099, 5001, 8191, 12345, 65535, 100003};

    (void)state;
    for (size_t t = 0; t < sizeof trims / sizeof trims[0]; t++) {
        for (int odd_max = 0; odd_max < 2; odd_max++) {
            size_t max_size = odd_max ? trims[t] * 3 + 5 : SIZE_MAX;
            WS_HEAP *heap = new_heap(max_size, trims[t]);
            struct wsh_heap *h = (struct wsh_heap *)heap;

            for (int round = 0; round < 6; round++) {
                for (size_t used = 0; used + 1000 <= trims[t] * 2 && used + 1000 <= max_size;
                     used += 1000) {
                    char *before_limit = h->limit;
                    char *p = alloc_written(heap, 1000);

                    assert_int_equal((uintptr_t)h->limit % 8, 0);
                    assert_int_equal((uintptr_t)h->end % 8, 0);
                    assert_true(h->cur <= h->end);
                    assert_true(h->end <= h->limit);
                    /* Fast path: the block came from the window that was open before. */
                    if (h->limit == before_limit) assert_true(p + 1000 <= h->limit);
                }
                assert_int_equal(WsResetHeap(heap, NULL), S_OK);
                assert_true(HELD(heap) <= trims[t]);
                assert_true(ACTUAL(heap) <= trims[t]);
                assert_int_equal((uintptr_t)h->limit % 8, 0);
            }
            WsFreeHeap(heap);
        }
    }
}

/* A heap whose trimSize is below its rounds spills every round; its spill chunks stay the size
 * of a round instead of doubling towards the largest chunk size round after round. */
static void test_spilling_rounds_do_not_grow_chunks(void **state)
{
    WS_HEAP *heap = new_heap(SIZE_MAX, 0);

    (void)state;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 10; i++)
            alloc_written(heap, 1000); /* about 10 KB per round */
        assert_true(HELD(heap) <= 4096 + 8192 + 16384);
        assert_int_equal(WsResetHeap(heap, NULL), S_OK);
        assert_int_equal(HELD(heap), 4096);
    }
    WsFreeHeap(heap);
}

/* The central promise: when trimSize covers a round, repeating the round after a reset makes no
 * allocator call and no system call, whatever the round's block sizes. */
static void test_steady_state_makes_no_requests(void **state)
{
    static const struct {
        int n;           /* allocations per round */
        size_t big_size; /* 0, or one extra large block per round */
    } rounds[] = {{10, 0}, {1000, 0}, {1000, 200 * 1024}, {64, 256 * 1024}, {100000, 0}};

    (void)state;
    for (size_t i = 0; i < sizeof rounds / sizeof rounds[0]; i++) {
        WS_HEAP *heap = new_heap(SIZE_MAX, 64 << 20);

        for (int warm = 0; warm < 2; warm++) {
            run_round(heap, 7, rounds[i].n);
            if (rounds[i].big_size) alloc_written(heap, rounds[i].big_size);
            assert_int_equal(WsResetHeap(heap, NULL), S_OK);
        }
        wsh_os_fail_at(0);
        for (int r = 0; r < 5; r++) {
            run_round(heap, 7, rounds[i].n);
            if (rounds[i].big_size) alloc_written(heap, rounds[i].big_size);
            assert_int_equal(WsResetHeap(heap, NULL), S_OK);
        }
        assert_int_equal(wsh_os_requests(), 0);
        WsFreeHeap(heap);
    }
}

/* Rounds of varying size settle too: the kept chunk has a quarter of headroom, so after the
 * largest round has been seen once, no round asks the system for memory. */
static void test_varying_rounds_settle(void **state)
{
    WS_HEAP *heap = new_heap(SIZE_MAX, SIZE_MAX);

    (void)state;
    for (unsigned seed = 0; seed < 20; seed++) {
        run_round(heap, seed, 1000);
        assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    }
    wsh_os_fail_at(0);
    for (unsigned seed = 0; seed < 20; seed++) {
        run_round(heap, seed, 1000);
        assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    }
    assert_int_equal(wsh_os_requests(), 0);
    WsFreeHeap(heap);
}

static void test_out_of_memory_leaves_the_heap_usable(void **state)
{
    WS_HEAP *heap = new_heap(SIZE_MAX, 0);
    void *p = (void *)0x1;

    (void)state;
    alloc_written(heap, 4096);                  /* the first chunk is full */
    while ((p = wsh_cache_get_chunk()) != NULL) /* the next chunk must come from the system */
        free(p);
    p = (void *)0x1;
    wsh_os_fail_at(1); /* the next chunk cannot be had */
    assert_int_equal(WsAlloc(heap, 16, &p, NULL), E_OUTOFMEMORY);
    assert_ptr_equal(p, (void *)0x1);
    assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE), 4096);
    alloc_written(heap, 16); /* the next attempt succeeds */
    assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE), 4112);
    wsh_os_fail_at(0);
    WsFreeHeap(heap);
}

/* A freed heap's object goes to the thread's cache, which keeps its link in the object's first
 * word: the window must not stay open, or WsAlloc on the stale handle would take the fast path
 * (corrupting the cache) instead of failing with E_INVALIDARG as the documentation says. */
static void test_freed_heap_is_rejected_not_served(void **state)
{
    WS_HEAP *heap = new_heap(SIZE_MAX, 0);
    void *p = (void *)&p;

    (void)state;
    alloc_written(heap, 16);
    WsFreeHeap(heap);
    assert_int_equal(WsAlloc(heap, 16, &p, NULL), E_INVALIDARG);
    assert_ptr_equal(p, (void *)&p); /* untouched */
    /* The cached object serves the next heap as if nothing had happened. */
    heap = new_heap(SIZE_MAX, 0);
    alloc_written(heap, 16);
    WsFreeHeap(heap);
}

/* The statistics suggest wsh_arena_suggested_trim(round) (stats.c): with that trimSize, a reset
 * may keep the chunk the policy sizes for that round, whatever maxSize above it; and every size
 * the policy keeps is a multiple of 8, whatever trimSize, so the window's end stays aligned. */
static void test_suggested_trim_size_keeps_the_round(void **state)
{
    static const size_t odd_limits[] = {4096, 4103, 12345, 65535, SIZE_MAX};

    (void)state;
    for (size_t used = 0; used < ((size_t)3 << 20); used = used * 5 / 4 + 8) {
        size_t trim = wsh_arena_suggested_trim(used);
        size_t kept = wsh_arena_kept_size(used, SIZE_MAX);

        assert_int_equal(trim % WSH_ARENA_ROUND_UNIT, 0);
        assert_true(trim >= WSH_ARENA_FIRST_CHUNK);
        assert_true(kept >= used + used / 4);
        assert_true(wsh_arena_keep_limit(trim, trim) >= kept);
        assert_true(wsh_arena_keep_limit(trim, SIZE_MAX) >= kept);
        for (size_t i = 0; i < sizeof odd_limits / sizeof odd_limits[0]; i++) {
            size_t limit = wsh_arena_keep_limit(odd_limits[i], SIZE_MAX);

            assert_int_equal(wsh_arena_kept_size(used, limit) % WSH_ALIGN, 0);
        }
    }
    assert_int_equal(wsh_arena_kept_size(SIZE_MAX, SIZE_MAX) % WSH_ARENA_ROUND_UNIT, 0);
}

/* Misaligns the window's end, as a kept chunk of an odd trimSize once did, then resets: the
 * rewind reset's window sync must stop the process. */
static void misalign_the_window(void *arg)
{
    WS_HEAP *heap = new_heap(SIZE_MAX, 0);
    struct wsh_heap *h = (struct wsh_heap *)heap;

    (void)arg;
    alloc_written(heap, 16);
    WsResetHeap(heap, NULL); /* the first chunk served a block: the next reset is a rewind */
    h->limit -= 4;
    WsResetHeap(heap, NULL);
}

static void test_corrupted_window_stops_a_debug_build(void **state)
{
    char out[4096];
    int status;

    (void)state;
#ifdef NDEBUG
    skip(); /* wsh_assert is compiled out */
#endif
    if (wsh_track_memcheck()) skip(); /* a death test: valgrind would report the child's abort */
    status = run_in_child(misalign_the_window, NULL, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(out, "wsheap: assertion failed at "));
    assert_non_null(strstr(out, "heap->limit"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_is_the_chunk_and_the_quota),
        cmocka_unit_test(test_first_reset_rewinds_and_actual_size_follows),
        cmocka_unit_test(test_windows_actual_size_model),
        cmocka_unit_test(test_chunks_double_and_large_blocks_get_their_own),
        cmocka_unit_test(test_zero_size_blocks_are_distinct),
        cmocka_unit_test(test_reset_rewinds_a_single_chunk_without_requests),
        cmocka_unit_test(test_trim_zero_keeps_the_first_chunk_only),
        cmocka_unit_test(test_trim_size_bounds_what_reset_keeps),
        cmocka_unit_test(test_trim_above_max_keeps_everything_needed),
        cmocka_unit_test(test_odd_trim_sizes_keep_blocks_inside_the_chunk),
        cmocka_unit_test(test_spilling_rounds_do_not_grow_chunks),
        cmocka_unit_test(test_steady_state_makes_no_requests),
        cmocka_unit_test(test_varying_rounds_settle),
        cmocka_unit_test(test_out_of_memory_leaves_the_heap_usable),
        cmocka_unit_test(test_freed_heap_is_rejected_not_served),
        cmocka_unit_test(test_suggested_trim_size_keeps_the_round),
        cmocka_unit_test(test_corrupted_window_stops_a_debug_build),
    };

    /* These tests are about the untracked arena's chunk policy; under ASan or memcheck heaps
     * would get the tracked arena (tests/test_track.c), so ask for the untracked one. */
    wsh_track_force(WSH_TRACK_OFF);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
