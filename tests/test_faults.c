/* SPDX-License-Identifier: MIT */
/*
 * Fault injection: a fixed scenario of heap and error-object calls is run once per system
 * request it makes, with that request failing (wsh_os_fail_at). Every call that meets the
 * failure must answer E_OUTOFMEMORY with a message (or absorb it where the API cannot fail),
 * leave its out-parameters alone, and leave every heap usable with its blocks intact; nothing
 * may leak (the asan and valgrind runs check that). Runs in the backend WSHEAP_PAGEHEAP picks,
 * and for the arena both untracked and tracked (the ASan/memcheck arena).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arena/cache.h"
#include "errors.h"
#include "heaps.h"
#include "internal.h"
#include "os.h"
#include "track.h"

#define SENTINEL   ((void *)(uintptr_t)0x5e5e5e5e5e58u)
#define MAX_BLOCKS 32

struct block {
    unsigned char *p;
    size_t size;
    unsigned char fill;
};

/* What a heap must look like: its blocks since the last reset and their sum. */
struct model {
    WS_HEAP *heap;
    size_t max_size;
    size_t requested;
    struct block blocks[MAX_BLOCKS];
    int n_blocks;
};

/* The current run: which request fails, and whether a call has met it. */
static unsigned long fail_target;
static int n_failed_calls;
static unsigned char next_fill = 1;

/* True when the injected failure happened between `before` and now. */
static bool failed_since(unsigned long before)
{
    unsigned long now = wsh_os_requests();

    return fail_target != 0 && fail_target > before && fail_target <= now;
}

/* The newest string of `error` must mention `what`. */
static void expect_message(WS_ERROR *error, const char *what)
{
    char text[600];

    newest_error_string(error, text, sizeof text);
    if (strstr(text, what) == NULL) fail_msg("expected \"%s\" in \"%s\"", what, text);
}

/* Every block of `m` still holds its fill, and the properties agree with the model. */
static void verify(const struct model *m)
{
    assert_int_equal(heap_property(m->heap, WS_HEAP_PROPERTY_REQUESTED_SIZE), m->requested);
    assert_int_equal(heap_property(m->heap, WS_HEAP_PROPERTY_MAX_SIZE), m->max_size);
    assert_true(heap_property(m->heap, WS_HEAP_PROPERTY_ACTUAL_SIZE) >= m->requested);
    for (int i = 0; i < m->n_blocks; i++) {
        const struct block *b = &m->blocks[i];
        size_t step = b->size <= 4096 ? 1 : 61; /* big blocks: a sample (valgrind is slow) */

        for (size_t k = 0; k < b->size; k += step)
            if (b->p[k] != b->fill)
                fail_msg("block %d (%zu bytes) changed at byte %zu", i, b->size, k);
        if (b->size > 0 && b->p[b->size - 1] != b->fill) fail_msg("block %d changed at its end", i);
    }
}

/* --- Checked calls: retried after an injected failure, which must look right ------------------ */

static WS_ERROR *create_error(void)
{
    for (;;) {
        WS_ERROR *e = SENTINEL;
        unsigned long before = wsh_os_requests();
        HRESULT hr = WsCreateError(NULL, 0, &e);

        if (hr == S_OK) return e;
        assert_int_equal(hr, E_OUTOFMEMORY);
        assert_true(failed_since(before));
        assert_ptr_equal(e, SENTINEL);
        n_failed_calls++;
    }
}

static void create_heap(struct model *m, size_t max_size, size_t trim_size, WS_ERROR *error)
{
    memset(m, 0, sizeof *m);
    m->max_size = max_size;
    for (;;) {
        WS_HEAP *h = SENTINEL;
        ULONG n = error_string_count(error);
        unsigned long before = wsh_os_requests();
        HRESULT hr = WsCreateHeap(max_size, trim_size, NULL, 0, &h, error);

        if (hr == S_OK) {
            m->heap = h;
            verify(m);
            return;
        }
        assert_int_equal(hr, E_OUTOFMEMORY);
        assert_true(failed_since(before));
        assert_ptr_equal(h, SENTINEL);
        assert_int_equal(error_string_count(error), n + 1);
        expect_message(error, "out of memory");
        n_failed_calls++;
    }
}

static void alloc(struct model *m, size_t size, WS_ERROR *error)
{
    assert_true(m->n_blocks < MAX_BLOCKS);
    for (;;) {
        void *p = SENTINEL;
        ULONG n = error != NULL ? error_string_count(error) : 0;
        unsigned long before = wsh_os_requests();
        HRESULT hr = WsAlloc(m->heap, size, &p, error);

        if (hr == S_OK) {
            struct block *b = &m->blocks[m->n_blocks++];

            assert_int_equal((uintptr_t)p % 8, 0);
            b->p = p;
            b->size = size;
            b->fill = next_fill++;
            memset(p, b->fill, size);
            m->requested += size;
            verify(m);
            return;
        }
        assert_int_equal(hr, E_OUTOFMEMORY);
        assert_true(failed_since(before));
        assert_ptr_equal(p, SENTINEL);
        if (error != NULL) {
            assert_int_equal(error_string_count(error), n + 1);
            expect_message(error, "out of memory");
        }
        verify(m); /* nothing counted, nothing lost */
        n_failed_calls++;
    }
}

/* A request over the quota: always WS_E_QUOTA_EXCEEDED. Its message is a string the error object
 * allocates, so when that allocation is the one that fails the object stays as it was. */
static void alloc_over_quota(struct model *m, WS_ERROR *error)
{
    void *p = SENTINEL;
    ULONG n = error_string_count(error);
    unsigned long before = wsh_os_requests();

    assert_int_equal(WsAlloc(m->heap, m->max_size - m->requested + 1, &p, error),
                     WS_E_QUOTA_EXCEEDED);
    assert_ptr_equal(p, SENTINEL);
    assert_int_equal(error_string_count(error), failed_since(before) ? n : n + 1);
    verify(m);
}

/* WsResetHeap cannot report running out of memory: a failure inside it (the chunk kept for the
 * next round) must be absorbed. */
static void reset(struct model *m, WS_ERROR *error)
{
    assert_int_equal(WsResetHeap(m->heap, error), S_OK);
    m->requested = 0;
    m->n_blocks = 0;
    verify(m);
}

static void add_string(WS_ERROR *error, const char *ascii)
{
    WCHAR wide[64];
    WS_STRING s = {0, wide};

    while (ascii[s.length] != '\0' && s.length < 64) {
        wide[s.length] = (WCHAR)ascii[s.length];
        s.length++;
    }
    for (;;) {
        ULONG n = error_string_count(error);
        unsigned long before = wsh_os_requests();
        HRESULT hr = WsAddErrorString(error, &s);

        if (hr == S_OK) {
            assert_int_equal(error_string_count(error), n + 1);
            return;
        }
        assert_int_equal(hr, E_OUTOFMEMORY);
        assert_true(failed_since(before));
        assert_int_equal(error_string_count(error), n);
        n_failed_calls++;
    }
}

/* --- The scenario ----------------------------------------------------------------------------- */

/* Starts every run from the same state: the arena's per-thread cache of heap objects (which
 * serves them without a system request) is emptied. */
static void drain_cache(void)
{
    void *p;

    while ((p = wsh_cache_get()) != NULL)
        wsh_os_free(p);
}

/* Two heaps and an error object through creation, small, zero-size, chunk-filling and large
 * blocks, the quota, resets, error strings and teardown. */
static void scenario(void)
{
    struct model a, b;
    WS_ERROR *error = create_error();

    create_heap(&a, 64 * 1024, 4096, error);
    create_heap(&b, SIZE_MAX, 0, error);
    wsheap_set_heap_name(a.heap, "faults");
    alloc(&a, 0, error);
    alloc(&a, 13, error);
    alloc(&a, 4000, NULL);
    alloc(&a, 100, error);
    alloc(&a, 9000, error); /* a chunk of its own, or a new chunk */
    alloc(&b, 1 << 20, error);
    alloc(&b, 24, error);
    alloc_over_quota(&a, error);
    reset(&a, error);
    alloc(&a, 5000, error);
    alloc(&a, 7, error);
    reset(&b, NULL);
    alloc(&b, 3 << 20, error); /* over the kept chunk */
    add_string(error, "scenario");
    assert_int_equal(WsResetError(error), S_OK);
    assert_int_equal(error_string_count(error), 0);
    alloc(&a, 40000, error);
    verify(&a);
    verify(&b);
    WsFreeHeap(a.heap);
    WsFreeHeap(b.heap);
    WsFreeError(error);
}

/* Runs the scenario with request 1, 2, ... failing until a run makes fewer requests than the
 * one that would fail. */
static void walk_every_request(const char *what)
{
    unsigned long n_requests, made, k;
    int absorbed = 0;

    /* Every run makes its scenario() call from this one place, so that process-wide tables
     * keyed by the call stack (the stack depot, statistics sites) are filled by the two warm-up
     * runs (-1 and 0, nothing failing) whatever the compiler does with the loop; run k > 0 makes
     * the k-th request fail. Two warm-up calls from different places (an unrolled loop) gave
     * the second its own stack and so two more requests than a steady run. */
    n_requests = 0;
    for (long run = -1;; run++) {
        k = run > 0 ? (unsigned long)run : 0;
        drain_cache();
        n_failed_calls = 0;
        fail_target = k;
        wsh_os_fail_at(k);
        scenario();
        made = wsh_os_requests();
        wsh_os_fail_at(0); /* disarms, and resets the count */
        fail_target = 0;
        if (run <= 0) {
            n_requests = made;
            assert_true(n_requests > 5);
            continue;
        }
        if (made < k) break; /* the run ended before request k */
        assert_true(n_failed_calls <= 1);
        if (n_failed_calls == 0) absorbed++;
    }
    drain_cache();
    print_message("%s: %lu system requests in the scenario; %lu runs with one failing, "
                  "%d absorbed (WsResetHeap, or an error string that could not be stored)\n",
                  what, n_requests, k - 1, absorbed);
    assert_true(k - 1 >= n_requests);
}

static void test_every_request_fails_once(void **state)
{
    (void)state;
    walk_every_request(wsh_backend_select(wsh_options()) == &wsh_guarded_ops ? "guarded" : "arena");
}

/* The arena again, tracked (the backend ASan builds and memcheck runs get) and untracked. */
static void test_every_request_fails_once_tracked_arena(void **state)
{
    (void)state;
    if (wsh_options()->backend == WSH_BACKEND_GUARDED) skip();
    wsh_track_force(WSH_TRACK_ON);
    walk_every_request("arena (tracked)");
    wsh_track_force(WSH_TRACK_AUTO);
}

static void test_every_request_fails_once_untracked_arena(void **state)
{
    (void)state;
    if (wsh_options()->backend == WSH_BACKEND_GUARDED) skip();
    wsh_track_force(WSH_TRACK_OFF);
    walk_every_request("arena (untracked)");
    wsh_track_force(WSH_TRACK_AUTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_request_fails_once),
        cmocka_unit_test(test_every_request_fails_once_tracked_arena),
        cmocka_unit_test(test_every_request_fails_once_untracked_arena),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
