/* SPDX-License-Identifier: MIT */
/*
 * A "heap" for allocators that only have malloc/free: the round's pointers in a list sized to
 * one round, freed one by one at reset. Used by the glibc malloc, Electric Fence and mi_malloc
 * rows. The including file defines PL_MALLOC(n) and PL_FREE(p) first.
 */
#ifndef BENCH_PTRLIST_H
#define BENCH_PTRLIST_H

#include <stdlib.h>

#include "bench.h"

struct pl_heap {
    size_t n, cap;
    void **ptrs;
    void *small[16]; /* enough for W4's heaps without a second allocation */
};

typedef struct pl_heap *b_heap_t;

static inline int b_create(b_heap_t *out, const struct bench_job *j)
{
    struct pl_heap *h = PL_MALLOC(sizeof *h);

    if (h == NULL) return -1;
    h->n = 0;
    h->cap = 16;
    h->ptrs = h->small;
    if (j->k > 16) {
        h->ptrs = PL_MALLOC(j->k * sizeof *h->ptrs);
        if (h->ptrs == NULL) {
            PL_FREE(h);
            return -1;
        }
        h->cap = j->k;
    }
    *out = h;
    return 0;
}

/* A round never holds more than k blocks: a full list fails the row. */
static inline int b_alloc(b_heap_t h, size_t n, void **p)
{
    void *q;

    if (__builtin_expect(h->n == h->cap, 0) || (q = PL_MALLOC(n)) == NULL) return 0;
    h->ptrs[h->n++] = q;
    *p = q;
    return 1;
}

static inline void b_reset(b_heap_t *hp)
{
    b_heap_t h = *hp;

    for (size_t i = 0; i < h->n; i++)
        PL_FREE(h->ptrs[i]);
    h->n = 0;
}

static inline void b_destroy(b_heap_t h)
{
    b_reset(&h);
    if (h->ptrs != h->small) PL_FREE(h->ptrs);
    PL_FREE(h);
}

#endif
