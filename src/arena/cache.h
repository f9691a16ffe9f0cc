/* SPDX-License-Identifier: MIT */
/*
 * A per-thread cache of arena heap objects (each with its embedded first chunk), and of the
 * 8 KiB chunks a heap that outgrows its first chunk takes next. Programs that create and free
 * many short-lived heaps would otherwise send these blocks back to glibc, which trims them to
 * the OS and page-faults them back every round, and spends more on an 8 KiB malloc and free than
 * the whole heap costs otherwise. Taking and giving back a block are inline: a few instructions
 * on a thread-local list, no call, no lock, no atomic.
 */
#ifndef WSH_ARENA_CACHE_H
#define WSH_ARENA_CACHE_H

#include <stdbool.h>

#include "../internal.h"

/* Enough for a thousand short-lived heaps per thread (about 4 MiB of objects), half of them
 * having outgrown their first chunk (4 MiB of chunks). */
#define WSH_CACHE_MAX        1024
#define WSH_CACHE_CHUNKS_MAX 512

/* A thread's cache: LIFO lists threaded through the cached blocks' first word. */
struct wsh_thread_cache {
    void *head;   /* heap objects */
    void *chunks; /* chunks of the one size arena.c caches */
    unsigned n;   /* heap objects cached */
    unsigned n_chunks;
    bool registered; /* the exit destructor knows this thread's cache */
};

extern __thread struct wsh_thread_cache wsh_thread_cache __attribute__((tls_model("initial-exec")));

/* Registers the calling thread's cache with the thread-exit destructor that frees its objects
 * (once per thread; cache.c). */
void wsh_cache_register(void);

/* A heap object cached by this thread, or NULL. No system call, no lock. */
static inline void *wsh_cache_get(void)
{
    struct wsh_thread_cache *c = &wsh_thread_cache;
    void *block = c->head;

    if (block != NULL) {
        c->head = *(void **)block;
        c->n--;
    }
    return block;
}

/* Keeps the heap object `block` for reuse by this thread; false when the cache is full and the
 * caller must free it. The cache keeps its list link in the object's first word, which stays
 * unchanged until wsh_cache_get hands the object out again. A thread's cache is released when
 * the thread exits (the main thread's at process exit). */
static inline bool wsh_cache_put(void *block)
{
    struct wsh_thread_cache *c = &wsh_thread_cache;

    if (c->n >= WSH_CACHE_MAX) return false;
    if (WSH_UNLIKELY(!c->registered)) wsh_cache_register();
    *(void **)block = c->head;
    c->head = block;
    c->n++;
    return true;
}

/* A chunk block cached by this thread (the caller knows its size), or NULL. */
static inline void *wsh_cache_get_chunk(void)
{
    struct wsh_thread_cache *c = &wsh_thread_cache;
    void *block = c->chunks;

    if (block != NULL) {
        c->chunks = *(void **)block;
        c->n_chunks--;
    }
    return block;
}

/* Keeps a chunk block for reuse by this thread, as wsh_cache_put does heap objects. */
static inline bool wsh_cache_put_chunk(void *block)
{
    struct wsh_thread_cache *c = &wsh_thread_cache;

    if (c->n_chunks >= WSH_CACHE_CHUNKS_MAX) return false;
    if (WSH_UNLIKELY(!c->registered)) wsh_cache_register();
    *(void **)block = c->chunks;
    c->chunks = block;
    c->n_chunks++;
    return true;
}

#endif
