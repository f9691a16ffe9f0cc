/* SPDX-License-Identifier: MIT */
/*
 * The arena's per-thread heap-object cache (see cache.h, where taking and giving back an object
 * are inline): the thread-local list itself, and its release. A pthread key's destructor frees a
 * thread's objects when it exits; the main thread's are freed at process exit.
 */
#include <pthread.h>
#include <stddef.h>

#include "../internal.h"
#include "../os.h"
#include "cache.h"

__thread struct wsh_thread_cache wsh_thread_cache __attribute__((tls_model("initial-exec")));
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void release(void *arg)
{
    struct wsh_thread_cache *c = arg;

    while (c->head != NULL) {
        void *block = c->head;

        c->head = *(void **)block;
        wsh_os_free(block);
    }
    while (c->chunks != NULL) {
        void *block = c->chunks;

        c->chunks = *(void **)block;
        wsh_os_free(block);
    }
    c->n = c->n_chunks = 0;
}

static void make_key(void)
{
    if (pthread_key_create(&cache_key, release) != 0)
        wsh_warn("cannot register the arena's thread-exit hook; thread caches stay allocated");
}

/* The main thread never runs pthread key destructors; release its cache at exit. */
__attribute__((destructor)) static void release_at_exit(void)
{
    release(&wsh_thread_cache);
}

void wsh_cache_register(void)
{
    pthread_once(&cache_key_once, make_key);
    pthread_setspecific(cache_key, &wsh_thread_cache);
    wsh_thread_cache.registered = true;
}
