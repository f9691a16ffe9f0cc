/* SPDX-License-Identifier: MIT */
/*
 * The WSHEAP_* environment: the only getenv in wsheap. Every variable is one row of
 * option_table, read once (pthread_once) on first use through secure_getenv, so setuid programs
 * ignore it. An invalid value prints one warning and keeps its default. No option names a file.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define MIB ((size_t)1 << 20)

/* Parses a whole decimal number in [lo, hi]; false for anything else. */
static bool parse_number(const char *text, unsigned long lo, unsigned long hi, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (text[0] < '0' || text[0] > '9') return false;
    v = strtoul(text, &end, 10);
    if (*end != '\0' || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_flag(const char *text, bool *out)
{
    unsigned long v;

    if (!parse_number(text, 0, 1, &v)) return false;
    *out = v == 1;
    return true;
}

static bool parse_pageheap(const char *text, struct wsh_options *o)
{
    bool on;

    if (!parse_flag(text, &on)) return false;
    o->backend = on ? WSH_BACKEND_GUARDED : WSH_BACKEND_ARENA;
    return true;
}

static bool parse_backward(const char *text, struct wsh_options *o)
{
    return parse_flag(text, &o->backward);
}

static bool parse_unaligned(const char *text, struct wsh_options *o)
{
    return parse_flag(text, &o->unaligned);
}

static bool parse_stack_depth(const char *text, struct wsh_options *o)
{
    unsigned long v;

    if (!parse_number(text, 0, 64, &v)) return false;
    o->stack_depth = (unsigned)v;
    return true;
}

static bool parse_quarantine(const char *text, struct wsh_options *o)
{
    unsigned long v;

    if (!parse_number(text, 0, 1024 * 1024, &v)) return false;
    o->quarantine_size = (size_t)v * MIB;
    return true;
}

static bool parse_symbolize(const char *text, struct wsh_options *o)
{
    return parse_flag(text, &o->symbolize);
}

static bool parse_verbose(const char *text, struct wsh_options *o)
{
    return parse_flag(text, &o->verbose);
}

static bool parse_help(const char *text, struct wsh_options *o)
{
    return parse_flag(text, &o->help);
}

static bool parse_stats(const char *text, struct wsh_options *o)
{
    return parse_flag(text, &o->stats);
}

static bool parse_leaks(const char *text, struct wsh_options *o)
{
    bool on;

    if (!parse_flag(text, &on)) return false;
    o->leaks = on;
    return true;
}

static bool parse_leaks_exitcode(const char *text, struct wsh_options *o)
{
    unsigned long v;

    if (!parse_number(text, 0, 255, &v)) return false;
    o->leaks_exitcode = (unsigned)v;
    return true;
}

/* Every WSHEAP_* variable, one row each; README.md's table mirrors WSHEAP_HELP=1 output. */
static const struct option_desc {
    const char *env;
    const char *help;
    bool (*parse)(const char *text, struct wsh_options *out); /* false: invalid */
} option_table[] = {
    {"WSHEAP_PAGEHEAP", "1: guarded backend for every heap created | 0: arena (default 0)",
     parse_pageheap},
    {"WSHEAP_PAGEHEAP_BACKWARD", "1: guard page before each block, to trap underruns (default 0)",
     parse_backward},
    {"WSHEAP_PAGEHEAP_UNALIGNED",
     "1: block flush against the guard page, no alignment, every overrun traps (default 0)",
     parse_unaligned},
    {"WSHEAP_STACK_DEPTH", "frames kept per allocation stack, 0..64 (default 16)",
     parse_stack_depth},
    {"WSHEAP_QUARANTINE_MB",
     "MiB of released guarded address space kept unused before reuse, 0..1048576 (default 1024)",
     parse_quarantine},
    {"WSHEAP_SYMBOLIZE", "1: add function and file:line to report frames via addr2line (default 1)",
     parse_symbolize},
    {"WSHEAP_STATS",
     "1: print heap statistics by creation site, with suggested sizes, at exit "
     "(default 0)",
     parse_stats},
    {"WSHEAP_LEAKS",
     "1: list the heaps never freed at exit | 0: don't (default 1 with WSHEAP_PAGEHEAP=1, else 0)",
     parse_leaks},
    {"WSHEAP_LEAKS_EXITCODE",
     "exit status when the leak report lists a heap, 0..255; 0 leaves it alone (default 0)",
     parse_leaks_exitcode},
    {"WSHEAP_VERBOSE", "1: print the options in effect on first use (default 0)", parse_verbose},
    {"WSHEAP_HELP", "1: print this table on first use (default 0)", parse_help},
};

#define N_OPTIONS (sizeof option_table / sizeof option_table[0])

void wsh_options_load(wsh_getenv_fn *get, wsh_warn_fn *warn, struct wsh_options *out)
{
    memset(out, 0, sizeof *out);
    out->backend = WSH_BACKEND_ARENA;
    out->stack_depth = 16;
    out->quarantine_size = 1024 * MIB;
    out->symbolize = true;
    out->leaks = -1; /* unset: follows the backend, below */

    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *text = get(option_table[i].env);
        char message[256];

        if (text == NULL || option_table[i].parse(text, out)) continue;
        snprintf(message, sizeof message, "%s=\"%.64s\" is not valid (%s); using the default",
                 option_table[i].env, text, option_table[i].help);
        warn(message);
    }
    if (out->leaks < 0) out->leaks = out->backend == WSH_BACKEND_GUARDED;
}

static void write_all(int fd, const char *text, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, text, n);

        if (w <= 0) return;
        text += w;
        n -= (size_t)w;
    }
}

void wsh_options_print_help(int fd)
{
    static const char head[] = "wsheap options (environment variables, read once):\n";

    write_all(fd, head, sizeof head - 1);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char line[256];
        int n =
            snprintf(line, sizeof line, "  %-26s %s\n", option_table[i].env, option_table[i].help);

        if (n > 0) write_all(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
}

static void print_in_effect(int fd, const struct wsh_options *o)
{
    char line[512];
    int n = snprintf(line, sizeof line,
                     "wsheap: options: backend=%s backward=%d unaligned=%d stack_depth=%u "
                     "quarantine_mb=%zu symbolize=%d stats=%d leaks=%d leaks_exitcode=%u\n",
                     o->backend == WSH_BACKEND_GUARDED ? "guarded" : "arena", o->backward,
                     o->unaligned, o->stack_depth, o->quarantine_size / MIB, o->symbolize, o->stats,
                     o->leaks, o->leaks_exitcode);

    if (n > 0) write_all(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static const char *env_lookup(const char *name)
{
    return secure_getenv(name);
}

static struct wsh_options process_options;
static pthread_once_t process_options_once = PTHREAD_ONCE_INIT;

static void load_process_options(void)
{
    wsh_options_load(env_lookup, wsh_warn, &process_options);
    if (process_options.help) wsh_options_print_help(STDERR_FILENO);
    if (process_options.verbose) print_in_effect(STDERR_FILENO, &process_options);
}

const struct wsh_options *wsh_options(void)
{
    pthread_once(&process_options_once, load_process_options);
    return &process_options;
}
