/* SPDX-License-Identifier: MIT */
/*
 * Chooses the backend for a new heap from the process options (WSHEAP_PAGEHEAP) and, for arenas,
 * whether a memory tool needs them tracked. A heap keeps the backend it was created with for its
 * whole life.
 */
#include "arena/tracked.h"
#include "describe.h"
#include "internal.h"
#include "track.h"

const struct wsh_backend_ops *wsh_backend_select(const struct wsh_options *options)
{
    if (options->backend == WSH_BACKEND_GUARDED) return &wsh_guarded_ops;
    if (!wsh_track_active()) return &wsh_arena_ops;
    /* Under ASan or memcheck, arenas annotate every block (arena/tracked.c), and ASan's reports
     * name the block an address is in. */
    wsh_describe_install_asan_hook();
    return &wsh_arena_tracked_ops;
}
