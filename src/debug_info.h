/* SPDX-License-Identifier: MIT */
/*
 * The debugger anchor (debug_info.c): one exported, read-only, self-describing object,
 * wsheap_debug_info, from which a debugger that can only read memory (gdb on a core file, or on
 * a live process where it cannot call functions) finds wsheap's own records: the guarded
 * backend's address table, span and block records, the stack depot, the module table and the
 * record of the last fault reported. tools/gdb/wsheap.py is its reader; docs/debugging.md
 * describes the format and its versioning promise.
 *
 * The anchor holds no layout a reader must know in advance beyond its header: every address,
 * size, field offset and constant the reader needs is a named entry of its field table, filled
 * with offsetof and sizeof at compile time, so that struct layouts may change from build to
 * build without a new reader. Nothing here runs at startup: the anchor and the tables'
 * descriptors are constant data (relocated by the dynamic loader like any pointer).
 */
#ifndef WSH_DEBUG_INFO_H
#define WSH_DEBUG_INFO_H

#include <stdint.h>

struct wsh_fault; /* guarded/fault.h */

/* The anchor's magic: its first 16 bytes, NUL-padded. */
#define WSH_DEBUG_MAGIC "wsheap-debug"

/*
 * The format version, MAJOR << 16 | MINOR. MINOR goes up when entries are added (a reader of
 * the same MAJOR ignores names it does not know); MAJOR goes up when an existing entry changes
 * its meaning or goes away, or the header changes, so that an older reader refuses the anchor
 * instead of misreading it. Not tied to the library's version.
 */
#define WSH_DEBUG_VERSION_MAJOR 1
#define WSH_DEBUG_VERSION_MINOR 0
#define WSH_DEBUG_VERSION       (WSH_DEBUG_VERSION_MAJOR << 16 | WSH_DEBUG_VERSION_MINOR)

/* Room for an entry's name, NUL included. */
#define WSH_DEBUG_NAME_MAX 32

/* One named entry: an address (`addr`) or a number (`value`: an offset, a size, a constant),
 * as its name says (docs/debugging.md lists them). */
struct wsh_debug_field {
    char name[WSH_DEBUG_NAME_MAX];
    union {
        uint64_t value;
        const volatile void *addr;
    } u;
};

/* The anchor. Its layout is fixed for a MAJOR version of the format. */
struct wsheap_debug_info {
    char magic[16];        /* WSH_DEBUG_MAGIC */
    uint32_t version;      /* WSH_DEBUG_VERSION */
    uint32_t pointer_size; /* sizeof(void *) */
    uint32_t field_size;   /* sizeof(struct wsh_debug_field) */
    uint32_t n_fields;
    const struct wsh_debug_field *fields;
};

/*
 * Where one of wsheap's lock-free tables is and what shape it has, defined next to the table
 * (the tables themselves stay file-static). A two-level table: `top` is the first-level array
 * of `n_top` pointers, each NULL or pointing at a second-level array of `per_entry` entries.
 *   spans.c   the address table: top[addr >> shift] -> leaf; leaf[(addr >> granule shift) %
 *             per_entry] -> the span holding addr (struct wsh_span *)
 *   depot.c   the stack depot: top[(handle - 1) >> shift] -> a chunk of per_entry words
 *   modules.c the module table: top[i / per_entry] -> per_entry struct wsh_module records;
 *             `count` points at the number of records (uint32_t)
 */
struct wsh_debug_table {
    const volatile void *top;
    const volatile void *count; /* NULL when the table has no count */
    uint32_t n_top;
    uint32_t shift;
    uint64_t per_entry;
};

extern const struct wsh_debug_table wsh_debug_spans;   /* spans.c */
extern const struct wsh_debug_table wsh_debug_depot;   /* depot.c */
extern const struct wsh_debug_table wsh_debug_modules; /* modules.c */

/*
 * Keeps a copy of the fault being reported for debuggers (wsheap_debug_info's "fault" entries):
 * `f` as the report writer got it, the reporting thread, and the faulting instruction's address
 * from `ucontext` (the signal handler's third argument; NULL for a report made outside a fault).
 * Called at the start of every wsh_report, before any of its output: the record holds the last
 * fault reported (in halt mode, the one that kills the process), except that a call made while
 * another thread's is copying leaves the record to that one. Async-signal-safe, lock-free, and
 * uses a few dozen bytes of the caller's stack (it runs on the faulting thread's, maybe small,
 * stack).
 */
void wsh_debug_record_fault(const struct wsh_fault *f, const void *ucontext);

#endif
