/* SPDX-License-Identifier: MIT */
/*
 * The SIGSEGV/SIGBUS handler. A fault in guarded memory is reported once, the default action
 * is restored, and the handler returns so that the access faults again and the process dies by
 * the signal; in keep-going mode (recover.c) the faulting page is opened instead and the
 * access retried. Any other fault goes to the handler that was installed before ours (ASan's, a
 * crash reporter's) exactly as it would have without wsheap, and on to older ones when that
 * one hands it back. Runs on an alternate stack when the thread has one, else on the thread's
 * own: the handler itself needs little of it, the report moves to a stack of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "../mutex.h"
#include "../os.h"
#include "guarded.h"
#include "report.h"

#define ALTSTACK_SIZE     ((size_t)64 << 10)
#define ALTSTACK_MIN_KEPT ((size_t)32 << 10) /* a thread's own alternate stack this big is kept */
#define HISTORY           8                  /* replaced handlers remembered per signal */
#define REPEAT_LIMIT      1000               /* the same foreign fault this many times ... */
#define REPEAT_MS         2000               /* ... for this long: take the default action */
#define REPEAT_GAP_MS     20 /* a fault that comes back later than this is a new occurrence */

atomic_bool wsh_report_symbolize;

static const int handled_signals[2] = {SIGSEGV, SIGBUS};

/*
 * The handlers ours replaced, per handled_signals[i], oldest first: history[i][n_history[i] - 1]
 * is the one replaced last, the first to chain to. A handler installed after ours that forwards
 * a fault "to the previous handler" reinstalls ours and returns (or calls ours); the fault then
 * goes on to the next older entry, and past the oldest to the default action, so that a
 * forwarding crash reporter and wsheap never hand a fault back and forth for ever. Written
 * under install_lock; read by the handler without it.
 */
static struct sigaction history[2][HISTORY];
static atomic_size_t n_history[2];
static struct wsh_mutex *const install_lock = &wsh_mutexes[WSH_MUTEX_SEGV];

/* The thread passing a fault on to a replaced handler, and the history depth it chains to:
 * (tid << 32) | depth, or 0. A call back into ours from that thread continues one deeper. */
static _Atomic uint64_t chaining;

/* The last foreign fault: thread, address and pc, how often it came back at once in a row,
 * since when, and when last. */
static _Atomic int32_t last_tid;
static _Atomic uintptr_t last_addr, last_pc;
static atomic_long last_count, last_since_ms, last_seen_ms;

static int signal_index(int sig)
{
    return sig == SIGBUS;
}

static void set_default(int sig)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* The default action for `sig`: a fault happens again on return; a sent signal is raised again
 * and delivered when the handler returns (it is blocked until then). */
static void take_default(int sig, const siginfo_t *info)
{
    set_default(sig);
    if (info->si_code <= 0) raise(sig);
}

static void handler(int sig, siginfo_t *info, void *ucontext);

/* Ours, under a second name: installed while a replaced handler runs, so that a handler that
 * reinstalls `handler` shows that it forwarded the fault back (it is not a way to tell a
 * handler that left the disposition alone apart from one that restored ours otherwise). */
static void handler_alias(int sig, siginfo_t *info, void *ucontext)
{
    handler(sig, info, ucontext);
}

static bool is_ours(const struct sigaction *sa)
{
    return sa->sa_sigaction == handler || sa->sa_sigaction == handler_alias;
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* Counts a real fault that is not ours; true when the same (thread, address, pc) has come back
 * REPEAT_LIMIT times in a row over REPEAT_MS, each time within REPEAT_GAP_MS of the last: a
 * handler returns without repairing anything and without being the one to hand the fault on,
 * and the default action must end the loop. A handler that repairs the fault by moving the pc
 * (a runtime's safepoint poll, which faults at the same place again much later) resets the
 * count in chain(); the gap keeps apart faults that recur at the same place over time. */
static bool runaway(const siginfo_t *info, const void *ucontext, int32_t tid)
{
    uintptr_t addr = (uintptr_t)info->si_addr;
    uintptr_t pc = wsh_os_context_pc(ucontext);
    long now = wsh_os_now_ms();

    long seen = atomic_exchange_explicit(&last_seen_ms, now, memory_order_relaxed);

    if (atomic_load_explicit(&last_tid, memory_order_relaxed) != tid ||
        atomic_load_explicit(&last_addr, memory_order_relaxed) != addr ||
        atomic_load_explicit(&last_pc, memory_order_relaxed) != pc || now - seen > REPEAT_GAP_MS) {
        atomic_store_explicit(&last_tid, tid, memory_order_relaxed);
        atomic_store_explicit(&last_addr, addr, memory_order_relaxed);
        atomic_store_explicit(&last_pc, pc, memory_order_relaxed);
        atomic_store_explicit(&last_count, 1, memory_order_relaxed);
        atomic_store_explicit(&last_since_ms, now, memory_order_relaxed);
        return false;
    }
    return atomic_fetch_add_explicit(&last_count, 1, memory_order_relaxed) + 1 >= REPEAT_LIMIT &&
           now - atomic_load_explicit(&last_since_ms, memory_order_relaxed) >= REPEAT_MS;
}

/* Passes a fault that is not ours to the handlers ours replaced, newest first, as the kernel
 * would have passed it to the newest: each one that hands it back to ours (reinstalls ours,
 * or calls it) passes it on to the next older one, and past the oldest the default action is
 * taken. `depth` is the first entry to try (0: the newest). */
static void chain(int sig, siginfo_t *info, void *ucontext, int32_t tid, uint64_t depth)
{
    int i = signal_index(sig);
    uint64_t outer = atomic_load_explicit(&chaining, memory_order_relaxed);

    for (;; depth++) {
        size_t n = atomic_load_explicit(&n_history[i], memory_order_acquire);
        const struct sigaction *p;
        struct sigaction cur;
        uintptr_t pc;

        if (depth >= n) {
            take_default(sig, info);
            return;
        }
        p = &history[i][n - 1 - depth];
        if (p->sa_handler == SIG_DFL || p->sa_handler == SIG_IGN) { /* with SA_SIGINFO too */
            /* SIG_IGN is honoured for a sent signal; the kernel does not let a process ignore
             * a real fault, and neither do we. */
            if (p->sa_handler == SIG_DFL || info->si_code > 0) take_default(sig, info);
            return;
        }
        if (p->sa_flags & SA_RESETHAND)
            set_default(sig); /* as the kernel would have on delivery */
        else
            install(sig, handler_alias);
        atomic_store_explicit(&chaining, (uint64_t)(uint32_t)tid << 32 | depth,
                              memory_order_relaxed);
        pc = wsh_os_context_pc(ucontext);
        if (p->sa_flags & SA_SIGINFO)
            p->sa_sigaction(sig, info, ucontext);
        else
            p->sa_handler(sig);
        atomic_store_explicit(&chaining, outer, memory_order_relaxed);
        if (wsh_os_context_pc(ucontext) != pc) /* it resumes elsewhere: the fault was dealt with */
            atomic_store_explicit(&last_tid, 0, memory_order_relaxed);
        if (sigaction(sig, NULL, &cur) != 0) return;
        if (cur.sa_sigaction == handler_alias) {
            install(sig, handler); /* left alone: it dealt with the fault (or will see it again) */
            return;
        }
        if (cur.sa_sigaction != handler)
            return; /* it installed another disposition (the default, say): that one decides */
        /* It reinstalled ours, "restoring the previous handler": on to the next older one. */
    }
}

static void handler(int sig, siginfo_t *info, void *ucontext)
{
    int saved_errno = errno;
    int32_t tid;
    uint64_t c;

    /* si_code > 0: raised by the kernel for this access (not sent by kill or raise). Only the
     * cheap test runs here, on whatever stack the fault came on (a thread's small stack, a
     * runtime's 8 KiB alternate stack): wsh_report moves to a stack of its own. */
    if (info->si_code > 0) {
        /* Announce ourselves before looking a span up, so that no span we may read is
         * unmapped meanwhile (see span_unmap_locked in spans.c). */
        atomic_fetch_add_explicit(&wsh_handlers_active, 1, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
        if (wsh_span_lookup((uintptr_t)info->si_addr) != NULL) {
            struct wsh_fault f;
            int access = 0;

            if (sig == SIGSEGV) {
                /* x86-64 page-fault error code: bit 1 is set for a write. */
                greg_t err = ((ucontext_t *)ucontext)->uc_mcontext.gregs[REG_ERR];

                access = (err & 2) ? 2 : 1;
            }
            wsh_guarded_describe((uintptr_t)info->si_addr, access, &f);
            if (wsh_report(&f, ucontext,
                           atomic_load_explicit(&wsh_report_symbolize, memory_order_relaxed)) &&
                wsh_recover_open_page(&f)) {
                errno = saved_errno;
                return; /* keep-going mode: the access is retried on the opened page */
            }
            set_default(sig);
            errno = saved_errno;
            return; /* the access faults again, now with the default action */
        }
        atomic_fetch_sub_explicit(&wsh_handlers_active, 1, memory_order_seq_cst);
    }
    tid = wsh_os_thread_id(); /* a raw gettid: no once, no TLS */
    c = atomic_load_explicit(&chaining, memory_order_relaxed);
    if (c != 0 && (int32_t)(c >> 32) == tid) {
        /* Called back by the replaced handler this thread is running: it forwards the fault
         * "to the previous handler", which is the next older one. */
        chain(sig, info, ucontext, tid, (c & 0xffffffffu) + 1);
    } else if (info->si_code > 0 && runaway(info, ucontext, tid)) {
        take_default(sig, info);
    } else {
        chain(sig, info, ucontext, tid, 0);
    }
    errno = saved_errno;
}

/* --- Alternate signal stacks ------------------------------------------------------------------ */

static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;
static _Thread_local bool altstack_checked;

/* Thread exit: stop using our stack, then give it back. */
static void altstack_release(void *mem)
{
    stack_t cur;

    if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == mem) {
        stack_t off;

        memset(&off, 0, sizeof off);
        off.ss_flags = SS_DISABLE;
        sigaltstack(&off, NULL);
    }
    wsh_os_unmap(mem, ALTSTACK_SIZE);
}

static void altstack_key_create(void)
{
    pthread_key_create(&altstack_key, altstack_release);
}

/* Gives the calling thread an alternate signal stack unless it has a big enough one already
 * (ASan installs its own). Failure only means the handler runs on the thread's stack. */
static void thread_altstack(void)
{
    stack_t cur, ss;
    void *mem;

    if (altstack_checked) return;
    altstack_checked = true;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) &&
        cur.ss_size >= ALTSTACK_MIN_KEPT)
        return;
    pthread_once(&altstack_once, altstack_key_create);
    mem = wsh_os_map(ALTSTACK_SIZE, true);
    if (mem == NULL) return;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = mem;
    ss.ss_size = ALTSTACK_SIZE;
    if (sigaltstack(&ss, NULL) != 0) {
        wsh_os_unmap(mem, ALTSTACK_SIZE);
        return;
    }
    pthread_setspecific(altstack_key, mem);
}

/* --- Installation ----------------------------------------------------------------------------- */

static bool same_action(const struct sigaction *a, const struct sigaction *b)
{
    return a->sa_sigaction == b->sa_sigaction &&
           (a->sa_flags & SA_SIGINFO) == (b->sa_flags & SA_SIGINFO);
}

/* Records `sa` as the handler replaced last for handled_signals[i]: an entry for the same
 * function moves to the end (a harness that puts its handler back before every test adds
 * nothing), and a full history forgets its oldest entry. Caller holds install_lock. */
static void remember_locked(int i, const struct sigaction *sa)
{
    size_t n = atomic_load_explicit(&n_history[i], memory_order_relaxed), k = 0;

    wsh_assert(wsh_mutex_held(install_lock));
    while (k < n && !same_action(&history[i][k], sa))
        k++;
    if (k == n && n == HISTORY) k = 0;
    if (k < n) {
        for (; k + 1 < n; k++)
            history[i][k] = history[i][k + 1];
        n--;
    }
    history[i][n] = *sa;
    atomic_store_explicit(&n_history[i], n + 1, memory_order_release);
}

void wsh_segv_install(void)
{
    thread_altstack();
    wsh_report_init();
    wsh_mutex_lock(install_lock);
    for (int i = 0; i < 2; i++) {
        struct sigaction cur, sa, old;

        if (sigaction(handled_signals[i], NULL, &cur) != 0) continue;
        if ((cur.sa_flags & SA_SIGINFO) && is_ours(&cur)) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        /* Record the handler we replace before ours can run and chain to it; never ours (put
         * back without SA_SIGINFO by a signal() call, say): that would chain to itself. */
        if (!is_ours(&cur)) remember_locked(i, &cur);
        if (sigaction(handled_signals[i], &sa, &old) == 0 && !same_action(&old, &cur) &&
            !is_ours(&old))
            remember_locked(i, &old);
    }
    wsh_mutex_unlock(install_lock);
}
