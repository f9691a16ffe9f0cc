/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: each input is a program of calls on four heaps and two error objects
 * (odd maxSize/trimSize, sizes from 0 to SIZE_MAX, writes, resets, properties, frees, invalid
 * arguments); after every call a model checks alignment, disjoint blocks, contents intact until
 * reset, REQUESTED_SIZE exact and <= maxSize, ACTUAL_SIZE >= REQUESTED_SIZE, and out-parameters
 * untouched with one WS_ERROR string per failure. Sizes from 16 MiB to 2^50 that the quota
 * admits are never drawn: ASan and libFuzzer abort on such mallocs instead of failing them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wsheap.h>

#include "track.h" /* wsh_track_force: the harness links the library's objects */

#define N_HEAPS      4
#define N_ERRORS     2
#define MAX_TRACKED  256 /* blocks per heap whose contents are checked */
#define MAX_STEPS    400
#define MEDIUM_LIMIT ((size_t)256 * 1024)
#define HUGE_FLOOR   ((size_t)1 << 50) /* no address space has this much room */

#define SENTINEL_PTR  ((void *)(uintptr_t)0x5e5e5e5e5e58u)
#define SENTINEL_HEAP ((WS_HEAP *)(uintptr_t)0x4e4e4e4e4e48u)

struct block {
    unsigned char *p;
    size_t size;
    unsigned char fill;
};

struct heap_slot {
    WS_HEAP *heap; /* NULL: the slot is empty */
    size_t max_size, trim_size, requested;
    struct block blocks[MAX_TRACKED];
    size_t n_blocks;
};

struct error_slot {
    WS_ERROR *error;
    ULONG n_strings;
};

struct input {
    const uint8_t *p;
    size_t n;
};

static struct heap_slot heaps[N_HEAPS];
static struct error_slot errors[N_ERRORS];

/* A broken invariant: say which, and abort so that libFuzzer keeps the input. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_api: check failed at line %d: %s\n", __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static uint8_t u8(struct input *in)
{
    if (in->n == 0) return 0;
    in->n--;
    return *in->p++;
}

/* Big-endian; each byte read in its own statement, so every compiler decodes an input the
 * same way (the corpus is replayed by a gcc build too). */
static uint32_t u16(struct input *in)
{
    uint32_t hi = u8(in);

    return hi << 8 | u8(in);
}

static uint32_t u32(struct input *in)
{
    uint32_t hi = u16(in);

    return hi << 16 | u16(in);
}

/* --- Error objects ---------------------------------------------------------------------------- */

/* An error slot's object, or NULL (the calls then get no WS_ERROR). */
static struct error_slot *pick_error(struct input *in)
{
    struct error_slot *e = &errors[u8(in) % N_ERRORS];

    if (u8(in) % 4 == 0) return NULL;
    return e->error != NULL ? e : NULL;
}

static WS_ERROR *error_of(struct error_slot *e)
{
    return e != NULL ? e->error : NULL;
}

static ULONG string_count(WS_ERROR *error)
{
    ULONG n = 0;

    CHECK(WsGetErrorProperty(error, WS_ERROR_PROPERTY_STRING_COUNT, &n, sizeof n) == S_OK);
    return n;
}

/* A call failed with `e` given: exactly one string was added. A call succeeded: none. */
static void expect_strings(struct error_slot *e, HRESULT hr)
{
    if (e == NULL) return;
    if (FAILED(hr)) e->n_strings++;
    CHECK(string_count(e->error) == e->n_strings);
}

static void op_error(struct input *in)
{
    struct error_slot *e = &errors[u8(in) % N_ERRORS];
    WCHAR chars[64];
    WS_STRING s;
    ULONG value = 0x77777777;

    switch (u8(in) % 6) {
    case 0:
        if (e->error != NULL) return;
        CHECK(WsCreateError(NULL, 0, &e->error) == S_OK);
        e->n_strings = 0;
        break;
    case 1:
        if (e->error == NULL) return;
        s.length = u8(in) % 64;
        s.chars = chars;
        for (ULONG i = 0; i < s.length; i++)
            chars[i] = (WCHAR)u16(in);
        CHECK(WsAddErrorString(e->error, &s) == S_OK);
        e->n_strings++;
        break;
    case 2:
        if (e->error == NULL) return;
        CHECK(WsResetError(e->error) == S_OK);
        e->n_strings = 0;
        break;
    case 3: /* an index past the end: E_INVALIDARG, the string untouched */
        if (e->error == NULL) return;
        s.length = 0x55555555;
        s.chars = (WCHAR *)SENTINEL_PTR;
        CHECK(WsGetErrorString(e->error, e->n_strings + u8(in) % 3, &s) == E_INVALIDARG);
        CHECK(s.length == 0x55555555 && s.chars == (WCHAR *)SENTINEL_PTR);
        if (e->n_strings > 0) CHECK(WsGetErrorString(e->error, e->n_strings - 1, &s) == S_OK);
        break;
    case 4: /* a property with a wrong size */
        if (e->error == NULL) return;
        CHECK(WsGetErrorProperty(e->error, WS_ERROR_PROPERTY_STRING_COUNT, &value, 2) ==
              E_INVALIDARG);
        CHECK(value == 0x77777777);
        break;
    default:
        WsFreeError(e->error); /* NULL is fine too */
        e->error = NULL;
        e->n_strings = 0;
    }
}

/* --- Heaps ------------------------------------------------------------------------------------ */

static size_t property(WS_HEAP *heap, WS_HEAP_PROPERTY_ID id)
{
    size_t v = 0;

    CHECK(WsGetHeapProperty(heap, id, &v, sizeof v, NULL) == S_OK);
    return v;
}

static void check_block(const struct block *b)
{
    size_t step = b->size <= 512 ? 1 : b->size / 97;

    for (size_t k = 0; k < b->size; k += step)
        CHECK(b->p[k] == b->fill);
    if (b->size > 0) CHECK(b->p[b->size - 1] == b->fill);
}

static void check_heap(const struct heap_slot *h)
{
    if (h->heap == NULL) return;
    CHECK(h->requested <= h->max_size);
    CHECK(property(h->heap, WS_HEAP_PROPERTY_REQUESTED_SIZE) == h->requested);
    CHECK(property(h->heap, WS_HEAP_PROPERTY_ACTUAL_SIZE) >= h->requested);
    CHECK(property(h->heap, WS_HEAP_PROPERTY_MAX_SIZE) == h->max_size);
    CHECK(property(h->heap, WS_HEAP_PROPERTY_TRIM_SIZE) == h->trim_size);
    for (size_t i = 0; i < h->n_blocks; i++)
        check_block(&h->blocks[i]);
}

/* A new block must overlap no live block of any heap (zero-size blocks count as one byte). */
static void check_disjoint(const unsigned char *p, size_t size)
{
    size_t span = size > 0 ? size : 1;

    for (int k = 0; k < N_HEAPS; k++)
        for (size_t i = 0; i < heaps[k].n_blocks; i++) {
            const struct block *b = &heaps[k].blocks[i];
            size_t b_span = b->size > 0 ? b->size : 1;

            CHECK(p + span <= b->p || b->p + b_span <= p);
        }
}

static size_t pick_size(struct input *in, const struct heap_slot *h, uint8_t kind)
{
    static const size_t huge[] = {SIZE_MAX,   SIZE_MAX - 7,   SIZE_MAX / 2 + 1, SIZE_MAX / 4,
                                  HUGE_FLOOR, HUGE_FLOOR + 1, HUGE_FLOOR * 3};
    size_t left = h->max_size - h->requested;

    switch (kind % 16) {
    case 0:
        return 0;
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
        return 1 + u8(in) % 64;
    case 6:
    case 7:
    case 8:
        return 1 + u16(in) % 4096;
    case 9:
        return (u32(in) % MEDIUM_LIMIT);
    case 10: /* exactly the quota left, when that is a size we may really ask for */
        return left <= MEDIUM_LIMIT ? left : 24;
    case 11: /* one byte over the quota */
        return left < SIZE_MAX ? left + 1 : SIZE_MAX;
    case 12:
    case 13:
        return huge[u8(in) % (sizeof huge / sizeof huge[0])];
    case 14: /* SIZE_MAX - requested: fits an unlimited heap's quota exactly */
        return SIZE_MAX - h->requested;
    default: /* any 32-bit size: the quota must refuse it unless it is small */
    {
        size_t size = u32(in);

        return size <= left && size > MEDIUM_LIMIT ? size % MEDIUM_LIMIT : size;
    }
    }
}

static void op_create(struct input *in)
{
    static const size_t max_sizes[] = {
        0, 1, 8, 100, 1000, 4096, 65536, 1 << 20, 16 << 20, SIZE_MAX, SIZE_MAX - 1, SIZE_MAX / 2};
    struct heap_slot *h = &heaps[u8(in) % N_HEAPS];
    struct error_slot *e = pick_error(in);
    uint8_t how = u8(in);
    size_t max_size, trim_size;

    if (h->heap != NULL) return;
    max_size =
        how % 4 == 0 ? u32(in) : max_sizes[u8(in) % (sizeof max_sizes / sizeof max_sizes[0])];
    switch (how / 4 % 6) {
    case 0:
        trim_size = 0;
        break;
    case 1:
        trim_size = max_size < SIZE_MAX ? max_size + 1 : SIZE_MAX; /* "never trimmed" */
        break;
    case 2:
        trim_size = SIZE_MAX;
        break;
    case 3:
        trim_size = max_size;
        break;
    default:
        trim_size = u32(in) % (4 << 20);
    }
    memset(h, 0, sizeof *h);
    CHECK(WsCreateHeap(max_size, trim_size, NULL, 0, &h->heap, error_of(e)) == S_OK);
    expect_strings(e, S_OK);
    h->max_size = max_size;
    h->trim_size = trim_size;
    CHECK(property(h->heap, WS_HEAP_PROPERTY_ACTUAL_SIZE) == 0);
    if (how & 0x80) CHECK(wsheap_set_heap_name(h->heap, "fuzz") == S_OK);
}

static void op_alloc(struct input *in)
{
    struct heap_slot *h = &heaps[u8(in) % N_HEAPS];
    struct error_slot *e = pick_error(in);
    void *p = SENTINEL_PTR;
    size_t size;
    HRESULT hr;

    if (h->heap == NULL) return;
    size = pick_size(in, h, u8(in));
    hr = WsAlloc(h->heap, size, &p, error_of(e));
    expect_strings(e, hr);
    if (size > h->max_size - h->requested) {
        CHECK(hr == WS_E_QUOTA_EXCEEDED);
        CHECK(p == SENTINEL_PTR);
        return;
    }
    if (size >= HUGE_FLOOR) {
        CHECK(hr == E_OUTOFMEMORY);
        CHECK(p == SENTINEL_PTR);
        return;
    }
    CHECK(hr == S_OK);
    CHECK(p != NULL && p != SENTINEL_PTR);
    CHECK((uintptr_t)p % 8 == 0);
    check_disjoint(p, size);
    h->requested += size;
    if (h->n_blocks < MAX_TRACKED) {
        struct block *b = &h->blocks[h->n_blocks++];

        b->p = p;
        b->size = size;
        b->fill = (uint8_t)(0x80 | h->n_blocks);
        memset(p, b->fill, size);
    }
}

static void op_write(struct input *in)
{
    struct heap_slot *h = &heaps[u8(in) % N_HEAPS];
    struct block *b;

    if (h->heap == NULL || h->n_blocks == 0) return;
    b = &h->blocks[u8(in) % h->n_blocks];
    b->fill = u8(in);
    memset(b->p, b->fill, b->size);
}

static void op_reset(struct input *in)
{
    struct heap_slot *h = &heaps[u8(in) % N_HEAPS];
    struct error_slot *e = pick_error(in);

    if (h->heap == NULL) return;
    CHECK(WsResetHeap(h->heap, error_of(e)) == S_OK);
    expect_strings(e, S_OK);
    h->requested = 0;
    h->n_blocks = 0;
}

static void op_property(struct input *in)
{
    static const ULONG value_sizes[] = {sizeof(SIZE_T), 4, 0, 16, 7};
    struct heap_slot *h = &heaps[u8(in) % N_HEAPS];
    struct error_slot *e = pick_error(in);
    int id = (int)(u8(in) % 7) - 1; /* 0..3 valid; -1, 4, 5 not */
    ULONG value_size = value_sizes[u8(in) % 5];
    bool null_value = u8(in) % 8 == 0;
    unsigned char buf[16];
    size_t v;
    HRESULT hr;

    if (h->heap == NULL) return;
    memset(buf, 0xEE, sizeof buf);
    hr = WsGetHeapProperty(h->heap, (WS_HEAP_PROPERTY_ID)id, null_value ? NULL : buf, value_size,
                           error_of(e));
    expect_strings(e, hr);
    if (id < 0 || id > 3 || null_value || value_size != sizeof(SIZE_T)) {
        CHECK(hr == E_INVALIDARG);
        for (size_t k = 0; k < sizeof buf; k++)
            CHECK(buf[k] == 0xEE);
        return;
    }
    CHECK(hr == S_OK);
    memcpy(&v, buf, sizeof v);
    CHECK(buf[sizeof v] == 0xEE); /* exactly a SIZE_T written */
    switch (id) {
    case WS_HEAP_PROPERTY_MAX_SIZE:
        CHECK(v == h->max_size);
        break;
    case WS_HEAP_PROPERTY_TRIM_SIZE:
        CHECK(v == h->trim_size);
        break;
    case WS_HEAP_PROPERTY_REQUESTED_SIZE:
        CHECK(v == h->requested);
        break;
    default:
        CHECK(v >= h->requested);
    }
}

static void op_free(struct input *in)
{
    struct heap_slot *h = &heaps[u8(in) % N_HEAPS];

    WsFreeHeap(h->heap); /* NULL for an empty slot: a no-op */
    memset(h, 0, sizeof *h);
}

/* Invalid arguments: the right HRESULT, out-parameters untouched, one string when an error
 * object was given. */
static void op_invalid(struct input *in)
{
    struct heap_slot *h = &heaps[u8(in) % N_HEAPS];
    struct error_slot *e = pick_error(in);
    WS_HEAP_PROPERTY prop = {WS_HEAP_PROPERTY_MAX_SIZE, NULL, 0};
    WS_HEAP *out = SENTINEL_HEAP;
    void *p = SENTINEL_PTR;
    HRESULT hr;

    switch (u8(in) % 6) {
    case 0:
        hr = WsAlloc(NULL, 8, &p, error_of(e));
        CHECK(hr == E_INVALIDARG && p == SENTINEL_PTR);
        break;
    case 1:
        if (h->heap == NULL) return;
        hr = WsAlloc(h->heap, u8(in), NULL, error_of(e));
        CHECK(hr == E_INVALIDARG);
        break;
    case 2:
        hr = WsCreateHeap(1024, 0, &prop, 1 + u8(in) % 3, &out, error_of(e));
        CHECK(hr == E_INVALIDARG && out == SENTINEL_HEAP);
        break;
    case 3:
        hr = WsCreateHeap(1024, 0, NULL, 0, NULL, error_of(e));
        CHECK(hr == E_INVALIDARG);
        break;
    case 4:
        hr = WsResetHeap(NULL, error_of(e));
        CHECK(hr == E_INVALIDARG);
        break;
    default:
        hr = WsGetHeapProperty(NULL, WS_HEAP_PROPERTY_MAX_SIZE, &p, sizeof(SIZE_T), error_of(e));
        CHECK(hr == E_INVALIDARG && p == SENTINEL_PTR);
    }
    expect_strings(e, hr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/* The untracked arena mallocs what a huge request asks for: ASan must answer NULL (which wsheap
 * turns into E_OUTOFMEMORY) rather than abort. The ASan runtime calls this at start-up; the
 * ASAN_OPTIONS variable still overrides it. */
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* In a sanitizer build arena heaps are tracked arenas (every block between poisoned redzones,
 * no bump window). WSHEAP_FUZZ_UNTRACKED=1 fuzzes the untracked arena instead, the one users
 * run: its chunks are malloc'd, so a block cut past a chunk's end is an ASan report. */
static void choose_arena(void)
{
    static bool done;
    const char *v = getenv("WSHEAP_FUZZ_UNTRACKED");

    if (done) return;
    done = true;
    if (v != NULL && strcmp(v, "1") == 0) wsh_track_force(WSH_TRACK_OFF);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};

    choose_arena();

    for (int step = 0; step < MAX_STEPS && in.n > 0; step++) {
        switch (u8(&in) % 10) {
        case 0:
            op_create(&in);
            break;
        case 1:
        case 2:
        case 3:
            op_alloc(&in);
            break;
        case 4:
            op_write(&in);
            break;
        case 5:
            op_reset(&in);
            break;
        case 6:
            op_property(&in);
            break;
        case 7:
            op_free(&in);
            break;
        case 8:
            op_invalid(&in);
            break;
        default:
            op_error(&in);
        }
        for (int k = 0; k < N_HEAPS; k++)
            check_heap(&heaps[k]);
    }
    for (int k = 0; k < N_HEAPS; k++) {
        WsFreeHeap(heaps[k].heap);
        memset(&heaps[k], 0, sizeof heaps[k]);
    }
    for (int k = 0; k < N_ERRORS; k++) {
        WsFreeError(errors[k].error);
        memset(&errors[k], 0, sizeof errors[k]);
    }
    return 0;
}
