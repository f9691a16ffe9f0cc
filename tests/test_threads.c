/* SPDX-License-Identifier: MIT */
/*
 * Threads: 8 threads, each with several heaps and an error object, run rounds of mixed-size
 * allocations, resets, quota failures and heap replacement, checking every block's contents;
 * at the end each thread frees its neighbour's heaps (a heap is not tied to the thread that
 * made it). Meanwhile another thread describes addresses of those heaps. Clean under TSan and
 * valgrind, in the backend WSHEAP_PAGEHEAP picks and, for the arena, tracked and untracked.
 * With --stats (run with WSHEAP_STATS=1, as the test threads.stats): the first heaps of the
 * process created by 4 threads at once (the stack capture's lazy initialisation), and heaps
 * renamed by their owner while other threads print statistics or describe their blocks.
 */
#define _GNU_SOURCE /* pthread_barrier_t under -std=c11 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"
#include "track.h"

#define N_THREADS 8
#define N_HEAPS   4
#define MAX_LIVE  160 /* blocks checked per heap and round */

struct block {
    unsigned char *p;
    size_t size;
    unsigned char fill;
};

struct heap_state {
    WS_HEAP *heap;
    size_t max_size;
    size_t requested;
    struct block live[MAX_LIVE];
    int n_live;
};

struct worker {
    int index;
    int rounds;
    uint64_t rng;
    struct heap_state heaps[N_HEAPS];
    char failure[256]; /* the first failed check; "" when none */
};

static struct worker workers[N_THREADS];
static pthread_barrier_t handover;
/* Addresses the describing thread looks up: any block some worker made recently. */
static _Atomic(uintptr_t) published[N_THREADS];
static atomic_bool stop_describing;
static atomic_long n_described;

/* Checks run on worker threads cannot use cmocka's asserts (they longjmp); the first failure
 * is recorded and the main thread reports it. */
#define CHECK(w, cond)                                                                             \
    do {                                                                                           \
        if (!(cond) && (w)->failure[0] == '\0')                                                    \
            snprintf((w)->failure, sizeof(w)->failure, "thread %d, line %d: %s", (w)->index,       \
                     __LINE__, #cond);                                                             \
    } while (0)

static uint32_t next_random(struct worker *w)
{
    w->rng = w->rng * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(w->rng >> 33);
}

/* Mixed sizes: mostly small, some medium, a few large, rarely zero or very large. */
static size_t random_size(struct worker *w)
{
    uint32_t r = next_random(w) % 1000;

    if (r < 10) return 0;
    if (r < 700) return 8 + next_random(w) % 57;
    if (r < 950) return 65 + next_random(w) % 448;
    if (r < 998) return 513 + next_random(w) % 3584;
    return 70000 + next_random(w) % 200000;
}

static size_t requested_size(WS_HEAP *heap)
{
    size_t v = 0;

    if (WsGetHeapProperty(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE, &v, sizeof v, NULL) != S_OK)
        return SIZE_MAX;
    return v;
}

static void new_heap(struct worker *w, struct heap_state *h, WS_ERROR *error)
{
    static const size_t max_sizes[] = {4096, 64 * 1024, 1 << 20, SIZE_MAX};
    static const size_t trims[] = {0, 4096, 256 * 1024, SIZE_MAX};

    memset(h, 0, sizeof *h);
    h->max_size = max_sizes[next_random(w) % 4];
    CHECK(w,
          WsCreateHeap(h->max_size, trims[next_random(w) % 4], NULL, 0, &h->heap, error) == S_OK);
}

static void verify(struct worker *w, const struct heap_state *h)
{
    for (int i = 0; i < h->n_live; i++) {
        const struct block *b = &h->live[i];

        for (size_t k = 0; k < b->size; k += 1 + k / 4)
            CHECK(w, b->p[k] == b->fill);
        if (b->size > 0) CHECK(w, b->p[b->size - 1] == b->fill);
    }
    CHECK(w, requested_size(h->heap) == h->requested);
}

static void one_round(struct worker *w, struct heap_state *h, WS_ERROR *error)
{
    int n = 20 + (int)(next_random(w) % 120);

    for (int i = 0; i < n; i++) {
        size_t size = random_size(w);
        void *p = NULL;
        HRESULT hr = WsAlloc(h->heap, size, &p, error);

        if (size > h->max_size - h->requested) {
            CHECK(w, hr == WS_E_QUOTA_EXCEEDED);
            CHECK(w, p == NULL);
            continue;
        }
        CHECK(w, hr == S_OK);
        if (hr != S_OK) return;
        CHECK(w, (uintptr_t)p % 8 == 0);
        h->requested += size;
        if (h->n_live < MAX_LIVE) {
            struct block *b = &h->live[h->n_live++];

            b->p = p;
            b->size = size;
            b->fill = (unsigned char)(w->index * 31 + h->n_live);
            memset(p, b->fill, size);
        } else if (size > 0) {
            memset(p, 0x11, size);
        }
        atomic_store_explicit(&published[w->index], (uintptr_t)p, memory_order_relaxed);
    }
    verify(w, h);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    WS_ERROR *error = NULL;

    CHECK(w, WsCreateError(NULL, 0, &error) == S_OK);
    for (int k = 0; k < N_HEAPS; k++)
        new_heap(w, &w->heaps[k], error);
    for (int round = 0; round < w->rounds && w->failure[0] == '\0'; round++) {
        for (int k = 0; k < N_HEAPS; k++) {
            struct heap_state *h = &w->heaps[k];

            one_round(w, h, error);
            switch (next_random(w) % 8) {
            case 0: /* replaced by a new heap */
                WsFreeHeap(h->heap);
                new_heap(w, h, error);
                break;
            case 1: /* kept for another round without a reset */
                break;
            default:
                CHECK(w, WsResetHeap(h->heap, error) == S_OK);
                h->requested = 0;
                h->n_live = 0;
                CHECK(w, requested_size(h->heap) == 0);
            }
        }
        CHECK(w, WsResetError(error) == S_OK);
    }
    /* Every thread's heaps are freed by the next thread. */
    pthread_barrier_wait(&handover);
    for (int k = 0; k < N_HEAPS; k++) {
        struct heap_state *h = &workers[(w->index + 1) % N_THREADS].heaps[k];

        verify(w, h);
        WsFreeHeap(h->heap);
    }
    WsFreeError(error);
    return NULL;
}

/* Describes whatever the workers published last, until told to stop. */
static void *describe(void *arg)
{
    char text[4096];

    (void)arg;
    while (!atomic_load(&stop_describing)) {
        for (int i = 0; i < N_THREADS; i++) {
            uintptr_t p = atomic_load_explicit(&published[i], memory_order_relaxed);

            if (p == 0) continue;
            (void)wsheap_describe_address((void *)p, text, sizeof text);
            atomic_fetch_add(&n_described, 1);
        }
    }
    return NULL;
}

static void run_threads(const char *what, bool describing)
{
    pthread_t threads[N_THREADS], describer;
    /* valgrind runs one thread at a time, and a guarded block is a system call or three. */
    int rounds = !wsh_track_memcheck() ? 60 : wsh_options()->backend == WSH_BACKEND_GUARDED ? 2 : 8;

    WS_HEAP *first = NULL;

    /* The first heap of a backend sets process-wide things up (the guarded backend warms its
     * unwinder up); do that here, on the main thread, as a program's first heap usually is. */
    assert_int_equal(WsCreateHeap(1024, 0, NULL, 0, &first, NULL), S_OK);
    WsFreeHeap(first);
    pthread_barrier_init(&handover, NULL, N_THREADS);
    atomic_store(&stop_describing, false);
    atomic_store(&n_described, 0);
    for (int i = 0; i < N_THREADS; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].index = i;
        workers[i].rounds = rounds;
        workers[i].rng = 0x9e3779b97f4a7c15u * (uint64_t)(i + 1);
        atomic_store(&published[i], 0);
    }
    if (describing) assert_int_equal(pthread_create(&describer, NULL, describe, NULL), 0);
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    atomic_store(&stop_describing, true);
    if (describing) assert_int_equal(pthread_join(describer, NULL), 0);
    pthread_barrier_destroy(&handover);
    for (int i = 0; i < N_THREADS; i++)
        if (workers[i].failure[0] != '\0') fail_msg("%s: %s", what, workers[i].failure);
    print_message("%s: %d threads x %d heaps x %d rounds; %ld descriptions made meanwhile\n", what,
                  N_THREADS, N_HEAPS, rounds, atomic_load(&n_described));
}

static void test_threads(void **state)
{
    (void)state;
    /* Guarded heaps are described too: the guarded backend publishes what its lock-free
     * lookup reads (span headers, block records and their release) with release stores. */
    run_threads(wsh_options()->backend == WSH_BACKEND_GUARDED ? "guarded" : "arena", true);
}

static void test_threads_tracked_arena(void **state)
{
    (void)state;
    if (wsh_options()->backend == WSH_BACKEND_GUARDED) skip();
    wsh_track_force(WSH_TRACK_ON);
    run_threads("arena (tracked)", true);
    wsh_track_force(WSH_TRACK_AUTO);
}

static void test_threads_untracked_arena(void **state)
{
    (void)state;
    if (wsh_options()->backend == WSH_BACKEND_GUARDED) skip();
    wsh_track_force(WSH_TRACK_OFF);
    run_threads("arena (untracked)", true);
    wsh_track_force(WSH_TRACK_AUTO);
}

/* --- Statistics and names (--stats) ---------------------------------------------------------- */

#define N_FIRST 4 /* threads creating the process's first heaps */

static pthread_barrier_t first_start;

static void *make_first_heap(void *arg)
{
    WS_HEAP *heap = NULL;
    void *p = NULL;

    pthread_barrier_wait(&first_start);
    if (WsCreateHeap(4096, 0, NULL, 0, &heap, NULL) != S_OK) return "WsCreateHeap failed";
    if (WsAlloc(heap, 24, &p, NULL) != S_OK) return "WsAlloc failed";
    memset(p, (int)(intptr_t)arg, 24);
    WsFreeHeap(heap);
    return NULL;
}

/* The process's first heaps, watched by the statistics, created by 4 threads at once: each
 * WsCreateHeap captures a stack, and the unwinder's lazy initialisation must run once, before
 * any of them (TSan, helgrind and drd saw the threads initialise it together). Must be the
 * first test: it needs a process that has made no heap yet. */
static void test_first_heaps_concurrently(void **state)
{
    pthread_t threads[N_FIRST];

    (void)state;
    if (!wsh_options()->stats) fail_msg("--stats needs WSHEAP_STATS=1 (see tests/CMakeLists.txt)");
    pthread_barrier_init(&first_start, NULL, N_FIRST);
    for (int i = 0; i < N_FIRST; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, make_first_heap, (void *)(intptr_t)i),
                         0);
    for (int i = 0; i < N_FIRST; i++) {
        void *failure = NULL;

        assert_int_equal(pthread_join(threads[i], &failure), 0);
        if (failure != NULL) fail_msg("thread %d: %s", i, (const char *)failure);
    }
    pthread_barrier_destroy(&first_start);
}

struct renamer {
    WS_HEAP *heap;
    atomic_bool stop;
    long n_renames;
};

/* Renames its heap, alternating two names of different lengths, until told to stop. */
static void *rename_loop(void *arg)
{
    struct renamer *r = arg;

    while (!atomic_load(&r->stop)) {
        wsheap_set_heap_name(r->heap, r->n_renames % 2 ? "inbound requests" : "outbound");
        r->n_renames++;
    }
    return NULL;
}

/* A watched heap renamed by its owner while another thread prints the statistics, which list
 * live heaps' names. */
static void test_rename_while_printing_stats(void **state)
{
    struct renamer r = {0};
    pthread_t renamer;
    void *p;
    FILE *sink = fopen("/dev/null", "w");

    (void)state;
    assert_non_null(sink);
    assert_int_equal(WsCreateHeap(65536, 0, NULL, 0, &r.heap, NULL), S_OK);
    assert_int_equal(WsAlloc(r.heap, 100, &p, NULL), S_OK);
    assert_int_equal(pthread_create(&renamer, NULL, rename_loop, &r), 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(wsheap_print_stats(fileno(sink)), S_OK);
    atomic_store(&r.stop, true);
    assert_int_equal(pthread_join(renamer, NULL), 0);
    print_message("statistics printed 200 times during %ld renames\n", r.n_renames);
    WsFreeHeap(r.heap);
    fclose(sink);
}

/* A tracked heap renamed by its owner while another thread describes one of its blocks. */
static void test_rename_while_describing(void **state)
{
    struct renamer r = {0};
    pthread_t renamer;
    char text[4096];
    void *p;

    (void)state;
    wsh_track_force(WSH_TRACK_ON);
    assert_int_equal(WsCreateHeap(65536, 0, NULL, 0, &r.heap, NULL), S_OK);
    wsh_track_force(WSH_TRACK_AUTO);
    assert_int_equal(WsAlloc(r.heap, 100, &p, NULL), S_OK);
    assert_int_equal(pthread_create(&renamer, NULL, rename_loop, &r), 0);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(wsheap_describe_address((char *)p + 3, text, sizeof text),
                         WSHEAP_ADDRESS_BLOCK);
    atomic_store(&r.stop, true);
    assert_int_equal(pthread_join(renamer, NULL), 0);
    WsFreeHeap(r.heap);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_threads_tracked_arena),
        cmocka_unit_test(test_threads_untracked_arena),
    };
    const struct CMUnitTest stats_tests[] = {
        cmocka_unit_test(test_first_heaps_concurrently), /* first: no heap made before it */
        cmocka_unit_test(test_rename_while_printing_stats),
        cmocka_unit_test(test_rename_while_describing),
    };

    if (argc > 1 && strcmp(argv[1], "--stats") == 0)
        return cmocka_run_group_tests(stats_tests, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
