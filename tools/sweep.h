/* SPDX-License-Identifier: MIT */
/*
 * The failure-path sweep of wsheap-run (--fail-sweep): what wsheap-run.c's command line hands to
 * tools/sweep.c. The sweep runs the program once to record its call sites of WsAlloc and
 * WsCreateHeap, then once per site and failure kind with that one call made to fail, and
 * classifies each run. It uses only the library's WSHEAP_FAIL_* variables, WSHEAP_LEAKS and the
 * program's exit status, signals and standard error.
 */
#ifndef WSHEAP_TOOLS_SWEEP_H
#define WSHEAP_TOOLS_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

#define SWEEP_KIND_OOM    1u
#define SWEEP_KIND_QUOTA  2u
#define SWEEP_MAX_OK      32
#define SWEEP_EXIT_FAILED 1 /* a run crashed, hung, leaked, reported or (strict) misexited */
#define SWEEP_EXIT_SETUP  2 /* no sites recorded, or the baseline run did not end normally */

struct sweep_config {
    char **argv;                 /* the program and its arguments */
    const char *const *settings; /* wsheap-run's other "WSHEAP_X=V" settings (already in the
                                    environment), repeated in the replay commands */
    size_t n_settings;
    unsigned kinds;         /* SWEEP_KIND_* bits; WsCreateHeap sites are run with oom only */
    bool persistent;        /* also a persistent run per site and kind */
    bool strict_status;     /* an exit status other than the baseline's or ok_status fails */
    unsigned jobs;          /* runs at once, >= 1 */
    unsigned timeout;       /* seconds per run, >= 1 */
    const char *stdin_path; /* every run's standard input (NULL: /dev/null) */
    const char *json_path;  /* NULL: no JSON */
    int ok_status[SWEEP_MAX_OK];
    size_t n_ok_status;
};

/* Runs the sweep `config` describes, prints the table on standard output (progress on standard
 * error when it is a terminal) and returns wsheap-run's exit status: 0 when every run is
 * handled or not reached, SWEEP_EXIT_FAILED when one is not, SWEEP_EXIT_SETUP when there is
 * nothing to sweep or the sweep cannot run. */
int sweep_run(const struct sweep_config *config);

#endif
