/* SPDX-License-Identifier: MIT */
/*
 * Making arena blocks visible to AddressSanitizer and valgrind memcheck ("tracked" arenas):
 * which tool is present (track.c) and the annotations that poison and unpoison memory. Both are
 * run-time modes, asked once per process: ASan when the process has the ASan runtime (an
 * application built with -fsanitize=address, by gcc or clang, whatever the library's own
 * flags), memcheck when it runs under valgrind. A library compiled with -fsanitize=address
 * calls its ASan runtime directly. In any other run every annotation here does nothing, and
 * arenas use the untracked backend, whose fast path never sees this file. The tracked arena
 * itself is arena/tracked.h; describing addresses is describe.h.
 */
#ifndef WSH_TRACK_H
#define WSH_TRACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* WSH_TRACK_ASAN: this translation unit is compiled with AddressSanitizer (gcc defines
 * __SANITIZE_ADDRESS__, clang answers __has_feature(address_sanitizer)); wsh_track_asan then
 * answers the runtime it is linked with, without looking for it. */
#if defined(__SANITIZE_ADDRESS__)
#define WSH_TRACK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSH_TRACK_ASAN 1
#endif
#endif
#ifndef WSH_TRACK_ASAN
#define WSH_TRACK_ASAN 0
#endif

/* WSH_TRACK_VALGRIND: the client-request macros are compiled in (they cost nothing until
 * executed, and outside valgrind they execute as a few no-op instructions). Not with ASan,
 * whose binaries cannot run under valgrind. -DWSHEAP_NO_VALGRIND leaves them out. */
#if !WSH_TRACK_ASAN && !defined(WSHEAP_NO_VALGRIND) && defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#define WSH_TRACK_VALGRIND 1
#endif
#endif
#ifndef WSH_TRACK_VALGRIND
#define WSH_TRACK_VALGRIND 0
#endif

#if WSH_TRACK_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if WSH_TRACK_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

/* The parts of the ASan runtime's public interface (<sanitizer/asan_interface.h>) that wsheap
 * calls, the same in gcc's and clang's runtimes. */
struct wsh_track_asan_api {
    void (*poison)(void const volatile *addr, size_t size);      /* __asan_poison_memory_region */
    void (*unpoison)(void const volatile *addr, size_t size);    /* __asan_unpoison_memory_region */
    void (*set_report_callback)(void (*callback)(const char *)); /* ..._error_report_callback */
    void *(*report_address)(void);                               /* __asan_get_report_address */
};

/* The ASan runtime's interface when this process has one, else NULL. An ASan build of the
 * library answers its own runtime; any other build looks the functions up once, by name, among
 * the process's global symbols (gcc's libasan.so, or clang's runtime linked into the
 * executable, which exports its interface), and answers NULL unless it finds all of them. */
const struct wsh_track_asan_api *wsh_track_asan(void);

/* The answer of wsh_track_active once decided: 0 not yet, 1 untracked, 2 tracked. Written by
 * wsh_track_decide and wsh_track_force only. */
extern atomic_int wsh_track_answer;

/* Decides wsh_track_active's answer (the tools' detection, or the forced mode), records it in
 * wsh_track_answer and returns it. */
bool wsh_track_decide(void);

/* True when arenas created now must be tracked: when the process has the ASan runtime
 * (wsh_track_asan); under valgrind memcheck (not callgrind, cachegrind, helgrind or drd, whose
 * users measure or check the untracked arena); or when a test forced it with wsh_track_force.
 * After the first call, one relaxed load: WsCreateHeap asks it for every arena. */
static inline bool wsh_track_active(void)
{
    int answer = atomic_load_explicit(&wsh_track_answer, memory_order_relaxed);

    if (__builtin_expect(answer != 0, 1)) return answer == 2;
    return wsh_track_decide();
}

/* True when this process runs under valgrind memcheck (asked once). */
bool wsh_track_memcheck(void);

/* Test hook: WSH_TRACK_ON makes wsh_track_active() true for heaps created afterwards, so that
 * the tracked arena's bookkeeping runs in a build without either tool; WSH_TRACK_OFF makes it
 * false (the untracked arena under ASan or memcheck, as test_arena wants); WSH_TRACK_AUTO
 * returns to the detected answer. */
enum wsh_track_mode { WSH_TRACK_AUTO, WSH_TRACK_OFF, WSH_TRACK_ON };
void wsh_track_force(enum wsh_track_mode mode);

/* Marks [p, p + n) as not addressable (ASan poison; memcheck no-access). Costs a call while
 * neither tool is present: only the tracked arena calls this. */
static inline void wsh_track_poison(const void *p, size_t n)
{
    const struct wsh_track_asan_api *asan = wsh_track_asan();

    if (asan != NULL) {
        asan->poison(p, n);
        return;
    }
#if WSH_TRACK_VALGRIND
    (void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
#endif
}

/* Marks [p, p + n) as addressable again (ASan unpoison; memcheck: addressable, contents
 * undefined), e.g. before wsheap itself writes a record kept inside a redzone. */
static inline void wsh_track_unpoison(const void *p, size_t n)
{
    const struct wsh_track_asan_api *asan = wsh_track_asan();

    if (asan != NULL) {
        asan->unpoison(p, n);
        return;
    }
#if WSH_TRACK_VALGRIND
    (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#endif
}

/* Makes [p, p + n) addressable with its current contents counted as initialised, so that
 * wsheap can read a record it wrote before poisoning it. */
static inline void wsh_track_define(const void *p, size_t n)
{
    const struct wsh_track_asan_api *asan = wsh_track_asan();

    if (asan != NULL) {
        asan->unpoison(p, n);
        return;
    }
#if WSH_TRACK_VALGRIND
    (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
#endif
}

#endif
