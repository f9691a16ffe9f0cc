/* SPDX-License-Identifier: MIT */
/*
 * Linux implementation of os.h: malloc, mmap, mprotect and madvise behind one failure-injection
 * counter. The counter is a relaxed atomic touched only on these slow paths.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "os.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

static atomic_ulong n_requests; /* requests since the last wsh_os_fail_at */
static atomic_ulong fail_at;    /* 0: disarmed; else the request number that fails */
static atomic_bool no_guard_advice;

/* Counts one request; true when the test hook says this one must fail. */
static bool injected_failure(void)
{
    unsigned long target = atomic_load_explicit(&fail_at, memory_order_relaxed);
    unsigned long n = atomic_fetch_add_explicit(&n_requests, 1, memory_order_relaxed) + 1;

    if (target == 0 || n != target) return false;
    atomic_store_explicit(&fail_at, 0, memory_order_relaxed);
    errno = ENOMEM;
    return true;
}

void wsh_os_fail_at(unsigned long n)
{
    atomic_store_explicit(&n_requests, 0, memory_order_relaxed);
    atomic_store_explicit(&fail_at, n, memory_order_relaxed);
}

unsigned long wsh_os_requests(void)
{
    return atomic_load_explicit(&n_requests, memory_order_relaxed);
}

void wsh_os_force_no_guard_advice(bool off)
{
    atomic_store_explicit(&no_guard_advice, off, memory_order_relaxed);
}

size_t wsh_os_page_size(void)
{
    static atomic_size_t cached;
    size_t size = atomic_load_explicit(&cached, memory_order_relaxed);

    if (size == 0) {
        long v = sysconf(_SC_PAGESIZE);
        size = v > 0 ? (size_t)v : 4096;
        atomic_store_explicit(&cached, size, memory_order_relaxed);
    }
    return size;
}

void *wsh_os_malloc(size_t size)
{
    if (injected_failure()) return NULL;
    return malloc(size);
}

void wsh_os_free(void *p)
{
    free(p);
}

void *wsh_os_map(size_t size, bool accessible)
{
    void *p;

    if (injected_failure()) return NULL;
    p = mmap(NULL, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

bool wsh_os_unmap(void *addr, size_t size)
{
    return munmap(addr, size) == 0;
}

bool wsh_os_protect(void *addr, size_t size, bool accessible)
{
    if (injected_failure()) return false;
    return mprotect(addr, size, accessible ? PROT_READ | PROT_WRITE : PROT_NONE) == 0;
}

bool wsh_os_discard(void *addr, size_t size)
{
    return madvise(addr, size, MADV_DONTNEED) == 0;
}

/* Probes once by installing and removing a guard on a scratch page. -1 unknown, 0 no, 1 yes. */
static int probe_guard_advice(void)
{
    static atomic_int state = -1;
    int s = atomic_load_explicit(&state, memory_order_acquire);

    if (s < 0) {
        size_t page = wsh_os_page_size();
        void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        s = 0;
        if (p != MAP_FAILED) {
            s = madvise(p, page, MADV_GUARD_INSTALL) == 0 &&
                madvise(p, page, MADV_GUARD_REMOVE) == 0;
            munmap(p, page);
        }
        atomic_store_explicit(&state, s, memory_order_release);
    }
    return s;
}

bool wsh_os_has_guard_advice(void)
{
    if (atomic_load_explicit(&no_guard_advice, memory_order_relaxed)) return false;
    return probe_guard_advice() == 1;
}

bool wsh_os_guard_install(void *addr, size_t size)
{
    if (!wsh_os_has_guard_advice()) return false;
    if (injected_failure()) return false;
    return madvise(addr, size, MADV_GUARD_INSTALL) == 0;
}

bool wsh_os_guard_remove(void *addr, size_t size)
{
    if (!wsh_os_has_guard_advice()) return false;
    return madvise(addr, size, MADV_GUARD_REMOVE) == 0;
}
