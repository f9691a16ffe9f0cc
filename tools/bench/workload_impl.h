/* SPDX-License-Identifier: MIT */
/*
 * The workload loops and their validation, compiled once into every backend_*.c file (a
 * template: include it after defining b_heap_t and the four adapter functions below). Each
 * backend therefore runs the same loops with its own allocation call compiled in: inlined for
 * the floor and wsheap-inline, a PLT or indirect call for wsheap and the anchors.
 *
 * The including file defines, before the #include:
 *   typedef ... b_heap_t;
 *   static inline int  b_create(b_heap_t *h, const struct bench_job *j);  0 on success
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
#include <time.h>

#include "bench.h"

#define B_ALWAYS_INLINE static inline __attribute__((always_inline))
#define B_NOINLINE      static __attribute__((noinline))

/* CPU time of the calling thread in nanoseconds. */
static uint64_t b_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t b_maxrss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_maxrss;
}

/* --- Timed loops ------------------------------------------------------------------------------ */

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

/* W4: cycles of `nheaps` heaps created, given k allocations each, all alive at once, then all
 * freed. Sizes come from the table (nheaps * k entries). Same return codes as above. */
B_NOINLINE int b_many_heaps(b_heap_t *heaps, const struct bench_job *j, uint64_t cycles)
{
    const size_t k = j->k, nheaps = j->nheaps;
    uintptr_t bits = 0;

    for (uint64_t c = 0; c < cycles; c++) {
        const uint32_t *sz = j->sizes;

        for (size_t hi = 0; hi < nheaps; hi++) {
            b_heap_t h;

            if (__builtin_expect(b_create(&h, j) != 0, 0)) return -1;
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

/* `rounds` of the job's timed loop on heaps[0] (W4: cycles of the heaps[0..nheaps) table). */
static int b_loop(b_heap_t *heaps, const struct bench_job *j, uint64_t rounds)
{
    if (j->workload == BW_W4) return b_many_heaps(heaps, j, rounds);
    if (j->const_size == 16) return b_rounds_16(heaps, j, rounds);
    if (j->const_size != 0) return b_rounds_const(heaps, j, rounds);
    return b_rounds_table(heaps, j, rounds);
}

/* --- Validation (never timed) ----------------------------------------------------------------- */

/* One allocation as recorded by a validation pass. */
struct b_block {
    unsigned char *p;
    size_t size;
    uint32_t tag; /* fill pattern seed */
};

static unsigned char b_pattern(uint32_t tag, size_t i)
{
    return (unsigned char)(tag * 167u + (uint32_t)i * 13u + 1u);
}

static int b_by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct b_block *)a)->p;
    uintptr_t y = (uintptr_t)((const struct b_block *)b)->p;

    return x < y ? -1 : x > y;
}

/* Two rounds on heaps[0..nh), all alive at once: heap i gets row r + i of the size table, each
 * block filled with its own pattern as it is allocated; then every block is checked (non-NULL,
 * 8-aligned, pattern intact: no later block overlapped it; disjoint once sorted by address)
 * and every heap reset. `rec` holds nh * k blocks. 0, or -1 with a reason in `why`. */
static int b_check_rounds(b_heap_t *heaps, size_t nh, const struct bench_job *j,
                          struct b_block *rec, char *why, size_t why_size)
{
    for (size_t r = 0, n = 0; r < 2; r++, n = 0) {
        for (size_t hi = 0; hi < nh; hi++) {
            const uint32_t *sz = j->sizes ? j->sizes + (r + hi) % j->table_rounds * j->k : NULL;

            for (size_t i = 0; i < j->k; i++, n++) {
                void *p = NULL;

                rec[n].size = j->const_size ? j->const_size : sz[i];
                rec[n].tag = (uint32_t)(r * 7919u + n);
                if (!b_alloc(heaps[hi], rec[n].size, &p) || p == NULL || ((uintptr_t)p & 7)) {
                    snprintf(why, why_size, "validation: %zu bytes gave %p (NULL or misaligned)",
                             rec[n].size, p);
                    return -1;
                }
                rec[n].p = p;
                for (size_t x = 0; x < rec[n].size; x++)
                    rec[n].p[x] = b_pattern(rec[n].tag, x);
            }
        }
        for (size_t i = 0; i < n; i++)
            for (size_t x = 0; x < rec[i].size; x++)
                if (rec[i].p[x] != b_pattern(rec[i].tag, x)) {
                    snprintf(why, why_size,
                             "validation: block of %zu bytes at %p overwritten at offset %zu: "
                             "another live block overlaps it",
                             rec[i].size, (void *)rec[i].p, x);
                    return -1;
                }
        qsort(rec, n, sizeof *rec, b_by_address);
        for (size_t i = 1; i < n; i++) {
            /* Zero-size blocks still need distinct addresses; the others must not overlap. */
            if ((uintptr_t)rec[i].p <
                (uintptr_t)rec[i - 1].p + (rec[i - 1].size ? rec[i - 1].size : 1)) {
                snprintf(why, why_size, "validation: blocks at %p (%zu bytes) and %p overlap",
                         (void *)rec[i - 1].p, rec[i - 1].size, (void *)rec[i].p);
                return -1;
            }
        }
        for (size_t hi = 0; hi < nh; hi++)
            b_reset(&heaps[hi]);
    }
    return 0;
}

/* The untimed check: two rounds on the warmed heap `*warm` (steady-state reuse; NULL for W4,
 * whose heaps are gone), then two on `nh` fresh heaps alive at once (first-round growth; W4:
 * its 1000 heaps together). 0, or -1 with res->message. */
static int b_validate(const struct bench_job *j, b_heap_t *warm, size_t nh,
                      struct bench_result *res)
{
    b_heap_t *heaps = calloc(nh, sizeof *heaps);
    struct b_block *rec = calloc(nh * j->k, sizeof *rec);
    char *why = res->message;
    size_t created = 0;
    int rc = heaps != NULL && rec != NULL ? 0 : -1;

    if (rc == 0 && warm != NULL) rc = b_check_rounds(warm, 1, j, rec, why, sizeof res->message);
    while (rc == 0 && created < nh && (rc = b_create(&heaps[created], j)) == 0)
        created++;
    if (rc == 0) rc = b_check_rounds(heaps, nh, j, rec, why, sizeof res->message);
    if (rc != 0 && why[0] == '\0')
        snprintf(why, sizeof res->message, "validation: out of memory, or a create failed");
    while (created > 0)
        b_destroy(heaps[--created]);
    free(rec);
    free(heaps);
    return rc;
}

/* --- Entry point ------------------------------------------------------------------------------ */

/* One run of the job in the calling thread: warm-up, timed part, then the validation. */
B_ALWAYS_INLINE enum bench_status b_run_one(const struct bench_job *j, struct bench_result *res)
{
    int w4 = j->workload == BW_W4, created = 0, rc = -1;
    b_heap_t h, *heaps = w4 ? calloc(j->nheaps, sizeof *heaps) : &h;
    uint64_t t0;

    res->rss_before_kib = b_maxrss_kib();
    if (w4 ? heaps != NULL : (created = b_create(&h, j) == 0)) {
        rc = b_loop(heaps, j, j->warmup_rounds);
        if (rc == 0) {
            t0 = b_cpu_ns();
            rc = b_loop(heaps, j, j->rounds);
            res->cpu_ns = b_cpu_ns() - t0;
            res->units = j->rounds * (w4 ? j->nheaps : j->k);
        }
    }
    res->rss_peak_kib = b_maxrss_kib();
    if (rc != 0)
        snprintf(res->message, sizeof res->message, "timed loop: %s",
                 rc == -2 ? "a block was not 8-byte aligned"
                          : "an allocation or heap creation failed");
    else if (j->validate)
        rc = b_validate(j, w4 ? NULL : &h, w4 ? j->nheaps : 1, res);
    if (created) b_destroy(h);
    if (w4) free(heaps); /* heaps of a failed cycle are leaked: the process ends anyway */
    return rc == 0 ? BS_OK : BS_FAIL;
}

/* W5: two threads, each with its own heap, run the job (W1's rounds) at the same time. */
struct b_thread {
    const struct bench_job *job;
    enum bench_status st;
    struct bench_result res;
};

static void *b_thread_main(void *arg)
{
    struct b_thread *t = arg;

    t->st = b_run_one(t->job, &t->res);
    return NULL;
}

static enum bench_status b_run(const struct bench_job *j, struct bench_result *res)
{
    struct b_thread t[2] = {{.job = j}, {.job = j}};
    pthread_t tid[2];
    int started = 0;

    if (j->workload != BW_W5) return b_run_one(j, res);
    res->rss_before_kib = b_maxrss_kib();
    while (started < 2 && pthread_create(&tid[started], NULL, b_thread_main, &t[started]) == 0)
        started++;
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    res->rss_peak_kib = b_maxrss_kib();
    for (int i = 0; i < 2; i++) {
        if (i >= started || t[i].st != BS_OK) {
            snprintf(res->message, sizeof res->message, "thread %d: %.180s", i,
                     i >= started ? "pthread_create failed" : t[i].res.message);
            return BS_FAIL;
        }
        res->cpu_ns_t[i] = t[i].res.cpu_ns;
    }
    res->cpu_ns = (t[0].res.cpu_ns + t[1].res.cpu_ns) / 2;
    res->units = t[0].res.units;
    return BS_OK;
}

#endif
