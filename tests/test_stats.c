/* SPDX-License-Identifier: MIT */
/*
 * Tests of the heap statistics (WSHEAP_STATS=1) through wsheap_print_stats: rounds, percentiles,
 * quota failures, live heaps and names per creation site, and the suggested trimSize, which
 * applied to the same workload must leave the arena with no system allocations after the first
 * round; and counting through the window: a watched heap keeps its fast path between sample
 * points, every figure but the allocation count stays exact, and that count is a close estimate.
 * White box to see each heap's window and to choose the sampling (wsh_stats_set_sampling): the
 * other tests count call by call. Run once per backend with WSHEAP_STATS=1, and once with
 * statistics off (argument --expect-off), where wsheap_print_stats must refuse and write nothing
 * and the arena's window must serve inline.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "death.h"
#include "heaps.h"
#include "internal.h"
#include "stats.h"

/* One site row of the table. */
struct row {
    unsigned site;
    unsigned long heaps, live, allocs, resets;
    size_t round_max, round_p95, actual_peak;
    unsigned long quota, sys, steady;
};

/* wsheap_print_stats into a string (malloc'd). */
static char *stats_text(void)
{
    FILE *f = tmpfile();
    long size;
    char *text;

    assert_non_null(f);
    assert_int_equal(wsheap_print_stats(fileno(f)), S_OK);
    size = lseek(fileno(f), 0, SEEK_END);
    assert_true(size > 0);
    text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fileno(f), text, (size_t)size, 0), size);
    fclose(f);
    drop_report_pids(text); /* "==wsheap==<pid>== " -> "==wsheap== " */
    return text;
}

/* Finds the table row whose name column is `name`; fails the test when there is none. */
static struct row find_row(const char *text, const char *name)
{
    const char *line = text;

    while (line != NULL && *line != '\0') {
        struct row r;
        char found[64];
        int n = sscanf(line, "==wsheap== %u %lu %lu %lu %lu %zu %zu %zu %lu %lu %lu %63s", &r.site,
                       &r.heaps, &r.live, &r.allocs, &r.resets, &r.round_max, &r.round_p95,
                       &r.actual_peak, &r.quota, &r.sys, &r.steady, found);

        if (n == 12 && strcmp(found, name) == 0) return r;
        line = strchr(line, '\n');
        if (line != NULL) line++;
    }
    fail_msg("no table row named %s in:\n%s", name, text);
    return (struct row){0};
}

/* The text of site `site`'s details, from its "site N:" line up to the next site or the end
 * (malloc'd). */
static char *site_details(const char *text, unsigned site)
{
    char head[32], *start, *end, *copy;

    snprintf(head, sizeof head, "==wsheap== site %u:", site);
    start = strstr(text, head);
    if (start == NULL) fail_msg("no '%s' in:\n%s", head, text);
    end = strstr(start + 1, "==wsheap== site ");
    if (end == NULL) end = strstr(start, "==wsheap== END");
    assert_non_null(end);
    copy = calloc(1, (size_t)(end - start) + 1);
    assert_non_null(copy);
    memcpy(copy, start, (size_t)(end - start));
    return copy;
}

static void suggestion(const char *details, size_t *trim, size_t *max)
{
    const char *s = strstr(details, "suggested trimSize ");

    if (s == NULL) fail_msg("no suggestion in:\n%s", details);
    assert_int_equal(sscanf(s, "suggested trimSize %zu, maxSize %zu", trim, max), 2);
}

/* True when heaps are plain arenas: not guarded, and not the tracked arena used under ASan and
 * valgrind, whose resets park chunks in a quarantine and so allocate every round. */
static bool plain_arena(void)
{
    WS_HEAP *heap = NULL;
    bool plain;

    assert_int_equal(WsCreateHeap(64, 0, NULL, 0, &heap, NULL), S_OK);
    plain = ((struct wsh_heap *)heap)->ops == &wsh_arena_ops;
    WsFreeHeap(heap);
    return plain;
}

/* The inline window of `heap` is empty: every WsAlloc reaches the counting path. */
static void assert_window_empty(WS_HEAP *heap)
{
    struct wsh_heap *h = (struct wsh_heap *)heap;

    assert_non_null(h->stats);
    assert_ptr_equal(h->end, h->cur);
}

/* Creates heap `name` (maxSize 1 MiB) and runs `n_rounds` rounds of `n_allocs` allocations of
 * `size` bytes, resetting after each; then frees it. The caller's line is the site. */
static __attribute__((noinline)) void run_rounds(const char *name, size_t trim, int n_rounds,
                                                 int n_allocs, size_t size)
{
    WS_HEAP *heap = NULL;

    assert_int_equal(WsCreateHeap(1 << 20, trim, NULL, 0, &heap, NULL), S_OK);
    assert_int_equal(wsheap_set_heap_name(heap, name), S_OK);
    assert_window_empty(heap);
    for (int r = 0; r < n_rounds; r++) {
        for (int i = 0; i < n_allocs; i++) {
            alloc_written(heap, size);
            assert_window_empty(heap);
        }
        assert_int_equal(WsResetHeap(heap, NULL), S_OK);
        assert_window_empty(heap);
    }
    WsFreeHeap(heap);
}

/* Every WsAlloc is counted (so watched heaps take the counting path, not the inline window),
 * and the sizes per round are exact; the suggested trimSize holds the round plus a quarter in
 * 4096-byte units, and applying it leaves the arena with no system allocation after the first
 * round, where trimSize 0 makes some every round. */
static void test_rounds_and_suggested_trim_size(void **state)
{
    struct row before, after;
    size_t trim, max, trim_again, max_again;
    char *text, *details;

    (void)state;
    run_rounds("uniform", 0, 100, 10, 2000);
    text = stats_text();
    before = find_row(text, "uniform");
    assert_int_equal(before.heaps, 1);
    assert_int_equal(before.live, 0);
    assert_int_equal(before.allocs, 1000);
    assert_int_equal(before.resets, 100);
    assert_int_equal(before.round_max, 20000);
    assert_int_equal(before.round_p95, 20000);
    assert_true(before.actual_peak >= 20000);
    assert_int_equal(before.quota, 0);
    assert_true(before.sys >= 1);
    details = site_details(text, before.site);
    assert_non_null(strstr(details, "heaps \"uniform\" ("));
    assert_non_null(strstr(details, "created with maxSize 1048576, trimSize 0"));
    assert_non_null(strstr(details, "100 rounds with allocations"));
    assert_non_null(strstr(details, "created at:\n  #0 0x"));
    suggestion(details, &trim, &max);
    /* 20000 aligned bytes a round, plus a quarter, in 4096-byte units; twice 20000, as a power
     * of two. The same in both backends: the suggestion is for the arena. */
    assert_int_equal(trim, 28672);
    assert_int_equal(max, 65536);
    assert_non_null(strstr(details, "why: 95% of rounds used at most 20000 bytes"));
    free(details);
    free(text);

    run_rounds("uniform-tuned", trim, 100, 10, 2000); /* another line: another site */
    text = stats_text();
    after = find_row(text, "uniform-tuned");
    assert_int_not_equal(after.site, before.site);
    assert_int_equal(after.allocs, 1000);
    if (plain_arena()) {
        /* trimSize 0: every round spills into new chunks (the 8 KiB one comes back from the
         * thread's cache, the 16 KiB one from the system) */
        assert_true(before.steady > 0);
        assert_int_equal(after.steady, 0);
        assert_true(after.sys >= 1 && after.sys <= 4);
    }
    details = site_details(text, after.site);
    suggestion(details, &trim_again, &max_again);
    assert_int_equal(trim_again, trim);
    assert_int_equal(max_again, max);
    free(details);
    free(text);
}

/* p95 of 95 rounds of 1000 bytes and 5 of 50000: 1000, read back from its histogram bucket,
 * so at most 1/16 above; the maximum is exact. */
static void test_p95_is_within_a_sixteenth(void **state)
{
    WS_HEAP *heap = NULL;
    struct row r;
    char *text;

    (void)state;
    assert_int_equal(WsCreateHeap(1 << 20, 0, NULL, 0, &heap, NULL), S_OK);
    wsheap_set_heap_name(heap, "skewed");
    for (int round = 0; round < 100; round++) {
        alloc_written(heap, round % 20 == 7 ? 50000 : 1000);
        assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    }
    WsFreeHeap(heap);
    text = stats_text();
    r = find_row(text, "skewed");
    assert_int_equal(r.round_max, 50000);
    assert_true(r.round_p95 >= 1000 && r.round_p95 <= 1000 + 1000 / 16);
    assert_int_equal(r.allocs, 100);
    free(text);
}

/* Quota failures are counted, and the reason names the largest refused round. */
static void test_quota_failures(void **state)
{
    WS_HEAP *heap = NULL;
    void *p = NULL;
    struct row r;
    char *text, *details;

    (void)state;
    assert_int_equal(WsCreateHeap(100, 0, NULL, 0, &heap, NULL), S_OK);
    wsheap_set_heap_name(heap, "quota");
    alloc_written(heap, 60);
    assert_int_equal(WsAlloc(heap, 50, &p, NULL), WS_E_QUOTA_EXCEEDED);
    alloc_written(heap, 40); /* the exact boundary succeeds */
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(WsAlloc(heap, 101, &p, NULL), WS_E_QUOTA_EXCEEDED);
    assert_int_equal(WsAlloc(heap, SIZE_MAX, &p, NULL), WS_E_QUOTA_EXCEEDED);
    WsFreeHeap(heap);
    text = stats_text();
    r = find_row(text, "quota");
    assert_int_equal(r.quota, 3);
    assert_int_equal(r.allocs, 2);
    assert_int_equal(r.round_max, 100);
    details = site_details(text, r.site);
    assert_non_null(strstr(details,
                           "3 requests were refused by maxSize 100 (the largest would have "
                           "made a round of 18446744073709551615 bytes)"));
    free(details);
    free(text);
}

/* Heaps from one site are one row; live heaps are counted and their current rounds included;
 * names (at most three, then "and others") come from freed and live heaps. */
static void test_sites_live_heaps_and_names(void **state)
{
    WS_HEAP *heaps[5];
    char name[16];
    struct row r;
    char *text, *details;

    (void)state;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(WsCreateHeap(4096, 0, NULL, 0, &heaps[i], NULL), S_OK);
        snprintf(name, sizeof name, "conn-%d", i);
        wsheap_set_heap_name(heaps[i], name);
        alloc_written(heaps[i], 100 + (size_t)i);
    }
    for (int i = 0; i < 3; i++)
        WsFreeHeap(heaps[i]);
    text = stats_text();
    r = find_row(text, "conn-0");
    assert_int_equal(r.heaps, 5);
    assert_int_equal(r.live, 2);
    assert_int_equal(r.allocs, 5);
    assert_int_equal(r.round_max, 104); /* the live heaps' rounds count too */
    assert_int_equal(r.resets, 0);
    details = site_details(text, r.site);
    assert_non_null(strstr(details, "heaps \"conn-0\", \"conn-1\", \"conn-2\" and others"));
    free(details);
    free(text);
    WsFreeHeap(heaps[3]);
    WsFreeHeap(heaps[4]);
}

/* Names are shown escaped, in the table and in the site's details: a newline in a name cannot
 * forge a "==wsheap==" line, nor an ESC byte reach the terminal. One heap is freed (its name is
 * kept by the site), one is live (its name is read at printing time). */
static void test_names_are_escaped(void **state)
{
    static const char *names[2] = {"evil\n==wsheap== ERROR: forged\x1b[31m",
                                   "live\n==wsheap== ERROR: forged too\x1b]0;title\x07"};
    WS_HEAP *heaps[2];
    char *text;

    (void)state;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(WsCreateHeap(4096, 0, NULL, 0, &heaps[i], NULL), S_OK);
        wsheap_set_heap_name(heaps[i], names[i]);
        alloc_written(heaps[i], 10);
    }
    WsFreeHeap(heaps[0]);
    text = stats_text();
    if (strstr(text, "\n==wsheap== ERROR: forged") != NULL)
        fail_msg("a heap name forged a line:\n%s", text);
    if (strchr(text, '\x1b') != NULL || strchr(text, '\x07') != NULL)
        fail_msg("a control byte of a heap name reached the statistics:\n%s", text);
    if (strstr(text, "  evil\\n==wsheap== ERROR: forged\\x1b[31m ...\n") == NULL)
        fail_msg("no escaped name in the table:\n%s", text);
    if (strstr(text, "heaps \"evil\\n==wsheap== ERROR: forged\\x1b[31m\", "
                     "\"live\\n==wsheap== ERROR: forged too\\x1b]0;title\\x07\" (") == NULL)
        fail_msg("no escaped names in the site's details:\n%s", text);
    free(text);
    WsFreeHeap(heaps[1]);
}

static void test_bad_fd(void **state)
{
    (void)state;
    assert_int_equal(wsheap_print_stats(-1), E_INVALIDARG);
}

/* With statistics off: refused, and nothing is written; heaps are not watched, and the arena's
 * window serves allocations inline. */
static void test_off(void **state)
{
    FILE *f = tmpfile();
    WS_HEAP *heap = NULL;
    struct wsh_heap *h;

    (void)state;
    assert_non_null(f);
    assert_int_equal(WsCreateHeap(4096, 0, NULL, 0, &heap, NULL), S_OK);
    h = (struct wsh_heap *)heap;
    alloc_written(heap, 10);
    assert_null(h->stats);
    if (plain_arena()) {
        char *cur = h->cur;

        assert_true(h->end > h->cur);
        alloc_written(heap, 16); /* served by the window: cur moves by 16 */
        assert_ptr_equal(h->cur, cur + 16);
    }
    assert_int_equal(wsheap_print_stats(fileno(f)), WS_E_INVALID_OPERATION);
    assert_int_equal(lseek(fileno(f), 0, SEEK_END), 0);
    assert_int_equal(wsheap_print_stats(-1), E_INVALIDARG);
    WsFreeHeap(heap);
    fclose(f);
}

/* One W1-like round (sizes 70% 8-64, 25% 65-512, 5% 513-4096 bytes) on each heap given. */
static unsigned w1_round(WS_HEAP *const *heaps, size_t n_heaps, unsigned seed, int n)
{
    for (int i = 0; i < n; i++) {
        size_t size;

        seed = seed * 1103515245u + 12345u;
        size = (seed >> 8) % 100 < 70   ? 8 + (seed >> 16) % 57
               : (seed >> 8) % 100 < 95 ? 65 + (seed >> 16) % 448
                                        : 513 + (seed >> 16) % 3584;
        for (size_t k = 0; k < n_heaps; k++)
            alloc_written(heaps[k], size);
    }
    return seed;
}

/* The same 20,000 W1-like rounds on a heap counted call by call and on one counted through its
 * window (default sampling, fixed seed): every figure equal but the allocation count, which is
 * within 10% (about 13,000 sample points; this seed's estimate is 5% low). In the arena the
 * sampled heap's window is open once its first 64 KiB are counted. */
static void test_counts_through_the_window(void **state)
{
    WS_HEAP *heaps[2] = {NULL, NULL};
    struct row exact, sampled;
    unsigned seed = 1;
    char *text;

    (void)state;
    if (!plain_arena()) {
        /* Guarded heaps and tracked arenas keep their window closed: every call is counted,
         * as the other tests check, and 4 million of them would only take minutes. */
        print_message("skipped: only the plain arena estimates through its window\n");
        skip();
    }
    assert_int_equal(WsCreateHeap(1 << 20, 64 << 10, NULL, 0, &heaps[0], NULL), S_OK);
    wsh_stats_set_sampling((size_t)64 << 10, (size_t)32 << 10, 0x5eed);
    assert_int_equal(WsCreateHeap(1 << 20, 64 << 10, NULL, 0, &heaps[1], NULL), S_OK);
    wsh_stats_set_sampling(SIZE_MAX, (size_t)32 << 10, 0);
    wsheap_set_heap_name(heaps[0], "twin-exact");
    wsheap_set_heap_name(heaps[1], "twin-sampled");
    for (int round = 0; round < 20000; round++) {
        seed = w1_round(heaps, 2, seed, 100);
        if (round == 10) {
            struct wsh_heap *h = (struct wsh_heap *)heaps[1];

            assert_true(h->end > h->cur); /* the fast path serves the watched heap */
            assert_ptr_equal(((struct wsh_heap *)heaps[0])->end,
                             ((struct wsh_heap *)heaps[0])->cur);
        }
        assert_int_equal(WsResetHeap(heaps[0], NULL), S_OK);
        assert_int_equal(WsResetHeap(heaps[1], NULL), S_OK);
    }
    WsFreeHeap(heaps[0]);
    WsFreeHeap(heaps[1]);
    text = stats_text();
    exact = find_row(text, "twin-exact");
    sampled = find_row(text, "twin-sampled");
    assert_int_equal(exact.allocs, 2000000);
    assert_int_equal(sampled.resets, exact.resets);
    assert_int_equal(sampled.round_max, exact.round_max);
    assert_int_equal(sampled.round_p95, exact.round_p95);
    assert_int_equal(sampled.actual_peak, exact.actual_peak);
    assert_int_equal(sampled.quota, exact.quota);
    /* System allocations are exact in both, but the two heaps share the thread's cache of
     * 8 KiB chunks (arena/cache.h), so which of them gets one from the system may differ. */
    assert_true(sampled.sys + 1 >= exact.sys && sampled.sys <= exact.sys + 1);
    assert_int_equal(sampled.steady, exact.steady);
    print_message("allocations estimated through the window: %lu (exact %lu)\n", sampled.allocs,
                  exact.allocs);
    assert_true(sampled.allocs >= 1800000 && sampled.allocs <= 2200000);
    free(text);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest on[] = {
        cmocka_unit_test(test_rounds_and_suggested_trim_size),
        cmocka_unit_test(test_p95_is_within_a_sixteenth),
        cmocka_unit_test(test_quota_failures),
        cmocka_unit_test(test_sites_live_heaps_and_names),
        cmocka_unit_test(test_names_are_escaped),
        cmocka_unit_test(test_bad_fd),
        cmocka_unit_test(test_counts_through_the_window),
    };
    const struct CMUnitTest off[] = {
        cmocka_unit_test(test_off),
    };

    if (argc > 1 && strcmp(argv[1], "--expect-off") == 0)
        return cmocka_run_group_tests_name("stats off", off, NULL, NULL);
    /* Call by call unless a test says otherwise: these tests check exact counts. */
    wsh_stats_set_sampling(SIZE_MAX, (size_t)32 << 10, 0);
    return cmocka_run_group_tests_name("stats", on, NULL, NULL);
}
