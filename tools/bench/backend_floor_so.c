/* SPDX-License-Identifier: MIT */
/*
 * Backend "floor-so": the same WsAlloc-shaped bump as floor-call, exported from a shared
 * library (libwsheap_bench_floor.so), so every allocation goes through the PLT exactly as a
 * WsAlloc call does. The gap between this row and wsheap is what wsheap's own code costs.
 */
#define FLOOR_NS floorso_
#include "bench.h"
#include "floor.h"

typedef struct floor_heap *b_heap_t;

static inline int b_create(b_heap_t *h, const struct bench_heap_cfg *cfg)
{
    (void)cfg;
    return floorso_create(h);
}

static inline int b_alloc(b_heap_t h, size_t n, void **p)
{
    return floorso_alloc(h, n, p) == 0;
}

static inline void b_reset(b_heap_t *h)
{
    floorso_reset(*h);
}

static inline void b_destroy(b_heap_t h)
{
    floorso_destroy(h);
}

#include "workload_impl.h"

const struct bench_backend bench_backend_floor_so = {
    .name = "floor-so",
    .label = "the same bump through a shared library (PLT)",
    .run = b_run,
};
