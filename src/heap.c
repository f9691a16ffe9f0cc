/* SPDX-License-Identifier: MIT */
/*
 * The public heap API: WsCreateHeap, WsAlloc, WsResetHeap, WsFreeHeap, WsGetHeapProperty and
 * the heap extensions. This layer validates arguments (in parameter order), applies the maxSize
 * quota, answers properties and writes WS_ERROR messages; backends only manage memory.
 * Out-parameters are written last, and only on success.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "fail.h"
#include "internal.h"
#include "sample.h"
#include "stats.h"

/* wsheap.h's inline fast path is compiled into programs: the window it reads and writes is ABI
 * (docs/abi.md). The heap object must start with WSHEAP_WINDOW, field for field, and that
 * layout is the one this major version froze: a change that fails here is a new soname (add
 * the new major's layout; never edit the old one's). */
static_assert(offsetof(struct wsh_heap, cur) == offsetof(WSHEAP_WINDOW, cur), "window: cur");
static_assert(offsetof(struct wsh_heap, end) == offsetof(WSHEAP_WINDOW, end), "window: end");
static_assert(offsetof(struct wsh_heap, requested_size) == offsetof(WSHEAP_WINDOW, requestedSize),
              "window: requestedSize");
static_assert(sizeof(((struct wsh_heap *)0)->requested_size) == sizeof(SIZE_T),
              "window: requestedSize's width");
#if WSHEAP_VERSION_MAJOR == 0
static_assert(offsetof(WSHEAP_WINDOW, cur) == 0 && offsetof(WSHEAP_WINDOW, end) == sizeof(char *) &&
                  offsetof(WSHEAP_WINDOW, requestedSize) == 2 * sizeof(char *) &&
                  sizeof(WSHEAP_WINDOW) == 3 * sizeof(char *),
              "the window of soname 0 is { cur, end, requestedSize }, one word each");
#else
#error "record this major version's WSHEAP_WINDOW layout here (docs/abi.md)"
#endif
/* The fields the allocation, create and free paths touch share one 64-byte line (internal.h). */
static_assert(sizeof(void *) != 8 || offsetof(struct wsh_heap, round_peak) == 64,
              "the heap object's hot fields fill its first 64 bytes");

/* The messages of the failures WSHEAP_FAIL_* can inject (fail.h): an injected failure gives
 * the same message with " (injected by WSHEAP_FAIL_AT)" or "... WSHEAP_FAIL_SITE)" added. */
#define CREATE_OOM                                                                                 \
    "WsCreateHeap: out of memory creating a heap (maxSize %zu, trimSize %zu, backend %s)"
#define ALLOC_QUOTA                                                                                \
    "WsAlloc: %zu bytes requested, but the heap's maxSize is %zu bytes and %zu bytes have been "   \
    "allocated since the last reset (%zu bytes left)"
#define ALLOC_OOM                                                                                  \
    "WsAlloc: out of memory: the %s backend could not get %zu bytes (%zu bytes allocated since "   \
    "the last reset)"

static struct wsh_heap *heap_from_handle(WS_HEAP *handle)
{
    struct wsh_heap *heap = (struct wsh_heap *)handle;

    return heap != NULL && heap->magic == WSH_HEAP_MAGIC ? heap : NULL;
}

/* Why `handle` was rejected, for the message: NULL or not a live heap. */
static const char *bad_heap_reason(const WS_HEAP *handle)
{
    return handle == NULL ? "heap is NULL" : "heap is not a live heap (freed or never created)";
}

/* The process options: wsh_options() the first time, then one load (no pthread_once per
 * WsCreateHeap). The release/acquire pair publishes the options wsh_options() filled in. */
static const struct wsh_options *create_options(void)
{
    static const struct wsh_options *_Atomic cached;
    const struct wsh_options *options = atomic_load_explicit(&cached, memory_order_acquire);

    if (WSH_UNLIKELY(options == NULL)) {
        options = wsh_options();
        atomic_store_explicit(&cached, options, memory_order_release);
    }
    return options;
}

/* Fills the public layer's fields of a heap object that ops->create just returned: the quota,
 * the trim size, ops, the live magic; no name, no statistics, no injection; and opens its
 * window. */
static inline void heap_init(struct wsh_heap *heap, const struct wsh_backend_ops *ops,
                             size_t max_size, size_t trim_size)
{
    heap->max_size = max_size;
    heap->trim_size = trim_size;
    heap->requested_size = 0;
    heap->round_peak = 0;
    heap->ops = ops;
    heap->magic = WSH_HEAP_MAGIC;
    heap->inject = false;
    heap->watched = false;
    heap->sampling = false;
    heap->sample_left = 0; /* a watched heap's first 64 KiB are counted call by call */
    heap->n_resets = 0;
    heap->name[0] = '\0';
    heap->stats = NULL;
    wsh_heap_sync_window(heap);
}

/* What WsCreateHeap adds to a new heap `h` when statistics, the leak report, failure injection
 * or sampling is on: sampling first, then the statistics' record and the injection flag, each
 * narrowing the window. Always inlined: the statistics capture the creation stack from
 * WsCreateHeap's caller outwards, with no frame of ours in between. */
static inline __attribute__((always_inline)) void create_extras(struct wsh_heap *h,
                                                                const struct wsh_options *options,
                                                                const struct wsh_backend_ops *ops)
{
    if (wsh_sample_wanted(options)) {
        wsh_sample_heap_created(h, options, ops);
        wsh_heap_sync_window(h); /* ends at the first sample point (sample.h) */
    }
    if (wsh_stats_wanted(options) || options->inject) {
        h->inject = options->inject;
        if (wsh_stats_wanted(options)) wsh_stats_heap_created(h);
        h->watched = h->stats != NULL;
        wsh_heap_sync_window(h); /* closed for now (stats.h, fail.h) */
    }
}

HRESULT WsCreateHeap(SIZE_T maxSize, SIZE_T trimSize, const WS_HEAP_PROPERTY *properties,
                     ULONG propertyCount, WS_HEAP **heap, WS_ERROR *error)
{
    const struct wsh_options *options;
    const struct wsh_backend_ops *ops;
    struct wsh_heap *h;

    (void)properties; /* reserved: only propertyCount == 0 is accepted, as on Windows */
    if (propertyCount != 0)
        return wsh_fail(error, E_INVALIDARG,
                        "WsCreateHeap: propertyCount is %u, but heap properties are reserved and "
                        "propertyCount must be 0",
                        (unsigned)propertyCount);
    if (heap == NULL)
        return wsh_fail(error, E_INVALIDARG, "WsCreateHeap: the heap out-pointer is NULL");

    options = create_options();
    ops = wsh_backend_select(options);
    if (WSH_UNLIKELY(options->inject)) {
        const char *cause = wsh_inject_create();

        if (cause != NULL)
            return wsh_fail(error, E_OUTOFMEMORY, CREATE_OOM " (injected by %s)", maxSize, trimSize,
                            ops->name, cause);
    }
    h = ops->create(options);
    if (h == NULL) return wsh_fail(error, E_OUTOFMEMORY, CREATE_OOM, maxSize, trimSize, ops->name);
    heap_init(h, ops, maxSize, trimSize);
    /* One test for everything optional; the sampling test hook is a flag of its own. */
    if (WSH_UNLIKELY(options->create_extras ||
                     atomic_load_explicit(&wsh_sample_test_on, memory_order_relaxed)))
        create_extras(h, options, ops);
    *heap = (WS_HEAP *)h;
    return S_OK;
}

void wsh_heap_init(struct wsh_heap *heap, const struct wsh_backend_ops *ops, size_t max_size,
                   size_t trim_size)
{
    heap_init(heap, ops, max_size, trim_size);
}

/* WsAlloc for a live heap and a valid out-pointer, past the window: the exact quota test and
 * the backend call. */
static inline HRESULT alloc_checked(struct wsh_heap *heap, size_t size, void **ptr, WS_ERROR *error)
{
    void *p;

    if (size > heap->max_size - heap->requested_size) {
        if (heap->watched) wsh_stats_quota_failure(heap, size);
        return wsh_fail(error, WS_E_QUOTA_EXCEEDED, ALLOC_QUOTA, size, heap->max_size,
                        heap->requested_size, heap->max_size - heap->requested_size);
    }
    if (heap->watched) wsh_stats_alloc_begin(heap, size);
    if (WSH_UNLIKELY((WSH_UNLIKELY(heap->sampling) ? wsh_sample_alloc(heap, size, &p)
                                                   : heap->ops->alloc(heap, size, &p)) != S_OK)) {
        /* begin (or the sampler) may have moved a sample point */
        if (heap->watched || heap->sampling) wsh_heap_sync_window(heap);
        return wsh_fail(error, E_OUTOFMEMORY, ALLOC_OOM, heap->ops->name, size,
                        heap->requested_size);
    }
    if (heap->watched) wsh_stats_alloc_done(heap, size);
    heap->requested_size += size;
    wsh_heap_sync_window(heap);
    *ptr = p;
    return S_OK;
}

/* alloc_checked on a heap failure injection watches: first asks fail.c whether this call
 * fails, and if so fails it as the quota or the backend would, with the same message and a
 * note, leaving *ptr and the heap as they are. */
static WSH_COLD HRESULT alloc_injecting(struct wsh_heap *heap, size_t size, void **ptr,
                                        WS_ERROR *error)
{
    HRESULT hr;
    const char *cause = wsh_inject_alloc(&hr);

    if (cause == NULL) return alloc_checked(heap, size, ptr, error);
    if (hr == WS_E_QUOTA_EXCEEDED)
        return wsh_fail(error, hr, ALLOC_QUOTA " (injected by %s)", size, heap->max_size,
                        heap->requested_size, heap->max_size - heap->requested_size, cause);
    return wsh_fail(error, hr, ALLOC_OOM " (injected by %s)", heap->ops->name, size,
                    heap->requested_size, cause);
}

/* Everything WsAlloc does when the window cannot serve the request: argument checks, zero-size
 * requests, the exact quota test, and the backend call. */
static WSH_NOINLINE HRESULT alloc_slow(WS_HEAP *handle, size_t size, void **ptr, WS_ERROR *error)
{
    struct wsh_heap *heap = heap_from_handle(handle);

    if (heap == NULL) return wsh_fail(error, E_INVALIDARG, "WsAlloc: %s", bad_heap_reason(handle));
    if (ptr == NULL) return wsh_fail(error, E_INVALIDARG, "WsAlloc: the ptr out-pointer is NULL");
    if (WSH_UNLIKELY(heap->inject)) return alloc_injecting(heap, size, ptr, error);
    return alloc_checked(heap, size, ptr, error);
}

HRESULT WsAlloc(WS_HEAP *handle, SIZE_T size, void **ptr, WS_ERROR *error)
{
    struct wsh_heap *heap = (struct wsh_heap *)handle;

    /* The fast path: 0 < size <= end - cur. The window already accounts for the quota, and
     * size - 1 wraps for size 0, sending zero-size requests to the slow path. */
    if (WSH_LIKELY(heap != NULL && ptr != NULL && size - 1 < (size_t)(heap->end - heap->cur))) {
        char *p = heap->cur;

        heap->cur = p + (((size - 1) | (WSH_ALIGN - 1)) + 1); /* align_up, reusing size - 1 */
        heap->requested_size += size;
        *ptr = p;
        return S_OK;
    }
    return alloc_slow(handle, size, ptr, error);
}

HRESULT WsResetHeap(WS_HEAP *handle, WS_ERROR *error)
{
    struct wsh_heap *heap = heap_from_handle(handle);

    if (heap == NULL)
        return wsh_fail(error, E_INVALIDARG, "WsResetHeap: %s", bad_heap_reason(handle));
    if (WSH_UNLIKELY(heap->sampling)) wsh_sample_reset(heap); /* before the window moves */
    if (WSH_LIKELY(heap->rewind != NULL && !heap->watched)) {
        size_t used = (size_t)(heap->cur - heap->rewind);

        /* The backend said this is the whole reset; the round's size feeds ACTUAL_SIZE. */
        if (used > heap->round_peak) heap->round_peak = used;
        heap->cur = heap->rewind;
    } else {
        if (heap->watched) wsh_stats_reset_begin(heap);
        heap->ops->reset(heap);
        if (heap->watched) wsh_stats_reset_done(heap);
    }
    heap->requested_size = 0;
    heap->n_resets++;
    wsh_heap_sync_window(heap);
    return S_OK;
}

void WsFreeHeap(WS_HEAP *handle)
{
    struct wsh_heap *heap;

    if (handle == NULL) return;
    heap = heap_from_handle(handle);
    if (heap == NULL) {
        char message[128];

        snprintf(message, sizeof message,
                 "WsFreeHeap(%p): not a live heap (freed twice, or never created); ignored",
                 (void *)handle);
        wsh_warn(message);
        return;
    }
    if (heap->watched) wsh_stats_heap_freed(heap);
    if (heap->sampling) wsh_sample_heap_freed(heap);
    heap->magic = 0;
    heap->ops->destroy(heap); /* the last touch: it may free or protect the heap object */
}

HRESULT WsGetHeapProperty(WS_HEAP *handle, WS_HEAP_PROPERTY_ID id, void *value, ULONG valueSize,
                          WS_ERROR *error)
{
    struct wsh_heap *heap = heap_from_handle(handle);
    size_t answer;

    if (heap == NULL)
        return wsh_fail(error, E_INVALIDARG, "WsGetHeapProperty: %s", bad_heap_reason(handle));
    switch (id) {
    case WS_HEAP_PROPERTY_MAX_SIZE:
        answer = heap->max_size;
        break;
    case WS_HEAP_PROPERTY_TRIM_SIZE:
        answer = heap->trim_size;
        break;
    case WS_HEAP_PROPERTY_REQUESTED_SIZE:
        answer = heap->requested_size;
        break;
    case WS_HEAP_PROPERTY_ACTUAL_SIZE:
        answer = heap->ops->actual_size(heap);
        break;
    default:
        return wsh_fail(error, E_INVALIDARG,
                        "WsGetHeapProperty: unknown property id %d (valid ids are 0 to 3)",
                        (int)id);
    }
    if (value == NULL)
        return wsh_fail(error, E_INVALIDARG, "WsGetHeapProperty: the value buffer is NULL");
    if (valueSize != sizeof(SIZE_T))
        return wsh_fail(error, E_INVALIDARG,
                        "WsGetHeapProperty: valueSize is %u, but property %d is a SIZE_T of %zu "
                        "bytes",
                        (unsigned)valueSize, (int)id, sizeof(SIZE_T));
    memcpy(value, &answer, sizeof answer);
    return S_OK;
}

/* --- Extensions ------------------------------------------------------------------------------- */

const char *wsheap_backend_name(const WS_HEAP *handle)
{
    const struct wsh_heap *heap = heap_from_handle((WS_HEAP *)handle);

    return heap != NULL ? heap->ops->name : NULL;
}

HRESULT wsheap_set_heap_name(WS_HEAP *handle, const char *name)
{
    struct wsh_heap *heap = heap_from_handle(handle);
    char copy[WSHEAP_NAME_MAX];
    size_t n = 0;

    if (heap == NULL) return E_INVALIDARG;
    if (name != NULL) {
        while (n < sizeof copy - 1 && name[n] != '\0')
            n++;
        /* A cut name must not end inside a UTF-8 sequence: drop its continuation bytes. */
        if (name[n] != '\0')
            while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
                n--;
        memcpy(copy, name, n);
    }
    copy[n] = '\0';
    /* Under the name lock: statistics and wsheap_describe_address read names from other
     * threads. */
    wsh_name_set(heap, copy);
    return S_OK;
}

const char *wsheap_heap_name(const WS_HEAP *handle)
{
    const struct wsh_heap *heap = heap_from_handle((WS_HEAP *)handle);

    return heap != NULL ? heap->name : NULL;
}
