/* SPDX-License-Identifier: MIT */
/*
 * Thread ids for stacks and reports (stack.h): the kernel's id, cached per thread, so that every
 * WsAlloc that records its thread makes no system call.
 */
#include <pthread.h>

#include "../internal.h"
#include "../os.h"
#include "stack.h"

static _Thread_local int32_t cached_tid;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;

static void forget_tid(void)
{
    cached_tid = 0; /* in a fork child: its only thread has an id of its own */
}

static void watch_forks_for_tid(void)
{
    pthread_atfork(NULL, NULL, forget_tid);
}

int32_t wsh_thread_id(void)
{
    if (WSH_UNLIKELY(cached_tid == 0)) {
        pthread_once(&tid_once, watch_forks_for_tid);
        cached_tid = wsh_os_thread_id();
    }
    return cached_tid;
}
