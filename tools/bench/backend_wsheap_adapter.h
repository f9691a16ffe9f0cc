/* SPDX-License-Identifier: MIT */
/*
 * The bench adapter for the public wsheap API, shared by the "wsheap" and "wsheap-inline"
 * backends: each includes it once, and compiles workload_impl.h's loops around it. A file gets
 * wsheap.h's inline fast path (the default) in those loops unless it defines
 * WSHEAP_NO_INLINE_ALLOC first.
 */
#include <wsheap.h>

typedef WS_HEAP *b_heap_t;

static inline int b_create(b_heap_t *h, const struct bench_job *j)
{
    return WsCreateHeap(j->max_size, j->trim_size, NULL, 0, h, NULL) == S_OK ? 0 : -1;
}

static inline int b_alloc(b_heap_t h, size_t n, void **p)
{
    return WsAlloc(h, n, p, NULL) == S_OK;
}

static inline void b_reset(b_heap_t *h)
{
    WsResetHeap(*h, NULL);
}

static inline void b_destroy(b_heap_t h)
{
    WsFreeHeap(h);
}

#include "workload_impl.h"
