/* SPDX-License-Identifier: MIT */
/*
 * The guarded backend (WSHEAP_PAGEHEAP=1), the Linux counterpart of Windows PageHeap: every
 * WsAlloc gets its own data page(s) next to a guard page, pattern bytes fill what the block
 * does not use, and WsResetHeap / WsFreeHeap make the memory inaccessible and keep its address
 * space out of use for a while (the quarantine), so overruns and stale pointers trap at once.
 * Invariant: a block's data pages are followed by a guard page, and every byte of them that is
 * not the block's holds the pattern until the block is released.
 *
 * This file holds the backend ops (create, alloc, reset, destroy), block placement, batched
 * guard pages and the one-thread-at-a-time check; they run in ordinary calls, never in a signal
 * handler. Spans, the address table and the quarantine are in spans.c; pattern bytes and the
 * fault analysis, async-signal-safe, in fault.c (see guarded.h for how the files depend).
 */
#include <pthread.h>
#include <string.h>

#include "../os.h"
#include "guarded.h"

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
#define MIN_SPAN    ((size_t)256 << 10) /* the first blocks span of a heap */
#define MAX_SPAN    ((size_t)1 << 34)   /* spans double up to this, unless a block needs more */
#define MAX_REQUEST ((size_t)1 << 40)   /* larger requests fail before any arithmetic */

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

/* Claims `g` for `call` by the calling thread and returns the thread's id; reports and dies
 * when another call holds it (another thread's, or this thread's own from a signal handler).
 * Acquire pairs with heap_leave's release: the next owner sees everything the previous one
 * wrote. */
static inline __attribute__((always_inline)) int32_t heap_enter(struct gheap *g,
                                                                enum heap_call call)
{
    uint64_t expected = 0;
    int32_t tid = wsh_thread_id();
    wsh_guarded_test_hook *hook;

    if (WSH_UNLIKELY(
            !atomic_compare_exchange_strong_explicit(&g->owner, &expected, owner_word(call, tid),
                                                     memory_order_acquire, memory_order_relaxed)))
        die_concurrent(g, call, expected);
    hook = atomic_load_explicit(&inside_hook, memory_order_relaxed);
    if (WSH_UNLIKELY(hook != NULL)) hook((WS_HEAP *)&g->pub, call_name(call));
    return tid;
}

static inline void heap_leave(struct gheap *g)
{
    atomic_store_explicit(&g->owner, 0, memory_order_release);
}

/* --- Reports made by the ops ----------------------------------------------------------------- */

static atomic_bool budget_warned;

static void warn_budget_once(void)
{
    if (!atomic_exchange_explicit(&budget_warned, true, memory_order_relaxed))
        wsh_warn("guarded backend: the process is near vm.max_map_count; further blocks get "
                 "pattern-checked redzones instead of guard pages (overruns are then found at "
                 "WsResetHeap/WsFreeHeap). Raise vm.max_map_count, or run Linux 6.13+ "
                 "(MADV_GUARD_INSTALL), for guard pages on every block");
}

bool wsh_guarded_check(struct wsh_heap *heap, struct wsh_fault *out)
{
    bool ok = wsh_pattern_check(gheap_of(heap)->spans, out);

    if (!ok) out->found_by = "check";
    return ok;
}

/* Reports corruption found by `who` (already described in `f`) and kills the process; in
 * keep-going mode (WSHEAP_HALT_ON_ERROR=0) returns, and the caller's release goes on. */
static WSH_COLD void die_corrupted(struct wsh_fault *f, const char *who, uint32_t stack)
{
    f->found_by = who;
    f->release_stack = stack;
    f->release_tid = wsh_thread_id();
    if (!wsh_report(f, NULL, atomic_load_explicit(&wsh_report_symbolize, memory_order_relaxed)))
        wsh_die();
}

/* Reports that `call` found `g` held by `other` (an owner word) and kills the process, as a
 * corruption found at reset does. Only reads `g`: the other call may be changing it. */
static WSH_COLD _Noreturn void die_concurrent(struct gheap *g, enum heap_call call, uint64_t other)
{
    struct wsh_fault f;

    memset(&f, 0, sizeof f);
    f.kind = WSH_FAULT_CONCURRENT_USE;
    wsh_fault_describe_heap(g->home, &f);
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

static pthread_once_t stack_once = PTHREAD_ONCE_INIT;

static struct wsh_heap *guarded_create(const struct wsh_options *options)
{
    size_t obj_pages = wsh_align_up(sizeof(struct gheap), page_size()) / page_size();
    struct wsh_span *home;
    struct gheap *g;
    uint32_t stack;

    pthread_once(&stack_once, wsh_stack_init);
    atomic_store_explicit(&wsh_report_symbolize, options->symbolize, memory_order_relaxed);
    wsh_quarantine_set_limit(options->quarantine_size);
    wsh_segv_install();
    stack = wsh_stack_record(options->stack_depth, 1);

    /* Out of address space: what the quarantine holds goes first. */
    while ((home = wsh_span_create(WSH_SPAN_HOME, WSH_SPAN_GRANULE, (obj_pages + 1) * page_size(),
                                   obj_pages, NULL, stack, wsh_thread_id())) == NULL)
        if (wsh_quarantine_evict(WSH_SPAN_GRANULE) == 0) return NULL;
    g = (struct gheap *)home->area; /* fresh mapping: already zero-filled */
    g->home = home;
    g->next_span = MIN_SPAN;
    g->next_redzone_span = MIN_SPAN;
    g->stack_depth = options->stack_depth;
    g->backward = options->backward;
    g->unaligned = options->unaligned && !options->backward;
    return &g->pub; /* home->heap, set by wsh_span_create, points here */
}

/*
 * Starts a new span of `kind` for `g` with room for at least `need` bytes of blocks. Spans
 * double in size up to MAX_SPAN; when the address space runs out (RLIMIT_AS), smaller ones are
 * tried, down to what the block needs, and then (when `may_evict`) the quarantine gives address
 * space back, so that a heap keeps working for as long as its live blocks fit. After a shrink
 * the next span starts from the size that was granted, not from the one that failed.
 */
static struct wsh_span *heap_new_span(struct gheap *g, enum wsh_span_kind kind, size_t need,
                                      bool may_evict)
{
    size_t *next = kind == WSH_SPAN_BLOCKS ? &g->next_span : &g->next_redzone_span;
    size_t size = *next, area_need = need + 2 * page_size();
    bool shrunk = false;
    struct wsh_span *s;

    /* The area starts with a guard page; a redzone span's also ends with one. */
    while ((s = wsh_span_create(kind, size, area_need, 0, g->home, 0, 0)) == NULL) {
        if (size > MIN_SPAN && size > area_need) {
            size = size / 2 > MIN_SPAN ? size / 2 : MIN_SPAN;
            shrunk = true;
        } else if (!may_evict || wsh_quarantine_evict(size + area_need) == 0) {
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

/* Claims n_pages data pages (of `page` bytes) at s->bump followed by a guard page, in a
 * guard-advice span with room for n_pages + 2 pages. Returns the first data page, or NULL when
 * a request failed. */
static char *claim_with_advice(struct wsh_span *s, size_t n_pages, size_t page)
{
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
        s->run_broken = true;
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
    /* A one-page block right after the run so far extends it (see recycle_run). */
    if (n_pages == 1 && (s->run_start == NULL || s->run_end == data)) {
        if (s->run_start == NULL) s->run_start = data;
        s->run_end = s->bump;
    } else {
        s->run_broken = true;
    }
    return data;

abandon:
    /* Which guards of the rest of the batch are still there is not known any more: never use
     * that address space (it is made inaccessible with the rest at the next release). */
    s->bump = s->batch_end;
    s->run_broken = true;
    return NULL;
}

/* What alloc_guarded did with a request. */
enum placement {
    PLACE_DONE,      /* *out is the block */
    PLACE_REDZONE,   /* the mapping budget or mprotect said no: make a redzone block instead */
    PLACE_NO_MEMORY, /* out of memory */
};

/* A block with its own data pages and a guard page after them, for thread `tid`. */
static enum placement alloc_guarded(struct gheap *g, size_t size, uint32_t stack, int32_t tid,
                                    void **out)
{
    size_t page = page_size();
    size_t n_pages = (size + (size == 0) + page - 1) / page;
    size_t need = (n_pages + 2) * page; /* data pages, the guard page, maybe a page skipped */
    struct wsh_span *s = g->cur_blocks;
    struct wsh_block b = {0};
    char *data, *end;

    if (!span_has_room(s, need) && (s = heap_new_span(g, WSH_SPAN_BLOCKS, need, true)) == NULL)
        return PLACE_NO_MEMORY;
    wsh_assert(s->magic == WSH_SPAN_MAGIC && s->kind == WSH_SPAN_BLOCKS);
    if (s->guard_advice) {
        if ((data = claim_with_advice(s, n_pages, page)) == NULL) return PLACE_NO_MEMORY;
    } else {
        data = s->bump;
        if (!wsh_map_budget_allows(2) || !wsh_os_protect(data, n_pages * page, true))
            return PLACE_REDZONE;
        wsh_map_budget_charge(2);
        s->n_vmas += 2;
        s->bump = data + (n_pages + 1) * page;
    }
    end = data + n_pages * page;
    WSH_MEMCHECK_DEFINED(data, n_pages * page); /* fresh pages: zero */

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
    b.tid = tid;
    wsh_pattern_fill(b.data, b.user);
    if (b.user + size < (uintptr_t)end) wsh_pattern_fill(b.user + size, (uintptr_t)end);
    wsh_span_add_block(s, &b);
    g->data_size += n_pages * page;
    *out = (void *)b.user;
    return PLACE_DONE;
}

/* A redzone-only block for thread `tid`: packed in a redzone span, pattern bytes on both sides. */
static HRESULT alloc_redzone(struct gheap *g, size_t size, uint32_t stack, int32_t tid, void **out)
{
    size_t need = WSH_REDZONE + wsh_align_up(size, 8) + WSH_REDZONE;
    struct wsh_span *s = g->cur_redzone;
    struct wsh_block b = {0};

    /* The span's last page is a guard page: keep clear of it. */
    if (!span_has_room(s, need + page_size()) &&
        (s = heap_new_span(g, WSH_SPAN_REDZONE, need + page_size(), true)) == NULL)
        return E_OUTOFMEMORY;
    wsh_assert(s->magic == WSH_SPAN_MAGIC && s->kind == WSH_SPAN_REDZONE);
    WSH_MEMCHECK_DEFINED(s->bump, need);
    b.data = (uintptr_t)s->bump;
    b.user = b.data + WSH_REDZONE;
    b.size = size;
    b.n_pages = 0;
    b.ordinal = g->n_blocks++;
    b.alloc_stack = stack;
    b.tid = tid;
    wsh_pattern_fill(b.data, b.user);
    wsh_pattern_fill(b.user + size, b.data + need);
    s->bump += need;
    wsh_span_add_block(s, &b);
    g->data_size += need;
    *out = (void *)b.user;
    return S_OK;
}

static HRESULT guarded_alloc(struct wsh_heap *heap, size_t size, void **out)
{
    struct gheap *g = gheap_of(heap);
    int32_t tid = heap_enter(g, CALL_ALLOC);
    uint32_t stack;
    HRESULT hr;

    if (size > MAX_REQUEST) {
        hr = E_OUTOFMEMORY;
    } else {
        stack = wsh_stack_record(g->stack_depth, 1);
        switch (alloc_guarded(g, size, stack, tid, out)) {
        case PLACE_DONE:
            hr = S_OK;
            break;
        case PLACE_REDZONE:
            warn_budget_once();
            hr = alloc_redzone(g, size, stack, tid, out);
            break;
        case PLACE_NO_MEMORY:
            hr = E_OUTOFMEMORY;
            break;
        }
    }
    heap_leave(g);
    return hr;
}

/*
 * Recycling at WsResetHeap (guard advice only). A round of one-page blocks leaves a run of
 *
 *   | data | G | data | G | ... | data | G |      (run_start .. run_end == bump)
 *
 * behind it in each span it used: data pages the kernel faulted in and zeroed (the costliest
 * part of a guarded block) and guard markers. Dropping them and faulting fresh pages in at the
 * next round's addresses would do all that again; instead the runs, up to trimSize bytes of
 * data pages in all, are moved — page tables, pages and markers, nothing copied — to the
 * addresses right after the current span's bump pointer, one after the other (the newest span's
 * first), where they form a ready-made batch for the next round, and PROT_NONE memory is left
 * where they were. Stale pointers still trap and no address is handed out twice; the next
 * round's one-page blocks find their data page resident and their guard page in place, with no
 * fault and no system call. What stays resident between rounds is at most trimSize bytes, as
 * with the arena. A span whose blocks since its last release were not such a run (a larger
 * block came between) is released the usual way.
 */
struct recycling {
    char *start; /* where the moved runs begin: the current span's bump pointer */
    char *to;    /* where the next one goes */
    size_t left; /* data pages that may still be moved (trimSize, and room in the span) */
};

/* The data pages of the run of `s`: 0 unless everything `s` holds since its last release is one
 * (guard advice, one-page blocks of batches only, the last one at the bump pointer). */
static size_t run_pages(const struct wsh_span *s)
{
    if (!s->guard_advice || s->kind != WSH_SPAN_BLOCKS || s->run_broken || s->run_start == NULL ||
        s->run_end != s->bump)
        return 0;
    return (size_t)(s->bump - s->run_start) / (2 * page_size());
}

/* Moves the run of `s` (or its first r->left data pages) to r->to and makes everything else
 * `s` used since its last release inaccessible. False (nothing done) when `s` holds no whole
 * run since its last release, or the move failed: the caller then releases it the usual way. */
static bool move_run(struct wsh_span *s, struct recycling *r)
{
    size_t page = page_size(), pairs = run_pages(s), len;
    char *from = s->run_start;
    bool hidden;

    if (pairs == 0 || r->left == 0) return false;
    if (pairs > r->left) pairs = r->left;
    len = pairs * 2 * page;
    if (!wsh_os_move_pages(from, len, r->to, &hidden)) return false;
    WSH_MEMCHECK_NOACCESS(from, len);
    if (!hidden) (void)wsh_os_guard_install(from, len); /* empty now: markers make it trap */
    /* Before the run (the area's first guard page, or nothing), and its part not moved. */
    (void)wsh_span_hide(s, s->hide_from, (size_t)(from - s->hide_from));
    (void)wsh_span_hide(s, from + len, (size_t)(s->bump - (from + len)));
    s->hide_from = s->bump;
    r->to += len;
    r->left -= pairs;
    return true;
}

/* Data pages (each with its guard page) that fit after the bump pointer of `s`, a page spare. */
static size_t room_pages(const struct wsh_span *s)
{
    size_t page = page_size(), room = (size_t)(s->base + s->size - s->bump);

    return room > 2 * page ? (room - 2 * page) / (2 * page) : 0;
}

/* Sets up the recycling of a WsResetHeap: false when there is nothing to recycle (trimSize below
 * a page, no runs, the mprotect path). The runs go to the current blocks span; when it lacks the
 * room, the next span is started now (the heap would have needed it anyway), and the current
 * one is left to the quarantine with the rest. */
static bool recycling_begin(struct gheap *g, struct recycling *r)
{
    size_t page = page_size(), want = 0;
    struct wsh_span *cur;

    if (g->pub.trim_size < page) return false;
    /* A fault handler is running, or keep-going mode opened a faulting page for good (it keeps
     * its count in wsh_handlers_active): moving a run could carry an opened guard page along,
     * and a later overrun there would go unnoticed. */
    if (atomic_load_explicit(&wsh_handlers_active, memory_order_seq_cst) != 0) return false;
    for (struct wsh_span *s = g->spans; s != NULL; s = s->next)
        want += run_pages(s);
    if (want > g->pub.trim_size / page) want = g->pub.trim_size / page;
    if (want == 0) return false;
    cur = g->cur_blocks;
    if (cur == NULL || !cur->guard_advice || room_pages(cur) < want) {
        /* Not at the quarantine's expense: keeping pages is worth less than catching stale
         * pointers. */
        struct wsh_span *fresh = heap_new_span(g, WSH_SPAN_BLOCKS, (2 * want + 2) * page, false);

        if (fresh != NULL && fresh->guard_advice) cur = fresh; /* now g->cur_blocks */
    }
    if (cur == NULL || !cur->guard_advice || cur != g->cur_blocks) return false;
    r->start = r->to = cur->bump;
    r->left = room_pages(cur) < want ? room_pages(cur) : want;
    return r->left > 0;
}

/* Makes the moved runs the current span's next batch. The batch that was being used may reach
 * beyond them: its guards there are at the same odd pages counted from r->start (the bump
 * pointer is always on an even one), so the two make one batch. */
static void recycling_end(struct gheap *g, const struct recycling *r)
{
    struct wsh_span *cur = g->cur_blocks;

    if (r->to == r->start) return;
    cur->hide_from = r->start;
    cur->batch_start = r->start; /* == cur->bump: its first data page */
    if (cur->batch_end < r->to) cur->batch_end = r->to;
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
    struct recycling r = {0}; /* read only when recycle, which recycling_begin filled */
    bool recycle = state == WSH_SPAN_RESET && recycling_begin(g, &r);

    for (s = g->spans; s != NULL; s = next) {
        size_t n = atomic_load_explicit(&s->n_blocks, memory_order_relaxed);
        char *end = (char *)wsh_align_up((uintptr_t)s->bump, page_size());

        wsh_assert(s->magic == WSH_SPAN_MAGIC && s->home == g->home);
        next = s->next;
        for (size_t i = s->live_from; i < n; i++) {
            struct wsh_block *b = &s->blocks[i];

            b->release_stack = stack;
            b->release_tid = tid;
            b->release_reset = reset_no;
            /* Publishes the release fields above to lookups (block_snapshot in fault.c). */
            atomic_store_explicit(&b->released, (uint8_t)state, memory_order_release);
        }
        /* One call for the whole range (a few when its run is recycled). When even mprotect
         * fails the memory stays readable: stale pointers into it go unnoticed, nothing
         * worse. */
        if (!recycle || !move_run(s, &r)) {
            (void)wsh_span_hide(s, s->hide_from, (size_t)(end - s->hide_from));
            s->hide_from = end;
        }
        s->run_start = s->run_end = NULL;
        s->run_broken = false;
        s->live_from = n;
        if (s->kind == WSH_SPAN_REDZONE)
            s->bump = end; /* the next redzone block starts on a page still accessible */
        if (!s->guard_advice) {
            /* PROT_NONE over the used range merged the block mappings back into one. */
            size_t base_vmas = s->kind == WSH_SPAN_REDZONE ? 4 : 2;

            if (s->n_vmas > base_vmas) {
                wsh_map_budget_refund(s->n_vmas - base_vmas);
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
    if (recycle) recycling_end(g, &r);
    wsh_quarantine_add(leave);
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
    if (!wsh_pattern_check(g->spans, &f)) die_corrupted(&f, "WsResetHeap", stack);
    release_spans(g, WSH_SPAN_RESET, stack);
    heap_leave(g);
}

static void guarded_destroy(struct wsh_heap *heap)
{
    struct gheap *g = gheap_of(heap);
    struct wsh_span *home = g->home;
    uint32_t stack;
    struct wsh_fault f;

    /* Claimed for good: the heap object becomes inaccessible below, so a call that comes
     * later faults on it (use-after-free-heap) and one that comes meanwhile finds it held. */
    heap_enter(g, CALL_FREE);
    stack = wsh_stack_record(g->stack_depth, 1);
    if (!wsh_pattern_check(g->spans, &f)) die_corrupted(&f, "WsFreeHeap", stack);
    release_spans(g, WSH_SPAN_FREED, stack);
    memcpy(home->freed_name, heap->name, sizeof home->freed_name);
    home->release_stack = stack;
    home->release_tid = wsh_thread_id();
    atomic_store_explicit(&home->state, WSH_SPAN_FREED, memory_order_release);
    /* From here on the heap object is gone: a stale handle faults on it. */
    wsh_span_hide(home, home->area, home->heap_size);
    home->next = NULL;
    wsh_quarantine_add(home);
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
