/* SPDX-License-Identifier: MIT */
/*
 * Making arena blocks visible to AddressSanitizer and valgrind memcheck ("tracked" arenas).
 * ASan is a build-time mode (the library itself is compiled with -fsanitize=address); memcheck
 * is a run-time mode, asked once per process. In any other build or run every annotation here
 * is empty, and arenas use the untracked backend, whose fast path never sees this file.
 */
#ifndef WSH_TRACK_H
#define WSH_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* WSH_TRACK_ASAN: this translation unit is compiled with AddressSanitizer (gcc defines
 * __SANITIZE_ADDRESS__, clang answers __has_feature(address_sanitizer)). */
#if defined(__SANITIZE_ADDRESS__)
#define WSH_TRACK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSH_TRACK_ASAN 1
#endif
#endif
#ifndef WSH_TRACK_ASAN
#define WSH_TRACK_ASAN 0
#endif

/* WSH_TRACK_VALGRIND: the client-request macros are compiled in (they cost nothing until
 * executed, and outside valgrind they execute as a few no-op instructions). Not with ASan,
 * whose binaries cannot run under valgrind. -DWSHEAP_NO_VALGRIND leaves them out. */
#if !WSH_TRACK_ASAN && !defined(WSHEAP_NO_VALGRIND) && defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#define WSH_TRACK_VALGRIND 1
#endif
#endif
#ifndef WSH_TRACK_VALGRIND
#define WSH_TRACK_VALGRIND 0
#endif

#if WSH_TRACK_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if WSH_TRACK_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

/* True when arenas created now must be tracked: always in an ASan build; under valgrind
 * memcheck (not callgrind, cachegrind, helgrind or drd, whose users measure or check the
 * untracked arena); or when a test forced it with wsh_track_force. Cheap after the first call
 * (one relaxed load). */
bool wsh_track_active(void);

/* True when this process runs under valgrind memcheck (asked once). */
bool wsh_track_memcheck(void);

/* Test hook: WSH_TRACK_ON makes wsh_track_active() true for heaps created afterwards, so that
 * the tracked arena's bookkeeping runs in a build without either tool; WSH_TRACK_OFF makes it
 * false (the untracked arena under ASan or memcheck, as test_arena wants); WSH_TRACK_AUTO
 * returns to the detected answer. */
enum wsh_track_mode { WSH_TRACK_AUTO, WSH_TRACK_OFF, WSH_TRACK_ON };
void wsh_track_force(enum wsh_track_mode mode);

/* Marks [p, p + n) as not addressable (ASan poison; memcheck no-access). */
static inline void wsh_track_poison(const void *p, size_t n)
{
#if WSH_TRACK_ASAN
    ASAN_POISON_MEMORY_REGION(p, n);
#elif WSH_TRACK_VALGRIND
    (void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
#else
    (void)p;
    (void)n;
#endif
}

/* Marks [p, p + n) as addressable again (ASan unpoison; memcheck: addressable, contents
 * undefined), e.g. before wsheap itself writes a record kept inside a redzone. */
static inline void wsh_track_unpoison(const void *p, size_t n)
{
#if WSH_TRACK_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#elif WSH_TRACK_VALGRIND
    (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#else
    (void)p;
    (void)n;
#endif
}

/* Makes [p, p + n) addressable with its current contents counted as initialised, so that
 * wsheap can read a record it wrote before poisoning it. */
static inline void wsh_track_define(const void *p, size_t n)
{
#if WSH_TRACK_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#elif WSH_TRACK_VALGRIND
    (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
#else
    (void)p;
    (void)n;
#endif
}

/* Memcheck's view of an arena: one mempool per heap, keyed by `pool`. Empty without valgrind
 * support; the caller checks wsh_track_memcheck() first. */
static inline void wsh_track_pool_create(const void *pool, size_t redzone)
{
#if WSH_TRACK_VALGRIND
    VALGRIND_CREATE_MEMPOOL(pool, redzone, 0);
#else
    (void)pool;
    (void)redzone;
#endif
}

static inline void wsh_track_pool_alloc(const void *pool, const void *block, size_t size)
{
#if WSH_TRACK_VALGRIND
    VALGRIND_MEMPOOL_ALLOC(pool, block, size);
#else
    (void)pool;
    (void)block;
    (void)size;
#endif
}

/* Every block of the pool dies (memcheck remembers them as freed, with this call's stack). */
static inline void wsh_track_pool_clear(const void *pool)
{
#if WSH_TRACK_VALGRIND
    VALGRIND_MEMPOOL_TRIM(pool, 0, 0);
#else
    (void)pool;
#endif
}

static inline void wsh_track_pool_destroy(const void *pool)
{
#if WSH_TRACK_VALGRIND
    VALGRIND_DESTROY_MEMPOOL(pool);
#else
    (void)pool;
#endif
}

/* --- Describing addresses (track.c, arena/tracked.c) ------------------------------------------ */

/* Frames kept for a description's allocation stack. */
#define WSH_TRACK_FRAMES 16

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
    uintptr_t frames[WSH_TRACK_FRAMES];
    /* Released memory (`released` != 0, or heap_freed): the releasing call's thread and stack. */
    int32_t release_tid;            /* 0 when unknown */
    const char *release_stack_note; /* why no release stack is shown; NULL when frames are */
    size_t n_release_frames;
    uintptr_t release_frames[WSH_TRACK_FRAMES];
};

/* Looks `addr` up among the tracked arenas' chunks (current, full, and quarantined after a
 * reset). True and `out` filled when one holds it. Takes the tracked arenas' lock; with
 * `may_block` false only tries to (an ASan report may run while this thread holds it), and
 * answers false when it is busy. */
bool wsh_arena_tracked_describe(uintptr_t addr, bool may_block, struct wsh_addr_info *out);

/* Formats `info` as the lines wsheap_describe_address writes (each "wsheap: ...\n"), into
 * `buf` as snprintf does; returns the full length. */
size_t wsh_track_format(const struct wsh_addr_info *info, char *buf, size_t len);

/* Registers wsheap's ASan error-report callback, once (ASan builds; a no-op otherwise). */
void wsh_track_install_asan_hook(void);

/* The tracked arena backend: the arena's behaviour with redzones, records, poisoning and a
 * quarantine of released chunks (arena/tracked.c). wsh_backend_select returns it for arena
 * heaps while wsh_track_active(); its name is "arena" too. */
extern const struct wsh_backend_ops wsh_arena_tracked_ops;

#endif
