/* SPDX-License-Identifier: MIT */
/*
 * Sampled guarding (sample.h): the sample points of a sampling arena heap, the shadow guarded
 * heap that holds its sampled blocks, the process-wide budget of live sampled blocks, and the
 * table the fault report asks which arena heap a shadow serves.
 *
 * A sampled block is an ordinary block of the shadow, a heap of the guarded backend that the
 * arena heap owns and never hands out: the guarded backend places it, fills its slack, records
 * its allocation stack, checks and releases it at the arena heap's reset (pages inaccessible,
 * address space quarantined), and reports faults in it; the report asks wsh_sample_lookup and
 * names the arena heap and the rate. The arena heap's quota and REQUESTED_SIZE count sampled
 * blocks as any other (the public layer does that around the backend call).
 */
#define _GNU_SOURCE /* clock_gettime */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guarded/guarded.h"
#include "os.h"
#include "out.h"
#include "sample.h"

atomic_bool wsh_sample_test_on;
static atomic_size_t test_mean;
static atomic_uint test_rounds, test_slots;
static _Atomic uint64_t test_seed;
static atomic_uint_fast64_t heap_counter; /* heaps seeded so far: part of each heap's seed */

static atomic_uint live;          /* live sampled blocks in the process */
static atomic_size_t round_bytes; /* data bytes live sampled rounds hold */
static atomic_bool settings_printed, off_noted;

/* The shadows made so far (the last N_SHADOWS), so that a report can name the arena heap. An
 * entry is published by its `shadow` store (release) after its other fields are written, and
 * cleared before they are rewritten; a reader that loses that race names the shadow itself. */
#define N_SHADOWS 1024
static struct shadow_entry {
    _Atomic uintptr_t shadow;
    _Atomic uintptr_t heap;
    atomic_size_t mean;
    atomic_uint rounds;
} shadows[N_SHADOWS];
static atomic_uint next_shadow;

/* splitmix64: turns a counter-like seed into a well-mixed xorshift state (never 0). */
static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z != 0 ? z : 1;
}

/* The next 64 random bits of the heap's xorshift64* state. */
static uint64_t next_random(struct wsh_heap_guard_sampling *g)
{
    g->rng ^= g->rng >> 12;
    g->rng ^= g->rng << 25;
    g->rng ^= g->rng >> 27;
    return g->rng * 0x2545F4914F6CDD1Dull;
}

/* -ln(u) for u = (r >> 11 | 1) / 2^53 in (0, 1): an exponential variate of mean 1. u = m * 2^-k
 * with m in [1, 2); ln m = 2 atanh(z), z = (m - 1) / (m + 1) <= 1/3, from four terms of the
 * series (relative error below 1e-5). No libm. */
static double exponential(uint64_t r)
{
    uint64_t bits = r >> 11 | 1; /* 53 bits, never 0 */
    int k = 53 - (63 - __builtin_clzll(bits));
    double m = (double)bits / (double)(1ull << (63 - __builtin_clzll(bits)));
    double z = (m - 1.0) / (m + 1.0), z2 = z * z;
    double ln_m = 2.0 * z * (1.0 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7))));
    double v = (double)k * 0.69314718055994531 - ln_m;

    return v > 0.0 ? v : 0.0;
}

/* The next interval in bytes: exponential with mean g->mean (a geometric number of bytes), so
 * that every byte allocated is equally likely to be the sample point, whatever came before. */
static size_t next_interval(struct wsh_heap_guard_sampling *g)
{
    double bytes;

    if (g->mean == 0) return SIZE_MAX / 2; /* whole rounds only: no sample point */
    bytes = exponential(next_random(g)) * (double)g->mean;

    return bytes < (double)(SIZE_MAX / 2) ? (size_t)bytes : SIZE_MAX / 2;
}

static unsigned slots(void)
{
    unsigned t = atomic_load_explicit(&test_slots, memory_order_relaxed);

    return t != 0 ? t : wsh_options()->sample_slots;
}

/* Takes a slot of the budget; false when it is full. */
static bool take_slot(void)
{
    unsigned n = atomic_load_explicit(&live, memory_order_relaxed), max = slots();

    do {
        if (n >= max) return false;
    } while (!atomic_compare_exchange_weak_explicit(&live, &n, n + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

static void give_slots(unsigned n)
{
    if (n != 0) atomic_fetch_sub_explicit(&live, n, memory_order_relaxed);
}

/* Takes `n` data bytes of the sampled rounds' budget; false when they do not fit. */
static bool take_round_bytes(size_t n)
{
    size_t held = atomic_load_explicit(&round_bytes, memory_order_relaxed);

    do {
        if (n > WSH_SAMPLE_ROUND_BUDGET - held) return false;
    } while (!atomic_compare_exchange_weak_explicit(&round_bytes, &held, held + n,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

/* Draws whether the heap's next round is sampled whole: probability 1 / g->rounds. */
static void draw_round(struct wsh_heap_guard_sampling *g)
{
    g->round_on = g->rounds != 0 && (next_random(g) >> 11) % g->rounds == 0;
}

static void print_settings(const struct wsh_options *options, size_t mean, unsigned rounds)
{
    struct wsh_out o;

    if (!options->verbose || atomic_exchange(&settings_printed, true)) return;
    wsh_out_start_fd(&o, 2, 1000);
    if (mean != 0)
        wsh_out_logf(&o,
                     "sampling: about 1 arena block per %zu bytes allocated goes on guard pages "
                     "(blocks up to %zu bytes; at most %u live sampled blocks in the process)\n",
                     mean, WSH_SAMPLE_MAX_BLOCK, slots());
    if (rounds != 0)
        wsh_out_logf(&o,
                     "sampling: about 1 round in %u of each arena heap goes on guard pages whole "
                     "(at most %zu MiB of sampled rounds' blocks live in the process)\n",
                     rounds, WSH_SAMPLE_ROUND_BUDGET >> 20);
    wsh_out_flush(&o);
}

static void note_off(const struct wsh_options *options, const struct wsh_backend_ops *ops)
{
    struct wsh_out o;

    if (!options->verbose || atomic_exchange(&off_noted, true)) return;
    wsh_out_start_fd(&o, 2, 1000);
    wsh_out_logf(&o, "sampling: off for %s heaps (%s)\n", ops->name,
                 ops == &wsh_guarded_ops ? "WSHEAP_PAGEHEAP=1 guards every block already"
                                         : "ASan or memcheck tracks every arena block instead");
    wsh_out_flush(&o);
}

/* What the first sample would otherwise pay for inside some WsAlloc: the unwinder's set-up and
 * the fault handler's (handler, report stack, this thread's signal stack). */
static void warm_up(void)
{
    wsh_stack_init();
    wsh_segv_install();
}

void wsh_sample_heap_created(struct wsh_heap *heap, const struct wsh_options *options,
                             const struct wsh_backend_ops *ops)
{
    static pthread_once_t warm_once = PTHREAD_ONCE_INIT;
    struct wsh_heap_guard_sampling *g = &heap->guard;
    bool forced = atomic_load_explicit(&wsh_sample_test_on, memory_order_relaxed);
    size_t mean =
        forced ? atomic_load_explicit(&test_mean, memory_order_relaxed) : options->sample_bytes;
    unsigned rounds =
        forced ? atomic_load_explicit(&test_rounds, memory_order_relaxed) : options->sample_rounds;
    uint64_t seed = atomic_load_explicit(&test_seed, memory_order_relaxed);
    uint64_t n = atomic_fetch_add_explicit(&heap_counter, 1, memory_order_relaxed);

    if (ops != &wsh_arena_ops) {
        note_off(options, ops);
        return;
    }
    if (mean == 0 && rounds == 0) return;
    print_settings(options, mean, rounds);
    pthread_once(&warm_once, warm_up);
    memset(g, 0, sizeof *g);
    g->mean = mean;
    g->rounds = rounds;
    if (seed == 0) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)(uintptr_t)heap ^
               (uint64_t)getpid() << 48;
    }
    g->rng = mix(seed + n * 0x632BE59BD9B4E019ull);
    g->left = next_interval(g);
    draw_round(g);
    heap->sampling = true;
}

/* Registers `shadow` as serving `heap` for wsh_sample_lookup. */
static void register_shadow(struct wsh_heap *shadow, struct wsh_heap *heap)
{
    struct shadow_entry *e =
        &shadows[atomic_fetch_add_explicit(&next_shadow, 1, memory_order_relaxed) % N_SHADOWS];

    atomic_store_explicit(&e->shadow, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&e->heap, (uintptr_t)heap, memory_order_relaxed);
    atomic_store_explicit(&e->mean, heap->guard.mean, memory_order_relaxed);
    atomic_store_explicit(&e->rounds, heap->guard.rounds, memory_order_relaxed);
    atomic_store_explicit(&e->shadow, (uintptr_t)shadow, memory_order_release);
}

bool wsh_sample_lookup(uintptr_t shadow, struct wsh_sample_info *out)
{
    if (shadow == 0) return false;
    for (size_t i = 0; i < N_SHADOWS; i++) {
        struct shadow_entry *e = &shadows[i];

        if (atomic_load_explicit(&e->shadow, memory_order_acquire) != shadow) continue;
        out->heap = atomic_load_explicit(&e->heap, memory_order_relaxed);
        out->mean = atomic_load_explicit(&e->mean, memory_order_relaxed);
        out->rounds = atomic_load_explicit(&e->rounds, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->shadow, memory_order_relaxed) == shadow) return true;
    }
    return false;
}

/* The shadow of `heap`, created now if need be (named as `heap` is); NULL when out of memory. */
static struct wsh_heap *shadow_of(struct wsh_heap *heap)
{
    struct wsh_heap *shadow = heap->guard.shadow;

    if (shadow == NULL) {
        shadow = wsh_guarded_ops.create(wsh_options());
        if (shadow == NULL) return NULL;
        /* trimSize 0: a reset keeps no sampled page resident (no recycling), so what sampled
         * blocks and rounds hold ends with their round, whatever the arena heap's trimSize. */
        wsh_heap_init(shadow, &wsh_guarded_ops, SIZE_MAX, 0);
        shadow->n_resets = heap->n_resets;
        register_shadow(shadow, heap);
        heap->guard.shadow = shadow;
    }
    /* Reports read the shadow's name: keep it the arena heap's (the heap's own thread set it). */
    if (strcmp(shadow->name, heap->name) != 0) wsh_name_set(shadow, heap->name);
    return shadow;
}

/* Folds what the fast path handed out since the window opened into the interval. */
static void fold_window(struct wsh_heap *heap)
{
    struct wsh_heap_guard_sampling *g = &heap->guard;
    size_t used = (size_t)((uintptr_t)heap->cur - (uintptr_t)g->base);

    wsh_assert(used <= g->left);
    g->left -= used;
    g->base = heap->cur;
}

HRESULT wsh_sample_alloc(struct wsh_heap *heap, size_t size, void **out)
{
    struct wsh_heap_guard_sampling *g = &heap->guard;
    struct wsh_heap *shadow;

    fold_window(heap);
    if (g->round_on) { /* a sampled round: every block, while the budget lasts */
        size_t page = wsh_os_page_size();
        size_t data = (size + (size == 0) + page - 1) / page * page;

        if (take_round_bytes(data)) {
            if ((shadow = shadow_of(heap)) != NULL &&
                shadow->ops->alloc(shadow, size, out) == S_OK) {
                g->round_bytes += data;
                return S_OK;
            }
            atomic_fetch_sub_explicit(&round_bytes, data, memory_order_relaxed);
        }
        return heap->ops->alloc(heap, size, out);
    }
    /* Not the sample point: the window stopped at the chunk's end or the quota, or a zero-size
     * request (never sampled: it has no byte to overrun into). */
    if (size == 0 || wsh_align_up(size, WSH_ALIGN) <= g->left) {
        if (size != 0) g->left -= wsh_align_up(size, WSH_ALIGN);
        return heap->ops->alloc(heap, size, out);
    }
    g->left = next_interval(g);
    if (size <= WSH_SAMPLE_MAX_BLOCK && take_slot()) {
        if ((shadow = shadow_of(heap)) != NULL && shadow->ops->alloc(shadow, size, out) == S_OK) {
            g->n_round++;
            g->n_sampled++;
            return S_OK;
        }
        give_slots(1);
    }
    g->n_skipped++;
    return heap->ops->alloc(heap, size, out);
}

void wsh_sample_reset(struct wsh_heap *heap)
{
    struct wsh_heap_guard_sampling *g = &heap->guard;
    struct wsh_heap *shadow = g->shadow;

    fold_window(heap);
    if (g->round_bytes != 0) g->n_rounds_sampled++; /* a sampled round that allocated */
    if (g->n_round != 0 || g->round_bytes != 0) {
        (void)shadow_of(heap); /* the name, for a report the check may make */
        shadow->n_resets = heap->n_resets;
        shadow->ops->reset(shadow);
        give_slots(g->n_round);
        atomic_fetch_sub_explicit(&round_bytes, g->round_bytes, memory_order_relaxed);
        g->n_round = 0;
        g->round_bytes = 0;
    }
    draw_round(g);
}

void wsh_sample_heap_freed(struct wsh_heap *heap)
{
    struct wsh_heap_guard_sampling *g = &heap->guard;
    struct wsh_heap *shadow = g->shadow;

    if (shadow == NULL) return;
    (void)shadow_of(heap);
    shadow->n_resets = heap->n_resets;
    shadow->magic = 0;
    shadow->ops->destroy(shadow);
    give_slots(g->n_round);
    atomic_fetch_sub_explicit(&round_bytes, g->round_bytes, memory_order_relaxed);
    g->n_round = 0;
    g->round_bytes = 0;
    g->shadow = NULL;
}

unsigned wsh_sample_live(void)
{
    return atomic_load_explicit(&live, memory_order_relaxed);
}

size_t wsh_sample_round_bytes(void)
{
    return atomic_load_explicit(&round_bytes, memory_order_relaxed);
}

void wsh_sample_test_configure(size_t mean, unsigned rounds, unsigned n_slots, uint64_t seed)
{
    atomic_store_explicit(&test_mean, mean, memory_order_relaxed);
    atomic_store_explicit(&test_rounds, rounds, memory_order_relaxed);
    atomic_store_explicit(&test_slots, n_slots, memory_order_relaxed);
    atomic_store_explicit(&test_seed, seed, memory_order_relaxed);
    atomic_store_explicit(&heap_counter, 0, memory_order_relaxed);
    atomic_store_explicit(&wsh_sample_test_on, mean != 0 || rounds != 0 || n_slots != 0,
                          memory_order_relaxed);
}
