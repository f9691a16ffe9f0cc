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
#include <stdint.h>

/* The system page size, read once. */
size_t wsh_os_page_size(void);

/* malloc/free for heap objects and arena chunks. wsh_os_malloc returns NULL on failure. */
void *wsh_os_malloc(size_t size);
void wsh_os_free(void *p);
/* Successful wsh_os_malloc and wsh_os_map calls made by the calling thread so far: the
 * difference across one backend call is the system allocations that call made (stats.c). */
unsigned long wsh_os_thread_allocations(void);

/* Maps `size` bytes (a multiple of the page size) of private anonymous memory, readable and
 * writable when `accessible`, else PROT_NONE (an address-space reservation). NULL on failure. */
void *wsh_os_map(size_t size, bool accessible);
/* wsh_os_map, at an address that is a multiple of `align` (a power of two, a multiple of the
 * page size). One request, however many system calls the alignment takes. */
void *wsh_os_map_aligned(size_t size, size_t align, bool accessible);
/* Unmaps a range from wsh_os_map (or part of one). Returns false on failure. */
bool wsh_os_unmap(void *addr, size_t size);
/* mprotect: read+write when `accessible`, else PROT_NONE. Returns false on failure (ENOMEM
 * when the split would pass vm.max_map_count). */
bool wsh_os_protect(void *addr, size_t size, bool accessible);
/* Replaces [addr, addr + size), part of a mapping from wsh_os_map, with fresh PROT_NONE
 * memory (mmap MAP_FIXED): drops the contents and, unlike mprotect, lets the kernel merge the
 * range with its PROT_NONE neighbours, however many mappings mprotect had split it into.
 * Returns false on failure. */
bool wsh_os_remap_inaccessible(void *addr, size_t size);
/* madvise(MADV_DONTNEED): drops the pages' contents and memory; the range stays mapped. */
bool wsh_os_discard(void *addr, size_t size);
/* Moves the pages of [from, from + size) — their contents and guard markers, without copying —
 * to [to, to + size), replacing what was mapped there (both ranges in mappings from wsh_os_map,
 * not overlapping), and leaves [from, from + size) mapped PROT_NONE and empty, in a way no other
 * thread's mmap can slip into (mremap MREMAP_DONTUNMAP, Linux 5.7+, then fresh PROT_NONE memory
 * over the source). False when the move failed: then nothing changed. When it succeeded but
 * the source could not be made inaccessible, it is left readable and empty (reads give zeros);
 * *hidden says which. One request. */
bool wsh_os_move_pages(void *from, size_t size, void *to, bool *hidden);

/* Guard markers without a VMA split: madvise(MADV_GUARD_INSTALL / MADV_GUARD_REMOVE), Linux
 * 6.13+. Installing discards the pages' contents. wsh_os_has_guard_advice() probes the kernel
 * once (a sandbox may filter the advice too); the two calls fail where it answered no. */
bool wsh_os_has_guard_advice(void);
bool wsh_os_guard_install(void *addr, size_t size);
bool wsh_os_guard_remove(void *addr, size_t size);
/* Installs guard markers on `count` ranges of `size` bytes, the first at `first` and each
 * `stride` bytes after the previous one, in one system call (process_madvise on this process;
 * Linux 6.13+ accepts the guard advice there), and no other: the process is named by the
 * PIDFD_SELF sentinel (Linux 6.14+) or a pidfd opened once, whose fork check costs no system
 * call. Returns how many leading ranges are guarded: 0 when it failed or the kernel cannot (the
 * caller then installs one range at a time). One request, whatever `count`. */
size_t wsh_os_guard_install_strided(char *first, size_t stride, size_t count, size_t size);

/* The calling thread's kernel id (gettid). Async-signal-safe. */
int wsh_os_thread_id(void);
/* Milliseconds of CLOCK_MONOTONIC. Async-signal-safe. */
long wsh_os_now_ms(void);
/* The instruction a signal interrupted, from a SA_SIGINFO handler's `ucontext`; 0 on an
 * architecture this does not know. Async-signal-safe. */
uintptr_t wsh_os_context_pc(const void *ucontext);
/* Reads `n` bytes at `src` into `dst` without faulting (process_vm_readv on this process, or
 * a pipe where that is filtered). Returns false when any byte is unreadable; `dst` is then
 * zero-filled. Async-signal-safe. */
bool wsh_os_safe_read(void *dst, const void *src, size_t n);
/* The number of mappings the process has now (lines of /proc/self/maps); 0 when unreadable. */
size_t wsh_os_count_mappings(void);
/* vm.max_map_count, read from /proc/sys/vm/max_map_count; the kernel default 65530 when it
 * cannot be read. */
size_t wsh_os_max_map_count(void);

/* --- Test hooks ------------------------------------------------------------------------------- */

/* Makes the n-th request from now (1 = the next) fail, once; 0 disarms. Counts every thread's
 * requests. Used by the fault-injection tests only. */
void wsh_os_fail_at(unsigned long n);
/* Requests made since the counter was last reset by wsh_os_fail_at (armed or not). */
unsigned long wsh_os_requests(void);
/* Pretends the kernel lacks MADV_GUARD_INSTALL (forces the mprotect path) when `off`. */
void wsh_os_force_no_guard_advice(bool off);
/* Names this process to process_madvise by a pidfd, not the PIDFD_SELF sentinel, when `on`
 * (the path kernels before 6.14 take). */
void wsh_os_force_pidfd(bool on);

#endif
