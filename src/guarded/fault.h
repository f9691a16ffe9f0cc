/* SPDX-License-Identifier: MIT */
/*
 * Fault analysis (fault.c): what a fault in guarded memory is (struct wsh_fault, the pure
 * description a report prints, also of the corruption the pattern check finds). Every function
 * declared here is async-signal-safe and lock-free: the signal handler calls them. Depends on
 * spans.h, and brings pattern.h (the pattern bytes, which reports print) to its users.
 * fault.c also fills wsheap_describe_address's description from a fault's (wsh_guarded_addr_info,
 * declared in ../describe.h, so that nothing outside src/guarded/ includes this header).
 */
#ifndef WSH_GUARDED_FAULT_H
#define WSH_GUARDED_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pattern.h"
#include "spans.h"

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
 * thread waits for the call to finish; see wsh_span_readers_enter). */
bool wsh_guarded_describe(uintptr_t addr, int access, struct wsh_fault *out);

/* Fills `f`'s heap fields (handle, name, creation stack and thread) from the home span of
 * `s`. The heap object of a live heap is read without faulting, since another thread may free
 * it meanwhile. */
void wsh_fault_describe_heap(const struct wsh_span *s, struct wsh_fault *f);

/* Test hook: `hook` (NULL: none) is called by wsh_guarded_describe after it has found the span
 * of an address and before it reads it, so that a test can widen the window in which another
 * thread frees that span's heap. */
void wsh_guarded_test_set_describe_hook(void (*hook)(void));

#endif
