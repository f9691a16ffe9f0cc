/* SPDX-License-Identifier: MIT */
/*
 * The stack service shared by the guarded backend, the statistics and the tracked arena:
 * capturing stacks (capture_libunwind.c), unwinding a signal handler's interrupted context, the
 * stack depot that stores every distinct stack once under a 32-bit handle (depot.c) together
 * with the module (modules.h) of each frame, and cached thread ids (thread.c). Each function
 * says whether it is async-signal-safe (AS-safe): what a fault report calls must be.
 */
#ifndef WSH_STACK_STACK_H
#define WSH_STACK_STACK_H

#include <stddef.h>
#include <stdint.h>

/* Frames kept per stack at most (WSHEAP_STACK_DEPTH is 0..64). */
#define WSH_STACK_MAX 64

/* --- Capture (capture_libunwind.c) ------------------------------------------------------------ */

/* Warms the unwinder up (its caches and lazy initialisation), once per process, so that the
 * first capture and the signal handler's unwinding do not initialise it, and brings the module
 * table up to date (at every call). Thread-safe; NOT AS-safe. */
void wsh_stack_init(void);

/* Unwinds the interrupted context of a signal handler (`ucontext` is the handler's third
 * argument): pcs[0] is the faulting instruction. Returns the number stored. AS-safe as far as
 * libunwind's local unwinding is (see docs/guarded.md). */
size_t wsh_stack_unwind_signal(void *ucontext, uintptr_t *pcs, size_t max);

/* Captures the calling thread's return addresses, at most `depth` of them, dropping the `skip`
 * innermost frames above the caller of this function, and stores them in the depot. Returns
 * the handle (0 for depth 0). Thread-safe once wsh_stack_init has run; NOT AS-safe
 * (wsh_depot_put). */
uint32_t wsh_stack_record(unsigned depth, size_t skip);

/* --- The depot (depot.c) ---------------------------------------------------------------------- */

/* Stores the stack `pcs[0..n)` once and returns its handle, a small nonzero number; storing an
 * equal stack again returns the same handle. 0 when n is 0 or memory ran out. Lookups take no
 * lock; inserting a new stack refreshes the module table (wsh_modules_refresh, which takes the
 * dynamic loader's lock), notes each frame's module, then takes the depot's lock. NOT AS-safe. */
uint32_t wsh_depot_put(const uintptr_t *pcs, size_t n);

/* The frames of a stored stack: sets *pcs and returns the count; 0 for handle 0 or an unknown
 * handle. Lock-free; AS-safe. */
size_t wsh_depot_get(uint32_t handle, const uintptr_t **pcs);

/* The module ids (modules.h) noted with a stored stack's frames when it was stored, one per
 * frame, 0 where no module held the frame: copies up to `max` into `ids` and returns the count;
 * 0 for handle 0 or an unknown handle. Lock-free; AS-safe. */
size_t wsh_depot_get_modules(uint32_t handle, uint32_t *ids, size_t max);

/* Distinct stacks stored so far (tests and statistics). AS-safe. */
size_t wsh_depot_size(void);

/* --- Threads (thread.c) ----------------------------------------------------------------------- */

/* The calling thread's id (gettid), cached per thread and refreshed in a fork child. NOT AS-safe
 * on a thread's first call (pthread_once); a signal handler uses wsh_os_thread_id instead. */
int32_t wsh_thread_id(void);

#endif
