/* SPDX-License-Identifier: MIT */
/*
 * wsheap: the Windows Web Services (WWSAPI) heap and error object for Linux.
 *
 * The one header users include. The Ws* functions have the Windows names, signatures and
 * behaviour (see docs and ../shared/spec/wwsapi-heap.md); wsheap_* functions are extensions
 * that do not exist on Windows. Every failing call leaves its out-parameters untouched and,
 * when given a WS_ERROR, adds one English string saying what was wrong.
 */
#ifndef WSHEAP_H
#define WSHEAP_H

#include "wsheap/version.h"
#include "wsheap/wintypes.h"

#if defined(__GNUC__)
#define WSHEAP_API __attribute__((visibility("default")))
#else
#define WSHEAP_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct WS_HEAP WS_HEAP;   /* opaque; Windows spells the tag _WS_HEAP, a name that */
typedef struct WS_ERROR WS_ERROR; /* ISO C reserves, so wsheap uses the typedef name */

typedef enum {
    WS_HEAP_PROPERTY_MAX_SIZE = 0,
    WS_HEAP_PROPERTY_TRIM_SIZE = 1,
    WS_HEAP_PROPERTY_REQUESTED_SIZE = 2,
    WS_HEAP_PROPERTY_ACTUAL_SIZE = 3
} WS_HEAP_PROPERTY_ID;

typedef enum {
    WS_ERROR_PROPERTY_STRING_COUNT = 0,
    WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE = 1,
    WS_ERROR_PROPERTY_LANGID = 2
} WS_ERROR_PROPERTY_ID;

typedef struct {
    WS_HEAP_PROPERTY_ID id;
    void *value;
    ULONG valueSize;
} WS_HEAP_PROPERTY;

typedef struct {
    WS_HEAP_PROPERTY *properties;
    ULONG propertyCount;
} WS_HEAP_PROPERTIES;

typedef struct {
    WS_ERROR_PROPERTY_ID id;
    void *value;
    ULONG valueSize;
} WS_ERROR_PROPERTY;

/* `length` counts WCHARs; the characters are not NUL-terminated. */
typedef struct {
    ULONG length;
    WCHAR *chars;
} WS_STRING;

/* --- Heap ----------------------------------------------------------------------------------- */

/* Pointers returned by WsAlloc are at least 8-byte aligned, stay valid until WsResetHeap or
 * WsFreeHeap, are not zeroed, and WsAlloc(heap, 0, ...) returns a non-NULL pointer distinct
 * from every other live block. `maxSize` bounds the sum of requested sizes since creation or
 * the last reset; `trimSize` is about how much memory a reset keeps for reuse (a value above
 * `maxSize` keeps everything). `properties`/`propertyCount` are reserved: pass NULL, 0. */
WSHEAP_API HRESULT WsCreateHeap(SIZE_T maxSize, SIZE_T trimSize, const WS_HEAP_PROPERTY *properties,
                                ULONG propertyCount, WS_HEAP **heap, WS_ERROR *error);
WSHEAP_API HRESULT WsAlloc(WS_HEAP *heap, SIZE_T size, void **ptr, WS_ERROR *error);
WSHEAP_API HRESULT WsResetHeap(WS_HEAP *heap, WS_ERROR *error);
WSHEAP_API void WsFreeHeap(WS_HEAP *heap);
WSHEAP_API HRESULT WsGetHeapProperty(WS_HEAP *heap, WS_HEAP_PROPERTY_ID id, void *value,
                                     ULONG valueSize, WS_ERROR *error);

/* --- Error object ----------------------------------------------------------------------------- */

WSHEAP_API HRESULT WsCreateError(const WS_ERROR_PROPERTY *properties, ULONG propertyCount,
                                 WS_ERROR **error);
WSHEAP_API HRESULT WsGetErrorProperty(WS_ERROR *error, WS_ERROR_PROPERTY_ID id, void *buffer,
                                      ULONG bufferSize);
WSHEAP_API HRESULT WsSetErrorProperty(WS_ERROR *error, WS_ERROR_PROPERTY_ID id, const void *value,
                                      ULONG valueSize);
/* Index 0 is the most recently added string. The string stays valid until WsResetError or
 * WsFreeError. */
WSHEAP_API HRESULT WsGetErrorString(WS_ERROR *error, ULONG index, WS_STRING *string);
WSHEAP_API HRESULT WsAddErrorString(WS_ERROR *error, const WS_STRING *string);
WSHEAP_API HRESULT WsResetError(WS_ERROR *error);
WSHEAP_API void WsFreeError(WS_ERROR *error);

/* --- wsheap extensions (not in Windows) --------------------------------------------------------
 */

/* "arena" or "guarded": the backend `heap` was created with; NULL for a NULL heap. */
WSHEAP_API const char *wsheap_backend_name(const WS_HEAP *heap);

/* The macro name of a code this library returns ("WS_E_QUOTA_EXCEEDED"), or "unknown HRESULT". */
WSHEAP_API const char *wsheap_hresult_name(HRESULT hr);

/* A one-line English description of `hr`, or "unknown HRESULT". */
WSHEAP_API const char *wsheap_hresult_message(HRESULT hr);

/* Gives `heap` a name (copied; at most WSHEAP_NAME_MAX - 1 bytes are kept) that fault reports,
 * statistics and the leak report show. NULL or "" removes the name. E_INVALIDARG for a NULL
 * heap. */
#define WSHEAP_NAME_MAX 48
WSHEAP_API HRESULT wsheap_set_heap_name(WS_HEAP *heap, const char *name);

/* The name given with wsheap_set_heap_name, or "" when none; NULL for a NULL heap. */
WSHEAP_API const char *wsheap_heap_name(const WS_HEAP *heap);

/* Converts `string` from UTF-16 to NUL-terminated UTF-8 in `buf` (unpaired surrogates become
 * U+FFFD). Returns the length the full conversion needs, without the NUL, as snprintf does:
 * the result was truncated when the return value is >= `size`. */
WSHEAP_API size_t wsheap_string_to_utf8(const WS_STRING *string, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
