/* SPDX-License-Identifier: MIT */
/*
 * wsheap: the Windows Web Services (WWSAPI) heap and error object for Linux.
 *
 * The one header users include. The Ws* functions have the Windows names, signatures and
 * behaviour, documented in docs/api.md; wsheap_* functions are extensions that do not exist on
 * Windows. Every failing call leaves its out-parameters untouched and, when given a WS_ERROR, adds
 * one English string saying what was wrong.
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

/* The exported WsAlloc is called directly through the GOT, not through a PLT stub: one jump
 * fewer per call, whether the call is the inline path's slow case or every call. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define WSHEAP_NOPLT_ __attribute__((noplt))
#else
#define WSHEAP_NOPLT_
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

/* --- Heap ------------------------------------------------------------------------------------- */

/* Pointers returned by WsAlloc are at least 8-byte aligned, stay valid until WsResetHeap or
 * WsFreeHeap, are not zeroed, and WsAlloc(heap, 0, ...) returns a non-NULL pointer distinct
 * from every other live block. `maxSize` bounds the sum of requested sizes since creation or
 * the last reset; `trimSize` is about how much memory a reset keeps for reuse (a value above
 * `maxSize` keeps everything). `properties`/`propertyCount` are reserved: pass NULL, 0. */
WSHEAP_API HRESULT WsCreateHeap(SIZE_T maxSize, SIZE_T trimSize, const WS_HEAP_PROPERTY *properties,
                                ULONG propertyCount, WS_HEAP **heap, WS_ERROR *error);
WSHEAP_API HRESULT WsAlloc(WS_HEAP *heap, SIZE_T size, void **ptr, WS_ERROR *error) WSHEAP_NOPLT_;
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

/* --- wsheap extensions (not in Windows) ------------------------------------------------------- */

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

/* What wsheap_describe_address found out about an address. */
#define WSHEAP_ADDRESS_UNKNOWN  0 /* no heap wsheap knows holds it */
#define WSHEAP_ADDRESS_HEAP     1 /* a heap's memory, but no block's (bookkeeping, unused space) */
#define WSHEAP_ADDRESS_BLOCK    2 /* in a live block, or in the redzone next to one */
#define WSHEAP_ADDRESS_RELEASED 3 /* in or next to a block a reset or WsFreeHeap released */

/* Describes the memory at `p` for a human: which heap (handle, name, backend), which block (its
 * address, size, the offset of `p` inside, after or before it, its index in its round), whether
 * the block is live or was released by a reset, and the block's allocation stack when one was
 * recorded. Writes one or more lines, each starting "wsheap: ", NUL-terminated and truncated to
 * `len` bytes, into `buf`; with `buf` NULL or `len` 0 it writes them to stderr instead, so that
 * a debugger can run `call wsheap_describe_address(ptr, 0, 0)`. Returns WSHEAP_ADDRESS_*.
 *
 * What is known depends on the backend and the mode:
 * - guarded heaps (WSHEAP_PAGEHEAP=1): every block, live or in the quarantine, with its stack;
 * - arena heaps under ASan (the application built with -fsanitize=address) or valgrind memcheck
 *   ("tracked" arenas): every block, live or released by one of the heap's recent resets (its
 *   quarantine, 4 MiB per heap); the stack under ASan only (WSHEAP_STACK_DEPTH frames;
 *   memcheck's own reports show it);
 * - arena heaps otherwise: nothing, WSHEAP_ADDRESS_UNKNOWN. Their blocks have no boundaries in
 *   memory, and listing every heap would cost each WsCreateHeap a lock.
 * Thread-safe; a heap that another thread is using at the same moment may be described as it
 * was a moment before. Never allocates from a heap. */
WSHEAP_API int wsheap_describe_address(const void *p, char *buf, size_t len);

/* Writes the heap statistics that WSHEAP_STATS=1 prints at exit to file descriptor `fd` now: one
 * row per creation site (the stack of WsCreateHeap) with the heaps created and live,
 * allocations, resets, the peak REQUESTED_SIZE per round (max and 95th percentile), the peak
 * ACTUAL_SIZE, quota failures and system allocations, then per site the heap names, a suggested
 * trimSize and maxSize with the reason, and the creation stack. Returns S_OK; E_INVALIDARG for
 * a negative `fd`; WS_E_INVALID_OPERATION, writing nothing, when WSHEAP_STATS is not 1. */
WSHEAP_API HRESULT wsheap_print_stats(int fd);

/* --- Crash reporters -------------------------------------------------------------------------- */

/* Receives a guarded-backend fault report whole, before wsheap ends the process (or, with
 * WSHEAP_HALT_ON_ERROR=0, goes on): `text` is the text report (ending with its SUMMARY line) and
 * `json` the same report as one JSON object (schema "wsheap-report/1", docs/reports.md), each
 * NUL-terminated, `*_len` bytes long without the NUL, cut at 64 KiB. Both live in static
 * storage that the next report reuses: copy what is kept. Runs in the SIGSEGV handler of the
 * faulting thread (or in the WsResetHeap/WsFreeHeap that found a corruption), on wsheap's own
 * report stack, with other reports waiting: it must be async-signal-safe (no malloc, no stdio,
 * no locks that the interrupted code may hold; write(2), open(2) and memcpy are fine), must not
 * touch guarded memory, and should return promptly. Suppressed errors and repeats are not
 * passed. */
typedef void (*wsheap_report_callback)(const char *text, size_t text_len, const char *json,
                                       size_t json_len, void *arg);

/* Sets the callback (NULL: none) and the `arg` it is given, replacing the previous one. Set it
 * once, at start-up: a change during a report may be seen by that report or not. Thread-safe. */
WSHEAP_API void wsheap_set_report_callback(wsheap_report_callback callback, void *arg);

/* --- For debuggers ---------------------------------------------------------------------------- */

/* Where a debugger that can only read memory (gdb on a core file, or where it cannot call into
 * the program) finds wsheap's records: the guarded heaps' blocks, the stacks and the last fault
 * reported. Read by the gdb extension (share/wsheap/gdb/wsheap.py, docs/debugging.md); not for
 * programs. Only its name is ABI: its contents carry a format version of their own. */
struct wsheap_debug_info;
WSHEAP_API extern const struct wsheap_debug_info wsheap_debug_info;

/* --- The inline fast path (the default) ------------------------------------------------------- */

/* In a program that includes this header, WsAlloc is a macro whose common case (a live heap
 * whose bump window has room, a non-NULL ptr, size > 0) runs in the caller with no call at all;
 * every other case calls the exported WsAlloc, so results, HRESULTs, messages and properties are
 * identical. Defining WSHEAP_NO_INLINE_ALLOC before the include turns this off (every call goes
 * to the library); (WsAlloc) in parentheses, &WsAlloc and dlsym always name the exported
 * function. WSHEAP_INLINE_ALLOC, which once opted in, is accepted and has no effect.
 *
 * The inline code reads and writes the first three words of the heap object, WSHEAP_WINDOW,
 * and relies on the rule written next to it: that layout and that rule are frozen for the
 * soname's major version (docs/abi.md). Guarded heaps, tracked arenas (ASan, memcheck) and
 * heaps under failure injection keep their window empty and always take the call; statistics
 * narrow it to their sample points. */

/* The first three words of every heap object. An allocation of n bytes, 0 < n <= end - cur, is
 * served by returning cur, advancing cur by n rounded up to a multiple of 8 and adding n to
 * requestedSize. cur and end are 8-aligned. The library may narrow the window (down to
 * cur == end) to see calls, never change this layout or this rule within a major version. */
typedef struct {
    char *cur;            /* next free byte; 8-aligned */
    char *end;            /* end of what the fast path may hand out; 8-aligned */
    SIZE_T requestedSize; /* WS_HEAP_PROPERTY_REQUESTED_SIZE */
} WSHEAP_WINDOW;

#ifndef WSHEAP_NO_INLINE_ALLOC
/* GNU C and C++ (gcc, clang): a statement expression, so that the code lands in the caller
 * with no function of its own, neither as a frame at -O0 nor as an inlined function in the debug
 * information that allocation stacks and failure-injection sites are symbolized with. Each
 * argument is evaluated once. A NULL heap or ptr is E_INVALIDARG (with its message) from the
 * exported function; saying so as a constant lets the compiler move the NULL tests out of a
 * loop that stops on failure. size - 1 wraps for size 0, which the exported WsAlloc handles. */
#if defined(__GNUC__)
#define WsAlloc(heap, size, ptr, error)                                                            \
    __extension__({                                                                                \
        WS_HEAP *wsheap_heap_ = (heap);                                                            \
        SIZE_T wsheap_size_ = (size);                                                              \
        void **wsheap_ptr_ = (ptr);                                                                \
        WS_ERROR *wsheap_error_ = (error);                                                         \
        WSHEAP_WINDOW *wsheap_w_ = (WSHEAP_WINDOW *)(void *)wsheap_heap_;                          \
        HRESULT wsheap_hr_;                                                                        \
                                                                                                   \
        if (__builtin_expect(wsheap_heap_ == 0 || wsheap_ptr_ == 0, 0)) {                          \
            (void)(WsAlloc)(wsheap_heap_, wsheap_size_, wsheap_ptr_, wsheap_error_);               \
            wsheap_hr_ = E_INVALIDARG;                                                             \
        } else if (__builtin_expect(wsheap_size_ - 1 < (SIZE_T)(wsheap_w_->end - wsheap_w_->cur),  \
                                    1)) {                                                          \
            char *wsheap_p_ = wsheap_w_->cur;                                                      \
                                                                                                   \
            wsheap_w_->cur = wsheap_p_ + ((wsheap_size_ + 7) & ~(SIZE_T)7);                        \
            wsheap_w_->requestedSize += wsheap_size_;                                              \
            *wsheap_ptr_ = wsheap_p_;                                                              \
            wsheap_hr_ = S_OK;                                                                     \
        } else {                                                                                   \
            wsheap_hr_ = (WsAlloc)(wsheap_heap_, wsheap_size_, wsheap_ptr_, wsheap_error_);        \
        }                                                                                          \
        wsheap_hr_;                                                                                \
    })
#else
/* Other compilers: the same as an inline function. */
static inline HRESULT wsheap_alloc_inline(WS_HEAP *heap, SIZE_T size, void **ptr, WS_ERROR *error)
{
    WSHEAP_WINDOW *w = (WSHEAP_WINDOW *)(void *)heap;

    if (heap == 0 || ptr == 0) {
        (void)(WsAlloc)(heap, size, ptr, error);
        return E_INVALIDARG;
    }
    if (size - 1 < (SIZE_T)(w->end - w->cur)) {
        char *p = w->cur;

        w->cur = p + ((size + 7) & ~(SIZE_T)7);
        w->requestedSize += size;
        *ptr = p;
        return S_OK;
    }
    return (WsAlloc)(heap, size, ptr, error);
}
#define WsAlloc(heap, size, ptr, error) wsheap_alloc_inline(heap, size, ptr, error)
#endif
#endif

#ifdef __cplusplus
}
#endif

#endif
