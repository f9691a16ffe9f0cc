/* SPDX-License-Identifier: MIT */
/*
 * Keep-going mode (WSHEAP_HALT_ON_ERROR=0, docs/reports.md): each distinct error (by dedup key)
 * is reported once and the program goes on. This file keeps the keys seen and the counts, opens
 * the guarded page a fault hit so that the access can be retried, and at exit prints the total
 * and sets the exit status. Everything but wsh_recover_init and the exit handler is
 * async-signal-safe: the report writer and the SIGSEGV handler call it.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "../os.h"
#include "../out.h"
#include "report.h"

#define SEEN_SLOTS 4096 /* a power of two */

/* Dedup keys seen, by open addressing: a key is stored as key | 1 so that 0 marks a free slot
 * (two keys that differ in bit 0 only count as one), with whether it was suppressed. Read and
 * written under the report lock only. */
static uint64_t seen_keys[SEEN_SLOTS];
static bool seen_suppressed[SEEN_SLOTS];

static atomic_ulong n_errors;     /* errors found and not suppressed, repeats included */
static atomic_ulong n_distinct;   /* reports written */
static atomic_ulong n_suppressed; /* suppressed errors, repeats included */
static atomic_bool pinned;        /* the handler keeps its count in wsh_handlers_active */

/* The slot holding `stored`, or the free slot where it would go; SEEN_SLOTS when the table is
 * full and `stored` is not in it. */
static size_t slot_of(uint64_t stored)
{
    size_t i = (size_t)(stored >> 7) & (SEEN_SLOTS - 1);

    for (size_t probes = 0; probes < SEEN_SLOTS; probes++, i = (i + 1) & (SEEN_SLOTS - 1))
        if (seen_keys[i] == stored || seen_keys[i] == 0) return i;
    return SEEN_SLOTS;
}

enum wsh_seen wsh_recover_seen(uint64_t key)
{
    size_t i = slot_of(key | 1);

    if (i == SEEN_SLOTS || seen_keys[i] == 0) return WSH_SEEN_NEW;
    return seen_suppressed[i] ? WSH_SEEN_SUPPRESSED : WSH_SEEN_REPORTED;
}

void wsh_recover_remember(uint64_t key, bool suppressed)
{
    size_t i = slot_of(key | 1);

    if (!suppressed) atomic_fetch_add_explicit(&n_distinct, 1, memory_order_relaxed);
    if (i == SEEN_SLOTS) return; /* full: this key is reported again when it comes back */
    seen_suppressed[i] = suppressed;
    seen_keys[i] = key | 1;
}

void wsh_recover_count(bool suppressed)
{
    atomic_fetch_add_explicit(suppressed ? &n_suppressed : &n_errors, 1, memory_order_relaxed);
}

/* --- Going on after a fault ------------------------------------------------------------------- */

bool wsh_recover_open_page(const struct wsh_fault *f)
{
    size_t page = wsh_os_page_size();
    uintptr_t at = f->addr & ~(uintptr_t)(page - 1);
    struct wsh_span *s = wsh_span_lookup(f->addr);

    /* Only pages of a span's area: its header is readable already, and a fault there is not
     * one an access can be retried past. */
    if (s == NULL || at < (uintptr_t)s->area || at >= (uintptr_t)s->base + s->size) return false;
    /* A guard marker is removed (nothing happens where there is none), then the page is made
     * readable and writable (it may be PROT_NONE, or part of a PROT_NONE span). */
    (void)wsh_os_guard_remove((void *)at, page);
    if (!wsh_os_protect((void *)at, page, true)) return false;
    /* Keep every span mapped from now on: the program may use this page again at any time, and
     * an address given back to the kernel could be mapped again for something else. */
    if (atomic_exchange(&pinned, true))
        atomic_fetch_sub_explicit(&wsh_handlers_active, 1, memory_order_seq_cst);
    return true;
}

/* --- At exit ---------------------------------------------------------------------------------- */

/*
 * The total and the exit status, after the program's own atexit handlers and destructors and
 * after the statistics and leak report (stats.c's destructor has no priority, so it runs before
 * this prioritized one). Only when an error was found: then it prints
 *   ==wsheap==<pid>== 3 errors reported (2 distinct, 1 suppressed)
 * on stderr and, when an error was not suppressed, ends the process with WSHEAP_EXITCODE
 * (default 1) through _exit after flushing stdio: destructors that would have run after this
 * one do not run (the caveat docs/reports.md states). A process that ends by _exit or a signal
 * prints nothing here.
 */
__attribute__((destructor(101))) static void recover_at_exit(void)
{
    unsigned long errors = atomic_load(&n_errors), distinct = atomic_load(&n_distinct);
    unsigned long suppressed = atomic_load(&n_suppressed);
    struct wsh_out o;

    if (wsh_report_config.halt || (errors == 0 && suppressed == 0)) return;
    fflush(NULL);
    wsh_out_start_fd(&o, STDERR_FILENO, 1000);
    wsh_out_prefix(&o);
    wsh_out_dec(&o, errors);
    wsh_out_str(&o, errors == 1 ? " error reported (" : " errors reported (");
    wsh_out_dec(&o, distinct);
    wsh_out_str(&o, " distinct, ");
    wsh_out_dec(&o, suppressed);
    wsh_out_str(&o, " suppressed)");
    wsh_out_line(&o);
    if (errors > 0) _exit(wsh_report_config.exitcode >= 0 ? wsh_report_config.exitcode : 1);
}
