/* SPDX-License-Identifier: MIT */
/*
 * Backend "mimalloc": mi_malloc/mi_free, a heap being the list of the round's pointers (reset
 * frees them one by one), mimalloc loaded as mimalloc_load.h explains.
 */
#include "bench.h"
#include "mimalloc_load.h"

#define PL_MALLOC(n) bench_mi.malloc(n)
#define PL_FREE(p)   bench_mi.free(p)
#include "ptrlist.h"

#include "workload_impl.h"

const struct bench_backend bench_backend_mimalloc = {
    .name = "mimalloc",
    .process_init = bench_mi_load,
    .run = b_run,
};
