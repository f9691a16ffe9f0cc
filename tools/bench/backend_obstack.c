/* SPDX-License-Identifier: MIT */
/*
 * Backend "obstack": glibc obstacks with their defaults (4064-byte chunks from malloc). Reset
 * frees back to a mark taken at creation; the heap is freed with obstack_free(ob, NULL).
 */
#include "bench.h"
#include <obstack.h>
#include <stdlib.h>

#define obstack_chunk_alloc malloc
#define obstack_chunk_free  free

struct ob_heap {
    struct obstack ob;
    void *mark; /* the first object: freeing to it empties the obstack but keeps it usable */
};

typedef struct ob_heap *b_heap_t;

static inline int b_create(b_heap_t *out, const struct bench_job *j)
{
    struct ob_heap *h = malloc(sizeof *h);

    (void)j;
    if (h == NULL || !obstack_init(&h->ob)) {
        free(h);
        return -1;
    }
    h->mark = obstack_alloc(&h->ob, 0);
    *out = h;
    return 0;
}

static inline int b_alloc(b_heap_t h, size_t n, void **p)
{
    *p = obstack_alloc(&h->ob, n);
    return 1; /* obstack calls obstack_alloc_failed_handler (exits) instead of returning NULL */
}

static inline void b_reset(b_heap_t *h)
{
    obstack_free(&(*h)->ob, (*h)->mark); /* keeps the mark's chunk, frees the newer ones */
}

static inline void b_destroy(b_heap_t h)
{
    obstack_free(&h->ob, NULL);
    free(h);
}

#include "workload_impl.h"

const struct bench_backend bench_backend_obstack = {
    .name = "obstack",
    .run = b_run,
};
