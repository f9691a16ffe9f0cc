/* SPDX-License-Identifier: MIT */
/*
 * Tool detection: whether arenas are tracked (an ASan build, a valgrind memcheck run, or a
 * test's wsh_track_force). The annotations themselves are inline functions in track.h. Nothing
 * here is on a fast path, and nothing here calls the tracked arena or the description code.
 */
#include <stdatomic.h>
#include <stdint.h>

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

bool wsh_track_active(void)
{
    int mode = atomic_load_explicit(&forced, memory_order_relaxed);

    if (mode != WSH_TRACK_AUTO) return mode == WSH_TRACK_ON;
    return WSH_TRACK_ASAN || wsh_track_memcheck();
}

void wsh_track_force(enum wsh_track_mode mode)
{
    atomic_store_explicit(&forced, (int)mode, memory_order_relaxed);
}
