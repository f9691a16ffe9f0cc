/* SPDX-License-Identifier: MIT */
/*
 * Backend "apr": Apache Portable Runtime pools with their defaults: apr_pool_create under the
 * global pool, apr_palloc, apr_pool_clear as reset, apr_pool_destroy. Built when pkg-config
 * found apr-1 at configure time; otherwise the row reports itself skipped.
 */
#include "bench.h"

#ifdef BENCH_HAVE_APR
#include <apr_general.h>
#include <apr_pools.h>
#include <stdio.h>

typedef apr_pool_t *b_heap_t;

static inline int b_create(b_heap_t *h, const struct bench_job *j)
{
    (void)j;
    return apr_pool_create(h, NULL) == APR_SUCCESS ? 0 : -1;
}

static inline int b_alloc(b_heap_t h, size_t n, void **p)
{
    return (*p = apr_palloc(h, n)) != NULL;
}

static inline void b_reset(b_heap_t *h)
{
    apr_pool_clear(*h);
}

static inline void b_destroy(b_heap_t h)
{
    apr_pool_destroy(h);
}

#include "workload_impl.h"

static enum bench_status init_apr(char *why, size_t why_size)
{
    if (apr_initialize() != APR_SUCCESS) {
        snprintf(why, why_size, "apr_initialize failed");
        return BS_SKIP;
    }
    return BS_OK;
}

const struct bench_backend bench_backend_apr = {
    .name = "apr",
    .process_init = init_apr,
    .run = b_run,
};
#else
const struct bench_backend bench_backend_apr = {
    .name = "apr",
    .skip_why = "APR not found when configured (pkg-config apr-1)",
};
#endif
