/* SPDX-License-Identifier: MIT */
/*
 * Heap statistics by creation site (WSHEAP_STATS=1) and the leak report (WSHEAP_LEAKS=1). Heaps
 * created while either is on are registered under the stack of their WsCreateHeap (a stack
 * depot handle); each round (the allocations between two resets) is folded into its site at the
 * reset, under one registry lock. At exit, and on demand through wsheap_print_stats, the sites
 * are printed with a suggested trimSize and maxSize; at exit the heaps never freed are listed.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena/policy.h"
#include "internal.h"
#include "mutex.h"
#include "os.h"
#include "out.h"
#include "stack/stack.h"
#include "stack/symbolize.h"
#include "stats.h"
#include "suppress.h"

#define NAMES_KEPT   3 /* distinct heap names listed per site */
#define LEAKS_LISTED 8 /* leaked heaps listed one by one per site */
#define SITE_BUCKETS 256
#define SYMBOLIZE_MS 10000 /* for the addr2line runs of one batch of sites together */

/* --- Round-size distributions ----------------------------------------------------------------- */
#define HIST_EXACT   32
#define HIST_SUB     16
#define HIST_BUCKETS (HIST_EXACT + (64 - 5) * HIST_SUB)

struct histogram {
    uint64_t count[HIST_BUCKETS];
};

static size_t bucket_of(size_t v)
{
    int e;

    if (v < HIST_EXACT) return v;
    e = 63 - __builtin_clzll((unsigned long long)v); /* >= 5 */
    return HIST_EXACT + (size_t)(e - 5) * HIST_SUB + ((v >> (e - 4)) & (HIST_SUB - 1));
}

/* The largest value that falls in bucket `b`. */
static size_t bucket_top(size_t b)
{
    size_t e, sub;

    if (b < HIST_EXACT) return b;
    e = (b - HIST_EXACT) / HIST_SUB + 5;
    sub = (b - HIST_EXACT) % HIST_SUB;
    if (e == 63 && sub == HIST_SUB - 1) return SIZE_MAX;
    return ((HIST_SUB + sub + 1) << (e - 4)) - 1;
}

/* The p-th percentile (0 < p <= 100) of `n` values, never above `max`; 0 when n is 0. */
static size_t percentile(const struct histogram *h, uint64_t n, unsigned p, size_t max)
{
    uint64_t want = (n * p + 99) / 100, seen = 0;

    if (n == 0) return 0;
    for (size_t b = 0; b < HIST_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= want) return bucket_top(b) < max ? bucket_top(b) : max;
    }
    return max;
}

/* --- The registry ----------------------------------------------------------------------------- */

/* What a site has seen; also the scratch copy a printer adds the live heaps' rounds to. */
struct totals {
    uint64_t n_created, n_freed, n_quota_failures, n_resets, n_rounds;
    uint64_t n_allocs; /* in 1/ALLOC_UNIT units: partly an estimate (see struct wsh_heap_stats) */
    uint64_t n_sys_allocs, n_sys_steady;  /* steady: after each heap's first round */
    size_t round_max;                     /* largest REQUESTED_SIZE at a round's end */
    size_t consumed_max;                  /* largest round in 8-byte aligned bytes */
    size_t actual_peak;                   /* largest ACTUAL_SIZE seen */
    size_t refused_max;                   /* largest round a refused request would have made */
    uint64_t n_sampled, n_rounds_sampled; /* blocks and rounds on guard pages (sample.h) */
    struct histogram requested;           /* REQUESTED_SIZE per round */
    struct histogram consumed;            /* aligned bytes per round */
};

/* Heaps created by one stack. Sites are never freed (their stacks live in the depot too). */
struct site {
    struct site *next;      /* hash chain */
    struct site *next_made; /* every site, in creation order */
    uint32_t stack;         /* depot handle; 0 when no stack was captured */
    unsigned number;        /* 1, 2, ... in creation order */
    const char *backend;    /* of the first heap */
    size_t max_size, trim_size;
    bool sizes_vary; /* later heaps were created with other sizes */
    char names[NAMES_KEPT][WSHEAP_NAME_MAX];
    bool more_names; /* a further distinct name was seen */
    struct wsh_heap_stats *live;
    struct totals t;
};

/*
 * One watched heap. The counters since the last fold are written by the heap's user only and
 * read by printers under the registry lock, hence relaxed atomics.
 *
 * Counting through the window. A watched arena heap keeps its fast path: its window ends at the
 * next sample point too (heap->sample_left bytes after heap->sample_base; wsh_heap_sync_window),
 * so WsAlloc reaches these hooks only at a sample point, at a chunk's end or the quota, and for
 * zero-size blocks. Whatever the fast path did in between is exact from the window itself: the
 * bytes requested (heap->requested_size) and handed out (cur - sample_base), hence every
 * per-round figure, the ACTUAL_SIZE peak (it only grows within a round; read at each hook, reset
 * and free), quota failures and system allocations (only hooks see those). The number of
 * allocations is the one figure the window cannot give: it is counted exactly for every call
 * that reaches a hook for its own reason (a heap's first EXACT_BYTES bytes, while its window is
 * closed, so small programs are counted call by call; chunk ends, quota, zero size; guarded
 * heaps and tracked arenas, whose window is always closed), and estimated for the fast path
 * from the sampled calls: sample points are
 * exponentially distributed with mean SAMPLE_BYTES over the bytes handed out, so a block of `a`
 * bytes is sampled with probability 1 - exp(-a / SAMPLE_BYTES), and a sampled call counts as
 * the inverse of that (Horvitz-Thompson: unbiased). Sample points are random, never periodic,
 * so a program whose rounds repeat the same sizes cannot hide a size from them.
 */
struct wsh_heap_stats {
    struct wsh_heap *heap;
    struct site *site;
    struct wsh_heap_stats *prev, *next; /* the site's live heaps (registry lock) */
    int32_t tid;                        /* the creating thread */
    bool first_round_done;              /* registry lock */
    bool sampling;                      /* past its first EXACT_BYTES: the window is open */
    size_t exact_left;                  /* bytes until then */
    unsigned long sys_mark;             /* wsh_stats_mark: the thread's count before a call */
    uint64_t rng;                       /* xorshift64* state for the sample points */
    size_t weight;                      /* what the call in progress counts, in ALLOC_UNITs */
    atomic_size_t n_allocs;             /* in ALLOC_UNITs */
    atomic_size_t n_quota_failures, n_sys_allocs;
    atomic_size_t round_requested, round_consumed, actual_peak, refused_max;
    atomic_size_t n_sampled, n_rounds_sampled; /* sampled guarding, since the last fold */
    uint64_t sampled_seen, rounds_seen;        /* the heap's own counts at the last note */
};

#define ALLOC_UNIT 256 /* allocation counts are kept in 1/256ths */

/* A heap's first EXACT_BYTES are counted call by call; then the mean bytes between two sample
 * points is SAMPLE_BYTES. Variables only for wsh_stats_set_sampling (tests). */
static atomic_size_t exact_bytes = (size_t)64 << 10;
static atomic_size_t sample_bytes = (size_t)32 << 10;
static _Atomic uint64_t fixed_seed; /* 0: seeds differ per heap */
#define EXACT_BYTES  atomic_load_explicit(&exact_bytes, memory_order_relaxed)
#define SAMPLE_BYTES atomic_load_explicit(&sample_bytes, memory_order_relaxed)

static struct wsh_mutex *const registry_lock = &wsh_mutexes[WSH_MUTEX_STATS];
static struct site *site_buckets[SITE_BUCKETS];
static struct site *sites_first, **sites_tail = &sites_first;
static unsigned n_sites;
static atomic_bool registry_started; /* a heap was watched: the exit report has work */

static size_t load(atomic_size_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* The heap's user is the only writer, so a load and a store make an add. */
static void bump(atomic_size_t *v, size_t by)
{
    atomic_store_explicit(v, load(v) + by, memory_order_relaxed);
}

static void raise_to(atomic_size_t *v, size_t value)
{
    if (value > load(v)) atomic_store_explicit(v, value, memory_order_relaxed);
}

/* The site of `stack`, made on first use; NULL when out of memory. */
static struct site *site_for_locked(uint32_t stack, const struct wsh_heap *heap)
{
    struct site **bucket = &site_buckets[stack % SITE_BUCKETS], *s;

    wsh_assert(wsh_mutex_held(registry_lock));
    for (s = *bucket; s != NULL; s = s->next)
        if (s->stack == stack) {
            if (s->max_size != heap->max_size || s->trim_size != heap->trim_size)
                s->sizes_vary = true;
            return s;
        }
    s = wsh_os_malloc(sizeof *s);
    if (s == NULL) return NULL;
    memset(s, 0, sizeof *s);
    s->stack = stack;
    s->number = ++n_sites;
    s->backend = heap->ops->name;
    s->max_size = heap->max_size;
    s->trim_size = heap->trim_size;
    s->next = *bucket;
    *bucket = s;
    *sites_tail = s;
    sites_tail = &s->next_made;
    return s;
}

static void note_name_locked(struct site *s, const char *name)
{
    size_t i;

    wsh_assert(wsh_mutex_held(registry_lock));
    if (name[0] == '\0') return;
    for (i = 0; i < NAMES_KEPT && s->names[i][0] != '\0'; i++)
        if (strcmp(s->names[i], name) == 0) return;
    if (i == NAMES_KEPT) {
        s->more_names = true;
        return;
    }
    snprintf(s->names[i], sizeof s->names[i], "%s", name);
}

/* Adds what `h` counted since its last fold, and the round it is in, to `t`. Leaves `h`
 * untouched; fold_locked clears it. */
static void add_heap(struct totals *t, struct wsh_heap_stats *h, bool first_round_done)
{
    size_t n_allocs = load(&h->n_allocs), consumed = load(&h->round_consumed);
    size_t n_sys = load(&h->n_sys_allocs), requested = load(&h->round_requested);

    t->n_allocs += n_allocs; /* ALLOC_UNITs */
    t->n_quota_failures += load(&h->n_quota_failures);
    t->n_sys_allocs += n_sys;
    t->n_sampled += load(&h->n_sampled);
    t->n_rounds_sampled += load(&h->n_rounds_sampled);
    if (first_round_done) t->n_sys_steady += n_sys;
    if (load(&h->actual_peak) > t->actual_peak) t->actual_peak = load(&h->actual_peak);
    if (load(&h->refused_max) > t->refused_max) t->refused_max = load(&h->refused_max);
    if (n_allocs == 0 && consumed == 0) return; /* an empty round says nothing about sizes */
    t->n_rounds++;
    t->requested.count[bucket_of(requested)]++;
    t->consumed.count[bucket_of(consumed)]++;
    if (requested > t->round_max) t->round_max = requested;
    if (consumed > t->consumed_max) t->consumed_max = consumed;
}

/* Ends the round of `h`: folds it into the site. */
static void fold_locked(struct wsh_heap_stats *h)
{
    wsh_assert(wsh_mutex_held(registry_lock));
    add_heap(&h->site->t, h, h->first_round_done);
    if (load(&h->n_allocs) > 0 || load(&h->round_consumed) > 0) h->first_round_done = true;
    atomic_store_explicit(&h->n_allocs, 0, memory_order_relaxed);
    atomic_store_explicit(&h->n_quota_failures, 0, memory_order_relaxed);
    atomic_store_explicit(&h->n_sys_allocs, 0, memory_order_relaxed);
    atomic_store_explicit(&h->round_requested, 0, memory_order_relaxed);
    atomic_store_explicit(&h->round_consumed, 0, memory_order_relaxed);
    atomic_store_explicit(&h->n_sampled, 0, memory_order_relaxed);
    atomic_store_explicit(&h->n_rounds_sampled, 0, memory_order_relaxed);
}

/* Counts the blocks and rounds a sampling heap put on guard pages since the last note (its
 * user's thread: the sampler's counters are the heap's own). */
static void note_sampled(struct wsh_heap *heap)
{
    struct wsh_heap_stats *h = heap->stats;

    if (!heap->sampling) return;
    bump(&h->n_sampled, (size_t)(heap->guard.n_sampled - h->sampled_seen));
    bump(&h->n_rounds_sampled, (size_t)(heap->guard.n_rounds_sampled - h->rounds_seen));
    h->sampled_seen = heap->guard.n_sampled;
    h->rounds_seen = heap->guard.n_rounds_sampled;
}

WSH_NOINLINE void wsh_stats_heap_created(struct wsh_heap *heap)
{
    const struct wsh_options *options = wsh_options();
    struct wsh_heap_stats *h;
    struct site *s;
    uint32_t stack;

    /* The unwinder initialises itself lazily, and not thread-safely: warm it up once (as the
     * guarded backend does) before the first capture, which may run on many threads at once. */
    if (options->stack_depth > 0) wsh_stack_init();
    /* skip 2: this function and WsCreateHeap; the stack starts in WsCreateHeap's caller. */
    stack = wsh_stack_record(options->stack_depth, 2);
    h = wsh_os_malloc(sizeof *h);
    if (h == NULL) return;
    memset(h, 0, sizeof *h);
    atomic_store(&registry_started, true);
    wsh_mutex_lock(registry_lock);
    s = site_for_locked(stack, heap);
    if (s == NULL) {
        wsh_mutex_unlock(registry_lock);
        wsh_os_free(h);
        return;
    }
    h->heap = heap;
    h->site = s;
    h->tid = wsh_thread_id();
    h->rng = atomic_load_explicit(&fixed_seed, memory_order_relaxed);
    if (h->rng == 0)
        h->rng = (uint64_t)(uintptr_t)heap ^ ((uint64_t)wsh_os_thread_allocations() << 32) ^
                 (uint64_t)s->t.n_created * 0x9E3779B97F4A7C15ull;
    h->rng |= 1;
    h->exact_left = EXACT_BYTES;
    h->next = s->live;
    if (s->live != NULL) s->live->prev = h;
    s->live = h;
    s->t.n_created++;
    wsh_mutex_unlock(registry_lock);
    heap->stats = h;
}

void wsh_stats_mark(struct wsh_heap *heap)
{
    heap->stats->sys_mark = wsh_os_thread_allocations();
}

/* Counts the system allocations the calling thread made since wsh_stats_mark. */
static void count_sys_allocs(struct wsh_heap_stats *h)
{
    bump(&h->n_sys_allocs, wsh_os_thread_allocations() - h->sys_mark);
}

/* -log2(u) for u = r / 2^64, r > 0: the exponent from the leading zeros, the mantissa's log2
 * from a cubic exact at both ends (error below 0.01, a fraction of a percent of a mean
 * interval); never negative. */
static double minus_log2_uniform(uint64_t r)
{
    int lz = __builtin_clzll(r);
    double f = (double)(r << lz >> 11) / (double)(1ull << 53) * 2.0 - 1.0; /* [0, 1) */
    double log2_1f = f * (1.4416828 + f * (-0.7181452 + f * 0.2764624));   /* 1 at f = 1 */
    double v = (double)(lz + 1) - log2_1f;

    return v > 0.0 ? v : 0.0;
}

/* The next sample point, in bytes from here: exponential with mean SAMPLE_BYTES. */
static size_t next_sample(struct wsh_heap_stats *h)
{
    uint64_t r;

    h->rng ^= h->rng >> 12;
    h->rng ^= h->rng << 25;
    h->rng ^= h->rng >> 27;
    r = h->rng * 0x2545F4914F6CDD1Dull;
    if (r == 0) r = 1;
    /* ln 2, less the cubic's 0.48% excess on average, so that the mean is SAMPLE_BYTES. */
    return (size_t)(minus_log2_uniform(r) * 0.689838 * (double)SAMPLE_BYTES);
}

/* 1 / (1 - exp(-x)), x > 0: what a sampled block of x mean intervals counts for. */
static double inverse_sample_probability(double x)
{
    double e, term;
    int halvings = 0;

    if (x < 1.0) return 1.0 / x + 0.5 + x / 12.0 - x * x * x / 720.0; /* its Laurent series */
    if (x > 40.0) return 1.0;
    while (x > 0.5) { /* exp(-x) = exp(-x / 2^k)^(2^k) */
        x /= 2.0;
        halvings++;
    }
    term = 1.0;
    e = 1.0;
    for (int i = 1; i <= 8; i++) {
        term *= -x / i;
        e += term;
    }
    while (halvings-- > 0)
        e *= e;
    return 1.0 / (1.0 - e);
}

/* Folds what the fast path handed out since the window was last opened into the round. */
static void fold_window(struct wsh_heap *heap)
{
    struct wsh_heap_stats *h = heap->stats;
    size_t used = (size_t)((uintptr_t)heap->cur - (uintptr_t)heap->sample_base);

    wsh_assert(used <= heap->sample_left);
    heap->sample_left -= used;
    heap->sample_base = heap->cur;
    bump(&h->round_consumed, used);
    atomic_store_explicit(&h->round_requested, heap->requested_size, memory_order_relaxed);
}

void wsh_stats_alloc_begin(struct wsh_heap *heap, size_t size)
{
    struct wsh_heap_stats *h = heap->stats;
    size_t a = size == 0 ? WSH_ALIGN : wsh_align_up(size, WSH_ALIGN);

    fold_window(heap);
    h->weight = ALLOC_UNIT; /* seen for its own reason: counted exactly */
    /* Sampled: the block fits the chunk and the quota, so only the sample point stopped it. */
    if (h->sampling && size > 0 && a > heap->sample_left &&
        a <= (size_t)((uintptr_t)heap->limit - (uintptr_t)heap->cur)) {
        double w = inverse_sample_probability((double)a / (double)SAMPLE_BYTES);

        h->weight = (size_t)(w * ALLOC_UNIT + 0.5);
        heap->sample_left = next_sample(h);
    } else if (h->sampling && a > heap->sample_left) {
        heap->sample_left = next_sample(h); /* passed by a block counted anyway: draw afresh */
    }
    wsh_stats_mark(heap);
}

void wsh_stats_alloc_done(struct wsh_heap *heap, size_t size)
{
    struct wsh_heap_stats *h = heap->stats;
    size_t a = size == 0 ? WSH_ALIGN : wsh_align_up(size, WSH_ALIGN);

    /* Past its first EXACT_BYTES, the heap's window opens up to the sample points (the public
     * layer's wsh_heap_sync_window, right after this). */
    if (!h->sampling) {
        h->exact_left = a < h->exact_left ? h->exact_left - a : 0;
        if (h->exact_left == 0) {
            h->sampling = true;
            heap->sample_left = next_sample(h);
        }
    }
    count_sys_allocs(h);
    bump(&h->n_allocs, h->weight);
    atomic_store_explicit(&h->round_requested, heap->requested_size + size, memory_order_relaxed);
    bump(&h->round_consumed, a);
    raise_to(&h->actual_peak, heap->ops->actual_size(heap));
}

void wsh_stats_reset_begin(struct wsh_heap *heap)
{
    fold_window(heap);
    note_sampled(heap);
    raise_to(&heap->stats->actual_peak, heap->ops->actual_size(heap));
    wsh_stats_mark(heap);
}

void wsh_stats_quota_failure(struct wsh_heap *heap, size_t size)
{
    struct wsh_heap_stats *h = heap->stats;
    size_t wanted = heap->requested_size;

    bump(&h->n_quota_failures, 1);
    /* The round the refused request would have made; saturates instead of wrapping. */
    wanted = size > SIZE_MAX - wanted ? SIZE_MAX : wanted + size;
    raise_to(&h->refused_max, wanted);
}

void wsh_stats_reset_done(struct wsh_heap *heap)
{
    struct wsh_heap_stats *h = heap->stats;

    count_sys_allocs(h);
    wsh_mutex_lock(registry_lock);
    fold_locked(h);
    h->site->t.n_resets++;
    wsh_mutex_unlock(registry_lock);
}

void wsh_stats_set_sampling(size_t exact, size_t mean, uint64_t seed)
{
    atomic_store_explicit(&exact_bytes, exact, memory_order_relaxed);
    atomic_store_explicit(&sample_bytes, mean, memory_order_relaxed);
    atomic_store_explicit(&fixed_seed, seed, memory_order_relaxed);
}

void wsh_stats_heap_freed(struct wsh_heap *heap)
{
    struct wsh_heap_stats *h = heap->stats;
    struct site *s = h->site;
    char name[WSHEAP_NAME_MAX];

    fold_window(heap);
    note_sampled(heap);
    raise_to(&h->actual_peak, heap->ops->actual_size(heap));
    wsh_name_copy(heap, name, true);
    wsh_mutex_lock(registry_lock);
    fold_locked(h);
    note_name_locked(s, name);
    s->t.n_freed++;
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        s->live = h->next;
    if (h->next != NULL) h->next->prev = h->prev;
    wsh_mutex_unlock(registry_lock);
    heap->stats = NULL;
    wsh_os_free(h);
}

/* --- Output and stacks ------------------------------------------------------------------------ */

/* The statistics and the leak report are written through the output sink (src/out.h), whose
 * deadline keeps a full pipe that nobody reads from hanging the exit, and their creation stacks
 * are printed by the one symbolizer (src/stack/symbolize.h), in batches of sites whose frames fit
 * its storage. */
#define WRITE_BUDGET_MS 10000 /* per batch of sites */

/* Adds depot stack `stack` to `z` when all its frames fit: sets *first and *n, returns true. */
static bool add_to_batch(struct wsh_symbolizer *z, uint32_t stack, size_t *first, size_t *n)
{
    const uintptr_t *pcs;

    if (wsh_depot_get(stack, &pcs) > wsh_sym_room(z)) return false;
    *first = wsh_sym_add_depot(z, stack, n);
    return true;
}

/* Finds the modules of a batch's frames and, with WSHEAP_SYMBOLIZE, names them; then gives the
 * output a new budget. */
static void finish_batch(struct wsh_symbolizer *z, struct wsh_out *o)
{
    wsh_sym_find_modules(z);
    if (wsh_options()->symbolize && !o->stopped) wsh_sym_symbolize(z, SYMBOLIZE_MS);
    wsh_out_extend(o, WRITE_BUDGET_MS);
}

/* --- The statistics table --------------------------------------------------------------------- */

/* A site as printed: its totals with the live heaps' current rounds added, copied under the
 * registry lock so that the slow part (addr2line) runs without it. */
struct site_view {
    unsigned number;
    uint32_t stack;
    const char *backend;
    size_t max_size, trim_size;
    bool sizes_vary, more_names;
    char names[NAMES_KEPT][WSHEAP_NAME_MAX];
    uint64_t n_live;
    struct totals t;
    size_t first, n_frames; /* its creation stack's frames in the symbolizer (print_stats) */
};

/* Copies every site; *n_out is the count. NULL (and 0) when there is none or no memory. */
static struct site_view *snapshot_sites(size_t *n_out)
{
    struct site_view *views;
    size_t n = 0;

    wsh_mutex_lock(registry_lock);
    views = n_sites > 0 ? calloc(n_sites, sizeof *views) : NULL;
    for (struct site *s = sites_first; views != NULL && s != NULL; s = s->next_made, n++) {
        struct site_view *v = &views[n];
        struct site copy = *s; /* note_name_locked on the copy: the live heaps' names */

        for (struct wsh_heap_stats *h = s->live; h != NULL; h = h->next) {
            char name[WSHEAP_NAME_MAX];

            /* The heap's owner may be renaming it: copy under the name lock. */
            wsh_name_copy(h->heap, name, true);
            add_heap(&copy.t, h, h->first_round_done);
            note_name_locked(&copy, name);
            v->n_live++;
        }
        v->number = s->number;
        v->stack = s->stack;
        v->backend = s->backend;
        v->max_size = s->max_size;
        v->trim_size = s->trim_size;
        v->sizes_vary = s->sizes_vary;
        v->more_names = copy.more_names;
        memcpy(v->names, copy.names, sizeof v->names);
        v->t = copy.t;
    }
    wsh_mutex_unlock(registry_lock);
    *n_out = n;
    return views;
}

/* "s" unless n is 1, for plurals. */
static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

/* The smallest power of two >= v (at least 64); SIZE_MAX when there is none. */
static size_t power_of_two_above(size_t v)
{
    size_t p = 64;

    while (p < v) {
        if (p > SIZE_MAX / 2) return SIZE_MAX;
        p *= 2;
    }
    return p;
}

static void out_names(struct wsh_out *o, const struct site_view *v)
{
    char shown[WSH_NAME_SHOWN_MAX];

    if (v->names[0][0] == '\0') {
        wsh_out_printf(o, "unnamed heaps");
        return;
    }
    wsh_out_printf(o, "heaps");
    for (size_t i = 0; i < NAMES_KEPT && v->names[i][0] != '\0'; i++) {
        wsh_name_escape(v->names[i], shown, sizeof shown);
        wsh_out_printf(o, "%s \"%s\"", i > 0 ? "," : "", shown);
    }
    if (v->more_names) wsh_out_printf(o, " and others");
}

/*
 * The suggestion for one site. The arena keeps, at a reset, one chunk of up to trimSize bytes
 * (never less than its first chunk) sized to the round plus a quarter; a round that fits that
 * chunk makes no system allocation. So trimSize is what lets a reset keep the chunk for the
 * 95th-percentile round in aligned bytes (wsh_arena_suggested_trim, from the arena's own
 * policy): rounds up to that size then run without system allocations, and the rare larger
 * round costs an allocation instead of keeping its memory for good. maxSize gets twice the
 * largest round, as headroom that still stops a runaway message.
 */
static void out_suggestion(struct wsh_out *o, const struct site_view *v)
{
    const struct totals *t = &v->t;
    size_t c95, trim, max;

    if (t->n_rounds == 0) {
        wsh_out_logf(o, "  suggested: nothing (no heap from this site allocated anything)\n");
        return;
    }
    c95 = percentile(&t->consumed, t->n_rounds, 95, t->consumed_max);
    trim = wsh_arena_suggested_trim(c95);
    max = t->round_max > SIZE_MAX / 2 ? SIZE_MAX : power_of_two_above(2 * t->round_max);
    wsh_out_logf(o, "  suggested trimSize %zu, maxSize %zu\n", trim, max);
    wsh_out_logf(o,
                 "  why: 95%% of rounds used at most %zu bytes (8-byte aligned; the largest %zu)",
                 c95, t->consumed_max);
    if (trim == WSH_ARENA_FIRST_CHUNK)
        wsh_out_printf(o,
                       ", which fit the %zu-byte first chunk a reset always keeps, so trimSize %zu "
                       "keeps no more than that",
                       WSH_ARENA_FIRST_CHUNK, trim);
    else
        wsh_out_printf(
            o,
            ", and a reset keeps one chunk of up to trimSize bytes, so trimSize %zu lets "
            "those rounds reuse it without system allocations",
            trim);
    wsh_out_printf(
        o,
        "; maxSize is twice the largest round (%zu bytes requested), rounded up to a power "
        "of two",
        t->round_max);
    if (t->n_quota_failures > 0)
        wsh_out_printf(o,
                       "; %" PRIu64 " request%s refused by maxSize %zu (the largest would have "
                       "made a round of %zu bytes): keep it if they were meant to fail",
                       t->n_quota_failures, t->n_quota_failures == 1 ? " was" : "s were",
                       v->max_size, t->refused_max);
    wsh_out_printf(o, "\n");
}

static void print_stats(int fd)
{
    struct wsh_symbolizer *z = wsh_sym_map(); /* NULL: the sites are printed without stacks */
    struct wsh_out o;
    size_t n_views;
    struct site_view *views = snapshot_sites(&n_views);
    uint64_t created = 0, live = 0;

    for (size_t i = 0; i < n_views; i++) {
        created += views[i].t.n_created;
        live += views[i].n_live;
    }
    wsh_out_start_fd(&o, fd, WRITE_BUDGET_MS);
    wsh_out_logf(&o,
                 "heap statistics by creation site (WSHEAP_STATS=1), pid %ld: %zu site%s, "
                 "%" PRIu64 " heap%s created, %" PRIu64 " live\n",
                 (long)getpid(), n_views, plural(n_views), created, plural(created), live);
    wsh_out_logf(&o, "site  heaps  live     allocs  resets   round max   round p95  "
                     "ACTUAL peak  quota  sys allocs  steady  name\n");
    for (size_t i = 0; i < n_views; i++) {
        const struct site_view *v = &views[i];
        const struct totals *t = &v->t;
        char shown[WSH_NAME_SHOWN_MAX];

        wsh_name_escape(v->names[0][0] != '\0' ? v->names[0] : "-", shown, sizeof shown);
        wsh_out_logf(&o,
                     "%4u %6" PRIu64 " %5" PRIu64 " %10" PRIu64 " %7" PRIu64
                     " %11zu %11zu %12zu %6" PRIu64 " %11" PRIu64 " %7" PRIu64 "  %s%s\n",
                     v->number, t->n_created, v->n_live,
                     (t->n_allocs + ALLOC_UNIT / 2) / ALLOC_UNIT, t->n_resets, t->round_max,
                     percentile(&t->requested, t->n_rounds, 95, t->round_max), t->actual_peak,
                     t->n_quota_failures, t->n_sys_allocs, t->n_sys_steady, shown,
                     v->names[1][0] != '\0' ? " ..." : "");
    }
    for (size_t i = 0, end = 0; i < n_views; i = end) {
        if (z != NULL) { /* the next batch: sites whose stacks fit together */
            wsh_sym_reset(z);
            while (end < n_views &&
                   add_to_batch(z, views[end].stack, &views[end].first, &views[end].n_frames))
                end++;
            finish_batch(z, &o);
        }
        if (end == i) end = z != NULL ? i + 1 : n_views;
        for (; i < end; i++) {
            const struct site_view *v = &views[i];

            wsh_out_logf(&o, "site %u: ", v->number);
            out_names(&o, v);
            wsh_out_printf(&o, " (%s), created with maxSize %zu, trimSize %zu%s\n", v->backend,
                           v->max_size, v->trim_size, v->sizes_vary ? " (and other sizes)" : "");
            wsh_out_logf(&o,
                         "  %" PRIu64 " round%s with allocations; %" PRIu64
                         " system allocation%s, %" PRIu64
                         " of them after each heap's first round\n",
                         v->t.n_rounds, plural(v->t.n_rounds), v->t.n_sys_allocs,
                         plural(v->t.n_sys_allocs), v->t.n_sys_steady);
            if (v->t.n_sampled != 0 || v->t.n_rounds_sampled != 0)
                wsh_out_logf(&o,
                             "  on guard pages (WSHEAP_SAMPLE_BYTES/_ROUNDS): %" PRIu64
                             " sampled block%s, %" PRIu64 " sampled round%s\n",
                             v->t.n_sampled, plural(v->t.n_sampled), v->t.n_rounds_sampled,
                             plural(v->t.n_rounds_sampled));
            out_suggestion(&o, v);
            wsh_out_logf(&o, "  created at:\n");
            if (z != NULL) wsh_sym_print(&o, z, v->first, v->n_frames, "  ");
        }
    }
    wsh_out_logf(&o, "END heap statistics\n");
    wsh_out_flush(&o);
    wsh_sym_unmap(z);
    free(views);
}

/* --- The leak report -------------------------------------------------------------------------- */

struct leak {
    unsigned site;
    uint32_t stack;
    uintptr_t handle;
    char name[WSHEAP_NAME_MAX];
    const char *backend;
    size_t max_size, trim_size, requested, actual;
    uint32_t n_resets;
    int32_t tid;
    size_t first, n_frames; /* the site's first leak: its stack's frames in the symbolizer */
};

/* Lists the live heaps, site by site in creation order; *n_out is the count. */
static struct leak *snapshot_leaks(size_t *n_out)
{
    struct leak *leaks = NULL;
    size_t n = 0, cap = 0;

    wsh_mutex_lock(registry_lock);
    for (struct site *s = sites_first; s != NULL; s = s->next_made) {
        for (struct wsh_heap_stats *h = s->live; h != NULL; h = h->next) {
            struct wsh_heap *heap = h->heap;
            struct leak *l;

            if (n == cap) {
                struct leak *grown = realloc(leaks, (cap ? cap * 2 : 16) * sizeof *grown);

                if (grown == NULL) goto out;
                leaks = grown;
                cap = cap ? cap * 2 : 16;
            }
            l = &leaks[n++];
            l->site = s->number;
            l->stack = s->stack;
            l->handle = (uintptr_t)heap;
            wsh_name_copy(heap, l->name, true); /* its owner may be renaming it */
            l->backend = heap->ops->name;
            l->max_size = heap->max_size;
            l->trim_size = heap->trim_size;
            l->requested = heap->requested_size;
            l->actual = heap->ops->actual_size(heap);
            l->n_resets = heap->n_resets;
            l->tid = h->tid;
            l->first = l->n_frames = 0;
        }
    }
out:
    wsh_mutex_unlock(registry_lock);
    *n_out = n;
    return leaks;
}

/* Whether frames [first, first + n) of `z` match a "leak:" suppression: a function name or a
 * module basename. */
static bool stack_suppressed(const struct wsh_symbolizer *z, size_t first, size_t n)
{
    for (size_t i = first; i < first + n; i++) {
        const struct wsh_sym_frame *f = &z->frames[i];

        for (uint32_t k = 0; k < f->n_names; k++) {
            const struct wsh_sym_name *name = &z->names[f->first_name + k];

            if (name->func != UINT32_MAX && wsh_suppress_match("leak", z->pool + name->func) != 0)
                return true;
        }
        if (f->module >= 0) {
            const char *path = z->modules[f->module].path, *base = strrchr(path, '/');

            if (wsh_suppress_match("leak", base != NULL ? base + 1 : path) != 0) return true;
        }
    }
    return false;
}

/* Drops from leaks[0..*n) the heaps whose creation stack a "leak:" suppression matches (one
 * symbolizer run per site, at exit, only when suppressions are loaded); returns how many. */
static size_t drop_suppressed(struct leak *leaks, size_t *n, struct wsh_symbolizer *z)
{
    size_t kept = 0, dropped = 0;

    for (size_t i = 0; i < *n;) {
        size_t end = i, first, n_frames;
        bool drop = false;

        while (end < *n && leaks[end].site == leaks[i].site)
            end++;
        wsh_sym_reset(z);
        if (add_to_batch(z, leaks[i].stack, &first, &n_frames)) {
            wsh_sym_find_modules(z);
            if (wsh_options()->symbolize) wsh_sym_symbolize(z, SYMBOLIZE_MS);
            drop = stack_suppressed(z, first, n_frames);
        }
        for (; i < end; i++)
            if (drop)
                dropped++;
            else
                leaks[kept++] = leaks[i];
    }
    *n = kept;
    return dropped;
}

/* Prints the heaps never freed that no "leak:" suppression matches (those are counted in one
 * line); returns how many were listed (nothing is printed for none). */
static size_t print_leaks(int fd)
{
    struct wsh_symbolizer *z = NULL;
    struct wsh_out o;
    size_t n, held = 0, batch_end = 0, suppressed = 0;
    struct leak *leaks = snapshot_leaks(&n);

    if (n == 0) goto done;
    z = wsh_sym_map(); /* NULL: the sites are printed without stacks */
    wsh_suppress_load();
    if (z != NULL && wsh_suppress_active()) suppressed = drop_suppressed(leaks, &n, z);
    if (suppressed > 0) {
        wsh_out_start_fd(&o, fd, WRITE_BUDGET_MS);
        wsh_out_logf(&o, "%zu heap%s never freed not listed: suppressed (WSHEAP_SUPPRESSIONS)\n",
                     suppressed, suppressed == 1 ? "" : "s");
        wsh_out_flush(&o);
    }
    if (n == 0) goto done;
    for (size_t i = 0; i < n; i++)
        held += leaks[i].actual;
    wsh_out_start_fd(&o, fd, WRITE_BUDGET_MS);
    wsh_out_logf(&o, "LEAK: %zu heap%s never freed, holding %zu bytes (WSHEAP_LEAKS=1), pid %ld\n",
                 n, n == 1 ? "" : "s", held, (long)getpid());
    for (size_t i = 0; i < n;) {
        size_t end = i, site_held = 0;

        if (i == batch_end && z != NULL) { /* the next batch: sites whose stacks fit together */
            wsh_sym_reset(z);
            for (size_t k = i;
                 k < n && add_to_batch(z, leaks[k].stack, &leaks[k].first, &leaks[k].n_frames);) {
                do
                    k++;
                while (k < n && leaks[k].site == leaks[k - 1].site);
                batch_end = k;
            }
            finish_batch(z, &o);
        }
        while (end < n && leaks[end].site == leaks[i].site)
            site_held += leaks[end++].actual;
        wsh_out_logf(&o, "site %u: %zu heap%s never freed, holding %zu bytes\n", leaks[i].site,
                     end - i, end - i == 1 ? "" : "s", site_held);
        for (size_t k = i; k < end && k < i + LEAKS_LISTED; k++) {
            const struct leak *l = &leaks[k];
            char shown[WSH_NAME_SHOWN_MAX];

            wsh_out_logf(&o, "  heap 0x%" PRIxPTR, l->handle);
            wsh_name_escape(l->name, shown, sizeof shown);
            if (l->name[0] != '\0') wsh_out_printf(&o, " \"%s\"", shown);
            wsh_out_printf(&o,
                           " (%s): maxSize %zu, trimSize %zu, REQUESTED_SIZE %zu, ACTUAL_SIZE %zu, "
                           "%" PRIu32 " reset%s, created by thread %" PRId32 "\n",
                           l->backend, l->max_size, l->trim_size, l->requested, l->actual,
                           l->n_resets, plural(l->n_resets), l->tid);
        }
        if (end - i > LEAKS_LISTED)
            wsh_out_logf(&o, "  ... and %zu more\n", end - i - LEAKS_LISTED);
        wsh_out_logf(&o, "  created at:\n");
        if (z != NULL) wsh_sym_print(&o, z, leaks[i].first, leaks[i].n_frames, "  ");
        i = end;
    }
    wsh_out_logf(&o, "END leak report\n");
    wsh_out_flush(&o);
done:
    wsh_sym_unmap(z);
    free(leaks);
    return n;
}

/* --- Entry points ----------------------------------------------------------------------------- */

HRESULT wsheap_print_stats(int fd)
{
    if (fd < 0) return E_INVALIDARG;
    if (!wsh_options()->stats) return WS_E_INVALID_OPERATION;
    print_stats(fd);
    return S_OK;
}

/*
 * At exit: the statistics, then the leak report, on stderr or each in WSHEAP_LOG_PATH's file
 * (out.h: one stderr line says where it went). A destructor rather than atexit, so that it
 * runs after the program's own atexit handlers and destructors (which may free heaps): the
 * library's destructors run after the program's. With WSHEAP_LEAKS_EXITCODE set and a leak
 * found, the process ends here with that status (stdio flushed; later destructors skipped).
 */
__attribute__((destructor)) static void stats_at_exit(void)
{
    const struct wsh_options *options;

    if (!atomic_load(&registry_started)) return;
    options = wsh_options();
    if (options->stats) {
        int fd = wsh_out_open_report(options->log_path, "the heap statistics");

        print_stats(fd);
        wsh_out_close_report(fd);
    }
    if (options->leaks) {
        /* The destination is opened only when there is something to write. */
        size_t n_leaks;
        struct leak *leaks = snapshot_leaks(&n_leaks);
        int fd;

        free(leaks);
        if (n_leaks == 0) return;
        fd = wsh_out_open_report(options->log_path, "the leak report");
        n_leaks = print_leaks(fd);
        wsh_out_close_report(fd);
        if (n_leaks > 0 && options->leaks_exitcode != 0) {
            fflush(NULL);
            _exit((int)options->leaks_exitcode);
        }
    }
}
