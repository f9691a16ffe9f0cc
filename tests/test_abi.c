/* SPDX-License-Identifier: MIT */
/*
 * The ABI that code written for Windows' webservices.h relies on, pinned at compile time: type
 * widths and signedness, struct sizes and field offsets (x86-64 layout), enum and HRESULT values,
 * and the exact function signatures. Built with -std=c11 -Wall -Wextra -pedantic -Werror, so
 * <wsheap.h> (included first, to prove it is self-contained) must compile cleanly under them.
 */
#include <wsheap.h>

#include <assert.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

/* --- Types: Windows widths, not the C names' LP64 widths -------------------------------------- */

#define IS_TYPE(expr, type) _Generic((expr), type : 1, default : 0)

static_assert(sizeof(HRESULT) == 4, "HRESULT is 32-bit");
static_assert(IS_TYPE((HRESULT)0, int32_t), "HRESULT is int32_t, not long");
static_assert((HRESULT)-1 < 0, "HRESULT is signed");
static_assert(sizeof(ULONG) == 4, "ULONG is 32-bit, although unsigned long is 64 on LP64");
static_assert(IS_TYPE((ULONG)0, uint32_t), "ULONG is uint32_t");
static_assert((ULONG)-1 > 0, "ULONG is unsigned");
static_assert(sizeof(SIZE_T) == sizeof(void *), "SIZE_T is pointer-sized");
static_assert(IS_TYPE((SIZE_T)0, size_t), "SIZE_T is size_t");
static_assert(sizeof(LANGID) == 2, "LANGID is 16-bit");
static_assert(IS_TYPE((LANGID)0, uint16_t), "LANGID is uint16_t");
static_assert(sizeof(WCHAR) == 2, "WCHAR is a UTF-16 code unit, not a 32-bit wchar_t");
static_assert(IS_TYPE((WCHAR)0, uint16_t), "WCHAR is uint16_t");
static_assert((WCHAR)-1 > 0, "WCHAR is unsigned");

/* --- Enums ------------------------------------------------------------------------------------ */

static_assert(sizeof(WS_HEAP_PROPERTY_ID) == 4, "enums are 4 bytes, as on Windows");
static_assert(sizeof(WS_ERROR_PROPERTY_ID) == 4, "enums are 4 bytes, as on Windows");
static_assert(WS_HEAP_PROPERTY_MAX_SIZE == 0, "");
static_assert(WS_HEAP_PROPERTY_TRIM_SIZE == 1, "");
static_assert(WS_HEAP_PROPERTY_REQUESTED_SIZE == 2, "");
static_assert(WS_HEAP_PROPERTY_ACTUAL_SIZE == 3, "");
static_assert(WS_ERROR_PROPERTY_STRING_COUNT == 0, "");
static_assert(WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE == 1, "");
static_assert(WS_ERROR_PROPERTY_LANGID == 2, "");

/* --- HRESULTs: the SDK values (winerror.h), as decimal and as bit patterns -------------------- */

static_assert(S_OK == 0, "");
static_assert(E_INVALIDARG == -2147024809, "0x80070057");
static_assert(E_OUTOFMEMORY == -2147024882, "0x8007000E");
static_assert(WS_E_INVALID_OPERATION == -2143485949, "0x803D0003");
static_assert(WS_E_QUOTA_EXCEEDED == -2143485944, "0x803D0008");
static_assert((uint32_t)E_INVALIDARG == 0x80070057u, "");
static_assert((uint32_t)E_OUTOFMEMORY == 0x8007000Eu, "");
static_assert((uint32_t)WS_E_INVALID_OPERATION == 0x803D0003u, "");
static_assert((uint32_t)WS_E_QUOTA_EXCEEDED == 0x803D0008u, "");
static_assert(IS_TYPE(E_INVALIDARG, HRESULT) && IS_TYPE(S_OK, HRESULT), "codes are HRESULTs");
static_assert(SUCCEEDED(S_OK) && !FAILED(S_OK), "");
static_assert(SUCCEEDED(1) && SUCCEEDED(0x7fffffff), "S_FALSE and other positives succeed");
static_assert(FAILED(E_INVALIDARG) && FAILED(E_OUTOFMEMORY), "");
static_assert(FAILED(WS_E_INVALID_OPERATION) && FAILED(WS_E_QUOTA_EXCEEDED), "");
static_assert(FAILED(0x80004005), "an unsigned literal with bit 31 set fails");

/* --- Structs (x86-64 / LP64 layout, as the Windows x64 ABI lays them out) --------------------- */

#if defined(__LP64__)
static_assert(sizeof(WS_HEAP_PROPERTY) == 24, "");
static_assert(offsetof(WS_HEAP_PROPERTY, id) == 0, "");
static_assert(offsetof(WS_HEAP_PROPERTY, value) == 8, "");
static_assert(offsetof(WS_HEAP_PROPERTY, valueSize) == 16, "");
static_assert(sizeof(WS_HEAP_PROPERTIES) == 16, "");
static_assert(offsetof(WS_HEAP_PROPERTIES, properties) == 0, "");
static_assert(offsetof(WS_HEAP_PROPERTIES, propertyCount) == 8, "");
static_assert(sizeof(WS_ERROR_PROPERTY) == 24, "");
static_assert(offsetof(WS_ERROR_PROPERTY, id) == 0, "");
static_assert(offsetof(WS_ERROR_PROPERTY, value) == 8, "");
static_assert(offsetof(WS_ERROR_PROPERTY, valueSize) == 16, "");
static_assert(sizeof(WS_STRING) == 16, "");
static_assert(offsetof(WS_STRING, length) == 0, "");
static_assert(offsetof(WS_STRING, chars) == 8, "");
static_assert(_Alignof(WS_HEAP_PROPERTY) == 8 && _Alignof(WS_STRING) == 8, "");
#endif
static_assert(IS_TYPE(((WS_HEAP_PROPERTY *)0)->valueSize, ULONG), "");
static_assert(IS_TYPE(((WS_HEAP_PROPERTY *)0)->id, WS_HEAP_PROPERTY_ID), "");
static_assert(IS_TYPE(((WS_HEAP_PROPERTIES *)0)->properties, WS_HEAP_PROPERTY *), "");
static_assert(IS_TYPE(((WS_HEAP_PROPERTIES *)0)->propertyCount, ULONG), "");
static_assert(IS_TYPE(((WS_ERROR_PROPERTY *)0)->valueSize, ULONG), "");
static_assert(IS_TYPE(((WS_ERROR_PROPERTY *)0)->id, WS_ERROR_PROPERTY_ID), "");
static_assert(IS_TYPE(((WS_STRING *)0)->length, ULONG), "");
static_assert(IS_TYPE(((WS_STRING *)0)->chars, WCHAR *), "");

/* --- Signatures: these initializations fail to compile (-Werror) if one differs --------------- */

static HRESULT (*const create_heap)(SIZE_T, SIZE_T, const WS_HEAP_PROPERTY *, ULONG, WS_HEAP **,
                                    WS_ERROR *) = WsCreateHeap;
static HRESULT (*const alloc)(WS_HEAP *, SIZE_T, void **, WS_ERROR *) = WsAlloc;
static HRESULT (*const reset_heap)(WS_HEAP *, WS_ERROR *) = WsResetHeap;
static void (*const free_heap)(WS_HEAP *) = WsFreeHeap;
static HRESULT (*const get_heap_property)(WS_HEAP *, WS_HEAP_PROPERTY_ID, void *, ULONG,
                                          WS_ERROR *) = WsGetHeapProperty;
static HRESULT (*const create_error)(const WS_ERROR_PROPERTY *, ULONG, WS_ERROR **) = WsCreateError;
static HRESULT (*const get_error_property)(WS_ERROR *, WS_ERROR_PROPERTY_ID, void *,
                                           ULONG) = WsGetErrorProperty;
static HRESULT (*const set_error_property)(WS_ERROR *, WS_ERROR_PROPERTY_ID, const void *,
                                           ULONG) = WsSetErrorProperty;
static HRESULT (*const get_error_string)(WS_ERROR *, ULONG, WS_STRING *) = WsGetErrorString;
static HRESULT (*const add_error_string)(WS_ERROR *, const WS_STRING *) = WsAddErrorString;
static HRESULT (*const reset_error)(WS_ERROR *) = WsResetError;
static void (*const free_error)(WS_ERROR *) = WsFreeError;

/* --- Runtime: the library links and works through the pinned types ---------------------------- */

static void test_link_and_run(void **state)
{
    WS_HEAP *heap = NULL;
    WS_ERROR *error = NULL;
    WS_STRING s = {0, NULL};
    void *p = NULL;
    SIZE_T requested = 0;
    ULONG count = 0;
    char version[32];

    (void)state;
    assert_int_equal(create_error(NULL, 0, &error), S_OK);
    assert_int_equal(create_heap(64, 0, NULL, 0, &heap, error), S_OK);
    assert_int_equal(alloc(heap, 40, &p, error), S_OK);
    assert_non_null(p);
    memset(p, 0x11, 40);
    assert_int_equal(get_heap_property(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE, &requested,
                                       sizeof requested, error),
                     S_OK);
    assert_int_equal(requested, 40);
    assert_true(alloc(heap, 25, &p, error) == WS_E_QUOTA_EXCEEDED);
    assert_int_equal(
        get_error_property(error, WS_ERROR_PROPERTY_STRING_COUNT, &count, sizeof count), S_OK);
    assert_int_equal(count, 1);
    assert_int_equal(get_error_string(error, 0, &s), S_OK);
    assert_true(s.length > 0);
    assert_int_equal(add_error_string(error, &s), S_OK);
    assert_int_equal(
        set_error_property(error, WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE, &count, sizeof count),
        S_OK);
    assert_int_equal(reset_heap(heap, error), S_OK);
    assert_int_equal(reset_error(error), S_OK);
    assert_string_equal(wsheap_hresult_name(WS_E_QUOTA_EXCEEDED), "WS_E_QUOTA_EXCEEDED");
    free_heap(heap);
    free_error(error);

    /* The version macros agree with each other. */
    snprintf(version, sizeof version, "%d.%d.%d", WSHEAP_VERSION_MAJOR, WSHEAP_VERSION_MINOR,
             WSHEAP_VERSION_PATCH);
    assert_string_equal(version, WSHEAP_VERSION_STRING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_and_run),
    };

    return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
