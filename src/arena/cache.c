/* SPDX-License-Identifier: MIT */
/*
 * The arena's per-thread block cache (see cache.h): LIFO lists threaded through the cached
 * blocks' first word, at most CACHE_MAX blocks per class and thread. Thread-local, so there is
 * no lock and no atomic; a pthread key's destructor frees a thread's blocks when it exits.
 */
#include <pthread.h>
#include <stddef.h>

#include "../internal.h"
#include "../os.h"
#include "cache.h"

/* Enough for a thousand live short-lived heaps per thread (4 MiB of first chunks). */
#define CACHE_MAX 1024

struct thread_cache {
    void *head[WSH_CACHE_N_CLASSES];
    unsigned n[WSH_CACHE_N_CLASSES];
    bool registered; /* the exit destructor knows this thread's cache */
};

static __thread struct thread_cache cache __attribute__((tls_model("initial-exec")));
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void release(void *arg)
{
    struct thread_cache *c = arg;

    for (int cls = 0; cls < WSH_CACHE_N_CLASSES; cls++) {
        while (c->head[cls] != NULL) {
            void *block = c->head[cls];

            c->head[cls] = *(void **)block;
            wsh_os_free(block);
        }
        c->n[cls] = 0;
    }
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

void *wsh_cache_get(enum wsh_cache_class cls)
{
    void *block = cache.head[cls];

    if (block != NULL) {
        cache.head[cls] = *(void **)block;
        cache.n[cls]--;
    }
    return block;
}

bool wsh_cache_put(enum wsh_cache_class cls, void *block)
{
    if (cache.n[cls] >= CACHE_MAX) return false;
    if (!cache.registered) {
        pthread_once(&cache_key_once, make_key);
        pthread_setspecific(cache_key, &cache);
        cache.registered = true;
    }
    *(void **)block = cache.head[cls];
    cache.head[cls] = block;
    cache.n[cls]++;
    return true;
}
