/* SPDX-License-Identifier: MIT */
/*
 * Backend "mimalloc-heap": a mimalloc first-class heap per WS_HEAP; mi_heap_malloc allocates,
 * reset is mi_heap_destroy + mi_heap_new (mimalloc has no "free everything, keep the heap").
 */
#include "bench.h"
#include "mimalloc_load.h"

typedef mi_heap_t *b_heap_t;

static inline int b_create(b_heap_t *h, const struct bench_job *j)
{
    (void)j;
    *h = bench_mi.heap_new();
    return *h != NULL ? 0 : -1;
}

static inline int b_alloc(b_heap_t h, size_t n, void **p)
{
    return (*p = bench_mi.heap_malloc(h, n)) != NULL;
}

static inline void b_reset(b_heap_t *h)
{
    bench_mi.heap_destroy(*h);
    *h = bench_mi.heap_new(); /* NULL here makes the next allocation fail the row */
}

static inline void b_destroy(b_heap_t h)
{
    bench_mi.heap_destroy(h);
}

#include "workload_impl.h"

const struct bench_backend bench_backend_mimalloc_heap = {
    .name = "mimalloc-heap",
    .process_init = bench_mi_load,
    .run = b_run,
};
