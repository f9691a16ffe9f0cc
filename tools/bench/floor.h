/* SPDX-License-Identifier: MIT */
/*
 * The bump-pointer floor that wsheap-bench compares every allocator with: a heap is a window
 * [cur, end) in a chunk; reset keeps the largest chunk of the round, so an identical round runs
 * without leaving the fast path. Compiled twice: into the bench (prefix floor_) and into
 * libwsheap_bench_floor.so (prefix floorso_), whose calls go through the PLT as wsheap's do.
 */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include <stddef.h>

#ifndef FLOOR_NS
#define FLOOR_NS floor_
#endif
#define FLOOR_CAT2(a, b) a##b
#define FLOOR_CAT(a, b)  FLOOR_CAT2(a, b)
#define FLOOR(name)      FLOOR_CAT(FLOOR_NS, name)

#define FLOOR_API __attribute__((visibility("default")))

struct floor_chunk {
    struct floor_chunk *next;
    size_t size; /* bytes including this header */
};

struct floor_heap {
    char *cur;                    /* next free byte, 8-aligned */
    char *end;                    /* end of the window */
    struct floor_chunk *big;      /* the chunk reset returns to; NULL: the first chunk */
    struct floor_chunk *extra;    /* chunks added since the last reset, newest first */
    size_t last_size;             /* size of the newest chunk, for doubling */
    char *first_data, *first_end; /* the space left in the chunk that holds this header */
};

/* 0 on success, -1 when out of memory. */
FLOOR_API int FLOOR(create)(struct floor_heap **out);
FLOOR_API void FLOOR(reset)(struct floor_heap *h);
FLOOR_API void FLOOR(destroy)(struct floor_heap *h);

/* New chunk, then the allocation; 0 or -1 (out of memory). Out of line and cold. */
FLOOR_API int FLOOR(alloc_slow)(struct floor_heap *h, size_t size, void **out);

/* The out-of-line, WsAlloc-shaped fast path (floor_shaped.c): NULL checks, one compare, one
 * store of cur, the out store. Returns 0 (S_OK) or a negative HRESULT-like code. */
FLOOR_API int FLOOR(alloc)(struct floor_heap *h, size_t size, void **out);

/* The inline fast path, for the inline floor. */
static inline int FLOOR(alloc_inline)(struct floor_heap *h, size_t size, void **out)
{
    if (__builtin_expect(size > (size_t)(h->end - h->cur), 0))
        return FLOOR(alloc_slow)(h, size, out);
    *out = h->cur;
    h->cur += (size + 7) & ~(size_t)7;
    return 0;
}

#endif
