/* SPDX-License-Identifier: MIT */
/*
 * The program the wsheap-run tests run: `run_helper env` prints its WSHEAP_* environment
 * variables, sorted, one per line; `run_helper exit N` exits with status N; `run_helper signal N`
 * kills itself with signal N; `run_helper bad-read` reads one byte past a calloc'd block (an error
 * memcheck reports; harmless without it) and exits 0. Any other FOO=... variables named on the
 * command line after `env` are printed too, so a test can check they pass through untouched.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int compare(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "env") == 0) {
        const char *found[256];
        size_t n = 0;

        for (char **e = environ; *e != NULL && n < 256; e++)
            if (strncmp(*e, "WSHEAP_", 7) == 0) found[n++] = *e;
        qsort(found, n, sizeof found[0], compare);
        for (size_t i = 0; i < n; i++)
            puts(found[i]);
        for (int i = 2; i < argc; i++) {
            const char *value = getenv(argv[i]);

            printf("%s=%s\n", argv[i], value != NULL ? value : "(unset)");
        }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
    if (argc == 3 && strcmp(argv[1], "signal") == 0) {
        signal(atoi(argv[2]), SIG_DFL);
        raise(atoi(argv[2]));
        return 99; /* the signal was blocked or ignored */
    }
    if (argc == 2 && strcmp(argv[1], "bad-read") == 0) {
        volatile size_t past = 8; /* volatile: no compiler sees the overrun */
        char *block = calloc(1, 8);
        int c;

        if (block == NULL) return 2;
        c = block[past];
        free(block);
        return c == 256; /* never true: c only keeps the read */
    }
    fputs("usage: run_helper env [NAME...] | exit N | signal N | bad-read\n", stderr);
    return 2;
}
