/* SPDX-License-Identifier: MIT */
/*
 * wsheap-run: runs an unchanged program that uses wsheap in a chosen mode, by setting wsheap's
 * own WSHEAP_* environment variables (nothing else) and running the program. The library stays
 * the one place that parses those variables: values are passed through as given. The program's
 * exit status is passed through, 128+N when it dies by signal N (as shells report it).
 *
 *   wsheap-run [options] [--] PROGRAM [ARGS...]      (wsheap-run --help lists the options)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where `make install` puts the valgrind suppressions, and where the source tree keeps them
 * (for running from a build directory); set by tools/CMakeLists.txt. */
#ifndef WSHEAP_RUN_SUPP_INSTALLED
#define WSHEAP_RUN_SUPP_INSTALLED "/usr/local/share/wsheap/valgrind.supp"
#endif
#ifndef WSHEAP_RUN_SUPP_SOURCE
#define WSHEAP_RUN_SUPP_SOURCE ""
#endif
#define SUPP_RELATIVE "/../share/wsheap/valgrind.supp" /* from the directory of wsheap-run */

#define EXIT_USAGE     2
#define EXIT_NOT_EXEC  126 /* found but could not be run, as the shell reports it */
#define EXIT_NOT_FOUND 127
#define MAX_SETTINGS   32

/* One command-line option: a flag sets `env` to `value`; an option with an argument sets `env`
 * to that argument. `also` is a second variable the flag implies (NULL when none). */
struct flag {
    const char *name;
    const char *env;
    const char *value; /* NULL: takes an argument */
    const char *also;  /* "NAME=VALUE" or NULL */
    const char *help;
};

static const struct flag flags[] = {
    {"--pageheap", "WSHEAP_PAGEHEAP", "1", NULL,
     "guarded backend for every heap (overruns and use after reset stop the program)"},
    {"--backward", "WSHEAP_PAGEHEAP_BACKWARD", "1", "WSHEAP_PAGEHEAP=1",
     "guard page before each block, to trap underruns (implies --pageheap)"},
    {"--unaligned", "WSHEAP_PAGEHEAP_UNALIGNED", "1", "WSHEAP_PAGEHEAP=1",
     "block flush against the guard page, every overrun traps (implies --pageheap)"},
    {"--stats", "WSHEAP_STATS", "1", NULL,
     "print heap statistics by creation site at exit, with suggested sizes"},
    {"--leaks", "WSHEAP_LEAKS", "1", NULL,
     "list heaps never freed at exit (on by default with --pageheap)"},
    {"--no-leaks", "WSHEAP_LEAKS", "0", NULL, "no leak report, even with --pageheap"},
    {"--leaks-exitcode", "WSHEAP_LEAKS_EXITCODE", NULL, NULL,
     "N: exit status N when the leak report lists a heap (default: left alone)"},
    {"--no-symbolize", "WSHEAP_SYMBOLIZE", "0", NULL,
     "raw (module+offset) frames only; see wsheap-symbolize(1)"},
    {"--stack-depth", "WSHEAP_STACK_DEPTH", NULL, NULL, "N: frames kept per stack, 0..64"},
    {"--quarantine-mb", "WSHEAP_QUARANTINE_MB", NULL, NULL,
     "N: MiB of released guarded address space kept unused before reuse"},
    {"--verbose", "WSHEAP_VERBOSE", "1", NULL,
     "print the settings (here) and the options in effect (library)"},
};

#define N_FLAGS (sizeof flags / sizeof flags[0])

/* What the command line asked for. */
struct run {
    const char *settings[MAX_SETTINGS]; /* "NAME=VALUE", applied in order (later wins) */
    size_t n_settings;
    bool valgrind;
    bool verbose;
    char **argv; /* the program and its arguments */
};

static void usage(FILE *out)
{
    fputs("usage: wsheap-run [options] [--] PROGRAM [ARGS...]\n"
          "Runs PROGRAM with wsheap's WSHEAP_* environment variables set for the chosen mode\n"
          "and exits with its exit status (128+N when it dies by signal N).\n\n",
          out);
    for (size_t i = 0; i < N_FLAGS; i++) {
        char left[40];

        snprintf(left, sizeof left, "%s%s", flags[i].name, flags[i].value ? "" : " N");
        fprintf(out, "  %-20s %s [%s]\n", left, flags[i].help, flags[i].env);
    }
    fputs("  --set NAME=VALUE     set any other WSHEAP_* variable (see WSHEAP_HELP=1)\n"
          "  --valgrind           run PROGRAM under valgrind memcheck with wsheap's suppressions\n"
          "  --help               print this help and exit\n"
          "Exit status: PROGRAM's, or 2 for a usage error, 126 when PROGRAM cannot be run,\n"
          "127 when it is not found.\n",
          out);
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("wsheap-run: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'wsheap-run --help'.\n", stderr);
    return EXIT_USAGE;
}

static const struct flag *find_flag(const char *name)
{
    for (size_t i = 0; i < N_FLAGS; i++)
        if (strcmp(flags[i].name, name) == 0) return &flags[i];
    return NULL;
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

/* Parses argv into `run`. Returns -1 to go on, or an exit status (help, usage error). */
static int parse_args(int argc, char **argv, struct run *run)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const struct flag *f;

        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-') break; /* the program */
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(arg, "--valgrind") == 0) {
            run->valgrind = true;
            continue;
        }
        if (strcmp(arg, "--set") == 0) {
            if (i + 1 >= argc) return usage_error("option '%s' needs NAME=VALUE", arg);
            if (!valid_assignment(argv[++i]))
                return usage_error("--set '%s': expected WSHEAP_NAME=VALUE (only wsheap's own "
                                   "variables can be set)",
                                   argv[i]);
            if (run->n_settings == MAX_SETTINGS) return usage_error("too many settings%s", "");
            run->settings[run->n_settings++] = argv[i];
            continue;
        }
        f = find_flag(arg);
        if (f == NULL) return usage_error("unknown option '%s'", arg);
        if (f->also != NULL) {
            if (run->n_settings == MAX_SETTINGS) return usage_error("too many settings%s", "");
            run->settings[run->n_settings++] = f->also;
        }
        if (f->value == NULL) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0')
                return usage_error("option '%s' needs a value", arg);
            if (!add_setting(run, f->env, argv[++i])) return usage_error("out of memory%s", "");
        } else if (!add_setting(run, f->env, f->value)) {
            return usage_error("out of memory%s", "");
        }
        if (strcmp(arg, "--verbose") == 0) run->verbose = true;
    }
    if (i >= argc) return usage_error("no program given%s", "");
    run->argv = &argv[i];
    return -1;
}

/* --- Valgrind --------------------------------------------------------------------------------- */

static bool readable(const char *path)
{
    return path[0] != '\0' && access(path, R_OK) == 0;
}

/* The suppressions file: next to an installed wsheap-run (relocatable), then the configured
 * install path, then the source tree (a build directory). NULL when none is found. */
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
    if (readable(WSHEAP_RUN_SUPP_SOURCE)) return WSHEAP_RUN_SUPP_SOURCE;
    return NULL;
}

/* Builds "valgrind --tool=memcheck [--suppressions=FILE] PROGRAM ARGS..." (allocated). */
static char **valgrind_argv(char **argv)
{
    static char supp_arg[PATH_MAX + 32];
    const char *supp = find_suppressions();
    size_t n = 0, i = 0;
    char **out;

    while (argv[n] != NULL)
        n++;
    out = calloc(n + 4, sizeof *out);
    if (out == NULL) return NULL;
    out[i++] = "valgrind";
    out[i++] = "--tool=memcheck";
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
    struct run run = {.n_settings = 0};
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
