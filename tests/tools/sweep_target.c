/* SPDX-License-Identifier: MIT */
/*
 * The program the fail-sweep test sweeps (tests/tools/test_fail_sweep.sh): one heap and four
 * call sites, each with its own error path, three of them seeded with a classic bug:
 *
 *   open_heap       WsCreateHeap; handles a failure: a message and exit status 1
 *   fill_unchecked  WsAlloc; writes through the out-pointer without checking: a crash
 *   copy_or_leak    WsAlloc; on failure main returns without freeing the heap: a leak
 *   alloc_retrying  WsAlloc; retries until it succeeds: fine when a failure is transient, a
 *                   hang when failures persist (--persistent)
 *
 * Without failures it frees everything and exits 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <wsheap.h>

static __attribute__((noinline)) WS_HEAP *open_heap(void)
{
    WS_HEAP *heap = NULL;

    if (FAILED(WsCreateHeap(65536, 4096, NULL, 0, &heap, NULL))) {
        fputs("sweep_target: cannot create the heap\n", stderr);
        return NULL;
    }
    return heap;
}

static __attribute__((noinline)) void fill_unchecked(WS_HEAP *heap)
{
    char *block = NULL;

    WsAlloc(heap, 64, (void **)&block, NULL); /* the bug: the result is not checked */
    memset(block, 'x', 64);
}

static __attribute__((noinline)) int copy_or_leak(WS_HEAP *heap, const char *text)
{
    char *copy = NULL;

    if (FAILED(WsAlloc(heap, strlen(text) + 1, (void **)&copy, NULL))) return -1;
    memcpy(copy, text, strlen(text) + 1);
    return 0;
}

static __attribute__((noinline)) void *alloc_retrying(WS_HEAP *heap, size_t size)
{
    const struct timespec pause = {0, 1000 * 1000};
    void *block = NULL;

    while (FAILED(WsAlloc(heap, size, &block, NULL)))
        nanosleep(&pause, NULL); /* the bug: waits for memory that may never come */
    return block;
}

int main(void)
{
    WS_HEAP *heap = open_heap();

    if (heap == NULL) return 1;
    fill_unchecked(heap);
    if (copy_or_leak(heap, "hello") != 0) {
        fputs("sweep_target: out of memory\n", stderr);
        return 1; /* the bug: the heap is not freed on this path */
    }
    alloc_retrying(heap, 128);
    WsFreeHeap(heap);
    puts("sweep_target: done");
    return 0;
}
