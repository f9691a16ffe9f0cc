/* SPDX-License-Identifier: MIT */
/*
 * Describing an address (describe.c): wsheap_describe_address, and the ASan report callback,
 * ask each backend to fill one struct wsh_addr_info, then format it. The guarded backend fills
 * it from its fault analysis (guarded/fault.c), the tracked arena from its chunks and block
 * records (arena/tracked.c). Dependencies point one way: describe.c calls the backends' fill
 * functions, and they call nothing in describe.c.
 */
#ifndef WSH_DESCRIBE_H
#define WSH_DESCRIBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "stack/stack.h"

/* Frames kept for a description's allocation stack. */
#define WSH_DESCRIBE_FRAMES 16

/* Where an address is, relative to the block a description names. */
enum wsh_addr_where {
    WSH_ADDR_INSIDE, /* in the block's bytes */
    WSH_ADDR_AFTER,  /* past its end (a redzone, padding) */
    WSH_ADDR_BEFORE, /* before its start (the redzone holding its record) */
    WSH_ADDR_NOWHERE /* in the heap's memory, but near no block (see `note`) */
};

/* Everything wsheap_describe_address says, gathered before formatting. */
struct wsh_addr_info {
    int kind;                        /* WSHEAP_ADDRESS_* */
    uintptr_t addr;                  /* the address described */
    uintptr_t heap;                  /* the WS_HEAP handle */
    const char *backend;             /* "arena", "guarded" */
    char heap_name[WSHEAP_NAME_MAX]; /* "" when unnamed */
    uint32_t heap_resets;            /* resets of the heap so far */
    bool heap_freed;                 /* the heap was freed (guarded quarantine only) */
    enum wsh_addr_where where;
    size_t distance;        /* bytes from the block's start (inside) or edge (after, before) */
    uintptr_t block;        /* the block's first byte (WsAlloc's answer) */
    size_t block_size;      /* the size requested */
    uint32_t ordinal;       /* the block's index since its heap's last reset (0-based) */
    uint32_t generation;    /* the heap's reset count when the block was allocated */
    bool has_generation;    /* `generation` is known (tracked arenas) */
    uint32_t released;      /* released by reset number `released` (0: live) */
    int32_t tid;            /* allocating thread; 0 when unknown */
    const char *note;       /* for WSH_ADDR_NOWHERE: which part of the heap's memory */
    const char *stack_note; /* why no allocation stack is shown; NULL when frames are */
    size_t n_frames;
    uintptr_t frames[WSH_DESCRIBE_FRAMES];
    /* Released memory (`released` != 0, or heap_freed): the releasing call's thread and stack. */
    int32_t release_tid;            /* 0 when unknown */
    const char *release_stack_note; /* why no release stack is shown; NULL when frames are */
    size_t n_release_frames;
    uintptr_t release_frames[WSH_DESCRIBE_FRAMES];
};

/* Copies the frames of depot stack `stack` (0: none) into `frames`, at most WSH_DESCRIBE_FRAMES,
 * and returns the count. For the backends' fill functions. AS-safe (wsh_depot_get). */
static inline size_t wsh_describe_stack(uint32_t stack, uintptr_t *frames)
{
    const uintptr_t *pcs;
    size_t n = stack != 0 ? wsh_depot_get(stack, &pcs) : 0;

    if (n > WSH_DESCRIBE_FRAMES) n = WSH_DESCRIBE_FRAMES;
    if (n > 0) memcpy(frames, pcs, n * sizeof *pcs);
    return n;
}

/* --- Filled by the backends ------------------------------------------------------------------- */

/* The fill functions below expect `out` zeroed with out->addr set; each returns true with `out`
 * filled when its backend holds `addr`, and false, leaving `out` as it was, when it does not. */

/* Guarded heaps (guarded/fault.c): a block, live or in the quarantine, or the heap memory
 * around blocks, found by the fault analysis (wsh_guarded_describe). Lock-free; AS-safe. */
bool wsh_guarded_addr_info(uintptr_t addr, struct wsh_addr_info *out);

/* Tracked arenas (arena/tracked.c): looks `addr` up among their chunks (current, full, and
 * quarantined after a reset). Takes the tracked arenas' lock; with `may_block` false only tries
 * to (an ASan report may run while this thread holds it), and answers false when it is busy. */
bool wsh_arena_tracked_describe(uintptr_t addr, bool may_block, struct wsh_addr_info *out);

/* --- Formatting and the ASan callback (describe.c) -------------------------------------------- */

/* Formats `info` as the lines wsheap_describe_address writes (each "wsheap: ...\n"), into
 * `buf` as snprintf does; returns the full length. */
size_t wsh_describe_format(const struct wsh_addr_info *info, char *buf, size_t len);

/* Registers wsheap's ASan error-report callback, which adds the description of the reported
 * address to ASan's report; once (when the process has the ASan runtime, see wsh_track_asan; a
 * no-op otherwise). Called by wsh_backend_select when it chooses the tracked arena. */
void wsh_describe_install_asan_hook(void);

#endif
