/* SPDX-License-Identifier: MIT */
/*
 * <wsheap.h> compiled as C++17 with -Wall -Wextra -pedantic -Werror: the header must be valid
 * C++, keep the Windows types and values, and declare the API `extern "C"` (otherwise this
 * program would look for mangled names and fail to link). A plain main(): exit status 0 is a pass.
 */
#include <wsheap.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

static_assert(std::is_same<HRESULT, std::int32_t>::value, "HRESULT is int32_t");
static_assert(std::is_same<ULONG, std::uint32_t>::value, "ULONG is uint32_t");
static_assert(std::is_same<SIZE_T, std::size_t>::value, "SIZE_T is size_t");
static_assert(std::is_same<LANGID, std::uint16_t>::value, "LANGID is uint16_t");
static_assert(std::is_same<WCHAR, std::uint16_t>::value, "WCHAR is uint16_t, not wchar_t");
static_assert(E_INVALIDARG == -2147024809 && E_OUTOFMEMORY == -2147024882, "");
static_assert(WS_E_INVALID_OPERATION == -2143485949 && WS_E_QUOTA_EXCEEDED == -2143485944, "");
static_assert(FAILED(WS_E_QUOTA_EXCEEDED) && SUCCEEDED(S_OK), "");
static_assert(WS_HEAP_PROPERTY_ACTUAL_SIZE == 3 && WS_ERROR_PROPERTY_LANGID == 2, "");
static_assert(std::is_standard_layout<WS_HEAP_PROPERTY>::value, "");
static_assert(std::is_standard_layout<WS_STRING>::value, "");
#if defined(__LP64__)
static_assert(sizeof(WS_HEAP_PROPERTY) == 24 && offsetof(WS_HEAP_PROPERTY, valueSize) == 16, "");
static_assert(sizeof(WS_HEAP_PROPERTIES) == 16 && sizeof(WS_ERROR_PROPERTY) == 24, "");
static_assert(sizeof(WS_STRING) == 16 && offsetof(WS_STRING, chars) == 8, "");
#endif
static_assert(
    std::is_same<decltype(&WsAlloc), HRESULT (*)(WS_HEAP *, SIZE_T, void **, WS_ERROR *)>::value,
    "WsAlloc's signature");
static_assert(std::is_same<decltype(&WsFreeHeap), void (*)(WS_HEAP *)>::value, "");

static int failures;

static void check(bool ok, const char *what)
{
    if (!ok) {
        std::fprintf(stderr, "test_abi_cxx: FAILED: %s\n", what);
        failures++;
    }
}

int main()
{
    WS_HEAP *heap = nullptr;
    WS_ERROR *error = nullptr;
    void *p = nullptr;
    void *untouched = &failures;
    SIZE_T actual = 0;
    ULONG count = 0;

    check(WsCreateError(nullptr, 0, &error) == S_OK, "WsCreateError");
    check(WsCreateHeap(1024, 0, nullptr, 0, &heap, error) == S_OK, "WsCreateHeap");
    check(WsAlloc(heap, 100, &p, error) == S_OK && p != nullptr, "WsAlloc(100)");
    if (p != nullptr) std::memset(p, 0x5a, 100);
    p = untouched;
    check(WsAlloc(heap, 1000, &p, error) == WS_E_QUOTA_EXCEEDED, "WsAlloc over the quota");
    check(p == untouched, "*ptr untouched on failure");
    check(WsGetHeapProperty(heap, WS_HEAP_PROPERTY_ACTUAL_SIZE, &actual, sizeof actual, error) ==
                  S_OK &&
              actual >= 100,
          "ACTUAL_SIZE");
    check(WsGetErrorProperty(error, WS_ERROR_PROPERTY_STRING_COUNT, &count, sizeof count) == S_OK &&
              count == 1,
          "one error string");
    check(std::strcmp(wsheap_hresult_name(E_OUTOFMEMORY), "E_OUTOFMEMORY") == 0,
          "wsheap_hresult_name");
    WsFreeHeap(heap);
    WsFreeError(error);
    return failures == 0 ? 0 : 1;
}
