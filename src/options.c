/* SPDX-License-Identifier: MIT */
/*
 * The WSHEAP_* environment: the only getenv in wsheap. Every variable is one row of
 * option_table, read once (pthread_once) on first use through secure_getenv, so setuid programs
 * ignore it. An invalid value prints one warning and keeps its default; a WSHEAP_* name that is
 * neither an option nor one of the project's own test variables prints one warning, with the
 * nearest option's name when one is close. WSHEAP_HELP alone is also read when the library is
 * loaded (a constructor), so the table is printed even by a program that creates no heap.
 * Four options name a file: failure injection's record and log (WSHEAP_FAIL_RECORD,
 * WSHEAP_FAIL_LOG), the reports' file (WSHEAP_LOG_PATH) and the suppressions (WSHEAP_SUPPRESSIONS).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "internal.h"
#include "out.h"

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

/* A boolean: 1/0, yes/no, true/false or on/off, in any case, nothing around it. */
static bool parse_flag(const char *text, bool *out)
{
    static const char *const words[][2] = {
        {"1", "0"}, {"yes", "no"}, {"true", "false"}, {"on", "off"}};

    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        for (size_t v = 0; v < 2; v++) {
            if (strcasecmp(text, words[i][v]) == 0) {
                *out = v == 0;
                return true;
            }
        }
    }
    return false;
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

static bool parse_sample_bytes(const char *text, struct wsh_options *o)
{
    unsigned long v;

    if (!parse_number(text, 0, 1ul << 40, &v)) return false;
    o->sample_bytes = (size_t)v;
    return true;
}

static bool parse_sample_slots(const char *text, struct wsh_options *o)
{
    unsigned long v;

    if (!parse_number(text, 1, 65536, &v)) return false;
    o->sample_slots = (unsigned)v;
    return true;
}

static bool parse_sample_rounds(const char *text, struct wsh_options *o)
{
    unsigned long v;

    if (!parse_number(text, 0, 1ul << 30, &v)) return false;
    o->sample_rounds = (unsigned)v;
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

/* WSHEAP_FAIL_AT: N, alloc:N or create:N, N >= 1. */
static bool parse_fail_at(const char *text, struct wsh_options *o)
{
    static const struct {
        const char *prefix;
        enum wsh_fail_calls calls;
    } kinds[] = {{"alloc:", WSH_FAIL_CALLS_ALLOC}, {"create:", WSH_FAIL_CALLS_CREATE}};
    enum wsh_fail_calls calls = WSH_FAIL_CALLS_ALL;
    unsigned long v;

    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].prefix);

        if (strncmp(text, kinds[i].prefix, n) == 0) {
            text += n;
            calls = kinds[i].calls;
        }
    }
    if (!parse_number(text, 1, ULONG_MAX, &v)) return false;
    o->fail.at = v;
    o->fail.at_calls = calls;
    return true;
}

/* WSHEAP_FAIL_SITE: a site id, exactly 16 hexadecimal digits. */
static bool parse_fail_site(const char *text, struct wsh_options *o)
{
    uint64_t v = 0;
    size_t n = 0;

    for (; isxdigit((unsigned char)text[n]); n++)
        v = v << 4 | (uint64_t)(isdigit((unsigned char)text[n])
                                    ? text[n] - '0'
                                    : tolower((unsigned char)text[n]) - 'a' + 10);
    if (n != 16 || text[n] != '\0') return false;
    o->fail.site = v;
    o->fail.site_set = true;
    return true;
}

static bool parse_fail_kind(const char *text, struct wsh_options *o)
{
    if (strcmp(text, "oom") != 0 && strcmp(text, "quota") != 0) return false;
    o->fail.quota = text[0] == 'q';
    return true;
}

static bool parse_fail_persistent(const char *text, struct wsh_options *o)
{
    return parse_flag(text, &o->fail.persistent);
}

/* A file name: anything not empty. */
static bool parse_fail_record(const char *text, struct wsh_options *o)
{
    if (text[0] == '\0') return false;
    o->fail.record = text;
    return true;
}

static bool parse_fail_log(const char *text, struct wsh_options *o)
{
    if (text[0] == '\0') return false;
    o->fail.log = text;
    return true;
}

static bool parse_log_path(const char *text, struct wsh_options *o)
{
    if (text[0] == '\0') return false;
    o->log_path = text;
    return true;
}

static bool parse_report_format(const char *text, struct wsh_options *o)
{
    if (strcmp(text, "text") != 0 && strcmp(text, "json") != 0) return false;
    o->report_json = text[0] == 'j';
    return true;
}

static bool parse_halt_on_error(const char *text, struct wsh_options *o)
{
    return parse_flag(text, &o->halt_on_error);
}

static bool parse_exitcode(const char *text, struct wsh_options *o)
{
    unsigned long v;

    if (!parse_number(text, 0, 255, &v)) return false;
    o->exitcode = (int)v;
    return true;
}

static bool parse_suppressions(const char *text, struct wsh_options *o)
{
    if (text[0] == '\0') return false;
    o->suppressions = text;
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
    {"WSHEAP_FAIL_AT",
     "N, alloc:N or create:N: the N-th WsAlloc/WsCreateHeap call, or of one of them, fails "
     "(default none)",
     parse_fail_at},
    {"WSHEAP_FAIL_SITE",
     "16 hex digits: the first call from that call site fails (ids: WSHEAP_FAIL_RECORD) "
     "(default none)",
     parse_fail_site},
    {"WSHEAP_FAIL_KIND",
     "oom: injected failures are E_OUTOFMEMORY | quota: WS_E_QUOTA_EXCEEDED, WsAlloc only "
     "(default oom)",
     parse_fail_kind},
    {"WSHEAP_FAIL_PERSISTENT",
     "1: every later call of the failed kind fails too | 0: that call only (default 0)",
     parse_fail_persistent},
    {"WSHEAP_FAIL_RECORD", "file: at exit, write every call site seen, with its id (default none)",
     parse_fail_record},
    {"WSHEAP_FAIL_LOG", "file: append each injected failure, with its stack (default none)",
     parse_fail_log},
    {"WSHEAP_LOG_PATH",
     "path P: write each report, statistics and leak report to P.PID instead of stderr "
     "(default none)",
     parse_log_path},
    {"WSHEAP_REPORT_FORMAT", "text | json: one JSON object per report, on one line (default text)",
     parse_report_format},
    {"WSHEAP_HALT_ON_ERROR",
     "1: the first error ends the process | 0: report each distinct error once and go on "
     "(default 1)",
     parse_halt_on_error},
    {"WSHEAP_EXITCODE",
     "exit status after an error, 0..255 (default: death by SIGSEGV; 1 with "
     "WSHEAP_HALT_ON_ERROR=0)",
     parse_exitcode},
    {"WSHEAP_SUPPRESSIONS", "file of KIND:PATTERN lines: errors not to report (default none)",
     parse_suppressions},
    {"WSHEAP_SAMPLE_BYTES",
     "N: arena heaps put about 1 block per N bytes allocated on guard pages (random intervals, "
     "mean N); 0: off (default 0)",
     parse_sample_bytes},
    {"WSHEAP_SAMPLE_SLOTS",
     "live sampled blocks in the process, 1..65536; when full, samples are skipped (default 64)",
     parse_sample_slots},
    {"WSHEAP_SAMPLE_ROUNDS",
     "N: about 1 round in N of each arena heap goes on guard pages whole (random); 0: off "
     "(default 0)",
     parse_sample_rounds},
    {"WSHEAP_VERBOSE", "1: print the options in effect on first use (default 0)", parse_verbose},
    {"WSHEAP_HELP", "1: print this table when the library is loaded (default 0)", parse_help},
};

#define N_OPTIONS (sizeof option_table / sizeof option_table[0])

/* WSHEAP_* variables that are not options but that the project's own tests and tools read
 * (tests/fuzz/fuzz_api.c, tests/test_track.c, tools/run-tests.sh): no warning for them. */
static const char *const known_non_options[] = {"WSHEAP_FUZZ_UNTRACKED", "WSHEAP_FUZZ_SECONDS",
                                                "WSHEAP_TEST_GDB"};

#define N_NON_OPTIONS (sizeof known_non_options / sizeof known_non_options[0])

void wsh_options_load(wsh_getenv_fn *get, wsh_warn_fn *warn, struct wsh_options *out)
{
    memset(out, 0, sizeof *out);
    out->backend = WSH_BACKEND_ARENA;
    out->stack_depth = 16;
    out->quarantine_size = 1024 * MIB;
    out->symbolize = true;
    out->leaks = -1; /* unset: follows the backend, below */
    out->halt_on_error = true;
    out->exitcode = -1;
    out->sample_slots = 64;

    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *text = get(option_table[i].env);
        char message[256];

        if (text == NULL || option_table[i].parse(text, out)) continue;
        snprintf(message, sizeof message, "%s=\"%.64s\" is not valid (%s); using the default",
                 option_table[i].env, text, option_table[i].help);
        warn(message);
    }
    if (out->leaks < 0) out->leaks = out->backend == WSH_BACKEND_GUARDED;
    out->inject = out->fail.at != 0 || out->fail.site_set || out->fail.record != NULL;
    out->create_extras = out->stats || out->leaks || out->inject || out->sample_bytes != 0 ||
                         out->sample_rounds != 0;
}

/* The length of the name in the environment entry `entry` ("NAME=VALUE", or a bare NAME). */
static size_t name_length(const char *entry)
{
    const char *eq = strchr(entry, '=');

    return eq != NULL ? (size_t)(eq - entry) : strlen(entry);
}

static bool is_name(const char *name, const char *entry, size_t n)
{
    return strlen(name) == n && strncmp(name, entry, n) == 0;
}

/* Levenshtein distance between a[0..na) and b, ignoring case; names longer than 63 bytes count
 * as far from everything. */
static size_t edit_distance(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b), row[64];

    if (na >= 64 || nb >= 64) return SIZE_MAX;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diagonal = row[0];

        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t above = row[j];
            size_t cost = toupper((unsigned char)a[i - 1]) != toupper((unsigned char)b[j - 1]);
            size_t best = diagonal + cost;

            if (above + 1 < best) best = above + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[nb];
}

void wsh_options_check_names(const char *const *env, wsh_warn_fn *warn)
{
    static const size_t prefix = sizeof "WSHEAP_" - 1;

    for (size_t k = 0; env != NULL && env[k] != NULL; k++) {
        const char *entry = env[k];
        size_t n = name_length(entry), best_distance = SIZE_MAX;
        const char *best = NULL;
        bool known = false;
        char message[256];

        if (n <= prefix || strncmp(entry, "WSHEAP_", prefix) != 0) continue;
        for (size_t i = 0; i < N_OPTIONS && !known; i++)
            known = is_name(option_table[i].env, entry, n);
        for (size_t i = 0; i < N_NON_OPTIONS && !known; i++)
            known = is_name(known_non_options[i], entry, n);
        for (size_t j = 0; j < k && !known; j++) /* a name set twice: one warning */
            known = name_length(env[j]) == n && strncmp(env[j], entry, n) == 0;
        if (known) continue;
        for (size_t i = 0; i < N_OPTIONS; i++) {
            size_t d = edit_distance(entry, n, option_table[i].env);

            if (d < best_distance) {
                best_distance = d;
                best = option_table[i].env;
            }
        }
        /* Close enough: at most 3 edits, and at most a third of the letters after WSHEAP_. */
        if (best_distance <= 3 && 3 * best_distance <= n - prefix)
            snprintf(message, sizeof message, "unknown variable %.*s (did you mean %s?)", (int)n,
                     entry, best);
        else
            snprintf(message, sizeof message,
                     "unknown variable %.*s (WSHEAP_HELP=1 lists the options)",
                     (int)(n < 64 ? n : 64), entry);
        warn(message);
    }
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

/* Writes the option table, one "NAME  help" line per variable, to `fd`. */
static void print_help(int fd)
{
    static const char head[] = "wsheap options (environment variables, read once):\n"
                               "flags take 1/0, yes/no, true/false or on/off\n";

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
    char line[1024], prefix[WSH_PREFIX_MAX];
    int n;

    wsh_format_prefix(prefix);
    n = snprintf(line, sizeof line,
                 "%soptions: backend=%s backward=%d unaligned=%d stack_depth=%u "
                 "quarantine_mb=%zu symbolize=%d stats=%d leaks=%d leaks_exitcode=%u "
                 "fail_at=%s%llu fail_site=%016llx%s fail_kind=%s fail_persistent=%d "
                 "log_path=%s report_format=%s halt_on_error=%d exitcode=%d "
                 "suppressions=%s sample_bytes=%zu sample_slots=%u sample_rounds=%u\n",
                 prefix, o->backend == WSH_BACKEND_GUARDED ? "guarded" : "arena", o->backward,
                 o->unaligned, o->stack_depth, o->quarantine_size / MIB, o->symbolize, o->stats,
                 o->leaks, o->leaks_exitcode,
                 o->fail.at_calls == WSH_FAIL_CALLS_ALLOC    ? "alloc:"
                 : o->fail.at_calls == WSH_FAIL_CALLS_CREATE ? "create:"
                                                             : "",
                 (unsigned long long)o->fail.at, (unsigned long long)o->fail.site,
                 o->fail.site_set ? "" : "(none)", o->fail.quota ? "quota" : "oom",
                 o->fail.persistent, o->log_path != NULL ? o->log_path : "(none)",
                 o->report_json ? "json" : "text", o->halt_on_error, o->exitcode,
                 o->suppressions != NULL ? o->suppressions : "(none)", o->sample_bytes,
                 o->sample_slots, o->sample_rounds);

    if (n > 0) write_all(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static const char *env_lookup(const char *name)
{
    return secure_getenv(name);
}

extern char **environ;

static struct wsh_options process_options;
static pthread_once_t process_options_once = PTHREAD_ONCE_INIT;
static bool help_printed; /* by print_help_at_load: the first use does not print it again */
static char record_path[4096], log_path[4096]; /* the process's WSHEAP_FAIL_RECORD and _LOG */
static char report_path[4096], suppressions_path[4096]; /* WSHEAP_LOG_PATH, _SUPPRESSIONS */

/* Points *path at a copy of itself in `buf`, so that the program's later setenv or putenv
 * cannot change it; a name too long for `buf` is dropped with a warning. */
static void keep_path(const char **path, char *buf, size_t size, const char *env)
{
    char message[256];

    if (*path == NULL) return;
    if (strlen(*path) < size) {
        *path = strcpy(buf, *path);
        return;
    }
    snprintf(message, sizeof message, "%s is longer than %zu bytes; ignored", env, size - 1);
    wsh_warn(message);
    *path = NULL;
}

static void load_process_options(void)
{
    wsh_options_load(env_lookup, wsh_warn, &process_options);
    keep_path(&process_options.fail.record, record_path, sizeof record_path, "WSHEAP_FAIL_RECORD");
    keep_path(&process_options.fail.log, log_path, sizeof log_path, "WSHEAP_FAIL_LOG");
    keep_path(&process_options.log_path, report_path, sizeof report_path, "WSHEAP_LOG_PATH");
    keep_path(&process_options.suppressions, suppressions_path, sizeof suppressions_path,
              "WSHEAP_SUPPRESSIONS");
    process_options.inject = process_options.fail.at != 0 || process_options.fail.site_set ||
                             process_options.fail.record != NULL;
    if (getauxval(AT_SECURE) == 0) wsh_options_check_names((const char *const *)environ, wsh_warn);
    if (process_options.help && !help_printed) print_help(STDERR_FILENO);
    if (process_options.verbose) print_in_effect(STDERR_FILENO, &process_options);
}

/* WSHEAP_HELP=1 prints the table as the library is loaded, whether or not the program ever
 * creates a heap. Only WSHEAP_HELP is read here: the other options are read on first use, so a
 * program may still set them (setenv) before its first heap. An invalid value is left to the
 * first use to report. */
__attribute__((constructor)) static void print_help_at_load(void)
{
    const char *text = secure_getenv("WSHEAP_HELP");
    bool on;

    if (text == NULL || !parse_flag(text, &on) || !on) return;
    print_help(STDERR_FILENO);
    help_printed = true;
}

const struct wsh_options *wsh_options(void)
{
    pthread_once(&process_options_once, load_process_options);
    return &process_options;
}
