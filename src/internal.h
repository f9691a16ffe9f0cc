/* SPDX-License-Identifier: MIT */
/*
 * Internal contract between the public layer (heap.c, error.c) and the backends.
 *
 * The public layer validates arguments, applies the maxSize quota, answers properties and
 * fills WS_ERROR. A backend only manages memory: it sees validated arguments and answers S_OK
 * or E_OUTOFMEMORY. The arena serves most allocations without being called at all, through the
 * bump window [cur, end) that it publishes in the heap object (see struct wsh_heap).
 */
#ifndef WSH_INTERNAL_H
#define WSH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The library defines the exported WsAlloc: it never sees wsheap.h's inline macro. */
#define WSHEAP_NO_INLINE_ALLOC 1
#include "wsheap.h"

#define WSH_LIKELY(x)    __builtin_expect(!!(x), 1)
#define WSH_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define WSH_NOINLINE     __attribute__((noinline))
#define WSH_COLD         __attribute__((cold, noinline))
#define WSH_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Every block starts at a multiple of this. Windows promises 8; so do we, and no more. */
#define WSH_ALIGN ((size_t)8)

/* Rounds `n` up to a multiple of `a` (a power of two). The caller guarantees no overflow. */
static inline size_t wsh_align_up(size_t n, size_t a)
{
    return (n + a - 1) & ~(a - 1);
}

/* Debug-build invariant check: prints "wsheap: assertion failed at file:line: expr" and
 * aborts. Compiled out with NDEBUG. Never in code a signal handler runs (the fault report's
 * path: segv.c's handler, fault analysis, the report writer): an abort there would replace the
 * report it is making, and such code must tolerate garbage rather than assert against it. */
#ifdef NDEBUG
#define wsh_assert(expr) ((void)0)
#else
#define wsh_assert(expr) ((expr) ? (void)0 : wsh_assert_fail(#expr, __FILE__, __LINE__))
#endif
_Noreturn void wsh_assert_fail(const char *expr, const char *file, int line);

/* --- Options (options.c) ---------------------------------------------------------------------- */

enum wsh_backend_kind { WSH_BACKEND_ARENA, WSH_BACKEND_GUARDED };

/* Which calls WSHEAP_FAIL_AT counts: WsAlloc and WsCreateHeap together, or one of them. */
enum wsh_fail_calls { WSH_FAIL_CALLS_ALL, WSH_FAIL_CALLS_ALLOC, WSH_FAIL_CALLS_CREATE };

/* Failure injection (WSHEAP_FAIL_*, see fail.h). */
struct wsh_fail_options {
    uint64_t at;                  /* WSHEAP_FAIL_AT: the at-th call counted fails; 0: none */
    enum wsh_fail_calls at_calls; /* ... counting these calls */
    bool site_set;                /* WSHEAP_FAIL_SITE is set: ... */
    uint64_t site;                /* ... the first call from this call site fails */
    bool quota;         /* WSHEAP_FAIL_KIND=quota: WS_E_QUOTA_EXCEEDED, not E_OUTOFMEMORY */
    bool persistent;    /* WSHEAP_FAIL_PERSISTENT: later calls of the kind fail too */
    const char *record; /* WSHEAP_FAIL_RECORD: call sites written here at exit; NULL */
    const char *log;    /* WSHEAP_FAIL_LOG: injected failures appended here; NULL */
};

/* The WSHEAP_* environment, parsed once. See option_table in options.c for each field. */
struct wsh_options {
    enum wsh_backend_kind backend; /* WSHEAP_PAGEHEAP */
    bool backward;                 /* WSHEAP_PAGEHEAP_BACKWARD: guard page before the block */
    bool unaligned;                /* WSHEAP_PAGEHEAP_UNALIGNED: block flush against the guard */
    unsigned stack_depth;          /* WSHEAP_STACK_DEPTH: frames kept per guarded block */
    size_t quarantine_size;        /* WSHEAP_QUARANTINE_MB, in bytes: address space kept unused */
    bool symbolize;                /* WSHEAP_SYMBOLIZE: run addr2line for reports */
    bool verbose;                  /* WSHEAP_VERBOSE: print the options in effect */
    bool help;                     /* WSHEAP_HELP: print the option table */
    bool stats;                    /* WSHEAP_STATS: statistics by creation site at exit */
    int8_t leaks;                  /* WSHEAP_LEAKS: 0/1 (-1 while loading: as the backend) */
    bool inject;                   /* derived: WSHEAP_FAIL_AT, _SITE or _RECORD is set (fail.h) */
    unsigned leaks_exitcode;       /* WSHEAP_LEAKS_EXITCODE: exit status on leaks; 0 = leave it */
    struct wsh_fail_options fail;  /* WSHEAP_FAIL_* */
    /* Reports (docs/reports.md). */
    const char *log_path;     /* WSHEAP_LOG_PATH: reports go to <log_path>.<pid>; NULL: stderr */
    bool report_json;         /* WSHEAP_REPORT_FORMAT=json: one JSON object per report */
    bool halt_on_error;       /* WSHEAP_HALT_ON_ERROR (default 1); 0: keep going */
    int exitcode;             /* WSHEAP_EXITCODE 0..255; -1: unset */
    const char *suppressions; /* WSHEAP_SUPPRESSIONS: suppression file; NULL */
    /* Sampled guarding (sample.h, docs/sampling.md). */
    size_t sample_bytes;    /* WSHEAP_SAMPLE_BYTES: mean bytes between sampled blocks; 0: off */
    unsigned sample_slots;  /* WSHEAP_SAMPLE_SLOTS: live sampled blocks in the process, at most */
    unsigned sample_rounds; /* WSHEAP_SAMPLE_ROUNDS: about 1 round in N guarded whole; 0: off */
    /* Derived: statistics, the leak report, failure injection or sampling is on, so that
     * WsCreateHeap tests one flag for all of them (heap.c). */
    bool create_extras;
};

/* Looks an environment variable up; NULL when unset. */
typedef const char *wsh_getenv_fn(const char *name);
/* Receives one warning line (without the "==wsheap==<pid>== warning: " prefix or newline). */
typedef void wsh_warn_fn(const char *message);

/* Pure: fills `out` with the defaults, then applies every WSHEAP_* variable found through
 * `get`. Each invalid value is reported once through `warn` and keeps its default. The two
 * file names (out->fail.record, out->fail.log) point into the strings `get` returned. */
void wsh_options_load(wsh_getenv_fn *get, wsh_warn_fn *warn, struct wsh_options *out);

/* Pure: warns through `warn`, once each, about the WSHEAP_* names in `env` (NULL-terminated
 * "NAME=VALUE" entries, as environ) that are neither options nor the project's own test
 * variables: "unknown variable WSHEAP_PAGHEAP (did you mean WSHEAP_PAGEHEAP?)", suggesting the
 * nearest option name when it is close (at most 3 edits, and at most a third of the name after
 * WSHEAP_). */
void wsh_options_check_names(const char *const *env, wsh_warn_fn *warn);

/* The process-wide options: wsh_options_load() and wsh_options_check_names() over the real
 * environment (secure_getenv; nothing in set-user-ID programs), run once (pthread_once) on first
 * use; WSHEAP_VERBOSE prints then, and WSHEAP_HELP unless the library printed the table as it
 * was loaded. Never NULL. */
const struct wsh_options *wsh_options(void);

/* --- Heaps ------------------------------------------------------------------------------------ */

struct wsh_heap;

/* What a backend implements. The public layer has validated every argument and applied the
 * quota: `heap` is live, `size` <= max_size - requested_size, `out` != NULL. Backends return
 * S_OK or E_OUTOFMEMORY only and never touch WS_ERROR. */
struct wsh_backend_ops {
    const char *name; /* "arena", "guarded" */
    /* Allocates a heap object with the backend's state, and sets its cur, limit and rewind
     * (NULL for an empty window); NULL when out of memory. The public layer sets every other
     * field of struct wsh_heap. */
    struct wsh_heap *(*create)(const struct wsh_options *options);
    /* Returns a block of `size` bytes (8-byte aligned, distinct and non-NULL for size 0).
     * May move the window; the public layer re-applies the quota to it afterwards. */
    HRESULT (*alloc)(struct wsh_heap *heap, size_t size, void **out);
    /* Every block dies; keeps about trim_size bytes for reuse. May move the window. */
    void (*reset)(struct wsh_heap *heap);
    /* Releases every block, the backend's state and the heap object itself. */
    void (*destroy)(struct wsh_heap *heap);
    /* WS_HEAP_PROPERTY_ACTUAL_SIZE: bytes the heap holds from the system for blocks. */
    size_t (*actual_size)(const struct wsh_heap *heap);
};

extern const struct wsh_backend_ops wsh_arena_ops;
extern const struct wsh_backend_ops wsh_guarded_ops;

#define WSH_HEAP_MAGIC 0x57534850u /* "WSHP" while live; cleared by WsFreeHeap */

/* Sampled guarding's per-heap state (sample.c), in every heap object but used only by arena heaps
 * with heap->sampling set. The window ends `left` bytes after `base` (wsh_heap_sync_window). */
struct wsh_heap_guard_sampling {
    char *base;                /* cur when the window was last opened */
    size_t left;               /* bytes from base to the next sample point */
    size_t mean;               /* mean bytes between sample points (WSHEAP_SAMPLE_BYTES) */
    uint64_t rng;              /* xorshift64* state, seeded per heap */
    struct wsh_heap *shadow;   /* the guarded heap holding the sampled blocks; NULL until needed */
    uint32_t n_round;          /* blocks sampled since the last reset (held in the global budget) */
    uint32_t rounds;           /* WSHEAP_SAMPLE_ROUNDS: about 1 round in `rounds` sampled whole */
    bool round_on;             /* this round is sampled whole: the window stays closed */
    size_t round_bytes;        /* data bytes this round took from the sampled rounds' budget */
    uint64_t n_rounds_sampled; /* sampled rounds that allocated, since creation (at resets) */
    uint32_t n_skipped;        /* sample points skipped since creation (budget full, too large) */
    uint64_t n_sampled;        /* blocks sampled since creation */
};

/*
 * The object behind a WS_HEAP handle.
 *
 * The first three fields are the fast path, and WsAlloc (heap.c) serves an allocation of n
 * bytes, 0 < n <= end - cur, by bumping `cur` without calling the backend. The backend owns
 * `cur` and `limit` (the end of its current chunk); the public layer derives `end` from them
 * and the quota left (wsh_heap_sync_window), so the fast path needs no separate quota test. A
 * backend that must see every allocation (guarded) keeps cur == limit == NULL, so the window is
 * empty and every call takes the slow path, which calls ops->alloc. Likewise `rewind` lets
 * WsResetHeap skip the backend when a reset only moves `cur` back to the start of the one chunk
 * the heap keeps. The first three fields are WSHEAP_WINDOW (wsheap.h): ABI, pinned in heap.c.
 *
 * Every field WsAlloc (both paths), WsCreateHeap and WsFreeHeap touch on an unwatched heap lies
 * in the first 64 bytes (heap.c checks); a reset also counts itself and notes its round's size
 * in the next line, with what properties, reports and statistics read.
 */
struct wsh_heap {
    char *cur;             /* next free byte of the window; 8-aligned */
    char *end;             /* window end: min(limit, cur + quota left rounded down to 8) */
    size_t requested_size; /* WS_HEAP_PROPERTY_REQUESTED_SIZE: exact sum since reset */
    char *limit;           /* backend: end of the current chunk; 8-aligned */
    char *rewind;          /* backend: when not NULL, a whole reset is "cur = rewind" */
    size_t max_size;       /* WS_HEAP_PROPERTY_MAX_SIZE */
    const struct wsh_backend_ops *ops; /* chosen at WsCreateHeap, kept for life */
    uint32_t magic;                    /* WSH_HEAP_MAGIC while live */
    bool inject;                       /* fail.c counts its WsAlloc calls (WSHEAP_FAIL_*) */
    bool watched;                      /* stats != NULL: its window ends at sample points too */
    bool sampling;                     /* guard sampling on: its window ends at guard.left too */
    /* --- 64 bytes --- */
    size_t round_peak;            /* most bytes a finished round handed out (ACTUAL_SIZE) */
    char *sample_base;            /* watched heaps: cur when the window was last opened */
    size_t sample_left;           /* ... and bytes from there to the next sample point */
    size_t trim_size;             /* WS_HEAP_PROPERTY_TRIM_SIZE */
    struct wsh_heap_stats *stats; /* stats.c's record; NULL unless WSHEAP_STATS/LEAKS */
    uint32_t n_resets;            /* resets since creation (reports show it) */
    char name[WSHEAP_NAME_MAX];   /* wsheap_set_heap_name; "" when unset */
    /* sample.c's state; used only when `sampling` is set */
    struct wsh_heap_guard_sampling guard;
};

/* Recomputes heap->end from cur, limit, the quota left and, for a watched heap, the next sample
 * point (stats.c) and, for a sampling heap, the next sampled block (sample.c): end = min(limit,
 * quota, sample points), the one mechanism through which anything that must see an allocation
 * now and then (statistics, sampled guarding) narrows the window without a test on the fast
 * path. Called by the public layer after every
 * backend call that may have moved the window, and after the statistics folded it. */
static inline void wsh_heap_sync_window(struct wsh_heap *heap)
{
    /* Integer arithmetic: a heap with no chunk (or a backend that keeps the window empty) has
     * cur == limit == NULL, and NULL + 0 is undefined in C (clang's UBSan reports it). */
    size_t room = (uintptr_t)heap->limit - (uintptr_t)heap->cur;
    size_t quota_left = (heap->max_size - heap->requested_size) & ~(WSH_ALIGN - 1);

    /* What the fast path relies on: the backend's window lies in its chunk, both ends 8-aligned
     * (so end is too), and the quota is not overdrawn; then cur <= end <= limit, and end - cur
     * is at most the quota left. */
    wsh_assert(((uintptr_t)heap->cur & (WSH_ALIGN - 1)) == 0);
    wsh_assert(((uintptr_t)heap->limit & (WSH_ALIGN - 1)) == 0);
    wsh_assert((uintptr_t)heap->cur <= (uintptr_t)heap->limit);
    wsh_assert(heap->requested_size <= heap->max_size);
    size_t open = quota_left < room ? quota_left : room;

    if (heap->watched) {
        heap->sample_base = heap->cur;
        if (heap->sample_left < open) open = heap->sample_left & ~(WSH_ALIGN - 1);
    }
    if (heap->sampling) { /* sampled guarding (sample.h): the next guarded block's point */
        heap->guard.base = heap->cur;
        if (heap->guard.left < open) open = heap->guard.left & ~(WSH_ALIGN - 1);
        if (heap->guard.round_on) open = 0; /* a sampled round: every block from the shadow */
    }
    heap->end = (char *)((uintptr_t)heap->cur + open);
    /* Failure injection sees every WsAlloc. */
    if (heap->inject) heap->end = heap->cur;
}

/* Fills the public layer's fields of a heap object that ops->create just returned (the quota,
 * the trim size, ops, the live magic; no name, no statistics, no injection) and opens its window:
 * what WsCreateHeap does between the backend's create and handing the heap out. */
void wsh_heap_init(struct wsh_heap *heap, const struct wsh_backend_ops *ops, size_t max_size,
                   size_t trim_size);

/* The backend for a heap created now, given the process options. */
const struct wsh_backend_ops *wsh_backend_select(const struct wsh_options *options);

/* --- Heap names (name.c) ---------------------------------------------------------------------- */

/* Room for any name as wsh_name_escape shows it, NUL included: each byte may become \xNN. */
#define WSH_NAME_SHOWN_MAX (4 * (WSHEAP_NAME_MAX - 1) + 1)

/* Sets heap->name to `name` (shorter than WSHEAP_NAME_MAX) under the name lock, so that other
 * threads copying it (statistics, the leak report, wsheap_describe_address) never race. */
void wsh_name_set(struct wsh_heap *heap, const char *name);

/* Copies heap->name (WSHEAP_NAME_MAX bytes, NUL-terminated) into `dst` under the name lock.
 * With `may_block` false only tries the lock, and answers false with `dst` "" when it is busy. */
bool wsh_name_copy(const struct wsh_heap *heap, char *dst, bool may_block);

/* Renders `name` for a report line into `dst` (NUL-terminated; cut at whole characters or
 * escapes to fit) and returns the length. Printable ASCII and valid UTF-8 stay as they are; `"`
 * and `\` become \" and \\; newline, tab and carriage return become \n, \t, \r; every other
 * control byte (ESC included), DEL, invalid UTF-8, and the C1 controls, line separators and
 * bidirectional controls become \xNN per byte. Pure and async-signal-safe (no malloc, no
 * stdio): the fault report's signal handler uses it. */
size_t wsh_name_escape(const char *name, char *dst, size_t dst_size);

/* --- Errors (error.c) ------------------------------------------------------------------------- */

/* Adds the formatted message to `error` (when not NULL) as its newest string and returns `hr`,
 * so that a failure path is one line: return wsh_fail(error, E_INVALIDARG, "...");
 * If the string cannot be stored (out of memory), the error object is left as it was. */
HRESULT wsh_fail(WS_ERROR *error, HRESULT hr, const char *fmt, ...) WSH_PRINTF(3, 4);

/* Writes "==wsheap==<pid>== warning: <message>\n" to stderr with one write(2). */
void wsh_warn(const char *message);

#endif
