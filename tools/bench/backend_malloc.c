/* SPDX-License-Identifier: MIT */
/*
 * Backends "malloc" (glibc malloc/free) and "efence" (the same code run by the driver in a
 * child with LD_PRELOAD=libefence.so, Electric Fence's guard-page malloc). A heap is the list of
 * the round's pointers; reset frees them one by one.
 */
#include "bench.h"
#include <dlfcn.h>
#include <stdlib.h>

#define PL_MALLOC(n) malloc(n)
#define PL_FREE(p)   free(p)
#include "ptrlist.h"

#include "workload_impl.h"

/* The driver starts this row with LD_PRELOAD=libefence.so (and EF_ALIGNMENT=8: Electric
 * Fence's default 4-byte alignment breaks the 8-byte promise every row is checked for). Make
 * sure the preload took: Electric Fence exports its settings as global variables. */
static enum bench_status init_efence(char *why, size_t why_size)
{
    if (dlsym(RTLD_DEFAULT, "EF_ALIGNMENT") == NULL) {
        snprintf(why, why_size, "Electric Fence is not loaded (run under LD_PRELOAD=libefence.so)");
        return BS_SKIP;
    }
    return BS_OK;
}

const struct bench_backend bench_backend_malloc = {
    .name = "malloc",
    .run = b_run,
};

#if defined(__SANITIZE_ADDRESS__)
#define EFENCE_SKIP "not under AddressSanitizer: ASan's runtime must come first in the preloads"
#elif !defined(BENCH_EFENCE_PATH)
#define EFENCE_SKIP "Electric Fence (libefence.so) not found when configured"
#else
#define EFENCE_SKIP NULL
#endif
#ifndef BENCH_EFENCE_PATH
#define BENCH_EFENCE_PATH ""
#endif

const struct bench_backend bench_backend_efence = {
    .name = "efence",
    .skip_why = EFENCE_SKIP, /* the driver does not even start the child then */
    .env = "LD_PRELOAD=" BENCH_EFENCE_PATH " EF_ALIGNMENT=8 EF_DISABLE_BANNER=1",
    .guarded = 1,
    .only = 1u << BW_W1 | 1u << BW_G,
    .process_init = init_efence,
    .run = b_run,
};
