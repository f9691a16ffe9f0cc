/* SPDX-License-Identifier: MIT */
/*
 * The program tests/test_track.c runs in a child (under ASan, under valgrind, under gdb) to show
 * what the tools report for arena bugs. Each mode does one thing and exits 0 when no tool
 * stopped it: `overrun` reads one byte past a 13-byte block, `use-after-reset` reads a block
 * after WsResetHeap, `stale N` does so after N more rounds reused the heap, `describe` prints
 * wsheap_describe_address for the byte past a block, `gdb` stops in helper_stop for a debugger.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsheap.h>

#include "track.h"

/* Read by gdb (`print helper_block`), hence not static. */
char *helper_block;

/* The allocating function the reports must name. */
static __attribute__((noinline)) char *make_message(WS_HEAP *heap)
{
    void *header, *body;

    if (FAILED(WsAlloc(heap, 24, &header, NULL)) || FAILED(WsAlloc(heap, 13, &body, NULL))) {
        fprintf(stderr, "track_helper: WsAlloc failed\n");
        exit(2);
    }
    memset(header, 'h', 24);
    memset(body, 'b', 13);
    return body;
}

/* The resetting function the use-after-reset report must name as the releasing one. */
static __attribute__((noinline)) void finish_message(WS_HEAP *heap)
{
    WsResetHeap(heap, NULL);
    __asm__ volatile("" ::: "memory");
}

/* A breakpoint for gdb. */
__attribute__((noinline)) void helper_stop(void);
__attribute__((noinline)) void helper_stop(void)
{
    __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    volatile char sink = 0;
    WS_HEAP *heap;
    char *m;

    if (strcmp(mode, "gdb") == 0) wsh_track_force(WSH_TRACK_ON); /* gdb runs it natively */
    if (FAILED(WsCreateHeap(1 << 20, 0, NULL, 0, &heap, NULL))) return 2;
    wsheap_set_heap_name(heap, "requests");
    m = make_message(heap);
    helper_block = m;

    if (strcmp(mode, "overrun") == 0) {
        sink = m[13];
    } else if (strcmp(mode, "use-after-reset") == 0) {
        finish_message(heap);
        sink = m[0];
    } else if (strcmp(mode, "stale") == 0 && argc > 2) {
        long rounds = strtol(argv[2], NULL, 10);

        WsResetHeap(heap, NULL);
        for (long r = 0; r < rounds; r++) {
            make_message(heap);
            WsResetHeap(heap, NULL);
        }
        sink = m[0];
    } else if (strcmp(mode, "describe") == 0) {
        char text[2048];
        int kind = wsheap_describe_address(m + 13, text, sizeof text);

        printf("kind %d\n%s", kind, text);
    } else if (strcmp(mode, "gdb") == 0) {
        helper_stop();
    } else {
        fprintf(stderr, "usage: track_helper overrun|use-after-reset|stale N|describe|gdb\n");
        return 2;
    }
    (void)sink;
    WsFreeHeap(heap);
    return 0;
}
