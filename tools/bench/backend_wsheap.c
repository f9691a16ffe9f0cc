/* SPDX-License-Identifier: MIT */
/*
 * Backends "wsheap", "wsheap-guarded" and "wsheap-guarded-nostack": the real WsCreateHeap /
 * WsAlloc / WsResetHeap / WsFreeHeap through libwsheap.so, every WsAlloc a call to the exported
 * function (WSHEAP_NO_INLINE_ALLOC: the path of function pointers, dlsym and other languages;
 * "wsheap-inline" is the default include). All run the same code; the driver
 * starts the guarded rows in a child with WSHEAP_PAGEHEAP=1 (and, for the last one,
 * WSHEAP_STACK_DEPTH=0: the difference between the two guarded rows is what capturing and
 * storing the allocation stacks costs), and each row checks which backend its heaps got.
 */
#define WSHEAP_NO_INLINE_ALLOC 1
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
    .process_init = init_arena,
    .run = b_run,
};

const struct bench_backend bench_backend_wsheap_guarded = {
    .name = "wsheap-guarded",
    .env = "WSHEAP_PAGEHEAP=1",
    .guarded = 1,
    .process_init = init_guarded,
    .run = b_run,
};

const struct bench_backend bench_backend_wsheap_guarded_nostack = {
    .name = "wsheap-guarded-nostack",
    .env = "WSHEAP_PAGEHEAP=1 WSHEAP_STACK_DEPTH=0",
    .guarded = 1,
    .only = 1u << BW_G,
    .process_init = init_guarded,
    .run = b_run,
};
