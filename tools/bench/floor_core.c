/* SPDX-License-Identifier: MIT */
/*
 * The floor's slow path, create, reset and destroy (see floor.h). Chunks double; reset keeps
 * the largest chunk of the round and frees the others; a heap lives at the start of its first
 * chunk, and a small per-thread cache of first chunks makes create/destroy cheap (W4).
 */
#include <stdlib.h>

#include "floor.h"

#define FIRST_CHUNK ((size_t)4096)
#define CACHE_MAX   4096

/* Per-thread cache of first chunks. initial-exec: no __tls_get_addr call in the .so build. */
static __thread __attribute__((tls_model("initial-exec"))) struct floor_chunk *cache;
static __thread __attribute__((tls_model("initial-exec"))) unsigned cache_count;

#define HDR_SIZE ((sizeof(struct floor_chunk) + 7) & ~(size_t)7)

static char *chunk_data(struct floor_chunk *c)
{
    return (char *)c + HDR_SIZE;
}

int FLOOR(create)(struct floor_heap **out)
{
    struct floor_chunk *c = cache;
    struct floor_heap *h;

    if (c != NULL) {
        cache = c->next;
        cache_count--;
    } else if ((c = malloc(FIRST_CHUNK)) == NULL) {
        return -1;
    }
    c->next = NULL;
    c->size = FIRST_CHUNK;
    h = (struct floor_heap *)chunk_data(c);
    h->first_data = (char *)h + ((sizeof *h + 7) & ~(size_t)7);
    h->first_end = (char *)c + FIRST_CHUNK;
    h->cur = h->first_data;
    h->end = h->first_end;
    h->big = NULL;
    h->extra = NULL;
    h->last_size = FIRST_CHUNK;
    *out = h;
    return 0;
}

int FLOOR(alloc_slow)(struct floor_heap *h, size_t size, void **out)
{
    size_t need = ((size + 7) & ~(size_t)7) + HDR_SIZE;
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
    h->cur += (size + 7) & ~(size_t)7;
    return 0;
}

void FLOOR(reset)(struct floor_heap *h)
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

void FLOOR(destroy)(struct floor_heap *h)
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
