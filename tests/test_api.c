/* SPDX-License-Identifier: MIT */
/*
 * Black-box conformance of the WWSAPI heap (WsCreateHeap, WsAlloc, WsResetHeap, WsFreeHeap,
 * WsGetHeapProperty) through <wsheap.h> only, row by row of docs/api.md.
 * ctest runs this one binary under every backend (api.arena, api.guarded: WSHEAP_PAGEHEAP), so
 * nothing here relies on one backend's ACTUAL_SIZE figures, only on the documented invariants.
 * Every failing call is checked for its HRESULT, untouched out-parameters and one WS_ERROR string.
 */
#include <assert.h>
#include <ctype.h>
#include <pthread.h>
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
#include "support/errors.h"
#include "support/heaps.h"

/* The out-of-memory cases ask the system for 2^50 bytes and more. glibc's malloc and mmap answer
 * NULL; the sanitizers' allocators abort instead unless told to answer NULL as well. These are
 * the sanitizers' documented hooks (hence the reserved-looking names). */
#if defined(__SANITIZE_ADDRESS__)
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif
#if defined(__SANITIZE_THREAD__)
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

#define KIB ((SIZE_T)1 << 10)
#define MIB ((SIZE_T)1 << 20)

/* Out-parameter sentinels: a failing call must leave them exactly as they are. */
#define SENTINEL_PTR  ((void *)(uintptr_t)0x5e5e5e5e5e58u)
#define SENTINEL_HEAP ((WS_HEAP *)(uintptr_t)0x4e4e4e4e4e48u)
#define SENTINEL_BYTE 0xa5

/* --- Helpers ---------------------------------------------------------------------------------- */

static WS_HEAP *make_heap(SIZE_T max_size, SIZE_T trim_size)
{
    WS_HEAP *heap = NULL;

    assert_hr(WsCreateHeap(max_size, trim_size, NULL, 0, &heap, NULL), S_OK);
    assert_non_null(heap);
    return heap;
}

#define REQUESTED(h) heap_property((h), WS_HEAP_PROPERTY_REQUESTED_SIZE)
#define ACTUAL(h)    heap_property((h), WS_HEAP_PROPERTY_ACTUAL_SIZE)

/* True when `text` holds `number` as a whole decimal number, not as part of a longer one. */
static bool has_number(const char *text, const char *number)
{
    size_t n = strlen(number);

    for (const char *p = strstr(text, number); p != NULL; p = strstr(p + 1, number)) {
        bool left = p == text || !isdigit((unsigned char)p[-1]);
        bool right = !isdigit((unsigned char)p[n]);

        if (left && right) return true;
    }
    return false;
}

/* has_number for "a|b|...": any one alternative suffices. */
static bool has_any_number(const char *text, const char *alternatives)
{
    while (*alternatives != '\0') {
        size_t n = strcspn(alternatives, "|");
        char one[64];

        snprintf(one, sizeof one, "%.*s", (int)n, alternatives);
        if (has_number(text, one)) return true;
        alternatives += n + (alternatives[n] == '|');
    }
    return false;
}

static bool has_size(const char *text, SIZE_T value)
{
    char digits[32];

    snprintf(digits, sizeof digits, "%zu", value);
    return has_number(text, digits);
}

/* Deterministic xorshift64*: the same "random" sizes on every run and backend. */
static uint64_t rng_next(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1DULL;
}

/* A block the tests fill with its own pattern and check later. */
struct block {
    unsigned char *p;
    size_t size;
    uint32_t tag;
};

static unsigned char pattern_byte(uint32_t tag, size_t i)
{
    uint32_t h = tag * 2654435761u;

    return (unsigned char)((h >> (8 * (i % 4))) + i / 4);
}

static void fill_block(const struct block *b)
{
    for (size_t i = 0; i < b->size; i++)
        b->p[i] = pattern_byte(b->tag, i);
}

/* Fails at the first byte of any block that no longer holds its pattern. */
static void verify_blocks(const struct block *blocks, size_t n, const char *when)
{
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < blocks[k].size; i++)
            if (blocks[k].p[i] != pattern_byte(blocks[k].tag, i))
                failf(__FILE__, __LINE__,
                      "%s: block %zu (%zu bytes at %p) byte %zu is 0x%02x, expected 0x%02x", when,
                      k, blocks[k].size, (void *)blocks[k].p, i, blocks[k].p[i],
                      pattern_byte(blocks[k].tag, i));
}

static int compare_blocks(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct block *)a)->p;
    uintptr_t y = (uintptr_t)((const struct block *)b)->p;

    return x < y ? -1 : x > y;
}

/* Sorts the blocks by address and fails when two ranges [p, p + size) overlap. A zero-size block
 * counts as one byte, so it may not share its address with, or lie inside, another block. */
static void check_disjoint(struct block *blocks, size_t n)
{
    qsort(blocks, n, sizeof *blocks, compare_blocks);
    for (size_t k = 1; k < n; k++) {
        uintptr_t prev_end =
            (uintptr_t)blocks[k - 1].p + (blocks[k - 1].size ? blocks[k - 1].size : 1);

        if (prev_end > (uintptr_t)blocks[k].p)
            failf(__FILE__, __LINE__, "blocks overlap: [%p, +%zu) and [%p, +%zu)",
                  (void *)blocks[k - 1].p, blocks[k - 1].size, (void *)blocks[k].p, blocks[k].size);
    }
}

static void alloc_block(WS_HEAP *heap, struct block *b, size_t size, uint32_t tag)
{
    void *p = SENTINEL_PTR;

    assert_hr(WsAlloc(heap, size, &p, NULL), S_OK);
    assert_true(p != NULL && p != SENTINEL_PTR);
    b->p = p;
    b->size = size;
    b->tag = tag;
    fill_block(b);
}

/* --- Fixture: one heap and one error object per test ------------------------------------------ */

#define FIXTURE_MAX_SIZE  (1 * MIB)
#define FIXTURE_TRIM_SIZE ((SIZE_T)0)

struct fixture {
    WS_HEAP *heap;   /* maxSize FIXTURE_MAX_SIZE, trimSize FIXTURE_TRIM_SIZE */
    WS_ERROR *error; /* no strings at the start of each test */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (f == NULL) return -1;
    if (WsCreateHeap(FIXTURE_MAX_SIZE, FIXTURE_TRIM_SIZE, NULL, 0, &f->heap, NULL) != S_OK ||
        WsCreateError(NULL, 0, &f->error) != S_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    WsFreeHeap(f->heap);
    WsFreeError(f->error);
    free(f);
    return 0;
}

/* --- Invalid arguments: every one of every function ------------------------------------------- */

enum api { CREATE_HEAP, ALLOC, RESET_HEAP, GET_HEAP_PROPERTY };

/* One failing call. Arguments not named in a row are valid: a live heap, real out-pointers. */
struct bad_call {
    const char *what;
    enum api fn;
    bool null_heap;       /* WsAlloc/WsResetHeap/WsGetHeapProperty get NULL as the heap */
    bool null_out;        /* NULL out-pointer: heap (create), ptr (alloc), value (property) */
    SIZE_T size;          /* WsAlloc's size */
    int id;               /* WsGetHeapProperty's id */
    ULONG value_size;     /* WsGetHeapProperty's valueSize */
    ULONG count;          /* WsCreateHeap's propertyCount */
    bool with_properties; /* WsCreateHeap gets one valid property, else NULL */
    HRESULT expect;
    const char *words[3];   /* must appear in the WS_ERROR string; words[0] names the function */
    const char *numbers[3]; /* whole decimal numbers that must appear; "a|b" means either */
};

#define SZ ((ULONG)sizeof(SIZE_T))

static const struct bad_call bad_calls[] = {
    /* WsCreateHeap: properties are reserved, any propertyCount != 0 fails (spec section 2). */
    {"WsCreateHeap: propertyCount 1 with a valid property", .fn = CREATE_HEAP, .count = 1,
     .with_properties = true, .expect = E_INVALIDARG, .words = {"WsCreateHeap", "propertyCount"},
     .numbers = {"1"}},
    {"WsCreateHeap: propertyCount 1, properties NULL", .fn = CREATE_HEAP, .count = 1,
     .expect = E_INVALIDARG, .words = {"WsCreateHeap", "propertyCount"}, .numbers = {"1"}},
    {"WsCreateHeap: propertyCount 7, properties NULL", .fn = CREATE_HEAP, .count = 7,
     .expect = E_INVALIDARG, .words = {"WsCreateHeap", "propertyCount"}, .numbers = {"7"}},
    {"WsCreateHeap: propertyCount ULONG_MAX", .fn = CREATE_HEAP, .count = 0xffffffffu,
     .expect = E_INVALIDARG, .words = {"WsCreateHeap", "propertyCount"}, .numbers = {"4294967295"}},
    {"WsCreateHeap: heap out-pointer NULL", .fn = CREATE_HEAP, .null_out = true,
     .expect = E_INVALIDARG, .words = {"WsCreateHeap", "heap", "NULL"}},
    {"WsCreateHeap: propertyCount 2 and heap NULL (still one string)", .fn = CREATE_HEAP,
     .count = 2, .with_properties = true, .null_out = true, .expect = E_INVALIDARG,
     .words = {"WsCreateHeap"}},

    /* WsAlloc: NULL heap, NULL ptr (spec section 2), whatever the size. */
    {"WsAlloc: heap NULL", .fn = ALLOC, .null_heap = true, .size = 16, .expect = E_INVALIDARG,
     .words = {"WsAlloc", "heap", "NULL"}},
    {"WsAlloc: heap NULL, size 0", .fn = ALLOC, .null_heap = true, .size = 0,
     .expect = E_INVALIDARG, .words = {"WsAlloc", "heap", "NULL"}},
    {"WsAlloc: heap NULL, size SIZE_MAX", .fn = ALLOC, .null_heap = true, .size = SIZE_MAX,
     .expect = E_INVALIDARG, .words = {"WsAlloc", "heap", "NULL"}},
    {"WsAlloc: ptr NULL", .fn = ALLOC, .null_out = true, .size = 16, .expect = E_INVALIDARG,
     .words = {"WsAlloc", "ptr", "NULL"}},
    {"WsAlloc: ptr NULL, size 0", .fn = ALLOC, .null_out = true, .size = 0, .expect = E_INVALIDARG,
     .words = {"WsAlloc", "ptr", "NULL"}},
    {"WsAlloc: ptr NULL, size beyond the quota (arguments are checked first)", .fn = ALLOC,
     .null_out = true, .size = 2 * FIXTURE_MAX_SIZE, .expect = E_INVALIDARG,
     .words = {"WsAlloc", "ptr", "NULL"}},
    {"WsAlloc: heap and ptr NULL (still one string)", .fn = ALLOC, .null_heap = true,
     .null_out = true, .size = 8, .expect = E_INVALIDARG, .words = {"WsAlloc", "NULL"}},

    /* WsResetHeap(NULL) (spec section 2). */
    {"WsResetHeap: heap NULL", .fn = RESET_HEAP, .null_heap = true, .expect = E_INVALIDARG,
     .words = {"WsResetHeap", "heap", "NULL"}},

    /* WsGetHeapProperty: NULL heap, unknown ids, NULL value (spec section 2); bad sizes are
     * generated for every id by test_get_property_bad_value_size. */
    {"WsGetHeapProperty: heap NULL", .fn = GET_HEAP_PROPERTY, .null_heap = true,
     .id = WS_HEAP_PROPERTY_MAX_SIZE, .value_size = SZ, .expect = E_INVALIDARG,
     .words = {"WsGetHeapProperty", "heap", "NULL"}},
    {"WsGetHeapProperty: id 4", .fn = GET_HEAP_PROPERTY, .id = 4, .value_size = SZ,
     .expect = E_INVALIDARG, .words = {"WsGetHeapProperty", "property"}, .numbers = {"4"}},
    {"WsGetHeapProperty: id 5", .fn = GET_HEAP_PROPERTY, .id = 5, .value_size = SZ,
     .expect = E_INVALIDARG, .words = {"WsGetHeapProperty", "property"}, .numbers = {"5"}},
    {"WsGetHeapProperty: id 1000", .fn = GET_HEAP_PROPERTY, .id = 1000, .value_size = SZ,
     .expect = E_INVALIDARG, .words = {"WsGetHeapProperty", "property"}, .numbers = {"1000"}},
    {"WsGetHeapProperty: id -1", .fn = GET_HEAP_PROPERTY, .id = -1, .value_size = SZ,
     .expect = E_INVALIDARG, .words = {"WsGetHeapProperty", "property"},
     .numbers = {"-1|4294967295"}},
    {"WsGetHeapProperty: id INT32_MIN", .fn = GET_HEAP_PROPERTY, .id = INT32_MIN, .value_size = SZ,
     .expect = E_INVALIDARG, .words = {"WsGetHeapProperty", "property"},
     .numbers = {"-2147483648|2147483648"}},
    {"WsGetHeapProperty: id 4 with a 4-byte buffer", .fn = GET_HEAP_PROPERTY, .id = 4,
     .value_size = 4, .expect = E_INVALIDARG, .words = {"WsGetHeapProperty"}},
    {"WsGetHeapProperty: id 4, value NULL", .fn = GET_HEAP_PROPERTY, .id = 4, .null_out = true,
     .value_size = SZ, .expect = E_INVALIDARG, .words = {"WsGetHeapProperty"}},
    {"WsGetHeapProperty: MAX_SIZE, value NULL", .fn = GET_HEAP_PROPERTY,
     .id = WS_HEAP_PROPERTY_MAX_SIZE, .null_out = true, .value_size = SZ, .expect = E_INVALIDARG,
     .words = {"WsGetHeapProperty", "value", "NULL"}},
    {"WsGetHeapProperty: TRIM_SIZE, value NULL", .fn = GET_HEAP_PROPERTY,
     .id = WS_HEAP_PROPERTY_TRIM_SIZE, .null_out = true, .value_size = SZ, .expect = E_INVALIDARG,
     .words = {"WsGetHeapProperty", "value", "NULL"}},
    {"WsGetHeapProperty: REQUESTED_SIZE, value NULL", .fn = GET_HEAP_PROPERTY,
     .id = WS_HEAP_PROPERTY_REQUESTED_SIZE, .null_out = true, .value_size = SZ,
     .expect = E_INVALIDARG, .words = {"WsGetHeapProperty", "value", "NULL"}},
    {"WsGetHeapProperty: ACTUAL_SIZE, value NULL", .fn = GET_HEAP_PROPERTY,
     .id = WS_HEAP_PROPERTY_ACTUAL_SIZE, .null_out = true, .value_size = SZ, .expect = E_INVALIDARG,
     .words = {"WsGetHeapProperty", "value", "NULL"}},
    {"WsGetHeapProperty: value NULL and valueSize 0", .fn = GET_HEAP_PROPERTY,
     .id = WS_HEAP_PROPERTY_MAX_SIZE, .null_out = true, .value_size = 0, .expect = E_INVALIDARG,
     .words = {"WsGetHeapProperty"}},
};

/* Makes the call `c` describes, with `error` (may be NULL), and checks everything a failure
 * promises: the HRESULT, every out-parameter untouched, the heap's accounting unchanged, and
 * (with an error object) exactly one new string naming the function and the numbers. */
static void run_bad_call(struct fixture *f, const struct bad_call *c, WS_ERROR *error)
{
    SIZE_T max = 100;
    WS_HEAP_PROPERTY property = {WS_HEAP_PROPERTY_MAX_SIZE, &max, (ULONG)sizeof max};
    WS_HEAP *heap = c->null_heap ? NULL : f->heap;
    WS_HEAP *new_heap = SENTINEL_HEAP;
    void *ptr = SENTINEL_PTR;
    unsigned char value[2 * sizeof(SIZE_T)];
    unsigned char untouched[sizeof value];
    SIZE_T requested = REQUESTED(f->heap);
    ULONG before = error != NULL ? error_string_count(error) : 0;
    HRESULT hr = S_OK;
    char text[1024];

    memset(value, SENTINEL_BYTE, sizeof value);
    memset(untouched, SENTINEL_BYTE, sizeof untouched);
    switch (c->fn) {
    case CREATE_HEAP:
        hr = WsCreateHeap(1000, 0, c->with_properties ? &property : NULL, c->count,
                          c->null_out ? NULL : &new_heap, error);
        break;
    case ALLOC:
        hr = WsAlloc(heap, c->size, c->null_out ? NULL : &ptr, error);
        break;
    case RESET_HEAP:
        hr = WsResetHeap(heap, error);
        break;
    case GET_HEAP_PROPERTY:
        hr = WsGetHeapProperty(heap, (WS_HEAP_PROPERTY_ID)c->id, c->null_out ? NULL : value,
                               c->value_size, error);
        break;
    }

    if (hr == S_OK && c->fn == CREATE_HEAP && new_heap != SENTINEL_HEAP) WsFreeHeap(new_heap);
    if (hr != c->expect)
        failf(__FILE__, __LINE__, "%s (error %s): returned %s (0x%08X), expected %s", c->what,
              error ? "given" : "NULL", wsheap_hresult_name(hr), (unsigned)hr,
              wsheap_hresult_name(c->expect));
    if (new_heap != SENTINEL_HEAP || ptr != SENTINEL_PTR || memcmp(value, untouched, sizeof value))
        failf(__FILE__, __LINE__, "%s: a failing call wrote an out-parameter", c->what);
    if (REQUESTED(f->heap) != requested)
        failf(__FILE__, __LINE__, "%s: REQUESTED_SIZE changed on failure", c->what);
    if (error == NULL) return;

    if (error_string_count(error) != before + 1)
        failf(__FILE__, __LINE__, "%s: STRING_COUNT went from %u to %u, expected +1", c->what,
              (unsigned)before, (unsigned)error_string_count(error));
    newest_error_string(error, text, sizeof text);
    for (size_t i = 0; i < 3 && c->words[i] != NULL; i++)
        if (strstr(text, c->words[i]) == NULL)
            failf(__FILE__, __LINE__, "%s: error string \"%s\" lacks \"%s\"", c->what, text,
                  c->words[i]);
    for (size_t i = 0; i < 3 && c->numbers[i] != NULL; i++)
        if (!has_any_number(text, c->numbers[i]))
            failf(__FILE__, __LINE__, "%s: error string \"%s\" lacks the number %s", c->what, text,
                  c->numbers[i]);
}

static void test_invalid_arguments(void **state)
{
    struct fixture *f = *state;
    void *p = NULL;
    size_t n = sizeof bad_calls / sizeof bad_calls[0];

    for (size_t i = 0; i < n; i++) {
        run_bad_call(f, &bad_calls[i], NULL); /* NULL error objects are always accepted */
        run_bad_call(f, &bad_calls[i], f->error);
    }
    assert_int_equal(error_string_count(f->error), n);

    /* None of that hurt the heap. */
    assert_hr(WsAlloc(f->heap, 24, &p, f->error), S_OK);
    memset(p, 1, 24);
    assert_int_equal(REQUESTED(f->heap), 24);
    assert_int_equal(error_string_count(f->error), n);
}

/* The same checks after allocations, so that the fast path (a heap with room) is the one that
 * sees NULL out-pointers. */
static void test_invalid_arguments_on_a_used_heap(void **state)
{
    struct fixture *f = *state;
    void *p = NULL;

    for (int i = 0; i < 10; i++)
        assert_hr(WsAlloc(f->heap, 40, &p, NULL), S_OK);
    for (size_t i = 0; i < sizeof bad_calls / sizeof bad_calls[0]; i++)
        if (bad_calls[i].fn != CREATE_HEAP) run_bad_call(f, &bad_calls[i], f->error);
    assert_int_equal(REQUESTED(f->heap), 400);
}

/* valueSize != sizeof(SIZE_T) is E_INVALIDARG for every property, buffer untouched. */
static void test_get_property_bad_value_size(void **state)
{
    static const ULONG sizes[] = {0, 1, 2, 4, 7, 9, 12, 16, 64, 0xffffffffu};
    struct fixture *f = *state;
    char what[128], size_text[16], size_t_text[16];

    snprintf(size_t_text, sizeof size_t_text, "%zu", sizeof(SIZE_T));
    for (int id = 0; id <= 3; id++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            struct bad_call c = {what, .fn = GET_HEAP_PROPERTY, .id = id, .value_size = sizes[k],
                                 .expect = E_INVALIDARG,
                                 .words = {"WsGetHeapProperty", "valueSize"},
                                 /* what was given, and sizeof(SIZE_T) */
                                 .numbers = {size_text, size_t_text}};

            snprintf(what, sizeof what, "WsGetHeapProperty: id %d, valueSize %u", id,
                     (unsigned)sizes[k]);
            snprintf(size_text, sizeof size_text, "%u", (unsigned)sizes[k]);
            run_bad_call(f, &c, NULL);
            run_bad_call(f, &c, f->error);
        }
    }
}

/* --- A WS_ERROR passed to successful calls ---------------------------------------------------- */

static void test_success_leaves_error_untouched(void **state)
{
    struct fixture *f = *state;
    static const WCHAR mine[] = {'m', 'i', 'n', 'e'};
    WS_STRING s = {4, (WCHAR *)mine}, got = {0, NULL};
    ULONG code = 0x12345678, read = 0;
    WS_HEAP *heap = NULL;
    void *p;
    SIZE_T v;

    /* Once on an empty error object, once on one that holds a caller's string and code. */
    for (int round = 0; round < 2; round++) {
        ULONG before = error_string_count(f->error);

        assert_hr(WsCreateHeap(4096, 0, NULL, 0, &heap, f->error), S_OK);
        for (SIZE_T size = 0; size < 200; size += 7) /* 2842 bytes in all */
            assert_hr(WsAlloc(heap, size, &p, f->error), S_OK);
        assert_hr(WsAlloc(heap, 4096 - REQUESTED(heap), &p, f->error), S_OK); /* the boundary */
        assert_hr(WsAlloc(heap, 0, &p, f->error), S_OK);
        for (int id = 0; id <= 3; id++)
            assert_hr(WsGetHeapProperty(heap, (WS_HEAP_PROPERTY_ID)id, &v, SZ, f->error), S_OK);
        assert_hr(WsResetHeap(heap, f->error), S_OK);
        assert_hr(WsAlloc(heap, 4096, &p, f->error), S_OK);
        WsFreeHeap(heap);
        assert_int_equal(error_string_count(f->error), before);

        assert_hr(WsAddErrorString(f->error, &s), S_OK);
        assert_hr(
            WsSetErrorProperty(f->error, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, &code, sizeof code),
            S_OK);
    }
    assert_int_equal(error_string_count(f->error), 2);
    assert_hr(WsGetErrorString(f->error, 0, &got), S_OK);
    assert_int_equal(got.length, 4);
    assert_memory_equal(got.chars, mine, sizeof mine);
    assert_hr(
        WsGetErrorProperty(f->error, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, &read, sizeof read),
        S_OK);
    assert_int_equal(read, 0x12345678);
}

/* Strings pile up, one per failure, newest first. */
static void test_failures_add_one_string_each(void **state)
{
    struct fixture *f = *state;
    void *p = SENTINEL_PTR;
    char text[512];

    assert_hr(WsAlloc(NULL, 1, &p, f->error), E_INVALIDARG);
    assert_hr(WsAlloc(f->heap, FIXTURE_MAX_SIZE + 1, &p, f->error), WS_E_QUOTA_EXCEEDED);
    assert_hr(WsResetHeap(NULL, f->error), E_INVALIDARG);
    assert_int_equal(error_string_count(f->error), 3);
    newest_error_string(f->error, text, sizeof text);
    assert_non_null(strstr(text, "WsResetHeap"));
    assert_ptr_equal(p, SENTINEL_PTR);
}

/* --- Quota ------------------------------------------------------------------------------------ */

struct quota_step {
    SIZE_T size;
    HRESULT expect;
};

/* The quota counts exactly the requested bytes since creation or reset (not rounded): a request
 * succeeds iff requested + size <= maxSize (spec section 2). */
static const struct quota_case {
    const char *what;
    SIZE_T max_size;
    int n_steps;
    struct quota_step steps[8];
} quota_cases[] = {
    {"maxSize 100: 60, 41 fails, 40 fills it exactly, 1 fails, 0 fits",
     100,
     5,
     {{60, S_OK}, {41, WS_E_QUOTA_EXCEEDED}, {40, S_OK}, {1, WS_E_QUOTA_EXCEEDED}, {0, S_OK}}},
    {"maxSize 0: only zero-size requests",
     0,
     5,
     {{0, S_OK}, {1, WS_E_QUOTA_EXCEEDED}, {0, S_OK}, {8, WS_E_QUOTA_EXCEEDED}, {0, S_OK}}},
    {"maxSize 1", 1, 4, {{0, S_OK}, {2, WS_E_QUOTA_EXCEEDED}, {1, S_OK}, {1, WS_E_QUOTA_EXCEEDED}}},
    {"maxSize 7: odd sizes are not rounded up",
     7,
     5,
     {{3, S_OK}, {3, S_OK}, {2, WS_E_QUOTA_EXCEEDED}, {1, S_OK}, {1, WS_E_QUOTA_EXCEEDED}}},
    {"maxSize 24: five odd requests",
     24,
     7,
     {{5, S_OK},
      {5, S_OK},
      {5, S_OK},
      {5, S_OK},
      {5, WS_E_QUOTA_EXCEEDED},
      {4, S_OK},
      {1, WS_E_QUOTA_EXCEEDED}}},
    {"maxSize 4096: one block of exactly 4096",
     4096,
     3,
     {{4097, WS_E_QUOTA_EXCEEDED}, {4096, S_OK}, {1, WS_E_QUOTA_EXCEEDED}}},
    {"maxSize 4097", 4097, 3, {{4096, S_OK}, {2, WS_E_QUOTA_EXCEEDED}, {1, S_OK}}},
    {"maxSize 1 MiB in one block",
     1 * MIB,
     3,
     {{1 * MIB + 1, WS_E_QUOTA_EXCEEDED}, {1 * MIB, S_OK}, {1, WS_E_QUOTA_EXCEEDED}}},
    {"maxSize 3 MiB + 5 in pieces",
     3 * MIB + 5,
     6,
     {{1 * MIB, S_OK},
      {2 * MIB, S_OK},
      {6, WS_E_QUOTA_EXCEEDED},
      {3, S_OK},
      {2, S_OK},
      {1, WS_E_QUOTA_EXCEEDED}}},
};

static void test_quota_boundaries(void **state)
{
    struct fixture *f = *state;
    char text[512];

    for (size_t k = 0; k < sizeof quota_cases / sizeof quota_cases[0]; k++) {
        const struct quota_case *c = &quota_cases[k];
        WS_HEAP *heap = make_heap(c->max_size, 0);
        SIZE_T requested = 0;

        for (int round = 0; round < 2; round++) { /* the quota starts again after a reset */
            requested = 0;
            for (int i = 0; i < c->n_steps; i++) {
                const struct quota_step *s = &c->steps[i];
                ULONG before = error_string_count(f->error);
                void *p = SENTINEL_PTR;
                HRESULT hr = WsAlloc(heap, s->size, &p, f->error);

                if (hr != s->expect)
                    failf(__FILE__, __LINE__, "%s, round %d, step %d (%zu bytes): %s, expected %s",
                          c->what, round, i, s->size, wsheap_hresult_name(hr),
                          wsheap_hresult_name(s->expect));
                if (hr == S_OK) {
                    assert_true(p != NULL && p != SENTINEL_PTR);
                    assert_int_equal((uintptr_t)p % 8, 0);
                    memset(p, 0x3c, s->size);
                    requested += s->size;
                    assert_int_equal(error_string_count(f->error), before);
                } else {
                    assert_ptr_equal(p, SENTINEL_PTR);
                    assert_int_equal(error_string_count(f->error), before + 1);
                    newest_error_string(f->error, text, sizeof text);
                    if (strstr(text, "WsAlloc") == NULL || !has_size(text, s->size) ||
                        !has_size(text, c->max_size))
                        failf(__FILE__, __LINE__,
                              "%s: quota message \"%s\" must name WsAlloc, %zu and %zu", c->what,
                              text, s->size, c->max_size);
                }
                assert_int_equal(REQUESTED(heap), requested); /* nothing counted on failure */
            }
            assert_hr(WsResetHeap(heap, NULL), S_OK);
            assert_int_equal(REQUESTED(heap), 0);
        }
        WsFreeHeap(heap);
    }
}

/* After a reset the whole quota is available again, every time. */
static void test_quota_restarts_after_reset(void **state)
{
    WS_HEAP *heap = make_heap(1000, 0);
    void *p;

    (void)state;
    for (int round = 0; round < 5; round++) {
        assert_hr(WsAlloc(heap, 999, &p, NULL), S_OK);
        assert_hr(WsAlloc(heap, 2, &p, NULL), WS_E_QUOTA_EXCEEDED);
        assert_hr(WsAlloc(heap, 1, &p, NULL), S_OK);
        assert_hr(WsAlloc(heap, 1, &p, NULL), WS_E_QUOTA_EXCEEDED);
        assert_int_equal(REQUESTED(heap), 1000);
        assert_hr(WsResetHeap(heap, NULL), S_OK);
        assert_int_equal(REQUESTED(heap), 0);
        assert_hr(WsAlloc(heap, 1000, &p, NULL), S_OK);
        memset(p, round, 1000);
        assert_hr(WsResetHeap(heap, NULL), S_OK);
    }
    WsFreeHeap(heap);
}

/* A quota failure's string names the request, the maximum and what was already requested. */
static void test_quota_message_numbers(void **state)
{
    struct fixture *f = *state;
    WS_HEAP *heap = make_heap(1000, 0);
    void *p = SENTINEL_PTR;
    char text[512];

    assert_hr(WsAlloc(heap, 1001, &p, f->error), WS_E_QUOTA_EXCEEDED);
    newest_error_string(f->error, text, sizeof text);
    assert_non_null(strstr(text, "WsAlloc"));
    assert_true(has_size(text, 1001));
    assert_true(has_size(text, 1000));

    assert_hr(WsAlloc(heap, 600, &p, f->error), S_OK);
    p = SENTINEL_PTR;
    assert_hr(WsAlloc(heap, 777, &p, f->error), WS_E_QUOTA_EXCEEDED);
    assert_ptr_equal(p, SENTINEL_PTR);
    assert_int_equal(error_string_count(f->error), 2);
    newest_error_string(f->error, text, sizeof text);
    if (strstr(text, "WsAlloc") == NULL || !has_size(text, 777) || !has_size(text, 1000) ||
        !has_size(text, 600))
        failf(__FILE__, __LINE__, "\"%s\" must name WsAlloc, 777, 1000 and 600", text);
    WsFreeHeap(heap);
}

/* --- Huge sizes: never an overflow, never a crash --------------------------------------------- */

/* `before` bytes are allocated first. With maxSize SIZE_MAX the quota admits a request when
 * before + size <= SIZE_MAX, and then only the system can refuse it: E_OUTOFMEMORY. A sum that
 * would wrap must be WS_E_QUOTA_EXCEEDED, not a wrapped "fits". */
static const struct huge_case {
    const char *what;
    SIZE_T max_size;
    SIZE_T before;
    SIZE_T size;
    HRESULT expect;
} huge_cases[] = {
    {"SIZE_MAX, unlimited heap", SIZE_MAX, 0, SIZE_MAX, E_OUTOFMEMORY},
    {"SIZE_MAX/2+1, unlimited heap", SIZE_MAX, 0, SIZE_MAX / 2 + 1, E_OUTOFMEMORY},
    {"SIZE_MAX-7, unlimited heap", SIZE_MAX, 0, SIZE_MAX - 7, E_OUTOFMEMORY},
    {"SIZE_MAX/4, unlimited heap", SIZE_MAX, 0, SIZE_MAX / 4, E_OUTOFMEMORY},
    {"2^50 bytes (beyond the address space), unlimited heap", SIZE_MAX, 0, (SIZE_T)1 << 50,
     E_OUTOFMEMORY},
    {"2^50 + 1 bytes after 16", SIZE_MAX, 16, ((SIZE_T)1 << 50) + 1, E_OUTOFMEMORY},
    {"SIZE_MAX-16 after 16: exactly the quota", SIZE_MAX, 16, SIZE_MAX - 16, E_OUTOFMEMORY},
    {"SIZE_MAX-15 after 16: one over", SIZE_MAX, 16, SIZE_MAX - 15, WS_E_QUOTA_EXCEEDED},
    {"SIZE_MAX-7 after 16", SIZE_MAX, 16, SIZE_MAX - 7, WS_E_QUOTA_EXCEEDED},
    {"SIZE_MAX after 16", SIZE_MAX, 16, SIZE_MAX, WS_E_QUOTA_EXCEEDED},
    {"SIZE_MAX, maxSize 1000", 1000, 0, SIZE_MAX, WS_E_QUOTA_EXCEEDED},
    {"SIZE_MAX/2+1, maxSize 1000", 1000, 0, SIZE_MAX / 2 + 1, WS_E_QUOTA_EXCEEDED},
    {"SIZE_MAX-7, maxSize 1000", 1000, 0, SIZE_MAX - 7, WS_E_QUOTA_EXCEEDED},
    {"SIZE_MAX-599 after 600 of 1000 (a wrapped sum is 0)", 1000, 600, SIZE_MAX - 599,
     WS_E_QUOTA_EXCEEDED},
    {"SIZE_MAX-399 after 600 of 1000 (a wrapped sum is 200)", 1000, 600, SIZE_MAX - 399,
     WS_E_QUOTA_EXCEEDED},
    {"SIZE_MAX-7 after 1000 of 1000", 1000, 1000, SIZE_MAX - 7, WS_E_QUOTA_EXCEEDED},
};

static void test_huge_sizes(void **state)
{
    struct fixture *f = *state;
    char text[512];

    for (size_t k = 0; k < sizeof huge_cases / sizeof huge_cases[0]; k++) {
        const struct huge_case *c = &huge_cases[k];
        WS_HEAP *heap = make_heap(c->max_size, 0);
        struct block b;
        void *p = SENTINEL_PTR;
        ULONG before;
        HRESULT hr;

        if (c->before > 0) alloc_block(heap, &b, c->before, 1);
        before = error_string_count(f->error);
        hr = WsAlloc(heap, c->size, &p, f->error);
        if (hr != c->expect)
            failf(__FILE__, __LINE__, "%s: %s, expected %s", c->what, wsheap_hresult_name(hr),
                  wsheap_hresult_name(c->expect));
        assert_ptr_equal(p, SENTINEL_PTR);
        assert_int_equal(REQUESTED(heap), c->before);
        assert_int_equal(error_string_count(f->error), before + 1);
        newest_error_string(f->error, text, sizeof text);
        if (strstr(text, "WsAlloc") == NULL || !has_size(text, c->size))
            failf(__FILE__, __LINE__, "%s: \"%s\" must name WsAlloc and %zu", c->what, text,
                  c->size);

        /* The heap is still usable, and the earlier block intact. */
        if (c->before > 0 && c->before < c->max_size) {
            struct block more;

            alloc_block(heap, &more, c->max_size - c->before < 64 ? 1 : 64, 2);
            verify_blocks(&more, 1, c->what);
        }
        if (c->before > 0) verify_blocks(&b, 1, c->what);
        assert_hr(WsResetHeap(heap, NULL), S_OK);
        alloc_block(heap, &b, c->max_size < 512 ? c->max_size : 512, 3);
        verify_blocks(&b, 1, c->what);
        WsFreeHeap(heap);
    }
}

/* --- Properties ------------------------------------------------------------------------------- */

static void test_properties_of_a_new_heap(void **state)
{
    static const struct {
        SIZE_T max_size, trim_size;
    } cases[] = {
        {0, 0},        {1, 0},         {100, 1000},
        {4096, 4096},  {1 * MIB, 512}, {SIZE_MAX, SIZE_MAX},
        {SIZE_MAX, 0}, {0, SIZE_MAX},
    };

    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        WS_HEAP *heap = make_heap(cases[k].max_size, cases[k].trim_size);

        assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_MAX_SIZE), cases[k].max_size);
        assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_TRIM_SIZE), cases[k].trim_size);
        assert_int_equal(REQUESTED(heap), 0);
        assert_int_equal(ACTUAL(heap), 0); /* creating a heap takes no block memory */
        WsFreeHeap(heap);
    }
}

/* Exactly sizeof(SIZE_T) bytes are written, whatever the property. */
static void test_property_writes_exactly_a_size_t(void **state)
{
    struct fixture *f = *state;
    unsigned char buf[3 * sizeof(SIZE_T)];
    SIZE_T v;

    for (int id = 0; id <= 3; id++) {
        memset(buf, SENTINEL_BYTE, sizeof buf);
        assert_hr(
            WsGetHeapProperty(f->heap, (WS_HEAP_PROPERTY_ID)id, buf + sizeof(SIZE_T), SZ, f->error),
            S_OK);
        for (size_t i = 0; i < sizeof(SIZE_T); i++) {
            assert_int_equal(buf[i], SENTINEL_BYTE);
            assert_int_equal(buf[2 * sizeof(SIZE_T) + i], SENTINEL_BYTE);
        }
        memcpy(&v, buf + sizeof(SIZE_T), sizeof v);
        assert_int_equal(v, heap_property(f->heap, (WS_HEAP_PROPERTY_ID)id));
    }
    assert_int_equal(error_string_count(f->error), 0);
}

/* REQUESTED_SIZE is the exact sum (not rounded); ACTUAL_SIZE covers it; reset zeroes
 * REQUESTED_SIZE and leaves MAX_SIZE/TRIM_SIZE alone (spec section 2). */
static void test_properties_track_allocations_and_reset(void **state)
{
    static const SIZE_T sizes[] = {16, 128, 1, 0, 13, 7, 4095, 3, 100000, 5, 2 * MIB + 1, 9};
    WS_HEAP *heap = make_heap(SIZE_MAX - 1, 12345);
    void *p;

    (void)state;
    for (int round = 0; round < 3; round++) {
        SIZE_T sum = 0;

        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            assert_hr(WsAlloc(heap, sizes[i], &p, NULL), S_OK);
            sum += sizes[i];
            assert_int_equal(REQUESTED(heap), sum);
            assert_true(ACTUAL(heap) >= REQUESTED(heap));
            if (sum > 0) assert_true(ACTUAL(heap) > 0);
        }
        assert_int_equal(sum, 16 + 128 + 1 + 13 + 7 + 4095 + 3 + 100000 + 5 + 2 * MIB + 1 + 9);
        assert_hr(WsResetHeap(heap, NULL), S_OK);
        assert_int_equal(REQUESTED(heap), 0);
        assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_MAX_SIZE), SIZE_MAX - 1);
        assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_TRIM_SIZE), 12345);
    }
    WsFreeHeap(heap);
}

/* The spec's Windows sequence (new heap, 16, 128, 1, reset): the invariants every backend keeps
 * (Windows reports 0, 128, 128, 384, 128; the arena's exact figures are checked below). */
static void test_actual_size_windows_sequence(void **state)
{
    WS_HEAP *heap = make_heap(SIZE_MAX, 0);
    void *p;

    (void)state;
    assert_int_equal(ACTUAL(heap), 0);
    assert_hr(WsAlloc(heap, 16, &p, NULL), S_OK);
    assert_true(ACTUAL(heap) >= 16);
    assert_hr(WsAlloc(heap, 128, &p, NULL), S_OK);
    assert_true(ACTUAL(heap) >= 144);
    assert_hr(WsAlloc(heap, 1, &p, NULL), S_OK);
    assert_true(ACTUAL(heap) >= 145);
    assert_int_equal(REQUESTED(heap), 145);
    assert_hr(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(REQUESTED(heap), 0);
    WsFreeHeap(heap);
}

/* Arena heaps report Windows' own ACTUAL_SIZE figures (docs/api.md: a model of Windows' 128,
 * 256, ... byte chunks), as Wine's conformance tests recorded them on Windows, for a heap with
 * maxSize 65536 and trimSize 0. Guarded heaps count whole data pages instead. */
static bool windows_figures_apply(WS_HEAP *heap)
{
    if (strcmp(wsheap_backend_name(heap), "arena") == 0) return true;
    print_message("the %s backend counts whole pages, not Windows' chunks (docs/api.md)\n",
                  wsheap_backend_name(heap));
    return false;
}

static void test_actual_size_windows_128(void **state)
{
    WS_HEAP *heap = make_heap(65536, 0);
    void *p;

    (void)state;
    if (!windows_figures_apply(heap)) {
        WsFreeHeap(heap);
        skip();
    }
    assert_int_equal(ACTUAL(heap), 0);
    assert_hr(WsAlloc(heap, 128, &p, NULL), S_OK);
    assert_int_equal(ACTUAL(heap), 128);
    WsFreeHeap(heap);
}

static void test_actual_size_windows_128_then_1(void **state)
{
    WS_HEAP *heap = make_heap(65536, 0);
    void *p;

    (void)state;
    if (!windows_figures_apply(heap)) {
        WsFreeHeap(heap);
        skip();
    }
    assert_hr(WsAlloc(heap, 128, &p, NULL), S_OK);
    assert_hr(WsAlloc(heap, 1, &p, NULL), S_OK);
    assert_int_equal(ACTUAL(heap), 384); /* chunks of 128 and 256 */
    WsFreeHeap(heap);
}

static void test_actual_size_windows_after_reset_trim_zero(void **state)
{
    WS_HEAP *heap = make_heap(65536, 0);
    void *p;

    (void)state;
    if (!windows_figures_apply(heap)) {
        WsFreeHeap(heap);
        skip();
    }
    assert_hr(WsAlloc(heap, 128, &p, NULL), S_OK);
    assert_hr(WsAlloc(heap, 1, &p, NULL), S_OK);
    assert_hr(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(ACTUAL(heap), 128); /* the first chunk is kept */
    assert_hr(WsAlloc(heap, 16, &p, NULL), S_OK);
    assert_int_equal(ACTUAL(heap), 128);
    assert_hr(WsResetHeap(heap, NULL), S_OK); /* a reset heap.c does alone ("cur = rewind") */
    assert_int_equal(ACTUAL(heap), 128);
    WsFreeHeap(heap);
}

/* --- The inline window (ABI) ------------------------------------------------------------------ */

/* The window programs compile in (wsheap.h) is frozen for the soname's major version
 * (docs/abi.md): a layout change without a new major fails here, in the header these programs
 * see, as src/heap.c's static_asserts fail in the library. */
#if WSHEAP_VERSION_MAJOR == 0
static_assert(offsetof(WSHEAP_WINDOW, cur) == 0, "soname 0's window: cur first");
static_assert(offsetof(WSHEAP_WINDOW, end) == sizeof(char *), "then end");
static_assert(offsetof(WSHEAP_WINDOW, requestedSize) == 2 * sizeof(char *), "then requestedSize");
static_assert(sizeof(WSHEAP_WINDOW) == 3 * sizeof(char *), "three words");
#else
#error "record this major version's WSHEAP_WINDOW layout here (docs/abi.md)"
#endif

/* ... and the library keeps the rule the inline code relies on: the first three words of every
 * heap are the window; requestedSize is REQUESTED_SIZE; cur <= end, both 8-aligned; a block of n
 * bytes served from the window is cur, which moves on by n rounded up to 8. Checked through the
 * exported WsAlloc, whatever this file was compiled with. */
static void test_inline_window_is_the_abi(void **state)
{
    static const SIZE_T sizes[] = {1, 13, 8, 100, 7, 4000, 0, 24};
    WS_HEAP *heap = make_heap(SIZE_MAX, 0);
    const WSHEAP_WINDOW *w = (const WSHEAP_WINDOW *)(const void *)heap;
    void *p;

    (void)state;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *cur = w->cur, *end = w->end;

        assert_true((uintptr_t)cur <= (uintptr_t)end);
        assert_int_equal((uintptr_t)cur % 8, 0);
        assert_int_equal((uintptr_t)end % 8, 0);
        assert_hr((WsAlloc)(heap, sizes[i], &p, NULL), S_OK);
        assert_int_equal(w->requestedSize, REQUESTED(heap));
        if (sizes[i] > 0 && sizes[i] <= (SIZE_T)(end - cur)) {
            assert_ptr_equal(p, cur);
            assert_ptr_equal(w->cur, cur + ((sizes[i] + 7) & ~(SIZE_T)7));
        }
    }
    assert_hr(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(w->requestedSize, 0);
    WsFreeHeap(heap);
}

/* --- Trimming --------------------------------------------------------------------------------- */

/* "The heap keeps about trimSize bytes": after a multi-MiB round, a reset gives most of it back.
 * The allowance over trimSize is for a small first chunk (Windows keeps 128 bytes with trimSize
 * 0); it is far below the round, so a heap that kept everything fails. */
static void test_reset_trims_to_about_trim_size(void **state)
{
    static const SIZE_T trims[] = {0, 4096, 64 * KIB, 1 * MIB};
    const SIZE_T allowance = 64 * KIB;
    void *p;

    (void)state;
    for (size_t k = 0; k < sizeof trims / sizeof trims[0]; k++) {
        WS_HEAP *heap = make_heap(SIZE_MAX, trims[k]);

        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < 200; i++)
                assert_hr(WsAlloc(heap, 1000 + (SIZE_T)i * 97, &p, NULL), S_OK);
            assert_hr(WsAlloc(heap, 3 * MIB, &p, NULL), S_OK);
            assert_true(ACTUAL(heap) >= REQUESTED(heap));
            assert_true(ACTUAL(heap) > 4 * MIB);
            assert_hr(WsResetHeap(heap, NULL), S_OK);
            if (ACTUAL(heap) > trims[k] + allowance)
                failf(__FILE__, __LINE__, "trimSize %zu: ACTUAL_SIZE %zu after reset", trims[k],
                      ACTUAL(heap));
        }
        WsFreeHeap(heap);
    }
}

/* trimSize > maxSize is valid and means "not trimmed" (spec decision). In the arena the kept
 * memory must at least hold the last round again; PageHeap mode (guarded) destroys on reset,
 * as Windows' PageHeap does, so there only validity is checked. */
static void test_trim_size_above_max_size(void **state)
{
    WS_HEAP *heap = make_heap(8 * MIB, 64 * MIB);
    SIZE_T round_size;
    void *p;

    (void)state;
    assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_TRIM_SIZE), 64 * MIB);
    for (int i = 0; i < 300; i++)
        assert_hr(WsAlloc(heap, 5000 + (SIZE_T)i, &p, NULL), S_OK);
    assert_hr(WsAlloc(heap, 2 * MIB, &p, NULL), S_OK);
    round_size = REQUESTED(heap);
    assert_hr(WsAlloc(heap, 8 * MIB - round_size + 1, &p, NULL), WS_E_QUOTA_EXCEEDED);
    assert_hr(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(REQUESTED(heap), 0);
    if (strcmp(wsheap_backend_name(heap), "arena") == 0) assert_true(ACTUAL(heap) >= round_size);
    assert_hr(WsAlloc(heap, 8 * MIB, &p, NULL), S_OK);
    memset(p, 7, 8 * MIB);
    WsFreeHeap(heap);
}

/* --- Blocks: alignment, zero size, contents, disjointness ------------------------------------- */

/* Every pointer is 8-byte aligned (no more is promised) and all its bytes are usable. */
static void test_alignment_of_every_size(void **state)
{
    enum { N = 4097 };
    struct block *blocks = calloc(N, sizeof *blocks);
    WS_HEAP *heap = make_heap(SIZE_MAX, 0);
    const char *unaligned = getenv("WSHEAP_PAGEHEAP_UNALIGNED");

    (void)state;
    assert_non_null(blocks);
    if (unaligned != NULL && strcmp(unaligned, "1") == 0) {
        /* That mode drops alignment on purpose, as PageHeap /unaligned does. */
        WsFreeHeap(heap);
        free(blocks);
        skip();
    }
    for (int round = 0; round < 2; round++) {
        SIZE_T sum = 0;

        for (size_t i = 0; i < N; i++) {
            size_t size = round == 0 ? i : N - 1 - i; /* upwards, then downwards */

            alloc_block(heap, &blocks[i], size, (uint32_t)(i + 1 + round * N));
            if ((uintptr_t)blocks[i].p % 8 != 0)
                failf(__FILE__, __LINE__, "WsAlloc(%zu) returned %p, not 8-byte aligned", size,
                      (void *)blocks[i].p);
            sum += size;
        }
        assert_int_equal(REQUESTED(heap), sum);
        assert_int_equal(sum, (SIZE_T)(N - 1) * N / 2);
        verify_blocks(blocks, N, "sizes 0..4096");
        check_disjoint(blocks, N);
        assert_hr(WsResetHeap(heap, NULL), S_OK);
    }
    WsFreeHeap(heap);
    free(blocks);
}

/* Zero-size requests succeed with distinct non-NULL pointers that no other live block contains,
 * and count 0 toward the quota (spec decision). */
static void test_zero_size_blocks(void **state)
{
    enum { N = 600 };
    struct block *blocks = calloc(N, sizeof *blocks);
    WS_HEAP *heap = make_heap(SIZE_MAX, 0);
    SIZE_T sum = 0;

    (void)state;
    assert_non_null(blocks);
    for (size_t i = 0; i < N; i++) {
        size_t size = i % 3 == 0 ? 0 : (i * 37) % 200; /* some zero among small ones */

        alloc_block(heap, &blocks[i], size, (uint32_t)i + 1);
        sum += size;
    }
    assert_int_equal(REQUESTED(heap), sum);
    verify_blocks(blocks, N, "zero-size mix");
    check_disjoint(blocks, N);
    assert_hr(WsResetHeap(heap, NULL), S_OK);
    WsFreeHeap(heap);

    /* Only zero-size blocks, in a heap whose quota is 0 and in one that is exactly full. */
    for (int full = 0; full < 2; full++) {
        heap = make_heap(full ? 48 : 0, 0);
        if (full) alloc_block(heap, &blocks[0], 48, 1);
        for (size_t i = full; i < N; i++)
            alloc_block(heap, &blocks[i], 0, (uint32_t)i + 1);
        assert_int_equal(REQUESTED(heap), full ? 48 : 0);
        check_disjoint(blocks, N);
        WsFreeHeap(heap);
    }
    free(blocks);
}

/* Blocks keep their contents and never overlap until reset: thousands of random sizes, chunk
 * growth, and blocks of several MiB, over several rounds. */
static void test_blocks_intact_and_disjoint(void **state)
{
    enum { N = 3000 };
    static const size_t large[] = {1 * MIB - 1, 1 * MIB + 1, 3 * MIB, 6 * MIB + 3, 2 * MIB};
    struct block *blocks = calloc(N, sizeof *blocks);
    WS_HEAP *heap = make_heap(SIZE_MAX, 256 * KIB);
    uint64_t rng = 0x9E3779B97F4A7C15ULL;

    (void)state;
    assert_non_null(blocks);
    for (int round = 0; round < 3; round++) {
        SIZE_T sum = 0;

        for (size_t i = 0; i < N; i++) {
            uint64_t r = rng_next(&rng);
            size_t size;

            if (i % 600 == 299)
                size = large[(i / 600 + (size_t)round) % (sizeof large / sizeof large[0])];
            else if (r % 100 < 60)
                size = (size_t)(r >> 8) % 65;
            else if (r % 100 < 90)
                size = 65 + (size_t)(r >> 8) % 960;
            else if (r % 100 < 99)
                size = 1025 + (size_t)(r >> 8) % 31744;
            else
                size = 32769 + (size_t)(r >> 8) % 229376;
            alloc_block(heap, &blocks[i], size, (uint32_t)(round * N + i + 1));
            sum += size;
        }
        assert_int_equal(REQUESTED(heap), sum);
        assert_true(ACTUAL(heap) >= sum);
        verify_blocks(blocks, N, "after all allocations");
        check_disjoint(blocks, N);
        assert_hr(WsResetHeap(heap, NULL), S_OK);
        assert_int_equal(REQUESTED(heap), 0);
    }
    WsFreeHeap(heap);
    free(blocks);
}

/* Reset then reuse: every round's blocks are fresh and intact, and REQUESTED_SIZE restarts. */
static void test_reset_then_reuse(void **state)
{
    enum { N = 200 };
    struct block blocks[N];
    WS_HEAP *heap = make_heap(1 * MIB, 16 * KIB);

    (void)state;
    for (int round = 0; round < 30; round++) {
        SIZE_T sum = 0;

        for (size_t i = 0; i < N; i++) {
            size_t size = (i * 31 + (size_t)round * 17) % (round % 5 == 4 ? 5000 : 300);

            alloc_block(heap, &blocks[i], size, (uint32_t)(round * N + i + 1));
            sum += size;
        }
        assert_int_equal(REQUESTED(heap), sum);
        verify_blocks(blocks, N, "reset then reuse");
        check_disjoint(blocks, N);
        assert_hr(WsResetHeap(heap, NULL), S_OK);
        assert_int_equal(REQUESTED(heap), 0);
        assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_MAX_SIZE), 1 * MIB);
        assert_int_equal(heap_property(heap, WS_HEAP_PROPERTY_TRIM_SIZE), 16 * KIB);
    }
    /* A reset of a reset heap, and of a heap with nothing in it, is fine. */
    assert_hr(WsResetHeap(heap, NULL), S_OK);
    assert_hr(WsResetHeap(heap, NULL), S_OK);
    WsFreeHeap(heap);
}

/* --- Heap lifetime ---------------------------------------------------------------------------- */

static void test_free_heap_null_is_a_no_op(void **state)
{
    struct fixture *f = *state;
    void *p;

    WsFreeHeap(NULL);
    WsFreeHeap(NULL);
    assert_hr(WsAlloc(f->heap, 8, &p, f->error), S_OK);
    assert_int_equal(error_string_count(f->error), 0);
}

/* WsFreeHeap releases every block, whatever its size (valgrind and ASan check the leaks). */
static void test_free_heap_with_live_blocks(void **state)
{
    static const SIZE_T sizes[] = {0, 1, 8, 4096, 70000, 1 * MIB + 8, 5 * MIB};
    void *p;

    (void)state;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        WS_HEAP *heap = make_heap(SIZE_MAX, k * 1000);

        for (size_t i = 0; i <= k; i++)
            assert_hr(WsAlloc(heap, sizes[i], &p, NULL), S_OK);
        WsFreeHeap(heap);
    }
}

/* Many heaps alive at once are independent: own quota, own properties, own blocks. */
static void test_many_heaps(void **state)
{
    enum { N = 300, PER = 3 };
    WS_HEAP **heaps = calloc(N, sizeof *heaps);
    struct block(*blocks)[PER] = calloc(N, sizeof *blocks);
    struct block *flat = calloc((size_t)N * PER, sizeof *flat);
    const char *backend = NULL;
    void *p;

    (void)state;
    assert_non_null(heaps);
    assert_non_null(blocks);
    assert_non_null(flat);
    for (size_t i = 0; i < N; i++) {
        heaps[i] = make_heap(1000 + i, i);
        if (backend == NULL) backend = wsheap_backend_name(heaps[i]);
        assert_string_equal(wsheap_backend_name(heaps[i]), backend);
        for (size_t j = 0; j < PER; j++)
            alloc_block(heaps[i], &blocks[i][j], 1 + (i * 7 + j) % 300, (uint32_t)(i * PER + j));
    }
    for (size_t i = 0; i < N; i++) {
        SIZE_T used = blocks[i][0].size + blocks[i][1].size + blocks[i][2].size;

        verify_blocks(blocks[i], PER, "many heaps");
        assert_int_equal(heap_property(heaps[i], WS_HEAP_PROPERTY_MAX_SIZE), 1000 + i);
        assert_int_equal(heap_property(heaps[i], WS_HEAP_PROPERTY_TRIM_SIZE), i);
        assert_int_equal(REQUESTED(heaps[i]), used);
        assert_hr(WsAlloc(heaps[i], 1000 + i - used + 1, &p, NULL), WS_E_QUOTA_EXCEEDED);
        assert_hr(WsAlloc(heaps[i], 1000 + i - used, &p, NULL), S_OK);
    }
    memcpy(flat, blocks, (size_t)N * sizeof *blocks);
    check_disjoint(flat, (size_t)N * PER);
    /* Free every other heap; the others keep their blocks. */
    for (size_t i = 0; i < N; i += 2)
        WsFreeHeap(heaps[i]);
    for (size_t i = 1; i < N; i += 2)
        verify_blocks(blocks[i], PER, "after freeing the neighbouring heaps");
    for (size_t i = 1; i < N; i += 2)
        WsFreeHeap(heaps[i]);

    /* Creating and freeing heaps in a loop, each used once. */
    for (int i = 0; i < 1000; i++) {
        WS_HEAP *heap = make_heap(64, 0);

        assert_hr(WsAlloc(heap, 64, &p, NULL), S_OK);
        memset(p, i, 64);
        WsFreeHeap(heap);
    }
    free(flat);
    free(blocks);
    free(heaps);
}

/* WSHEAP_PAGEHEAP chooses the backend for the heaps a process creates (api.arena / api.guarded
 * run this binary with 0 and 1), and a heap reports the one it was created with. */
static void test_backend_matches_environment(void **state)
{
    struct fixture *f = *state;
    const char *env = getenv("WSHEAP_PAGEHEAP");
    const char *expected = env != NULL && strcmp(env, "1") == 0 ? "guarded" : "arena";
    const char *name = wsheap_backend_name(f->heap);

    assert_null(wsheap_backend_name(NULL));
    assert_non_null(name);
    assert_string_equal(name, expected);
}

/* --- Threads ---------------------------------------------------------------------------------- */

/* Different heaps (and error objects) on different threads need no caller locking. */
struct thread_job {
    unsigned seed;
    int failed; /* set when a check in the thread failed; cmocka asserts are not thread-safe */
};

static void *thread_main(void *arg)
{
    struct thread_job *job = arg;
    WS_HEAP *heap = NULL;
    WS_ERROR *error = NULL;
    struct block blocks[64];
    ULONG count = 0;
    void *p;

    if (WsCreateHeap(64 * KIB, 8 * KIB, NULL, 0, &heap, NULL) != S_OK ||
        WsCreateError(NULL, 0, &error) != S_OK) {
        job->failed = 1;
        return NULL;
    }
    for (int round = 0; round < 200 && !job->failed; round++) {
        for (size_t i = 0; i < 64; i++) {
            blocks[i].size = (i * 13 + job->seed + (size_t)round) % 700;
            blocks[i].tag = job->seed * 100000u + (uint32_t)(round * 64 + i);
            if (WsAlloc(heap, blocks[i].size, &p, error) != S_OK) {
                job->failed = 1;
                break;
            }
            blocks[i].p = p;
            fill_block(&blocks[i]);
        }
        for (size_t i = 0; i < 64 && !job->failed; i++)
            for (size_t j = 0; j < blocks[i].size; j++)
                if (blocks[i].p[j] != pattern_byte(blocks[i].tag, j)) job->failed = 1;
        if (WsAlloc(heap, 64 * KIB + 1, &p, error) != WS_E_QUOTA_EXCEEDED ||
            WsResetHeap(heap, error) != S_OK)
            job->failed = 1;
    }
    if (WsGetErrorProperty(error, WS_ERROR_PROPERTY_STRING_COUNT, &count, sizeof count) != S_OK ||
        count != 200)
        job->failed = 1;
    WsFreeError(error);
    WsFreeHeap(heap);
    return NULL;
}

static void test_heaps_on_different_threads(void **state)
{
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    struct thread_job jobs[THREADS];

    (void)state;
    for (unsigned i = 0; i < THREADS; i++) {
        jobs[i].seed = i + 1;
        jobs[i].failed = 0;
        assert_int_equal(pthread_create(&threads[i], NULL, thread_main, &jobs[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(jobs[i].failed, 0);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_invalid_arguments),
        T(test_invalid_arguments_on_a_used_heap),
        T(test_get_property_bad_value_size),
        T(test_success_leaves_error_untouched),
        T(test_failures_add_one_string_each),
        T(test_quota_boundaries),
        T(test_quota_restarts_after_reset),
        T(test_quota_message_numbers),
        T(test_huge_sizes),
        T(test_properties_of_a_new_heap),
        T(test_property_writes_exactly_a_size_t),
        T(test_properties_track_allocations_and_reset),
        T(test_actual_size_windows_sequence),
        T(test_actual_size_windows_128),
        T(test_actual_size_windows_128_then_1),
        T(test_actual_size_windows_after_reset_trim_zero),
        T(test_inline_window_is_the_abi),
        T(test_reset_trims_to_about_trim_size),
        T(test_trim_size_above_max_size),
        T(test_alignment_of_every_size),
        T(test_zero_size_blocks),
        T(test_blocks_intact_and_disjoint),
        T(test_reset_then_reuse),
        T(test_free_heap_null_is_a_no_op),
        T(test_free_heap_with_live_blocks),
        T(test_many_heaps),
        T(test_backend_matches_environment),
        T(test_heaps_on_different_threads),
    };
#undef T

    return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
