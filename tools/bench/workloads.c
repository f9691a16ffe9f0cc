/* SPDX-License-Identifier: MIT */
/*
 * wsheap-bench helpers shared by every backend: the CPU clock, the deterministic size
 * generator behind every size table, and the validation checks (pattern fill, alignment,
 * disjointness) that keep a broken allocator from posting a good number.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

uint64_t bench_thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]; the modulo bias is irrelevant at these ranges. */
static uint32_t uniform(uint64_t *state, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(bench_rand_next(state) % (uint64_t)(hi - lo + 1));
}

void bench_fill_w1_sizes(uint32_t *out, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t pick = (uint32_t)(bench_rand_next(state) % 100u);

        if (pick < 70)
            out[i] = uniform(state, 8, 64);
        else if (pick < 95)
            out[i] = uniform(state, 65, 512);
        else
            out[i] = uniform(state, 513, 4096);
    }
}

void bench_fill_w3_sizes(uint32_t *out, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++)
        out[i] = uniform(state, 4096, 256 * 1024);
}

static unsigned char pattern_byte(uint32_t tag, size_t i)
{
    return (unsigned char)(tag * 167u + (uint32_t)i * 13u + 1u);
}

void bench_fill_block(const struct bench_block *b)
{
    for (size_t i = 0; i < b->size; i++)
        b->p[i] = pattern_byte(b->tag, i);
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct bench_block *)a)->p;
    uintptr_t y = (uintptr_t)((const struct bench_block *)b)->p;

    return x < y ? -1 : x > y;
}

int bench_check_blocks(struct bench_block *blocks, size_t n, char *why, size_t why_size)
{
    for (size_t k = 0; k < n; k++) {
        const struct bench_block *b = &blocks[k];

        if (b->p == NULL || ((uintptr_t)b->p & 7) != 0) {
            snprintf(why, why_size, "block %zu of %zu is %p: NULL or not 8-aligned", k, n,
                     (void *)b->p);
            return -1;
        }
        for (size_t i = 0; i < b->size; i++) {
            if (b->p[i] != pattern_byte(b->tag, i)) {
                snprintf(why, why_size,
                         "block %zu (%zu bytes at %p) was overwritten at offset %zu: another "
                         "live block overlaps it",
                         k, b->size, (void *)b->p, i);
                return -1;
            }
        }
    }
    qsort(blocks, n, sizeof *blocks, by_address);
    for (size_t k = 1; k < n; k++) {
        /* Zero-size blocks still need distinct addresses; the others must not overlap. */
        uintptr_t prev_end =
            (uintptr_t)blocks[k - 1].p + (blocks[k - 1].size ? blocks[k - 1].size : 1);

        if ((uintptr_t)blocks[k].p < prev_end) {
            snprintf(why, why_size, "blocks at %p (%zu bytes) and %p (%zu bytes) overlap",
                     (void *)blocks[k - 1].p, blocks[k - 1].size, (void *)blocks[k].p,
                     blocks[k].size);
            return -1;
        }
    }
    return 0;
}
