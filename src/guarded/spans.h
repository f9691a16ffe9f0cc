/* SPDX-License-Identifier: MIT */
/*
 * Guarded memory's spans (spans.c): the span and block records, the address table that finds
 * the span of any address, span creation and unmapping, the quarantine, the readers of span
 * headers and the mapping budget. The lowest layer of the guarded backend: it depends on the
 * os layer only; fault.c, guarded.c and segv.c are its users.
 */
#ifndef WSH_GUARDED_SPANS_H
#define WSH_GUARDED_SPANS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../internal.h"
#include "../track.h"

/*
 * Guarded memory comes in spans: one private anonymous mapping each, aligned to and a multiple
 * of WSH_SPAN_GRANULE, so that a two-level table indexed by address finds the span of any
 * address in O(1) without locks (wsh_span_lookup). A span's first pages hold its header
 * (struct wsh_span, then the block records); they stay readable for the span's whole life.
 *
 *   | header + records | G | data | G | data data | G | data | G | unused ......... |
 *   ^ base             ^ area                                       ^ bump           ^ end
 *
 * G is a guard page (a MADV_GUARD_INSTALL marker, or PROT_NONE). Forward placement puts a
 * block at the end of its data pages, against the next guard; backward placement puts it at
 * the start, against the previous one. A heap's object lives in a span of its own (a "home"
 * span) so that it can be made inaccessible when the heap is freed.
 */
#define WSH_SPAN_GRANULE_SHIFT 16
#define WSH_SPAN_GRANULE       ((size_t)1 << WSH_SPAN_GRANULE_SHIFT)

/* Pattern bytes on each side of a redzone-only block (see the placement in guarded.c). */
#define WSH_REDZONE ((size_t)16)

/* Under valgrind memcheck, guarded memory that holds no block is marked no-access: memcheck's
 * leak search at exit then skips it (it would otherwise read every guard page of every span,
 * catching a fault per page, for minutes). ASan builds do not poison it: the guard pages must
 * trap and be reported by wsheap, not by ASan. */
#if WSH_TRACK_VALGRIND
#define WSH_MEMCHECK_NOACCESS(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define WSH_MEMCHECK_DEFINED(p, n)  ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define WSH_MEMCHECK_NOACCESS(p, n) ((void)(p), (void)(n))
#define WSH_MEMCHECK_DEFINED(p, n)  ((void)(p), (void)(n))
#endif

enum wsh_span_kind {
    WSH_SPAN_HOME,    /* holds one heap object */
    WSH_SPAN_BLOCKS,  /* one data page run + guard page per block */
    WSH_SPAN_REDZONE, /* degraded mode: blocks packed between pattern-filled redzones */
};

enum wsh_span_state {
    WSH_SPAN_LIVE,  /* in use by its heap (released blocks in it are inaccessible) */
    WSH_SPAN_RESET, /* left by its heap at WsResetHeap: every block released; quarantined */
    WSH_SPAN_FREED, /* left at WsFreeHeap: every block (or the heap object) gone; quarantined */
};

/* One WsAlloc. Records are appended in address order, so a span's records are sorted. The
 * release fields are written by the WsResetHeap / WsFreeHeap that ends the block, then
 * `released` (release); a lookup on another thread reads them only after seeing it. */
struct wsh_block {
    uintptr_t user;           /* the pointer WsAlloc returned */
    size_t size;              /* the size requested */
    uintptr_t data;           /* first data page (guarded) or first redzone byte (redzone) */
    uint32_t n_pages;         /* data pages; 0 for a redzone-only block */
    uint32_t ordinal;         /* index of the block in its heap since creation or the last reset */
    uint32_t alloc_stack;     /* stack depot handle; 0 when none */
    int32_t tid;              /* allocating thread */
    uint32_t release_stack;   /* the releasing call's stack */
    int32_t release_tid;      /* the releasing thread */
    uint32_t release_reset;   /* for WsResetHeap: the heap's reset number (1 = its first reset) */
    _Atomic uint8_t released; /* 0 live; WSH_SPAN_RESET or WSH_SPAN_FREED once released
                               * (release store: publishes the release fields to lookups) */
};

/* The header at the start of every span. Fields marked (H) are read by the signal handler. */
struct wsh_span {
    uint32_t magic;           /* (H) WSH_SPAN_MAGIC */
    uint8_t kind;             /* (H) enum wsh_span_kind */
    bool guard_advice;        /* guards are MADV_GUARD_INSTALL markers, not mprotect */
    _Atomic uint8_t state;    /* (H) enum wsh_span_state */
    char *base;               /* (H) the mapping: [base, base + size) */
    size_t size;              /* (H) */
    char *area;               /* (H) first page after the header (a guard page) */
    char *bump;               /* first unused byte of the area; addresses are never reused */
    char *hide_from;          /* start of the part not yet made inaccessible by a release */
    char *batch_start;        /* guard advice: guards pre-installed at odd pages of */
    char *batch_end;          /* [batch_start, batch_end), for one-page blocks (guarded.c) */
    struct wsh_block *blocks; /* (H) records, in address order */
    size_t capacity;          /* records the header has room for */
    _Atomic size_t n_blocks;  /* (H) records published (release) */
    size_t live_from;         /* records before this one are released */
    struct wsh_span *home;    /* (H) the home span of the owning heap */
    struct wsh_span *next;    /* the heap's list of spans, then the quarantine FIFO */
    size_t n_vmas;            /* mapping-count estimate charged for this span */
    char *run_start;          /* guard advice: the one-page blocks of batches since the last */
    char *run_end;            /* release, each followed by its guard, fill [run_start, run_end) */
    bool run_broken;          /* ...unless another block came between (guarded.c recycles runs) */
    /* Home spans only. */
    struct wsh_heap *heap;            /* (H) the heap object, inside this span */
    size_t heap_size;                 /* (H) bytes of the pages the heap object fills at area */
    uint32_t create_stack;            /* (H) stack of WsCreateHeap */
    int32_t create_tid;               /* (H) */
    uint32_t release_stack;           /* (H) stack of the WsFreeHeap that freed the heap */
    int32_t release_tid;              /* (H) */
    char freed_name[WSHEAP_NAME_MAX]; /* (H) the heap's name, copied at WsFreeHeap */
};

#define WSH_SPAN_MAGIC 0x4e415053u /* "SPAN" */

/* --- Finding spans (lock-free, async-signal-safe) --------------------------------------------- */

/* Finds the span holding `addr` through the address table: lock-free, async-signal-safe.
 * NULL when `addr` is not in guarded memory. The span may be unmapped concurrently unless the
 * caller has raised wsh_handlers_active (see segv.c) or is inside a read of span headers
 * (wsh_span_readers_enter). */
struct wsh_span *wsh_span_lookup(uintptr_t addr);

/* Counts signal handlers that may be reading span headers: a span is never unmapped while this
 * is not zero (it is parked instead). Raised and lowered by segv.c. */
extern atomic_int wsh_handlers_active;

/* Enters a read of span headers, for a reader that is not a signal handler counted in
 * wsh_handlers_active (wsh_guarded_describe): no span found from now on is unmapped before the
 * matching wsh_span_readers_leave (the unmapping thread waits; a reader never does). Returns the
 * epoch to give wsh_span_readers_leave. Lock-free and async-signal-safe. */
unsigned wsh_span_readers_enter(void);
void wsh_span_readers_leave(unsigned epoch);

/* --- Creating and releasing spans (not async-signal-safe) ------------------------------------- */

/*
 * Creates a span of `kind`, at least `size` bytes, whose area (after the header) has at least
 * `area_need` bytes, and enters it in the address table. Layout by kind:
 *   HOME     | header | heap object (obj_pages) | G | unused |
 *   BLOCKS   | header + records | G | block area ......... |
 *   REDZONE  | header + records | G | packed area ....... | G |
 * A HOME span is its own home and records `create_stack` and `create_tid`; other spans belong
 * to `home`. With guard advice the mapping is read-write and guard pages are markers; without
 * it the mapping starts PROT_NONE and only the header (and the heap object) are opened. NULL
 * when the memory or the address table could not be had. Thread-safe.
 */
struct wsh_span *wsh_span_create(enum wsh_span_kind kind, size_t size, size_t area_need,
                                 size_t obj_pages, struct wsh_span *home, uint32_t create_stack,
                                 int32_t create_tid);

/* Appends the record of a block to `s` and publishes it for the signal handler. Only the
 * span's heap calls this (one thread at a time). */
void wsh_span_add_block(struct wsh_span *s, const struct wsh_block *b);

/* Makes [addr, addr + size) of `s` inaccessible and drops its contents, the way `s` was built.
 * False when even mprotect failed (the range then stays readable). */
bool wsh_span_hide(const struct wsh_span *s, char *addr, size_t size);

/* Appends the spans `first` (linked through ->next, no longer their heap's) to the
 * quarantine, oldest first, then unmaps the oldest until it fits in the latest limit given to
 * wsh_quarantine_set_limit. Thread-safe. */
void wsh_quarantine_add(struct wsh_span *first);

/* Out of address space (RLIMIT_AS, or a full 47-bit space): unmaps the oldest quarantined
 * spans, the newest too if need be, until `want` bytes of address space are given back or the
 * quarantine is empty. Returns the bytes given back; 0 when there was nothing to give. */
size_t wsh_quarantine_evict(size_t want);

/* The quarantine's size in bytes (WSHEAP_QUARANTINE_MB), set by every guarded WsCreateHeap. */
void wsh_quarantine_set_limit(size_t limit);

/* --- Mapping budget (mprotect path only) ------------------------------------------------------ */

/* True when `n` more mappings keep the process clear of vm.max_map_count. */
bool wsh_map_budget_allows(size_t n);

/* Adds `n` to, or takes `n` from, the estimate of the mappings the backend has added. */
void wsh_map_budget_charge(size_t n);
void wsh_map_budget_refund(size_t n);

/* --- Statistics and test hooks ---------------------------------------------------------------- */

struct wsh_guarded_stats {
    size_t live_spans;        /* spans in use by heaps (home spans included) */
    size_t quarantined_spans; /* spans released and not yet unmapped */
    size_t quarantine_size;   /* bytes of address space in the quarantine */
    size_t parked_spans;      /* spans that could not be unmapped while a handler ran */
    size_t redzone_blocks;    /* blocks served with redzones only (mapping budget near) */
    size_t map_estimate;      /* mappings the backend believes the process has */
    size_t map_limit;         /* vm.max_map_count, or the test override */
    bool guard_advice;        /* new spans use MADV_GUARD_INSTALL */
};

/* A snapshot of the backend's global counters. */
void wsh_guarded_get_stats(struct wsh_guarded_stats *out);

/* Test hook: pretends vm.max_map_count is `limit` (0: read /proc/sys/vm/max_map_count). Only
 * the mprotect path counts mappings. */
void wsh_guarded_set_map_limit(size_t limit);

/* Test hook: unmaps every quarantined span now (as if the quarantine had filled up). */
void wsh_guarded_flush_quarantine(void);

#endif
