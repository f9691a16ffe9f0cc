/* SPDX-License-Identifier: MIT */
/*
 * wsheap-run --fail-sweep: the failure-path sweep (see sweep.h and man wsheap-run). A baseline
 * run records the program's call sites (WSHEAP_FAIL_RECORD) and its leak report; then one run
 * per site, kind and persistence makes that site's first call fail (WSHEAP_FAIL_SITE/KIND/
 * PERSISTENT), up to `jobs` at once, each in a process group of its own killed at the time
 * limit, with its output and its WSHEAP_FAIL_LOG in a private temporary directory. Each run is
 * classified (handled, crash, hang, leak, report, bad status, not reached) and the table printed,
 * with a shell command that replays the run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sweep.h"

#define GDB_FRAMES      6 /* frames of the crash's stack shown */
#define INJECTED_FRAMES 6 /* frames of the injected failure's stack shown */

enum outcome {
    OUTCOME_HANDLED,
    OUTCOME_NOT_REACHED,
    OUTCOME_BAD_STATUS, /* --strict-status */
    OUTCOME_LEAK,
    OUTCOME_REPORT,
    OUTCOME_CRASH,
    OUTCOME_HANG,
};

static const char *const outcome_names[] = {"handled", "not reached", "bad status", "leak",
                                            "report",  "crash",       "hang"};

/* One line of the baseline's record: `site ID alloc|create CALLS FUNCTION LOCATION`. */
struct site {
    char *id, *op, *function, *location;
    unsigned long calls;
};

/* The heaps a leak report lists, by creation stack (the frames without their addresses). */
struct leak {
    char *stack, *where; /* `where`: the first frame's "FUNC FILE:LINE" */
    unsigned long heaps;
};

struct leaks {
    struct leak *v;
    size_t n;
};

/* One run of the program (or of gdb on it). */
struct job {
    const struct site *site; /* NULL: the baseline */
    const char *kind;        /* "oom" or "quota" */
    bool persistent, gdb;
    pid_t pid;
    struct timespec start;
    bool started, timed_out, done;
    int status;
    char *out, *err, *log; /* temporary files */
    enum outcome outcome;
    char *detail;       /* the outcome's one-line explanation */
    char *injected;     /* the injected failure's stack, from the log */
    char *crash;        /* the crash's stack, from gdb */
    char *replay;       /* the shell command that replays this run */
    struct job *gdb_of; /* gdb jobs: the run it reruns */
};

struct sweep {
    const struct sweep_config *config;
    char dir[PATH_MAX]; /* the temporary directory */
    char *record;
    struct site *sites;
    size_t n_sites;
    struct leaks baseline_leaks;
    int baseline_status;
    bool tty;
};

/* The process groups running now, killed when wsheap-run is interrupted. */
static pid_t running[256];
static volatile sig_atomic_t n_running_slots;

static void kill_running(int sig)
{
    for (sig_atomic_t i = 0; i < n_running_slots; i++)
        if (running[i] > 0) kill(-running[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* --- Small helpers ---------------------------------------------------------------------------- */

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL) {
        fputs("wsheap-run: out of memory\n", stderr);
        exit(SWEEP_EXIT_SETUP);
    }
    return p;
}

__attribute__((format(printf, 1, 2))) static char *xprintf(const char *fmt, ...)
{
    va_list ap;
    char *text;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("wsheap-run: out of memory\n", stderr);
        exit(SWEEP_EXIT_SETUP);
    }
    return text;
}

static char *xstrdup(const char *text)
{
    return xprintf("%s", text);
}

/* Appends `text` and a newline to *buf (allocated; NULL is empty). */
static void append_line(char **buf, const char *text)
{
    char *grown = xprintf("%s%s\n", *buf != NULL ? *buf : "", text);

    free(*buf);
    *buf = grown;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void strip_newline(char *line)
{
    size_t n = strlen(line);

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
}

/* Rewrites a line of wsheap's, "==wsheap==<pid>== ...", as "==wsheap== ..." in place. */
static void drop_pid(char *line)
{
    size_t d = 10;

    if (strncmp(line, "==wsheap==", 10) != 0) return;
    while (line[d] >= '0' && line[d] <= '9')
        d++;
    if (d > 10 && line[d] == '=' && line[d + 1] == '=')
        memmove(line + 10, line + d + 2, strlen(line + d + 2) + 1);
}

/* `word` quoted for a POSIX shell: as is when it needs no quoting, else in single quotes. */
static char *shell_quote(const char *word)
{
    size_t n = 3;
    char *out, *o;

    if (word[0] != '\0' && strspn(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789_-+=/.,:@%") == strlen(word))
        return xstrdup(word);
    for (const char *c = word; *c; c++)
        n += *c == '\'' ? 4 : 1;
    o = out = xcalloc(n, 1);
    *o++ = '\'';
    for (const char *c = word; *c; c++) {
        if (*c == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *c;
        }
    }
    *o = '\'';
    return out;
}

/* True when `name` is an executable file in PATH. */
static bool in_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];

    for (const char *p = path != NULL ? path : "/usr/bin:/bin"; *p;) {
        size_t len = strcspn(p, ":");

        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, len ? p : ".", name);
        if (access(buf, X_OK) == 0) return true;
        p += len + (p[len] == ':');
    }
    return false;
}

/* --- Reading the record, the log and the leak report ------------------------------------------ */

/* Reads the baseline's WSHEAP_FAIL_RECORD file into s->sites. */
static void read_record(struct sweep *s)
{
    FILE *f = fopen(s->record, "r");
    char *line = NULL, *save;
    size_t cap = 0, alloc = 0;

    if (f == NULL) return;
    while (getline(&line, &cap, f) > 0) {
        char *w[6];
        int n = 0;

        strip_newline(line);
        for (char *t = strtok_r(line, " ", &save); t != NULL && n < 6;
             t = strtok_r(NULL, " ", &save))
            w[n++] = t;
        if (n != 6 || strcmp(w[0], "site") != 0) continue;
        if (s->n_sites == alloc) {
            struct site *grown =
                realloc(s->sites, (alloc = alloc ? alloc * 2 : 16) * sizeof *grown);

            if (grown == NULL) break;
            s->sites = grown;
        }
        s->sites[s->n_sites++] = (struct site){xstrdup(w[1]), xstrdup(w[2]), xstrdup(w[4]),
                                               xstrdup(w[5]), strtoul(w[3], NULL, 10)};
    }
    free(line);
    fclose(f);
}

/* Reads the run's WSHEAP_FAIL_LOG: true when a failure was injected, with its stack's first
 * frames (addresses dropped) in job->injected. */
static bool read_injected(struct job *job)
{
    FILE *f = fopen(job->log, "r");
    char *line = NULL;
    size_t cap = 0;
    int frames = 0;
    bool injected = false, in_stack = false;

    if (f == NULL) return false;
    while (getline(&line, &cap, f) > 0) {
        strip_newline(line);
        if (strncmp(line, "injected ", 9) == 0) {
            in_stack = !injected; /* the first injected failure's stack */
            injected = true;
        } else if (strcmp(line, "end") == 0) {
            in_stack = false;
        } else if (in_stack && frames++ < INJECTED_FRAMES) {
            append_line(&job->injected, line);
        }
    }
    free(line);
    fclose(f);
    return injected;
}

/* `frame` ("  #N 0xPC in FUNC FILE:LINE (MODULE+0xOFF)") without "#N 0xPC in ". */
static const char *frame_text(const char *frame)
{
    const char *in = strstr(frame, " in ");

    return in != NULL ? in + 4 : frame;
}

static void add_leak(struct leaks *leaks, char *stack, char *where, unsigned long heaps)
{
    struct leak *grown = realloc(leaks->v, (leaks->n + 1) * sizeof *grown);

    if (grown == NULL) return;
    leaks->v = grown;
    leaks->v[leaks->n++] = (struct leak){stack, where, heaps};
}

/* Reads the WSHEAP_LEAKS report from a run's standard error: one entry per site, keyed by its
 * creation stack. */
static void read_leaks(const char *err_path, struct leaks *leaks)
{
    FILE *f = fopen(err_path, "r");
    char *line = NULL, *stack = NULL, *where = NULL;
    size_t cap = 0;
    unsigned long heaps = 0;
    bool in_report = false, in_stack = false;

    if (f == NULL) return;
    while (getline(&line, &cap, f) > 0) {
        unsigned long site, n;

        strip_newline(line);
        drop_pid(line);
        if (strncmp(line, "==wsheap== LEAK:", 16) == 0) in_report = true;
        if (!in_report) continue;
        if (in_stack && strncmp(line, "  #", 3) == 0) {
            append_line(&stack, frame_text(line));
            if (where == NULL) {
                const char *paren = strstr(frame_text(line), " (");

                where = xprintf("%.*s", paren ? (int)(paren - frame_text(line)) : 200,
                                frame_text(line));
            }
            continue;
        }
        if (in_stack) { /* the site's stack ended */
            if (stack != NULL) add_leak(leaks, stack, where, heaps);
            stack = where = NULL;
            in_stack = false;
        }
        if (sscanf(line, "==wsheap== site %lu: %lu heap", &site, &n) == 2) heaps = n;
        if (strcmp(line, "==wsheap==   created at:") == 0) in_stack = true;
        if (strncmp(line, "==wsheap== END leak report", 26) == 0) in_report = false;
    }
    if (stack != NULL) add_leak(leaks, stack, where, heaps);
    free(line);
    fclose(f);
}

static void free_leaks(struct leaks *leaks)
{
    for (size_t i = 0; i < leaks->n; i++) {
        free(leaks->v[i].stack);
        free(leaks->v[i].where);
    }
    free(leaks->v);
    *leaks = (struct leaks){NULL, 0};
}

/* The first leak of `run` with more heaps than the baseline has at the same stack, or NULL. */
static const struct leak *new_leak(const struct sweep *s, const struct leaks *run)
{
    for (size_t i = 0; i < run->n; i++) {
        unsigned long before = 0;

        for (size_t j = 0; j < s->baseline_leaks.n; j++)
            if (strcmp(s->baseline_leaks.v[j].stack, run->v[i].stack) == 0)
                before = s->baseline_leaks.v[j].heaps;
        if (run->v[i].heaps > before) return &run->v[i];
    }
    return NULL;
}

/* The first "==wsheap== ERROR: ..." line of a run's standard error (allocated), or NULL. */
static char *first_report(const char *err_path)
{
    FILE *f = fopen(err_path, "r");
    char *line = NULL, *found = NULL;
    size_t cap = 0;

    if (f == NULL) return NULL;
    while (found == NULL && getline(&line, &cap, f) > 0) {
        strip_newline(line);
        drop_pid(line);
        if (strncmp(line, "==wsheap== ERROR: ", 18) == 0) found = xstrdup(line + 18);
    }
    free(line);
    fclose(f);
    return found;
}

/* --- Running ---------------------------------------------------------------------------------- */

/* In the child: sets up standard input/output/error and the environment of `job`, then execs.
 * Never returns. */
static void exec_job(const struct sweep *s, const struct job *job)
{
    const struct sweep_config *c = s->config;
    static const char *const fail_vars[] = {"WSHEAP_FAIL_AT",     "WSHEAP_FAIL_SITE",
                                            "WSHEAP_FAIL_KIND",   "WSHEAP_FAIL_PERSISTENT",
                                            "WSHEAP_FAIL_RECORD", "WSHEAP_FAIL_LOG"};
    const char *in_path = c->stdin_path != NULL ? c->stdin_path : "/dev/null";
    int in = open(in_path, O_RDONLY), out = open(job->out, O_WRONLY | O_CREAT | O_TRUNC, 0600),
        err = open(job->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char **argv = c->argv;

    setpgid(0, 0);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(126);
    for (size_t i = 0; i < sizeof fail_vars / sizeof fail_vars[0]; i++)
        unsetenv(fail_vars[i]);
    setenv("WSHEAP_LEAKS", "1", 1);
    setenv("WSHEAP_FAIL_LOG", job->log, 1);
    if (job->site == NULL) {
        setenv("WSHEAP_FAIL_RECORD", s->record, 1);
    } else {
        setenv("WSHEAP_FAIL_SITE", job->site->id, 1);
        setenv("WSHEAP_FAIL_KIND", job->kind, 1);
        if (job->persistent) setenv("WSHEAP_FAIL_PERSISTENT", "1", 1);
    }
    if (job->gdb) {
        size_t n = 0;
        char **gdb_argv;

        while (c->argv[n] != NULL)
            n++;
        gdb_argv = xcalloc(n + 10, sizeof *gdb_argv);
        memcpy(gdb_argv, (char *[]){"gdb", "-batch", "-nx", "-ex", "run", "-ex", "bt", "--args"},
               8 * sizeof *gdb_argv);
        memcpy(gdb_argv + 8, c->argv, (n + 1) * sizeof *gdb_argv);
        argv = gdb_argv;
        unsetenv("DEBUGINFOD_URLS");
    }
    execvp(argv[0], argv);
    fprintf(stderr, "wsheap-run: cannot run '%s': %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

static bool start_job(const struct sweep *s, struct job *job)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0) return false;
    if (pid == 0) exec_job(s, job);
    setpgid(pid, pid); /* as the child does: whichever runs first */
    job->pid = pid;
    job->started = true;
    clock_gettime(CLOCK_MONOTONIC, &job->start);
    for (sig_atomic_t i = 0; i < n_running_slots; i++) {
        if (running[i] == 0) {
            running[i] = pid;
            return true;
        }
    }
    if (n_running_slots < (sig_atomic_t)(sizeof running / sizeof running[0]))
        running[n_running_slots++] = pid;
    return true;
}

static void forget_running(pid_t pid)
{
    for (sig_atomic_t i = 0; i < n_running_slots; i++)
        if (running[i] == pid) running[i] = 0;
}

static void progress(const struct sweep *s, size_t done, size_t total, size_t failing)
{
    if (!s->tty) return;
    fprintf(stderr, "\rwsheap-run: fail-sweep: %zu of %zu runs done, %zu failing ", done, total,
            failing);
    if (done == total) fputc('\n', stderr);
}

static bool job_fails(const struct job *job)
{
    return job->outcome != OUTCOME_HANDLED && job->outcome != OUTCOME_NOT_REACHED;
}

static void classify(const struct sweep *s, struct job *job);

/* Runs jobs[0..n) with at most config->jobs at once; each ends by itself or is killed (its
 * process group) after config->timeout seconds. Classifies each as it ends when `classify_them`.
 * False when a fork failed. */
static bool run_jobs(struct sweep *s, struct job *jobs, size_t n, bool classify_them)
{
    size_t next = 0, done = 0, active = 0, failing = 0;
    const struct timespec tick = {0, 5 * 1000 * 1000};

    progress(s, 0, n, 0);
    while (done < n) {
        bool changed = false;
        pid_t pid;
        int status;

        while (active < s->config->jobs && next < n) {
            if (!start_job(s, &jobs[next])) {
                perror("wsheap-run: fork");
                return false;
            }
            next++, active++;
        }
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (size_t i = 0; i < next; i++) {
                struct job *job = &jobs[i];

                if (job->pid != pid || job->done) continue;
                kill(-pid, SIGKILL); /* whatever the program left behind */
                forget_running(pid);
                job->status = status;
                job->done = true;
                done++, active--;
                if (classify_them) {
                    classify(s, job);
                    failing += job_fails(job);
                }
                changed = true;
            }
        }
        for (size_t i = 0; i < next; i++) {
            if (!jobs[i].done && !jobs[i].timed_out &&
                seconds_since(&jobs[i].start) >= (double)s->config->timeout) {
                jobs[i].timed_out = true;
                kill(-jobs[i].pid, SIGKILL);
            }
        }
        if (changed)
            progress(s, done, n, failing);
        else
            nanosleep(&tick, NULL);
    }
    return true;
}

/* --- Classifying ------------------------------------------------------------------------------ */

static bool status_ok(const struct sweep *s, int code)
{
    if (code == s->baseline_status) return true;
    for (size_t i = 0; i < s->config->n_ok_status; i++)
        if (s->config->ok_status[i] == code) return true;
    return false;
}

static void classify(const struct sweep *s, struct job *job)
{
    struct leaks leaks = {NULL, 0};
    const struct leak *leak;
    bool injected = read_injected(job);
    char *report;

    if (job->timed_out) {
        job->outcome = OUTCOME_HANG;
        job->detail = xprintf("killed after %u s", s->config->timeout);
        return;
    }
    if (!injected) {
        job->outcome = OUTCOME_NOT_REACHED;
        job->detail = WIFEXITED(job->status) ? xprintf("exit %d", WEXITSTATUS(job->status))
                                             : xprintf("signal %d", WTERMSIG(job->status));
        return;
    }
    if ((report = first_report(job->err)) != NULL) {
        job->outcome = OUTCOME_REPORT;
        job->detail = report;
        return;
    }
    if (WIFSIGNALED(job->status)) {
        job->outcome = OUTCOME_CRASH;
        job->detail = xstrdup(strsignal(WTERMSIG(job->status)));
        return;
    }
    read_leaks(job->err, &leaks);
    if ((leak = new_leak(s, &leaks)) != NULL) {
        job->outcome = OUTCOME_LEAK;
        job->detail = xprintf("heap created in %s", leak->where != NULL ? leak->where : "?");
    } else if (s->config->strict_status && !status_ok(s, WEXITSTATUS(job->status))) {
        job->outcome = OUTCOME_BAD_STATUS;
        job->detail = xprintf("exit %d", WEXITSTATUS(job->status));
    } else {
        job->outcome = OUTCOME_HANDLED;
        job->detail = xprintf("exit %d", WEXITSTATUS(job->status));
    }
    free_leaks(&leaks);
}

/* The shell command that replays `job`: the WSHEAP_FAIL_* variables, wsheap-run's settings, the
 * program and its arguments, and the standard input. */
static char *replay_command(const struct sweep *s, const struct job *job)
{
    const struct sweep_config *c = s->config;
    char *cmd = xprintf("WSHEAP_FAIL_SITE=%s WSHEAP_FAIL_KIND=%s%s", job->site->id, job->kind,
                        job->persistent ? " WSHEAP_FAIL_PERSISTENT=1" : "");
    char *grown;

    if (job->outcome == OUTCOME_LEAK) {
        grown = xprintf("%s WSHEAP_LEAKS=1", cmd);
        free(cmd);
        cmd = grown;
    }
    for (size_t i = 0; i < c->n_settings; i++) {
        char *q = shell_quote(c->settings[i]);

        grown = xprintf("%s %s", cmd, q);
        free(q), free(cmd);
        cmd = grown;
    }
    for (size_t i = 0; c->argv[i] != NULL; i++) {
        char *q = shell_quote(c->argv[i]);

        grown = xprintf("%s %s", cmd, q);
        free(q), free(cmd);
        cmd = grown;
    }
    if (c->stdin_path != NULL) {
        char *q = shell_quote(c->stdin_path);

        grown = xprintf("%s < %s", cmd, q);
        free(q), free(cmd);
        cmd = grown;
    }
    return cmd;
}

/* Reruns every crashed run once under gdb and keeps the top frames of its backtrace. */
static void crash_stacks(struct sweep *s, struct job *jobs, size_t n)
{
    struct job *gdb_jobs = xcalloc(n, sizeof *gdb_jobs);
    size_t n_gdb = 0;

    for (size_t i = 0; i < n; i++) {
        if (jobs[i].outcome != OUTCOME_CRASH) continue;
        gdb_jobs[n_gdb] = jobs[i];
        gdb_jobs[n_gdb].gdb = true;
        gdb_jobs[n_gdb].done = gdb_jobs[n_gdb].timed_out = false;
        gdb_jobs[n_gdb].out = xprintf("%s/gdb%zu.out", s->dir, n_gdb);
        gdb_jobs[n_gdb].err = xprintf("%s/gdb%zu.err", s->dir, n_gdb);
        gdb_jobs[n_gdb].log = xprintf("%s/gdb%zu.log", s->dir, n_gdb);
        gdb_jobs[n_gdb].gdb_of = &jobs[i];
        n_gdb++;
    }
    if (n_gdb > 0 && in_path("gdb")) {
        bool tty = s->tty;

        s->tty = false;
        run_jobs(s, gdb_jobs, n_gdb, false);
        s->tty = tty;
        for (size_t i = 0; i < n_gdb; i++) {
            FILE *f = fopen(gdb_jobs[i].out, "r");
            char *line = NULL;
            size_t cap = 0;
            int frames = 0;

            while (f != NULL && getline(&line, &cap, f) > 0 && frames < GDB_FRAMES) {
                strip_newline(line);
                if (line[0] == '#' && line[1] >= '0' && line[1] <= '9') {
                    char *framed = xprintf("  %s", line);

                    append_line(&gdb_jobs[i].gdb_of->crash, framed);
                    free(framed);
                    frames++;
                }
            }
            free(line);
            if (f != NULL) fclose(f);
        }
    }
    for (size_t i = 0; i < n_gdb; i++) {
        unlink(gdb_jobs[i].out), unlink(gdb_jobs[i].err), unlink(gdb_jobs[i].log);
        free(gdb_jobs[i].out), free(gdb_jobs[i].err), free(gdb_jobs[i].log);
    }
    free(gdb_jobs);
}

/* --- Output ----------------------------------------------------------------------------------- */

static char *kind_label(const struct job *job)
{
    return xprintf("%s%s", job->kind, job->persistent ? ",persistent" : "");
}

/* `location` without its directories. */
static const char *base_name(const char *location)
{
    const char *slash = strrchr(location, '/');

    return slash != NULL ? slash + 1 : location;
}

/* The function of the injected failure's second frame (the site's caller), or "?". */
static char *caller_of(const struct job *job)
{
    const char *frame = job->injected != NULL ? strchr(job->injected, '\n') : NULL;

    if (frame == NULL || strstr(frame, " in ") == NULL) return xstrdup("?");
    frame = strstr(frame, " in ") + 4;
    return xprintf("%.*s", (int)strcspn(frame, " \n"), frame);
}

static void print_table(const struct sweep *s, const struct job *jobs, size_t n, double wall)
{
    size_t fn_width = 8, loc_width = 8, caller_width = 6, failing = 0;

    for (size_t i = 0; i < s->n_sites; i++) {
        size_t f = strlen(s->sites[i].function), l = strlen(base_name(s->sites[i].location));

        if (f > fn_width) fn_width = f > 40 ? 40 : f;
        if (l > loc_width) loc_width = l > 40 ? 40 : l;
    }
    for (size_t i = 0; i < n; i++) {
        char *caller = caller_of(&jobs[i]);

        if (strlen(caller) > caller_width) caller_width = strlen(caller) > 40 ? 40 : strlen(caller);
        free(caller);
    }
    printf("wsheap-run: fail-sweep of %s: %zu sites, %zu runs, baseline exit %d, %.1f s\n",
           s->config->argv[0], s->n_sites, n, s->baseline_status, wall);
    printf("%-16s  %-*s  %-*s  %-*s  %6s  %-6s  %-16s  %s\n", "site", (int)fn_width, "function",
           (int)loc_width, "location", (int)caller_width, "caller", "calls", "op", "kind",
           "outcome");
    for (size_t i = 0; i < n; i++) {
        const struct job *job = &jobs[i];
        char *kind = kind_label(job), *caller = caller_of(job);

        printf("%-16s  %-*s  %-*s  %-*s  %6lu  %-6s  %-16s  %s (%s)\n", job->site->id,
               (int)fn_width, job->site->function, (int)loc_width, base_name(job->site->location),
               (int)caller_width, caller, job->site->calls, job->site->op, kind,
               outcome_names[job->outcome], job->detail);
        printf("  replay: %s\n", job->replay);
        free(kind), free(caller);
        failing += job_fails(job);
    }
    for (size_t i = 0; i < n; i++) {
        const struct job *job = &jobs[i];

        if (!job_fails(job) || job->outcome == OUTCOME_BAD_STATUS) continue;
        printf("\n%s at %s %s (site %s, %s%s): %s (%s)\n", job->site->op, job->site->function,
               job->site->location, job->site->id, job->kind, job->persistent ? ", persistent" : "",
               outcome_names[job->outcome], job->detail);
        if (job->outcome == OUTCOME_CRASH) {
            if (job->crash != NULL)
                printf(" the crash (gdb):\n%s", job->crash);
            else
                printf(" (no crash stack: %s)\n",
                       in_path("gdb") ? "gdb could not run it" : "gdb not available");
        }
        if (job->injected != NULL) printf(" the injected failure:\n%s", job->injected);
    }
    printf("\nwsheap-run: fail-sweep: %zu of %zu runs failing\n", failing, n);
}

static void json_string(FILE *f, const char *text)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)text; c != NULL && *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c == '\n')
            fputs("\\n", f);
        else if (*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

static bool write_json(const struct sweep *s, const struct job *jobs, size_t n)
{
    FILE *f = fopen(s->config->json_path, "w");

    if (f == NULL) return false;
    fputs("{\n  \"program\": ", f);
    json_string(f, s->config->argv[0]);
    fprintf(f, ",\n  \"baseline_status\": %d,\n  \"runs\": [", s->baseline_status);
    for (size_t i = 0; i < n; i++) {
        const struct job *job = &jobs[i];

        fputs(i ? ",\n    {" : "\n    {", f);
        fputs("\"site\": ", f);
        json_string(f, job->site->id);
        fputs(", \"function\": ", f);
        json_string(f, job->site->function);
        fputs(", \"location\": ", f);
        json_string(f, job->site->location);
        fprintf(f, ", \"op\": \"%s\", \"calls\": %lu, \"kind\": \"%s\", \"persistent\": %s, ",
                job->site->op, job->site->calls, job->kind, job->persistent ? "true" : "false");
        fputs("\"outcome\": ", f);
        json_string(f, outcome_names[job->outcome]);
        fputs(", \"detail\": ", f);
        json_string(f, job->detail);
        if (!job->timed_out && WIFEXITED(job->status))
            fprintf(f, ", \"exit_status\": %d, \"signal\": null", WEXITSTATUS(job->status));
        else if (!job->timed_out && WIFSIGNALED(job->status))
            fprintf(f, ", \"exit_status\": null, \"signal\": %d", WTERMSIG(job->status));
        else
            fputs(", \"exit_status\": null, \"signal\": null", f);
        fputs(", \"replay\": ", f);
        json_string(f, job->replay);
        fputc('}', f);
    }
    fputs("\n  ]\n}\n", f);
    return fclose(f) == 0;
}

/* --- The sweep -------------------------------------------------------------------------------- */

static void job_files(const struct sweep *s, struct job *job, size_t index)
{
    job->out = xprintf("%s/run%zu.out", s->dir, index);
    job->err = xprintf("%s/run%zu.err", s->dir, index);
    job->log = xprintf("%s/run%zu.log", s->dir, index);
}

static void remove_job_files(struct job *job)
{
    unlink(job->out), unlink(job->err), unlink(job->log);
    free(job->out), free(job->err), free(job->log);
}

/* Runs the baseline: records the sites and the leaks. Returns -1 to go on, or an exit status. */
static int baseline(struct sweep *s)
{
    struct job job = {.kind = "oom"};
    int rc = -1;

    job_files(s, &job, 0);
    if (!run_jobs(s, &job, 1, false)) {
        rc = SWEEP_EXIT_SETUP;
    } else if (job.timed_out || !WIFEXITED(job.status)) {
        fprintf(stderr,
                "wsheap-run: fail-sweep: the baseline run of %s (no failure injected) %s; "
                "the sweep needs a run that ends by itself\n",
                s->config->argv[0],
                job.timed_out ? "did not end within the time limit (see --timeout)"
                              : "was killed by a signal");
        rc = SWEEP_EXIT_SETUP;
    } else {
        s->baseline_status = WEXITSTATUS(job.status);
        read_record(s);
        read_leaks(job.err, &s->baseline_leaks);
        if (s->n_sites == 0) {
            fprintf(stderr,
                    "wsheap-run: fail-sweep: the baseline run of %s (exit %d) recorded no call "
                    "site of WsAlloc or WsCreateHeap: nothing to sweep (is it linked with "
                    "a wsheap that has WSHEAP_FAIL_RECORD?)\n",
                    s->config->argv[0], s->baseline_status);
            rc = SWEEP_EXIT_SETUP;
        }
    }
    remove_job_files(&job);
    return rc;
}

int sweep_run(const struct sweep_config *config)
{
    struct sweep s = {.config = config, .tty = isatty(2)};
    const char *tmp = getenv("TMPDIR");
    struct sigaction stop = {.sa_handler = kill_running};
    struct job *jobs;
    struct timespec t0;
    size_t n = 0;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(s.dir, sizeof s.dir, "%s/wsheap-sweep.XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(s.dir) == NULL) {
        perror("wsheap-run: fail-sweep: mkdtemp");
        return SWEEP_EXIT_SETUP;
    }
    sigemptyset(&stop.sa_mask);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGHUP, &stop, NULL);
    s.record = xprintf("%s/record", s.dir);
    rc = baseline(&s);
    if (rc >= 0) goto out;

    jobs = xcalloc(s.n_sites * 4, sizeof *jobs);
    for (size_t i = 0; i < s.n_sites; i++) {
        static const char *const kinds[] = {"oom", "quota"};

        for (unsigned k = 0; k < 2; k++) {
            bool alloc = strcmp(s.sites[i].op, "alloc") == 0;

            /* WsCreateHeap fails with E_OUTOFMEMORY whatever the kind: one kind is enough. */
            if (alloc ? !(config->kinds & (1u << k)) : k != 0) continue;
            for (int persistent = 0; persistent <= (int)config->persistent; persistent++) {
                jobs[n] = (struct job){
                    .site = &s.sites[i], .kind = kinds[k], .persistent = persistent != 0};
                job_files(&s, &jobs[n], n + 1);
                n++;
            }
        }
    }
    if (!run_jobs(&s, jobs, n, true)) {
        rc = SWEEP_EXIT_SETUP;
    } else {
        rc = 0;
        crash_stacks(&s, jobs, n);
        for (size_t i = 0; i < n; i++) {
            jobs[i].replay = replay_command(&s, &jobs[i]);
            if (job_fails(&jobs[i])) rc = SWEEP_EXIT_FAILED;
        }
        print_table(&s, jobs, n, seconds_since(&t0));
        if (config->json_path != NULL && !write_json(&s, jobs, n)) {
            fprintf(stderr, "wsheap-run: fail-sweep: cannot write %s: %s\n", config->json_path,
                    strerror(errno));
            rc = SWEEP_EXIT_SETUP;
        }
    }
    for (size_t i = 0; i < n; i++) {
        remove_job_files(&jobs[i]);
        free(jobs[i].detail), free(jobs[i].injected), free(jobs[i].crash), free(jobs[i].replay);
    }
    free(jobs);
out:
    for (size_t i = 0; i < s.n_sites; i++) {
        free(s.sites[i].id), free(s.sites[i].op);
        free(s.sites[i].function), free(s.sites[i].location);
    }
    free(s.sites);
    free_leaks(&s.baseline_leaks);
    unlink(s.record);
    free(s.record);
    rmdir(s.dir);
    return rc;
}
