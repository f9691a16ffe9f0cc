/* SPDX-License-Identifier: MIT */
/*
 * Pattern bytes (pattern.c): the address-dependent canary that fills everything in a guarded
 * block's data pages (or redzones) that is not the block, written at WsAlloc and checked at
 * WsResetHeap / WsFreeHeap. Filling copies from, and checking compares against, a prebuilt
 * read-only pattern buffer (memcpy / memcmp, vectorised by the C library); only a range found
 * changed is scanned byte by byte, to locate its corrupted bytes exactly. Every function here
 * is async-signal-safe and lock-free (none is called by the signal handler today, but the
 * report writer reads wsh_canary_byte). Depends on spans.h (the records) and fault.h (the
 * description of what a check finds).
 */
#ifndef WSH_GUARDED_PATTERN_H
#define WSH_GUARDED_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wsh_span;
struct wsh_fault;

/* The canary byte expected at address `addr` in slack, page heads and redzones: it depends on
 * the address's low three bits only, so the pattern repeats every 8 bytes. */
static inline uint8_t wsh_canary_byte(uintptr_t addr)
{
    return (uint8_t)(0xC8u + (addr & 7u));
}

/* Fills [lo, hi) with the canary pattern. lo <= hi. */
void wsh_pattern_fill(uintptr_t lo, uintptr_t hi);

/* True when every byte of [lo, hi) holds its canary. lo <= hi. */
bool wsh_pattern_intact(uintptr_t lo, uintptr_t hi);

/* Where [lo, hi) differs from the pattern: the first corrupted byte in *bad_lo, one past the
 * last in *bad_hi and their number (changed bytes only, not the span) in *n_bad; *n_bad is 0
 * (and the others untouched) when the range is intact. Scans byte by byte: for a range that
 * wsh_pattern_intact said is damaged. */
void wsh_pattern_damage(uintptr_t lo, uintptr_t hi, uintptr_t *bad_lo, uintptr_t *bad_hi,
                        size_t *n_bad);

/* Checks the pattern bytes of every live block of the spans `first` (linked through ->next,
 * a heap's list). Returns true when all are intact; otherwise describes in `f` the corrupted
 * block with the lowest ordinal (the first damaged, most likely the cause of the rest) and
 * counts the corrupted blocks in f->n_corrupted. Only the spans' heap calls this (its thread
 * holds the heap). */
bool wsh_pattern_check(const struct wsh_span *first, struct wsh_fault *f);

/* Test hook: fill and check with the C library's memcpy / memcmp only, never the vector code
 * (the path of machines without AVX2), when `on`. */
void wsh_pattern_test_use_library(bool on);

#endif
