/* SPDX-License-Identifier: MIT */
/*
 * The tracked arena: what arena heaps are under AddressSanitizer or valgrind memcheck (see
 * track.h). The window stays empty (cur == limit == NULL), so every WsAlloc comes here; every
 * block sits between poisoned redzones, the left one holding the block's record; unused chunk
 * space is poisoned; a reset poisons every block and parks its chunks in a bounded per-heap
 * quarantine; and every tracked heap is listed, so wsheap_describe_address can name a block.
 */
#include <assert.h>
#include <string.h>
#include <unistd.h>

#include "../describe.h"
#include "../internal.h"
#include "../mutex.h"
#include "../os.h"
#include "../stack/stack.h"
#include "policy.h"
#include "tracked.h"

/*
 * One chunk (malloc'd under ASan and in a forced run, mmap'd under memcheck so that memcheck
 * describes stale addresses by their freed blocks rather than by the chunk):
 *
 *   | struct tchunk | redzone [record] | block 0 | pad | redzone [record] | block 1 | pad | tail |
 *                   ^ data                     ^ user                           ^ data + used
 *
 * Every redzone is TRACK_REDZONE bytes and ends with the next block's record; a chunk always
 * keeps at least TRACK_REDZONE bytes after its last block, so every block has a redzone on both
 * sides. Everything but the blocks' own bytes is poisoned (ASan) or no-access (memcheck).
 */
#define TRACK_REDZONE      ((size_t)64)
#define TRACK_POOL_REDZONE (TRACK_REDZONE / 2) /* memcheck's redzone: each side of a gap */
/* Bytes of released chunks a heap keeps poisoned before their memory is used again. */
#define TRACK_QUARANTINE ((size_t)4 << 20)
#define RECORD_MAGIC     ((uintptr_t)0x57534842c0ffee11u)

struct tchunk {
    struct tchunk *next;
    size_t size;       /* usable bytes after the header */
    size_t used;       /* bytes of redzones, blocks and padding handed out */
    size_t map_size;   /* the mapping's length under memcheck; 0 when malloc'd */
    uint32_t released; /* the reset (heap's count after it) that released the chunk; 0: live */
    uint32_t n_blocks;
    uint32_t release_stack; /* that reset's stack (depot handle); 0 when none was recorded */
    int32_t release_tid;    /* the thread that called it */
};

/* The record in the redzone before every block. */
struct block_record {
    uint64_t size;       /* the size requested */
    uint64_t check;      /* the block's address ^ RECORD_MAGIC: a record, not stray bytes */
    uint32_t ordinal;    /* the block's index since the last reset */
    uint32_t generation; /* the heap's reset count when it was allocated */
    uint32_t stack;      /* stack depot handle; 0 when none was recorded */
    int32_t tid;         /* the allocating thread */
};

static_assert(sizeof(struct block_record) <= TRACK_REDZONE, "the record fits in a redzone");
static_assert(sizeof(struct tchunk) % WSH_ALIGN == 0, "chunk data stays 8-aligned");

struct tarena {
    struct wsh_heap heap;           /* first; its window stays empty */
    struct tchunk *current;         /* where blocks go; NULL before the first */
    struct tchunk *full;            /* every other chunk with live blocks */
    struct tchunk *q_head, *q_tail; /* the quarantine, oldest first */
    size_t q_size;                  /* bytes of chunks in the quarantine */
    size_t held;                    /* chunks with live blocks */
    size_t round_used;              /* bytes the untracked arena would have handed out */
    size_t next_size;               /* size of the next normal chunk */
    uint32_t n_blocks;              /* blocks since the last reset: the next ordinal */
    uint32_t resets;                /* the heap's reset count, kept under list_lock */
    unsigned stack_depth;           /* frames recorded per block; 0 under memcheck */
    bool memcheck;                  /* mempool requests, mmap'd chunks */
    struct tarena *prev, *next;     /* the list of tracked heaps (list_lock) */
};

/* Guards the list of tracked heaps and every tracked heap's chunk lists and records, so that a
 * description made from another thread (or an ASan report) reads them consistently. Tracked
 * heaps run under a sanitizer or valgrind, where one uncontended lock per call is noise. */
static struct wsh_mutex *const list_lock = &wsh_mutexes[WSH_MUTEX_TRACKED];
static struct tarena *tracked_heaps;

static char *chunk_data(struct tchunk *c)
{
    return (char *)(c + 1);
}

/* The largest chunk asked for: physical memory. Beyond it malloc would fail anyway, but ASan's
 * allocator aborts the process instead of answering NULL (unless allocator_may_return_null=1),
 * and a heap must answer E_OUTOFMEMORY. */
static size_t max_chunk_size(void)
{
    static size_t cached;
    size_t size = __atomic_load_n(&cached, __ATOMIC_RELAXED);

    if (size == 0) {
        long pages = sysconf(_SC_PHYS_PAGES);

        size = pages > 0 ? (size_t)pages * wsh_os_page_size() : (size_t)1 << 40;
        __atomic_store_n(&cached, size, __ATOMIC_RELAXED);
    }
    return size;
}

/* A new chunk of `size` usable bytes, all poisoned, counted in a->held; NULL when out of
 * memory. Caller holds list_lock. */
static struct tchunk *chunk_new_locked(struct tarena *a, size_t size)
{
    struct tchunk *c;
    size_t map_size = 0;

    wsh_assert(wsh_mutex_held(list_lock));
    if (size > max_chunk_size()) return NULL;
    if (a->memcheck) {
        map_size = wsh_align_up(sizeof *c + size, wsh_os_page_size());
        c = wsh_os_map(map_size, true);
    } else {
        c = wsh_os_malloc(sizeof *c + size);
    }
    if (c == NULL) return NULL;
    memset(c, 0, sizeof *c);
    c->size = size;
    c->map_size = map_size;
    wsh_track_poison(chunk_data(c), size);
    a->held += size;
    return c;
}

/* Gives a chunk that holds no live block back to the system. */
static void chunk_free(struct tchunk *c)
{
    if (c->map_size != 0)
        wsh_os_unmap(c, c->map_size);
    else
        wsh_os_free(c);
}

/* Reads the record before `user` (poisoned memory, opened for the copy). */
static void record_read(const char *user, struct block_record *out)
{
    const char *at = user - sizeof *out;

    wsh_track_define(at, sizeof *out);
    memcpy(out, at, sizeof *out);
    wsh_track_poison(at, sizeof *out);
}

static void record_write(char *user, const struct block_record *r)
{
    char *at = user - sizeof *r;

    wsh_track_unpoison(at, sizeof *r);
    memcpy(at, r, sizeof *r);
    wsh_track_poison(at, sizeof *r);
}

/* --- Backend operations ----------------------------------------------------------------------- */

static struct wsh_heap *tracked_create(const struct wsh_options *options)
{
    struct tarena *a = wsh_os_malloc(sizeof *a);

    if (a == NULL) return NULL;
    memset(a, 0, sizeof *a);
    a->next_size = WSH_ARENA_FIRST_CHUNK;
    a->memcheck = wsh_track_memcheck();
    /* memcheck records every block's stack itself; libunwind under valgrind is slow and makes
     * false reports (see docs/sanitizers.md). */
    a->stack_depth = a->memcheck ? 0 : options->stack_depth;
    if (a->stack_depth > 0) wsh_stack_init();
    if (a->memcheck) wsh_track_pool_create(a, TRACK_POOL_REDZONE);
    wsh_mutex_lock(list_lock);
    a->next = tracked_heaps;
    if (tracked_heaps != NULL) tracked_heaps->prev = a;
    tracked_heaps = a;
    wsh_mutex_unlock(list_lock);
    return &a->heap;
}

/* A chunk with room for `need` bytes (a block's redzone, bytes and padding, and the redzone
 * after it): a chunk of its own for a large block, else a new current chunk. Caller holds
 * list_lock. */
static struct tchunk *add_chunk_locked(struct tarena *a, size_t need)
{
    struct tchunk *c;

    wsh_assert(wsh_mutex_held(list_lock));
    if (a->current != NULL && wsh_arena_own_chunk(need, a->next_size)) {
        c = chunk_new_locked(a, need);
        if (c == NULL) return NULL;
        c->next = a->full;
        a->full = c;
        return c;
    }
    c = chunk_new_locked(a, need > a->next_size ? need : a->next_size);
    if (c == NULL) return NULL;
    if (a->current != NULL) {
        a->current->next = a->full;
        a->full = a->current;
    }
    a->current = c;
    a->next_size = wsh_arena_grow(a->next_size);
    return c;
}

static HRESULT tracked_alloc(struct wsh_heap *heap, size_t size, void **out)
{
    struct tarena *a = (struct tarena *)heap;
    struct block_record r;
    struct tchunk *c;
    size_t span, need;
    char *user;

    wsh_assert(heap->magic == WSH_HEAP_MAGIC && out != NULL);
    wsh_assert(size <= heap->max_size - heap->requested_size); /* the public layer's quota */
    wsh_assert(heap->cur == NULL && heap->limit == NULL);      /* the window stays empty */
    if (size > WSH_ARENA_MAX_REQUEST) return E_OUTOFMEMORY;
    span = TRACK_REDZONE + wsh_align_up(size, WSH_ALIGN);
    need = span + TRACK_REDZONE;
    memset(&r, 0, sizeof r);
    r.size = size;
    r.generation = a->resets; /* only this heap's thread writes it */
    r.tid = wsh_thread_id();
    /* Skip this frame: the stack starts in the public layer (alloc_slow, WsAlloc). */
    if (a->stack_depth > 0) r.stack = wsh_stack_record(a->stack_depth, 1);

    wsh_mutex_lock(list_lock);
    c = a->current;
    if (c == NULL || c->size - c->used < need) c = add_chunk_locked(a, need);
    if (c == NULL) {
        wsh_mutex_unlock(list_lock);
        return E_OUTOFMEMORY;
    }
    user = chunk_data(c) + c->used + TRACK_REDZONE;
    r.ordinal = a->n_blocks++;
    r.check = (uintptr_t)user ^ RECORD_MAGIC;
    record_write(user, &r);
    c->used += span;
    c->n_blocks++;
    wsh_mutex_unlock(list_lock);
    /* ACTUAL_SIZE counts the blocks as the untracked arena lays them out, without redzones. */
    a->round_used += size == 0 ? WSH_ALIGN : wsh_align_up(size, WSH_ALIGN);

    /* Only the block's own bytes become addressable; ASan keeps the bytes between `size` and
     * the next multiple of 8 poisoned, so even a 1-byte overrun of a 13-byte block is seen. */
    if (a->memcheck)
        wsh_track_pool_alloc(a, user, size);
    else
        wsh_track_unpoison(user, size);
    *out = user;
    return S_OK;
}

/* Appends the live chunk `c` to the quarantine, poisoned, as released by reset number `reset`
 * made by thread `tid` with stack `stack`. Caller holds list_lock. */
static void quarantine_locked(struct tarena *a, struct tchunk *c, uint32_t reset, uint32_t stack,
                              int32_t tid)
{
    wsh_assert(wsh_mutex_held(list_lock));
    wsh_track_poison(chunk_data(c), c->used);
    c->released = reset;
    c->release_stack = stack;
    c->release_tid = tid;
    c->next = NULL;
    if (a->q_tail != NULL)
        a->q_tail->next = c;
    else
        a->q_head = c;
    a->q_tail = c;
    a->q_size += c->size;
    a->held -= c->size;
}

static void tracked_reset(struct wsh_heap *heap)
{
    struct tarena *a = (struct tarena *)heap;
    struct tchunk *c, *next, *reuse = NULL;
    size_t used = 0, keep_limit, keep_size = 0;
    uint32_t stack = 0;
    int32_t tid = wsh_thread_id();

    wsh_assert(heap->magic == WSH_HEAP_MAGIC);
    if (a->round_used > heap->round_peak) heap->round_peak = a->round_used;
    a->round_used = 0;
    /* The reset's stack, for descriptions of the blocks it releases (as the guarded backend
     * and memcheck show one). Skip this frame: the stack starts in WsResetHeap. Only this
     * heap's thread changes its chunk lists, so it may look at them without the lock. */
    if (a->stack_depth > 0 && (a->current != NULL || a->full != NULL))
        stack = wsh_stack_record(a->stack_depth, 1);
    /* What the untracked arena would keep (policy.h): the single chunk when it is within
     * trimSize, else one chunk for the round and a quarter more, capped by trimSize. Here it is
     * a fresh chunk (or a recycled one of that size), never the one just released. */
    keep_limit = wsh_arena_keep_limit(heap->trim_size, heap->max_size);

    wsh_mutex_lock(list_lock);
    if (a->full == NULL) {
        if (a->current != NULL && a->current->size <= keep_limit) keep_size = a->current->size;
    } else {
        used = a->current != NULL ? a->current->used : 0;
        for (c = a->full; c != NULL; c = c->next)
            used += c->used;
        keep_size = wsh_arena_kept_size(used, keep_limit);
    }

    /* Memcheck first forgets the blocks (it keeps them as freed, with this reset's stack). */
    if (a->memcheck) wsh_track_pool_clear(a);
    a->resets++;
    if (a->current != NULL) quarantine_locked(a, a->current, a->resets, stack, tid);
    for (c = a->full; c != NULL; c = next) {
        next = c->next;
        quarantine_locked(a, c, a->resets, stack, tid);
    }
    a->current = a->full = NULL;
    a->n_blocks = 0;

    /* The quarantine is bounded: the oldest chunks leave it first. One of the size to keep is
     * recycled, so a program repeating the same round settles without system calls. */
    while (a->q_size > TRACK_QUARANTINE && a->q_head != NULL) {
        c = a->q_head;
        a->q_head = c->next;
        if (a->q_head == NULL) a->q_tail = NULL;
        a->q_size -= c->size;
        if (reuse == NULL && keep_size != 0 && c->size == keep_size)
            reuse = c;
        else
            chunk_free(c);
    }
    if (reuse != NULL) {
        size_t map_size = reuse->map_size;

        memset(reuse, 0, sizeof *reuse);
        reuse->size = keep_size;
        reuse->map_size = map_size;
        a->held += keep_size;
        a->current = reuse;
    } else if (keep_size != 0) {
        a->current = chunk_new_locked(a, keep_size); /* NULL: the next WsAlloc retries */
    }
    wsh_assert(a->held == (a->current != NULL ? a->current->size : 0));
    wsh_mutex_unlock(list_lock);
}

static void free_list(struct tchunk *c)
{
    struct tchunk *next;

    for (; c != NULL; c = next) {
        next = c->next;
        chunk_free(c);
    }
}

static void tracked_destroy(struct wsh_heap *heap)
{
    struct tarena *a = (struct tarena *)heap;

    wsh_mutex_lock(list_lock);
    if (a->prev != NULL)
        a->prev->next = a->next;
    else
        tracked_heaps = a->next;
    if (a->next != NULL) a->next->prev = a->prev;
    wsh_mutex_unlock(list_lock);
    if (a->memcheck) wsh_track_pool_destroy(a);
    if (a->current != NULL) chunk_free(a->current);
    free_list(a->full);
    free_list(a->q_head);
    wsh_os_free(a);
}

size_t wsh_arena_tracked_held(const struct wsh_heap *heap)
{
    return ((const struct tarena *)heap)->held;
}

/* Windows' figure, as for the untracked arena (policy.h), from the same bytes. */
static size_t tracked_actual_size(const struct wsh_heap *heap)
{
    return wsh_windows_actual_size(((const struct tarena *)heap)->round_used, heap->round_peak,
                                   heap->trim_size, heap->max_size);
}

const struct wsh_backend_ops wsh_arena_tracked_ops = {
    .name = "arena",
    .create = tracked_create,
    .alloc = tracked_alloc,
    .reset = tracked_reset,
    .destroy = tracked_destroy,
    .actual_size = tracked_actual_size,
};

/* --- Describing addresses --------------------------------------------------------------------- */

/* For memory of the released chunk `c`: the reset that released it, its thread and stack. */
static void describe_release(const struct tarena *a, const struct tchunk *c,
                             struct wsh_addr_info *out)
{
    out->released = c->released;
    if (c->released == 0) return;
    out->release_tid = c->release_tid;
    out->n_release_frames = wsh_describe_stack(c->release_stack, out->release_frames);
    if (out->n_release_frames == 0)
        out->release_stack_note = a->memcheck ? "recorded by memcheck (its report shows it)"
                                              : "not recorded (WSHEAP_STACK_DEPTH=0)";
}

static void describe_block(const struct tarena *a, const struct tchunk *c, const char *user,
                           const struct block_record *r, struct wsh_addr_info *out)
{
    out->block = (uintptr_t)user;
    out->block_size = (size_t)r->size;
    out->ordinal = r->ordinal;
    out->generation = r->generation;
    out->has_generation = true;
    out->tid = r->tid;
    out->kind = c->released != 0 ? WSHEAP_ADDRESS_RELEASED : WSHEAP_ADDRESS_BLOCK;
    describe_release(a, c, out);
    if (a->memcheck) {
        out->stack_note = "recorded by memcheck (its report shows it)";
        return;
    }
    out->n_frames = wsh_describe_stack(r->stack, out->frames);
    if (out->n_frames == 0) out->stack_note = "not recorded (WSHEAP_STACK_DEPTH=0)";
}

/* Finds the block of chunk `c` nearest to `addr` (which lies in the chunk). Caller holds
 * list_lock. */
static void describe_in_chunk(const struct tarena *a, struct tchunk *c, uintptr_t addr,
                              struct wsh_addr_info *out)
{
    char *data = chunk_data(c), *prev_user = NULL;
    struct block_record r, prev;
    size_t pos = 0;

    out->where = WSH_ADDR_NOWHERE;
    out->kind = WSHEAP_ADDRESS_HEAP;
    if (addr < (uintptr_t)data) {
        out->note = "a chunk header (wsheap's bookkeeping)";
        return;
    }
    while (pos + TRACK_REDZONE <= c->used) {
        char *user = data + pos + TRACK_REDZONE;
        size_t end;

        record_read(user, &r);
        if (r.check != ((uintptr_t)user ^ RECORD_MAGIC) || r.size > c->used - pos - TRACK_REDZONE) {
            out->note = "a chunk whose block records were overwritten";
            return;
        }
        end = pos + TRACK_REDZONE + wsh_align_up((size_t)r.size, WSH_ALIGN);
        if (addr < (uintptr_t)data + end) {
            if (addr >= (uintptr_t)user) {
                bool inside = addr < (uintptr_t)user + r.size;

                out->where = inside ? WSH_ADDR_INSIDE : WSH_ADDR_AFTER;
                out->distance = addr - (uintptr_t)user - (inside ? 0 : (size_t)r.size);
                describe_block(a, c, user, &r, out);
            } else if (prev_user != NULL &&
                       addr - ((uintptr_t)prev_user + prev.size) <= (uintptr_t)user - addr) {
                out->where = WSH_ADDR_AFTER;
                out->distance = addr - ((uintptr_t)prev_user + prev.size);
                describe_block(a, c, prev_user, &prev, out);
            } else {
                out->where = WSH_ADDR_BEFORE;
                out->distance = (uintptr_t)user - addr;
                describe_block(a, c, user, &r, out);
            }
            return;
        }
        prev = r;
        prev_user = user;
        pos = end;
    }
    if (prev_user != NULL && addr - ((uintptr_t)prev_user + prev.size) < TRACK_REDZONE) {
        out->where = WSH_ADDR_AFTER;
        out->distance = addr - ((uintptr_t)prev_user + prev.size);
        describe_block(a, c, prev_user, &prev, out);
        return;
    }
    out->note = c->released != 0 ? "a released chunk's space that no block used"
                                 : "chunk space not handed out yet";
    describe_release(a, c, out);
    if (c->released != 0) out->kind = WSHEAP_ADDRESS_RELEASED;
}

static struct tchunk *find_chunk(struct tchunk *c, uintptr_t addr)
{
    for (; c != NULL; c = c->next)
        if (addr >= (uintptr_t)c && addr < (uintptr_t)chunk_data(c) + c->size) return c;
    return NULL;
}

bool wsh_arena_tracked_describe(uintptr_t addr, bool may_block, struct wsh_addr_info *out)
{
    bool found = false;

    if (may_block)
        wsh_mutex_lock(list_lock);
    else if (!wsh_mutex_trylock(list_lock))
        return false;
    for (struct tarena *a = tracked_heaps; a != NULL && !found; a = a->next) {
        struct tchunk *c = NULL;

        if (a->current != NULL && find_chunk(a->current, addr) == a->current) c = a->current;
        if (c == NULL) c = find_chunk(a->full, addr);
        if (c == NULL) c = find_chunk(a->q_head, addr);
        if (c == NULL && (addr < (uintptr_t)a || addr >= (uintptr_t)(a + 1))) continue;
        found = true;
        out->heap = (uintptr_t)&a->heap;
        out->backend = "arena";
        /* Under the name lock (its owner may be renaming it); a report that must not block
         * shows the heap unnamed when the lock is busy. */
        wsh_name_copy(&a->heap, out->heap_name, may_block);
        out->heap_resets = a->resets;
        if (c != NULL) {
            describe_in_chunk(a, c, addr, out);
        } else {
            out->kind = WSHEAP_ADDRESS_HEAP;
            out->where = WSH_ADDR_NOWHERE;
            out->note = "the heap object itself (the WS_HEAP handle points here)";
        }
    }
    wsh_mutex_unlock(list_lock);
    return found;
}
