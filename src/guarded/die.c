/* SPDX-License-Identifier: MIT */
/*
 * The guarded backend's death after a report made outside a fault (corrupted slack found at
 * reset, concurrent use) or during one (a second fault in the report writer): the process dies
 * by SIGSEGV, as it would have on a guard page, so that scripts and test harnesses see one way
 * of dying; or, with WSHEAP_EXITCODE set, exits with that status. Async-signal-safe. Kept apart
 * from segv.c so that the report writer and the ops can die without depending on the signal
 * handler, which depends on them.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "guarded.h"
#include "report.h"

_Noreturn void wsh_die(void)
{
    struct sigaction sa;
    sigset_t set;

    if (wsh_report_config.exitcode >= 0) _exit(wsh_report_config.exitcode); /* WSHEAP_EXITCODE */

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(SIGSEGV);
    _exit(128 + SIGSEGV); /* not reached */
}
