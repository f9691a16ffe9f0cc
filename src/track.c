/* SPDX-License-Identifier: MIT */
/*
 * Tool integration: whether arenas are tracked (ASan build, valgrind memcheck run, or a test's
 * wsh_track_force), wsheap_describe_address over tracked arenas and guarded heaps, and the
 * ASan error-report callback that adds that description to ASan's report. Nothing here is on a
 * fast path; an untracked arena never calls into this file after WsCreateHeap.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guarded/guarded.h" /* wsh_guarded_describe */
#include "internal.h"
#include "out.h"
#include "stack/stack.h"
#include "stack/symbolize.h"
#include "track.h"

/* --- Modes ------------------------------------------------------------------------------------ */

static atomic_int forced = WSH_TRACK_AUTO;

bool wsh_track_memcheck(void)
{
#if WSH_TRACK_VALGRIND
    static atomic_int memcheck_state = -1; /* -1 not asked yet, 0 no, 1 yes */
    int state = atomic_load_explicit(&memcheck_state, memory_order_relaxed);

    if (state < 0) {
        state = 0;
        if (RUNNING_ON_VALGRIND) {
            /* Every valgrind tool answers RUNNING_ON_VALGRIND; only memcheck answers GET_VBITS
             * (1: copied), the others leave the default 0. callgrind users measure the
             * untracked arena, so they must get it. */
            uint64_t probe = 0, vbits = 0;

            state = VALGRIND_GET_VBITS(&probe, &vbits, sizeof probe) == 1;
        }
        atomic_store_explicit(&memcheck_state, state, memory_order_relaxed);
    }
    return state == 1;
#else
    return false;
#endif
}

bool wsh_track_active(void)
{
    int mode = atomic_load_explicit(&forced, memory_order_relaxed);

    if (mode != WSH_TRACK_AUTO) return mode == WSH_TRACK_ON;
    return WSH_TRACK_ASAN || wsh_track_memcheck();
}

void wsh_track_force(enum wsh_track_mode mode)
{
    atomic_store_explicit(&forced, (int)mode, memory_order_relaxed);
}

/* --- Describing an address -------------------------------------------------------------------- */

static enum wsh_addr_where where_of(enum wsh_fault_where w)
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

/* Copies depot stack `stack` into frames (at most WSH_TRACK_FRAMES); returns the count. */
static size_t copy_stack(uint32_t stack, uintptr_t *frames)
{
    const uintptr_t *pcs;
    size_t n = stack != 0 ? wsh_depot_get(stack, &pcs) : 0;

    if (n > WSH_TRACK_FRAMES) n = WSH_TRACK_FRAMES;
    if (n > 0) memcpy(frames, pcs, n * sizeof *pcs);
    return n;
}

/* Guarded heaps: the guarded backend's own lock-free lookup. */
static bool describe_guarded(uintptr_t addr, struct wsh_addr_info *out)
{
    struct wsh_fault f;

    if (!wsh_guarded_describe(addr, 0, &f)) return false;
    out->heap = f.heap;
    out->backend = "guarded";
    memcpy(out->heap_name, f.heap_name, sizeof out->heap_name);
    out->heap_name[sizeof out->heap_name - 1] = '\0';
    out->heap_freed = f.kind == WSH_FAULT_USE_AFTER_FREE;
    out->where = f.has_block ? where_of(f.where) : WSH_ADDR_NOWHERE;
    out->distance = f.distance;
    out->kind = f.has_block ? WSHEAP_ADDRESS_BLOCK : WSHEAP_ADDRESS_HEAP;
    if (f.kind == WSH_FAULT_USE_AFTER_RESET || f.kind == WSH_FAULT_USE_AFTER_FREE) {
        out->kind = WSHEAP_ADDRESS_RELEASED;
        out->released = f.release_reset;
        out->release_tid = f.release_tid;
        out->n_release_frames = copy_stack(f.release_stack, out->release_frames);
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
    out->n_frames = copy_stack(f.block.alloc_stack, out->frames);
    if (out->n_frames == 0) out->stack_note = "not recorded (WSHEAP_STACK_DEPTH=0)";
    return true;
}

static bool describe(uintptr_t addr, bool may_block, struct wsh_addr_info *out)
{
    memset(out, 0, sizeof *out);
    out->addr = addr;
    out->kind = WSHEAP_ADDRESS_UNKNOWN;
    if (describe_guarded(addr, out)) return true;
    memset(out, 0, sizeof *out);
    out->addr = addr;
    if (wsh_arena_tracked_describe(addr, may_block, out)) return true;
    out->kind = WSHEAP_ADDRESS_UNKNOWN;
    out->note = wsh_track_active() ? "no tracked arena or guarded heap holds it"
                                   : "arena heaps are tracked only in ASan builds and under "
                                     "valgrind memcheck; guarded heaps always";
    return false;
}

/* --- Formatting ------------------------------------------------------------------------------- */

#define WRITE_BUDGET_MS     5000 /* a description written to stderr gives up after this */
#define SYMBOLIZE_BUDGET_MS 5000 /* for a description's addr2line runs together */

/* Where a description's frames are: both stacks in one symbolizer (NULL when none could be
 * mapped: the stacks are then left out). */
struct frames {
    struct wsh_symbolizer *z;
    size_t first, n;                 /* the allocation stack */
    size_t release_first, release_n; /* the releasing call's stack */
};

/*
 * Prepares the frames of `info` for the frame printer (src/stack/symbolize.h). In ASan builds
 * they are named, as ASan's own frames are, next to which they appear (unless
 * WSHEAP_SYMBOLIZE=0: naming runs addr2line once per module, some 0.1 s a description), and
 * each shows the call instruction's address (the return address minus one) as ASan's frames do;
 * elsewhere they show the return address, for addr2line or tools/wsheap-symbolize. Either way a
 * line's module offset is that of the address it shows.
 */
static void prepare_frames(const struct wsh_addr_info *info, struct frames *fr)
{
    enum wsh_sym_addresses how = WSH_TRACK_ASAN ? WSH_SYM_CALLS : WSH_SYM_RETURNS;

    memset(fr, 0, sizeof *fr);
    if (info->n_frames == 0 && info->n_release_frames == 0) return;
    fr->z = wsh_sym_map();
    if (fr->z == NULL) return;
    fr->first = wsh_sym_add(fr->z, info->frames, NULL, info->n_frames, how);
    fr->n = fr->z->n_frames - fr->first;
    fr->release_first = wsh_sym_add(fr->z, info->release_frames, NULL, info->n_release_frames, how);
    fr->release_n = fr->z->n_frames - fr->release_first;
    wsh_sym_find_modules(fr->z);
    if (WSH_TRACK_ASAN && wsh_options()->symbolize) wsh_sym_symbolize(fr->z, SYMBOLIZE_BUDGET_MS);
}

static const char *where_word(enum wsh_addr_where w)
{
    return w == WSH_ADDR_INSIDE ? "inside" : w == WSH_ADDR_AFTER ? "after" : "before";
}

/* The releasing call of released memory: "released by WsResetHeap (reset #2) in thread 7:" and
 * its frames, as the guarded backend's report and memcheck show it. */
static void put_release(struct wsh_out *o, const struct wsh_addr_info *info,
                        const struct frames *fr)
{
    char call[64];

    if (info->heap_freed)
        snprintf(call, sizeof call, "WsFreeHeap");
    else if (info->released != 0)
        snprintf(call, sizeof call, "WsResetHeap (reset #%u)", info->released);
    else
        return;
    if (info->n_release_frames == 0) {
        wsh_out_printf(o, "wsheap: released by %s: stack %s\n", call,
                       info->release_stack_note ? info->release_stack_note : "unknown");
        return;
    }
    if (info->release_tid != 0)
        wsh_out_printf(o, "wsheap: released by %s in thread %d:\n", call, (int)info->release_tid);
    else
        wsh_out_printf(o, "wsheap: released by %s:\n", call);
    if (fr->z != NULL) wsh_sym_print(o, fr->z, fr->release_first, fr->release_n, "    ");
}

/* The description of `info` (its frames in `fr`). */
static void format(struct wsh_out *o, const struct wsh_addr_info *info, const struct frames *fr)
{
    char shown[WSH_NAME_SHOWN_MAX], name[WSH_NAME_SHOWN_MAX + 4] = "";

    if (info->kind == WSHEAP_ADDRESS_UNKNOWN) {
        wsh_out_printf(o, "wsheap: 0x%lx is not in any heap wsheap knows (%s)\n",
                       (unsigned long)info->addr, info->note);
        return;
    }
    if (info->heap_name[0] != '\0') {
        wsh_name_escape(info->heap_name, shown, sizeof shown);
        snprintf(name, sizeof name, " \"%s\"", shown);
    }
    if (info->where == WSH_ADDR_NOWHERE) {
        wsh_out_printf(o, "wsheap: 0x%lx is in heap 0x%lx%s (%s backend): %s\n",
                       (unsigned long)info->addr, (unsigned long)info->heap, name, info->backend,
                       info->note);
        if (info->released != 0) {
            wsh_out_printf(o, "wsheap: that memory was released by reset #%u of the heap\n",
                           info->released);
            put_release(o, info, fr);
        }
        return;
    }
    wsh_out_printf(
        o,
        "wsheap: 0x%lx is %zu bytes %s the %zu-byte block at 0x%lx of heap 0x%lx%s (%s backend)\n",
        (unsigned long)info->addr, info->distance, where_word(info->where), info->block_size,
        (unsigned long)info->block, (unsigned long)info->heap, name, info->backend);
    if (info->heap_freed)
        wsh_out_printf(o, "wsheap: the block was released when its heap was freed (WsFreeHeap): a "
                          "stale pointer\n");
    else if (info->released != 0)
        wsh_out_printf(o,
                       "wsheap: the block was block #%u of its round and was released by reset #%u "
                       "(WsResetHeap): a stale pointer\n",
                       info->ordinal, info->released);
    else if (!info->has_generation)
        wsh_out_printf(o, "wsheap: the block is live: block #%u of the current round\n",
                       info->ordinal);
    else if (info->generation == 0)
        wsh_out_printf(o, "wsheap: the block is live: block #%u since the heap was created\n",
                       info->ordinal);
    else
        wsh_out_printf(o, "wsheap: the block is live: block #%u since reset #%u\n", info->ordinal,
                       info->generation);
    if (info->n_frames == 0) {
        wsh_out_printf(o, "wsheap: allocation stack: %s\n",
                       info->stack_note ? info->stack_note : "none");
    } else {
        if (info->tid != 0)
            wsh_out_printf(o, "wsheap: allocated by thread %d at:\n", (int)info->tid);
        else
            wsh_out_printf(o, "wsheap: allocated at:\n");
        if (fr->z != NULL) wsh_sym_print(o, fr->z, fr->first, fr->n, "    ");
    }
    put_release(o, info, fr);
}

/* Writes the description of `info` to stderr, giving up after WRITE_BUDGET_MS. */
static void format_to_stderr(const struct wsh_addr_info *info)
{
    struct wsh_out o;
    struct frames fr;

    prepare_frames(info, &fr);
    wsh_out_start_fd(&o, STDERR_FILENO, WRITE_BUDGET_MS);
    format(&o, info, &fr);
    wsh_out_flush(&o);
    wsh_sym_unmap(fr.z);
}

size_t wsh_track_format(const struct wsh_addr_info *info, char *buf, size_t len)
{
    struct wsh_out o;
    struct frames fr;

    prepare_frames(info, &fr);
    wsh_out_start_string(&o, buf, len);
    format(&o, info, &fr);
    wsh_sym_unmap(fr.z);
    return wsh_out_length(&o);
}

int wsheap_describe_address(const void *p, char *buf, size_t len)
{
    struct wsh_addr_info info;

    describe((uintptr_t)p, true, &info);
    if (buf == NULL || len == 0)
        format_to_stderr(&info);
    else
        wsh_track_format(&info, buf, len);
    return info.kind;
}

/* --- ASan's report ---------------------------------------------------------------------------- */

#if WSH_TRACK_ASAN
/* Runs at the end of every ASan error report: ASan has named the chunk (a malloc'd region of
 * some kilobytes); this names the block in it. Must not block: the thread that faulted may hold
 * the tracked heaps' lock (a bug inside wsheap), so the lookup only tries to take it. */
static void asan_report(const char *report)
{
    struct wsh_addr_info info;

    (void)report;
    if (!describe((uintptr_t)__asan_get_report_address(), false, &info)) return;
    format_to_stderr(&info);
}

static pthread_once_t hook_once = PTHREAD_ONCE_INIT;

static void install_hook(void)
{
    __asan_set_error_report_callback(asan_report);
}
#endif

void wsh_track_install_asan_hook(void)
{
#if WSH_TRACK_ASAN
    pthread_once(&hook_once, install_hook);
#endif
}
