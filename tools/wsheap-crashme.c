/* SPDX-License-Identifier: MIT */
/*
 * wsheap-crashme: commits one memory error on a WS_HEAP on purpose, to show the guarded
 * backend's report (docs/guarded.md's sample comes from here, and a death test runs it).
 *
 *   usage: wsheap-crashme overflow|underflow|use-after-reset|use-after-free-heap|slack
 *
 * WSHEAP_PAGEHEAP=1 is set unless the environment says otherwise; underflow also sets
 * WSHEAP_PAGEHEAP_BACKWARD=1 (guard page before the block) so that it traps at once.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsheap.h>

static const char usage[] =
    "usage: wsheap-crashme MODE\n"
    "Commits one memory error on a guarded WS_HEAP and dies with wsheap's report.\n"
    "  overflow             write one byte past a 24-byte block (trapped by the guard page)\n"
    "  underflow            write one byte before a 24-byte block (WSHEAP_PAGEHEAP_BACKWARD=1)\n"
    "  use-after-reset      read a block after WsResetHeap and 1000 new allocations\n"
    "  use-after-free-heap  call WsFreeHeap twice on the same heap\n"
    "  slack                write 14 bytes into a 13-byte block; found at WsResetHeap\n"
    "WSHEAP_PAGEHEAP=1 is set unless already in the environment; see WSHEAP_HELP=1 for the\n"
    "other options (WSHEAP_SYMBOLIZE=0 prints raw frames only).\n";

static void check(HRESULT hr, const char *what)
{
    if (hr != S_OK) {
        fprintf(stderr, "wsheap-crashme: %s failed: %s\n", what, wsheap_hresult_name(hr));
        exit(2);
    }
}

/* The functions a report names: kept out of line so they appear in the stacks. */
__attribute__((noinline)) char *new_message_buffer(WS_HEAP *heap, size_t size)
{
    void *p;

    check(WsAlloc(heap, size, &p, NULL), "WsAlloc");
    __asm__ volatile("" ::: "memory");
    return p;
}

__attribute__((noinline)) void copy_field(char *dst, const char *src, long from, long n)
{
    for (long i = from; i < from + n; i++)
        ((volatile char *)dst)[i] = src[i - from];
}

__attribute__((noinline)) char read_field(const char *p)
{
    return *(const volatile char *)p;
}

__attribute__((noinline)) void end_of_message(WS_HEAP *heap)
{
    check(WsResetHeap(heap, NULL), "WsResetHeap");
    __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
    const char *mode = argc == 2 ? argv[1] : NULL;
    static const char text[] = "Content-Length: 1234567890";
    WS_HEAP *heap;
    char *block;

    if (mode == NULL || strcmp(mode, "--help") == 0 || strcmp(mode, "-h") == 0) {
        fputs(usage, mode == NULL ? stderr : stdout);
        return mode == NULL ? 2 : 0;
    }
    if (strcmp(mode, "overflow") != 0 && strcmp(mode, "underflow") != 0 &&
        strcmp(mode, "use-after-reset") != 0 && strcmp(mode, "use-after-free-heap") != 0 &&
        strcmp(mode, "slack") != 0) {
        fprintf(stderr, "wsheap-crashme: unknown mode \"%s\"\n%s", mode, usage);
        return 2;
    }
    setenv("WSHEAP_PAGEHEAP", "1", 0); /* read on the first WsCreateHeap */
    if (strcmp(mode, "underflow") == 0) setenv("WSHEAP_PAGEHEAP_BACKWARD", "1", 0);

    check(WsCreateHeap(1 << 20, 0, NULL, 0, &heap, NULL), "WsCreateHeap");
    check(wsheap_set_heap_name(heap, "crashme"), "wsheap_set_heap_name");
    if (strcmp(wsheap_backend_name(heap), "guarded") != 0)
        fprintf(stderr, "wsheap-crashme: the heap is not guarded (WSHEAP_PAGEHEAP=0?): the "
                        "error below may go unnoticed\n");
    new_message_buffer(heap, 64); /* blocks #0 and #1: the message's other fields */
    new_message_buffer(heap, 100);

    if (strcmp(mode, "overflow") == 0) {
        block = new_message_buffer(heap, 24);
        copy_field(block, text, 0, 25); /* one byte too many */
    } else if (strcmp(mode, "underflow") == 0) {
        block = new_message_buffer(heap, 24);
        copy_field(block, text, -1, 1);
    } else if (strcmp(mode, "use-after-reset") == 0) {
        block = new_message_buffer(heap, 24);
        end_of_message(heap);
        for (int i = 0; i < 1000; i++)
            new_message_buffer(heap, 24);
        printf("%d\n", read_field(block));
    } else if (strcmp(mode, "use-after-free-heap") == 0) {
        WsFreeHeap(heap);
        WsFreeHeap(heap);
    } else {
        block = new_message_buffer(heap, 13);
        copy_field(block, text, 0, 14); /* into the slack before the guard page */
        end_of_message(heap);
    }
    fprintf(stderr, "wsheap-crashme: %s: not detected\n", mode);
    return 1;
}
