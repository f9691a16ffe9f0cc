/* SPDX-License-Identifier: MIT */
/*
 * Heap names in reports: wsh_name_escape's rendering (printable ASCII and valid UTF-8 as they
 * are; quotes, backslashes, control bytes, invalid UTF-8, C1 controls, line separators and
 * bidirectional controls escaped; cut only between whole units), and the guarded backend's fault
 * report for a heap whose name tries to forge a "==wsheap== ERROR" line and colour the terminal:
 * committed in a forked child, which must print the name escaped, with no forged line and no
 * ESC byte. Statistics, the leak report and wsheap_describe_address are checked in test_stats.c,
 * tests/tools/test_leaks.sh and test_track.c.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "death.h"
#include "guarded/guarded.h"
#include "internal.h"

/* A name that, printed raw, ends the report's line, starts a forged one, and turns the
 * terminal red. */
#define FORGING_NAME "evil\n==wsheap== ERROR: forged\x1b[31m red"
/* The same name as reports must show it. */
#define FORGING_SHOWN "evil\\n==wsheap== ERROR: forged\\x1b[31m red"

static char shown[WSH_NAME_SHOWN_MAX];

static const char *escape(const char *name)
{
    size_t n = wsh_name_escape(name, shown, sizeof shown);

    assert_int_equal(n, strlen(shown));
    return shown;
}

/* --- wsh_name_escape -------------------------------------------------------------------------- */

static void test_escape_table(void **state)
{
    static const struct {
        const char *name, *shown;
    } cases[] = {
        {"", ""},
        {"requests", "requests"},
        {"a \"quoted\" \\ name", "a \\\"quoted\\\" \\\\ name"},
        {"tab\there\r\n", "tab\\there\\r\\n"},
        {"\x01\x1b\x7f", "\\x01\\x1b\\x7f"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x98"},
        {"\xc2\x9b"
         "31m",
         "\\xc2\\x9b31m"},          /* C1 CSI */
        {"\xc2\x85", "\\xc2\\x85"}, /* C1 NEL: a line break */
        {"a\xe2\x80\xa8"
         "b",
         "a\\xe2\\x80\\xa8b"}, /* U+2028 line separator */
        {"\xe2\x80\xae"
         "txt",
         "\\xe2\\x80\\xaetxt"},              /* U+202E right-to-left override */
        {"\xe2\x81\xa6", "\\xe2\\x81\\xa6"}, /* U+2066 left-to-right isolate */
        {"\x9b"
         "31m",
         "\\x9b31m"},                                 /* a lone C1 byte (not UTF-8) */
        {"\xc0\xaf", "\\xc0\\xaf"},                   /* overlong '/' */
        {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"},          /* overlong, 3 bytes */
        {"\xed\xa0\x80", "\\xed\\xa0\\x80"},          /* a surrogate */
        {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"}, /* above U+10FFFF */
        {"\xff\xfe", "\\xff\\xfe"},                   /* never UTF-8 */
        {"ok\xe2\x82", "ok\\xe2\\x82"},               /* cut short by the end */
        {"\xe2\x82"
         "A",
         "\\xe2\\x82A"}, /* cut short by ASCII */
        {"\x80"
         "x",
         "\\x80x"}, /* stray continuation byte */
        {FORGING_NAME, FORGING_SHOWN},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(escape(cases[i].name), cases[i].shown) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, shown, cases[i].shown);
}

/* Whatever the bytes, the rendering has no byte below 0x20, no DEL and no C1 sequence, and
 * WSH_NAME_SHOWN_MAX holds the worst case. */
static void test_escape_never_passes_controls(void **state)
{
    char name[WSHEAP_NAME_MAX];
    uint32_t x = 12345;

    (void)state;
    for (int round = 0; round < 20000; round++) {
        size_t n;

        for (size_t i = 0; i < sizeof name - 1; i++) {
            x = x * 1103515245u + 12345u;
            name[i] = (char)(1 + (x >> 16) % 255);
        }
        name[sizeof name - 1] = '\0';
        n = wsh_name_escape(name, shown, sizeof shown);
        assert_int_equal(strlen(shown), n);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)shown[i];

            assert_true(c >= 0x20 && c != 0x7f);
            if (c == 0xc2 && i + 1 < n) assert_false((unsigned char)shown[i + 1] < 0xa0);
        }
    }
    memset(name, 0x1b, sizeof name - 1);
    assert_int_equal(wsh_name_escape(name, shown, sizeof shown), sizeof shown - 1);
}

/* A small buffer: cut between whole units, never inside an escape or a UTF-8 sequence. */
static void test_escape_cuts_whole_units(void **state)
{
    char small[8];

    (void)state;
    assert_int_equal(wsh_name_escape("ab\x1b"
                                     "cd",
                                     small, sizeof small),
                     7);
    assert_string_equal(small, "ab\\x1bc");
    assert_int_equal(wsh_name_escape("abcd\x1b", small, 7), 4);
    assert_string_equal(small, "abcd");
    assert_int_equal(wsh_name_escape("abcde\xe2\x82\xac", small, sizeof small), 5);
    assert_string_equal(small, "abcde");
    assert_int_equal(wsh_name_escape("x", small, 1), 0);
    assert_string_equal(small, "");
}

/* --- The fault report ------------------------------------------------------------------------- */

/* In the child: a guarded heap with the forging name, and a write one byte past a block. */
static void overflow_named_heap(void *arg)
{
    struct wsh_options o = *wsh_options();
    struct wsh_heap *h;
    void *p = NULL;

    (void)arg;
    o.backend = WSH_BACKEND_GUARDED;
    o.stack_depth = 8;
    o.symbolize = false;
    h = wsh_guarded_ops.create(&o);
    if (h == NULL) _exit(90);
    wsh_heap_init(h, &wsh_guarded_ops, SIZE_MAX, 0);
    wsheap_set_heap_name((WS_HEAP *)h, FORGING_NAME);
    if (WsAlloc((WS_HEAP *)h, 24, &p, NULL) != S_OK) _exit(91);
    ((volatile char *)p)[24] = 'x';
}

/* True when some line of `text` starts with `prefix`. */
static bool has_line_starting(const char *text, const char *prefix)
{
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');

        if (strncmp(line, prefix, strlen(prefix)) == 0) return true;
        line = nl != NULL ? nl + 1 : NULL;
    }
    return false;
}

static void test_fault_report_escapes_name(void **state)
{
    static char out[65536];
    int status = run_in_child(overflow_named_heap, NULL, out, sizeof out);

    (void)state;
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    if (strstr(out, "==wsheap== ERROR: heap-buffer-overflow WRITE") == NULL)
        fail_msg("no report:\n%s", out);
    if (strstr(out, "\"" FORGING_SHOWN "\"") == NULL)
        fail_msg("the name is not shown escaped:\n%s", out);
    if (has_line_starting(out, "==wsheap== ERROR: forged"))
        fail_msg("the name forged a line:\n%s", out);
    if (strchr(out, '\x1b') != NULL) fail_msg("an ESC byte reached the report:\n%s", out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_table),
        cmocka_unit_test(test_escape_never_passes_controls),
        cmocka_unit_test(test_escape_cuts_whole_units),
        cmocka_unit_test(test_fault_report_escapes_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
