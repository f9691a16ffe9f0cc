/* SPDX-License-Identifier: MIT */
/*
 * The arena backend (the default): bump allocation in chunks. WsAlloc serves most requests
 * from the window [cur, end) in the heap object without calling this file; arena_alloc runs
 * when the current chunk is full, for zero-size requests, and when the quota narrows the window.
 * A reset keeps one chunk, sized to the round's high-water mark and capped by trimSize, so a
 * program that repeats the same work makes no allocator or system calls in steady state.
 */
#include <assert.h>
#include <stddef.h>

#include "../internal.h"
#include "../os.h"
#include "arena.h"
#include "cache.h"
#include "policy.h"

/*
 * Memory layout. Every chunk, normal or holding one large block, is one system allocation,
 * except the first, which lives inside the heap object so that a short-lived heap costs one
 * allocation (taken from the thread's cache, cache.h):
 *
 *   | struct arena_chunk | data: size bytes ......................................... |
 *                        ^ chunk_data(c)       ^ heap->cur (current chunk only)       ^ heap->limit
 *
 * a->current is the chunk the window lies in; a->others lists every other chunk the heap holds
 * (full chunks and large blocks), newest first, whose `used` records how much of them the round
 * used. A new heap's window is already open on the first chunk, so its first WsAlloc takes the
 * fast path, and its first reset is "cur = rewind". A reset that keeps another chunk detaches
 * the first one instead of freeing it, and a later round may attach it again. ACTUAL_SIZE is
 * Windows' figure, computed from the bytes handed out (policy.h), not these chunks' sizes.
 */
struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used; /* bytes handed out; kept up to date only for chunks on a->others */
    size_t pad;  /* keeps the data 16-byte aligned after malloc's 16-byte alignment */
};

struct arena {
    struct wsh_heap heap;        /* first: the public layer's part of the object */
    struct arena_chunk *current; /* the window's chunk; NULL only after a reset freed it */
    struct arena_chunk *others;  /* every other chunk held */
    size_t held;                 /* sum of attached chunks' sizes */
    size_t next_size;            /* size of the next normal chunk */
    bool first_attached;         /* the embedded first chunk is current or on a->others */
    struct arena_chunk first;    /* the embedded first chunk's header; its data follows */
    char first_data[WSH_ARENA_FIRST_CHUNK];
};

/* chunk_data(&a->first) must be a->first_data. */
static_assert(offsetof(struct arena, first_data) ==
                  offsetof(struct arena, first) + sizeof(struct arena_chunk),
              "the first chunk's data follows its header");

static char *chunk_data(struct arena_chunk *c)
{
    return (char *)(c + 1);
}

static struct arena *arena_of(struct wsh_heap *heap)
{
    return (struct arena *)heap;
}

/* The one chunk size the thread's cache keeps (cache.h): the chunk a heap takes after its first. */
#define CACHED_CHUNK wsh_arena_grow(WSH_ARENA_FIRST_CHUNK)

/* A chunk of `size` usable bytes, counted in a->held: the embedded first chunk when it is free
 * and large enough, else one from the thread's cache when it has one of that size, else a new
 * system allocation. NULL when out of memory. */
static struct arena_chunk *chunk_new(struct arena *a, size_t size)
{
    struct arena_chunk *c;

    wsh_assert(size % WSH_ALIGN == 0); /* the chunk's end may become the window's end */
    if (!a->first_attached && size <= WSH_ARENA_FIRST_CHUNK) {
        a->first_attached = true;
        c = &a->first;
    } else {
        c = size == CACHED_CHUNK ? wsh_cache_get_chunk() : NULL;
        if (c == NULL) c = wsh_os_malloc(sizeof *c + size);
        if (c == NULL) return NULL;
    }
    c->next = NULL;
    c->size = size;
    c->used = 0;
    a->held += size;
    return c;
}

static void chunk_free(struct arena *a, struct arena_chunk *c)
{
    a->held -= c->size;
    if (c == &a->first)
        a->first_attached = false;
    else if (c->size != CACHED_CHUNK || !wsh_cache_put_chunk(c))
        wsh_os_free(c);
}

/* Makes `c` the current chunk with its first `used` bytes taken. When it is the heap's only
 * chunk and a reset would keep it, a reset is just "cur = rewind" (heap.c does it, noting the
 * round's size in heap.round_peak). */
static void set_current(struct arena *a, struct arena_chunk *c, size_t used)
{
    a->current = c;
    a->heap.cur = c != NULL ? chunk_data(c) + used : NULL;
    a->heap.limit = c != NULL ? chunk_data(c) + c->size : NULL;
    a->heap.rewind = NULL;
    if (c != NULL && a->others == NULL &&
        c->size <= wsh_arena_keep_limit(a->heap.trim_size, a->heap.max_size))
        a->heap.rewind = chunk_data(c);
    /* With no other chunk, the window's chunk is all the heap holds. */
    wsh_assert(a->others != NULL || a->held == (c != NULL ? c->size : 0));
}

/* The window opens on the embedded first chunk, which a reset always keeps (so the first reset
 * is "cur = rewind" too); the public layer narrows the window to the quota. */
static struct wsh_heap *arena_create(const struct wsh_options *options)
{
    struct arena *a = wsh_cache_get();

    (void)options;
    if (WSH_UNLIKELY(a == NULL)) {
        a = wsh_os_malloc(sizeof *a);
        if (a == NULL) return NULL;
    }
    a->first.next = NULL;
    a->first.size = WSH_ARENA_FIRST_CHUNK; /* a quota-sized chunk_new may have shrunk it */
    a->first_attached = true;
    a->others = NULL;
    a->held = WSH_ARENA_FIRST_CHUNK;
    a->next_size = wsh_arena_grow(WSH_ARENA_FIRST_CHUNK);
    a->current = &a->first;
    a->heap.cur = a->first_data;
    a->heap.limit = a->first_data + WSH_ARENA_FIRST_CHUNK;
    a->heap.rewind = a->first_data; /* WSH_ARENA_FIRST_CHUNK <= every keep limit */
    return &a->heap;
}

/* The window could not serve `size` bytes: bump in the current chunk if it has room (zero-size
 * requests, or a window narrowed by the quota), else give a large request a chunk of its own,
 * else start a new chunk. */
static HRESULT arena_alloc(struct wsh_heap *heap, size_t size, void **out)
{
    struct arena *a = arena_of(heap);
    struct arena_chunk *c;
    size_t need, quota_left, chunk_size;

    wsh_assert(heap->magic == WSH_HEAP_MAGIC && out != NULL);
    wsh_assert(size <= heap->max_size - heap->requested_size); /* the public layer's quota */
    if (size > WSH_ARENA_MAX_REQUEST) return E_OUTOFMEMORY;
    need = size == 0 ? WSH_ALIGN : wsh_align_up(size, WSH_ALIGN); /* 0 bytes: still distinct */
    if (need <= (size_t)(heap->limit - heap->cur)) {
        *out = heap->cur;
        heap->cur += need;
        return S_OK;
    }

    if (a->current != NULL && wsh_arena_own_chunk(need, a->next_size)) {
        c = chunk_new(a, need);
        if (c == NULL) return E_OUTOFMEMORY;
        c->used = need;
        c->next = a->others;
        a->others = c;
        heap->rewind = NULL;
        *out = chunk_data(c);
        return S_OK;
    }

    /* A chunk no larger than the quota can use (a heap with maxSize 100 gets 104 bytes). */
    quota_left = heap->max_size - heap->requested_size;
    chunk_size = quota_left < a->next_size ? wsh_align_up(quota_left, WSH_ALIGN) : a->next_size;
    if (chunk_size < need) chunk_size = need;
    c = chunk_new(a, chunk_size);
    if (c == NULL) return E_OUTOFMEMORY;
    if (a->current != NULL) {
        a->current->used = (size_t)(heap->cur - chunk_data(a->current));
        a->current->next = a->others;
        a->others = a->current;
    }
    a->next_size = wsh_arena_grow(a->next_size);
    set_current(a, c, need);
    *out = chunk_data(c);
    return S_OK;
}

/* The one chunk a reset keeps when the round used several: the smallest that holds `target`
 * bytes within `keep_limit`; else a new one of `target` bytes when trimSize allows a round of
 * that size; else the largest within `keep_limit` (NULL when none is). */
static struct arena_chunk *choose_kept_chunk(struct arena *a, size_t target, size_t keep_limit)
{
    struct arena_chunk *fit = NULL, *largest = NULL, *c;

    if (a->current != NULL) {
        a->current->next = a->others;
        a->others = a->current;
        a->current = NULL;
    }
    for (c = a->others; c != NULL; c = c->next) {
        if (c->size > keep_limit) continue;
        if (c->size >= target && (fit == NULL || c->size < fit->size)) fit = c;
        if (largest == NULL || c->size > largest->size) largest = c;
    }
    if (fit != NULL) return fit;
    if (target <= keep_limit) {
        struct arena_chunk *fresh = chunk_new(a, target);

        if (fresh != NULL) {
            fresh->next = a->others;
            a->others = fresh;
            return fresh;
        }
    }
    return largest;
}

/* Bytes handed out since the last reset: the current chunk's and every other chunk's. */
static size_t round_used(struct arena *a)
{
    size_t used = a->current != NULL ? (size_t)(a->heap.cur - chunk_data(a->current)) : 0;

    for (struct arena_chunk *c = a->others; c != NULL; c = c->next)
        used += c->used;
    return used;
}

/* Reverses the list starting at `c`: a->others is newest first, and chunks are freed oldest
 * first, in the order malloc handed them out, which lets glibc merge them back into its top
 * chunk and trim it in fewer, larger steps (fewer brk and munmap calls per round). */
static struct arena_chunk *reversed(struct arena_chunk *c)
{
    struct arena_chunk *r = NULL, *next;

    for (; c != NULL; c = next) {
        next = c->next;
        c->next = r;
        r = c;
    }
    return r;
}

static void arena_reset(struct wsh_heap *heap)
{
    struct arena *a = arena_of(heap);
    struct arena_chunk *keep, *c, *next;
    size_t limit = wsh_arena_keep_limit(heap->trim_size, heap->max_size), used, target;

    wsh_assert(heap->magic == WSH_HEAP_MAGIC);
    used = round_used(a);
    if (used > heap->round_peak) heap->round_peak = used;
    if (a->others == NULL) {
        /* The round fit in one chunk (or none), which is larger than trimSize allows (heap.c
         * rewinds a chunk it may keep without calling here). */
        if (a->current != NULL && a->current->size > limit) {
            chunk_free(a, a->current);
            set_current(a, NULL, 0);
            return;
        }
        set_current(a, a->current, 0);
        return;
    }

    /* The round spilled: keep one chunk with room for it and a quarter more. */
    target = wsh_arena_kept_size(used, limit);
    /* Not trimmed: the merged chunk is at least all the heap held, so nothing is given back. */
    if (heap->trim_size > heap->max_size && target < a->held)
        target = wsh_align_up(a->held, WSH_ARENA_ROUND_UNIT);

    keep = choose_kept_chunk(a, target, limit);
    for (c = reversed(a->others); c != NULL; c = next) {
        next = c->next;
        if (c != keep) chunk_free(a, c);
    }
    a->others = NULL;
    if (keep != NULL) keep->next = NULL;
    set_current(a, keep, 0);
    /* Growth starts again from the kept chunk, so a heap that spills every round (trimSize
     * below a round) spills into chunks of its rounds' size, not ever larger ones. */
    a->next_size = wsh_arena_grow(
        keep != NULL && keep->size > WSH_ARENA_FIRST_CHUNK ? keep->size : WSH_ARENA_FIRST_CHUNK);
}

/* Frees every chunk `a` holds but the embedded first one, oldest first. */
static WSH_NOINLINE void free_chunks(struct arena *a)
{
    struct arena_chunk *c, *next;

    if (a->current != NULL && a->current != &a->first) chunk_free(a, a->current);
    for (c = reversed(a->others); c != NULL; c = next) {
        next = c->next;
        if (c != &a->first) chunk_free(a, c);
    }
}

static void arena_destroy(struct wsh_heap *heap)
{
    struct arena *a = arena_of(heap);

    /* A heap that only ever used its first chunk (most short-lived heaps) frees nothing. */
    if (WSH_UNLIKELY(a->current != &a->first || a->others != NULL)) free_chunks(a);
    if (!wsh_cache_put(a)) {
        wsh_os_free(a);
        return;
    }
    /* Cached: the cache's link is now the object's first word, `cur`. An empty window makes a
     * stale handle's WsAlloc take the slow path, which rejects it (the magic is cleared). */
    a->heap.end = a->heap.cur;
}

static size_t arena_actual_size(const struct wsh_heap *heap)
{
    struct arena *a = arena_of((struct wsh_heap *)heap);

    return wsh_windows_actual_size(round_used(a), heap->round_peak, heap->trim_size,
                                   heap->max_size);
}

size_t wsh_arena_held(const struct wsh_heap *heap)
{
    return arena_of((struct wsh_heap *)heap)->held;
}

const struct wsh_backend_ops wsh_arena_ops = {
    .name = "arena",
    .create = arena_create,
    .alloc = arena_alloc,
    .reset = arena_reset,
    .destroy = arena_destroy,
    .actual_size = arena_actual_size,
};
