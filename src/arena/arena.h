/* SPDX-License-Identifier: MIT */
/*
 * What the arena backend (arena.c) tells the rest of the library about a heap beyond
 * struct wsh_backend_ops: the memory it really holds, which ACTUAL_SIZE (Windows' figure,
 * policy.h) does not show.
 */
#ifndef WSH_ARENA_ARENA_H
#define WSH_ARENA_ARENA_H

#include <stddef.h>

#include "../internal.h"

/* Bytes of chunks an arena heap (wsh_arena_ops) holds now, its embedded first chunk included:
 * what it took from the system allocator for blocks. */
size_t wsh_arena_held(const struct wsh_heap *heap);

#endif
