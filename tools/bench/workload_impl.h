/* SPDX-License-Identifier: MIT */
/*
 * The workload loops, compiled once into every backend_*.c file (a template: include it after
 * defining b_heap_t and the four adapter functions below). Each backend therefore runs the same
 * loops with its own allocation call compiled in: inlined for the inline floor, a direct call
 * for the static floor, a PLT call for wsheap and the library anchors.
 *
 * The including file defines, before the #include:
 *   typedef ... b_heap_t;
 *   static inline int  b_create(b_heap_t *h, const struct bench_heap_cfg *cfg);  0 on success
 *   static inline int  b_alloc(b_heap_t h, size_t n, void **p);  nonzero on success
 *   static inline void b_reset(b_heap_t *h);   every block dies (may replace the handle)
 *   static inline void b_destroy(b_heap_t h);
 * and gets `static enum bench_status b_run(const struct bench_job *, struct bench_result *)`.
 */
#ifndef BENCH_WORKLOAD_IMPL_H
#define BENCH_WORKLOAD_IMPL_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

#define B_ALWAYS_INLINE static inline __attribute__((always_inline))
#define B_NOINLINE      static __attribute__((noinline))

/* Rounds of k allocations, each touched at its first and last byte, then a reset. Sizes come
 * from the job's table (row r % table_rounds), or are all `const_size` when that is nonzero
 * (a constant at compile time in the W2 instance). Pointers are OR-ed together so that one test
 * after the loop catches any misaligned block; a NULL block faults on the touch. Returns 0, -1
 * when an allocation failed, -2 when a block was misaligned. */
B_ALWAYS_INLINE int b_rounds_body(b_heap_t *hp, const struct bench_job *j, uint64_t rounds,
                                  size_t const_size)
{
    b_heap_t h = *hp;
    const size_t k = j->k;
    const uint32_t *row = j->sizes;
    const uint32_t *table_end = j->sizes + j->table_rounds * j->k;
    uintptr_t bits = 0;
    int rc = 0;

    for (uint64_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < k; i++) {
            size_t n = const_size ? const_size : row[i];
            void *p;

            if (__builtin_expect(!b_alloc(h, n, &p), 0)) {
                rc = -1;
                goto out;
            }
            bits |= (uintptr_t)p;
            ((unsigned char *)p)[0] = (unsigned char)i;
            ((unsigned char *)p)[n - 1] = (unsigned char)i;
        }
        b_reset(&h);
        if (!const_size) {
            row += k;
            if (row == table_end) row = j->sizes;
        }
    }
out:
    *hp = h;
    if (rc == 0 && (bits & 7) != 0) rc = -2;
    return rc;
}

B_NOINLINE int b_rounds_table(b_heap_t *hp, const struct bench_job *j, uint64_t rounds)
{
    return b_rounds_body(hp, j, rounds, 0);
}

B_NOINLINE int b_rounds_16(b_heap_t *hp, const struct bench_job *j, uint64_t rounds)
{
    return b_rounds_body(hp, j, rounds, 16);
}

B_NOINLINE int b_rounds_const(b_heap_t *hp, const struct bench_job *j, uint64_t rounds)
{
    return b_rounds_body(hp, j, rounds, j->const_size);
}

static int b_rounds(b_heap_t *hp, const struct bench_job *j, uint64_t rounds)
{
    if (j->const_size == 16) return b_rounds_16(hp, j, rounds);
    if (j->const_size != 0) return b_rounds_const(hp, j, rounds);
    return b_rounds_table(hp, j, rounds);
}

/* W4: cycles of `nheaps` heaps created, given k allocations each, all alive at once, then all
 * freed. Sizes come from the table (nheaps * k entries). Same return codes as above. */
B_NOINLINE int b_many_heaps(b_heap_t *heaps, const struct bench_job *j,
                            const struct bench_heap_cfg *cfg, uint64_t cycles)
{
    const size_t k = j->k, nheaps = j->nheaps;
    uintptr_t bits = 0;

    for (uint64_t c = 0; c < cycles; c++) {
        const uint32_t *sz = j->sizes;

        for (size_t hi = 0; hi < nheaps; hi++) {
            b_heap_t h;

            if (__builtin_expect(b_create(&h, cfg) != 0, 0)) return -1;
            heaps[hi] = h;
            for (size_t i = 0; i < k; i++) {
                size_t n = sz[i];
                void *p;

                if (__builtin_expect(!b_alloc(h, n, &p), 0)) return -1;
                bits |= (uintptr_t)p;
                ((unsigned char *)p)[0] = (unsigned char)i;
                ((unsigned char *)p)[n - 1] = (unsigned char)i;
            }
            sz += k;
        }
        for (size_t hi = 0; hi < nheaps; hi++)
            b_destroy(heaps[hi]);
    }
    return (bits & 7) != 0 ? -2 : 0;
}

static const char *b_rc_text(int rc)
{
    return rc == -1 ? "an allocation or heap creation failed" : "a block was not 8-byte aligned";
}

static uint64_t b_maxrss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss;
}

/* --- Validation (never timed) ----------------------------------------------------------------- */

/* Allocates one round of the job into `rec` (k entries), filling each block with its pattern
 * right away. Row `row_index` of the size table. Returns the number of blocks, or -1. */
static long b_fill_round(b_heap_t h, const struct bench_job *j, size_t row_index,
                         struct bench_block *rec, uint32_t tag_base, char *why, size_t why_size)
{
    const uint32_t *row = j->sizes ? j->sizes + (row_index % j->table_rounds) * j->k : NULL;

    for (size_t i = 0; i < j->k; i++) {
        size_t n = j->const_size ? j->const_size : row[i];
        void *p;

        if (!b_alloc(h, n, &p)) {
            snprintf(why, why_size, "validation: allocation %zu of %zu bytes failed", i, n);
            return -1;
        }
        rec[i].p = p;
        rec[i].size = n;
        rec[i].tag = tag_base + (uint32_t)i;
        if (p == NULL || ((uintptr_t)p & 7) != 0) {
            snprintf(why, why_size, "validation: block %zu is %p (NULL or misaligned)", i, p);
            return -1;
        }
        bench_fill_block(&rec[i]);
    }
    return (long)j->k;
}

/* `nrounds` validated rounds on `*hp`, each checked before its reset. */
static int b_validate_rounds(b_heap_t *hp, const struct bench_job *j, size_t nrounds,
                             struct bench_block *rec, char *why, size_t why_size)
{
    for (size_t r = 0; r < nrounds; r++) {
        long n = b_fill_round(*hp, j, r, rec, (uint32_t)(r * 7919u), why, why_size);

        if (n < 0 || bench_check_blocks(rec, (size_t)n, why, why_size) != 0) return -1;
        b_reset(hp);
    }
    return 0;
}

/* --- Rounds workloads (W1, W2, W3, W1 K=10, G) ------------------------------------------------ */

static enum bench_status b_run_rounds(const struct bench_job *j, const struct bench_heap_cfg *cfg,
                                      struct bench_result *res)
{
    b_heap_t h;
    uint64_t t0, t1;
    int rc;

    res->rss_before_kib = b_maxrss_kib();
    if (b_create(&h, cfg) != 0) {
        snprintf(res->message, sizeof res->message, "heap creation failed");
        return BS_FAIL;
    }
    rc = b_rounds(&h, j, j->warmup_rounds);
    if (rc == 0) {
        t0 = bench_thread_cpu_ns();
        rc = b_rounds(&h, j, j->rounds);
        t1 = bench_thread_cpu_ns();
        res->cpu_ns = t1 - t0;
        res->units = j->rounds * j->k;
    }
    res->rss_peak_kib = b_maxrss_kib();
    if (rc != 0) {
        snprintf(res->message, sizeof res->message, "timed loop: %s", b_rc_text(rc));
        b_destroy(h);
        return BS_FAIL;
    }
    if (j->validate) {
        struct bench_block *rec = calloc(j->k, sizeof *rec);
        int bad = rec == NULL;

        /* On the warmed heap (steady-state reuse), then on a fresh one (first-round growth). */
        if (!bad) bad = b_validate_rounds(&h, j, 2, rec, res->message, sizeof res->message);
        b_destroy(h);
        if (!bad) {
            bad = b_create(&h, cfg) != 0;
            if (!bad) {
                bad = b_validate_rounds(&h, j, 2, rec, res->message, sizeof res->message);
                b_destroy(h);
            }
        }
        free(rec);
        return bad ? BS_FAIL : BS_OK;
    }
    b_destroy(h);
    return BS_OK;
}

/* --- W4 --------------------------------------------------------------------------------------- */

static enum bench_status b_run_w4(const struct bench_job *j, const struct bench_heap_cfg *cfg,
                                  struct bench_result *res)
{
    b_heap_t *heaps = calloc(j->nheaps, sizeof *heaps);
    uint64_t t0, t1;
    int rc;

    if (heaps == NULL) {
        snprintf(res->message, sizeof res->message, "out of memory for the heap table");
        return BS_FAIL;
    }
    res->rss_before_kib = b_maxrss_kib();
    rc = b_many_heaps(heaps, j, cfg, j->warmup_rounds);
    if (rc == 0) {
        t0 = bench_thread_cpu_ns();
        rc = b_many_heaps(heaps, j, cfg, j->rounds);
        t1 = bench_thread_cpu_ns();
        res->cpu_ns = t1 - t0;
        res->units = j->rounds * j->nheaps;
    }
    res->rss_peak_kib = b_maxrss_kib();
    if (rc != 0) {
        snprintf(res->message, sizeof res->message, "timed loop: %s", b_rc_text(rc));
        free(heaps); /* heaps of a failed cycle are leaked: the process ends anyway */
        return BS_FAIL;
    }
    if (j->validate) {
        /* One cycle, every block of every heap alive at once: all must be disjoint. Heap `hi`
         * gets row hi of the size table, as in the timed loop. */
        struct bench_block *rec = calloc(j->nheaps * j->k, sizeof *rec);
        size_t created = 0;
        int bad = rec == NULL;

        for (size_t hi = 0; !bad && hi < j->nheaps; hi++) {
            if ((bad = b_create(&heaps[hi], cfg) != 0)) {
                snprintf(res->message, sizeof res->message, "validation: create %zu failed", hi);
                break;
            }
            created++;
            bad = b_fill_round(heaps[hi], j, hi, rec + hi * j->k, (uint32_t)(hi * 31u),
                               res->message, sizeof res->message) < 0;
        }
        if (!bad)
            bad = bench_check_blocks(rec, j->nheaps * j->k, res->message, sizeof res->message) != 0;
        while (created > 0)
            b_destroy(heaps[--created]);
        free(rec);
        free(heaps);
        return bad ? BS_FAIL : BS_OK;
    }
    free(heaps);
    return BS_OK;
}

/* --- W5: two threads, each its own heap, running the rounds workload -------------------------- */

struct b_thread {
    const struct bench_job *job;
    const struct bench_heap_cfg *cfg;
    pthread_barrier_t *barrier;
    struct bench_block *rec; /* both threads' validation rounds, k blocks each */
    int index;
    int rc; /* 0, or a b_rounds code, or -3 for a validation failure */
    uint64_t cpu_ns;
    char why[200];
};

static void *b_thread_main(void *arg)
{
    struct b_thread *t = arg;
    const struct bench_job *j = t->job;
    b_heap_t h;
    uint64_t t0;
    int created = b_create(&h, t->cfg) == 0;

    t->rc = created ? 0 : -1;
    if (t->rec != NULL) {
        /* Both threads fill one round; thread 0 checks the union (blocks of two live heaps
         * must not overlap either); then both reset. Both threads pass both barriers. */
        if (created && b_fill_round(h, j, (size_t)t->index, t->rec + t->index * j->k,
                                    t->index ? 50000u : 0u, t->why, sizeof t->why) < 0)
            t->rc = -3;
        pthread_barrier_wait(t->barrier);
        if (t->index == 0 && t->rc == 0 &&
            bench_check_blocks(t->rec, 2 * j->k, t->why, sizeof t->why) != 0)
            t->rc = -3;
        pthread_barrier_wait(t->barrier);
        if (created) b_reset(&h);
    }
    if (t->rc == 0) t->rc = b_rounds(&h, j, j->warmup_rounds);
    pthread_barrier_wait(t->barrier); /* start the timed part together */
    if (t->rc == 0) {
        t0 = bench_thread_cpu_ns();
        t->rc = b_rounds(&h, j, j->rounds);
        t->cpu_ns = bench_thread_cpu_ns() - t0;
    }
    if (created) b_destroy(h);
    return NULL;
}

static enum bench_status b_run_w5(const struct bench_job *j, const struct bench_heap_cfg *cfg,
                                  struct bench_result *res)
{
    pthread_barrier_t barrier;
    struct b_thread t[2];
    pthread_t tid[2];
    struct bench_block *rec = j->validate ? calloc(2 * j->k, sizeof *rec) : NULL;

    pthread_barrier_init(&barrier, NULL, 2);
    res->rss_before_kib = b_maxrss_kib();
    for (int i = 0; i < 2; i++) {
        t[i] = (struct b_thread){.job = j, .cfg = cfg, .barrier = &barrier, .rec = rec, .index = i};
        if (pthread_create(&tid[i], NULL, b_thread_main, &t[i]) != 0) {
            /* The first thread waits at a barrier for a partner that will never come. */
            fprintf(stderr, "wsheap-bench: pthread_create failed\n");
            exit(BS_FAIL);
        }
    }
    for (int i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&barrier);
    res->rss_peak_kib = b_maxrss_kib();
    free(rec);
    for (int i = 0; i < 2; i++) {
        if (t[i].rc != 0) {
            snprintf(res->message, sizeof res->message, "thread %d: %s", i,
                     t[i].rc == -3 ? t[i].why : b_rc_text(t[i].rc));
            return BS_FAIL;
        }
    }
    res->cpu_ns_t[0] = t[0].cpu_ns;
    res->cpu_ns_t[1] = t[1].cpu_ns;
    res->cpu_ns = (t[0].cpu_ns + t[1].cpu_ns) / 2;
    res->units = j->rounds * j->k;
    return BS_OK;
}

/* --- Entry point ------------------------------------------------------------------------------ */

static enum bench_status b_run(const struct bench_job *j, struct bench_result *res)
{
    struct bench_heap_cfg cfg = {
        .max_size = j->max_size,
        .trim_size = j->trim_size,
        .round_bytes = j->round_bytes,
        .round_allocs = j->k,
    };

    switch (j->workload) {
    case BW_W4:
        return b_run_w4(j, &cfg, res);
    case BW_W5:
        return b_run_w5(j, &cfg, res);
    default:
        return b_run_rounds(j, &cfg, res);
    }
}

#endif
