/* SPDX-License-Identifier: MIT */
/*
 * The SIGSEGV/SIGBUS handler. A fault in guarded memory is reported once, the default action
 * is restored, and the handler returns so that the access faults again and the process dies by
 * the signal. Any other fault goes to the handler that was installed before ours (ASan's, a
 * crash reporter's) exactly as it would have without wsheap. Runs on an alternate stack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "../os.h"
#include "guarded.h"

#define ALTSTACK_SIZE     ((size_t)64 << 10)
#define ALTSTACK_MIN_KEPT ((size_t)32 << 10) /* a thread's own alternate stack this big is kept */

atomic_bool wsh_report_symbolize;

static const int handled_signals[2] = {SIGSEGV, SIGBUS};
/* The handlers installed before ours, per handled_signals[i]; written under install_lock. */
static struct sigaction previous[2];
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int chaining_tid; /* the thread passing a fault on to `previous`, or 0 */

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

/* Passes a fault that is not ours to the previous handler, as the kernel would have. */
static void chain(int sig, siginfo_t *info, void *ucontext)
{
    const struct sigaction *p = &previous[signal_index(sig)];

    if (p->sa_flags & SA_SIGINFO) {
        if (p->sa_sigaction != NULL) {
            p->sa_sigaction(sig, info, ucontext);
            return;
        }
    } else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
        p->sa_handler(sig);
        return;
    } else if (p->sa_handler == SIG_IGN && info->si_code <= 0) {
        return; /* a signal sent by kill/raise, and ignored before we came */
    }
    /* SIG_DFL, or SIG_IGN for a real fault (which the kernel does not let a process ignore):
     * take the default action. A fault happens again on return; a sent signal is raised again
     * and delivered when the handler returns (it is blocked until then). */
    set_default(sig);
    if (info->si_code <= 0) raise(sig);
}

static void handler(int sig, siginfo_t *info, void *ucontext)
{
    int saved_errno = errno;

    /* si_code > 0: raised by the kernel for this access (not sent by kill or raise). */
    if (info->si_code > 0) {
        struct wsh_fault f;
        int access = 0;

        /* Announce ourselves before looking a span up, so that no span we may read is
         * unmapped meanwhile (see span_unmap_locked in guarded.c). */
        atomic_fetch_add_explicit(&wsh_handlers_active, 1, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
        if (sig == SIGSEGV) {
            /* x86-64 page-fault error code: bit 1 is set for a write. */
            greg_t err = ((ucontext_t *)ucontext)->uc_mcontext.gregs[REG_ERR];

            access = (err & 2) ? 2 : 1;
        }
        if (wsh_guarded_describe((uintptr_t)info->si_addr, access, &f)) {
            wsh_report(&f, ucontext,
                       atomic_load_explicit(&wsh_report_symbolize, memory_order_relaxed));
            set_default(sig);
            errno = saved_errno;
            return; /* the access faults again, now with the default action */
        }
        atomic_fetch_sub_explicit(&wsh_handlers_active, 1, memory_order_seq_cst);
    }
    {
        /* A handler installed after ours that chains back to ours (its "previous"), while ours,
         * reinstalled since, chains to it: the fault would go round for ever. The second time
         * round in the same thread, take the default action instead. */
        int tid = wsh_os_thread_id();

        if (atomic_load_explicit(&chaining_tid, memory_order_relaxed) == tid) {
            set_default(sig);
            if (info->si_code <= 0) raise(sig);
            errno = saved_errno;
            return;
        }
        atomic_store_explicit(&chaining_tid, tid, memory_order_relaxed);
        chain(sig, info, ucontext);
        atomic_store_explicit(&chaining_tid, 0, memory_order_relaxed);
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

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void lock_install(void)
{
    pthread_mutex_lock(&install_lock);
}

static void unlock_install(void)
{
    pthread_mutex_unlock(&install_lock);
}

/* A fork while another thread installs must not leave the child's install_lock held. */
static void register_atfork(void)
{
    pthread_atfork(lock_install, unlock_install, unlock_install);
}

void wsh_segv_install(void)
{
    thread_altstack();
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&install_lock);
    for (int i = 0; i < 2; i++) {
        struct sigaction cur, sa, old;

        if (sigaction(handled_signals[i], NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
            cur.sa_sigaction == handler)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = handler;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        /* Record the handler we replace before ours can run and chain to it. */
        previous[i] = cur;
        if (sigaction(handled_signals[i], &sa, &old) == 0) previous[i] = old;
    }
    pthread_mutex_unlock(&install_lock);
}

_Noreturn void wsh_die(void)
{
    sigset_t set;

    set_default(SIGSEGV);
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(SIGSEGV);
    _exit(128 + SIGSEGV); /* not reached */
}
