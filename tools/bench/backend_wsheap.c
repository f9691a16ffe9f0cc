/* SPDX-License-Identifier: MIT */
/*
 * Backends "wsheap" and "wsheap-guarded": the real WsCreateHeap / WsAlloc / WsResetHeap /
 * WsFreeHeap through libwsheap.so. Both run the same code; the driver starts the guarded rows
 * in a child with WSHEAP_PAGEHEAP=1, and each row checks which backend its heaps really got.
 */
#include "bench.h"
#include <string.h>

#include "backend_wsheap_adapter.h"

/* Creates one heap and checks that it got the backend `want`. */
static enum bench_status probe(const char *want, char *why, size_t why_size)
{
    WS_HEAP *h = NULL;
    HRESULT hr = WsCreateHeap(1 << 20, 1 << 20, NULL, 0, &h, NULL);
    const char *got;

    if (hr != S_OK) {
        snprintf(why, why_size, "WsCreateHeap failed: %s", wsheap_hresult_name(hr));
        return BS_SKIP;
    }
    got = wsheap_backend_name(h);
    WsFreeHeap(h);
    if (got == NULL || strcmp(got, want) != 0) {
        snprintf(why, why_size, "heaps got the \"%s\" backend, not \"%s\"", got ? got : "(null)",
                 want);
        return BS_SKIP;
    }
    return BS_OK;
}

static enum bench_status init_arena(char *why, size_t why_size)
{
    return probe("arena", why, why_size);
}

static enum bench_status init_guarded(char *why, size_t why_size)
{
    return probe("guarded", why, why_size);
}

const struct bench_backend bench_backend_wsheap = {
    .name = "wsheap",
    .label = "wsheap arena: WsAlloc/WsResetHeap through libwsheap.so",
    .process_init = init_arena,
    .run = b_run,
};

const struct bench_backend bench_backend_wsheap_guarded = {
    .name = "wsheap-guarded",
    .label = "wsheap guarded backend (WSHEAP_PAGEHEAP=1), smaller counts",
    .process_init = init_guarded,
    .run = b_run,
};
