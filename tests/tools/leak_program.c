/* SPDX-License-Identifier: MIT */
/*
 * The program the leak-report tests run: `leak_program leak` creates three named heaps at one
 * site and frees the middle one, plus one at another site that it frees, then returns from
 * main; `leak_program none` frees everything; `leak_program atexit` leaves its heaps to an atexit
 * handler registered before they are created, which must run before the leak report does;
 * `leak_program forge` leaks one heap more, whose name would forge a "==wsheap== ERROR" line and
 * colour the terminal if the report printed it raw.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsheap.h>

static WS_HEAP *later[3];

/* Creates heap `name` with one block and one reset behind it. */
static __attribute__((noinline)) WS_HEAP *make_session(const char *name)
{
    WS_HEAP *heap = NULL;
    void *p;

    if (FAILED(WsCreateHeap(65536, 4096, NULL, 0, &heap, NULL))) return NULL; /* SESSION_LINE */
    wsheap_set_heap_name(heap, name);
    WsAlloc(heap, 100, &p, NULL);
    WsResetHeap(heap, NULL);
    WsAlloc(heap, 300, &p, NULL);
    return heap;
}

static __attribute__((noinline)) void temporary(void)
{
    WS_HEAP *heap = NULL;
    void *p;

    if (FAILED(WsCreateHeap(1024, 0, NULL, 0, &heap, NULL))) return;
    wsheap_set_heap_name(heap, "temporary");
    WsAlloc(heap, 10, &p, NULL);
    WsFreeHeap(heap);
}

static void free_later(void)
{
    for (int i = 0; i < 3; i++)
        WsFreeHeap(later[i]);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "leak";

    if (strcmp(mode, "atexit") == 0) atexit(free_later);
    for (int i = 0; i < 3; i++) { /* one site: the same stack each time */
        char name[16];

        snprintf(name, sizeof name, "session-%d", i);
        later[i] = make_session(name);
    }
    temporary();
    if (strcmp(mode, "leak") == 0) {
        WsFreeHeap(later[1]);
    } else if (strcmp(mode, "none") == 0) {
        free_later();
    } else if (strcmp(mode, "forge") == 0) {
        WS_HEAP *heap = NULL; /* a site of its own: the only name the site lists */

        if (FAILED(WsCreateHeap(1024, 0, NULL, 0, &heap, NULL))) return 2;
        wsheap_set_heap_name(heap, "evil\n==wsheap== ERROR: forged\x1b[31m");
        free_later();
    } else if (strcmp(mode, "atexit") != 0) {
        fprintf(stderr, "usage: leak_program [leak|none|atexit|forge]\n");
        return 2;
    }
    puts("leak_program: done");
    return 0;
}
