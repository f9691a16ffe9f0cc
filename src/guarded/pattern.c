/* SPDX-License-Identifier: MIT */
/*
 * Pattern bytes for the guarded backend: filling what a block does not use with the canary and
 * checking it when the block is released. This is most of what a guarded WsAlloc and its share
 * of WsResetHeap cost in instructions (a forward block's page head is nearly 4 KiB of pattern),
 * so both go through the C library's vectorised memcpy and memcmp against one prebuilt buffer
 * that holds the pattern as it lies at any address (the canary depends on the address's low
 * three bits only); a range that compares unequal is scanned again byte by byte, and that scan
 * alone says which bytes changed, so a report is the same as if every byte had been compared.
 * Depends on spans.h and, for the description of corrupted blocks, fault.c.
 */
#include <stdatomic.h>
#include <string.h>

#include "../os.h"
#include "fault.h"
#include "pattern.h"

/* The canary of the eight bytes of an 8-aligned word, as one word in memory order. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CANARY_WORD 0xCFCECDCCCBCAC9C8u
#else
#define CANARY_WORD 0xC8C9CACBCCCDCECFu
#endif

/*
 * The pattern as it lies in memory from any 64-aligned address: byte i is wsh_canary_byte(i).
 * Read-only data, so it needs no initialisation (nothing to race on, nothing to do in a fork
 * child). A range [lo, hi) is compared with the buffer from offset lo % PATTERN_BYTES, which
 * keeps source and destination equally aligned (the copy and comparison run on whole vectors).
 */
#define PATTERN_BYTES 4096
#define W8                                                                                         \
    CANARY_WORD, CANARY_WORD, CANARY_WORD, CANARY_WORD, CANARY_WORD, CANARY_WORD, CANARY_WORD,     \
        CANARY_WORD
#define W64 W8, W8, W8, W8, W8, W8, W8, W8
static _Alignas(64) const uint64_t pattern_words[PATTERN_BYTES / 8] = {W64, W64, W64, W64,
                                                                       W64, W64, W64, W64};
#define PATTERN ((const unsigned char *)pattern_words)

static size_t page_size(void)
{
    return wsh_os_page_size();
}

/* The length of the piece of [lo, hi) that the buffer covers from offset lo % PATTERN_BYTES. */
static size_t piece(uintptr_t lo, uintptr_t hi)
{
    size_t off = lo & (PATTERN_BYTES - 1), n = hi - lo;

    return n < PATTERN_BYTES - off ? n : PATTERN_BYTES - off;
}

/* wsh_pattern_fill and wsh_pattern_intact with the C library's memcpy and memcmp, from the
 * buffer: for short ranges (slack, redzones), the ends of long ones, and machines without the
 * vector code below. */
static void copy_pattern(uintptr_t lo, uintptr_t hi)
{
    while (lo < hi) {
        size_t n = piece(lo, hi);

        memcpy((void *)lo, PATTERN + (lo & (PATTERN_BYTES - 1)), n);
        lo += n;
    }
}

static bool compare_pattern(uintptr_t lo, uintptr_t hi)
{
    while (lo < hi) {
        size_t n = piece(lo, hi);

        if (memcmp((const void *)lo, PATTERN + (lo & (PATTERN_BYTES - 1)), n) != 0) return false;
        lo += n;
    }
    return true;
}

/*
 * Long ranges (a forward block's page head is nearly 4 KiB) with AVX2: 32-byte stores of the
 * pattern held in a register, and loads XORed with it and ORed together, sixteen vectors (512
 * bytes) per test; the unaligned ends are one unaligned vector each, against the buffer at the
 * same offset modulo 64, and the last stretch of the aligned middle overlaps the one before it
 * rather than going on vector by vector (bytes stored or compared twice are harmless). About
 * half the instructions of the library's memcpy / memcmp, which must also load a source and
 * locate a difference. Chosen at each call by the CPU's features (a load and a test); other
 * machines take the library's functions.
 */
#define BULK_MIN 320 /* shorter ranges go to the library's functions; longer have 256 aligned */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define HAVE_AVX2_PATH 1

/* The pattern as it lies at address `addr`, as an unaligned vector. */
__attribute__((target("avx2"))) static inline __m256i pattern_at(uintptr_t addr)
{
    return _mm256_loadu_si256((const __m256i *)(PATTERN + (addr & 63)));
}

/* Stores `w` in the `n` vectors at `p` (32-aligned). The loops here and in diff() are unrolled
 * by pragma: at -O2 (the RelWithDebInfo build) gcc 12 otherwise keeps them as loops and spills
 * diff()'s partial results to the stack, which cost 1,300 instructions per guarded block. */
__attribute__((target("avx2"))) static inline void store(uintptr_t p, __m256i w, unsigned n)
{
#pragma GCC unroll 16
    for (unsigned i = 0; i < n; i++)
        _mm256_store_si256((__m256i *)p + i, w);
}

/* [lo, hi) with hi - lo >= BULK_MIN. */
__attribute__((target("avx2"))) static void fill_avx2(uintptr_t lo, uintptr_t hi)
{
    const __m256i w = _mm256_set1_epi64x((long long)CANARY_WORD);
    uintptr_t a = wsh_align_up(lo, 32), b = hi & ~(uintptr_t)31; /* b - a >= 256 */

    _mm256_storeu_si256((__m256i *)lo, pattern_at(lo));
    _mm256_storeu_si256((__m256i *)(hi - 32), pattern_at(hi - 32));
    for (; a + 512 <= b; a += 512)
        store(a, w, 16);
    if (a + 256 <= b) {
        store(a, w, 8);
        a += 256;
    }
    if (a < b) store(b - 256, w, 8);
}

/* The OR of (q[i] ^ w) over `n` vectors (n even), as a tree so that the ORs overlap. */
__attribute__((target("avx2"))) static inline __m256i diff(uintptr_t p, __m256i w, unsigned n)
{
    const __m256i *q = (const __m256i *)p;
    unsigned pairs = n / 2; /* unsigned: UBSan adds no check that would hide the loops */
    __m256i d[8];

#pragma GCC unroll 8
    for (unsigned i = 0; i < pairs; i++)
        d[i] = _mm256_or_si256(_mm256_xor_si256(q[2 * i], w), _mm256_xor_si256(q[2 * i + 1], w));
#pragma GCC unroll 4
    for (unsigned k = pairs / 2; k >= 1; k /= 2) {
#pragma GCC unroll 4
        for (unsigned i = 0; i < k; i++)
            d[i] = _mm256_or_si256(d[i], d[i + k]);
    }
    return d[0];
}

/* [lo, hi) with hi - lo >= BULK_MIN. */
__attribute__((target("avx2"))) static bool intact_avx2(uintptr_t lo, uintptr_t hi)
{
    const __m256i w = _mm256_set1_epi64x((long long)CANARY_WORD);
    uintptr_t a = wsh_align_up(lo, 32), b = hi & ~(uintptr_t)31; /* b - a >= 256 */
    __m256i d = _mm256_or_si256(
        _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)lo), pattern_at(lo)),
        _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(hi - 32)), pattern_at(hi - 32)));

    if (b - a < 512) {
        d = _mm256_or_si256(d, _mm256_or_si256(diff(a, w, 8), diff(b - 256, w, 8)));
        return _mm256_testz_si256(d, d);
    }
    if (!_mm256_testz_si256(d, d)) return false;
    for (; a + 512 <= b; a += 512) {
        d = diff(a, w, 16);
        if (!_mm256_testz_si256(d, d)) return false;
    }
    if (a == b) return true;
    d = diff(b - 512, w, 16);
    return _mm256_testz_si256(d, d);
}

static atomic_bool library_only; /* wsh_pattern_test_use_library */

static bool have_avx2(void)
{
    return __builtin_cpu_supports("avx2") &&
           !atomic_load_explicit(&library_only, memory_order_relaxed);
}

void wsh_pattern_test_use_library(bool on)
{
    atomic_store_explicit(&library_only, on, memory_order_relaxed);
}
#else
#define HAVE_AVX2_PATH 0

void wsh_pattern_test_use_library(bool on)
{
    (void)on; /* the library's functions are the only path here */
}
#endif

void wsh_pattern_fill(uintptr_t lo, uintptr_t hi)
{
#if HAVE_AVX2_PATH
    if (hi - lo >= BULK_MIN && have_avx2()) {
        fill_avx2(lo, hi);
        return;
    }
#endif
    copy_pattern(lo, hi);
}

bool wsh_pattern_intact(uintptr_t lo, uintptr_t hi)
{
#if HAVE_AVX2_PATH
    if (hi - lo >= BULK_MIN && have_avx2()) return intact_avx2(lo, hi);
#endif
    return compare_pattern(lo, hi);
}

void wsh_pattern_damage(uintptr_t lo, uintptr_t hi, uintptr_t *bad_lo, uintptr_t *bad_hi,
                        size_t *n_bad)
{
    *n_bad = 0;
    for (uintptr_t a = lo; a < hi; a++) {
        if (*(const uint8_t *)a == wsh_canary_byte(a)) continue;
        if (*n_bad == 0) *bad_lo = a;
        *bad_hi = a + 1;
        (*n_bad)++;
    }
}

/* Checks [lo, hi): true when intact; otherwise sets its corrupted bytes (wsh_pattern_damage). */
static bool check_range(uintptr_t lo, uintptr_t hi, uintptr_t *bad_lo, uintptr_t *bad_hi,
                        size_t *n_bad)
{
    if (WSH_LIKELY(wsh_pattern_intact(lo, hi))) return true;
    wsh_pattern_damage(lo, hi, bad_lo, bad_hi, n_bad);
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
        *tail_hi = wsh_align_up(b->user + b->size, 8) + WSH_REDZONE;
    else
        *tail_hi = b->data + (uintptr_t)b->n_pages * page_size();
    if (*tail_lo > *tail_hi) /* unaligned zero-size block: user is the guard page */
        *tail_lo = *tail_hi;
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
        tail = !check_range(r[2], r[3], &bad_lo, &bad_hi, &n_bad);
        if (!tail && check_range(r[0], r[1], &bad_lo, &bad_hi, &n_bad)) continue;
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
        wsh_fault_describe_heap(s, f);
    }
}

/* Spans are listed newest first, and blocks and redzone spans interleave, so every span is
 * checked to the end. Called by the heap's ops only, never in a signal handler: it may assert. */
bool wsh_pattern_check(const struct wsh_span *first, struct wsh_fault *f)
{
    size_t n_corrupted = 0;

    for (const struct wsh_span *s = first; s != NULL; s = s->next) {
        wsh_assert(s->magic == WSH_SPAN_MAGIC);
        check_span(s, f, &n_corrupted);
    }
    if (n_corrupted == 0) return true;
    f->n_corrupted = n_corrupted;
    return false;
}
