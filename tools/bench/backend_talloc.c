/* SPDX-License-Identifier: MIT */
/*
 * Backend "talloc": a talloc pool per heap, sized to hold a round with talloc's per-object
 * headers (so talloc's best case), talloc_size to allocate, talloc_free_children as reset.
 * Built when pkg-config found talloc at configure time; otherwise reported skipped.
 */
#include "bench.h"

#ifdef BENCH_HAVE_TALLOC
#include <talloc.h>

typedef void *b_heap_t;

/* A generous bound on talloc's per-object header plus alignment (about 100 bytes). */
#define TALLOC_OVERHEAD 128

static inline int b_create(b_heap_t *h, const struct bench_job *j)
{
    size_t pool = j->round_bytes + j->k * TALLOC_OVERHEAD + 4096;

    *h = talloc_pool(NULL, pool);
    return *h != NULL ? 0 : -1;
}

static inline int b_alloc(b_heap_t h, size_t n, void **p)
{
    return (*p = talloc_size(h, n)) != NULL;
}

static inline void b_reset(b_heap_t *h)
{
    talloc_free_children(*h);
}

static inline void b_destroy(b_heap_t h)
{
    talloc_free(h);
}

#include "workload_impl.h"

const struct bench_backend bench_backend_talloc = {
    .name = "talloc",
    .run = b_run,
};
#else
const struct bench_backend bench_backend_talloc = {
    .name = "talloc",
    .skip_why = "talloc not found when configured (pkg-config talloc)",
};
#endif
