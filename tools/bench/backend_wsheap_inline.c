/* SPDX-License-Identifier: MIT */
/*
 * Backend "wsheap-inline": the wsheap arena with the opt-in inline fast path
 * (WSHEAP_INLINE_ALLOC, see wsheap.h): WsAlloc's common case compiled into the workload loop,
 * everything else through libwsheap.so. The stretch target compares it with floor-inline.
 */
#define WSHEAP_INLINE_ALLOC 1
#include "bench.h"

#include "backend_wsheap_adapter.h"

const struct bench_backend bench_backend_wsheap_inline = {
    .name = "wsheap-inline",
    .run = b_run,
};
