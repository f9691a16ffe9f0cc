/* SPDX-License-Identifier: MIT */
/*
 * Fault analysis for the guarded backend. Every function in this file is async-signal-safe and
 * lock-free: the analysis runs in the SIGSEGV handler (segv.c), and reads span headers that
 * another thread may be releasing, through atomics only. The pattern check (pattern.c) describes
 * the corruption it finds with the same struct wsh_fault and heap description
 * (wsh_fault_describe_heap). Depends on spans.c (lookups, readers), the os layer
 * (wsh_os_safe_read) and, for wsh_guarded_addr_info (this backend's part of
 * wsheap_describe_address, declared in
 * ../describe.h), the stack depot.
 */
#include <string.h>

#include "../describe.h"
#include "../os.h"
#include "fault.h"

static void (*_Atomic describe_hook)(void); /* wsh_guarded_test_set_describe_hook */

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
