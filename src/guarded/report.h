/* SPDX-License-Identifier: MIT */
/*
 * The fault report's parts, shared by the files that make one (docs/reports.md):
 *   report.c       one report: its stacks, the text form, the destination, the callback
 *   report_json.c  the JSON form (schema wsheap-report/1)
 *   recover.c      keep-going mode: which errors were seen, opening a faulting page, the total
 *                  and exit status at exit (a destructor: nothing to arm)
 *   ../suppress.c  WSHEAP_SUPPRESSIONS
 * Everything here is async-signal-safe unless it says otherwise: reports are written in a
 * SIGSEGV handler.
 */
#ifndef WSH_GUARDED_REPORT_H
#define WSH_GUARDED_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../stack/symbolize.h"
#include "fault.h"

struct wsh_out;

/* The kind's name as reports print it: "heap-buffer-overflow", "use-after-reset", ... */
const char *wsh_fault_kind_name(enum wsh_fault_kind kind);

/* A stack of a report: the access (unwound in the handler), the call that found a corruption
 * or a concurrent use, the allocation, the release, the WsFreeHeap of the heap, its creation. */
enum wsh_section_role {
    WSH_SECTION_ACCESS,
    WSH_SECTION_FOUND,
    WSH_SECTION_ALLOC,
    WSH_SECTION_RELEASE,
    WSH_SECTION_FREED,
    WSH_SECTION_CREATE
};

struct wsh_report_section {
    enum wsh_section_role role;
    int32_t tid;
    size_t first; /* frames [first, first + n) of the report's symbolizer */
    size_t n;     /* 0: no stack recorded */
};

/* One report, as its forms read it. */
struct wsh_report {
    const struct wsh_fault *f;
    const struct wsh_symbolizer *sym;
    const struct wsh_report_section *sections;
    size_t n_sections;
    uint64_t dedup;  /* the dedup key (wsh_report_dedup_key) */
    bool symbolized; /* addr2line ran: functions and file:line are known where it found them */
};

/* The JSON role name of a section: "access", "allocation", "reset", "free", "create". */
const char *wsh_section_role_name(const struct wsh_report_section *sec, const struct wsh_fault *f);

/* The dedup key: kind, and the top three frames outside wsheap (module basename and offset, or
 * the pc when no module holds it) of the access stack (or the stack that found the error) and
 * of the allocation stack, hashed (FNV-1a, 64 bits). The same bug at the same place in the same
 * build gets the same key in every run (addresses are taken relative to their module), as
 * ASan's DEDUP_TOKEN. Needs the frames' modules (wsh_sym_find_modules). */
uint64_t wsh_report_dedup_key(const struct wsh_report *r);

/* The frame a SUMMARY line names: the first of the access stack (or the stack that found the
 * error, or else the allocation stack) that is not in wsheap itself; -1 when there is none.
 * wsheap's own frames are those of libwsheap.so's module, and, where the library is linked
 * statically (white-box tests), those whose function starts with "wsh_", "wsheap_" or "Ws". */
long wsh_report_summary_frame(const struct wsh_report *r);

/* Finds libwsheap.so's module (dladdr). Called once, outside any signal handler, by
 * wsh_report_init. Not async-signal-safe. */
void wsh_report_find_self(void);

/* Writes the JSON form of `r` as one line (with its newline) to `o`. */
void wsh_report_json(struct wsh_out *o, const struct wsh_report *r);

/* Writes `s` as a JSON string (quotes included): '"', '\\' and control characters escaped,
 * bytes that are not UTF-8 written as U+FFFD. */
void wsh_json_string(struct wsh_out *o, const char *s);

/* --- Keep-going mode (recover.c) -------------------------------------------------------------- */

/* The report settings, copied from the options by wsh_report_init (not in a signal handler). */
struct wsh_report_config {
    const char *log_path; /* WSHEAP_LOG_PATH; NULL: stderr */
    bool json;            /* WSHEAP_REPORT_FORMAT=json */
    bool halt;            /* WSHEAP_HALT_ON_ERROR (default true) */
    int exitcode;         /* WSHEAP_EXITCODE; -1: unset */
};
extern struct wsh_report_config wsh_report_config;

/* What keep-going mode has seen of a dedup key. */
enum wsh_seen { WSH_SEEN_NEW, WSH_SEEN_REPORTED, WSH_SEEN_SUPPRESSED };

/* Keep-going mode: whether an error with dedup key `key` was seen before, and how it ended.
 * Called under the report lock, as the two below. */
enum wsh_seen wsh_recover_seen(uint64_t key);

/* Keep-going mode: remembers `key` as reported, or as suppressed (a table of 4096 keys; past
 * that, new keys are reported every time they come). */
void wsh_recover_remember(uint64_t key, bool suppressed);

/* Counts one error found: suppressed, or not (reported now, or a repeat of one reported). */
void wsh_recover_count(bool suppressed);

/* Keep-going mode: makes the guarded page that `f`'s access faulted on readable and writable
 * (MADV_GUARD_REMOVE and mprotect), so that the access can be retried; the memory then reads
 * as it is (zeros for released pages). The span holding it is never unmapped afterwards: the
 * handler keeps its count in wsh_handlers_active (spans.h), so that no address of it is ever
 * mapped again for something else while the program may still be using it. False when the
 * page could not be opened (the process must then die). */
bool wsh_recover_open_page(const struct wsh_fault *f);

#endif
