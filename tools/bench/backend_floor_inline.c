/* SPDX-License-Identifier: MIT */
/*
 * Backend "floor-inline": the bump-pointer floor with its fast path inlined into the workload
 * loops. Not a real API; it is what every ratio in the report is measured against.
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
    return floor_alloc_inline(h, n, p) == 0;
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

const struct bench_backend bench_backend_floor_inline = {
    .name = "floor-inline",
    .label = "inline bump-pointer floor (compiled into the bench)",
    .run = b_run,
};
