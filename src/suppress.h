/* SPDX-License-Identifier: MIT */
/*
 * Suppressions (WSHEAP_SUPPRESSIONS=FILE, docs/reports.md): errors not to report. The file has
 * one rule per line, KIND:PATTERN, where KIND is a report kind (heap-buffer-overflow,
 * use-after-reset, ...), "*" for every fault kind, or "leak" for the leak report, and PATTERN
 * a glob (*, ?, [set], [!set], as fnmatch without flags) matched against the function names and
 * module basenames of a report's stacks; '#' starts a comment line. The file is parsed once,
 * outside any signal handler; matching is async-signal-safe (no fnmatch, whose locale handling
 * is not).
 */
#ifndef WSH_SUPPRESS_H
#define WSH_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/* Parses the process's WSHEAP_SUPPRESSIONS file, once (pthread_once); each bad line, and a file
 * that cannot be read, prints a warning naming the file and line. Thread-safe; not
 * async-signal-safe. */
void wsh_suppress_load(void);

/* Pure: parses the rules in `text` (a whole file), replacing those loaded; `file` names it in
 * the warnings sent to `warn`. Returns the number of rules kept. For wsh_suppress_load and the
 * tests. */
size_t wsh_suppress_parse(const char *text, const char *file, wsh_warn_fn *warn);

/* True when at least one rule is loaded. Async-signal-safe. */
bool wsh_suppress_active(void);

/* The line number of the first rule for `kind` (a fault kind matches "*" rules too; "leak"
 * matches only leak rules) whose pattern matches `name` whole; 0 when none does.
 * Async-signal-safe. */
unsigned wsh_suppress_match(const char *kind, const char *name);

/* Pure: whether `pattern` (the glob syntax above) matches all of `name`. Async-signal-safe. */
bool wsh_glob_match(const char *pattern, const char *name);

#endif
