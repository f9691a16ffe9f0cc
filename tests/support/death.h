/* SPDX-License-Identifier: MIT */
/*
 * Death tests: run a function in a forked child and capture what it writes to stderr. cmocka
 * installs its own SIGSEGV handler around every test, so a test that expects a crash must let
 * a child crash instead, and the child must set wsheap's handler up itself (creating a guarded
 * heap in the child does).
 */
#ifndef WSH_TEST_DEATH_H
#define WSH_TEST_DEATH_H

#include <stddef.h>
#include <sys/types.h>

/* Forks; the child runs fn(arg) with stderr (and stdout) going into a pipe, then exits 0 if fn
 * returns. The parent collects the output into buf (NUL-terminated, cut at buf_size - 1) and
 * returns the child's wait status, or -1 when the fork failed. A child still running after 60
 * seconds is killed with SIGKILL. Every "==wsheap==<pid>==" in the output becomes "==wsheap=="
 * (drop_report_pids), so that expectations read "==wsheap== ERROR: ..."; run_in_child_raw
 * keeps the output as written and gives the child's pid. */
int run_in_child(void (*fn)(void *arg), void *arg, char *buf, size_t buf_size);
int run_in_child_raw(void (*fn)(void *arg), void *arg, char *buf, size_t buf_size, pid_t *pid_out);

/* Rewrites every "==wsheap==<digits>==" of `text` in place as "==wsheap=="; returns the new
 * length. */
size_t drop_report_pids(char *text);

/* Runs argv (argv[0] is a path) in a child with the extra environment entries `env` (NULL or a
 * NULL-terminated list of "NAME=value") added to this process's; captures stdout and stderr
 * like run_in_child (run_program_raw: as run_in_child_raw). Returns the wait status, or -1. */
int run_program(char *const argv[], char *const env[], char *buf, size_t buf_size);
int run_program_raw(char *const argv[], char *const env[], char *buf, size_t buf_size,
                    pid_t *pid_out);

#endif
