/* SPDX-License-Identifier: MIT */
/*
 * wsheap_describe_address: asks the guarded backend, then the tracked arenas, to fill one
 * struct wsh_addr_info for an address (describe.h), and formats it through the one frame
 * printer (src/stack/symbolize.h) and the one output sink (src/out.h); and the ASan
 * error-report callback that adds that description to ASan's report. Nothing here is on a fast
 * path, and nothing in the backends calls back into this file.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "describe.h"
#include "internal.h"
#include "out.h"
#include "stack/symbolize.h"
#include "track.h"

/* --- Describing an address -------------------------------------------------------------------- */

/* Fills `out` for `addr` from whichever backend holds it and returns true; false, with kind
 * WSHEAP_ADDRESS_UNKNOWN and a note saying what was searched, when none does. */
static bool describe(uintptr_t addr, bool may_block, struct wsh_addr_info *out)
{
    memset(out, 0, sizeof *out);
    out->addr = addr;
    out->kind = WSHEAP_ADDRESS_UNKNOWN;
    if (wsh_guarded_addr_info(addr, out)) return true;
    memset(out, 0, sizeof *out);
    out->addr = addr;
    if (wsh_arena_tracked_describe(addr, may_block, out)) return true;
    out->kind = WSHEAP_ADDRESS_UNKNOWN;
    out->note = wsh_track_active() ? "no tracked arena or guarded heap holds it"
                                   : "arena heaps are tracked only under ASan and valgrind "
                                     "memcheck; guarded heaps always";
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
 * Prepares the frames of `info` for the frame printer (src/stack/symbolize.h). Under ASan
 * (wsh_track_asan) they are named, as ASan's own frames are, next to which they appear (unless
 * WSHEAP_SYMBOLIZE=0: naming runs addr2line once per module, some 0.1 s a description), and
 * each shows the call instruction's address (the return address minus one) as ASan's frames do;
 * elsewhere they show the return address, for addr2line or tools/wsheap-symbolize. Either way a
 * line's module offset is that of the address it shows.
 */
static void prepare_frames(const struct wsh_addr_info *info, struct frames *fr)
{
    bool asan = wsh_track_asan() != NULL;
    enum wsh_sym_addresses how = asan ? WSH_SYM_CALLS : WSH_SYM_RETURNS;

    memset(fr, 0, sizeof *fr);
    if (info->n_frames == 0 && info->n_release_frames == 0) return;
    fr->z = wsh_sym_map();
    if (fr->z == NULL) return;
    fr->first = wsh_sym_add(fr->z, info->frames, NULL, info->n_frames, how);
    fr->n = fr->z->n_frames - fr->first;
    fr->release_first = wsh_sym_add(fr->z, info->release_frames, NULL, info->n_release_frames, how);
    fr->release_n = fr->z->n_frames - fr->release_first;
    wsh_sym_find_modules(fr->z);
    if (asan && wsh_options()->symbolize) wsh_sym_symbolize(fr->z, SYMBOLIZE_BUDGET_MS);
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

size_t wsh_describe_format(const struct wsh_addr_info *info, char *buf, size_t len)
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
        wsh_describe_format(&info, buf, len);
    return info.kind;
}

/* --- ASan's report ---------------------------------------------------------------------------- */

/* Runs at the end of every ASan error report: ASan has named the chunk (a malloc'd region of
 * some kilobytes); this names the block in it. Must not block: the thread that faulted may hold
 * the tracked heaps' lock (a bug inside wsheap), so the lookup only tries to take it. */
static void asan_report(const char *report)
{
    struct wsh_addr_info info;

    (void)report;
    if (!describe((uintptr_t)wsh_track_asan()->report_address(), false, &info)) return;
    format_to_stderr(&info);
}

static pthread_once_t hook_once = PTHREAD_ONCE_INIT;

static void install_hook(void)
{
    wsh_track_asan()->set_report_callback(asan_report);
}

void wsh_describe_install_asan_hook(void)
{
    if (wsh_track_asan() != NULL) pthread_once(&hook_once, install_hook);
}
