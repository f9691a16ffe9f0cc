/* SPDX-License-Identifier: MIT */
/*
 * Death tests of the report options (issue 13, docs/reports.md): the "==wsheap==<pid>==" prefix
 * with the real pid, the SUMMARY line, WSHEAP_LOG_PATH (the file, its mode, and what is refused:
 * a symbolic link, a FIFO), WSHEAP_HALT_ON_ERROR=0 with three different errors in one run and
 * with one error repeated, WSHEAP_EXITCODE in both modes, WSHEAP_SUPPRESSIONS (by function,
 * by module, bad lines, halt mode), the crash reporter's callback, and reports while stderr is
 * closed; the statistics and leak report in WSHEAP_LOG_PATH's file, and "leak:" suppressions;
 * and wsheap-run's flags for them.
 * Each case runs tests/tools/report_program (or a forked child that becomes it) with
 * the options in its environment. White box only for the glob matcher and the parser of
 * suppression files, checked first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "death.h"
#include "guarded/spans.h"
#include "internal.h"
#include "report.h"
#include "suppress.h"

#define OUT_SIZE 65536
static char out[OUT_SIZE];
static char dir[256]; /* REPORT_WORK_DIR, emptied by setup */

/* --- Helpers ---------------------------------------------------------------------------------- */

/* Runs report_program MODE [ARG] with the NULL-terminated environment entries `env`; the output
 * keeps its pids (run_program_raw). */
static int run_raw(const char *mode, const char *arg, char *const env[], pid_t *pid)
{
    char *argv[] = {REPORT_PROGRAM, (char *)mode, (char *)arg, NULL};

    return run_program_raw(argv, env, out, sizeof out, pid);
}

static int run(const char *mode, const char *arg, char *const env[])
{
    char *argv[] = {REPORT_PROGRAM, (char *)mode, (char *)arg, NULL};

    return run_program(argv, env, out, sizeof out);
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void expect_exit(int status, int code, const char *text)
{
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != code)
        fail_with_output(text, "expected exit status %d, got wait status 0x%x", code, status);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    static char text[OUT_SIZE];
    size_t n;

    if (f == NULL) return NULL;
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    char cmd[1200];

    (void)state;
    snprintf(dir, sizeof dir, "%s", REPORT_WORK_DIR);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* --- The glob matcher and the suppression file's parser (white box) --------------------------- */

static void test_glob(void **state)
{
    (void)state;
    assert_true(wsh_glob_match("read_after_reset", "read_after_reset"));
    assert_false(wsh_glob_match("read_after_reset", "read_after_resets"));
    assert_true(wsh_glob_match("read_*", "read_after_reset"));
    assert_true(wsh_glob_match("*reset", "read_after_reset"));
    assert_true(wsh_glob_match("*_after_*", "read_after_reset"));
    assert_true(wsh_glob_match("*", ""));
    assert_true(wsh_glob_match("lib?sheap.so*", "libwsheap.so.0"));
    assert_true(wsh_glob_match("[a-c]x", "bx"));
    assert_false(wsh_glob_match("[!a-c]x", "bx"));
    assert_true(wsh_glob_match("[!a-c]x", "dx"));
    assert_true(wsh_glob_match("a\\*b", "a*b"));
    assert_false(wsh_glob_match("a\\*b", "axb"));
    assert_true(wsh_glob_match("[x", "[x")); /* unterminated bracket: a literal '[' */
    assert_false(wsh_glob_match("a*b*c", "abx"));
    assert_true(wsh_glob_match("a*b*c", "aXbYbZc"));
}

static char warnings[2048];

static void collect_warning(const char *message)
{
    strncat(warnings, message, sizeof warnings - strlen(warnings) - 2);
    strcat(warnings, "\n");
}

static void test_suppression_file(void **state)
{
    static const char text[] = "# third-party code\n"
                               "use-after-reset:read_after_reset\n"
                               "\n"
                               "  heap-buffer-overflow : lib*.so*  \n"
                               "no-such-kind:x\n"
                               "missing colon\n"
                               "leak:make_session\n"
                               "*:\n"
                               "*:any_*";

    (void)state;
    warnings[0] = '\0';
    assert_int_equal(wsh_suppress_parse(text, "test.supp", collect_warning), 4);
    assert_true(wsh_suppress_active());
    assert_int_equal(wsh_suppress_match("use-after-reset", "read_after_reset"), 2);
    assert_int_equal(wsh_suppress_match("heap-buffer-overflow", "libfoo.so.1"), 4);
    assert_int_equal(wsh_suppress_match("heap-buffer-underflow", "libfoo.so.1"), 0);
    assert_int_equal(wsh_suppress_match("leak", "make_session"), 7);
    assert_int_equal(wsh_suppress_match("corrupted-slack", "any_function"), 9); /* "*" */
    assert_int_equal(wsh_suppress_match("leak", "any_function"), 0); /* "*" is faults only */
    assert_non_null(strstr(warnings, "test.supp line 5: unknown kind"));
    assert_non_null(strstr(warnings, "test.supp line 6: not KIND:PATTERN"));
    assert_non_null(strstr(warnings, "test.supp line 8: empty pattern"));
    assert_int_equal(count(warnings, "\n"), 3);
    assert_int_equal(wsh_suppress_parse("", "empty", collect_warning), 0);
    assert_false(wsh_suppress_active());
}

/* --- The options, through the pure loader (white box) ----------------------------------------- */

static const char *const *fake_env; /* "NAME", "value" pairs, NULL-terminated */

static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; fake_env[i] != NULL; i += 2)
        if (strcmp(fake_env[i], name) == 0) return fake_env[i + 1];
    return NULL;
}

static void test_options(void **state)
{
    static const char *const none[] = {NULL};
    static const char *const good[] = {"WSHEAP_LOG_PATH",
                                       "/var/tmp/svc",
                                       "WSHEAP_REPORT_FORMAT",
                                       "json",
                                       "WSHEAP_HALT_ON_ERROR",
                                       "off",
                                       "WSHEAP_EXITCODE",
                                       "0",
                                       "WSHEAP_SUPPRESSIONS",
                                       "/etc/svc.supp",
                                       NULL};
    static const char *const bad[] = {"WSHEAP_LOG_PATH",
                                      "",
                                      "WSHEAP_REPORT_FORMAT",
                                      "JSON",
                                      "WSHEAP_HALT_ON_ERROR",
                                      "2",
                                      "WSHEAP_EXITCODE",
                                      "256",
                                      "WSHEAP_SUPPRESSIONS",
                                      "",
                                      NULL};
    struct wsh_options o;

    (void)state;
    fake_env = none;
    warnings[0] = '\0';
    wsh_options_load(fake_getenv, collect_warning, &o);
    assert_null(o.log_path);
    assert_false(o.report_json);
    assert_true(o.halt_on_error);
    assert_int_equal(o.exitcode, -1);
    assert_null(o.suppressions);
    assert_string_equal(warnings, "");

    fake_env = good;
    wsh_options_load(fake_getenv, collect_warning, &o);
    assert_string_equal(o.log_path, "/var/tmp/svc");
    assert_true(o.report_json);
    assert_false(o.halt_on_error);
    assert_int_equal(o.exitcode, 0);
    assert_string_equal(o.suppressions, "/etc/svc.supp");
    assert_string_equal(warnings, "");

    /* Each invalid value warns once and keeps its default. */
    fake_env = bad;
    wsh_options_load(fake_getenv, collect_warning, &o);
    assert_null(o.log_path);
    assert_false(o.report_json);
    assert_true(o.halt_on_error);
    assert_int_equal(o.exitcode, -1);
    assert_null(o.suppressions);
    assert_int_equal(count(warnings, "is not valid"), 5);
    assert_non_null(strstr(warnings, "WSHEAP_EXITCODE=\"256\" is not valid"));
}

/* --- The prefix and the SUMMARY line ---------------------------------------------------------- */

static void test_prefix_carries_the_pid(void **state)
{
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=0", NULL};
    char want[64];
    pid_t pid = 0;
    int status = run_raw("overflow", NULL, env, &pid);

    (void)state;
    expect_sigsegv(status, out);
    snprintf(want, sizeof want, "==wsheap==%d== ERROR: heap-buffer-overflow WRITE at 0x", (int)pid);
    expect_text(out, want);
    snprintf(want, sizeof want, "==wsheap==%d== ", (int)pid);
    /* Every line that starts with "==wsheap==" carries the pid. */
    for (const char *line = out; *line != '\0';) {
        const char *end = strchr(line, '\n');

        if (strncmp(line, "==wsheap==", 10) == 0 && strncmp(line, want, strlen(want)) != 0)
            fail_with_output(out, "a line without \"%s\"", want);
        if (end == NULL) break;
        line = end + 1;
    }
    assert_true(count(out, want) >= 4);
}

/* The last line of `text` (without its newline), copied into `line`. */
static const char *last_line(const char *text, char *line, size_t size)
{
    size_t n = strlen(text);
    const char *start;

    while (n > 0 && text[n - 1] == '\n')
        n--;
    start = text + n;
    while (start > text && start[-1] != '\n')
        start--;
    snprintf(line, size, "%.*s", (int)(text + n - start), start);
    return line;
}

static void test_summary_is_the_last_line(void **state)
{
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=1", NULL};
    char line[1024];

    (void)state;
    expect_sigsegv(run("overflow", NULL, env), out);
    last_line(out, line, sizeof line);
    /* The first frame outside wsheap: overflow_write, with its file and line. */
    if (strncmp(line, "SUMMARY: wsheap: heap-buffer-overflow ", 38) != 0 ||
        strstr(line, "report_program.c:") == NULL ||
        strcmp(line + strlen(line) - strlen(" in overflow_write"), " in overflow_write") != 0)
        fail_with_output(out, "last line: \"%s\"", line);

    /* Not symbolized: module+offset, as ASan prints it. */
    env[1] = "WSHEAP_SYMBOLIZE=0";
    expect_sigsegv(run("overflow", NULL, env), out);
    last_line(out, line, sizeof line);
    if (strncmp(line, "SUMMARY: wsheap: heap-buffer-overflow (", 39) != 0 ||
        strstr(line, "report_program+0x") == NULL)
        fail_with_output(out, "last line: \"%s\"", line);
}

/* --- WSHEAP_LOG_PATH -------------------------------------------------------------------------- */

static void test_log_path(void **state)
{
    char base[600], path[700], env_path[700], want[800];
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=0", env_path, NULL};
    struct stat st;
    pid_t pid = 0;
    const char *file;

    (void)state;
    snprintf(base, sizeof base, "%s/log", dir);
    snprintf(env_path, sizeof env_path, "WSHEAP_LOG_PATH=%s", base);
    expect_sigsegv(run_raw("overflow", NULL, env, &pid), out);
    snprintf(path, sizeof path, "%s.%d", base, (int)pid);
    /* stderr: one line saying where the report went, and no report. */
    snprintf(want, sizeof want, "==wsheap==%d== the heap-buffer-overflow report written to %s\n",
             (int)pid, path);
    if (strcmp(out, want) != 0) fail_with_output(out, "stderr is not just \"%s\"", want);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    file = read_file(path);
    assert_non_null(file);
    expect_text(file, "== ERROR: heap-buffer-overflow WRITE at 0x");
    expect_text(file, "== END\nSUMMARY: wsheap: heap-buffer-overflow (");
}

/* In a forked child: plants `what` at the child's own log file name, then becomes
 * report_program overflow with WSHEAP_LOG_PATH set. */
static const char *planted; /* "symlink" or "fifo" */

static void plant_and_overflow(void *arg)
{
    char path[700], target[700];
    char *argv[] = {REPORT_PROGRAM, "overflow", NULL};

    (void)arg;
    snprintf(path, sizeof path, "%s/planted.%d", dir, (int)getpid());
    snprintf(target, sizeof target, "%s/victim", dir);
    if (strcmp(planted, "symlink") == 0 && symlink(target, path) != 0) _exit(90);
    if (strcmp(planted, "fifo") == 0 && mkfifo(path, 0600) != 0) _exit(91);
    snprintf(path, sizeof path, "%s/planted", dir);
    setenv("WSHEAP_LOG_PATH", path, 1);
    setenv("WSHEAP_PAGEHEAP", "1", 1);
    setenv("WSHEAP_SYMBOLIZE", "0", 1);
    execv(argv[0], argv); /* exec keeps the pid: the planted name is the one it opens */
    _exit(127);
}

static void test_log_path_refuses_a_symlink(void **state)
{
    char victim[700];

    (void)state;
    planted = "symlink";
    expect_sigsegv(run_in_child(plant_and_overflow, NULL, out, sizeof out), out);
    expect_text(out, "== cannot write the heap-buffer-overflow report to ");
    expect_text(out, " (it is a symbolic link): writing it here\n");
    /* The report came to stderr instead, and nothing was written through the link. */
    expect_text(out, "== ERROR: heap-buffer-overflow WRITE at 0x");
    snprintf(victim, sizeof victim, "%s/victim", dir);
    assert_int_equal(access(victim, F_OK), -1);
}

static void test_log_path_refuses_a_fifo(void **state)
{
    (void)state;
    planted = "fifo"; /* with no reader: opening it for writing must not wait for one */
    expect_sigsegv(run_in_child(plant_and_overflow, NULL, out, sizeof out), out);
    expect_text(out, "== cannot write the heap-buffer-overflow report to ");
    expect_text(out, " (it is a FIFO or socket with no reader): writing it here\n");
    expect_text(out, "== ERROR: heap-buffer-overflow WRITE at 0x");
}

/* --- WSHEAP_HALT_ON_ERROR=0 and WSHEAP_EXITCODE ----------------------------------------------- */

static void test_keep_going_three_errors(void **state)
{
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=1", "WSHEAP_HALT_ON_ERROR=0", NULL};
    const char *a, *b, *c;

    (void)state;
    expect_exit(run("three", NULL, env), 1, out); /* the default exit status in this mode */
    a = strstr(out, "==wsheap== ERROR: heap-buffer-overflow WRITE at 0x");
    b = strstr(out, "==wsheap== ERROR: use-after-reset READ at 0x");
    c = strstr(out, "==wsheap== ERROR: corrupted-slack at 0x");
    if (a == NULL || b == NULL || c == NULL || !(a < b && b < c))
        fail_with_output(out, "not the three reports in order");
    assert_int_equal(count(out, "== ERROR: "), 3);
    assert_int_equal(count(out, "\nSUMMARY: wsheap: "), 3);
    expect_text(out, "SUMMARY: wsheap: heap-buffer-overflow ");
    expect_text(out, " in overflow_write\n");
    expect_text(out, " in read_after_reset\n");
    /* The slack was found by WsResetHeap, called from three(): the first frame outside. */
    expect_text(out, "SUMMARY: wsheap: corrupted-slack ");
    /* The program went on past all three, and the reset that found the slack finished. */
    expect_text(out, "report_program: survived\n");
    expect_text(out, "==wsheap== 3 errors reported (3 distinct, 0 suppressed)\n");
}

static void test_keep_going_exitcode(void **state)
{
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=0", "WSHEAP_HALT_ON_ERROR=0",
                   "WSHEAP_EXITCODE=42", NULL};

    (void)state;
    expect_exit(run("three", NULL, env), 42, out);
    expect_text(out, "report_program: survived\n");
}

static void test_keep_going_reports_a_repeat_once(void **state)
{
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=0", "WSHEAP_HALT_ON_ERROR=no", NULL};

    (void)state;
    expect_exit(run("repeat", "5", env), 1, out);
    assert_int_equal(count(out, "== ERROR: "), 1);
    expect_text(out, "==wsheap== 5 errors reported (1 distinct, 0 suppressed)\n");
}

static void test_halt_exitcode(void **state)
{
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=0", "WSHEAP_EXITCODE=9", NULL};

    (void)state;
    expect_exit(run("three", NULL, env), 9, out);
    assert_int_equal(count(out, "== ERROR: "), 1); /* halt: the first error ends it */
    expect_text(out, "SUMMARY: wsheap: heap-buffer-overflow (");
    if (strstr(out, "survived") != NULL) fail_with_output(out, "the program went on");
}

/* --- WSHEAP_SUPPRESSIONS ---------------------------------------------------------------------- */

static void test_suppressions_keep_going(void **state)
{
    char path[700], env_supp[800];
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=1", "WSHEAP_HALT_ON_ERROR=0", env_supp,
                   NULL};

    (void)state;
    snprintf(path, sizeof path, "%s/keep.supp", dir);
    write_file(path, "# the use after reset is a known bug\n"
                     "use-after-reset:read_after_*\n"
                     "bogus line\n");
    snprintf(env_supp, sizeof env_supp, "WSHEAP_SUPPRESSIONS=%s", path);
    expect_exit(run("three", NULL, env), 1, out);
    expect_text(out, "keep.supp line 3: not KIND:PATTERN");
    expect_text(out, "==wsheap== ERROR: heap-buffer-overflow WRITE");
    expect_text(out, "==wsheap== ERROR: corrupted-slack at 0x");
    if (strstr(out, "use-after-reset READ") != NULL) fail_with_output(out, "not suppressed");
    assert_int_equal(count(out, "== ERROR: "), 2);
    expect_text(out, "report_program: survived\n");
    expect_text(out, "==wsheap== 2 errors reported (2 distinct, 1 suppressed)\n");
}

static void test_suppression_by_module(void **state)
{
    char path[700], env_supp[800];
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=0", "WSHEAP_HALT_ON_ERROR=0", env_supp,
                   NULL};

    (void)state;
    snprintf(path, sizeof path, "%s/module.supp", dir);
    write_file(path, "*:report_prog*\n"); /* every fault kind, by the program's basename */
    snprintf(env_supp, sizeof env_supp, "WSHEAP_SUPPRESSIONS=%s", path);
    /* Everything suppressed: no error left to fail the run. */
    expect_exit(run("three", NULL, env), 0, out);
    assert_int_equal(count(out, "== ERROR: "), 0);
    expect_text(out, "==wsheap== 0 errors reported (0 distinct, 3 suppressed)\n");
}

static void test_suppression_in_halt_mode(void **state)
{
    char path[700], env_supp[800];
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=1", env_supp, NULL};

    (void)state;
    snprintf(path, sizeof path, "%s/halt.supp", dir);
    write_file(path, "heap-buffer-overflow:overflow_write\n");
    snprintf(env_supp, sizeof env_supp, "WSHEAP_SUPPRESSIONS=%s", path);
    expect_sigsegv(run("overflow", NULL, env), out);
    expect_text(out, "==wsheap== heap-buffer-overflow suppressed (WSHEAP_SUPPRESSIONS line 1); "
                     "the process ends without a report");
    assert_int_equal(count(out, "== ERROR: "), 0);
}

/* --- The crash reporter's callback ------------------------------------------------------------ */

static char callback_path[700];

static void callback_child(void *arg)
{
    char *argv[] = {REPORT_PROGRAM, "callback", NULL};
    int fd = open(callback_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    (void)arg;
    if (fd < 0 || dup2(fd, 3) != 3) _exit(90);
    setenv("WSHEAP_PAGEHEAP", "1", 1);
    setenv("WSHEAP_SYMBOLIZE", "0", 1);
    execv(argv[0], argv);
    _exit(127);
}

static void test_callback(void **state)
{
    static char copy[OUT_SIZE];
    const char *text, *json;
    size_t text_len = 0, json_len = 0;

    (void)state;
    snprintf(callback_path, sizeof callback_path, "%s/callback.out", dir);
    expect_sigsegv(run_in_child(callback_child, NULL, out, sizeof out), out);
    text = read_file(callback_path);
    assert_non_null(text);
    snprintf(copy, sizeof copy, "%s", text);
    /* "TEXT <n>\n<text>JSON <m>\n<json>" */
    assert_int_equal(sscanf(copy, "TEXT %zu", &text_len), 1);
    text = strchr(copy, '\n') + 1;
    json = text + text_len;
    assert_int_equal(sscanf(json, "JSON %zu", &json_len), 1);
    json = strchr(json, '\n') + 1;
    assert_int_equal(strlen(json), json_len);
    /* The text is the report on stderr, whole. */
    drop_report_pids(out);
    ((char *)text)[text_len] = '\0';
    drop_report_pids((char *)text);
    expect_text(out, text);
    expect_text(text, "== ERROR: heap-buffer-overflow WRITE at 0x");
    expect_text(text, "SUMMARY: wsheap: heap-buffer-overflow (");
    /* The JSON: one line, the schema first. */
    assert_true(strncmp(json, "{\"schema\":\"wsheap-report/1\",\"kind\":\"heap-buffer-overflow\"",
                        56) == 0);
    assert_int_equal(count(json, "\n"), 1);
    assert_true(json[json_len - 1] == '\n');
}

/* --- stderr closed ---------------------------------------------------------------------------- */

static bool with_log;

static void closed_stderr_child(void *arg)
{
    char *argv[] = {REPORT_PROGRAM, "overflow", NULL}, path[700];

    (void)arg;
    snprintf(path, sizeof path, "%s/closed", dir);
    if (with_log) setenv("WSHEAP_LOG_PATH", path, 1);
    setenv("WSHEAP_PAGEHEAP", "1", 1);
    setenv("WSHEAP_SYMBOLIZE", "0", 1);
    close(STDERR_FILENO);
    execv(argv[0], argv);
    _exit(127);
}

static void test_stderr_closed(void **state)
{
    char path[700];
    pid_t pid = 0;
    const char *file;
    int status;

    (void)state;
    /* No log file: the report is lost, the process still dies at once. */
    with_log = false;
    expect_sigsegv(run_in_child(closed_stderr_child, NULL, out, sizeof out), out);
    /* With one: the whole report is in it. */
    with_log = true;
    status = run_in_child_raw(closed_stderr_child, NULL, out, sizeof out, &pid);
    expect_sigsegv(status, out);
    snprintf(path, sizeof path, "%s/closed.%d", dir, (int)pid);
    file = read_file(path);
    if (file == NULL) fail_with_output(out, "no %s", path);
    expect_text(file, "== ERROR: heap-buffer-overflow WRITE at 0x");
    expect_text(file, "\nSUMMARY: wsheap: heap-buffer-overflow");
}

/* --- Keep-going mode inside the process (white box) ------------------------------------------- */

static WS_HEAP *guarded_heap(void)
{
    WS_HEAP *heap = NULL;

    if (WsCreateHeap(1 << 20, 0, NULL, 0, &heap, NULL) != S_OK) _exit(90);
    return heap;
}

static char *guarded_block(WS_HEAP *heap, size_t size)
{
    void *p = NULL;

    if (WsAlloc(heap, size, &p, NULL) != S_OK) _exit(91);
    return p;
}

WSH_NOINLINE void keep_going_write(volatile char *p, size_t at)
{
    p[at] = 'k';
}

/* After a recovered fault the opened page stays usable, and released spans are parked (kept
 * mapped) instead of unmapped, so that the program's stale pointer never lands in memory
 * mapped again for something else. Prints "parked N readable R" and exits 0 (_exit: the
 * keep-going total at exit is not what this checks). */
static void keep_going_keeps_spans(void *arg)
{
    struct wsh_guarded_stats st;
    WS_HEAP *heap;
    char *p, byte;

    (void)arg;
    setenv("WSHEAP_PAGEHEAP", "1", 1);
    setenv("WSHEAP_HALT_ON_ERROR", "0", 1);
    setenv("WSHEAP_SYMBOLIZE", "0", 1);
    heap = guarded_heap();
    p = guarded_block(heap, 24);

    keep_going_write(p, 24); /* the guard page: reported, opened, retried */
    keep_going_write(p, 25); /* the same page, now open: no fault, no report */
    byte = ((volatile char *)p)[25];
    WsFreeHeap(heap);               /* every span of the heap to the quarantine ... */
    wsh_guarded_flush_quarantine(); /* ... and out of it: parked, not unmapped */
    wsh_guarded_get_stats(&st);
    printf("parked %zu quarantined %zu byte %c\n", st.parked_spans, st.quarantined_spans, byte);
    fflush(stdout);
    _exit(0);
}

static void test_keep_going_keeps_spans_mapped(void **state)
{
    size_t parked = 0, quarantined = 1;
    const char *line;
    char byte = 0;

    (void)state;
    expect_exit(run_in_child(keep_going_keeps_spans, NULL, out, sizeof out), 0, out);
    assert_int_equal(count(out, "== ERROR: heap-buffer-overflow WRITE"), 1);
    line = strstr(out, "parked ");
    if (line == NULL ||
        sscanf(line, "parked %zu quarantined %zu byte %c", &parked, &quarantined, &byte) != 3)
        fail_with_output(out, "no \"parked\" line");
    if (parked == 0 || quarantined != 0 || byte != 'k')
        fail_with_output(out, "released spans were unmapped, or the page lost the write");
}

/* Two threads fault at once, at two places: two whole reports, one after the other (the
 * per-report lock), and the program goes on. */
static pthread_barrier_t both_ready;
static char *thread_blocks[2];

WSH_NOINLINE void keep_going_thread_write_a(volatile char *p)
{
    p[24] = 'a';
}

WSH_NOINLINE void keep_going_thread_write_b(volatile char *p)
{
    p[32] = 'b';
}

static void *fault_thread(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;

    pthread_barrier_wait(&both_ready);
    if (i == 0)
        keep_going_thread_write_a(thread_blocks[0]);
    else
        keep_going_thread_write_b(thread_blocks[1]);
    return NULL;
}

static void two_threads_fault(void *arg)
{
    pthread_t t[2];
    WS_HEAP *heaps[2];

    (void)arg;
    setenv("WSHEAP_PAGEHEAP", "1", 1);
    setenv("WSHEAP_HALT_ON_ERROR", "0", 1);
    setenv("WSHEAP_SYMBOLIZE", "0", 1);
    for (size_t i = 0; i < 2; i++) {
        heaps[i] = guarded_heap(); /* a heap per thread: heaps are not shared */
        thread_blocks[i] = guarded_block(heaps[i], i == 0 ? 24 : 32);
    }
    pthread_barrier_init(&both_ready, NULL, 2);
    for (size_t i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, fault_thread, (void *)(uintptr_t)i) != 0) _exit(92);
    for (size_t i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    puts("both threads went on");
    fflush(stdout);
    exit(0); /* the keep-going total and exit status 1 */
}

static void test_keep_going_two_threads(void **state)
{
    const char *a, *b, *end_a, *end_b;

    (void)state;
    expect_exit(run_in_child(two_threads_fault, NULL, out, sizeof out), 1, out);
    expect_text(out, "both threads went on\n");
    expect_text(out, "==wsheap== 2 errors reported (2 distinct, 0 suppressed)\n");
    assert_int_equal(count(out, "== ERROR: heap-buffer-overflow WRITE"), 2);
    /* Not interleaved: each report's END and SUMMARY come before the next report's ERROR. */
    a = strstr(out, "== ERROR: ");
    end_a = strstr(a, "== END\nSUMMARY: wsheap: heap-buffer-overflow");
    b = strstr(a + 1, "== ERROR: ");
    end_b = b != NULL ? strstr(b, "== END\nSUMMARY: wsheap: heap-buffer-overflow") : NULL;
    if (end_a == NULL || b == NULL || end_b == NULL || !(end_a < b))
        fail_with_output(out, "the two reports are interleaved or cut");
    if (count(a, "== access by thread") != 2 || count(a, "== block allocated by thread") != 2)
        fail_with_output(out, "a report lacks a section");
}

/* --- The statistics and the leak report ------------------------------------------------------- */

static void test_leaks_to_log_path_and_suppressed(void **state)
{
    char *argv[] = {LEAK_PROGRAM, "leak", NULL};
    char base[600], path[700], env_path[700], env_supp[800], supp[700];
    char *env[] = {"WSHEAP_LEAKS=1", "WSHEAP_STATS=1", "WSHEAP_SYMBOLIZE=1", env_path, NULL, NULL};
    pid_t pid = 0;
    const char *file;

    (void)state;
    snprintf(base, sizeof base, "%s/leaks", dir);
    snprintf(env_path, sizeof env_path, "WSHEAP_LOG_PATH=%s", base);
    expect_exit(run_program_raw(argv, env, out, sizeof out, &pid), 0, out);
    snprintf(path, sizeof path, "%s.%d", base, (int)pid);
    expect_text(out, "== the heap statistics written to ");
    expect_text(out, "== the leak report written to ");
    if (strstr(out, "LEAK") != NULL) fail_with_output(out, "the leak report is on stderr");
    file = read_file(path);
    if (file == NULL) fail_with_output(out, "no %s", path);
    expect_text(file, "== heap statistics by creation site (WSHEAP_STATS=1)");
    expect_text(file, "== LEAK: 2 heaps never freed");
    expect_text(file, " in make_session ");

    /* The leaks' site is suppressed by function name: counted, not listed, and the exit status
     * that WSHEAP_LEAKS_EXITCODE would set is left alone. */
    snprintf(supp, sizeof supp, "%s/leaks.supp", dir);
    write_file(supp, "leak:make_sess*\n");
    snprintf(env_supp, sizeof env_supp, "WSHEAP_SUPPRESSIONS=%s", supp);
    env[1] = "WSHEAP_LEAKS_EXITCODE=23";
    env[3] = env_supp;
    expect_exit(run_program(argv, env, out, sizeof out), 0, out);
    expect_text(out,
                "==wsheap== 2 heaps never freed not listed: suppressed (WSHEAP_SUPPRESSIONS)\n");
    if (strstr(out, "LEAK") != NULL) fail_with_output(out, "suppressed leaks are listed");
}

/* --- wsheap-run's flags ----------------------------------------------------------------------- */

static void test_wsheap_run_flags(void **state)
{
#ifdef WSHEAP_RUN
    char base[600], supp[700], path[700];
    char *argv[] = {WSHEAP_RUN,   "--keep-going", "--exitcode",     "3",  "--json-reports",
                    "--log-path", base,           "--suppressions", supp, "--no-symbolize",
                    "--",         REPORT_PROGRAM, "three",          NULL};
    char *env[] = {NULL};
    const char *file, *note;
    int pid = 0;

    (void)state;
    snprintf(base, sizeof base, "%s/run", dir);
    snprintf(supp, sizeof supp, "%s/run.supp", dir);
    write_file(supp, "corrupted-slack:*\n");
    expect_exit(run_program(argv, env, out, sizeof out), 3, out);
    expect_text(out, "report_program: survived\n");
    expect_text(out, "==wsheap== 2 errors reported (2 distinct, 1 suppressed)\n");
    /* The reports went to <base>.<pid>, as JSON: one line each. */
    note = strstr(out, "report written to ");
    if (note == NULL || sscanf(note, "report written to %*[^.].%d", &pid) != 1)
        fail_with_output(out, "no line saying where the report went");
    snprintf(path, sizeof path, "%s.%d", base, pid);
    file = read_file(path);
    if (file == NULL) fail_with_output(out, "no %s", path);
    assert_int_equal(count(file, "\n"), 2);
    assert_int_equal(count(file, "{\"schema\":\"wsheap-report/1\",\"kind\":"), 2);
    expect_text(file, "\"kind\":\"heap-buffer-overflow\"");
    expect_text(file, "\"kind\":\"use-after-reset\"");
#else
    (void)state;
    skip(); /* wsheap-run is built with WSHEAP_BUILD_TOOLS */
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_suppression_file),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_prefix_carries_the_pid),
        cmocka_unit_test(test_summary_is_the_last_line),
        cmocka_unit_test(test_log_path),
        cmocka_unit_test(test_log_path_refuses_a_symlink),
        cmocka_unit_test(test_log_path_refuses_a_fifo),
        cmocka_unit_test(test_keep_going_three_errors),
        cmocka_unit_test(test_keep_going_exitcode),
        cmocka_unit_test(test_keep_going_reports_a_repeat_once),
        cmocka_unit_test(test_keep_going_keeps_spans_mapped),
        cmocka_unit_test(test_keep_going_two_threads),
        cmocka_unit_test(test_halt_exitcode),
        cmocka_unit_test(test_suppressions_keep_going),
        cmocka_unit_test(test_suppression_by_module),
        cmocka_unit_test(test_suppression_in_halt_mode),
        cmocka_unit_test(test_callback),
        cmocka_unit_test(test_stderr_closed),
        cmocka_unit_test(test_leaks_to_log_path_and_suppressed),
        cmocka_unit_test(test_wsheap_run_flags),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
