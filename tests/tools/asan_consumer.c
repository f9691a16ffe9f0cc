/* SPDX-License-Identifier: MIT */
/*
 * An application built with -fsanitize=address (by gcc or clang) against a libwsheap built
 * without it: tests/tools/test_asan_consumer.sh builds it each way and checks that the library
 * finds the ASan runtime at run time. Only the public API: `overrun` reads one byte past a
 * 13-byte block, `use-after-reset` reads a block after WsResetHeap (both exit 0 when ASan did not
 * stop them), `layout` checks the poisoning byte by byte as tests/test_track.c does in an ASan
 * build of the library, and wsheap_describe_address, and exits 0 when all holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>
#include <wsheap.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "asan_consumer: %s:%d: %s does not hold\n", __FILE__, __LINE__,        \
                    #cond);                                                                        \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* The allocating function the reports must name. */
static __attribute__((noinline)) char *make_message(WS_HEAP *heap, size_t size)
{
    void *body;

    if (FAILED(WsAlloc(heap, size, &body, NULL))) {
        fprintf(stderr, "asan_consumer: WsAlloc failed\n");
        exit(2);
    }
    memset(body, 'b', size);
    return body;
}

/* The redzones and the tail of a chunk are poisoned byte-exactly, and so is every block after a
 * reset; the byte past a block is described with the block. */
static void check_layout(WS_HEAP *heap)
{
    char *a = make_message(heap, 13), *b = make_message(heap, 16);
    char text[4096];

    CHECK(!__asan_address_is_poisoned(a + 12));
    CHECK(__asan_address_is_poisoned(a + 13)); /* inside the last 8-byte granule */
    CHECK(__asan_address_is_poisoned(a - 1));
    CHECK(!__asan_address_is_poisoned(b + 15));
    CHECK(__asan_address_is_poisoned(b + 16));
    CHECK(__asan_address_is_poisoned(b + 200)); /* the chunk's unused tail */
    CHECK(wsheap_describe_address(a + 13, text, sizeof text) == WSHEAP_ADDRESS_BLOCK);
    CHECK(strstr(text, "is 0 bytes after the 13-byte block") != NULL);
    CHECK(strstr(text, "in make_message") != NULL);
    if (failures > 0) fprintf(stderr, "asan_consumer: the description was:\n%s", text);
    CHECK(WsResetHeap(heap, NULL) == S_OK);
    CHECK(__asan_address_is_poisoned(a));
    CHECK(__asan_address_is_poisoned(b + 8));
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    volatile char sink = 0;
    WS_HEAP *heap;
    char *m;

    if (FAILED(WsCreateHeap(1 << 20, 0, NULL, 0, &heap, NULL))) return 2;
    wsheap_set_heap_name(heap, "requests");
    if (strcmp(mode, "layout") == 0) {
        check_layout(heap);
    } else if (strcmp(mode, "overrun") == 0) {
        m = make_message(heap, 13);
        sink = m[13];
    } else if (strcmp(mode, "use-after-reset") == 0) {
        m = make_message(heap, 13);
        WsResetHeap(heap, NULL);
        sink = m[0];
    } else {
        fprintf(stderr, "usage: asan_consumer overrun|use-after-reset|layout\n");
        return 2;
    }
    (void)sink;
    WsFreeHeap(heap);
    return failures == 0 ? 0 : 1;
}
