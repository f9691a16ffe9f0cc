/* SPDX-License-Identifier: MIT */
/*
 * Black-box tests of the WS_ERROR object through <wsheap.h> only (docs/api.md, "The error
 * object" and "Error properties"): creation properties, Get/SetErrorProperty sizes and rules,
 * string order and lifetime, reset; plus the wsheap_hresult_* names and wsheap_string_to_utf8.
 * Every failing call must leave its out-parameters and buffers untouched.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <wsheap.h>

#include "support/check.h"

#define SENTINEL_ERROR ((WS_ERROR *)(uintptr_t)0x4e4e4e4e4e48u)
#define SENTINEL_CHARS ((WCHAR *)(uintptr_t)0x5e5e5e5e5e58u)
#define SENTINEL_BYTE  0xa5

/* --- Helpers ---------------------------------------------------------------------------------- */

static WS_ERROR *make_error(void)
{
    WS_ERROR *error = NULL;

    assert_hr(WsCreateError(NULL, 0, &error), S_OK);
    assert_non_null(error);
    return error;
}

static ULONG get_ulong(WS_ERROR *error, WS_ERROR_PROPERTY_ID id)
{
    ULONG v = 0xfefefefe;

    assert_hr(WsGetErrorProperty(error, id, &v, sizeof v), S_OK);
    return v;
}

static LANGID get_langid(WS_ERROR *error)
{
    LANGID v = 0xfefe;

    assert_hr(WsGetErrorProperty(error, WS_ERROR_PROPERTY_LANGID, &v, sizeof v), S_OK);
    return v;
}

#define STRING_COUNT(e)  get_ulong((e), WS_ERROR_PROPERTY_STRING_COUNT)
#define ORIGINAL_CODE(e) get_ulong((e), WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE)

/* Adds the ASCII text `s` as a WS_STRING. */
static void add_ascii(WS_ERROR *error, const char *s)
{
    WCHAR buf[256];
    WS_STRING str = {(ULONG)strlen(s), buf};

    assert_true(strlen(s) <= 256);
    for (size_t i = 0; i < str.length; i++)
        buf[i] = (WCHAR)(unsigned char)s[i];
    assert_hr(WsAddErrorString(error, &str), S_OK);
}

/* Fails unless string `index` of `error` is the ASCII text `s`. */
static void check_string(WS_ERROR *error, ULONG index, const char *s)
{
    WS_STRING got = {0xfefefefe, SENTINEL_CHARS};
    char utf8[512];

    assert_hr(WsGetErrorString(error, index, &got), S_OK);
    assert_int_equal(got.length, strlen(s));
    assert_non_null(got.chars);
    assert_true(wsheap_string_to_utf8(&got, utf8, sizeof utf8) < sizeof utf8);
    assert_string_equal(utf8, s);
}

static int setup(void **state)
{
    return WsCreateError(NULL, 0, (WS_ERROR **)state) == S_OK ? 0 : -1;
}

static int teardown(void **state)
{
    WsFreeError(*state);
    return 0;
}

/* --- WsCreateError ---------------------------------------------------------------------------- */

static void test_create_defaults(void **state)
{
    WS_ERROR *error = *state;

    assert_int_equal(get_langid(error), 0x0409); /* decision: en-US */
    assert_int_equal(STRING_COUNT(error), 0);
    assert_int_equal(ORIGINAL_CODE(error), 0);
}

static void test_create_with_langid(void **state)
{
    LANGID dutch = 0x0413;
    WS_ERROR_PROPERTY prop = {WS_ERROR_PROPERTY_LANGID, &dutch, sizeof dutch};
    WS_ERROR *error = NULL;

    (void)state;
    assert_hr(WsCreateError(&prop, 1, &error), S_OK);
    assert_non_null(error);
    assert_int_equal(get_langid(error), 0x0413);
    assert_int_equal(STRING_COUNT(error), 0);
    assert_int_equal(ORIGINAL_CODE(error), 0);
    WsFreeError(error);

    /* propertyCount 0 ignores a non-NULL array. */
    assert_hr(WsCreateError(&prop, 0, &error), S_OK);
    assert_int_equal(get_langid(error), 0x0409);
    WsFreeError(error);
}

/* Each creation that must fail: E_INVALIDARG and *error untouched. */
static void test_create_rejects(void **state)
{
    LANGID zero = 0, dutch = 0x0413;
    ULONG four = 4, code = 0x80004005u;
    uint32_t wide_langid = 0x0413;
    static const struct {
        const char *what;
        int n;
        bool null_properties;
        bool null_out;
        struct {
            int id;
            int value; /* 0: NULL, 1: LANGID 0, 2: LANGID 0x0413, 3: ULONG 4, 4: ULONG code,
                          5: a 4-byte LANGID */
            ULONG size;
        } props[2];
    } cases[] = {
        {"LANGID 0", 1, .props = {{WS_ERROR_PROPERTY_LANGID, 1, 2}}},
        {"STRING_COUNT at creation", 1, .props = {{WS_ERROR_PROPERTY_STRING_COUNT, 3, 4}}},
        {"ORIGINAL_ERROR_CODE at creation", 1,
         .props = {{WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, 4, 4}}},
        {"unknown id 3", 1, .props = {{3, 3, 4}}},
        {"unknown id -1", 1, .props = {{-1, 3, 4}}},
        {"a valid LANGID, then STRING_COUNT", 2,
         .props = {{WS_ERROR_PROPERTY_LANGID, 2, 2}, {WS_ERROR_PROPERTY_STRING_COUNT, 3, 4}}},
        {"a valid LANGID, then LANGID 0", 2,
         .props = {{WS_ERROR_PROPERTY_LANGID, 2, 2}, {WS_ERROR_PROPERTY_LANGID, 1, 2}}},
        {"LANGID with a NULL value", 1, .props = {{WS_ERROR_PROPERTY_LANGID, 0, 2}}},
        {"LANGID with valueSize 4", 1, .props = {{WS_ERROR_PROPERTY_LANGID, 5, 4}}},
        {"LANGID with valueSize 1", 1, .props = {{WS_ERROR_PROPERTY_LANGID, 2, 1}}},
        {"propertyCount 1, properties NULL", 1, .null_properties = true},
        {"propertyCount 5, properties NULL", 5, .null_properties = true},
        {"a valid LANGID, NULL out-pointer", 1, .null_out = true,
         .props = {{WS_ERROR_PROPERTY_LANGID, 2, 2}}},
        {"no properties, NULL out-pointer", 0, .null_out = true},
    };

    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        WS_ERROR_PROPERTY props[2];
        WS_ERROR *error = SENTINEL_ERROR;
        HRESULT hr;

        for (int i = 0; i < 2; i++) {
            void *values[] = {NULL, &zero, &dutch, &four, &code, &wide_langid};

            props[i].id = (WS_ERROR_PROPERTY_ID)cases[k].props[i].id;
            props[i].value = values[cases[k].props[i].value];
            props[i].valueSize = cases[k].props[i].size;
        }
        hr = WsCreateError(cases[k].null_properties ? NULL : props, (ULONG)cases[k].n,
                           cases[k].null_out ? NULL : &error);
        if (hr == S_OK && !cases[k].null_out) WsFreeError(error);
        if (hr != E_INVALIDARG)
            failf(__FILE__, __LINE__, "WsCreateError with %s: %s, expected E_INVALIDARG",
                  cases[k].what, wsheap_hresult_name(hr));
        if (error != SENTINEL_ERROR)
            failf(__FILE__, __LINE__, "WsCreateError with %s wrote *error", cases[k].what);
    }
}

/* --- WsGetErrorProperty / WsSetErrorProperty -------------------------------------------------- */

/* STRING_COUNT and ORIGINAL_ERROR_CODE are 4 bytes, LANGID 2: any other size fails and leaves the
 * buffer untouched; so do unknown ids, a NULL buffer and a NULL error. */
static void test_get_property_sizes(void **state)
{
    static const struct {
        int id;
        bool known;
        ULONG size; /* the only size accepted */
    } ids[] = {
        {WS_ERROR_PROPERTY_STRING_COUNT, true, 4},
        {WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, true, 4},
        {WS_ERROR_PROPERTY_LANGID, true, 2},
        {3, false, 4},
        {4, false, 4},
        {-1, false, 2},
        {1000, false, 4},
    };
    static const ULONG sizes[] = {0, 1, 2, 3, 4, 5, 8, 16, 0xffffffffu};
    WS_ERROR *error = *state;
    unsigned char buf[32], untouched[32];

    memset(untouched, SENTINEL_BYTE, sizeof untouched);
    add_ascii(error, "one");
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            WS_ERROR_PROPERTY_ID id = (WS_ERROR_PROPERTY_ID)ids[k].id;
            bool ok = ids[k].known && sizes[s] == ids[k].size;
            HRESULT hr;

            /* buf + 8 has room for 24 bytes; a wrong size (even one claiming more room) must
             * be rejected before anything is written. */
            memset(buf, SENTINEL_BYTE, sizeof buf);
            hr = WsGetErrorProperty(error, id, buf + 8, sizes[s]);
            if (hr != (ok ? S_OK : E_INVALIDARG))
                failf(__FILE__, __LINE__, "WsGetErrorProperty(id %d, size %u): %s", ids[k].id,
                      (unsigned)sizes[s], wsheap_hresult_name(hr));
            if (!ok && memcmp(buf, untouched, sizeof buf) != 0)
                failf(__FILE__, __LINE__, "WsGetErrorProperty(id %d, size %u) wrote the buffer",
                      ids[k].id, (unsigned)sizes[s]);
            if (ok) {
                /* Exactly `size` bytes written. */
                assert_memory_equal(buf, untouched, 8);
                assert_memory_equal(buf + 8 + sizes[s], untouched, sizeof buf - 8 - sizes[s]);
            }
        }
        assert_hr(WsGetErrorProperty(error, (WS_ERROR_PROPERTY_ID)ids[k].id, NULL, ids[k].size),
                  E_INVALIDARG);
        memset(buf, SENTINEL_BYTE, sizeof buf);
        assert_hr(WsGetErrorProperty(NULL, (WS_ERROR_PROPERTY_ID)ids[k].id, buf, ids[k].size),
                  E_INVALIDARG);
        assert_memory_equal(buf, untouched, sizeof buf);
    }
    assert_int_equal(STRING_COUNT(error), 1);
}

static void test_set_property_rules(void **state)
{
    WS_ERROR *error = *state;
    ULONG code = 0x803D0008u, other = 7, count = 5;
    LANGID langid = 0x0413;
    uint64_t wide = 1;

    /* ORIGINAL_ERROR_CODE: settable with 4 bytes, and reads back. */
    assert_hr(WsSetErrorProperty(error, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, &code, 4), S_OK);
    assert_int_equal(ORIGINAL_CODE(error), 0x803D0008u);
    assert_hr(WsSetErrorProperty(error, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, &other, 4), S_OK);
    assert_int_equal(ORIGINAL_CODE(error), 7);
    /* ...not with another size or a NULL value; the value stays. */
    assert_hr(WsSetErrorProperty(error, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, &wide, 8),
              E_INVALIDARG);
    assert_hr(WsSetErrorProperty(error, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, &langid, 2),
              E_INVALIDARG);
    assert_hr(WsSetErrorProperty(error, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, &code, 0),
              E_INVALIDARG);
    assert_hr(WsSetErrorProperty(error, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, NULL, 4),
              E_INVALIDARG);
    assert_int_equal(ORIGINAL_CODE(error), 7);

    /* STRING_COUNT is read-only. */
    assert_hr(WsSetErrorProperty(error, WS_ERROR_PROPERTY_STRING_COUNT, &count, 4), E_INVALIDARG);
    assert_int_equal(STRING_COUNT(error), 0);

    /* LANGID cannot change after creation (observed Windows behaviour). */
    assert_hr(WsSetErrorProperty(error, WS_ERROR_PROPERTY_LANGID, &langid, sizeof langid),
              WS_E_INVALID_OPERATION);
    assert_int_equal(get_langid(error), 0x0409);

    /* Unknown ids and a NULL error. */
    assert_hr(WsSetErrorProperty(error, (WS_ERROR_PROPERTY_ID)3, &other, 4), E_INVALIDARG);
    assert_hr(WsSetErrorProperty(error, (WS_ERROR_PROPERTY_ID)-1, &other, 4), E_INVALIDARG);
    assert_hr(WsSetErrorProperty(NULL, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, &other, 4),
              E_INVALIDARG);
    assert_int_equal(ORIGINAL_CODE(error), 7);
    assert_int_equal(STRING_COUNT(error), 0);
}

/* --- Strings ---------------------------------------------------------------------------------- */

static void test_strings_newest_first(void **state)
{
    WS_ERROR *error = *state;
    static const char *const texts[] = {"first", "second", "third", "fourth", "fifth"};
    const ULONG n = sizeof texts / sizeof texts[0];
    WS_STRING got = {0xfefefefe, SENTINEL_CHARS};

    for (ULONG i = 0; i < n; i++) {
        add_ascii(error, texts[i]);
        assert_int_equal(STRING_COUNT(error), i + 1);
        check_string(error, 0, texts[i]);
    }
    for (ULONG i = 0; i < n; i++)
        check_string(error, i, texts[n - 1 - i]);

    /* Out of range, including the wrap-around candidates: E_INVALIDARG, *string untouched. */
    static const ULONG bad[] = {5, 6, 1000, 0x7fffffff, 0xffffffffu};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_hr(WsGetErrorString(error, bad[k], &got), E_INVALIDARG);
        assert_int_equal(got.length, 0xfefefefe);
        assert_ptr_equal(got.chars, SENTINEL_CHARS);
    }
    assert_hr(WsGetErrorString(error, 0, NULL), E_INVALIDARG);
    assert_hr(WsGetErrorString(NULL, 0, &got), E_INVALIDARG);
    assert_ptr_equal(got.chars, SENTINEL_CHARS);
}

static void test_get_string_of_empty_error(void **state)
{
    WS_ERROR *error = *state;
    WS_STRING got = {0xfefefefe, SENTINEL_CHARS};

    assert_hr(WsGetErrorString(error, 0, &got), E_INVALIDARG);
    assert_int_equal(got.length, 0xfefefefe);
    assert_ptr_equal(got.chars, SENTINEL_CHARS);
}

/* The string is copied: changing or freeing the caller's buffer does not change it, and what
 * WsGetErrorString returns stays valid while more strings are added. */
static void test_strings_are_copied(void **state)
{
    WS_ERROR *error = *state;
    WCHAR *mine = malloc(6 * sizeof *mine);
    static const WCHAR hello[] = {'h', 'e', 'l', 'l', 'o', '!'};
    WS_STRING s = {6, mine}, got = {0, NULL}, first = {0, NULL};

    assert_non_null(mine);
    memcpy(mine, hello, sizeof hello);
    assert_hr(WsAddErrorString(error, &s), S_OK);
    memset(mine, 0, sizeof hello);
    free(mine);
    assert_hr(WsGetErrorString(error, 0, &got), S_OK);
    assert_int_equal(got.length, 6);
    assert_true(got.chars != mine);
    assert_memory_equal(got.chars, hello, sizeof hello);

    /* Hold on to it while the object grows (1000 more strings), then read it again. */
    first = got;
    for (int i = 0; i < 1000; i++) {
        char text[32];

        snprintf(text, sizeof text, "string %d", i);
        add_ascii(error, text);
    }
    assert_int_equal(STRING_COUNT(error), 1001);
    assert_memory_equal(first.chars, hello, sizeof hello);
    check_string(error, 1000, "hello!");
    check_string(error, 0, "string 999");
    check_string(error, 500, "string 499");
}

/* Length, not a NUL, delimits a WS_STRING: embedded NULs and non-ASCII units come back as given. */
static void test_string_contents_exact(void **state)
{
    WS_ERROR *error = *state;
    static const WCHAR units[] = {'a', 0, 'b', 0xE9, 0x20AC, 0xD83D, 0xDE00, 0xDC00, 0xFFFF, 0};
    WS_STRING s = {sizeof units / sizeof units[0], (WCHAR *)units}, got = {0, NULL};
    WCHAR *big = malloc(70000 * sizeof *big);

    assert_hr(WsAddErrorString(error, &s), S_OK);
    assert_hr(WsGetErrorString(error, 0, &got), S_OK);
    assert_int_equal(got.length, s.length);
    assert_memory_equal(got.chars, units, sizeof units);

    /* A long string (more than 65535 units) too. */
    assert_non_null(big);
    for (size_t i = 0; i < 70000; i++)
        big[i] = (WCHAR)(i * 7 + 1);
    s.length = 70000;
    s.chars = big;
    assert_hr(WsAddErrorString(error, &s), S_OK);
    free(big);
    assert_hr(WsGetErrorString(error, 0, &got), S_OK);
    assert_int_equal(got.length, 70000);
    for (size_t i = 0; i < 70000; i++)
        if (got.chars[i] != (WCHAR)(i * 7 + 1))
            failf(__FILE__, __LINE__, "unit %zu of the long string changed", i);
}

/* An empty string is accepted, comes back with length 0 and non-NULL chars (Windows). */
static void test_empty_string(void **state)
{
    WS_ERROR *error = *state;
    WCHAR x = 'x';
    WS_STRING with_null = {0, NULL}, with_chars = {0, &x};
    WS_STRING got = {0xfefefefe, NULL};

    assert_hr(WsAddErrorString(error, &with_null), S_OK);
    assert_hr(WsAddErrorString(error, &with_chars), S_OK);
    assert_int_equal(STRING_COUNT(error), 2);
    for (ULONG i = 0; i < 2; i++) {
        got.length = 0xfefefefe;
        got.chars = NULL;
        assert_hr(WsGetErrorString(error, i, &got), S_OK);
        assert_int_equal(got.length, 0);
        assert_non_null(got.chars);
    }
}

static void test_add_string_rejects(void **state)
{
    WS_ERROR *error = *state;
    static const WCHAR ok[] = {'o', 'k'};
    WS_STRING null_chars = {3, NULL}, huge_null = {0xffffffffu, NULL}, good = {2, (WCHAR *)ok};

    assert_hr(WsAddErrorString(error, NULL), E_INVALIDARG);
    assert_hr(WsAddErrorString(NULL, &good), E_INVALIDARG);
    assert_hr(WsAddErrorString(error, &null_chars), E_INVALIDARG);
    assert_hr(WsAddErrorString(error, &huge_null), E_INVALIDARG);
    assert_int_equal(STRING_COUNT(error), 0);
    assert_hr(WsAddErrorString(error, &good), S_OK);
    assert_int_equal(STRING_COUNT(error), 1);
}

/* --- WsResetError / WsFreeError --------------------------------------------------------------- */

static void test_reset_error(void **state)
{
    LANGID dutch = 0x0413;
    WS_ERROR_PROPERTY prop = {WS_ERROR_PROPERTY_LANGID, &dutch, sizeof dutch};
    WS_ERROR *error = NULL;
    ULONG code = 42;
    WS_STRING got = {0xfefefefe, SENTINEL_CHARS};

    (void)state;
    assert_hr(WsCreateError(&prop, 1, &error), S_OK);
    for (int round = 0; round < 3; round++) {
        add_ascii(error, "a");
        add_ascii(error, "b");
        assert_hr(WsSetErrorProperty(error, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, &code, 4), S_OK);
        assert_int_equal(STRING_COUNT(error), 2);
        assert_hr(WsResetError(error), S_OK);
        assert_int_equal(STRING_COUNT(error), 0);
        assert_int_equal(ORIGINAL_CODE(error), 0);
        assert_int_equal(get_langid(error), 0x0413); /* kept from creation */
        assert_hr(WsGetErrorString(error, 0, &got), E_INVALIDARG);
        assert_ptr_equal(got.chars, SENTINEL_CHARS);
    }
    /* Resetting an empty error is fine; the object is fully usable after. */
    assert_hr(WsResetError(error), S_OK);
    add_ascii(error, "after");
    check_string(error, 0, "after");
    WsFreeError(error);
}

static void test_reset_and_free_null(void **state)
{
    (void)state;
    assert_hr(WsResetError(NULL), E_INVALIDARG);
    WsFreeError(NULL);
    WsFreeError(NULL);
}

/* Freeing an error object with strings releases them (valgrind and ASan check the leaks). */
static void test_free_error_with_strings(void **state)
{
    (void)state;
    for (int n = 0; n < 50; n += 7) {
        WS_ERROR *error = make_error();

        for (int i = 0; i < n; i++)
            add_ascii(error, "some text that must be freed");
        WsFreeError(error);
    }
}

/* Heap failures land in an error object created with a non-default LANGID too. */
static void test_heap_failure_strings(void **state)
{
    LANGID dutch = 0x0413;
    WS_ERROR_PROPERTY prop = {WS_ERROR_PROPERTY_LANGID, &dutch, sizeof dutch};
    WS_ERROR *error = NULL;
    WS_HEAP *heap = NULL;
    void *p = NULL;
    char text[512];
    WS_STRING got;

    (void)state;
    assert_hr(WsCreateError(&prop, 1, &error), S_OK);
    assert_hr(WsCreateHeap(10, 0, NULL, 0, &heap, error), S_OK);
    assert_hr(WsAlloc(heap, 11, &p, error), WS_E_QUOTA_EXCEEDED);
    assert_int_equal(STRING_COUNT(error), 1);
    assert_hr(WsGetErrorString(error, 0, &got), S_OK);
    assert_true(wsheap_string_to_utf8(&got, text, sizeof text) < sizeof text);
    assert_non_null(strstr(text, "WsAlloc"));
    assert_int_equal(ORIGINAL_CODE(error), 0);
    WsFreeHeap(heap);
    WsFreeError(error);
}

/* --- HRESULTs --------------------------------------------------------------------------------- */

/* The SDK values (winerror.h), written out independently of the header's macros. */
static const struct {
    HRESULT code;
    int32_t value;
    uint32_t hex;
    const char *name;
} hresults[] = {
    {S_OK, 0, 0x00000000u, "S_OK"},
    {E_INVALIDARG, -2147024809, 0x80070057u, "E_INVALIDARG"},
    {E_OUTOFMEMORY, -2147024882, 0x8007000Eu, "E_OUTOFMEMORY"},
    {WS_E_INVALID_OPERATION, -2143485949, 0x803D0003u, "WS_E_INVALID_OPERATION"},
    {WS_E_QUOTA_EXCEEDED, -2143485944, 0x803D0008u, "WS_E_QUOTA_EXCEEDED"},
};

static void test_hresult_values(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof hresults / sizeof hresults[0]; k++) {
        assert_true(hresults[k].code == hresults[k].value);
        assert_int_equal((uint32_t)hresults[k].code, hresults[k].hex);
        assert_true(FAILED(hresults[k].code) == (k != 0));
        assert_true(SUCCEEDED(hresults[k].code) == (k == 0));
    }
    assert_true(SUCCEEDED(1)); /* S_FALSE */
    assert_true(SUCCEEDED(0x7fffffff));
    assert_true(FAILED(-1));
    assert_true(FAILED((HRESULT)0x80000000u));
    assert_true(FAILED(0x80004005)); /* an unsigned literal is still a failure */
}

static void test_hresult_names_and_messages(void **state)
{
    static const struct {
        HRESULT code;
        const char *name, *message;
    } map[] = {
#define ROW(code, text) {code, #code, text},
        WSHEAP_HRESULT_MAP(ROW)
#undef ROW
    };
    static const HRESULT unknown[] = {
        1, -1, (HRESULT)0x80004005u, (HRESULT)0x803D0000u, (HRESULT)0x8007000Fu, INT32_MIN};

    (void)state;
    /* Every code the spec lists has a row, under its own name. */
    for (size_t k = 0; k < sizeof hresults / sizeof hresults[0]; k++) {
        bool found = false;

        assert_string_equal(wsheap_hresult_name(hresults[k].code), hresults[k].name);
        for (size_t m = 0; m < sizeof map / sizeof map[0]; m++)
            found = found || map[m].code == hresults[k].code;
        assert_true(found);
    }
    /* Every row: its name, its one-line message, all messages different. */
    for (size_t m = 0; m < sizeof map / sizeof map[0]; m++) {
        const char *msg = wsheap_hresult_message(map[m].code);

        assert_string_equal(wsheap_hresult_name(map[m].code), map[m].name);
        assert_string_equal(msg, map[m].message);
        assert_true(strlen(msg) > 0);
        assert_null(strchr(msg, '\n'));
        assert_string_not_equal(msg, "unknown HRESULT");
        for (size_t o = 0; o < m; o++)
            assert_string_not_equal(msg, wsheap_hresult_message(map[o].code));
    }
    for (size_t k = 0; k < sizeof unknown / sizeof unknown[0]; k++) {
        assert_string_equal(wsheap_hresult_name(unknown[k]), "unknown HRESULT");
        assert_string_equal(wsheap_hresult_message(unknown[k]), "unknown HRESULT");
    }
}

/* --- wsheap_string_to_utf8 -------------------------------------------------------------------- */

static const struct utf8_case {
    const char *what;
    ULONG length;
    WCHAR units[8];
    const char *utf8;
} utf8_cases[] = {
    {"empty", 0, {0}, ""},
    {"ASCII", 5, {'h', 'e', 'l', 'l', 'o'}, "hello"},
    {"U+007F, the last 1-byte", 1, {0x7F}, "\x7f"},
    {"U+0080, the first 2-byte", 1, {0x80}, "\xc2\x80"},
    {"BMP 2-byte (e-acute)", 3, {'c', 0xE9, '!'}, "c\xc3\xa9!"},
    {"U+07FF, the last 2-byte", 1, {0x7FF}, "\xdf\xbf"},
    {"U+0800, the first 3-byte", 1, {0x800}, "\xe0\xa0\x80"},
    {"BMP 3-byte (euro)", 1, {0x20AC}, "\xe2\x82\xac"},
    {"U+FFFF", 1, {0xFFFF}, "\xef\xbf\xbf"},
    {"surrogate pair U+1F600", 2, {0xD83D, 0xDE00}, "\xf0\x9f\x98\x80"},
    {"surrogate pair U+10000", 2, {0xD800, 0xDC00}, "\xf0\x90\x80\x80"},
    {"surrogate pair U+10FFFF", 2, {0xDBFF, 0xDFFF}, "\xf4\x8f\xbf\xbf"},
    {"unpaired high surrogate at the end", 2, {'a', 0xD83D}, "a\xef\xbf\xbd"},
    {"unpaired low surrogate",
     2,
     {0xDE00, 'b'},
     "\xef\xbf\xbd"
     "b"},
    {"high surrogate then a letter",
     2,
     {0xD83D, 'c'},
     "\xef\xbf\xbd"
     "c"},
    {"two high surrogates, then a low one",
     3,
     {0xD800, 0xD83D, 0xDE00},
     "\xef\xbf\xbd\xf0\x9f\x98\x80"},
    {"reversed pair", 2, {0xDE00, 0xD83D}, "\xef\xbf\xbd\xef\xbf\xbd"},
};

static void test_utf8_conversion(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof utf8_cases / sizeof utf8_cases[0]; k++) {
        const struct utf8_case *c = &utf8_cases[k];
        WS_STRING s = {c->length, (WCHAR *)c->units};
        char buf[64];
        size_t n;

        memset(buf, SENTINEL_BYTE, sizeof buf);
        n = wsheap_string_to_utf8(&s, buf, sizeof buf);
        if (n != strlen(c->utf8) || strcmp(buf, c->utf8) != 0)
            failf(__FILE__, __LINE__, "%s: returned %zu, expected %zu", c->what, n,
                  strlen(c->utf8));
        /* The exact size plus the NUL suffices; nothing beyond it is written. */
        memset(buf, SENTINEL_BYTE, sizeof buf);
        assert_int_equal(wsheap_string_to_utf8(&s, buf, n + 1), n);
        assert_string_equal(buf, c->utf8);
        assert_int_equal((unsigned char)buf[n + 1], SENTINEL_BYTE);
        /* Size 0: the length only, nothing written, and no buffer needed. */
        memset(buf, SENTINEL_BYTE, sizeof buf);
        assert_int_equal(wsheap_string_to_utf8(&s, buf, 0), n);
        assert_int_equal((unsigned char)buf[0], SENTINEL_BYTE);
        assert_int_equal(wsheap_string_to_utf8(&s, NULL, 0), n);
    }
}

/* Like snprintf: a short buffer gets a NUL-terminated prefix, the return value is the full
 * length, and nothing is written past `size`. */
static void test_utf8_truncation(void **state)
{
    static const WCHAR hello[] = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
    static const WCHAR wide[] = {0x20AC, 0xD83D, 0xDE00, 0xE9}; /* 3 + 4 + 2 bytes */
    WS_STRING s = {11, (WCHAR *)hello}, w = {4, (WCHAR *)wide};
    char buf[32];

    (void)state;
    for (size_t size = 1; size <= 12; size++) {
        memset(buf, SENTINEL_BYTE, sizeof buf);
        assert_int_equal(wsheap_string_to_utf8(&s, buf, size), 11);
        assert_int_equal(strlen(buf), size - 1);
        assert_memory_equal(buf, "hello world", size - 1);
        assert_int_equal((unsigned char)buf[size], SENTINEL_BYTE);
    }
    for (size_t size = 1; size <= 10; size++) {
        memset(buf, SENTINEL_BYTE, sizeof buf);
        assert_int_equal(wsheap_string_to_utf8(&w, buf, size), 9);
        assert_true(strlen(buf) <= size - 1);
        assert_int_equal((unsigned char)buf[size], SENTINEL_BYTE);
        /* Whole characters only: "", the euro sign, euro + emoji, or all three. */
        assert_int_equal(strlen(buf), size > 9 ? 9 : size > 7 ? 7 : size > 3 ? 3 : 0);
    }
    memset(buf, SENTINEL_BYTE, sizeof buf);
    assert_int_equal(wsheap_string_to_utf8(&w, buf, 10), 9);
    assert_string_equal(buf, "\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_defaults),
        T(test_create_with_langid),
        T(test_create_rejects),
        T(test_get_property_sizes),
        T(test_set_property_rules),
        T(test_strings_newest_first),
        T(test_get_string_of_empty_error),
        T(test_strings_are_copied),
        T(test_string_contents_exact),
        T(test_empty_string),
        T(test_add_string_rejects),
        T(test_reset_error),
        T(test_reset_and_free_null),
        T(test_free_error_with_strings),
        T(test_heap_failure_strings),
        T(test_hresult_values),
        T(test_hresult_names_and_messages),
        T(test_utf8_conversion),
        T(test_utf8_truncation),
    };
#undef T

    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
