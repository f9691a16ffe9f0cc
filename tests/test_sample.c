/* SPDX-License-Identifier: MIT */
/*
 * Sampled guarding (src/sample.h), white box: sample points in the window, the shadow guarded
 * heap, the budget, the quota; and in forked children, the reports of faults in sampled blocks
 * (overflow, corrupted slack, use-after-reset, use-after-free-heap), which must name the arena
 * heap and say the block was sampled and at which rate; a periodic program caught by the random
 * intervals; threads; fork. The rate is forced with wsh_sample_test_configure (a mean of 4 bytes
 * samples every block of 8 bytes or more), so nothing depends on the environment.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "death.h"
#include "internal.h"
#include "report.h"
#include "sample.h"
#include "track.h"

#define OUT_SIZE 65536
static char out[OUT_SIZE];

/* An arena heap created now, sampling one block per `mean` bytes and one round in `rounds`
 * (0: none), at most `slots` live sampled blocks in the process (from now on), seeded `seed`. */
static WS_HEAP *rounds_heap(size_t mean, unsigned rounds, unsigned slots, uint64_t seed,
                            size_t max_size, const char *name)
{
    WS_HEAP *heap = NULL;

    wsh_sample_test_configure(mean, rounds, slots, seed);
    assert_int_equal(WsCreateHeap(max_size, 4096, NULL, 0, &heap, NULL), S_OK);
    if (name != NULL) assert_int_equal(wsheap_set_heap_name(heap, name), S_OK);
    return heap;
}

/* The same, sampling blocks only. */
static WS_HEAP *sampling_heap(size_t mean, unsigned slots, uint64_t seed, size_t max_size,
                              const char *name)
{
    return rounds_heap(mean, 0, slots, seed, max_size, name);
}

static struct wsh_heap *heap_of(WS_HEAP *heap)
{
    return (struct wsh_heap *)heap;
}

/* --- Options -------------------------------------------------------------------------------- */

static const char *const *fake_env; /* NAME, VALUE, ..., NULL */
static int n_warnings;

static const char *fake_getenv(const char *name)
{
    for (const char *const *e = fake_env; *e != NULL; e += 2)
        if (strcmp(*e, name) == 0) return e[1];
    return NULL;
}

static void count_warning(const char *message)
{
    (void)message;
    n_warnings++;
}

static struct wsh_options load(const char *const *env)
{
    struct wsh_options o;

    fake_env = env;
    n_warnings = 0;
    wsh_options_load(fake_getenv, count_warning, &o);
    return o;
}

/* WSHEAP_SAMPLE_BYTES, _SLOTS, _ROUNDS: defaults, valid values, invalid ones (a warning each,
 * the default kept). */
static void test_options(void **state)
{
    static const char *const none[] = {NULL};
    static const char *const good[] = {"WSHEAP_SAMPLE_BYTES",
                                       "1048576",
                                       "WSHEAP_SAMPLE_SLOTS",
                                       "8",
                                       "WSHEAP_SAMPLE_ROUNDS",
                                       "4096",
                                       NULL};
    static const char *const bad[] = {"WSHEAP_SAMPLE_BYTES",
                                      "1M",
                                      "WSHEAP_SAMPLE_SLOTS",
                                      "0",
                                      "WSHEAP_SAMPLE_ROUNDS",
                                      "-1",
                                      NULL};
    static const char *const big[] = {"WSHEAP_SAMPLE_SLOTS", "65537", NULL};
    struct wsh_options o;

    (void)state;
    o = load(none);
    assert_int_equal(o.sample_bytes, 0);
    assert_int_equal(o.sample_slots, 64);
    assert_int_equal(o.sample_rounds, 0);
    assert_false(wsh_sample_wanted(&o) && !atomic_load(&wsh_sample_test_on));
    o = load(good);
    assert_int_equal(n_warnings, 0);
    assert_int_equal(o.sample_bytes, 1048576);
    assert_int_equal(o.sample_slots, 8);
    assert_int_equal(o.sample_rounds, 4096);
    assert_true(wsh_sample_wanted(&o));
    o = load(bad);
    assert_int_equal(n_warnings, 3);
    assert_int_equal(o.sample_bytes, 0);
    assert_int_equal(o.sample_slots, 64);
    assert_int_equal(o.sample_rounds, 0);
    o = load(big);
    assert_int_equal(n_warnings, 1);
    assert_int_equal(o.sample_slots, 64);
}

/* --- White box -------------------------------------------------------------------------------- */

/* An arena heap samples; its window never reaches past the next sample point. */
static void test_window_ends_at_sample_point(void **state)
{
    WS_HEAP *heap = sampling_heap(64 << 10, 64, 7, SIZE_MAX, NULL);
    struct wsh_heap *h = heap_of(heap);
    void *p;

    (void)state;
    assert_true(h->sampling);
    assert_string_equal(wsheap_backend_name(heap), "arena");
    for (int i = 0; i < 100000; i++) {
        assert_true((size_t)(h->end - h->cur) <= h->guard.left);
        assert_int_equal(WsAlloc(heap, 24, &p, NULL), S_OK);
        if (i % 1000 == 999) assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    }
    /* 2.4 MB at a mean of 64 KiB: about 37 sample points. */
    assert_true(h->guard.n_sampled + h->guard.n_skipped >= 10);
    WsFreeHeap(heap);
    assert_int_equal(wsh_sample_live(), 0);
}

/* With a tiny mean every block is sampled: it lies on guard pages, REQUESTED_SIZE and the quota
 * count it, and the reset gives its slot back. */
static void test_every_block_sampled(void **state)
{
    WS_HEAP *heap = sampling_heap(4, 64, 1, 1000, "tiny");
    struct wsh_heap *h = heap_of(heap);
    size_t requested;
    char *p, *q;

    (void)state;
    assert_int_equal(WsAlloc(heap, 600, (void **)&p, NULL), S_OK);
    assert_non_null(h->guard.shadow);
    assert_int_equal(wsh_sample_live(), 1);
    /* Placed as a guarded heap places it: its end against the page end (the guard). */
    assert_int_equal(((uintptr_t)p + 600) % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
    memset(p, 1, 600);
    assert_string_equal(h->guard.shadow->name, "tiny");
    assert_int_equal(WsGetHeapProperty(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE, &requested,
                                       sizeof requested, NULL),
                     S_OK);
    assert_int_equal(requested, 600);
    assert_int_equal(WsAlloc(heap, 500, (void **)&q, NULL), WS_E_QUOTA_EXCEEDED);
    assert_int_equal(WsAlloc(heap, 400, (void **)&q, NULL), S_OK);
    assert_int_equal(wsh_sample_live(), 2);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(wsh_sample_live(), 0);
    assert_int_equal(h->guard.n_sampled, 2);
    WsFreeHeap(heap);
}

/* The budget: with 3 slots, the 4th sample point of a round is skipped (the block comes from the
 * arena, never a failure). */
static void test_budget_full_skips(void **state)
{
    WS_HEAP *heap = sampling_heap(4, 3, 2, SIZE_MAX, NULL);
    struct wsh_heap *h = heap_of(heap);
    void *p;

    (void)state;
    for (int i = 0; i < 10; i++)
        assert_int_equal(WsAlloc(heap, 64, &p, NULL), S_OK);
    assert_int_equal(wsh_sample_live(), 3);
    assert_int_equal(h->guard.n_sampled, 3);
    assert_int_equal(h->guard.n_skipped, 7);
    /* Larger than WSH_SAMPLE_MAX_BLOCK: never sampled. */
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(WsAlloc(heap, WSH_SAMPLE_MAX_BLOCK + 1, &p, NULL), S_OK);
    assert_int_equal(wsh_sample_live(), 0);
    WsFreeHeap(heap);
}

/* Zero-size requests are served (never sampled) and stay distinct. */
static void test_zero_size(void **state)
{
    WS_HEAP *heap = sampling_heap(4, 64, 3, SIZE_MAX, NULL);
    void *a, *b;

    (void)state;
    assert_int_equal(WsAlloc(heap, 0, &a, NULL), S_OK);
    assert_int_equal(WsAlloc(heap, 0, &b, NULL), S_OK);
    assert_ptr_not_equal(a, b);
    assert_int_equal(wsh_sample_live(), 0);
    WsFreeHeap(heap);
}

/* A long correct run: no report, the budget holds, and the number of sample points matches the
 * mean (exponential intervals: bytes / mean on average; 10% tolerance, 4 standard deviations at
 * ~1,600 points). */
static void test_long_correct_run(void **state)
{
    WS_HEAP *heap = sampling_heap(4096, 8, 11, SIZE_MAX, "long");
    struct wsh_heap *h = heap_of(heap);
    size_t bytes = 0, peak = 0;
    void *p;

    (void)state;
    for (int m = 0; m < 800; m++) {
        for (int i = 0; i < 250; i++) {
            size_t size = 8 + (size_t)(i * 7 % 41);

            assert_int_equal(WsAlloc(heap, size, &p, NULL), S_OK);
            memset(p, 0xab, size);
            bytes += wsh_align_up(size, 8);
        }
        if (wsh_sample_live() > peak) peak = wsh_sample_live();
        assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    }
    assert_true(peak <= 8);
    assert_true(peak >= 1);
    {
        double points = (double)(h->guard.n_sampled + h->guard.n_skipped);
        double expected = (double)bytes / 4096.0;

        if (points < expected * 0.9 || points > expected * 1.1)
            fail_msg("%.0f sample points in %zu bytes, expected about %.0f", points, bytes,
                     expected);
    }
    WsFreeHeap(heap);
    assert_int_equal(wsh_sample_live(), 0);
}

/* Sampling is for arena heaps only: a guarded heap (WSHEAP_PAGEHEAP=1) or a tracked arena (ASan,
 * memcheck) does not sample. */
static void test_off_for_other_backends(void **state)
{
    struct wsh_options o = *wsh_options();
    struct wsh_heap fake;

    (void)state;
    wsh_sample_test_configure(0, 0, 0, 0); /* the options rule */
    memset(&fake, 0, sizeof fake);
    o.sample_bytes = 4096;
    wsh_sample_heap_created(&fake, &o, &wsh_guarded_ops);
    assert_false(fake.sampling);
    wsh_sample_heap_created(&fake, &o, &wsh_arena_ops);
    assert_true(fake.sampling);
    assert_true(fake.guard.rng != 0);
    assert_int_equal(fake.guard.mean, 4096);
}

/* Through WsCreateHeap: an arena ASan or memcheck tracks does not sample (the tracked arena is
 * forced here, as those tools would choose it). */
static void test_off_for_tracked_arenas(void **state)
{
    WS_HEAP *heap;

    (void)state;
    wsh_track_force(WSH_TRACK_ON);
    heap = sampling_heap(4, 64, 41, SIZE_MAX, NULL);
    wsh_track_force(WSH_TRACK_OFF);
    assert_false(heap_of(heap)->sampling);
    assert_ptr_not_equal(heap_of(heap)->ops, &wsh_arena_ops);
    WsFreeHeap(heap);
}

/* Whole rounds: about one round in 4 is sampled; in a sampled round every block is guarded (the
 * window stays closed) and the round's pages go back to the budget at the reset. */
static void test_rounds_sampled(void **state)
{
    WS_HEAP *heap = rounds_heap(0, 4, 64, 21, SIZE_MAX, "rounds");
    struct wsh_heap *h = heap_of(heap);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    int sampled = 0;
    void *p;

    (void)state;
    for (int r = 0; r < 2000; r++) {
        bool on = h->guard.round_on;

        for (int i = 0; i < 10; i++) {
            assert_int_equal(WsAlloc(heap, 40, &p, NULL), S_OK);
            memset(p, 7, 40);
            /* A guarded block ends against its page's end (40 is a multiple of 8). */
            if (on) assert_int_equal(((uintptr_t)p + 40) % page, 0);
        }
        if (on) {
            assert_ptr_equal(h->end, h->cur);
            assert_int_equal(wsh_sample_round_bytes(), 10 * page);
        }
        sampled += on;
        assert_int_equal(WsResetHeap(heap, NULL), S_OK);
        assert_int_equal(wsh_sample_round_bytes(), 0);
    }
    /* Binomial(2000, 1/4): 500, standard deviation 19. */
    if (sampled < 420 || sampled > 580)
        fail_msg("%d of 2000 rounds sampled, expected ~500", sampled);
    assert_int_equal(wsh_sample_live(), 0);
    WsFreeHeap(heap);
}

/* A sampled round larger than the budget: its blocks past the budget come from the arena. */
static void test_round_budget(void **state)
{
    WS_HEAP *heap = rounds_heap(0, 1, 64, 22, SIZE_MAX, NULL);
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = WSH_SAMPLE_ROUND_BUDGET / page + 10;
    void *p;

    (void)state;
    assert_true(heap_of(heap)->guard.round_on);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(WsAlloc(heap, 16, &p, NULL), S_OK);
    assert_int_equal(wsh_sample_round_bytes(), WSH_SAMPLE_ROUND_BUDGET);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(wsh_sample_round_bytes(), 0);
    WsFreeHeap(heap);
}

/* Heaps on different threads sample independently; the budget holds across them. */
static void *thread_main(void *arg)
{
    WS_HEAP *heap = arg;
    void *p;

    for (int m = 0; m < 200; m++) {
        for (int i = 0; i < 100; i++) {
            if (WsAlloc(heap, 40, &p, NULL) != S_OK) return "alloc";
            memset(p, 1, 40);
        }
        if (wsh_sample_live() > 16) return "budget";
        if (WsResetHeap(heap, NULL) != S_OK) return "reset";
    }
    WsFreeHeap(heap);
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t t[4];
    WS_HEAP *heaps[4];

    (void)state;
    for (int i = 0; i < 4; i++)
        heaps[i] = sampling_heap(1024, 16, 100 + (uint64_t)i, SIZE_MAX, NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, heaps[i]), 0);
    for (int i = 0; i < 4; i++) {
        void *r;

        assert_int_equal(pthread_join(t[i], &r), 0);
        if (r != NULL) fail_msg("thread %d: %s", i, (const char *)r);
    }
    assert_int_equal(wsh_sample_live(), 0);
}

/* --- Death tests ------------------------------------------------------------------------------ */

static char handle_text[64];

/* A child's sampling heap named "sampled-arena", its handle noted for the expectations. */
static WS_HEAP *child_heap(size_t mean)
{
    WS_HEAP *heap = sampling_heap(mean, 64, 5, SIZE_MAX, "sampled-arena");

    snprintf(handle_text, sizeof handle_text, "heap %p \"sampled-arena\"", (void *)heap);
    return heap;
}

WSH_NOINLINE char *sample_make_block(WS_HEAP *heap, size_t size)
{
    void *p = NULL;

    if (WsAlloc(heap, size, &p, NULL) != S_OK) _exit(91);
    memset(p, 0x5a, size);
    __asm__ volatile("" ::: "memory");
    return p;
}

static void overflow_child(void *arg)
{
    WS_HEAP *heap = child_heap(4);
    char *p = sample_make_block(heap, 100);

    (void)arg;
    ((volatile char *)p)[104] = 'x'; /* the guard page: 100 rounded up to 8 */
}

static void slack_child(void *arg)
{
    WS_HEAP *heap = child_heap(4);
    char *p = sample_make_block(heap, 100);

    (void)arg;
    ((volatile char *)p)[101] = 'x'; /* slack: found at reset */
    WsResetHeap(heap, NULL);
}

static void after_reset_child(void *arg)
{
    WS_HEAP *heap = child_heap(4);
    char *p = sample_make_block(heap, 64);

    (void)arg;
    WsResetHeap(heap, NULL);
    (void)((volatile char *)p)[3];
}

static void after_free_child(void *arg)
{
    WS_HEAP *heap = child_heap(4);
    char *p = sample_make_block(heap, 64);

    (void)arg;
    WsFreeHeap(heap);
    (void)((volatile char *)p)[3];
}

/* Checks a sampled block's report: the kind, the arena heap's handle and name, the rate. */
static void expect_sampled_report(int status, const char *kind)
{
    if (kind == NULL) return;
    expect_sigsegv(status, out);
    expect_text(out, kind);
    expect_text(out, handle_text);
    expect_text(out, "(backend arena, sampled: 1 block per ~4 bytes on guard pages)");
}

static void test_death_overflow(void **state)
{
    (void)state;
    expect_sampled_report(run_in_child(overflow_child, NULL, out, sizeof out),
                          "ERROR: heap-buffer-overflow WRITE");
    expect_text(out, "sample_make_block");
}

static void test_death_slack(void **state)
{
    (void)state;
    expect_sampled_report(run_in_child(slack_child, NULL, out, sizeof out),
                          "ERROR: corrupted-slack");
    expect_text(out, "found by WsResetHeap");
}

static void test_death_after_reset(void **state)
{
    (void)state;
    expect_sampled_report(run_in_child(after_reset_child, NULL, out, sizeof out),
                          "ERROR: use-after-reset READ");
}

static void test_death_after_free(void **state)
{
    (void)state;
    expect_sampled_report(run_in_child(after_free_child, NULL, out, sizeof out),
                          "ERROR: use-after-free-heap READ");
}

/* The JSON report says "sampled": true and names the arena heap. */
static void json_child(void *arg)
{
    (void)arg;
    overflow_child(NULL);
}

/*
 * A periodic program: every message allocates the same 250 blocks of 48 bytes and block #137
 * overruns by one byte. A fixed countdown of 48,000 bytes (4 messages of 12,000) would sample
 * the same position of every 4th message, block #0, forever; random intervals reach block #137
 * with probability 48 / 48,000 per message, so within 20,000 messages all but surely. The
 * children write the message number into shared memory before each message.
 */
#define PERIODIC_BLOCKS 250
#define PERIODIC_SIZE   48
#define PERIODIC_BUGGY  137
#define PERIODIC_MEAN   48000
#define PERIODIC_BOUND  20000

static volatile long *message_no;

static void periodic_child(void *arg)
{
    WS_HEAP *heap =
        sampling_heap(PERIODIC_MEAN, 64, (uint64_t)(uintptr_t)arg, SIZE_MAX, "periodic");

    for (long m = 1; m <= PERIODIC_BOUND; m++) {
        *message_no = m;
        for (int i = 0; i < PERIODIC_BLOCKS; i++) {
            void *p;

            if (WsAlloc(heap, PERIODIC_SIZE, &p, NULL) != S_OK) _exit(91);
            memset(p, 0, PERIODIC_SIZE + (i == PERIODIC_BUGGY)); /* the bug */
        }
        WsResetHeap(heap, NULL);
    }
}

static int compare_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return (x > y) - (x < y);
}

static void test_periodic_program_caught(void **state)
{
    long caught[5];

    (void)state;
    /* The fixed-interval sampler of the same mean sees block #0 of every 4th message only. */
    assert_int_equal((PERIODIC_MEAN % (PERIODIC_BLOCKS * PERIODIC_SIZE)) / PERIODIC_SIZE, 0);
    message_no = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(message_no != MAP_FAILED);
    for (uintptr_t seed = 1; seed <= 5; seed++) {
        *message_no = 0;
        expect_sigsegv(run_in_child(periodic_child, (void *)seed, out, sizeof out), out);
        expect_text(out, "ERROR: heap-buffer-overflow WRITE");
        expect_text(out, "48-byte block");
        expect_text(out, "\"periodic\" (backend arena, sampled: 1 block per ~48000 bytes");
        caught[seed - 1] = *message_no;
    }
    qsort(caught, 5, sizeof caught[0], compare_long);
    print_message("periodic program caught after %ld %ld %ld %ld %ld messages (median %ld)\n",
                  caught[0], caught[1], caught[2], caught[3], caught[4], caught[2]);
    munmap((void *)message_no, 4096);
}

/* A sampled round: an overrun from one block into its neighbour, which the arena would let
 * pass, traps; and a use-after-reset names the reset. */
static char *round_make_blocks(WS_HEAP *heap)
{
    char *a = sample_make_block(heap, 48);

    (void)sample_make_block(heap, 48);
    return a;
}

static void neighbour_child(void *arg)
{
    WS_HEAP *heap = rounds_heap(0, 1, 64, 23, SIZE_MAX, "message");
    char *a = round_make_blocks(heap);

    (void)arg;
    memset(a, 0, 56); /* 8 bytes into the neighbour */
}

static void round_reset_child(void *arg)
{
    WS_HEAP *heap = rounds_heap(0, 1, 64, 24, SIZE_MAX, "message");
    char *a;

    (void)arg;
    WsResetHeap(heap, NULL);
    WsResetHeap(heap, NULL);
    a = round_make_blocks(heap);
    WsResetHeap(heap, NULL);
    (void)((volatile char *)a)[0];
}

static void test_death_round_neighbour(void **state)
{
    (void)state;
    expect_sigsegv(run_in_child(neighbour_child, NULL, out, sizeof out), out);
    expect_text(out, "ERROR: heap-buffer-overflow WRITE");
    expect_text(out, "48-byte block #0 from WsAlloc on heap");
    expect_text(out, "\"message\" (backend arena, sampled: 1 round in ~1 on guard pages)");
}

static void test_death_round_after_reset(void **state)
{
    (void)state;
    expect_sigsegv(run_in_child(round_reset_child, NULL, out, sizeof out), out);
    expect_text(out, "ERROR: use-after-reset READ");
    expect_text(out, "sampled: 1 round in ~1 on guard pages");
    expect_text(out, "reset #3");
}

static void test_death_json(void **state)
{
    (void)state;
    expect_sigsegv(run_in_child(json_child, NULL, out, sizeof out), out);
    expect_text(out,
                "\"backend\":\"arena\",\"sampled\":true,\"sample_bytes\":4,\"sample_rounds\":0}");
}

/* Fork: a child of a sampling process reports a fault in a sampled block it inherited, and the
 * parent goes on with its heap (reset, more samples, free) untouched. */
static void fork_child(void *arg)
{
    WS_HEAP *heap = child_heap(4);
    char *p = sample_make_block(heap, 100);
    int status;
    pid_t pid;

    (void)arg;
    pid = fork();
    if (pid == 0) {
        ((volatile char *)p)[104] = 'x';
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) _exit(92);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV) _exit(93);
    if (WsResetHeap(heap, NULL) != S_OK) _exit(94);
    p = sample_make_block(heap, 100);
    if (wsh_sample_live() != 1) _exit(95);
    WsFreeHeap(heap);
    if (wsh_sample_live() != 0) _exit(96);
    fprintf(stderr, "parent went on\n");
}

static void test_fork(void **state)
{
    int status = run_in_child(fork_child, NULL, out, sizeof out);

    (void)state;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_with_output(out, "the forking child ended with status %d", status);
    expect_text(out, "ERROR: heap-buffer-overflow WRITE");
    expect_text(out, "sampled: 1 block per ~4 bytes");
    expect_text(out, "parent went on");
}

/* WSHEAP_STATS=1 (this mode's run sets it): the statistics count each site's sampled blocks and
 * rounds. */
static void test_stats_count_samples(void **state)
{
    WS_HEAP *heap = rounds_heap(4, 1, 64, 31, SIZE_MAX, "counted");
    char path[] = "/tmp/wsheap-sample-stats.XXXXXX";
    int fd = mkstemp(path);
    void *p;
    ssize_t n;

    (void)state;
    assert_true(fd >= 0);
    unlink(path);
    assert_true(wsh_options()->stats);
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < 5; i++)
            assert_int_equal(WsAlloc(heap, 32, &p, NULL), S_OK);
        assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    }
    /* A sampled round serves every block: no per-block samples. Then blocks only. */
    heap_of(heap)->guard.rounds = 0;
    heap_of(heap)->guard.round_on = false;
    wsh_heap_sync_window(heap_of(heap));
    for (int i = 0; i < 4; i++)
        assert_int_equal(WsAlloc(heap, 32, &p, NULL), S_OK);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    WsFreeHeap(heap);
    wsheap_print_stats(fd);
    assert_true(lseek(fd, 0, SEEK_SET) == 0);
    n = read(fd, out, sizeof out - 1);
    assert_true(n > 0);
    out[n] = '\0';
    close(fd);
    expect_text(out, "on guard pages (WSHEAP_SAMPLE_BYTES/_ROUNDS): 4 sampled blocks, 3 sampled "
                     "rounds\n");
}

/* Usage: test_sample [unit | death | json | stats]: the white-box tests (no child crashes; also
 * run under valgrind), the death tests, the JSON report's test (run with
 * WSHEAP_REPORT_FORMAT=json) or the statistics' (WSHEAP_STATS=1): the library reads its options
 * once per process. */
int main(int argc, char **argv)
{
    const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_window_ends_at_sample_point),
        cmocka_unit_test(test_every_block_sampled),
        cmocka_unit_test(test_budget_full_skips),
        cmocka_unit_test(test_zero_size),
        cmocka_unit_test(test_long_correct_run),
        cmocka_unit_test(test_off_for_other_backends),
        cmocka_unit_test(test_off_for_tracked_arenas),
        cmocka_unit_test(test_rounds_sampled),
        cmocka_unit_test(test_round_budget),
        cmocka_unit_test(test_threads),
    };
    const struct CMUnitTest death[] = {
        cmocka_unit_test(test_death_overflow),
        cmocka_unit_test(test_death_slack),
        cmocka_unit_test(test_death_after_reset),
        cmocka_unit_test(test_death_after_free),
        cmocka_unit_test(test_death_round_neighbour),
        cmocka_unit_test(test_death_round_after_reset),
        cmocka_unit_test(test_periodic_program_caught),
        cmocka_unit_test(test_fork),
    };
    const struct CMUnitTest json[] = {
        cmocka_unit_test(test_death_json),
    };
    const struct CMUnitTest stats[] = {
        cmocka_unit_test(test_stats_count_samples),
    };
    const char *mode = argc > 1 ? argv[1] : "unit";

    /* The untracked arena even under ASan or memcheck: sampling is what these tests check (and
     * those tools check its code). */
    wsh_track_force(WSH_TRACK_OFF);
    if (strcmp(mode, "stats") == 0) return cmocka_run_group_tests(stats, NULL, NULL);
    if (strcmp(mode, "death") == 0) return cmocka_run_group_tests(death, NULL, NULL);
    if (strcmp(mode, "json") == 0) return cmocka_run_group_tests(json, NULL, NULL);
    return cmocka_run_group_tests(unit, NULL, NULL);
}
