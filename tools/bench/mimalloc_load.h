/* SPDX-License-Identifier: MIT */
/*
 * mimalloc for the two mimalloc rows, loaded with dlopen(RTLD_LOCAL) in the child that runs one.
 * Debian's libmimalloc.so exports malloc/free: linked into the bench it would replace glibc
 * malloc in every row (the malloc, obstack, APR and talloc rows would all be measuring
 * mimalloc). Loaded locally, it replaces nothing; each call is one indirect call, as a PLT call
 * is. The library's path comes from the configure step (BENCH_MIMALLOC_PATH); when mimalloc was
 * not found then, the rows report themselves skipped.
 */
#ifndef BENCH_MIMALLOC_LOAD_H
#define BENCH_MIMALLOC_LOAD_H

#include <dlfcn.h>
#include <stdio.h>

#include "bench.h"

#ifdef BENCH_MIMALLOC_PATH
#include <mimalloc.h>
#else /* only the prototypes are needed: the rows are skipped */
typedef struct mi_heap_s mi_heap_t;
void *mi_malloc(size_t size);
void mi_free(void *p);
mi_heap_t *mi_heap_new(void);
void mi_heap_destroy(mi_heap_t *heap);
void *mi_heap_malloc(mi_heap_t *heap, size_t size);
#endif

/* Typed by mimalloc.h, so that a prototype that changed fails to compile. */
static struct {
    __typeof__(&mi_malloc) malloc;
    __typeof__(&mi_free) free;
    __typeof__(&mi_heap_new) heap_new;
    __typeof__(&mi_heap_destroy) heap_destroy;
    __typeof__(&mi_heap_malloc) heap_malloc;
} bench_mi;

/* Fills bench_mi (the rows' process_init); BS_SKIP with a reason when mimalloc was not found or
 * will not load. */
static enum bench_status bench_mi_load(char *why, size_t why_size)
{
#ifdef BENCH_MIMALLOC_PATH
    void *lib = dlopen(BENCH_MIMALLOC_PATH, RTLD_NOW | RTLD_LOCAL);

    if (lib == NULL) {
        snprintf(why, why_size, "dlopen(%s) failed: %s", BENCH_MIMALLOC_PATH, dlerror());
        return BS_SKIP;
    }
    *(void **)&bench_mi.malloc = dlsym(lib, "mi_malloc");
    *(void **)&bench_mi.free = dlsym(lib, "mi_free");
    *(void **)&bench_mi.heap_new = dlsym(lib, "mi_heap_new");
    *(void **)&bench_mi.heap_destroy = dlsym(lib, "mi_heap_destroy");
    *(void **)&bench_mi.heap_malloc = dlsym(lib, "mi_heap_malloc");
    if (!bench_mi.malloc || !bench_mi.free || !bench_mi.heap_new || !bench_mi.heap_destroy ||
        !bench_mi.heap_malloc) {
        snprintf(why, why_size, "%s lacks a mi_* function this bench calls", BENCH_MIMALLOC_PATH);
        return BS_SKIP;
    }
    return BS_OK;
#else
    snprintf(why, why_size, "mimalloc (libmimalloc.so, mimalloc.h) not found when configured");
    return BS_SKIP;
#endif
}

#endif
