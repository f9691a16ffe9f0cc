/* SPDX-License-Identifier: MIT */
/*
 * The guarded backend's shared declarations: the span and block records that describe guarded
 * memory, the fault kinds, and the contracts between guarded.c (allocation), depot.c (stack
 * depot), stack_libunwind.c (stack capture), report.c (the report writer) and segv.c (the
 * signal handler). Everything a signal handler reads is reachable without locks.
 */
#ifndef WSH_GUARDED_H
#define WSH_GUARDED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../internal.h"

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

/* Frames kept per stack at most (WSHEAP_STACK_DEPTH is 0..64). */
#define WSH_STACK_MAX 64

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
    /* Home spans only. */
    struct wsh_heap *heap;            /* (H) the heap object, inside this span */
    uint32_t create_stack;            /* (H) stack of WsCreateHeap */
    int32_t create_tid;               /* (H) */
    uint32_t release_stack;           /* (H) stack of the WsFreeHeap that freed the heap */
    int32_t release_tid;              /* (H) */
    char freed_name[WSHEAP_NAME_MAX]; /* (H) the heap's name, copied at WsFreeHeap */
};

#define WSH_SPAN_MAGIC 0x4e415053u /* "SPAN" */

/* Finds the span holding `addr` through the address table: lock-free, async-signal-safe.
 * NULL when `addr` is not in guarded memory. The span may be unmapped concurrently unless the
 * caller has raised wsh_handlers_active (see segv.c) or is inside wsh_guarded_describe. */
struct wsh_span *wsh_span_lookup(uintptr_t addr);

/* Counts signal handlers that may be reading span headers: a span is never unmapped while this
 * is not zero (it is parked instead). Raised and lowered by segv.c. */
extern atomic_int wsh_handlers_active;

/* --- Faults and reports ----------------------------------------------------------------------- */

enum wsh_fault_kind {
    WSH_FAULT_NONE,              /* not guarded memory */
    WSH_FAULT_OVERFLOW,          /* heap-buffer-overflow */
    WSH_FAULT_UNDERFLOW,         /* heap-buffer-underflow */
    WSH_FAULT_USE_AFTER_RESET,   /* use-after-reset */
    WSH_FAULT_USE_AFTER_FREE,    /* use-after-free-heap: block or heap object of a freed heap */
    WSH_FAULT_CORRUPTED_SLACK,   /* corrupted-slack: pattern bytes next to a block changed */
    WSH_FAULT_CORRUPTED_REDZONE, /* corrupted-redzone: same, for a redzone-only block */
    WSH_FAULT_WILD,              /* wild-access: guarded memory that belongs to no block */
    WSH_FAULT_CONCURRENT_USE,    /* concurrent-use: a call on a heap another call was inside */
};

/* Where an address lies relative to the block a report names. */
enum wsh_fault_where { WSH_WHERE_INSIDE, WSH_WHERE_RIGHT, WSH_WHERE_LEFT, WSH_WHERE_HEAP_OBJECT };

/* Everything a report says, gathered before formatting (a pure description, so that tests can
 * check the analysis without faulting). */
struct wsh_fault {
    enum wsh_fault_kind kind;
    uintptr_t addr;                  /* the faulting address, or the first corrupted byte */
    int access;                      /* 0 unknown, 1 READ, 2 WRITE */
    enum wsh_fault_where where;      /* the address relative to the block */
    size_t distance;                 /* bytes from the block's edge (or from its start) */
    bool has_block;                  /* `block` is valid */
    struct wsh_block block;          /* a copy of the block's record */
    bool redzone;                    /* the block is redzone-only */
    uintptr_t heap;                  /* the WS_HEAP handle */
    char heap_name[WSHEAP_NAME_MAX]; /* "" when unnamed or unknown */
    uint32_t create_stack;           /* the heap's WsCreateHeap stack */
    int32_t create_tid;
    uint32_t release_stack; /* use-after-*: the WsResetHeap / WsFreeHeap stack */
    int32_t release_tid;
    uint32_t release_reset; /* the heap's reset count when the memory was released */
    /* Corrupted slack/redzone: the range checked and the corrupted bytes within it. */
    const char *found_by; /* "WsResetHeap" or "WsFreeHeap" */
    uintptr_t check_lo;   /* the pattern range checked: [check_lo, check_hi) */
    uintptr_t check_hi;   /* */
    uintptr_t bad_lo;     /* first corrupted byte */
    uintptr_t bad_hi;     /* one past the last corrupted byte */
    size_t n_bad;         /* corrupted bytes in [bad_lo, bad_hi) */
    size_t n_corrupted;   /* blocks found corrupted; the one described has the lowest ordinal */
    /* Concurrent use: found_by is the call that found the heap held (its stack and thread are
     * release_stack and release_tid); the heap was held by this thread, inside this call. */
    int32_t other_tid;
    const char *other_call; /* "WsAlloc", "WsResetHeap" or "WsFreeHeap" */
};

/* Describes a fault at `addr` in guarded memory: fills `out` and returns true when `addr`
 * belongs to a span, false (kind WSH_FAULT_NONE) otherwise. Async-signal-safe and lock-free;
 * O(log n) in the span's records. `access` is copied into out->access. Safe against another
 * thread freeing the heap meanwhile: no span is unmapped while a call reads it (the unmapping
 * thread waits for the call to finish; see readers_enter in guarded.c). */
bool wsh_guarded_describe(uintptr_t addr, int access, struct wsh_fault *out);

/* The canary byte expected at address `addr` in slack, page heads and redzones. */
static inline uint8_t wsh_canary_byte(uintptr_t addr)
{
    return (uint8_t)(0xC8u + (addr & 7u));
}

/* Writes the report for `f` to stderr with write(2) only: header, block, heap, the access
 * stack (unwound from `ucontext` when not NULL, else the calling thread's), the allocation
 * stack and the release stack, then symbolizes when `symbolize`. Async-signal-safe. Runs on a
 * stack of its own (wsh_report_init), so it needs only a few hundred bytes of the caller's.
 * Its writes give up after a few seconds in all (stderr may be a full pipe nobody reads).
 * Only the first call in the process prints and returns true; a call from another thread
 * meanwhile waits (bounded) for that report to end and returns false; a call from the thread
 * that is writing the report (a fault in a signal handler that interrupted it) writes one line
 * about the second fault and kills the process at once (wsh_die). */
bool wsh_report(const struct wsh_fault *f, void *ucontext, bool symbolize);

/* Maps the report's own stack (once per process; a failure leaves reports on the faulting
 * thread's stack). Called by wsh_segv_install. Thread-safe; not async-signal-safe. */
void wsh_report_init(void);

/* Test hook: `hook` (NULL: none) is called after each line of a report is written, on the
 * reporting thread, so that a test can interrupt a report half-way deterministically. */
void wsh_report_test_set_line_hook(void (*hook)(void));

/* Reads `n` bytes at `src` into `dst` without faulting (process_vm_readv on this process).
 * Returns false when any byte is unreadable; `dst` is then zero-filled. Async-signal-safe. */
bool wsh_safe_read(void *dst, const void *src, size_t n);

/* Formats `v` into `buf` (at least 24 bytes) as decimal or as 0x-prefixed hexadecimal.
 * Return the length. Async-signal-safe. */
size_t wsh_format_dec(char *buf, uint64_t v);
size_t wsh_format_hex(char *buf, uint64_t v);

/* --- Signal handler (segv.c) ------------------------------------------------------------------ */

/* Installs the SIGSEGV/SIGBUS handler unless it is already the one in place (a test harness
 * may have replaced it since), remembering the handlers it replaced to chain to (newest first;
 * one that hands a fault back to ours passes it on to the next older one, and past the oldest
 * the default action is taken), maps the report stack, and gives the calling thread an
 * alternate signal stack. Called at every guarded WsCreateHeap; thread-safe. */
void wsh_segv_install(void);

/* After a report made outside a signal handler (corrupted slack found at reset): restores the
 * default SIGSEGV action and raises it, so the process dies by SIGSEGV as it would on a guard
 * page. Never returns. */
_Noreturn void wsh_die(void);

/* The options the report writer uses (symbolize), set by the first guarded heap. */
extern atomic_bool wsh_report_symbolize;

/* --- Stacks (stack_libunwind.c) and the stack depot (depot.c) --------------------------------- */

/* Warms the unwinder up (its caches and lazy initialisation), once per process, so that the
 * first capture and the signal handler's unwinding do not initialise it, and brings the module
 * table up to date (at every call). Thread-safe; not async-signal-safe. */
void wsh_stack_init(void);

/* Captures the calling thread's return addresses into `pcs` (at most `max`), dropping the
 * `skip` innermost frames above the caller of this function. Returns the number stored. */
size_t wsh_stack_capture(uintptr_t *pcs, size_t max, size_t skip);

/* Unwinds the interrupted context of a signal handler (`ucontext` is the handler's third
 * argument): pcs[0] is the faulting instruction. Returns the number stored. AS-safe as far as
 * libunwind's local unwinding is (see docs/guarded.md). */
size_t wsh_stack_unwind_signal(void *ucontext, uintptr_t *pcs, size_t max);

/* Stores the stack `pcs[0..n)` once and returns its handle, a small nonzero number; storing an
 * equal stack again returns the same handle. 0 when n is 0 or memory ran out. Lookups take no
 * lock; inserting a new stack refreshes the module table (wsh_modules_refresh, which takes the
 * dynamic loader's lock), notes each frame's module, then takes the depot's lock. */
uint32_t wsh_depot_put(const uintptr_t *pcs, size_t n);

/* The frames of a stored stack: sets *pcs and returns the count; 0 for handle 0 or an unknown
 * handle. Lock-free and async-signal-safe. */
size_t wsh_depot_get(uint32_t handle, const uintptr_t **pcs);

/* The module ids (src/stack/modules.h) noted with a stored stack's frames when it was stored,
 * one per frame, 0 where no module held the frame: copies up to `max` into `ids` and returns
 * the count; 0 for handle 0 or an unknown handle. Lock-free and async-signal-safe. */
size_t wsh_depot_get_modules(uint32_t handle, uint32_t *ids, size_t max);

/* Distinct stacks stored so far (tests and statistics). */
size_t wsh_depot_size(void);

/* Captures the caller's stack (dropping `skip` frames as wsh_stack_capture does) with the
 * process's WSHEAP_STACK_DEPTH and stores it. Returns the handle (0 for depth 0). */
uint32_t wsh_stack_record(unsigned depth, size_t skip);

/* The calling thread's id (gettid), cached per thread and refreshed in a fork child. */
int32_t wsh_thread_id(void);

/* --- White-box test hooks and statistics (guarded.c) ------------------------------------------ */

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

/* Test hook: `hook` (NULL: none) is called by every guarded WsAlloc / WsResetHeap / WsFreeHeap
 * while it holds its heap, with the heap and the call's name, so that a test can hold a call
 * inside a heap while another thread enters it (concurrent-use). */
typedef void wsh_guarded_test_hook(WS_HEAP *heap, const char *call);
void wsh_guarded_test_set_inside_hook(wsh_guarded_test_hook *hook);

/* Checks the pattern bytes of every live block of `heap` (a guarded heap) without releasing
 * anything. Returns true when all are intact; otherwise fills `out` for the corrupted block
 * with the lowest ordinal, with the number of corrupted blocks in out->n_corrupted (found_by
 * "check"). */
bool wsh_guarded_check(struct wsh_heap *heap, struct wsh_fault *out);

/* Test hook: `hook` (NULL: none) is called by wsh_guarded_describe after it has found the span
 * of an address and before it reads it, so that a test can widen the window in which another
 * thread frees that span's heap. */
void wsh_guarded_test_set_describe_hook(void (*hook)(void));

#endif
