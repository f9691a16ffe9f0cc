/* SPDX-License-Identifier: MIT */
/*
 * The arena's per-thread heap-object cache (see cache.h): a LIFO list threaded through the
 * cached objects' first word, at most CACHE_MAX per thread. Thread-local, so there is no lock
 * and no atomic; a pthread key's destructor frees a thread's objects when it exits.
 */
#include <pthread.h>
#include <stddef.h>

#include "../internal.h"
#include "../os.h"
#include "cache.h"

/* Enough for a thousand short-lived heaps per thread (about 4 MiB of objects). */
#define CACHE_MAX 1024

struct thread_cache {
    void *head;
    unsigned n;
    bool registered; /* the exit destructor knows this thread's cache */
};

static __thread struct thread_cache cache __attribute__((tls_model("initial-exec")));
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void release(void *arg)
{
    struct thread_cache *c = arg;

    while (c->head != NULL) {
        void *block = c->head;

        c->head = *(void **)block;
        wsh_os_free(block);
    }
    c->n = 0;
}

static void make_key(void)
{
    if (pthread_key_create(&cache_key, release) != 0)
        wsh_warn("cannot register the arena's thread-exit hook; thread caches stay allocated");
}

/* The main thread never runs pthread key destructors; release its cache at exit. */
__attribute__((destructor)) static void release_at_exit(void)
{
    release(&cache);
}

void *wsh_cache_get(void)
{
    void *block = cache.head;

    if (block != NULL) {
        cache.head = *(void **)block;
        cache.n--;
    }
    return block;
}

bool wsh_cache_put(void *block)
{
    if (cache.n >= CACHE_MAX) return false;
    if (!cache.registered) {
        pthread_once(&cache_key_once, make_key);
        pthread_setspecific(cache_key, &cache);
        cache.registered = true;
    }
    *(void **)block = cache.head;
    cache.head = block;
    cache.n++;
    return true;
}
