/* SPDX-License-Identifier: MIT */
/*
 * The library's mutexes (mutex.c), all in one table: the fork handlers take every one of them
 * before fork and release them after it, in parent and child, so that a fork child never
 * inherits a mutex held by a thread it does not have; and each knows which thread holds it, so
 * that every _locked function starts with wsh_assert(wsh_mutex_held(...)).
 *
 * Lock order: a thread that holds a mutex takes only mutexes later in enum wsh_mutex_id, the
 * order in which the fork handler takes them all, so a fork cannot deadlock against threads
 * that nest two of them (wsh_mutex_lock checks the order in Debug builds). Two pairs nest:
 *   WSH_MUTEX_STATS   -> WSH_MUTEX_NAME  (a snapshot copies the watched heaps' names)
 *   WSH_MUTEX_TRACKED -> WSH_MUTEX_NAME  (a description copies its heap's name)
 * Every other mutex is a leaf. No signal handler takes any of them.
 */
#ifndef WSH_MUTEX_H
#define WSH_MUTEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Every mutex of the library, in lock order. */
enum wsh_mutex_id {
    WSH_MUTEX_STATS,   /* stats.c: the registry of sites and watched heaps */
    WSH_MUTEX_TRACKED, /* arena/tracked.c: the tracked heaps, their chunks and records */
    WSH_MUTEX_SPANS,   /* guarded/spans.c: the quarantine, parked spans, address-table leaves */
    WSH_MUTEX_SEGV,    /* guarded/segv.c: installing the handler, the replaced handlers */
    WSH_MUTEX_FAIL,    /* fail.c: the call sites failure injection has seen */
    WSH_MUTEX_DEPOT,   /* stack/depot.c: inserting stacks */
    WSH_MUTEX_MODULES, /* stack/modules.c: refreshing the module table */
    WSH_MUTEX_NAME,    /* name.c: every heap's name; taken under STATS and TRACKED */
    WSH_MUTEX_COUNT
};

struct wsh_mutex {
    pthread_mutex_t mutex;
    _Atomic uintptr_t holder; /* pthread_self() of the thread holding it; 0 when free */
};

extern struct wsh_mutex wsh_mutexes[WSH_MUTEX_COUNT];

/* Locks `m`. The calling thread holds no mutex at or after `m` in the lock order. */
void wsh_mutex_lock(struct wsh_mutex *m);

/* Locks `m` when it is free and answers true; false at once when it is held (by this thread
 * too). For code that must not block (a description made inside ASan's report). */
bool wsh_mutex_trylock(struct wsh_mutex *m);

/* Unlocks `m`, which the calling thread holds. */
void wsh_mutex_unlock(struct wsh_mutex *m);

/* True when the calling thread holds `m`. For assertions. */
static inline bool wsh_mutex_held(const struct wsh_mutex *m)
{
    return atomic_load_explicit(&m->holder, memory_order_relaxed) == (uintptr_t)pthread_self();
}

#endif
