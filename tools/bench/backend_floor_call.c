/* SPDX-License-Identifier: MIT */
/*
 * Backend "floor-call": the floor's WsAlloc-shaped fast path as an out-of-line function in
 * another file of the bench (floor_shaped.c), so every allocation is a direct call.
 */
#include "bench.h"
#include "floor.h"

typedef struct floor_heap *b_heap_t;

static inline int b_create(b_heap_t *h, const struct bench_heap_cfg *cfg)
{
    (void)cfg;
    return floor_create(h);
}

static inline int b_alloc(b_heap_t h, size_t n, void **p)
{
    return floor_alloc(h, n, p) == 0;
}

static inline void b_reset(b_heap_t *h)
{
    floor_reset(*h);
}

static inline void b_destroy(b_heap_t h)
{
    floor_destroy(h);
}

#include "workload_impl.h"

const struct bench_backend bench_backend_floor_call = {
    .name = "floor-call",
    .label = "out-of-line WsAlloc-shaped bump, static (direct call)",
    .run = b_run,
};
