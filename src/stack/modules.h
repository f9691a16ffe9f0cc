/* SPDX-License-Identifier: MIT */
/*
 * The module table: every ELF module (executable, shared library, plugin) the process has had
 * loaded, with its address range, load bias and full path, so that a report can name the module
 * and offset of a frame without opening /proc/self/maps (no file descriptor needed) and after the
 * module was dlclose'd. Append-only: a record is never removed or moved, only marked unloaded, so
 * an id stays valid and readers (signal handlers included) take no lock.
 */
#ifndef WSH_STACK_MODULES_H
#define WSH_STACK_MODULES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One module as the dynamic loader had it when the table last saw it. Every field except
 * `unloaded` is written once, before the record is published. */
struct wsh_module {
    uintptr_t start;       /* lowest address of its PT_LOAD segments (page-aligned) */
    uintptr_t end;         /* one past the highest */
    uintptr_t base;        /* its first page (the segment at file offset 0): offsets printed in
                            * reports and read by tools/wsheap-symbolize count from here */
    uintptr_t bias;        /* load bias: ELF address (what addr2line wants) = address - bias */
    const char *path;      /* absolute path (the executable's from /proc/self/exe); any length */
    _Atomic bool unloaded; /* gone from the loader's list at the last refresh */
    uint32_t seen;         /* refresh generation that last found it (modules.c only) */
};

/* Brings the table up to date with the dynamic loader's list (dl_iterate_phdr): appends modules
 * loaded since the last refresh and marks those gone as unloaded. Costs one dl_iterate_phdr
 * callback when nothing was loaded or unloaded since. Takes the table's lock and the loader's;
 * NOT async-signal-safe. Failures to get memory leave modules out (retried next time). */
void wsh_modules_refresh(void);

/* The id of the newest loaded module whose range holds `addr`, 0 when none. Lock-free,
 * async-signal-safe, O(modules). */
uint32_t wsh_modules_find(uintptr_t addr);

/* How many records have been marked unloaded so far: while it is 0, every module ever noted is
 * still loaded (the stack depot then skips checking the modules of a stack it finds). Lock-free,
 * async-signal-safe. */
uint32_t wsh_modules_unloaded(void);

/* The record named `id` (1-based), NULL for 0 or an id never given. Lock-free,
 * async-signal-safe. */
const struct wsh_module *wsh_modules_get(uint32_t id);

#endif
