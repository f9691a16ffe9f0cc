/* SPDX-License-Identifier: MIT */
/*
 * The guarded backend (WSHEAP_PAGEHEAP=1), the Linux counterpart of Windows PageHeap: every
 * WsAlloc gets its own data page(s) next to a guard page, pattern bytes fill what the block
 * does not use, and WsResetHeap / WsFreeHeap make the memory inaccessible and keep its address
 * space out of use for a while (the quarantine), so overruns and stale pointers trap at once.
 * Invariant: a block's data pages are followed by a guard page, and every byte of them that is
 * not the block's holds the pattern until the block is released.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "../os.h"
#include "../track.h"
#include "guarded.h"

/* Under valgrind memcheck, guarded memory that holds no block is marked no-access: memcheck's
 * leak search at exit then skips it (it would otherwise read every guard page of every span,
 * catching a fault per page, for minutes). ASan builds do not poison it: the guard pages must
 * trap and be reported by wsheap, not by ASan. */
#if WSH_TRACK_VALGRIND
#define MEMCHECK_NOACCESS(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define MEMCHECK_DEFINED(p, n)  ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define MEMCHECK_NOACCESS(p, n) ((void)(p), (void)(n))
#define MEMCHECK_DEFINED(p, n)  ((void)(p), (void)(n))
#endif

/*
 * Placement of one block of `size` bytes in its data pages (n = ceil(size / page), at least 1):
 *
 *   forward (default)  | G | [pattern .......... ][user bytes][<8 slack] | G |
 *   backward           | G | [user bytes][pattern ......................] | G |
 *   unaligned          | G | [pattern ............][user bytes exactly] | G |
 *                           ^ data                                        ^ data + n pages
 *
 * Forward keeps the pointer 8-byte aligned, so up to 7 slack bytes sit between the block and
 * the guard; they and the unused head of the first page hold the canary pattern
 * (wsh_canary_byte), checked at WsResetHeap and WsFreeHeap. A zero-size block is placed as a
 * one-byte block would be (its pointer is readable and distinct), except in unaligned mode,
 * where it points at the guard page itself.
 *
 * Redzone-only blocks (the mapping budget is nearly used up, on kernels without
 * MADV_GUARD_INSTALL) are packed in spans of their own, each between pattern-filled redzones:
 *
 *   | 16-byte redzone | user bytes | pattern to the next multiple of 8, then 16 bytes |
 */
#define REDZONE ((size_t)16)

#define MIN_SPAN         ((size_t)256 << 10) /* the first blocks span of a heap */
#define MAX_SPAN         ((size_t)1 << 34) /* spans double up to this, unless a block needs more */
#define MAX_REQUEST      ((size_t)1 << 40) /* larger requests fail before any arithmetic */
#define REDZONE_PER_PAGE 16                /* record slots per page of a redzone span */

/* The heap object: the public part first, then the backend's state. */
struct gheap {
    struct wsh_heap pub;
    struct wsh_span *home;        /* the span this object lives in */
    struct wsh_span *spans;       /* every span used since the last reset, newest first */
    struct wsh_span *cur_blocks;  /* the blocks span being filled, or NULL */
    struct wsh_span *cur_redzone; /* the redzone span being filled, or NULL */
    size_t data_size;             /* WS_HEAP_PROPERTY_ACTUAL_SIZE */
    size_t next_span;             /* size of the next blocks span */
    size_t next_redzone_span;     /* size of the next redzone span */
    uint32_t n_blocks;            /* ordinal of the next block */
    unsigned stack_depth;         /* WSHEAP_STACK_DEPTH at creation */
    bool backward;                /* WSHEAP_PAGEHEAP_BACKWARD at creation */
    bool unaligned;               /* WSHEAP_PAGEHEAP_UNALIGNED at creation */
    /* The call inside the heap now: 0 when none, else owner_word(call, thread id). One word,
     * so that a thread that finds the heap busy reads who is inside and in which call at
     * once (see heap_enter). */
    _Atomic uint64_t owner;
};

static struct gheap *gheap_of(struct wsh_heap *heap)
{
    return (struct gheap *)heap;
}

static size_t page_size(void)
{
    return wsh_os_page_size();
}

/* --- One thread at a time --------------------------------------------------------------------- */

/*
 * A WS_HEAP is used by one thread at a time; two calls on one heap at once would corrupt its
 * spans silently (two blocks on the same pages, a record overwritten). Each guarded
 * WsAlloc / WsResetHeap / WsFreeHeap therefore claims the heap with one compare-and-swap of
 * `owner` from 0 and gives it back with one release store: a few nanoseconds against the
 * microseconds a guarded call costs. A claim that finds the heap taken is reported as
 * concurrent-use and the process dies. WS_HEAP_PROPERTY_ACTUAL_SIZE only reads, and is not
 * checked: the statistics read it at exit, when a thread may still be inside a call.
 */
enum heap_call { CALL_ALLOC = 1, CALL_RESET, CALL_FREE };

static const char *call_name(uint64_t call)
{
    return call == CALL_ALLOC ? "WsAlloc" : call == CALL_RESET ? "WsResetHeap" : "WsFreeHeap";
}

static uint64_t owner_word(enum heap_call call, int32_t tid)
{
    return (uint64_t)call << 32 | (uint32_t)tid;
}

/* Test hook (wsh_guarded_test_set_inside_hook): called while a call holds its heap. */
static _Atomic(wsh_guarded_test_hook *) inside_hook;

void wsh_guarded_test_set_inside_hook(wsh_guarded_test_hook *hook)
{
    atomic_store_explicit(&inside_hook, hook, memory_order_release);
}

static WSH_COLD _Noreturn void die_concurrent(struct gheap *g, enum heap_call call, uint64_t other);

/* Claims `g` for `call` by the calling thread; reports and dies when another call holds it
 * (another thread's, or this thread's own from a signal handler). Acquire pairs with
 * heap_leave's release: the next owner sees everything the previous one wrote. */
static inline __attribute__((always_inline)) void heap_enter(struct gheap *g, enum heap_call call)
{
    uint64_t expected = 0;
    wsh_guarded_test_hook *hook;

    if (WSH_UNLIKELY(!atomic_compare_exchange_strong_explicit(
            &g->owner, &expected, owner_word(call, wsh_thread_id()), memory_order_acquire,
            memory_order_relaxed)))
        die_concurrent(g, call, expected);
    hook = atomic_load_explicit(&inside_hook, memory_order_relaxed);
    if (WSH_UNLIKELY(hook != NULL)) hook((WS_HEAP *)&g->pub, call_name(call));
}

static inline void heap_leave(struct gheap *g)
{
    atomic_store_explicit(&g->owner, 0, memory_order_release);
}

/* --- Process-wide state ----------------------------------------------------------------------- */

/* backend_lock guards the quarantine, the parked list, table leaf creation and the counters
 * below that are not atomic. Heaps themselves need no lock (one thread at a time each). */
static pthread_mutex_t backend_lock = PTHREAD_MUTEX_INITIALIZER;
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
static atomic_bool budget_warned;
static pthread_once_t backend_once = PTHREAD_ONCE_INIT;

atomic_int wsh_handlers_active;

static void before_fork(void)
{
    pthread_mutex_lock(&backend_lock);
}

static void after_fork(void)
{
    pthread_mutex_unlock(&backend_lock);
}

static void forget_readers(void);

static void after_fork_child(void)
{
    forget_readers();
    pthread_mutex_unlock(&backend_lock);
}

static _Thread_local int32_t cached_tid;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;

static void forget_tid(void)
{
    cached_tid = 0; /* in a fork child: its only thread has an id of its own */
}

static void watch_forks_for_tid(void)
{
    pthread_atfork(NULL, NULL, forget_tid);
}

int32_t wsh_thread_id(void)
{
    if (WSH_UNLIKELY(cached_tid == 0)) {
        pthread_once(&tid_once, watch_forks_for_tid);
        cached_tid = wsh_os_thread_id();
    }
    return cached_tid;
}

static void backend_init(void)
{
    wsh_stack_init();
    atomic_store_explicit(&map_baseline, wsh_os_count_mappings(), memory_order_relaxed);
    map_limit_system = wsh_os_max_map_count();
    pthread_atfork(before_fork, after_fork, after_fork_child);
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
static atomic_uint reader_epoch;            /* changed under backend_lock only */
static atomic_size_t n_readers[2];          /* readers inside, by the parity of their epoch */
static void (*_Atomic describe_hook)(void); /* wsh_guarded_test_set_describe_hook */

/* Enters a read of span headers; returns the epoch to give readers_leave. Lock-free and
 * async-signal-safe. */
static unsigned readers_enter(void)
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

static void readers_leave(unsigned epoch)
{
    atomic_fetch_sub_explicit(&n_readers[epoch & 1], 1, memory_order_release);
}

/* Waits until no reader that may have found a span before it left the address table (seq_cst
 * stores, table_set_locked) is still inside. Caller holds backend_lock. */
static void readers_drain_locked(void)
{
    unsigned e = atomic_load_explicit(&reader_epoch, memory_order_relaxed);

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

void wsh_guarded_test_set_describe_hook(void (*hook)(void))
{
    atomic_store_explicit(&describe_hook, hook, memory_order_release);
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

    if (leaf_pool_left == 0) {
        span_slot *pool = wsh_os_map(LEAVES_PER_POOL * LEAF_BYTES, true);

        if (pool == NULL) return NULL;
        MEMCHECK_NOACCESS(pool, LEAVES_PER_POOL * LEAF_BYTES); /* see the top of the file */
        atomic_fetch_add_explicit(&map_estimate, 1, memory_order_relaxed);
        leaf_pool = pool;
        leaf_pool_left = LEAVES_PER_POOL;
    }
    leaf = leaf_pool;
    leaf_pool += LEAF_ENTRIES;
    leaf_pool_left--;
    MEMCHECK_DEFINED(leaf, LEAF_BYTES);
    return leaf;
}

/* Points every granule of `s` at `s` (or at NULL when `s` is being removed). False when a leaf
 * could not be mapped; nothing is registered then. Caller holds backend_lock. */
static bool table_set_locked(struct wsh_span *s, struct wsh_span *value)
{
    uintptr_t first = (uintptr_t)s->base, last = first + s->size - 1;

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

/* --- Mapping budget (mprotect path only) ------------------------------------------------------ */

static size_t map_limit(void)
{
    size_t v = atomic_load_explicit(&map_limit_override, memory_order_relaxed);

    return v != 0 ? v : map_limit_system;
}

/* True when `n` more mappings keep the process clear of vm.max_map_count. The headroom leaves
 * room for what the rest of the process maps (threads, malloc arenas, libraries); a test
 * override is exact. */
static bool budget_allows(size_t n)
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

static void warn_budget_once(void)
{
    if (!atomic_exchange_explicit(&budget_warned, true, memory_order_relaxed))
        wsh_warn("guarded backend: the process is near vm.max_map_count; further blocks get "
                 "pattern-checked redzones instead of guard pages (overruns are then found at "
                 "WsResetHeap/WsFreeHeap). Raise vm.max_map_count, or run Linux 6.13+ "
                 "(MADV_GUARD_INSTALL), for guard pages on every block");
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

/* Makes [addr, addr + size) inaccessible and drops its contents, the way `s` was built. */
static bool hide_range(const struct wsh_span *s, char *addr, size_t size)
{
    if (size == 0) return true;
    MEMCHECK_NOACCESS(addr, size);
    if (s->guard_advice && size < HIDE_BY_REMAP && wsh_os_guard_install(addr, size)) return true;
    /* No guard advice (or it failed): fresh PROT_NONE memory over the range. Not mprotect,
     * which would leave every block's mapping split off (pages once written keep an anon_vma
     * of their own, and the kernel does not merge those back). */
    if (wsh_os_remap_inaccessible(addr, size)) return true;
    if (!wsh_os_protect(addr, size, false)) return false;
    wsh_os_discard(addr, size);
    return true;
}

/*
 * Creates a span of at least `size` bytes whose area (after the header) has at least
 * `area_need` bytes. Layout by kind:
 *   HOME     | header | heap object (obj_pages) | G | unused |
 *   BLOCKS   | header + records | G | block area ......... |
 *   REDZONE  | header + records | G | packed area ....... | G |
 * With guard advice the mapping is read-write and guard pages are markers; without it the
 * mapping starts PROT_NONE and only the header (and the heap object) are opened.
 */
static struct wsh_span *span_create(enum wsh_span_kind kind, size_t size, size_t area_need,
                                    size_t obj_pages, struct wsh_span *home, uint32_t create_stack)
{
    size_t page = page_size();
    bool advice = wsh_os_has_guard_advice();
    size_t capacity, header, n_vmas;
    struct wsh_span *s;
    char *base, *area;

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
        s->create_stack = create_stack;
        s->create_tid = wsh_thread_id();
    } else {
        s->home = home;
    }
    if (kind == WSH_SPAN_HOME)
        MEMCHECK_NOACCESS(area + obj_pages * page, (size_t)(base + size - area) - obj_pages * page);
    else
        MEMCHECK_NOACCESS(area, (size_t)(base + size - area));

    pthread_mutex_lock(&backend_lock);
    if (!table_set_locked(s, s)) {
        pthread_mutex_unlock(&backend_lock);
        goto fail;
    }
    pthread_mutex_unlock(&backend_lock);
    atomic_fetch_add_explicit(&map_estimate, n_vmas, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_live_spans, 1, memory_order_relaxed);
    return s;

fail:
    wsh_os_unmap(base, size);
    return NULL;
}

/* Removes `s` from the table and unmaps it once no reader of span headers (readers_enter) can
 * still be reading it; unless a signal handler may be reading it: then it is parked for good
 * (the process is about to die anyway). Caller holds backend_lock. */
static void span_unmap_locked(struct wsh_span *s)
{
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
    /* The newest span stays, even alone above the limit (unless the limit is 0), so that the
     * memory a heap has just left is always checked. */
    while (quarantine_head != NULL && quarantine_bytes > limit &&
           (limit == 0 || quarantine_head != quarantine_tail))
        quarantine_pop_locked();
}

/* Out of address space (RLIMIT_AS, or a full 47-bit space): unmaps the oldest quarantined
 * spans, the newest too if need be, until `want` bytes of address space are given back or the
 * quarantine is empty. Returns the bytes given back; 0 when there was nothing to give. */
static size_t quarantine_evict(size_t want)
{
    size_t freed = 0;

    pthread_mutex_lock(&backend_lock);
    while (quarantine_head != NULL && freed < want)
        freed += quarantine_pop_locked();
    pthread_mutex_unlock(&backend_lock);
    return freed;
}

/* Appends the list `first` (linked through ->next) to the quarantine, then trims it to
 * WSHEAP_QUARANTINE_MB. */
static void quarantine_add(struct wsh_span *first)
{
    size_t limit = atomic_load_explicit(&quarantine_limit, memory_order_relaxed);
    size_t bytes = 0, n = 0;
    struct wsh_span *last = NULL;

    if (first == NULL) return;
    for (struct wsh_span *s = first; s != NULL; s = s->next) {
        bytes += s->size;
        n++;
        last = s;
    }
    atomic_fetch_sub_explicit(&n_live_spans, n, memory_order_relaxed);
    pthread_mutex_lock(&backend_lock);
    if (quarantine_tail != NULL)
        quarantine_tail->next = first;
    else
        quarantine_head = first;
    quarantine_tail = last;
    quarantine_bytes += bytes;
    n_quarantined += n;
    quarantine_trim_locked(limit);
    pthread_mutex_unlock(&backend_lock);
}

/* --- Pattern bytes ---------------------------------------------------------------------------- */

/* The canary of the eight bytes of an 8-aligned word, as one little-endian word. */
static uint64_t canary_word(void)
{
    uint64_t w = 0;

    for (unsigned i = 0; i < 8; i++)
        w |= (uint64_t)wsh_canary_byte(i) << (8 * i);
    return w;
}

static void fill_pattern(uintptr_t lo, uintptr_t hi)
{
    uint64_t w = canary_word();

    for (; lo < hi && (lo & 7) != 0; lo++)
        *(uint8_t *)lo = wsh_canary_byte(lo);
    for (; lo + 8 <= hi; lo += 8)
        *(uint64_t *)lo = w;
    for (; lo < hi; lo++)
        *(uint8_t *)lo = wsh_canary_byte(lo);
}

/* Checks [lo, hi). Returns true when intact; otherwise sets the first and one-past-last
 * corrupted bytes and their count. */
static bool check_pattern(uintptr_t lo, uintptr_t hi, uintptr_t *bad_lo, uintptr_t *bad_hi,
                          size_t *n_bad)
{
    uint64_t w = canary_word();
    uintptr_t a = lo;

    /* Fast scan for any difference: bytes up to an 8-aligned address, then 64 bytes at a time
     * with one branch (a page head is up to 4 KiB and usually cold at reset), then the rest. */
    for (; a < hi && (a & 7) != 0; a++)
        if (*(const uint8_t *)a != wsh_canary_byte(a)) goto slow;
    for (; a + 64 <= hi; a += 64) {
        const uint64_t *q = (const uint64_t *)a;

        if (((q[0] ^ w) | (q[1] ^ w) | (q[2] ^ w) | (q[3] ^ w) | (q[4] ^ w) | (q[5] ^ w) |
             (q[6] ^ w) | (q[7] ^ w)) != 0)
            goto slow;
    }
    for (; a + 8 <= hi; a += 8)
        if (*(const uint64_t *)a != w) goto slow;
    for (; a < hi; a++)
        if (*(const uint8_t *)a != wsh_canary_byte(a)) goto slow;
    return true;

slow:
    *n_bad = 0;
    for (a = lo; a < hi; a++) {
        if (*(const uint8_t *)a == wsh_canary_byte(a)) continue;
        if (*n_bad == 0) *bad_lo = a;
        *bad_hi = a + 1;
        (*n_bad)++;
    }
    return false;
}

/* The pattern ranges of a block: [head_lo, head_hi) before it and [tail_lo, tail_hi) after. */
static void block_ranges(const struct wsh_block *b, uintptr_t *head_lo, uintptr_t *head_hi,
                         uintptr_t *tail_lo, uintptr_t *tail_hi)
{
    *head_lo = b->data;
    *head_hi = b->user;
    *tail_lo = b->user + b->size;
    if (b->n_pages == 0)
        *tail_hi = wsh_align_up(b->user + b->size, 8) + REDZONE;
    else
        *tail_hi = b->data + (uintptr_t)b->n_pages * page_size();
    if (*tail_lo > *tail_hi) /* unaligned zero-size block: user is the guard page */
        *tail_lo = *tail_hi;
}

/* Fills `f`'s heap fields from the home span of `s`. The heap object of a live heap is read
 * with wsh_safe_read, since another thread may free it meanwhile. */
static void describe_heap(const struct wsh_span *s, struct wsh_fault *f)
{
    const struct wsh_span *home = s->home;

    if (home == NULL || home->magic != WSH_SPAN_MAGIC) return;
    f->heap = (uintptr_t)home->heap;
    f->create_stack = home->create_stack;
    f->create_tid = home->create_tid;
    if (atomic_load_explicit(&home->state, memory_order_acquire) == WSH_SPAN_LIVE) {
        if (!wsh_safe_read(f->heap_name, home->heap->name, sizeof f->heap_name))
            f->heap_name[0] = '\0';
    } else {
        memcpy(f->heap_name, home->freed_name, sizeof f->heap_name);
    }
    f->heap_name[sizeof f->heap_name - 1] = '\0';
}

/* Checks every live block of `s`. Each corrupted one adds 1 to *n_corrupted; the one with the
 * lowest ordinal of all those found so far (*n_corrupted counts them) is described in `f`. */
static void check_span(const struct wsh_span *s, struct wsh_fault *f, size_t *n_corrupted)
{
    size_t n = atomic_load_explicit(&s->n_blocks, memory_order_relaxed);

    for (size_t i = s->live_from; i < n; i++) {
        const struct wsh_block *b = &s->blocks[i];
        uintptr_t r[4], bad_lo = 0, bad_hi = 0;
        size_t n_bad = 0;
        bool tail;

        /* Each block's pattern is in pages of its own: start loading the next block's (the
         * hardware prefetcher does not cross pages) while this one is checked. */
        if (i + 1 < n) {
            __builtin_prefetch((const void *)s->blocks[i + 1].data);
            __builtin_prefetch((const void *)(s->blocks[i + 1].user - 64));
        }
        block_ranges(b, &r[0], &r[1], &r[2], &r[3]);
        /* The tail first: overruns are the common case. */
        tail = !check_pattern(r[2], r[3], &bad_lo, &bad_hi, &n_bad);
        if (!tail && check_pattern(r[0], r[1], &bad_lo, &bad_hi, &n_bad)) continue;
        if ((*n_corrupted)++ > 0 && b->ordinal >= f->block.ordinal) continue;
        memset(f, 0, sizeof *f);
        f->kind = b->n_pages == 0 ? WSH_FAULT_CORRUPTED_REDZONE : WSH_FAULT_CORRUPTED_SLACK;
        f->redzone = b->n_pages == 0;
        f->has_block = true;
        f->block = *b;
        f->check_lo = tail ? r[2] : r[0];
        f->check_hi = tail ? r[3] : r[1];
        f->bad_lo = bad_lo;
        f->bad_hi = bad_hi;
        f->n_bad = n_bad;
        if (tail) {
            f->addr = bad_lo;
            f->where = WSH_WHERE_RIGHT;
            f->distance = bad_lo - (b->user + b->size);
        } else {
            f->addr = bad_hi - 1;
            f->where = WSH_WHERE_LEFT;
            f->distance = b->user - f->addr;
        }
        describe_heap(s, f);
    }
}

/* Checks every live block of `g`. Returns true when all are intact; otherwise describes in `f`
 * the corrupted block with the lowest ordinal (the first damaged, most likely the cause of the
 * rest) and counts the corrupted blocks in f->n_corrupted. Spans are listed newest first, and
 * blocks and redzone spans interleave, so every span is checked to the end. */
static bool check_spans(const struct gheap *g, struct wsh_fault *f)
{
    size_t n_corrupted = 0;

    for (const struct wsh_span *s = g->spans; s != NULL; s = s->next)
        check_span(s, f, &n_corrupted);
    if (n_corrupted == 0) return true;
    f->n_corrupted = n_corrupted;
    return false;
}

bool wsh_guarded_check(struct wsh_heap *heap, struct wsh_fault *out)
{
    bool ok = check_spans(gheap_of(heap), out);

    if (!ok) out->found_by = "check";
    return ok;
}

/* Reports corruption found by `who` (already described in `f`) and kills the process. */
static WSH_COLD _Noreturn void die_corrupted(struct wsh_fault *f, const char *who, uint32_t stack)
{
    f->found_by = who;
    f->release_stack = stack;
    f->release_tid = wsh_thread_id();
    wsh_report(f, NULL, atomic_load_explicit(&wsh_report_symbolize, memory_order_relaxed));
    wsh_die();
}

/* Reports that `call` found `g` held by `other` (an owner word) and kills the process, as a
 * corruption found at reset does. Only reads `g`: the other call may be changing it. */
static WSH_COLD _Noreturn void die_concurrent(struct gheap *g, enum heap_call call, uint64_t other)
{
    struct wsh_fault f;

    memset(&f, 0, sizeof f);
    f.kind = WSH_FAULT_CONCURRENT_USE;
    describe_heap(g->home, &f);
    f.addr = f.heap;
    f.found_by = call_name(call);
    /* Skip this function and the guarded op (heap_enter is inlined): the stack starts in
     * heap.c, as an allocation stack does. */
    f.release_stack = wsh_stack_record(g->stack_depth, 2);
    f.release_tid = wsh_thread_id();
    f.other_tid = (int32_t)(uint32_t)other;
    f.other_call = call_name(other >> 32);
    wsh_report(&f, NULL, atomic_load_explicit(&wsh_report_symbolize, memory_order_relaxed));
    wsh_die();
}

/* --- The ops ---------------------------------------------------------------------------------- */

static struct wsh_heap *guarded_create(const struct wsh_options *options)
{
    size_t obj_pages = wsh_align_up(sizeof(struct gheap), page_size()) / page_size();
    struct wsh_span *home;
    struct gheap *g;
    uint32_t stack;

    pthread_once(&backend_once, backend_init);
    atomic_store_explicit(&wsh_report_symbolize, options->symbolize, memory_order_relaxed);
    atomic_store_explicit(&quarantine_limit, options->quarantine_size, memory_order_relaxed);
    wsh_segv_install();
    stack = wsh_stack_record(options->stack_depth, 1);

    /* Out of address space: what the quarantine holds goes first. */
    while ((home = span_create(WSH_SPAN_HOME, WSH_SPAN_GRANULE, (obj_pages + 1) * page_size(),
                               obj_pages, NULL, stack)) == NULL)
        if (quarantine_evict(WSH_SPAN_GRANULE) == 0) return NULL;
    g = (struct gheap *)home->area; /* fresh mapping: already zero-filled */
    g->home = home;
    g->next_span = MIN_SPAN;
    g->next_redzone_span = MIN_SPAN;
    g->stack_depth = options->stack_depth;
    g->backward = options->backward;
    g->unaligned = options->unaligned && !options->backward;
    return &g->pub; /* home->heap, set by span_create, points here */
}

/*
 * Starts a new span of `kind` for `g` with room for at least `need` bytes of blocks. Spans
 * double in size up to MAX_SPAN; when the address space runs out (RLIMIT_AS), smaller ones are
 * tried, down to what the block needs, and then the quarantine gives address space back, so
 * that a heap keeps working for as long as its live blocks fit. After a shrink the next span
 * starts from the size that was granted, not from the one that failed.
 */
static struct wsh_span *heap_new_span(struct gheap *g, enum wsh_span_kind kind, size_t need)
{
    size_t *next = kind == WSH_SPAN_BLOCKS ? &g->next_span : &g->next_redzone_span;
    size_t size = *next, area_need = need + 2 * page_size();
    bool shrunk = false;
    struct wsh_span *s;

    /* The area starts with a guard page; a redzone span's also ends with one. */
    while ((s = span_create(kind, size, area_need, 0, g->home, 0)) == NULL) {
        if (size > MIN_SPAN && size > area_need) {
            size = size / 2 > MIN_SPAN ? size / 2 : MIN_SPAN;
            shrunk = true;
        } else if (quarantine_evict(size + area_need) == 0) {
            return NULL;
        }
    }
    s->next = g->spans;
    g->spans = s;
    *next = shrunk || size >= MAX_SPAN ? size : size * 2;
    if (kind == WSH_SPAN_BLOCKS)
        g->cur_blocks = s;
    else
        g->cur_redzone = s;
    return s;
}

static bool span_has_room(const struct wsh_span *s, size_t need)
{
    return s != NULL && atomic_load_explicit(&s->n_blocks, memory_order_relaxed) < s->capacity &&
           need <= (size_t)(s->base + s->size - s->bump);
}

/* Appends the record of a block to `s` and publishes it for the signal handler. */
static void span_add_block(struct wsh_span *s, const struct wsh_block *b)
{
    size_t n = atomic_load_explicit(&s->n_blocks, memory_order_relaxed);

    s->blocks[n] = *b;
    atomic_store_explicit(&s->n_blocks, n + 1, memory_order_release);
}

/*
 * Guard pages in batches (guard advice only). Installing one guard page per WsAlloc costs a
 * system call each; most blocks need one data page, so the guards of the next BATCH one-page
 * blocks are installed together, at every other page from the bump pointer, with one
 * process_madvise call:
 *
 *   | data | G | data | G | data | G | ...      (G installed ahead of time)
 *   ^ batch_start (even pages: data slots)    ^ batch_end
 *
 * While bump < batch_end it stays on an even page of the batch. A block of k > 1 pages there
 * removes the guards inside its data pages, installs its own guard unless one is already in
 * place (k odd), and skips one page when that keeps the bump pointer on an even page.
 */
#define BATCH 128

/* Claims n_pages data pages at s->bump followed by a guard page, in a guard-advice span with
 * room for n_pages + 2 pages. Returns the first data page, or NULL when a request failed. */
static char *claim_with_advice(struct wsh_span *s, size_t n_pages)
{
    size_t page = page_size();
    char *data = s->bump, *guard = data + n_pages * page, *end = s->base + s->size;

    if (data >= s->batch_end && n_pages == 1) {
        size_t slots = (size_t)(end - data) / (2 * page), done;

        done = wsh_os_guard_install_strided(data + page, 2 * page, slots < BATCH ? slots : BATCH,
                                            page);
        s->batch_start = data;
        s->batch_end = data + 2 * done * page;
    }
    if (data >= s->batch_end) { /* no batch here: one guard page, one call */
        if (!wsh_os_guard_install(guard, page)) return NULL;
        s->bump = guard + page;
        return data;
    }
    if (n_pages > 1) {
        char *stop = guard < s->batch_end ? guard : s->batch_end;

        if (!wsh_os_guard_remove(data + page, (size_t)(stop - (data + page)))) goto abandon;
    }
    if (guard >= s->batch_end || (size_t)(guard - s->batch_start) / page % 2 == 0) {
        if (!wsh_os_guard_install(guard, page)) goto abandon;
    }
    s->bump = guard + page;
    if (s->bump < s->batch_end && (size_t)(s->bump - s->batch_start) / page % 2 == 1)
        s->bump += page; /* a guard of the batch: the next data slot is after it */
    return data;

abandon:
    /* Which guards of the rest of the batch are still there is not known any more: never use
     * that address space (it is made inaccessible with the rest at the next release). */
    s->bump = s->batch_end;
    return NULL;
}

/* A block with its own data pages and a guard page after them. Returns false when the
 * mapping budget or mprotect says no (the caller falls back to a redzone block), and sets
 * *failed when it is out of memory instead. */
static bool alloc_guarded(struct gheap *g, size_t size, uint32_t stack, void **out, bool *failed)
{
    size_t page = page_size();
    size_t n_pages = (size + (size == 0) + page - 1) / page;
    size_t need = (n_pages + 2) * page; /* data pages, the guard page, maybe a page skipped */
    struct wsh_span *s = g->cur_blocks;
    struct wsh_block b = {0};
    char *data, *end;

    if (!span_has_room(s, need) && (s = heap_new_span(g, WSH_SPAN_BLOCKS, need)) == NULL) {
        *failed = true;
        return false;
    }
    if (s->guard_advice) {
        if ((data = claim_with_advice(s, n_pages)) == NULL) {
            *failed = true;
            return false;
        }
    } else {
        data = s->bump;
        if (!budget_allows(2) || !wsh_os_protect(data, n_pages * page, true)) return false;
        atomic_fetch_add_explicit(&map_estimate, 2, memory_order_relaxed);
        s->n_vmas += 2;
        s->bump = data + (n_pages + 1) * page;
    }
    end = data + n_pages * page;
    MEMCHECK_DEFINED(data, n_pages * page); /* fresh pages: zero */

    b.data = (uintptr_t)data;
    if (g->backward)
        b.user = (uintptr_t)data;
    else if (g->unaligned)
        b.user = (uintptr_t)end - size;
    else
        b.user = ((uintptr_t)end - (size + (size == 0))) & ~(uintptr_t)(WSH_ALIGN - 1);
    b.size = size;
    b.n_pages = (uint32_t)n_pages;
    b.ordinal = g->n_blocks++;
    b.alloc_stack = stack;
    b.tid = wsh_thread_id();
    fill_pattern(b.data, b.user);
    if (b.user + size < (uintptr_t)end) fill_pattern(b.user + size, (uintptr_t)end);
    span_add_block(s, &b);
    g->data_size += n_pages * page;
    *out = (void *)b.user;
    return true;
}

/* A redzone-only block: packed in a redzone span, pattern bytes on both sides. */
static HRESULT alloc_redzone(struct gheap *g, size_t size, uint32_t stack, void **out)
{
    size_t need = REDZONE + wsh_align_up(size, 8) + REDZONE;
    struct wsh_span *s = g->cur_redzone;
    struct wsh_block b = {0};

    /* The span's last page is a guard page: keep clear of it. */
    if (!span_has_room(s, need + page_size()) &&
        (s = heap_new_span(g, WSH_SPAN_REDZONE, need + page_size())) == NULL)
        return E_OUTOFMEMORY;
    MEMCHECK_DEFINED(s->bump, need);
    b.data = (uintptr_t)s->bump;
    b.user = b.data + REDZONE;
    b.size = size;
    b.n_pages = 0;
    b.ordinal = g->n_blocks++;
    b.alloc_stack = stack;
    b.tid = wsh_thread_id();
    fill_pattern(b.data, b.user);
    fill_pattern(b.user + size, b.data + need);
    s->bump += need;
    span_add_block(s, &b);
    g->data_size += need;
    atomic_fetch_add_explicit(&n_redzone_blocks, 1, memory_order_relaxed);
    *out = (void *)b.user;
    return S_OK;
}

static HRESULT guarded_alloc(struct wsh_heap *heap, size_t size, void **out)
{
    struct gheap *g = gheap_of(heap);
    bool failed = false;
    uint32_t stack;

    HRESULT hr;

    heap_enter(g, CALL_ALLOC);
    if (size > MAX_REQUEST) {
        hr = E_OUTOFMEMORY;
    } else {
        stack = wsh_stack_record(g->stack_depth, 1);
        if (alloc_guarded(g, size, stack, out, &failed)) {
            hr = S_OK;
        } else if (failed) {
            hr = E_OUTOFMEMORY;
        } else {
            warn_budget_once();
            hr = alloc_redzone(g, size, stack, out);
        }
    }
    heap_leave(g);
    return hr;
}

/*
 * Releases every live block of `g` (WsResetHeap: state WSH_SPAN_RESET; WsFreeHeap:
 * WSH_SPAN_FREED): records the releasing stack in each block's record, makes the used part of
 * every span inaccessible with one call per span, and moves to the quarantine every span the
 * heap will not allocate from again (all of them for WsFreeHeap). A reset keeps the current
 * spans: their addresses are never handed out twice anyway, since allocation only moves up.
 */
static void release_spans(struct gheap *g, enum wsh_span_state state, uint32_t stack)
{
    int32_t tid = wsh_thread_id();
    uint32_t reset_no = state == WSH_SPAN_RESET ? g->pub.n_resets + 1 : g->pub.n_resets;
    struct wsh_span *keep = NULL, *leave = NULL, *s, *next;

    for (s = g->spans; s != NULL; s = next) {
        size_t n = atomic_load_explicit(&s->n_blocks, memory_order_relaxed);
        char *end = (char *)wsh_align_up((uintptr_t)s->bump, page_size());

        next = s->next;
        for (size_t i = s->live_from; i < n; i++) {
            struct wsh_block *b = &s->blocks[i];

            b->release_stack = stack;
            b->release_tid = tid;
            b->release_reset = reset_no;
            /* Publishes the release fields above to lookups (block_snapshot). */
            atomic_store_explicit(&b->released, (uint8_t)state, memory_order_release);
        }
        /* One call for the whole range. When even mprotect fails the memory stays readable:
         * stale pointers into it go unnoticed, nothing worse. */
        (void)hide_range(s, s->hide_from, (size_t)(end - s->hide_from));
        s->hide_from = end;
        s->live_from = n;
        if (s->kind == WSH_SPAN_REDZONE)
            s->bump = end; /* the next redzone block starts on a page still accessible */
        if (!s->guard_advice) {
            /* PROT_NONE over the used range merged the block mappings back into one. */
            size_t base_vmas = s->kind == WSH_SPAN_REDZONE ? 4 : 2;

            if (s->n_vmas > base_vmas) {
                atomic_fetch_sub_explicit(&map_estimate, s->n_vmas - base_vmas,
                                          memory_order_relaxed);
                s->n_vmas = base_vmas;
            }
        }
        if (state == WSH_SPAN_RESET && (s == g->cur_blocks || s == g->cur_redzone)) {
            s->next = keep;
            keep = s;
        } else {
            atomic_store_explicit(&s->state, (uint8_t)state, memory_order_release);
            s->next = leave;
            leave = s;
        }
    }
    quarantine_add(leave);
    g->spans = keep;
    if (state == WSH_SPAN_FREED) {
        g->cur_blocks = NULL;
        g->cur_redzone = NULL;
    }
    g->data_size = 0;
    g->n_blocks = 0;
}

static void guarded_reset(struct wsh_heap *heap)
{
    struct gheap *g = gheap_of(heap);
    uint32_t stack;
    struct wsh_fault f;

    heap_enter(g, CALL_RESET);
    stack = wsh_stack_record(g->stack_depth, 1);
    if (!check_spans(g, &f)) die_corrupted(&f, "WsResetHeap", stack);
    release_spans(g, WSH_SPAN_RESET, stack);
    heap_leave(g);
}

static void guarded_destroy(struct wsh_heap *heap)
{
    struct gheap *g = gheap_of(heap);
    struct wsh_span *home = g->home;
    uint32_t stack;
    size_t obj_pages = wsh_align_up(sizeof(struct gheap), page_size()) / page_size();
    struct wsh_fault f;

    /* Claimed for good: the heap object becomes inaccessible below, so a call that comes
     * later faults on it (use-after-free-heap) and one that comes meanwhile finds it held. */
    heap_enter(g, CALL_FREE);
    stack = wsh_stack_record(g->stack_depth, 1);
    if (!check_spans(g, &f)) die_corrupted(&f, "WsFreeHeap", stack);
    release_spans(g, WSH_SPAN_FREED, stack);
    memcpy(home->freed_name, heap->name, sizeof home->freed_name);
    home->release_stack = stack;
    home->release_tid = wsh_thread_id();
    atomic_store_explicit(&home->state, WSH_SPAN_FREED, memory_order_release);
    /* From here on the heap object is gone: a stale handle faults on it. */
    hide_range(home, home->area, obj_pages * page_size());
    home->next = NULL;
    quarantine_add(home);
}

static size_t guarded_actual_size(const struct wsh_heap *heap)
{
    return ((const struct gheap *)heap)->data_size;
}

const struct wsh_backend_ops wsh_guarded_ops = {
    .name = "guarded",
    .create = guarded_create,
    .alloc = guarded_alloc,
    .reset = guarded_reset,
    .destroy = guarded_destroy,
    .actual_size = guarded_actual_size,
};

/* --- Fault analysis (runs in the signal handler) ---------------------------------------------- */

/* Index of the last record whose block starts at or below `addr`, or -1. */
static long last_block_at_or_below(const struct wsh_block *blocks, size_t n, uintptr_t addr)
{
    long lo = 0, hi = (long)n - 1, found = -1;

    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;

        if (blocks[mid].user <= addr) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

/* Copies a record that its heap's thread may be releasing meanwhile: the fields set at WsAlloc
 * were published with n_blocks and never change; the release fields are read only once
 * `released` is seen set (acquire, pairing with release_spans), and are final then. */
static void block_snapshot(const struct wsh_block *b, struct wsh_block *out)
{
    uint8_t released = atomic_load_explicit(&b->released, memory_order_acquire);

    memset(out, 0, sizeof *out);
    out->user = b->user;
    out->size = b->size;
    out->data = b->data;
    out->n_pages = b->n_pages;
    out->ordinal = b->ordinal;
    out->alloc_stack = b->alloc_stack;
    out->tid = b->tid;
    if (released != 0) {
        out->release_stack = b->release_stack;
        out->release_tid = b->release_tid;
        out->release_reset = b->release_reset;
    }
    atomic_init(&out->released, released);
}

/* wsh_guarded_describe, inside a read of span headers (readers_enter). */
static bool describe_reading(uintptr_t addr, int access, struct wsh_fault *f)
{
    struct wsh_span *s = wsh_span_lookup(addr);
    const struct wsh_block *left = NULL, *right = NULL;
    void (*hook)(void) = atomic_load_explicit(&describe_hook, memory_order_acquire);
    uint8_t state;
    size_t n;
    long i;

    memset(f, 0, sizeof *f);
    f->addr = addr;
    f->access = access;
    if (WSH_UNLIKELY(hook != NULL) && s != NULL) hook(); /* a test widens the race here */
    if (s == NULL || s->magic != WSH_SPAN_MAGIC) return false;
    state = atomic_load_explicit(&s->state, memory_order_acquire);
    describe_heap(s, f);
    f->kind = WSH_FAULT_WILD;

    if (s->kind == WSH_SPAN_HOME) {
        size_t obj = wsh_align_up(sizeof(struct gheap), page_size());

        if (addr >= (uintptr_t)s->area && addr < (uintptr_t)s->area + obj &&
            state == WSH_SPAN_FREED) {
            f->kind = WSH_FAULT_USE_AFTER_FREE;
            f->where = WSH_WHERE_HEAP_OBJECT;
            f->distance = addr - (uintptr_t)s->area;
            f->release_stack = s->release_stack;
            f->release_tid = s->release_tid;
        }
        return true;
    }

    n = atomic_load_explicit(&s->n_blocks, memory_order_acquire);
    if (n > s->capacity) n = s->capacity;
    if (n == 0 || addr < (uintptr_t)s->area) return true;
    i = last_block_at_or_below(s->blocks, n, addr);
    if (i >= 0) left = &s->blocks[i];
    if ((size_t)(i + 1) < n) right = &s->blocks[i + 1];

    if (left != NULL && addr < left->user + left->size) {
        f->where = WSH_WHERE_INSIDE;
        f->distance = addr - left->user;
        block_snapshot(left, &f->block);
    } else if (left != NULL &&
               (right == NULL || addr - (left->user + left->size) <= right->user - addr)) {
        f->where = WSH_WHERE_RIGHT;
        f->distance = addr - (left->user + left->size);
        block_snapshot(left, &f->block);
    } else {
        f->where = WSH_WHERE_LEFT;
        f->distance = right->user - addr;
        block_snapshot(right, &f->block);
    }
    f->has_block = true;
    f->redzone = f->block.n_pages == 0;
    f->release_stack = f->block.release_stack;
    f->release_tid = f->block.release_tid;
    f->release_reset = f->block.release_reset;

    if (f->block.released == WSH_SPAN_RESET)
        f->kind = WSH_FAULT_USE_AFTER_RESET;
    else if (f->block.released == WSH_SPAN_FREED)
        f->kind = WSH_FAULT_USE_AFTER_FREE;
    else if (f->where == WSH_WHERE_RIGHT)
        f->kind = WSH_FAULT_OVERFLOW;
    else if (f->where == WSH_WHERE_LEFT)
        f->kind = WSH_FAULT_UNDERFLOW;
    return true;
}

bool wsh_guarded_describe(uintptr_t addr, int access, struct wsh_fault *f)
{
    unsigned epoch = readers_enter();
    bool found = describe_reading(addr, access, f);

    readers_leave(epoch);
    return found;
}

/* --- Statistics and test hooks ---------------------------------------------------------------- */

void wsh_guarded_get_stats(struct wsh_guarded_stats *out)
{
    pthread_once(&backend_once, backend_init);
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&backend_lock);
    out->quarantined_spans = n_quarantined;
    out->quarantine_size = quarantine_bytes;
    out->parked_spans = n_parked;
    pthread_mutex_unlock(&backend_lock);
    out->live_spans = atomic_load_explicit(&n_live_spans, memory_order_relaxed);
    out->redzone_blocks = atomic_load_explicit(&n_redzone_blocks, memory_order_relaxed);
    out->map_estimate = atomic_load_explicit(&map_baseline, memory_order_relaxed) +
                        atomic_load_explicit(&map_estimate, memory_order_relaxed);
    out->map_limit = map_limit();
    out->guard_advice = wsh_os_has_guard_advice();
}

void wsh_guarded_set_map_limit(size_t limit)
{
    pthread_once(&backend_once, backend_init);
    atomic_store_explicit(&map_limit_override, limit, memory_order_relaxed);
}

void wsh_guarded_flush_quarantine(void)
{
    pthread_mutex_lock(&backend_lock);
    quarantine_trim_locked(0);
    pthread_mutex_unlock(&backend_lock);
}
