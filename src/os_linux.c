/* SPDX-License-Identifier: MIT */
/*
 * Linux implementation of os.h: malloc, mmap, mprotect and madvise behind one failure-injection
 * counter. The counter is a relaxed atomic touched only on these slow paths.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "os.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define OS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define OS_COLD        __attribute__((cold, noinline))

static atomic_ulong n_requests; /* requests since the last wsh_os_fail_at */
static atomic_ulong fail_at;    /* 0: disarmed; else the request number that fails */
static atomic_bool no_guard_advice;
/* Successful wsh_os_malloc/wsh_os_map calls by this thread, for the statistics (stats.c). */
static _Thread_local unsigned long thread_allocations __attribute__((tls_model("initial-exec")));

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
    void *p;

    if (injected_failure()) return NULL;
    p = malloc(size);
    if (p != NULL) thread_allocations++;
    return p;
}

unsigned long wsh_os_thread_allocations(void)
{
    return thread_allocations;
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
    if (p == MAP_FAILED) return NULL;
    thread_allocations++;
    return p;
}

void *wsh_os_map_aligned(size_t size, size_t align, bool accessible)
{
    int prot = accessible ? PROT_READ | PROT_WRITE : PROT_NONE;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    uintptr_t start, aligned;
    char *p;

    if (injected_failure()) return NULL;
    p = mmap(NULL, size, prot, flags, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (((uintptr_t)p & (align - 1)) == 0) {
        thread_allocations++;
        return p;
    }
    /* Not aligned: map `align` more and trim both ends. */
    munmap(p, size);
    p = mmap(NULL, size + align, prot, flags, -1, 0);
    if (p == MAP_FAILED) return NULL;
    start = (uintptr_t)p;
    aligned = (start + align - 1) & ~(uintptr_t)(align - 1);
    if (aligned > start) munmap(p, aligned - start);
    if (start + align > aligned) munmap((char *)aligned + size, start + align - aligned);
    thread_allocations++;
    return (char *)aligned;
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

bool wsh_os_remap_inaccessible(void *addr, size_t size)
{
    void *p;

    if (injected_failure()) return false;
    p = mmap(addr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    return p == addr;
}

bool wsh_os_discard(void *addr, size_t size)
{
    return madvise(addr, size, MADV_DONTNEED) == 0;
}

bool wsh_os_move_pages(void *from, size_t size, void *to, bool *hidden)
{
    void *p;

    *hidden = false;
    if (injected_failure()) return false;
    /* DONTUNMAP keeps the source mapped (empty), so that the address space never has a hole
     * another thread's mmap could take before the PROT_NONE mapping below replaces it. */
    if (mremap(from, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to) != to)
        return false;
    p = mmap(from, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    *hidden = p == from;
    return true;
}

/* Whether the kernel takes MADV_GUARD_INSTALL: -1 unknown, 0 no, 1 yes. */
static atomic_int guard_advice_state = -1;

/* Probes once by installing and removing a guard on a scratch page. */
static OS_COLD int probe_guard_advice(void)
{
    size_t page = wsh_os_page_size();
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int s = 0;

    if (p != MAP_FAILED) {
        s = madvise(p, page, MADV_GUARD_INSTALL) == 0 && madvise(p, page, MADV_GUARD_REMOVE) == 0;
        munmap(p, page);
    }
    atomic_store_explicit(&guard_advice_state, s, memory_order_release);
    return s;
}

/* Two loads once probed: the guard calls below run at every guarded WsAlloc. */
static inline bool has_guard_advice(void)
{
    int s = atomic_load_explicit(&guard_advice_state, memory_order_acquire);

    if (OS_UNLIKELY(s < 0)) s = probe_guard_advice();
    return s == 1 && !atomic_load_explicit(&no_guard_advice, memory_order_relaxed);
}

bool wsh_os_has_guard_advice(void)
{
    return has_guard_advice();
}

bool wsh_os_guard_install(void *addr, size_t size)
{
    if (!has_guard_advice()) return false;
    if (injected_failure()) return false;
    return madvise(addr, size, MADV_GUARD_INSTALL) == 0;
}

bool wsh_os_guard_remove(void *addr, size_t size)
{
    if (!has_guard_advice()) return false;
    if (injected_failure()) return false;
    return madvise(addr, size, MADV_GUARD_REMOVE) == 0;
}

/*
 * process_madvise names its target process by a pidfd. Linux 6.14 and later take the sentinel
 * PIDFD_SELF_THREAD_GROUP for the calling process: no descriptor, nothing to redo after a fork.
 * It is tried at the first batch; where the kernel answers EBADF, a pidfd of this process is
 * opened once and cached.
 *
 * A cached pidfd names the process that opened it, so a fork child must not use its parent's.
 * fork() runs pthread_atfork handlers: the child closes the inherited descriptor at once,
 * before its own code can reuse the number. A child made without them (a raw clone, _Fork)
 * still finds the parent's entry: to notice that without a getpid() per batch, the entry is
 * marked valid in a page mapped MADV_WIPEONFORK, which reads as zeros in any child. A child
 * then opens its own pidfd and closes the inherited descriptor only while /proc says it is
 * still the parent's pidfd (the child may have closed it and reused the number). Where the
 * page cannot be had, the entry's pid is compared with getpid() at every batch instead.
 */
#ifndef PIDFD_SELF_THREAD_GROUP
#define PIDFD_SELF_THREAD_GROUP (-10001)
#endif

static bool for_each_line(const char *path, void (*line)(const char *text, size_t n, void *arg),
                          void *arg);

enum self_mode { SELF_UNKNOWN, SELF_SENTINEL, SELF_PIDFD };

static atomic_int self_mode;            /* enum self_mode */
static atomic_bool force_pidfd;         /* wsh_os_force_pidfd */
static _Atomic uint64_t pidfd_cache;    /* pid << 32 | fd; 0 when none is open */
static _Atomic(atomic_int *) fork_mark; /* in a MADV_WIPEONFORK page; 1: the cache is ours */
static pthread_once_t pidfd_once = PTHREAD_ONCE_INIT;

static void drop_inherited_pidfd(void)
{
    uint64_t c = atomic_exchange_explicit(&pidfd_cache, 0, memory_order_relaxed);

    if (c != 0) close((int)(uint32_t)c);
}

/* Once per process: the atfork handler and the wipe-on-fork page (left NULL when the kernel
 * has no MADV_WIPEONFORK: the cache is then checked with getpid). */
static void pidfd_setup(void)
{
    size_t page = wsh_os_page_size();
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    pthread_atfork(NULL, NULL, drop_inherited_pidfd);
    if (p == MAP_FAILED) return;
    if (madvise(p, page, MADV_WIPEONFORK) != 0) {
        munmap(p, page);
        return;
    }
    atomic_store_explicit(&fork_mark, (atomic_int *)p, memory_order_release);
}

static void match_pid_line(const char *text, size_t n, void *arg)
{
    const char *want = arg;
    size_t k = strlen(want);

    if (n == k && memcmp(text, want, k) == 0) ((char *)arg)[0] = '\0'; /* found: empty it */
}

/* True when descriptor `fd` is a pidfd of process `pid` (its fdinfo has "Pid:\t<pid>"). */
static bool is_pidfd_of(int fd, int pid)
{
    char path[64], want[32];

    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    snprintf(want, sizeof want, "Pid:\t%d", pid);
    return for_each_line(path, match_pid_line, want) && want[0] == '\0';
}

/* The cached pidfd, opening it first when the cache is empty or a parent's. -1 on failure. */
static OS_COLD int open_own_pidfd(void)
{
    uint64_t c = atomic_load_explicit(&pidfd_cache, memory_order_acquire), mine;
    atomic_int *mark;
    int pid = getpid(), fd;

    pthread_once(&pidfd_once, pidfd_setup);
    mark = atomic_load_explicit(&fork_mark, memory_order_acquire);
    if (c != 0 && (int)(c >> 32) == pid) { /* another thread opened it and is marking it */
        fd = (int)(uint32_t)c;
    } else {
        fd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec */
        if (fd < 0) return -1;
        mine = (uint64_t)(uint32_t)pid << 32 | (uint32_t)fd;
        if (!atomic_compare_exchange_strong(&pidfd_cache, &c, mine)) {
            close(fd); /* another thread cached one meanwhile */
            return (int)(uint32_t)c;
        }
        if (c != 0 && is_pidfd_of((int)(uint32_t)c, (int)(c >> 32)))
            close((int)(uint32_t)c); /* the parent's, inherited without fork's handlers */
    }
    if (mark != NULL) atomic_store_explicit(mark, 1, memory_order_release);
    return fd;
}

/* The pidfd of this process: one load of the cache and one of the fork mark, no system call,
 * once it is open. */
static int own_pidfd(void)
{
    uint64_t c = atomic_load_explicit(&pidfd_cache, memory_order_acquire);
    atomic_int *mark = atomic_load_explicit(&fork_mark, memory_order_acquire);

    if (c != 0 && mark != NULL && atomic_load_explicit(mark, memory_order_acquire) == 1)
        return (int)(uint32_t)c;
    if (c != 0 && mark == NULL && (int)(c >> 32) == getpid()) return (int)(uint32_t)c;
    return open_own_pidfd();
}

/* process_madvise on this process. Returns its result (-1 with errno on failure). */
static long madvise_self(const struct iovec *iov, size_t count, int advice)
{
    int mode = atomic_load_explicit(&self_mode, memory_order_relaxed), fd;
    long done;

    if (mode != SELF_PIDFD && !atomic_load_explicit(&force_pidfd, memory_order_relaxed)) {
        done = syscall(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP, iov, count, advice, 0);
        if (done >= 0 || errno != EBADF) {
            if (mode == SELF_UNKNOWN && done >= 0)
                atomic_store_explicit(&self_mode, SELF_SENTINEL, memory_order_relaxed);
            return done;
        }
        /* EBADF: a kernel before 6.14 takes only real descriptors. */
        atomic_store_explicit(&self_mode, SELF_PIDFD, memory_order_relaxed);
    }
    fd = own_pidfd();
    if (fd < 0) return -1;
    return syscall(SYS_process_madvise, fd, iov, count, advice, 0);
}

void wsh_os_force_pidfd(bool on)
{
    atomic_store_explicit(&force_pidfd, on, memory_order_relaxed);
}

size_t wsh_os_guard_install_strided(char *first, size_t stride, size_t count, size_t size)
{
    static atomic_bool unsupported;
    struct iovec iov[256];
    long done;

    if (count == 0 || atomic_load_explicit(&unsupported, memory_order_relaxed) ||
        !has_guard_advice())
        return 0;
    if (injected_failure()) return 0;
    if (count > sizeof iov / sizeof iov[0]) count = sizeof iov / sizeof iov[0];
    for (size_t i = 0; i < count; i++) {
        iov[i].iov_base = first + i * stride;
        iov[i].iov_len = size;
    }
    done = madvise_self(iov, count, MADV_GUARD_INSTALL);
    if (done < 0) {
        /* EINVAL: a kernel that has the advice but not through process_madvise (or a filter);
         * ENOSYS, EPERM: no process_madvise or no pidfd_open (filtered). */
        if (errno == EINVAL || errno == ENOSYS || errno == EPERM)
            atomic_store_explicit(&unsupported, true, memory_order_relaxed);
        return 0;
    }
    return (size_t)done / size;
}

uintptr_t wsh_os_context_pc(const void *ucontext)
{
#if defined(__x86_64__)
    return (uintptr_t)((const ucontext_t *)ucontext)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)((const ucontext_t *)ucontext)->uc_mcontext.pc;
#else
    (void)ucontext;
    return 0;
#endif
}

int wsh_os_thread_id(void)
{
    return (int)syscall(SYS_gettid);
}

long wsh_os_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fallback for process_vm_readv (filtered by some sandboxes): the kernel reads `src` for a
 * pipe write and answers EFAULT instead of faulting. */
static bool read_through_pipe(void *dst, const void *src, size_t n)
{
    int fds[2];
    bool ok = false;

    if (n > 4096 || pipe2(fds, O_CLOEXEC) != 0) return false;
    if (write(fds[1], src, n) == (ssize_t)n && read(fds[0], dst, n) == (ssize_t)n) ok = true;
    close(fds[0]);
    close(fds[1]);
    return ok;
}

bool wsh_os_safe_read(void *dst, const void *src, size_t n)
{
    struct iovec local = {dst, n}, remote = {(void *)src, n};
    ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    bool ok = got == (ssize_t)n;

    if (got < 0 && (errno == ENOSYS || errno == EPERM)) ok = read_through_pipe(dst, src, n);
    if (!ok)
        for (size_t i = 0; i < n; i++)
            ((char *)dst)[i] = 0;
    return ok;
}

/* Calls `line` once per line of the file at `path` (without the newline), reading it with
 * open/read into a stack buffer; lines longer than the buffer are cut. False when unreadable. */
static bool for_each_line(const char *path, void (*line)(const char *text, size_t n, void *arg),
                          void *arg)
{
    char buf[4096];
    size_t used = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) return false;
    for (;;) {
        ssize_t got = read(fd, buf + used, sizeof buf - used);
        size_t start = 0;

        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        used += (size_t)got;
        for (size_t i = 0; i < used; i++) {
            if (buf[i] == '\n') {
                line(buf + start, i - start, arg);
                start = i + 1;
            }
        }
        if (start == 0 && used == sizeof buf) { /* a line longer than the buffer */
            line(buf, used, arg);
            used = 0;
            continue;
        }
        used -= start;
        for (size_t i = 0; i < used; i++)
            buf[i] = buf[start + i];
    }
    if (used > 0) line(buf, used, arg);
    close(fd);
    return true;
}

static void count_line(const char *text, size_t n, void *arg)
{
    (void)text;
    (void)n;
    (*(size_t *)arg)++;
}

static void parse_count(const char *text, size_t n, void *arg)
{
    size_t v = 0;

    for (size_t i = 0; i < n && text[i] >= '0' && text[i] <= '9'; i++)
        v = v * 10 + (size_t)(text[i] - '0');
    *(size_t *)arg = v;
}

size_t wsh_os_count_mappings(void)
{
    size_t n = 0;

    return for_each_line("/proc/self/maps", count_line, &n) ? n : 0;
}

size_t wsh_os_max_map_count(void)
{
    size_t v = 0;

    if (!for_each_line("/proc/sys/vm/max_map_count", parse_count, &v) || v == 0) return 65530;
    return v;
}
