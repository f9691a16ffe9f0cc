/* SPDX-License-Identifier: MIT */
/*
 * Chooses the backend for a new heap from the process options (WSHEAP_PAGEHEAP). A heap keeps
 * the backend it was created with for its whole life.
 */
#include "internal.h"

const struct wsh_backend_ops *wsh_backend_select(void)
{
    const struct wsh_options *options = wsh_options();

    if (options->backend == WSH_BACKEND_GUARDED) {
        static int warned;

        if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
            wsh_warn("WSHEAP_PAGEHEAP=1: the guarded backend is not built yet; using the arena");
    }
    return &wsh_arena_ops;
}
