/* SPDX-License-Identifier: MIT */
/*
 * Making arena blocks visible to AddressSanitizer and valgrind memcheck ("tracked" arenas):
 * which tool is present (track.c) and the annotations that poison and unpoison memory. ASan is
 * a build-time mode (the library itself is compiled with -fsanitize=address); memcheck is a
 * run-time mode, asked once per process. In any other build or run every annotation here is
 * empty, and arenas use the untracked backend, whose fast path never sees this file. The
 * tracked arena itself is arena/tracked.h; describing addresses is describe.h.
 */
#ifndef WSH_TRACK_H
#define WSH_TRACK_H

#include <stdbool.h>
#include <stddef.h>

/* WSH_TRACK_ASAN: this translation unit is compiled with AddressSanitizer (gcc defines
 * __SANITIZE_ADDRESS__, clang answers __has_feature(address_sanitizer)). */
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

/* True when arenas created now must be tracked: always in an ASan build; under valgrind
 * memcheck (not callgrind, cachegrind, helgrind or drd, whose users measure or check the
 * untracked arena); or when a test forced it with wsh_track_force. Cheap after the first call
 * (one relaxed load). */
bool wsh_track_active(void);

/* True when this process runs under valgrind memcheck (asked once). */
bool wsh_track_memcheck(void);

/* Test hook: WSH_TRACK_ON makes wsh_track_active() true for heaps created afterwards, so that
 * the tracked arena's bookkeeping runs in a build without either tool; WSH_TRACK_OFF makes it
 * false (the untracked arena under ASan or memcheck, as test_arena wants); WSH_TRACK_AUTO
 * returns to the detected answer. */
enum wsh_track_mode { WSH_TRACK_AUTO, WSH_TRACK_OFF, WSH_TRACK_ON };
void wsh_track_force(enum wsh_track_mode mode);

/* Marks [p, p + n) as not addressable (ASan poison; memcheck no-access). */
static inline void wsh_track_poison(const void *p, size_t n)
{
#if WSH_TRACK_ASAN
    ASAN_POISON_MEMORY_REGION(p, n);
#elif WSH_TRACK_VALGRIND
    (void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
#else
    (void)p;
    (void)n;
#endif
}

/* Marks [p, p + n) as addressable again (ASan unpoison; memcheck: addressable, contents
 * undefined), e.g. before wsheap itself writes a record kept inside a redzone. */
static inline void wsh_track_unpoison(const void *p, size_t n)
{
#if WSH_TRACK_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#elif WSH_TRACK_VALGRIND
    (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#else
    (void)p;
    (void)n;
#endif
}

/* Makes [p, p + n) addressable with its current contents counted as initialised, so that
 * wsheap can read a record it wrote before poisoning it. */
static inline void wsh_track_define(const void *p, size_t n)
{
#if WSH_TRACK_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#elif WSH_TRACK_VALGRIND
    (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
#else
    (void)p;
    (void)n;
#endif
}

#endif
