/* SPDX-License-Identifier: MIT */
/*
 * The program tests/tools/test_gdb_ext.sh debugs with the gdb extension (tools/gdb/wsheap.py):
 * two named guarded heaps with blocks allocated in known functions, then one of
 *   overrun          writes 3 bytes past a 13-byte block, on the guard page after its slack
 *                    (heap-buffer-overflow WRITE): dies
 *   use-after-reset  reads a block its heap's reset released (use-after-reset READ): dies
 *   stop             calls gdb_target_stop() (the live session's breakpoint), then exits 0
 * Before that it prints, for every address the test asks gdb about, a line "ADDR NAME 0x..."
 * and the in-process description (wsheap_describe_address) between "DESCRIBE NAME BEGIN" and
 * "DESCRIBE NAME END", so that the test can compare the extension's description with it; the
 * same addresses are in the globals gdb_target_NAME, for gdb to find in a core.
 * Run it with WSHEAP_PAGEHEAP=1. Usage: gdb_target overrun|use-after-reset|stop
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsheap.h>

/* The addresses described, for `wsheap describe gdb_target_past` and the like. */
char *gdb_target_inside, *gdb_target_past, *gdb_target_stale;

/* Where the test's breakpoint goes: a real call, not inlined or merged away. */
__attribute__((noinline)) void gdb_target_stop(void)
{
    __asm__ volatile("" ::: "memory");
}

static WS_HEAP *new_heap(const char *name)
{
    WS_HEAP *heap = NULL;

    if (FAILED(WsCreateHeap(1 << 20, 0, NULL, 0, &heap, NULL)) ||
        FAILED(wsheap_set_heap_name(heap, name))) {
        fprintf(stderr, "gdb_target: cannot create heap %s\n", name);
        exit(2);
    }
    return heap;
}

static void *alloc_or_die(WS_HEAP *heap, size_t size)
{
    void *p = NULL;

    if (FAILED(WsAlloc(heap, size, &p, NULL))) {
        fprintf(stderr, "gdb_target: WsAlloc(%zu) failed\n", size);
        exit(2);
    }
    return p;
}

/* The allocation stacks the test looks for: make_header, make_message. */
__attribute__((noinline)) static char *make_header(WS_HEAP *heap)
{
    char *p = alloc_or_die(heap, 100);

    memset(p, 'h', 100);
    return p;
}

__attribute__((noinline)) static char *make_message(WS_HEAP *heap)
{
    char *p = alloc_or_die(heap, 13);

    memcpy(p, "hello, world", 13);
    return p;
}

/* The release stack the test looks for: end_round. */
__attribute__((noinline)) static void end_round(WS_HEAP *heap)
{
    WsResetHeap(heap, NULL);
}

/* Prints an address and its in-process description for the test. */
static void show(const char *name, const void *p)
{
    char text[16384];

    wsheap_describe_address(p, text, sizeof text);
    printf("ADDR %s %p\nDESCRIBE %s BEGIN\n%sDESCRIBE %s END\n", name, p, name, text, name);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    WS_HEAP *requests, *scratch;
    char *header, *message, *stale;
    volatile char *target;

    if (strcmp(mode, "overrun") != 0 && strcmp(mode, "use-after-reset") != 0 &&
        strcmp(mode, "stop") != 0) {
        fprintf(stderr, "usage: gdb_target overrun|use-after-reset|stop\n");
        return 2;
    }
    requests = new_heap("requests");
    scratch = new_heap("scratch");
    stale = make_message(requests); /* released by the reset below */
    end_round(requests);
    header = make_header(requests);
    message = make_message(requests);
    (void)alloc_or_die(scratch, 4000);
    (void)alloc_or_die(scratch, 24);

    printf("ADDR requests %p\nADDR scratch %p\n", (void *)requests, (void *)scratch);
    gdb_target_inside = header + 5;
    gdb_target_past = message + 16; /* the guard page: 3 slack bytes come first */
    gdb_target_stale = stale + 2;
    show("inside", gdb_target_inside);
    show("past", gdb_target_past);
    show("stale", gdb_target_stale);
    fflush(stdout);

    if (strcmp(mode, "stop") == 0) {
        gdb_target_stop();
        WsFreeHeap(scratch);
        WsFreeHeap(requests);
        return 0;
    }
    target = strcmp(mode, "overrun") == 0 ? gdb_target_past : gdb_target_stale;
    if (strcmp(mode, "overrun") == 0)
        *target = 'x';
    else
        printf("read %d\n", *target);
    return 1; /* not reached: the access faults */
}
