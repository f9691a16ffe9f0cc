/* SPDX-License-Identifier: MIT */
/*
 * Stack capture with libunwind: unw_backtrace for allocation stacks (about 100 ns for 16
 * frames, against 1.3 us for glibc's backtrace()), and unw_init_local2 on the signal context
 * for the access stack in a fault report. UNW_LOCAL_ONLY selects the in-process unwinder (and
 * is needed to link with plain -lunwind).
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <pthread.h>
#include <ucontext.h>

#include "../internal.h"
#include "modules.h"
#include "stack.h"

#if defined(__SANITIZE_THREAD__)
#define WSH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WSH_TSAN 1
#endif
#endif

#ifdef WSH_TSAN
/* Under ThreadSanitizer: unw_backtrace keeps a per-thread cache whose thread-exit destructor
 * locks a mutex after TSan has let go of the thread, and crashes (libunwind 1.6.2, gcc 12 and
 * clang 14). The unw_step loop keeps no such cache; it is slower, which TSan builds can afford. */
static WSH_NOINLINE int slow_backtrace(void **frames, int max)
{
    unw_context_t context;
    unw_cursor_t cursor;
    int n = 0;

    if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0) return 0;
    /* The cursor starts in this function; unw_backtrace starts in its caller. */
    while (n < max && unw_step(&cursor) > 0) {
        unw_word_t ip;

        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0) break;
        frames[n++] = (void *)ip;
    }
    return n;
}
#define unw_backtrace slow_backtrace
#endif

static pthread_once_t warm_once = PTHREAD_ONCE_INIT;

/* libunwind initialises itself (locks, caches of the loaded objects) on first use; doing that
 * here keeps it out of the first WsAlloc and out of the signal handler. */
static void warm_up(void)
{
    void *frames[8];
    unw_context_t context;
    unw_cursor_t cursor;

    (void)unw_backtrace(frames, 8);
    if (unw_getcontext(&context) == 0 && unw_init_local(&cursor, &context) == 0)
        for (int i = 0; i < 8 && unw_step(&cursor) > 0; i++)
            ;
}

void wsh_stack_init(void)
{
    pthread_once(&warm_once, warm_up);
    wsh_modules_refresh();
}

WSH_NOINLINE uint32_t wsh_stack_record(unsigned depth, size_t skip)
{
    /* uintptr_t: libunwind stores the addresses as void *, in its own code, so no object is
     * read through two types here. frames[0] is this function. */
    uintptr_t frames[WSH_STACK_MAX + 16];
    size_t want;
    int n;

    if (depth == 0) return 0;
    if (depth > WSH_STACK_MAX) depth = WSH_STACK_MAX;
    want = depth + 1 + skip;
    if (want > sizeof frames / sizeof frames[0]) want = sizeof frames / sizeof frames[0];
    n = unw_backtrace((void **)frames, (int)want);
    if (n <= (int)(1 + skip)) return 0;
    return wsh_depot_put(frames + 1 + skip, (size_t)n - 1 - skip);
}

size_t wsh_stack_unwind_signal(void *ucontext, uintptr_t *pcs, size_t max)
{
    unw_cursor_t cursor;
    size_t n = 0;

    if (max == 0) return 0;
    if (unw_init_local2(&cursor, (unw_context_t *)ucontext, UNW_INIT_SIGNAL_FRAME) != 0) {
        /* Cannot unwind: the faulting instruction alone. */
        pcs[0] = (uintptr_t)((ucontext_t *)ucontext)->uc_mcontext.gregs[REG_RIP];
        return 1;
    }
    do {
        unw_word_t ip;

        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0) break;
        pcs[n++] = (uintptr_t)ip;
    } while (n < max && unw_step(&cursor) > 0);
    return n;
}
