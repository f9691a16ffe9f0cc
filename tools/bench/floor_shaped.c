/* SPDX-License-Identifier: MIT */
/*
 * The out-of-line floor: the bump allocation shaped like WsAlloc (NULL checks, one compare of
 * the size against end - cur, one store of cur, the out-parameter store), kept in its own file
 * so the compiler cannot inline it into the workload loops. Built into the bench (direct call)
 * and into libwsheap_bench_floor.so (PLT call).
 */
#include "floor.h"

#define FLOOR_E_INVALIDARG ((int)0x80070057)

__attribute__((noinline)) int FLOOR(alloc)(struct floor_heap *h, size_t size, void **out)
{
    if (__builtin_expect(h == NULL || out == NULL, 0)) return FLOOR_E_INVALIDARG;
    /* The window is 8-aligned, so a size that fits still fits once rounded up. */
    if (__builtin_expect(size > (size_t)(h->end - h->cur), 0))
        return FLOOR(alloc_slow)(h, size, out);
    *out = h->cur;
    h->cur += (size + 7) & ~(size_t)7;
    return 0;
}
