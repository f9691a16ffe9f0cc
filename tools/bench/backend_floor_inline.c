/* SPDX-License-Identifier: MIT */
/*
 * Backend "floor-inline": the bump-pointer floor every ratio in the report is measured against.
 * Not a real API. A heap is a window [cur, end) in a chunk, and the fast path (one compare, one
 * store of cur) is inlined into the workload loops. Chunks double; reset keeps the largest
 * chunk of the round, so an identical round runs without leaving the fast path. A heap lives at
 * the start of its first chunk, and a small per-thread cache of first chunks makes create and
 * destroy cheap (W4).
 */
#include <stdlib.h>

#include "bench.h"

#define FIRST_CHUNK ((size_t)4096)
#define CACHE_MAX   4096
#define ALIGN8(n)   (((n) + 7) & ~(size_t)7)

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

#define HDR_SIZE ALIGN8(sizeof(struct floor_chunk))

/* Per-thread cache of first chunks. */
static __thread struct floor_chunk *cache;
static __thread unsigned cache_count;

static char *chunk_data(struct floor_chunk *c)
{
    return (char *)c + HDR_SIZE;
}

/* New chunk (double the last), then the allocation; 0, or -1 when out of memory. This and the
 * floor's create, reset and destroy are noipa: the compiler treats them as calls it knows
 * nothing about, as when they lived in a file of their own, so the inlined fast path (and the
 * floor's instruction counts: 18 per W1 allocation, 15 per W2) does not depend on them. */
static __attribute__((noipa)) int floor_alloc_slow(struct floor_heap *h, size_t size, void **out)
{
    size_t need = ALIGN8(size) + HDR_SIZE;
    size_t csize = h->last_size * 2;
    struct floor_chunk *c;

    if (need < size) return -1;
    if (csize < need) csize = need;
    if ((c = malloc(csize)) == NULL) return -1;
    c->size = csize;
    c->next = h->extra;
    h->extra = c;
    h->last_size = csize;
    h->cur = chunk_data(c);
    h->end = (char *)c + csize;
    *out = h->cur;
    h->cur += ALIGN8(size);
    return 0;
}

typedef struct floor_heap *b_heap_t;

static __attribute__((noipa)) int b_create(b_heap_t *out, const struct bench_job *j)
{
    struct floor_chunk *c = cache;
    struct floor_heap *h;

    (void)j;
    if (c != NULL) {
        cache = c->next;
        cache_count--;
    } else if ((c = malloc(FIRST_CHUNK)) == NULL) {
        return -1;
    }
    c->next = NULL;
    c->size = FIRST_CHUNK;
    h = (struct floor_heap *)chunk_data(c);
    h->first_data = (char *)h + ALIGN8(sizeof *h);
    h->first_end = (char *)c + FIRST_CHUNK;
    h->cur = h->first_data;
    h->end = h->first_end;
    h->big = NULL;
    h->extra = NULL;
    h->last_size = FIRST_CHUNK;
    *out = h;
    return 0;
}

static inline int b_alloc(b_heap_t h, size_t size, void **out)
{
    /* The window is 8-aligned, so a size that fits still fits once rounded up. */
    if (__builtin_expect(size > (size_t)(h->end - h->cur), 0))
        return floor_alloc_slow(h, size, out) == 0;
    *out = h->cur;
    h->cur += ALIGN8(size);
    return 1;
}

/* Keeps the largest chunk of the round (or the first one) and frees the others. */
static __attribute__((noipa)) void floor_reset(struct floor_heap *h)
{
    if (h->extra != NULL) {
        struct floor_chunk *keep = h->big, *c, *next;

        for (c = h->extra; c != NULL; c = c->next)
            if (keep == NULL || c->size > keep->size) keep = c;
        if (h->big != NULL && h->big != keep) free(h->big);
        for (c = h->extra; c != NULL; c = next) {
            next = c->next;
            if (c != keep) free(c);
        }
        keep->next = NULL;
        h->big = keep;
        h->extra = NULL;
    }
    if (h->big != NULL) {
        h->cur = chunk_data(h->big);
        h->end = (char *)h->big + h->big->size;
        h->last_size = h->big->size;
    } else {
        h->cur = h->first_data;
        h->end = h->first_end;
    }
}

static inline void b_reset(b_heap_t *h)
{
    floor_reset(*h);
}

static __attribute__((noipa)) void b_destroy(b_heap_t h)
{
    struct floor_chunk *first = (struct floor_chunk *)((char *)h - HDR_SIZE), *c, *next;

    for (c = h->extra; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(h->big);
    if (cache_count < CACHE_MAX) {
        first->next = cache;
        cache = first;
        cache_count++;
    } else {
        free(first);
    }
}

#include "workload_impl.h"

const struct bench_backend bench_backend_floor_inline = {
    .name = "floor-inline",
    .run = b_run,
};
