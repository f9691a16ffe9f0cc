/* SPDX-License-Identifier: MIT */
/*
 * Fault analysis and pattern bytes for the guarded backend. Every function in this file is
 * async-signal-safe and lock-free: the analysis runs in the SIGSEGV handler (segv.c), and reads
 * span headers that another thread may be releasing, through atomics only. The pattern fill and
 * check run in WsAlloc / WsResetHeap / WsFreeHeap, not in the handler; they live here because
 * they belong to the same class: pure reads and writes of guarded memory that describe what
 * they find as a struct wsh_fault, with the same heap description the handler gives.
 * Depends on spans.c (lookups, readers), the os layer (wsh_os_safe_read) and, for
 * wsh_guarded_addr_info (this backend's part of wsheap_describe_address, declared in
 * ../describe.h), the stack depot.
 */
#include <string.h>

#include "../describe.h"
#include "../os.h"
#include "fault.h"

static void (*_Atomic describe_hook)(void); /* wsh_guarded_test_set_describe_hook */

static size_t page_size(void)
{
    return wsh_os_page_size();
}

/* --- Pattern bytes ---------------------------------------------------------------------------- */

/* The canary of the eight bytes of an 8-aligned word, as one little-endian word. */
static uint64_t canary_word(void)
{
    uint64_t w = 0;

    for (unsigned i = 0; i < 8; i++)
        w |= (uint64_t)wsh_canary_byte(i) << (8 * i);
    return w;
}

void wsh_pattern_fill(uintptr_t lo, uintptr_t hi)
{
    uint64_t w = canary_word();

    for (; lo < hi && (lo & 7) != 0; lo++)
        *(uint8_t *)lo = wsh_canary_byte(lo);
    for (; lo + 8 <= hi; lo += 8)
        *(uint64_t *)lo = w;
    for (; lo < hi; lo++)
        *(uint8_t *)lo = wsh_canary_byte(lo);
}

/* Checks [lo, hi). Returns true when intact; otherwise sets the first and one-past-last
 * corrupted bytes and their count. */
static bool check_pattern(uintptr_t lo, uintptr_t hi, uintptr_t *bad_lo, uintptr_t *bad_hi,
                          size_t *n_bad)
{
    uint64_t w = canary_word();
    uintptr_t a = lo;

    /* Fast scan for any difference: bytes up to an 8-aligned address, then 64 bytes at a time
     * with one branch (a page head is up to 4 KiB and usually cold at reset), then the rest. */
    for (; a < hi && (a & 7) != 0; a++)
        if (*(const uint8_t *)a != wsh_canary_byte(a)) goto slow;
    for (; a + 64 <= hi; a += 64) {
        const uint64_t *q = (const uint64_t *)a;

        if (((q[0] ^ w) | (q[1] ^ w) | (q[2] ^ w) | (q[3] ^ w) | (q[4] ^ w) | (q[5] ^ w) |
             (q[6] ^ w) | (q[7] ^ w)) != 0)
            goto slow;
    }
    for (; a + 8 <= hi; a += 8)
        if (*(const uint64_t *)a != w) goto slow;
    for (; a < hi; a++)
        if (*(const uint8_t *)a != wsh_canary_byte(a)) goto slow;
    return true;

slow:
    *n_bad = 0;
    for (a = lo; a < hi; a++) {
        if (*(const uint8_t *)a == wsh_canary_byte(a)) continue;
        if (*n_bad == 0) *bad_lo = a;
        *bad_hi = a + 1;
        (*n_bad)++;
    }
    return false;
}

/* The pattern ranges of a block: [head_lo, head_hi) before it and [tail_lo, tail_hi) after. */
static void block_ranges(const struct wsh_block *b, uintptr_t *head_lo, uintptr_t *head_hi,
                         uintptr_t *tail_lo, uintptr_t *tail_hi)
{
    *head_lo = b->data;
    *head_hi = b->user;
    *tail_lo = b->user + b->size;
    if (b->n_pages == 0)
        *tail_hi = wsh_align_up(b->user + b->size, 8) + WSH_REDZONE;
    else
        *tail_hi = b->data + (uintptr_t)b->n_pages * page_size();
    if (*tail_lo > *tail_hi) /* unaligned zero-size block: user is the guard page */
        *tail_lo = *tail_hi;
}

/* The heap object of a live heap is read with wsh_os_safe_read. */
void wsh_fault_describe_heap(const struct wsh_span *s, struct wsh_fault *f)
{
    const struct wsh_span *home = s->home;

    if (home == NULL || home->magic != WSH_SPAN_MAGIC) return;
    f->heap = (uintptr_t)home->heap;
    f->create_stack = home->create_stack;
    f->create_tid = home->create_tid;
    if (atomic_load_explicit(&home->state, memory_order_acquire) == WSH_SPAN_LIVE) {
        if (!wsh_os_safe_read(f->heap_name, home->heap->name, sizeof f->heap_name))
            f->heap_name[0] = '\0';
    } else {
        memcpy(f->heap_name, home->freed_name, sizeof f->heap_name);
    }
    f->heap_name[sizeof f->heap_name - 1] = '\0';
}

/* Checks every live block of `s`. Each corrupted one adds 1 to *n_corrupted; the one with the
 * lowest ordinal of all those found so far (*n_corrupted counts them) is described in `f`. */
static void check_span(const struct wsh_span *s, struct wsh_fault *f, size_t *n_corrupted)
{
    size_t n = atomic_load_explicit(&s->n_blocks, memory_order_relaxed);

    for (size_t i = s->live_from; i < n; i++) {
        const struct wsh_block *b = &s->blocks[i];
        uintptr_t r[4], bad_lo = 0, bad_hi = 0;
        size_t n_bad = 0;
        bool tail;

        /* Each block's pattern is in pages of its own: start loading the next block's (the
         * hardware prefetcher does not cross pages) while this one is checked. */
        if (i + 1 < n) {
            __builtin_prefetch((const void *)s->blocks[i + 1].data);
            __builtin_prefetch((const void *)(s->blocks[i + 1].user - 64));
        }
        block_ranges(b, &r[0], &r[1], &r[2], &r[3]);
        /* The tail first: overruns are the common case. */
        tail = !check_pattern(r[2], r[3], &bad_lo, &bad_hi, &n_bad);
        if (!tail && check_pattern(r[0], r[1], &bad_lo, &bad_hi, &n_bad)) continue;
        if ((*n_corrupted)++ > 0 && b->ordinal >= f->block.ordinal) continue;
        memset(f, 0, sizeof *f);
        f->kind = b->n_pages == 0 ? WSH_FAULT_CORRUPTED_REDZONE : WSH_FAULT_CORRUPTED_SLACK;
        f->redzone = b->n_pages == 0;
        f->has_block = true;
        f->block = *b;
        f->check_lo = tail ? r[2] : r[0];
        f->check_hi = tail ? r[3] : r[1];
        f->bad_lo = bad_lo;
        f->bad_hi = bad_hi;
        f->n_bad = n_bad;
        if (tail) {
            f->addr = bad_lo;
            f->where = WSH_WHERE_RIGHT;
            f->distance = bad_lo - (b->user + b->size);
        } else {
            f->addr = bad_hi - 1;
            f->where = WSH_WHERE_LEFT;
            f->distance = b->user - f->addr;
        }
        wsh_fault_describe_heap(s, f);
    }
}

/* Spans are listed newest first, and blocks and redzone spans interleave, so every span is
 * checked to the end. Called by the heap's ops only, never in a signal handler: it may assert. */
bool wsh_pattern_check(const struct wsh_span *first, struct wsh_fault *f)
{
    size_t n_corrupted = 0;

    for (const struct wsh_span *s = first; s != NULL; s = s->next) {
        wsh_assert(s->magic == WSH_SPAN_MAGIC);
        check_span(s, f, &n_corrupted);
    }
    if (n_corrupted == 0) return true;
    f->n_corrupted = n_corrupted;
    return false;
}

/* --- Fault analysis (runs in the signal handler) ---------------------------------------------- */

/* Index of the last record whose block starts at or below `addr`, or -1. */
static long last_block_at_or_below(const struct wsh_block *blocks, size_t n, uintptr_t addr)
{
    long lo = 0, hi = (long)n - 1, found = -1;

    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;

        if (blocks[mid].user <= addr) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

/* Copies a record that its heap's thread may be releasing meanwhile: the fields set at WsAlloc
 * were published with n_blocks and never change; the release fields are read only once
 * `released` is seen set (acquire, pairing with release_spans), and are final then. */
static void block_snapshot(const struct wsh_block *b, struct wsh_block *out)
{
    uint8_t released = atomic_load_explicit(&b->released, memory_order_acquire);

    memset(out, 0, sizeof *out);
    out->user = b->user;
    out->size = b->size;
    out->data = b->data;
    out->n_pages = b->n_pages;
    out->ordinal = b->ordinal;
    out->alloc_stack = b->alloc_stack;
    out->tid = b->tid;
    if (released != 0) {
        out->release_stack = b->release_stack;
        out->release_tid = b->release_tid;
        out->release_reset = b->release_reset;
    }
    atomic_init(&out->released, released);
}

/* wsh_guarded_describe, inside a read of span headers (wsh_span_readers_enter). */
static bool describe_reading(uintptr_t addr, int access, struct wsh_fault *f)
{
    struct wsh_span *s = wsh_span_lookup(addr);
    const struct wsh_block *left = NULL, *right = NULL;
    void (*hook)(void) = atomic_load_explicit(&describe_hook, memory_order_acquire);
    uint8_t state;
    size_t n;
    long i;

    memset(f, 0, sizeof *f);
    f->addr = addr;
    f->access = access;
    if (WSH_UNLIKELY(hook != NULL) && s != NULL) hook(); /* a test widens the race here */
    if (s == NULL || s->magic != WSH_SPAN_MAGIC) return false;
    state = atomic_load_explicit(&s->state, memory_order_acquire);
    wsh_fault_describe_heap(s, f);
    f->kind = WSH_FAULT_WILD;

    if (s->kind == WSH_SPAN_HOME) {
        if (addr >= (uintptr_t)s->area && addr < (uintptr_t)s->area + s->heap_size &&
            state == WSH_SPAN_FREED) {
            f->kind = WSH_FAULT_USE_AFTER_FREE;
            f->where = WSH_WHERE_HEAP_OBJECT;
            f->distance = addr - (uintptr_t)s->area;
            f->release_stack = s->release_stack;
            f->release_tid = s->release_tid;
        }
        return true;
    }

    n = atomic_load_explicit(&s->n_blocks, memory_order_acquire);
    if (n > s->capacity) n = s->capacity;
    if (n == 0 || addr < (uintptr_t)s->area) return true;
    i = last_block_at_or_below(s->blocks, n, addr);
    if (i >= 0) left = &s->blocks[i];
    if ((size_t)(i + 1) < n) right = &s->blocks[i + 1];

    if (left != NULL && addr < left->user + left->size) {
        f->where = WSH_WHERE_INSIDE;
        f->distance = addr - left->user;
        block_snapshot(left, &f->block);
    } else if (left != NULL &&
               (right == NULL || addr - (left->user + left->size) <= right->user - addr)) {
        f->where = WSH_WHERE_RIGHT;
        f->distance = addr - (left->user + left->size);
        block_snapshot(left, &f->block);
    } else {
        f->where = WSH_WHERE_LEFT;
        f->distance = right->user - addr;
        block_snapshot(right, &f->block);
    }
    f->has_block = true;
    f->redzone = f->block.n_pages == 0;
    f->release_stack = f->block.release_stack;
    f->release_tid = f->block.release_tid;
    f->release_reset = f->block.release_reset;

    if (f->block.released == WSH_SPAN_RESET)
        f->kind = WSH_FAULT_USE_AFTER_RESET;
    else if (f->block.released == WSH_SPAN_FREED)
        f->kind = WSH_FAULT_USE_AFTER_FREE;
    else if (f->where == WSH_WHERE_RIGHT)
        f->kind = WSH_FAULT_OVERFLOW;
    else if (f->where == WSH_WHERE_LEFT)
        f->kind = WSH_FAULT_UNDERFLOW;
    return true;
}

bool wsh_guarded_describe(uintptr_t addr, int access, struct wsh_fault *f)
{
    unsigned epoch = wsh_span_readers_enter();
    bool found = describe_reading(addr, access, f);

    wsh_span_readers_leave(epoch);
    return found;
}

void wsh_guarded_test_set_describe_hook(void (*hook)(void))
{
    atomic_store_explicit(&describe_hook, hook, memory_order_release);
}

/* --- Address descriptions (../describe.h) ----------------------------------------------------- */

static enum wsh_addr_where addr_where(enum wsh_fault_where w)
{
    switch (w) {
    case WSH_WHERE_INSIDE:
        return WSH_ADDR_INSIDE;
    case WSH_WHERE_RIGHT:
        return WSH_ADDR_AFTER;
    case WSH_WHERE_LEFT:
        return WSH_ADDR_BEFORE;
    default:
        return WSH_ADDR_NOWHERE;
    }
}

bool wsh_guarded_addr_info(uintptr_t addr, struct wsh_addr_info *out)
{
    struct wsh_fault f;

    if (!wsh_guarded_describe(addr, 0, &f)) return false;
    out->heap = f.heap;
    out->backend = "guarded";
    memcpy(out->heap_name, f.heap_name, sizeof out->heap_name);
    out->heap_name[sizeof out->heap_name - 1] = '\0';
    out->heap_freed = f.kind == WSH_FAULT_USE_AFTER_FREE;
    out->where = f.has_block ? addr_where(f.where) : WSH_ADDR_NOWHERE;
    out->distance = f.distance;
    out->kind = f.has_block ? WSHEAP_ADDRESS_BLOCK : WSHEAP_ADDRESS_HEAP;
    if (f.kind == WSH_FAULT_USE_AFTER_RESET || f.kind == WSH_FAULT_USE_AFTER_FREE) {
        out->kind = WSHEAP_ADDRESS_RELEASED;
        out->released = f.release_reset;
        out->release_tid = f.release_tid;
        out->n_release_frames = wsh_describe_stack(f.release_stack, out->release_frames);
        if (out->n_release_frames == 0)
            out->release_stack_note = "not recorded (WSHEAP_STACK_DEPTH=0)";
    }
    if (!f.has_block) {
        out->note = f.where == WSH_WHERE_HEAP_OBJECT ? "the heap object of a freed heap"
                                                     : "guard pages or unused guarded memory";
        return true;
    }
    out->block = f.block.user;
    out->block_size = f.block.size;
    out->ordinal = f.block.ordinal;
    out->tid = f.block.tid;
    out->n_frames = wsh_describe_stack(f.block.alloc_stack, out->frames);
    if (out->n_frames == 0) out->stack_note = "not recorded (WSHEAP_STACK_DEPTH=0)";
    return true;
}
