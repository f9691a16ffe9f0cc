/* SPDX-License-Identifier: MIT */
/*
 * The operating-system layer: every request wsheap makes for memory goes through here, so that
 * a test can make the N-th one fail (wsh_os_fail_at) and walk every failure point. Each call
 * that can fail counts as one "request"; a failed request changes nothing.
 */
#ifndef WSH_OS_H
#define WSH_OS_H

#include <stdbool.h>
#include <stddef.h>

/* The system page size, read once. */
size_t wsh_os_page_size(void);

/* malloc/free for heap objects and arena chunks. wsh_os_malloc returns NULL on failure. */
void *wsh_os_malloc(size_t size);
void wsh_os_free(void *p);

/* Maps `size` bytes (a multiple of the page size) of private anonymous memory, readable and
 * writable when `accessible`, else PROT_NONE (an address-space reservation). NULL on failure. */
void *wsh_os_map(size_t size, bool accessible);
/* Unmaps a range from wsh_os_map (or part of one). Returns false on failure. */
bool wsh_os_unmap(void *addr, size_t size);
/* mprotect: read+write when `accessible`, else PROT_NONE. Returns false on failure (ENOMEM
 * when the split would pass vm.max_map_count). */
bool wsh_os_protect(void *addr, size_t size, bool accessible);
/* madvise(MADV_DONTNEED): drops the pages' contents and memory; the range stays mapped. */
bool wsh_os_discard(void *addr, size_t size);

/* Guard markers without a VMA split: madvise(MADV_GUARD_INSTALL / MADV_GUARD_REMOVE), Linux
 * 6.13+. Installing discards the pages' contents. wsh_os_has_guard_advice() probes the kernel
 * once (a sandbox may filter the advice too); the two calls fail where it answered no. */
bool wsh_os_has_guard_advice(void);
bool wsh_os_guard_install(void *addr, size_t size);
bool wsh_os_guard_remove(void *addr, size_t size);

/* --- Test hooks ----------------------------------------------------------------------------------
 */

/* Makes the n-th request from now (1 = the next) fail, once; 0 disarms. Counts every thread's
 * requests. Used by the fault-injection tests only. */
void wsh_os_fail_at(unsigned long n);
/* Requests made since the counter was last reset by wsh_os_fail_at (armed or not). */
unsigned long wsh_os_requests(void);
/* Pretends the kernel lacks MADV_GUARD_INSTALL (forces the mprotect path) when `off`. */
void wsh_os_force_no_guard_advice(bool off);

#endif
