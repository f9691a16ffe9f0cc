/* SPDX-License-Identifier: MIT */
/*
 * The guarded backend's header, one per safety class of its files, which depend on each other
 * in one direction only (each file calls only files above it in this list):
 *   spans.h   spans.c    span and block records, address table, quarantine (os layer only)
 *   fault.h   fault.c    fault analysis, all async-signal-safe (spans)
 *   pattern.h pattern.c  pattern bytes: fill, check, corrupted-block description (fault)
 *   this      die.c      the death after a report
 *             report.c   the report writer (die, stacks); report_json.c, recover.c and
 *                        ../suppress.c its JSON form, keep-going mode, suppressions (report.h)
 *             segv.c     the signal handler (fault, spans, report)
 *             guarded.c  the backend ops (everything above)
 * Stacks come from src/stack/stack.h. Everything a signal handler reads is reachable without
 * locks.
 */
#ifndef WSH_GUARDED_H
#define WSH_GUARDED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../internal.h"
#include "../stack/stack.h" /* stacks, the depot and thread ids, for every guarded file */
#include "fault.h"          /* fault analysis, pattern.h; spans.h, the span records */

/* --- Death and reports (die.c, report.c) ---------------------------------------------------- */

/* After a report made outside a signal handler (corrupted slack found at reset, concurrent use)
 * or about a fault in the report writer: restores the default SIGSEGV action and raises it, so
 * that the process dies by SIGSEGV as it would on a guard page. Never returns. AS-safe. */
_Noreturn void wsh_die(void);

/* Writes the report for `f` with write(2) only, to stderr or WSHEAP_LOG_PATH's file, as text or
 * JSON (report.c, docs/reports.md): header, block, heap, the access stack (unwound from
 * `ucontext` when not NULL, else the calling thread's), the allocation stack and the release
 * stack, symbolized when `symbolize`. Async-signal-safe. Runs on a stack of its own
 * (wsh_report_init), so it needs only a few hundred bytes of the caller's. Its writes give up
 * after a few seconds in all (stderr may be a full pipe nobody reads). One report at a time:
 * a call from another thread meanwhile waits (bounded) for it; a call from the thread that is
 * writing one (a fault in a signal handler that interrupted it) writes one line about the
 * second fault and kills the process at once (wsh_die). Returns true in keep-going mode
 * (WSHEAP_HALT_ON_ERROR=0: the error was reported, or was a repeat or suppressed, and the
 * caller goes on); false when the process must end (after the first report in halt mode, and
 * for every later call); with WSHEAP_EXITCODE set in halt mode it exits with it instead. */
bool wsh_report(const struct wsh_fault *f, void *ucontext, bool symbolize);

/* Maps the report's own stack (once per process; a failure leaves reports on the faulting
 * thread's stack). Called by wsh_segv_install. Thread-safe; not async-signal-safe. */
void wsh_report_init(void);

/* Test hook: `hook` (NULL: none) is called after each line of a report is written, on the
 * reporting thread, so that a test can interrupt a report half-way deterministically. */
void wsh_report_test_set_line_hook(void (*hook)(void));

/* --- Signal handler (segv.c) ------------------------------------------------------------------ */

/* Installs the SIGSEGV/SIGBUS handler unless it is already the one in place (a test harness
 * may have replaced it since), remembering the handlers it replaced to chain to (newest first;
 * one that hands a fault back to ours passes it on to the next older one, and past the oldest
 * the default action is taken), maps the report stack, and gives the calling thread an
 * alternate signal stack. Called at every guarded WsCreateHeap; thread-safe. */
void wsh_segv_install(void);

/* The options the report writer uses (symbolize), set by the first guarded heap. */
extern atomic_bool wsh_report_symbolize;

/* --- White-box test hooks (guarded.c) --------------------------------------------------------- */

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

#endif
