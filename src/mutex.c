/* SPDX-License-Identifier: MIT */
/*
 * The library's mutexes (mutex.h) and the one set of fork handlers for all of them: before
 * fork, the forking thread takes every mutex in lock order (so it waits for any thread inside
 * one, and a thread that holds one and wants a later one can still get it); after fork, the
 * parent and the child release them all. Registered on the first lock of any mutex.
 */
#include "mutex.h"

#include "internal.h"

/* One per enum wsh_mutex_id: a count other than WSH_MUTEX_COUNT does not compile. */
struct wsh_mutex wsh_mutexes[] = {
    [WSH_MUTEX_STATS] = {PTHREAD_MUTEX_INITIALIZER, 0},
    [WSH_MUTEX_TRACKED] = {PTHREAD_MUTEX_INITIALIZER, 0},
    [WSH_MUTEX_SPANS] = {PTHREAD_MUTEX_INITIALIZER, 0},
    [WSH_MUTEX_SEGV] = {PTHREAD_MUTEX_INITIALIZER, 0},
    [WSH_MUTEX_FAIL] = {PTHREAD_MUTEX_INITIALIZER, 0},
    [WSH_MUTEX_DEPOT] = {PTHREAD_MUTEX_INITIALIZER, 0},
    [WSH_MUTEX_MODULES] = {PTHREAD_MUTEX_INITIALIZER, 0},
    [WSH_MUTEX_NAME] = {PTHREAD_MUTEX_INITIALIZER, 0},
};

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void take(struct wsh_mutex *m)
{
    pthread_mutex_lock(&m->mutex);
    atomic_store_explicit(&m->holder, (uintptr_t)pthread_self(), memory_order_relaxed);
}

static void before_fork(void)
{
    for (size_t i = 0; i < WSH_MUTEX_COUNT; i++)
        take(&wsh_mutexes[i]);
}

/* In the parent and in the child, whose only thread is the one that took them. */
static void after_fork(void)
{
    for (size_t i = WSH_MUTEX_COUNT; i-- > 0;)
        wsh_mutex_unlock(&wsh_mutexes[i]);
}

static void watch_forks(void)
{
    pthread_atfork(before_fork, after_fork, after_fork);
}

void wsh_mutex_lock(struct wsh_mutex *m)
{
    pthread_once(&fork_once, watch_forks);
    for (size_t i = (size_t)(m - wsh_mutexes); i < WSH_MUTEX_COUNT; i++)
        wsh_assert(!wsh_mutex_held(&wsh_mutexes[i])); /* the lock order (mutex.h) */
    take(m);
}

bool wsh_mutex_trylock(struct wsh_mutex *m)
{
    pthread_once(&fork_once, watch_forks);
    if (pthread_mutex_trylock(&m->mutex) != 0) return false;
    atomic_store_explicit(&m->holder, (uintptr_t)pthread_self(), memory_order_relaxed);
    return true;
}

void wsh_mutex_unlock(struct wsh_mutex *m)
{
    wsh_assert(wsh_mutex_held(m));
    atomic_store_explicit(&m->holder, 0, memory_order_relaxed);
    pthread_mutex_unlock(&m->mutex);
}
