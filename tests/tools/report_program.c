/* SPDX-License-Identifier: MIT */
/*
 * The program the report tests (test_reports.c, test_report_json.py) run with WSHEAP_* set:
 * each mode commits memory errors on guarded heaps, at fixed places, so that the reports,
 * their SUMMARY lines, dedup keys and suppressions can be checked. Modes:
 *   overflow         one write past a 24-byte block (overflow_write)
 *   three            an overflow (overflow_write), a use after reset (read_after_reset) and a
 *                    corrupted slack found at reset (scribble_slack), in that order, then
 *                    "report_program: survived" on stdout and a normal exit
 *   repeat N         the same overflow N times (one place, one dedup key), then "survived"
 *   name             an overflow on a heap whose name has quotes, a backslash, control
 *                    characters and bytes that are not UTF-8
 *   callback         sets a report callback that writes both copies, with their lengths, to
 *                    fd 3 (the test opens it), then overflows
 * Usage: report_program MODE [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wsheap.h>

/* The functions that commit the errors are kept out of line, so that frames and suppression
 * patterns name them. */
#define NOINLINE __attribute__((noinline))

static WS_HEAP *new_heap(const char *name)
{
    WS_HEAP *heap = NULL;

    if (FAILED(WsCreateHeap(1 << 20, 0, NULL, 0, &heap, NULL))) {
        fputs("report_program: WsCreateHeap failed\n", stderr);
        exit(2);
    }
    wsheap_set_heap_name(heap, name);
    return heap;
}

static char *alloc(WS_HEAP *heap, size_t size)
{
    void *p = NULL;

    if (FAILED(WsAlloc(heap, size, &p, NULL))) {
        fputs("report_program: WsAlloc failed\n", stderr);
        exit(2);
    }
    return p;
}

NOINLINE void overflow_write(char *p, size_t size)
{
    ((volatile char *)p)[size] = 'x';
}

NOINLINE int read_after_reset(const char *p)
{
    return ((const volatile char *)p)[0];
}

NOINLINE void scribble_slack(char *p, size_t size)
{
    ((volatile char *)p)[size] = 'y'; /* 13 bytes: the 14th is slack before the guard page */
}

static void overflow(const char *name)
{
    WS_HEAP *heap = new_heap(name);

    overflow_write(alloc(heap, 24), 24);
}

static void three(void)
{
    WS_HEAP *heap = new_heap("three");
    char *p;

    overflow_write(alloc(heap, 24), 24);
    p = alloc(heap, 16);
    WsResetHeap(heap, NULL);
    if (read_after_reset(p) != 0) puts("report_program: read garbage after reset");
    scribble_slack(alloc(heap, 13), 13);
    WsResetHeap(heap, NULL);
    WsFreeHeap(heap);
}

static void repeat(int n)
{
    WS_HEAP *heap = new_heap("repeat");

    for (int i = 0; i < n; i++)
        overflow_write(alloc(heap, 24), 24);
    WsFreeHeap(heap);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* Async-signal-safe: write(2) only. Writes "TEXT <len>\n<text>JSON <len>\n<json>". */
static void on_report(const char *text, size_t text_len, const char *json, size_t json_len,
                      void *arg)
{
    char head[64];
    int fd = *(const int *)arg, n;

    n = snprintf(head, sizeof head, "TEXT %zu\n", text_len); /* no locale, no malloc here */
    write_all(fd, head, (size_t)n);
    write_all(fd, text, text_len);
    n = snprintf(head, sizeof head, "JSON %zu\n", json_len);
    write_all(fd, head, (size_t)n);
    write_all(fd, json, json_len);
}

int main(int argc, char **argv)
{
    static int callback_fd = 3;
    const char *mode = argc > 1 ? argv[1] : "";

    if (strcmp(mode, "overflow") == 0) {
        overflow("report-program");
    } else if (strcmp(mode, "three") == 0) {
        three();
    } else if (strcmp(mode, "repeat") == 0) {
        repeat(argc > 2 ? atoi(argv[2]) : 5);
    } else if (strcmp(mode, "name") == 0) {
        overflow("q\"b\\s\n\t\x01\x7f-\xff\xc3(-\xe2\x82\xac-end");
    } else if (strcmp(mode, "callback") == 0) {
        wsheap_set_report_callback(on_report, &callback_fd);
        overflow("callback");
    } else {
        fprintf(stderr, "usage: report_program overflow|three|repeat N|name|callback\n");
        return 2;
    }
    puts("report_program: survived");
    return 0;
}
