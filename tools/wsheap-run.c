/* SPDX-License-Identifier: MIT */
/*
 * wsheap-run: runs an unchanged program that uses wsheap in a chosen mode, by setting wsheap's
 * own WSHEAP_* environment variables (nothing else) and running the program. The library stays
 * the one place that parses those variables: values are passed through as given. The program's
 * exit status is passed through, 128+N when it dies by signal N (as shells report it); under
 * --valgrind, a memcheck error makes it 99. Options are read with getopt_long: "--opt N" or
 * "--opt=N", and a missing value (or one starting with "--") is a usage error. --fail-sweep runs
 * the failure-path sweep of tools/sweep.c instead of one run.
 *
 *   wsheap-run [options] [--] PROGRAM [ARGS...]      (wsheap-run --help lists the options)
 *   wsheap-run --fail-sweep [sweep options] [options] -- PROGRAM [ARGS...]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sweep.h"
#include "wsheap/version.h"

/* Where `make install` puts the valgrind suppressions (set by tools/CMakeLists.txt); first,
 * though, wsheap-run looks at SUPP_RELATIVE from its own directory, which a build tree has too. */
#ifndef WSHEAP_RUN_SUPP_INSTALLED
#define WSHEAP_RUN_SUPP_INSTALLED "/usr/local/share/wsheap/valgrind.supp"
#endif
#define SUPP_RELATIVE "/../share/wsheap/valgrind.supp" /* from the directory of wsheap-run */

#define EXIT_USAGE     2
#define EXIT_NOT_EXEC  126 /* found but could not be run, as the shell reports it */
#define EXIT_NOT_FOUND 127
/* --valgrind: memcheck's --error-exitcode, so that a memcheck error fails the run. Not 1 (a
 * common program status) nor one of the statuses above. */
#define EXIT_VALGRIND_ERROR 99
#define STRINGIFY(x)        STRINGIFY_(x)
#define STRINGIFY_(x)       #x
#define MAX_SETTINGS        32

/* One command-line option: a flag sets `env` to `value`; an option with an argument sets `env`
 * to that argument. `also` is a second variable the flag implies (NULL when none). */
struct flag {
    const char *name; /* without the leading "--" */
    const char *env;
    const char *value; /* NULL: takes an argument */
    const char *also;  /* "NAME=VALUE" or NULL */
    const char *help;
};

static const struct flag flags[] = {
    {"pageheap", "WSHEAP_PAGEHEAP", "1", NULL,
     "guarded backend for every heap (overruns and use after reset stop the program)"},
    {"backward", "WSHEAP_PAGEHEAP_BACKWARD", "1", "WSHEAP_PAGEHEAP=1",
     "guard page before each block, to trap underruns (implies --pageheap)"},
    {"unaligned", "WSHEAP_PAGEHEAP_UNALIGNED", "1", "WSHEAP_PAGEHEAP=1",
     "block flush against the guard page, every overrun traps (implies --pageheap)"},
    {"stats", "WSHEAP_STATS", "1", NULL,
     "print heap statistics by creation site at exit, with suggested sizes"},
    {"leaks", "WSHEAP_LEAKS", "1", NULL,
     "list heaps never freed at exit (on by default with --pageheap)"},
    {"no-leaks", "WSHEAP_LEAKS", "0", NULL, "no leak report, even with --pageheap"},
    {"leaks-exitcode", "WSHEAP_LEAKS_EXITCODE", NULL, NULL,
     "N: exit status N when the leak report lists a heap (default: left alone)"},
    {"no-symbolize", "WSHEAP_SYMBOLIZE", "0", NULL,
     "raw (module+offset) frames only; see wsheap-symbolize(1)"},
    {"stack-depth", "WSHEAP_STACK_DEPTH", NULL, NULL, "N: frames kept per stack, 0..64"},
    {"quarantine-mb", "WSHEAP_QUARANTINE_MB", NULL, NULL,
     "N: MiB of released guarded address space kept unused before reuse"},
    {"sample-bytes", "WSHEAP_SAMPLE_BYTES", NULL, NULL,
     "N: arena heaps put about 1 block per N bytes on guard pages (docs/sampling.md)"},
    {"sample-rounds", "WSHEAP_SAMPLE_ROUNDS", NULL, NULL,
     "N: about 1 round in N of each arena heap goes on guard pages whole"},
    {"sample-slots", "WSHEAP_SAMPLE_SLOTS", NULL, NULL,
     "N: live sampled blocks in the process, at most (default 64)"},
    {"log-path", "WSHEAP_LOG_PATH", NULL, NULL,
     "P: reports, statistics and leak report go to P.<pid>, not stderr"},
    {"json-reports", "WSHEAP_REPORT_FORMAT", "json", NULL,
     "fault reports as one JSON object per line (docs/reports.md)"},
    {"keep-going", "WSHEAP_HALT_ON_ERROR", "0", "WSHEAP_PAGEHEAP=1",
     "report each distinct error once and go on; exit 1 at the end if any (implies --pageheap)"},
    {"suppressions", "WSHEAP_SUPPRESSIONS", NULL, NULL,
     "FILE: KIND:PATTERN lines, errors not to report (leak:PATTERN for leaks)"},
    {"exitcode", "WSHEAP_EXITCODE", NULL, NULL,
     "N: exit status after an error (default: death by SIGSEGV; 1 with --keep-going)"},
    {"verbose", "WSHEAP_VERBOSE", "1", NULL,
     "print the settings (here) and the options in effect (library)"},
};

#define N_FLAGS (sizeof flags / sizeof flags[0])

/* getopt_long values: the row of flags[] + OPT_FLAG, or one of the other options. */
enum {
    OPT_HELP = 'h',
    OPT_JOBS = 'j',
    OPT_SET = 256,
    OPT_VALGRIND,
    OPT_VERSION,
    OPT_FAIL_SWEEP,
    OPT_KINDS,
    OPT_PERSISTENT,
    OPT_TIMEOUT,
    OPT_STDIN,
    OPT_STRICT_STATUS,
    OPT_OK_STATUS,
    OPT_JSON,
    OPT_FLAG
};

/* What the command line asked for. */
struct run {
    const char *settings[MAX_SETTINGS]; /* "NAME=VALUE", applied in order (later wins) */
    size_t n_settings;
    bool valgrind;
    bool verbose;
    bool fail_sweep;
    const char *sweep_option; /* the first sweep option given, for the usage error without it */
    struct sweep_config sweep;
    char **argv; /* the program and its arguments */
};

static void usage(FILE *out)
{
    fputs("usage: wsheap-run [options] [--] PROGRAM [ARGS...]\n"
          "Runs PROGRAM with wsheap's WSHEAP_* environment variables set for the chosen mode\n"
          "and exits with its exit status (128+N when it dies by signal N).\n"
          "An option's value follows it, as --stack-depth 8 or --stack-depth=8.\n\n",
          out);
    for (size_t i = 0; i < N_FLAGS; i++) {
        /* An option's value is named by its help's first word ("N: ...", "FILE: ..."). */
        const char *colon = flags[i].value ? NULL : strchr(flags[i].help, ':');
        int n = colon != NULL ? (int)(colon - flags[i].help) : 0;
        char left[40];

        snprintf(left, sizeof left, "--%s%s%.*s", flags[i].name, n > 0 ? " " : "", n,
                 flags[i].help);
        fprintf(out, "  %-20s %s [%s]\n", left, flags[i].help, flags[i].env);
    }
    fprintf(
        out,
        "  --set NAME=VALUE     set any other WSHEAP_* variable (see WSHEAP_HELP=1)\n"
        "  --valgrind           run PROGRAM under valgrind memcheck with wsheap's suppressions;\n"
        "                       exit status %d when memcheck reports an error\n"
        "Failure-path sweep (see man wsheap-run):\n"
        "  --fail-sweep         record PROGRAM's WsAlloc/WsCreateHeap call sites, then rerun it\n"
        "                       once per site with that call failing, and classify each run\n"
        "  --kinds LIST         failures to inject: oom, quota or oom,quota (default oom)\n"
        "  --persistent         also a run per site where every later call fails too\n"
        "  -j, --jobs N         runs at once (default: the number of cores)\n"
        "  --timeout SECONDS    time limit of each run, then it is a hang (default 30)\n"
        "  --stdin FILE         every run reads FILE as standard input (default /dev/null)\n"
        "  --strict-status      an exit status other than the baseline's fails the run\n"
        "  --ok-status LIST     with --strict-status, other statuses that are fine (1,2)\n"
        "  --json FILE          also write the table to FILE as JSON\n"
        "  --version            print wsheap's version and exit\n"
        "  --help               print this help and exit\n"
        "Exit status: PROGRAM's, or 2 for a usage error, 126 when PROGRAM cannot be run,\n"
        "127 when it is not found, %d for a memcheck error with --valgrind. --fail-sweep: 0\n"
        "when every run is handled, 1 when one is not, 2 when there is nothing to sweep.\n",
        EXIT_VALGRIND_ERROR, EXIT_VALGRIND_ERROR);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("wsheap-run: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'wsheap-run --help'.\n", stderr);
    return EXIT_USAGE;
}

/* Adds "env=value" (allocated; it lives until exec). */
static bool add_setting(struct run *run, const char *env, const char *value)
{
    size_t n = strlen(env) + strlen(value) + 2;
    char *text;

    if (run->n_settings == MAX_SETTINGS || (text = malloc(n)) == NULL) return false;
    snprintf(text, n, "%s=%s", env, value);
    run->settings[run->n_settings++] = text;
    return true;
}

/* True for "WSHEAP_NAME=..." with a non-empty name of capitals, digits and underscores. */
static bool valid_assignment(const char *text)
{
    const char *eq = strchr(text, '=');

    if (strncmp(text, "WSHEAP_", 7) != 0 || eq == NULL || eq == text + 7) return false;
    for (const char *c = text + 7; c < eq; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_')) return false;
    return true;
}

/* The long options: one per row of flags[], then the others. */
static struct option long_options[N_FLAGS + 14] = {
    [N_FLAGS] = {"set", required_argument, NULL, OPT_SET},
    [N_FLAGS + 1] = {"valgrind", no_argument, NULL, OPT_VALGRIND},
    [N_FLAGS + 2] = {"version", no_argument, NULL, OPT_VERSION},
    [N_FLAGS + 3] = {"help", no_argument, NULL, OPT_HELP},
    [N_FLAGS + 4] = {"fail-sweep", no_argument, NULL, OPT_FAIL_SWEEP},
    [N_FLAGS + 5] = {"kinds", required_argument, NULL, OPT_KINDS},
    [N_FLAGS + 6] = {"persistent", no_argument, NULL, OPT_PERSISTENT},
    [N_FLAGS + 7] = {"jobs", required_argument, NULL, OPT_JOBS},
    [N_FLAGS + 8] = {"timeout", required_argument, NULL, OPT_TIMEOUT},
    [N_FLAGS + 9] = {"stdin", required_argument, NULL, OPT_STDIN},
    [N_FLAGS + 10] = {"strict-status", no_argument, NULL, OPT_STRICT_STATUS},
    [N_FLAGS + 11] = {"ok-status", required_argument, NULL, OPT_OK_STATUS},
    [N_FLAGS + 12] = {"json", required_argument, NULL, OPT_JSON},
};

/* The name of the long option whose getopt_long value is `val`. */
static const char *option_name(int val)
{
    const struct option *o = long_options;

    while (o->name != NULL && o->val != val)
        o++;
    return o->name != NULL ? o->name : "?";
}

/* Parses a whole number in [min, max]. */
static bool parse_number(const char *text, long min, long max, long *out)
{
    char *end;

    errno = 0;
    *out = strtol(text, &end, 10);
    return text[0] >= '0' && text[0] <= '9' && *end == '\0' && errno == 0 && *out >= min &&
           *out <= max;
}

/* Parses the comma-separated values of --kinds (oom, quota) or --ok-status (0..255) into
 * `config`. False when one is not valid. */
static bool parse_list(int option, char *text, struct sweep_config *config)
{
    char *save = NULL;

    if (option == OPT_KINDS) config->kinds = 0;
    for (char *t = strtok_r(text, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        long status;

        if (option == OPT_KINDS && strcmp(t, "oom") == 0)
            config->kinds |= SWEEP_KIND_OOM;
        else if (option == OPT_KINDS && strcmp(t, "quota") == 0)
            config->kinds |= SWEEP_KIND_QUOTA;
        else if (option == OPT_OK_STATUS && parse_number(t, 0, 255, &status) &&
                 config->n_ok_status < SWEEP_MAX_OK)
            config->ok_status[config->n_ok_status++] = (int)status;
        else
            return false;
    }
    return option == OPT_KINDS ? config->kinds != 0 : config->n_ok_status > 0;
}

/* Takes one of the --fail-sweep options into run->sweep. Returns -1 to go on, or the exit
 * status of a usage error. */
static int sweep_option(int c, char *arg, struct run *run)
{
    struct sweep_config *sweep = &run->sweep;
    long n;

    if (run->sweep_option == NULL) run->sweep_option = option_name(c);
    switch (c) {
    case OPT_PERSISTENT:
        sweep->persistent = true;
        break;
    case OPT_STRICT_STATUS:
        sweep->strict_status = true;
        break;
    case OPT_STDIN:
        sweep->stdin_path = arg;
        break;
    case OPT_JSON:
        sweep->json_path = arg;
        break;
    case OPT_JOBS:
    case OPT_TIMEOUT:
        if (!parse_number(arg, 1, 100000, &n))
            return usage_error("option '--%s' needs a whole number from 1, not '%s'",
                               option_name(c), arg);
        if (c == OPT_JOBS)
            sweep->jobs = (unsigned)n;
        else
            sweep->timeout = (unsigned)n;
        break;
    default: /* OPT_KINDS, OPT_OK_STATUS */
        if (!parse_list(c, arg, sweep))
            return usage_error(c == OPT_KINDS ? "--kinds '%s': expected oom, quota or oom,quota"
                                              : "--ok-status '%s': expected statuses 0..255 "
                                                "separated by commas",
                               arg);
    }
    return -1;
}

/* The usage error for an option getopt_long refused: `c` is ':' for a missing value, '?' for an
 * unknown option (optopt: the letter of a short one, 0 for a long one, in argv[optind - 1]) or a
 * value given to an option that takes none (optopt: that option). */
static int refused_option(int c, char **argv)
{
    if (c == ':' && optopt == OPT_JOBS) return usage_error("option '-j' needs a value");
    if (c == ':') return usage_error("option '--%s' needs a value", option_name(optopt));
    if (optopt > 0 && optopt < OPT_SET) return usage_error("unknown option '-%c'", optopt);
    if (optopt != 0) return usage_error("option '--%s' takes no value", option_name(optopt));
    return usage_error("unknown option '%s'", argv[optind - 1]);
}

/* Parses argv into `run` with getopt_long: options stop at the first non-option (the program)
 * or at "--", and a value is the next argument or follows "=" (a value that is empty or starts
 * with "--" is refused: it is a forgotten value). Returns -1 to go on, or an exit status (help,
 * version, usage error). */
static int parse_args(int argc, char **argv, struct run *run)
{
    int c;

    for (size_t i = 0; i < N_FLAGS; i++)
        long_options[i] =
            (struct option){flags[i].name, flags[i].value ? no_argument : required_argument, NULL,
                            OPT_FLAG + (int)i};
    opterr = 0;
    /* "+": stop at the program, whatever POSIXLY_CORRECT says; ":": tell a missing value. */
    while ((c = getopt_long(argc, argv, "+:hj:", long_options, NULL)) != -1) {
        const struct flag *f;

        if (c == '?' || c == ':') return refused_option(c, argv);
        if (optarg != NULL && (optarg[0] == '\0' || strncmp(optarg, "--", 2) == 0))
            return usage_error("option '--%s' needs a value%s%s%s", option_name(c),
                               optarg[0] ? ", not '" : "", optarg, optarg[0] ? "'" : "");
        switch (c) {
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("wsheap-run (wsheap) %s\n", WSHEAP_VERSION_STRING);
            return 0;
        case OPT_VALGRIND:
            run->valgrind = true;
            continue;
        case OPT_FAIL_SWEEP:
            run->fail_sweep = true;
            continue;
        case OPT_KINDS:
        case OPT_PERSISTENT:
        case OPT_JOBS:
        case OPT_TIMEOUT:
        case OPT_STDIN:
        case OPT_STRICT_STATUS:
        case OPT_OK_STATUS:
        case OPT_JSON: {
            int rc = sweep_option(c, optarg, run);

            if (rc >= 0) return rc;
            continue;
        }
        case OPT_SET:
            if (!valid_assignment(optarg))
                return usage_error("--set '%s': expected WSHEAP_NAME=VALUE (only wsheap's own "
                                   "variables can be set)",
                                   optarg);
            if (run->n_settings == MAX_SETTINGS) return usage_error("too many settings");
            run->settings[run->n_settings++] = optarg;
            continue;
        }
        f = &flags[c - OPT_FLAG];
        if (f->also != NULL) {
            if (run->n_settings == MAX_SETTINGS) return usage_error("too many settings");
            run->settings[run->n_settings++] = f->also;
        }
        if (!add_setting(run, f->env, f->value != NULL ? f->value : optarg))
            return usage_error("too many settings (or out of memory)");
        if (strcmp(f->name, "verbose") == 0) run->verbose = true;
    }
    if (optind >= argc) return usage_error("no program given");
    if (!run->fail_sweep && run->sweep_option != NULL)
        return usage_error("option '--%s' needs --fail-sweep", run->sweep_option);
    if (run->fail_sweep && run->valgrind)
        return usage_error("--fail-sweep and --valgrind cannot be combined");
    run->argv = &argv[optind];
    return -1;
}

/* --- Valgrind --------------------------------------------------------------------------------- */

static bool readable(const char *path)
{
    return path[0] != '\0' && access(path, R_OK) == 0;
}

/* The suppressions file: at ../share/wsheap/ from wsheap-run's directory (an install, which
 * may have been moved, or a build tree), then the configured install path. NULL when none is
 * found. */
static const char *find_suppressions(void)
{
    static char path[PATH_MAX + sizeof SUPP_RELATIVE];
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

    if (n > 0) {
        char *slash;

        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(path, sizeof path, "%s%s", self, SUPP_RELATIVE);
            if (readable(path)) return path;
        }
    }
    if (readable(WSHEAP_RUN_SUPP_INSTALLED)) return WSHEAP_RUN_SUPP_INSTALLED;
    return NULL;
}

/* Builds "valgrind --tool=memcheck --error-exitcode=99 [--suppressions=FILE] PROGRAM ARGS..."
 * (allocated). */
static char **valgrind_argv(char **argv)
{
    static char supp_arg[sizeof "--suppressions=" + PATH_MAX + sizeof SUPP_RELATIVE];
    const char *supp = find_suppressions();
    size_t n = 0, i = 0;
    char **out;

    while (argv[n] != NULL)
        n++;
    out = calloc(n + 5, sizeof *out);
    if (out == NULL) return NULL;
    out[i++] = "valgrind";
    out[i++] = "--tool=memcheck";
    out[i++] = "--error-exitcode=" STRINGIFY(EXIT_VALGRIND_ERROR);
    if (supp != NULL) {
        snprintf(supp_arg, sizeof supp_arg, "--suppressions=%s", supp);
        out[i++] = supp_arg;
    } else {
        fputs("wsheap-run: warning: wsheap's valgrind.supp not found; running without it\n",
              stderr);
    }
    memcpy(&out[i], argv, (n + 1) * sizeof *out);
    return out;
}

/* --- Running ---------------------------------------------------------------------------------- */

static void print_command(const struct run *run, char **argv)
{
    fputs("wsheap-run:", stderr);
    for (size_t i = 0; i < run->n_settings; i++)
        fprintf(stderr, " %s", run->settings[i]);
    for (size_t i = 0; argv[i] != NULL; i++)
        fprintf(stderr, " %s", argv[i]);
    fputc('\n', stderr);
}

/* Forks, execs `argv` in the child, waits. Returns the exit status to pass on. The parent
 * ignores SIGINT and SIGQUIT while it waits, as system() does, so that a terminal's ^C is the
 * child's to handle; SIGTERM and SIGHUP sent to wsheap-run are forwarded to the child. */
static pid_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0) kill(child_pid, sig);
}

static int run_program(char **argv)
{
    struct sigaction ignore = {.sa_handler = SIG_IGN}, forward = {.sa_handler = forward_signal};
    struct sigaction old_int, old_quit;
    int pipefd[2], status, exec_errno = 0;
    ssize_t got;
    pid_t pid;

    /* The child writes its exec errno to this close-on-exec pipe; EOF means exec worked. */
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        perror("wsheap-run: pipe");
        return EXIT_NOT_EXEC;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("wsheap-run: fork");
        return EXIT_NOT_EXEC;
    }
    if (pid == 0) {
        close(pipefd[0]);
        execvp(argv[0], argv);
        exec_errno = errno;
        if (write(pipefd[1], &exec_errno, sizeof exec_errno) < 0) _exit(EXIT_NOT_EXEC);
        _exit(exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXEC);
    }
    child_pid = pid;
    sigaction(SIGINT, &ignore, &old_int);
    sigaction(SIGQUIT, &ignore, &old_quit);
    sigemptyset(&forward.sa_mask);
    sigaction(SIGTERM, &forward, NULL);
    sigaction(SIGHUP, &forward, NULL);
    close(pipefd[1]);
    do
        got = read(pipefd[0], &exec_errno, sizeof exec_errno);
    while (got < 0 && errno == EINTR);
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("wsheap-run: waitpid");
            return EXIT_NOT_EXEC;
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    if (got == (ssize_t)sizeof exec_errno) {
        fprintf(stderr, "wsheap-run: cannot run '%s': %s\n", argv[0], strerror(exec_errno));
        return exec_errno == ENOENT ? EXIT_NOT_FOUND : EXIT_NOT_EXEC;
    }
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_NOT_EXEC;
}

int main(int argc, char **argv)
{
    struct run run = {.n_settings = 0, .sweep = {.kinds = SWEEP_KIND_OOM, .timeout = 30}};
    char **command;
    int rc = parse_args(argc, argv, &run);

    if (rc >= 0) { /* --help or a usage error: the settings were never handed to putenv */
        for (size_t i = 0; i < run.n_settings; i++)
            free((char *)run.settings[i]);
        return rc;
    }
    for (size_t i = 0; i < run.n_settings; i++) {
        if (putenv((char *)run.settings[i]) != 0) {
            perror("wsheap-run: putenv");
            return EXIT_NOT_EXEC;
        }
    }
    if (run.fail_sweep) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);

        run.sweep.argv = run.argv;
        run.sweep.settings = run.settings;
        run.sweep.n_settings = run.n_settings;
        if (run.sweep.jobs == 0) run.sweep.jobs = cores > 0 ? (unsigned)cores : 1;
        return sweep_run(&run.sweep);
    }
    command = run.valgrind ? valgrind_argv(run.argv) : run.argv;
    if (command == NULL) {
        fputs("wsheap-run: out of memory\n", stderr);
        return EXIT_NOT_EXEC;
    }
    if (run.verbose) print_command(&run, command);
    rc = run_program(command);
    if (command != run.argv) free(command);
    return rc;
}
