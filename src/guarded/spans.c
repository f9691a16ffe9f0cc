/* SPDX-License-Identifier: MIT */
/*
 * Guarded memory's spans: the address table that finds the span of any address without a lock,
 * span creation and unmapping, the quarantine that keeps released address space out of use for
 * a while, the readers of span headers that an unmapping waits for, and the mapping budget that
 * keeps the mprotect path clear of vm.max_map_count. Depends on the os layer and mutex.h only.
 * Lookups and reader counting are lock-free and async-signal-safe; everything else takes
 * backend_lock.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "../debug_info.h"
#include "../mutex.h"
#include "../os.h"
#include "spans.h"

#define REDZONE_PER_PAGE 16 /* record slots per page of a redzone span */

/* backend_lock guards the quarantine, the parked list, table leaf creation and the counters
 * below that are not atomic. Heaps themselves need no lock (one thread at a time each). */
static struct wsh_mutex *const backend_lock = &wsh_mutexes[WSH_MUTEX_SPANS];
static struct wsh_span *quarantine_head; /* oldest first */
static struct wsh_span *quarantine_tail;
static size_t quarantine_bytes;
static size_t n_quarantined;
static atomic_size_t quarantine_limit; /* WSHEAP_QUARANTINE_MB of the latest heap created */
static struct wsh_span *parked;        /* released while a signal handler ran: never unmapped */
static size_t n_parked;
static atomic_size_t n_live_spans;
static atomic_size_t n_redzone_blocks;
static atomic_size_t map_estimate; /* mappings this backend has added (estimate) */
static atomic_size_t map_baseline; /* the process's other mappings (re-counted now and then) */
static atomic_size_t budget_denials;
static atomic_size_t map_limit_override;
static size_t map_limit_system;
static pthread_once_t spans_once = PTHREAD_ONCE_INIT;

atomic_int wsh_handlers_active;

static size_t page_size(void)
{
    return wsh_os_page_size();
}

static void forget_readers(void);

/* Counts the process's mappings and reads vm.max_map_count, once, before the first span; from
 * then on a fork child forgets the readers of span headers counted by the parent's threads. */
static void spans_init(void)
{
    atomic_store_explicit(&map_baseline, wsh_os_count_mappings(), memory_order_relaxed);
    map_limit_system = wsh_os_max_map_count();
    pthread_atfork(NULL, NULL, forget_readers);
}

/* --- Address table: address -> span, lock-free reads ------------------------------------------ */

/*
 * Two levels over the 47-bit user address space: top[addr >> 32] points to a leaf of 2^16
 * slots, one per 64 KiB granule of that 4 GiB. Leaves are created on demand (under
 * backend_lock) and never freed, so a reader that loaded a leaf pointer can always use it.
 */
#define TOP_SHIFT    32
#define TOP_ENTRIES  ((size_t)1 << (47 - TOP_SHIFT))
#define LEAF_ENTRIES ((size_t)1 << (TOP_SHIFT - WSH_SPAN_GRANULE_SHIFT))

typedef _Atomic(struct wsh_span *) span_slot;
static _Atomic(span_slot *) table[TOP_ENTRIES];

/* Where the table is, for debuggers (the anchor in ../debug_info.c). */
const struct wsh_debug_table wsh_debug_spans = {(const volatile void *)table, NULL, TOP_ENTRIES,
                                                TOP_SHIFT, LEAF_ENTRIES};

struct wsh_span *wsh_span_lookup(uintptr_t addr)
{
    span_slot *leaf;
    struct wsh_span *s;

    if (addr >> 47 != 0) return NULL;
    leaf = atomic_load_explicit(&table[addr >> TOP_SHIFT], memory_order_acquire);
    if (leaf == NULL) return NULL;
    s = atomic_load_explicit(&leaf[(addr >> WSH_SPAN_GRANULE_SHIFT) & (LEAF_ENTRIES - 1)],
                             memory_order_acquire);
    if (s == NULL || addr < (uintptr_t)s->base || addr - (uintptr_t)s->base >= s->size) return NULL;
    return s;
}

/* Leaves come from pools of LEAVES_PER_POOL, mapped at once and never freed: one request for
 * the first 256 GiB of guarded address space, so that how many requests a heap makes does not
 * depend on where the kernel happens to place its spans. */
#define LEAVES_PER_POOL 64
#define LEAF_BYTES      (LEAF_ENTRIES * sizeof(span_slot))

static span_slot *leaf_pool;  /* under backend_lock */
static size_t leaf_pool_left; /* leaves left in it */

static span_slot *new_leaf_locked(void)
{
    span_slot *leaf;

    wsh_assert(wsh_mutex_held(backend_lock));
    if (leaf_pool_left == 0) {
        span_slot *pool = wsh_os_map(LEAVES_PER_POOL * LEAF_BYTES, true);

        if (pool == NULL) return NULL;
        WSH_MEMCHECK_NOACCESS(pool, LEAVES_PER_POOL * LEAF_BYTES); /* see spans.h */
        atomic_fetch_add_explicit(&map_estimate, 1, memory_order_relaxed);
        leaf_pool = pool;
        leaf_pool_left = LEAVES_PER_POOL;
    }
    leaf = leaf_pool;
    leaf_pool += LEAF_ENTRIES;
    leaf_pool_left--;
    WSH_MEMCHECK_DEFINED(leaf, LEAF_BYTES);
    return leaf;
}

/* Points every granule of `s` at `s` (or at NULL when `s` is being removed). False when a leaf
 * could not be mapped; nothing is registered then. Caller holds backend_lock. */
static bool table_set_locked(struct wsh_span *s, struct wsh_span *value)
{
    uintptr_t first = (uintptr_t)s->base, last = first + s->size - 1;

    wsh_assert(wsh_mutex_held(backend_lock));
    for (uintptr_t top = first >> TOP_SHIFT; top <= last >> TOP_SHIFT; top++) {
        if (atomic_load_explicit(&table[top], memory_order_relaxed) == NULL) {
            span_slot *leaf;

            if (value == NULL) continue;
            leaf = new_leaf_locked();
            if (leaf == NULL) return false;
            atomic_store_explicit(&table[top], leaf, memory_order_release);
        }
    }
    for (uintptr_t a = first; a <= last; a += WSH_SPAN_GRANULE) {
        span_slot *leaf = atomic_load_explicit(&table[a >> TOP_SHIFT], memory_order_relaxed);

        if (leaf != NULL)
            atomic_store_explicit(&leaf[(a >> WSH_SPAN_GRANULE_SHIFT) & (LEAF_ENTRIES - 1)], value,
                                  memory_order_seq_cst);
    }
    return true;
}

/* --- Readers of span headers ------------------------------------------------------------------ */

/*
 * wsh_guarded_describe reads span headers without a lock, for the signal handler and for
 * wsheap_describe_address on any thread, while another thread may be unmapping spans (a
 * WsFreeHeap trimming the quarantine). A reader counts itself in the slot of the current
 * epoch for as long as it reads; span_unmap_locked takes the span out of the address table,
 * moves the epoch on and waits until the old slot is empty: a reader that came later counts in
 * the other slot and cannot find the span any more, so a steady stream of readers cannot hold
 * an unmapping up. Readers never wait (a reader may be a signal handler that interrupted the
 * unmapping thread); each unmapping waits at most for the readers already inside.
 */
static atomic_uint reader_epoch;   /* changed under backend_lock only */
static atomic_size_t n_readers[2]; /* readers inside, by the parity of their epoch */

unsigned wsh_span_readers_enter(void)
{
    for (;;) {
        unsigned e = atomic_load_explicit(&reader_epoch, memory_order_seq_cst);

        atomic_fetch_add_explicit(&n_readers[e & 1], 1, memory_order_seq_cst);
        /* Still the same epoch: an unmapping that comes later sees this reader in the slot it
         * drains; otherwise count again in the new slot. */
        if (atomic_load_explicit(&reader_epoch, memory_order_seq_cst) == e) return e;
        atomic_fetch_sub_explicit(&n_readers[e & 1], 1, memory_order_release);
    }
}

void wsh_span_readers_leave(unsigned epoch)
{
    atomic_fetch_sub_explicit(&n_readers[epoch & 1], 1, memory_order_release);
}

/* Waits until no reader that may have found a span before it left the address table (seq_cst
 * stores, table_set_locked) is still inside. Caller holds backend_lock. */
static void readers_drain_locked(void)
{
    unsigned e = atomic_load_explicit(&reader_epoch, memory_order_relaxed);

    wsh_assert(wsh_mutex_held(backend_lock));
    atomic_store_explicit(&reader_epoch, e + 1, memory_order_seq_cst);
    while (atomic_load_explicit(&n_readers[e & 1], memory_order_seq_cst) != 0)
        sched_yield();
}

/* In a fork child: the readers the parent's other threads counted are not in this process. */
static void forget_readers(void)
{
    atomic_store_explicit(&n_readers[0], 0, memory_order_relaxed);
    atomic_store_explicit(&n_readers[1], 0, memory_order_relaxed);
}

/* --- Mapping budget (mprotect path only) ------------------------------------------------------ */

static size_t map_limit(void)
{
    size_t v = atomic_load_explicit(&map_limit_override, memory_order_relaxed);

    return v != 0 ? v : map_limit_system;
}

/* The headroom leaves room for what the rest of the process maps (threads, malloc arenas,
 * libraries); a test override is exact. */
bool wsh_map_budget_allows(size_t n)
{
    size_t limit = map_limit();
    size_t headroom =
        atomic_load_explicit(&map_limit_override, memory_order_relaxed) != 0 ? 0 : limit / 16;
    size_t ours = atomic_load_explicit(&map_estimate, memory_order_relaxed);
    size_t used = atomic_load_explicit(&map_baseline, memory_order_relaxed) + ours, real;

    if (used + n + headroom <= limit) return true;
    /* Before saying no, once in a while (reading /proc/self/maps takes tens of milliseconds at
     * 60,000 mappings) count what the process really has: the rest of the program maps and
     * unmaps too. Not under the test override, whose budget is exact. */
    if (headroom == 0 ||
        atomic_fetch_add_explicit(&budget_denials, 1, memory_order_relaxed) % 65536 != 0)
        return false;
    real = wsh_os_count_mappings();
    if (real == 0) return false;
    atomic_store_explicit(&map_baseline, real > ours ? real - ours : 0, memory_order_relaxed);
    return real + n + headroom <= limit;
}

void wsh_map_budget_charge(size_t n)
{
    atomic_fetch_add_explicit(&map_estimate, n, memory_order_relaxed);
}

void wsh_map_budget_refund(size_t n)
{
    atomic_fetch_sub_explicit(&map_estimate, n, memory_order_relaxed);
}

/* --- Spans ------------------------------------------------------------------------------------ */

/*
 * Ranges from this size up are released with fresh PROT_NONE memory even in guard-advice
 * spans. A guard marker is a page-table entry per page: 2 MiB of page tables per GiB, installed
 * at about 6 ms per GiB and freed again at munmap (measured, docs/guarded.md: a 1 TiB block's
 * reset took 11.6 s and left 2 GiB of page tables behind, its unmapping 5.5 s more). The
 * mapping costs one or two VMAs and no page tables, in about 0.1 ms whatever the size; below
 * 64 MiB the markers cost at most 128 KiB and 0.4 ms, and keep the span one mapping.
 */
#define HIDE_BY_REMAP ((size_t)64 << 20)

bool wsh_span_hide(const struct wsh_span *s, char *addr, size_t size)
{
    wsh_assert(s->magic == WSH_SPAN_MAGIC);
    if (size == 0) return true;
    WSH_MEMCHECK_NOACCESS(addr, size);
    if (s->guard_advice && size < HIDE_BY_REMAP && wsh_os_guard_install(addr, size)) return true;
    /* No guard advice (or it failed): fresh PROT_NONE memory over the range. Not mprotect,
     * which would leave every block's mapping split off (pages once written keep an anon_vma
     * of their own, and the kernel does not merge those back). */
    if (wsh_os_remap_inaccessible(addr, size)) return true;
    if (!wsh_os_protect(addr, size, false)) return false;
    wsh_os_discard(addr, size);
    return true;
}

struct wsh_span *wsh_span_create(enum wsh_span_kind kind, size_t size, size_t area_need,
                                 size_t obj_pages, struct wsh_span *home, uint32_t create_stack,
                                 int32_t create_tid)
{
    size_t page = page_size();
    bool advice = wsh_os_has_guard_advice();
    size_t capacity, header, n_vmas;
    struct wsh_span *s;
    char *base, *area;

    pthread_once(&spans_once, spans_init);
    size = wsh_align_up(size, WSH_SPAN_GRANULE);
    for (;;) { /* the header grows with the span; a few rounds at most */
        capacity = 0;
        if (kind == WSH_SPAN_BLOCKS)
            capacity = size / page / 2;
        else if (kind == WSH_SPAN_REDZONE)
            capacity = size / page * REDZONE_PER_PAGE;
        header = wsh_align_up(sizeof(struct wsh_span) + capacity * sizeof(struct wsh_block), page);
        if (header + area_need <= size) break;
        size = wsh_align_up(header + area_need, WSH_SPAN_GRANULE);
    }

    base = wsh_os_map_aligned(size, WSH_SPAN_GRANULE, advice);
    if (base == NULL) return NULL;
    area = base + header;
    if (((uintptr_t)base + size - 1) >> 47 != 0) goto fail; /* beyond the address table */
    if (advice) {
        /* One guard page after the header (HOME: after the heap object). */
        char *guard = kind == WSH_SPAN_HOME ? area + obj_pages * page : area;
        bool ok = wsh_os_guard_install(guard, page);

        if (ok && kind == WSH_SPAN_REDZONE) ok = wsh_os_guard_install(base + size - page, page);
        if (!ok) goto fail;
        n_vmas = 1;
    } else {
        size_t open = header;

        if (kind == WSH_SPAN_HOME) open += obj_pages * page;
        if (!wsh_os_protect(base, open, true)) goto fail;
        n_vmas = 2;
        if (kind == WSH_SPAN_REDZONE) {
            if (!wsh_os_protect(area + page, size - header - 2 * page, true)) goto fail;
            n_vmas = 4; /* | header | G | area | G | */
        }
    }

    s = (struct wsh_span *)base;
    s->magic = WSH_SPAN_MAGIC;
    s->kind = (uint8_t)kind;
    s->guard_advice = advice;
    atomic_store_explicit(&s->state, WSH_SPAN_LIVE, memory_order_relaxed);
    s->base = base;
    s->size = size;
    s->area = area;
    s->bump = kind == WSH_SPAN_HOME ? area : area + page;
    s->hide_from = area;
    s->batch_start = s->batch_end = NULL;
    s->run_start = s->run_end = NULL;
    s->run_broken = false;
    s->live_from = 0;
    s->blocks = (struct wsh_block *)(s + 1);
    s->capacity = capacity;
    atomic_store_explicit(&s->n_blocks, 0, memory_order_relaxed);
    s->n_vmas = n_vmas;
    /* Every field a lookup reads is written before the span enters the address table: that
     * store is the release that a lookup's acquire load pairs with. A HOME span is its own
     * home and holds the heap object at its area. */
    if (kind == WSH_SPAN_HOME) {
        s->home = s;
        s->heap = (struct wsh_heap *)area;
        s->heap_size = obj_pages * page;
        s->create_stack = create_stack;
        s->create_tid = create_tid;
    } else {
        s->home = home;
    }
    if (kind == WSH_SPAN_HOME)
        WSH_MEMCHECK_NOACCESS(area + obj_pages * page,
                              (size_t)(base + size - area) - obj_pages * page);
    else
        WSH_MEMCHECK_NOACCESS(area, (size_t)(base + size - area));

    wsh_mutex_lock(backend_lock);
    if (!table_set_locked(s, s)) {
        wsh_mutex_unlock(backend_lock);
        goto fail;
    }
    wsh_mutex_unlock(backend_lock);
    atomic_fetch_add_explicit(&map_estimate, n_vmas, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_live_spans, 1, memory_order_relaxed);
    return s;

fail:
    wsh_os_unmap(base, size);
    return NULL;
}

/* Removes `s` from the table and unmaps it once no reader of span headers (wsh_span_readers_enter)
 * can still be reading it; unless a signal handler may be reading it: then it is parked for good
 * (the process is about to die anyway). Caller holds backend_lock. */
static void span_unmap_locked(struct wsh_span *s)
{
    wsh_assert(wsh_mutex_held(backend_lock));
    wsh_assert(s->magic == WSH_SPAN_MAGIC);
    table_set_locked(s, NULL);
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&wsh_handlers_active, memory_order_seq_cst) != 0) {
        s->next = parked;
        parked = s;
        n_parked++;
        return;
    }
    readers_drain_locked(); /* wsheap_describe_address on another thread may be reading it */
    atomic_fetch_sub_explicit(&map_estimate, s->n_vmas, memory_order_relaxed);
    wsh_os_unmap(s->base, s->size);
}

/* Unmaps the oldest quarantined span; returns its size. The quarantine is not empty. */
static size_t quarantine_pop_locked(void)
{
    struct wsh_span *s = quarantine_head;
    size_t size = s->size;

    wsh_assert(wsh_mutex_held(backend_lock));
    quarantine_head = s->next;
    if (quarantine_head == NULL) quarantine_tail = NULL;
    quarantine_bytes -= size;
    n_quarantined--;
    span_unmap_locked(s);
    return size;
}

/* Unmaps the oldest quarantined spans until the quarantine fits in `limit` bytes. */
static void quarantine_trim_locked(size_t limit)
{
    wsh_assert(wsh_mutex_held(backend_lock));
    /* The newest span stays, even alone above the limit (unless the limit is 0), so that the
     * memory a heap has just left is always checked. */
    while (quarantine_head != NULL && quarantine_bytes > limit &&
           (limit == 0 || quarantine_head != quarantine_tail))
        quarantine_pop_locked();
}

size_t wsh_quarantine_evict(size_t want)
{
    size_t freed = 0;

    wsh_mutex_lock(backend_lock);
    while (quarantine_head != NULL && freed < want)
        freed += quarantine_pop_locked();
    wsh_mutex_unlock(backend_lock);
    return freed;
}

void wsh_quarantine_add(struct wsh_span *first)
{
    size_t limit = atomic_load_explicit(&quarantine_limit, memory_order_relaxed);
    size_t bytes = 0, n = 0;
    struct wsh_span *last = NULL;

    if (first == NULL) return;
    for (struct wsh_span *s = first; s != NULL; s = s->next) {
        wsh_assert(s->magic == WSH_SPAN_MAGIC);
        bytes += s->size;
        n++;
        last = s;
    }
    atomic_fetch_sub_explicit(&n_live_spans, n, memory_order_relaxed);
    wsh_mutex_lock(backend_lock);
    if (quarantine_tail != NULL)
        quarantine_tail->next = first;
    else
        quarantine_head = first;
    quarantine_tail = last;
    quarantine_bytes += bytes;
    n_quarantined += n;
    quarantine_trim_locked(limit);
    wsh_mutex_unlock(backend_lock);
}

void wsh_quarantine_set_limit(size_t limit)
{
    atomic_store_explicit(&quarantine_limit, limit, memory_order_relaxed);
}

void wsh_span_add_block(struct wsh_span *s, const struct wsh_block *b)
{
    size_t n = atomic_load_explicit(&s->n_blocks, memory_order_relaxed);

    wsh_assert(s->magic == WSH_SPAN_MAGIC && n < s->capacity);
    s->blocks[n] = *b;
    atomic_store_explicit(&s->n_blocks, n + 1, memory_order_release);
    if (s->kind == WSH_SPAN_REDZONE)
        atomic_fetch_add_explicit(&n_redzone_blocks, 1, memory_order_relaxed);
}

/* --- Statistics and test hooks ---------------------------------------------------------------- */

void wsh_guarded_get_stats(struct wsh_guarded_stats *out)
{
    pthread_once(&spans_once, spans_init);
    memset(out, 0, sizeof *out);
    wsh_mutex_lock(backend_lock);
    out->quarantined_spans = n_quarantined;
    out->quarantine_size = quarantine_bytes;
    out->parked_spans = n_parked;
    wsh_mutex_unlock(backend_lock);
    out->live_spans = atomic_load_explicit(&n_live_spans, memory_order_relaxed);
    out->redzone_blocks = atomic_load_explicit(&n_redzone_blocks, memory_order_relaxed);
    out->map_estimate = atomic_load_explicit(&map_baseline, memory_order_relaxed) +
                        atomic_load_explicit(&map_estimate, memory_order_relaxed);
    out->map_limit = map_limit();
    out->guard_advice = wsh_os_has_guard_advice();
}

void wsh_guarded_set_map_limit(size_t limit)
{
    pthread_once(&spans_once, spans_init);
    atomic_store_explicit(&map_limit_override, limit, memory_order_relaxed);
}

void wsh_guarded_flush_quarantine(void)
{
    wsh_mutex_lock(backend_lock);
    quarantine_trim_locked(0);
    wsh_mutex_unlock(backend_lock);
}
