/* SPDX-License-Identifier: MIT */
/*
 * The stack depot: every distinct stack is stored once, append-only, and named by a 32-bit
 * handle that blocks and spans keep instead of a copy. Lookups and reads take no lock and
 * never allocate, so the signal handler can read stacks; inserting a new stack takes one lock.
 * Nothing is ever freed, so a handle stays valid for the life of the process. Each stored stack
 * also keeps the module (modules.h) of every frame as it was when it was stored, so
 * that a report names the module even after it was unloaded.
 */
#include <stdatomic.h>

#include "../debug_info.h"
#include "../internal.h"
#include "../mutex.h"
#include "../os.h"
#include "modules.h"
#include "stack.h"

/*
 * Storage is a series of 1 MiB chunks of words. One stored stack:
 *
 *   word 0: hash (low 32 bits) | number of frames n (high 32 bits)
 *   word 1: handle of the next stack in the same hash bucket (0 ends the chain)
 *   word 2 .. 2+n: the frames
 *   then (n + 1) / 2 words: each frame's module id, two per word (frame 2k in the low half);
 *   0 where no module held the frame
 *
 * handle = chunk index * CHUNK_WORDS + word offset + 1, so 0 means "no stack".
 */
#define CHUNK_SHIFT 17
#define CHUNK_WORDS ((size_t)1 << CHUNK_SHIFT) /* 1 MiB of 8-byte words */
#define MAX_CHUNKS  4096                       /* 4 GiB of stacks at most */
#define N_BUCKETS   ((size_t)1 << 16)

static _Atomic(uintptr_t *) chunks[MAX_CHUNKS];
/* Where the chunks are, for debuggers (the anchor in ../debug_info.c). */
const struct wsh_debug_table wsh_debug_depot = {(const volatile void *)chunks, NULL, MAX_CHUNKS,
                                                CHUNK_SHIFT, CHUNK_WORDS};
static _Atomic uint32_t buckets[N_BUCKETS];
static struct wsh_mutex *const depot_lock = &wsh_mutexes[WSH_MUTEX_DEPOT];
static size_t n_chunks;  /* chunks mapped (under depot_lock) */
static size_t cur_chunk; /* the chunk being filled: n_chunks - 1 */
static size_t cur_used;  /* words used in it */
static atomic_size_t n_stacks;

/* Two independent lanes, so that the multiplications of even and odd frames overlap. */
static uint32_t hash_frames(const uintptr_t *pcs, size_t n)
{
    uint64_t a = 0x9ae16a3b2f90404fu ^ n, b = 0xc3a5c85c97cb3127u;
    size_t i = 0;

    for (; i + 2 <= n; i += 2) {
        a = (a ^ pcs[i]) * 0xff51afd7ed558ccdu;
        b = (b ^ pcs[i + 1]) * 0xc4ceb9fe1a85ec53u;
    }
    if (i < n) a = (a ^ pcs[i]) * 0xff51afd7ed558ccdu;
    a ^= (b >> 31) ^ (a >> 29);
    a *= 0x9e3779b97f4a7c15u;
    return (uint32_t)(a >> 32);
}

/* Words of a record of n frames. */
static size_t record_words(size_t n)
{
    return 2 + n + (n + 1) / 2;
}

static uint32_t module_of(const uintptr_t *rec, size_t i)
{
    size_t n = (size_t)(rec[0] >> 32);

    return (uint32_t)(rec[2 + n + i / 2] >> (i % 2 * 32));
}

/* The words of the stack named `handle`, or NULL when it names nothing stored. */
static const uintptr_t *record_of(uint32_t handle)
{
    size_t v, chunk, off;
    const uintptr_t *base;

    if (handle == 0) return NULL;
    v = (size_t)handle - 1;
    chunk = v >> CHUNK_SHIFT;
    off = v & (CHUNK_WORDS - 1);
    if (chunk >= MAX_CHUNKS || off + 2 > CHUNK_WORDS) return NULL;
    base = atomic_load_explicit(&chunks[chunk], memory_order_acquire);
    if (base == NULL) return NULL;
    if (off + record_words((size_t)(base[off] >> 32)) > CHUNK_WORDS) return NULL;
    return base + off;
}

/* The record holds these frames, and the modules it names for them are still loaded: a record
 * of frames in a module since unloaded is not reused for the same addresses, which may now
 * belong to another module (a new record is stored instead). The hash covers the frames only,
 * so that finding a stored stack (every WsAlloc) searches no module table: it only checks, per
 * frame, the loaded flag of the module noted. */
static bool record_equals(const uintptr_t *rec, uint32_t hash, const uintptr_t *pcs, size_t n)
{
    if ((uint32_t)rec[0] != hash || (size_t)(rec[0] >> 32) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (rec[2 + i] != pcs[i]) return false;
    if (wsh_modules_unloaded() == 0) return true; /* the common case: nothing was dlclose'd */
    for (size_t i = 0; i < n; i++) {
        uint32_t id = module_of(rec, i);
        const struct wsh_module *m = id != 0 ? wsh_modules_get(id) : NULL;

        if (m != NULL && atomic_load_explicit(&m->unloaded, memory_order_relaxed)) return false;
    }
    return true;
}

/* Searches the chain of `bucket` for the stack; 0 when absent. */
static uint32_t find(size_t bucket, uint32_t hash, const uintptr_t *pcs, size_t n)
{
    uint32_t h = atomic_load_explicit(&buckets[bucket], memory_order_acquire);

    while (h != 0) {
        const uintptr_t *rec = record_of(h);

        wsh_assert(rec != NULL); /* a handle the depot itself chained */
        if (rec == NULL) return 0;
        if (record_equals(rec, hash, pcs, n)) return h;
        h = (uint32_t)rec[1];
    }
    return 0;
}

uint32_t wsh_depot_put(const uintptr_t *pcs, size_t n)
{
    uint32_t hash, handle, ids[WSH_STACK_MAX];
    size_t bucket, words;
    uintptr_t *base, *rec;

    if (n == 0) return 0;
    if (n > WSH_STACK_MAX) n = WSH_STACK_MAX;
    words = record_words(n);
    hash = hash_frames(pcs, n);
    bucket = hash & (N_BUCKETS - 1);
    handle = find(bucket, hash, pcs, n);
    if (handle != 0) return handle;

    /* A new stack: note the module of every frame (a return address's call lies before it).
     * Outside depot_lock, as the refresh takes the dynamic loader's lock. */
    wsh_modules_refresh();
    for (size_t i = 0; i < n; i++)
        ids[i] = wsh_modules_find(pcs[i] != 0 ? pcs[i] - 1 : 0);

    wsh_mutex_lock(depot_lock);
    handle = find(bucket, hash, pcs, n); /* another thread may have stored it meanwhile */
    if (handle != 0) goto out;
    if (n_chunks == 0 || cur_used + words > CHUNK_WORDS) {
        uintptr_t *mem;

        if (n_chunks == MAX_CHUNKS ||
            (mem = wsh_os_map(CHUNK_WORDS * sizeof(uintptr_t), true)) == NULL)
            goto out; /* out of memory: the block simply has no stack */
        atomic_store_explicit(&chunks[n_chunks], mem, memory_order_release);
        cur_chunk = n_chunks++;
        cur_used = 0;
    }
    base = atomic_load_explicit(&chunks[cur_chunk], memory_order_relaxed);
    rec = base + cur_used;
    rec[0] = (uintptr_t)hash | (uintptr_t)n << 32;
    rec[1] = atomic_load_explicit(&buckets[bucket], memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        rec[2 + i] = pcs[i];
    for (size_t i = 0; i < n; i += 2)
        rec[2 + n + i / 2] = ids[i] | (i + 1 < n ? (uintptr_t)ids[i + 1] << 32 : 0);
    handle = (uint32_t)((cur_chunk << CHUNK_SHIFT) + cur_used + 1);
    wsh_assert(cur_chunk < MAX_CHUNKS && cur_used + words <= CHUNK_WORDS);
    wsh_assert(record_of(handle) == rec);
    cur_used += words;
    /* Publishes the record: readers that see the handle see its words. */
    atomic_store_explicit(&buckets[bucket], handle, memory_order_release);
    atomic_fetch_add_explicit(&n_stacks, 1, memory_order_relaxed);
out:
    wsh_mutex_unlock(depot_lock);
    return handle;
}

size_t wsh_depot_get(uint32_t handle, const uintptr_t **pcs)
{
    const uintptr_t *rec = record_of(handle);

    if (rec == NULL) {
        *pcs = NULL;
        return 0;
    }
    *pcs = rec + 2;
    return (size_t)(rec[0] >> 32);
}

size_t wsh_depot_get_modules(uint32_t handle, uint32_t *ids, size_t max)
{
    const uintptr_t *rec = record_of(handle);
    size_t n = rec != NULL ? (size_t)(rec[0] >> 32) : 0;

    if (n > max) n = max;
    for (size_t i = 0; i < n; i++)
        ids[i] = module_of(rec, i);
    return n;
}

size_t wsh_depot_size(void)
{
    return atomic_load_explicit(&n_stacks, memory_order_relaxed);
}
