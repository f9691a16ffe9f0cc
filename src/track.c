/* SPDX-License-Identifier: MIT */
/*
 * Tool detection: whether arenas are tracked (the ASan runtime in the process, a valgrind
 * memcheck run, or a test's wsh_track_force), and the ASan runtime's functions when it is
 * there. The annotations themselves are inline functions in track.h. Nothing here is on a fast
 * path, and nothing here calls the tracked arena or the description code.
 */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "track.h"

static atomic_int forced = WSH_TRACK_AUTO;

bool wsh_track_memcheck(void)
{
#if WSH_TRACK_VALGRIND
    static atomic_int memcheck_state = -1; /* -1 not asked yet, 0 no, 1 yes */
    int state = atomic_load_explicit(&memcheck_state, memory_order_relaxed);

    if (state < 0) {
        state = 0;
        if (RUNNING_ON_VALGRIND) {
            /* Every valgrind tool answers RUNNING_ON_VALGRIND; only memcheck answers GET_VBITS
             * (1: copied), the others leave the default 0. callgrind users measure the
             * untracked arena, so they must get it. */
            uint64_t probe = 0, vbits = 0;

            state = VALGRIND_GET_VBITS(&probe, &vbits, sizeof probe) == 1;
        }
        atomic_store_explicit(&memcheck_state, state, memory_order_relaxed);
    }
    return state == 1;
#else
    return false;
#endif
}

#if WSH_TRACK_ASAN
static const struct wsh_track_asan_api asan_linked = {
    __asan_poison_memory_region, __asan_unpoison_memory_region, __asan_set_error_report_callback,
    __asan_get_report_address};
#else
static struct wsh_track_asan_api asan_found; /* written once, by find_asan */
static const struct wsh_track_asan_api *asan_api;
static pthread_once_t asan_once = PTHREAD_ONCE_INIT;

/* Reads the address of function `name` of the ASan runtime into `*fn` (a function pointer);
 * false when no loaded module defines it. */
static bool find_function(const char *name, void *fn)
{
    void *address = dlsym(RTLD_DEFAULT, name);

    /* dlsym answers void *; POSIX guarantees that it converts to the function's pointer. */
    memcpy(fn, &address, sizeof address);
    return address != NULL;
}

static void find_asan(void)
{
    struct wsh_track_asan_api *f = &asan_found;

    if (find_function("__asan_poison_memory_region", &f->poison) &&
        find_function("__asan_unpoison_memory_region", &f->unpoison) &&
        find_function("__asan_set_error_report_callback", &f->set_report_callback) &&
        find_function("__asan_get_report_address", &f->report_address))
        asan_api = f;
}
#endif

const struct wsh_track_asan_api *wsh_track_asan(void)
{
#if WSH_TRACK_ASAN
    return &asan_linked;
#else
    pthread_once(&asan_once, find_asan);
    return asan_api;
#endif
}

atomic_int wsh_track_answer;

bool wsh_track_decide(void)
{
    int mode = atomic_load_explicit(&forced, memory_order_relaxed);
    bool tracked = mode != WSH_TRACK_AUTO ? mode == WSH_TRACK_ON
                                          : wsh_track_asan() != NULL || wsh_track_memcheck();

    atomic_store_explicit(&wsh_track_answer, tracked ? 2 : 1, memory_order_relaxed);
    return tracked;
}

void wsh_track_force(enum wsh_track_mode mode)
{
    atomic_store_explicit(&forced, (int)mode, memory_order_relaxed);
    atomic_store_explicit(&wsh_track_answer, 0, memory_order_relaxed); /* decided again */
}
