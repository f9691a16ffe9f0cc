/* SPDX-License-Identifier: MIT */
/*
 * Loads mimalloc for the mimalloc rows (see mimalloc_load.h for why it is not linked). The
 * library path comes from the configure step (BENCH_MIMALLOC_PATH); when mimalloc was not
 * found then, the rows report themselves skipped.
 */
#include <dlfcn.h>
#include <stdio.h>

#ifdef BENCH_MIMALLOC_PATH
#include <mimalloc.h>
#endif

#include "mimalloc_load.h"

struct bench_mi bench_mi;

enum bench_status bench_mi_load(char *why, size_t why_size)
{
#ifdef BENCH_MIMALLOC_PATH
    /* The prototypes we call through must be the installed header's; checked at compile time
     * without making the bench link against mimalloc. */
#define BENCH_SAME_TYPE(field, fn)                                                                 \
    _Static_assert(__builtin_types_compatible_p(__typeof__(bench_mi.field), __typeof__(&fn)),      \
                   #fn " does not match mimalloc.h")
    BENCH_SAME_TYPE(malloc, mi_malloc);
    BENCH_SAME_TYPE(free, mi_free);
    BENCH_SAME_TYPE(heap_new, mi_heap_new);
    BENCH_SAME_TYPE(heap_destroy, mi_heap_destroy);
    BENCH_SAME_TYPE(heap_malloc, mi_heap_malloc);
#undef BENCH_SAME_TYPE

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
    snprintf(why, why_size,
             "mimalloc not found when configured (pkg-config mimalloc, or CMake "
             "package mimalloc)");
    return BS_SKIP;
#endif
}
