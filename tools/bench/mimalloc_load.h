/* SPDX-License-Identifier: MIT */
/*
 * mimalloc, loaded with dlopen(RTLD_LOCAL) by the rows that use it. Debian's libmimalloc.so
 * exports malloc/free: linked into the bench it would replace glibc malloc in every row (the
 * malloc, obstack, APR and talloc rows would all be measuring mimalloc). Loaded locally in the
 * child that runs a mimalloc row, it replaces nothing; each call is one indirect call, as a PLT
 * call is.
 */
#ifndef BENCH_MIMALLOC_LOAD_H
#define BENCH_MIMALLOC_LOAD_H

#include <stddef.h>

#include "bench.h"

typedef struct mi_heap_s mi_heap_t;

struct bench_mi {
    void *(*malloc)(size_t size);
    void (*free)(void *p);
    mi_heap_t *(*heap_new)(void);
    void (*heap_destroy)(mi_heap_t *heap);
    void *(*heap_malloc)(mi_heap_t *heap, size_t size);
};

extern struct bench_mi bench_mi;

/* Fills bench_mi; BS_SKIP with a reason when mimalloc was not found or will not load. */
enum bench_status bench_mi_load(char *why, size_t why_size);

#endif
