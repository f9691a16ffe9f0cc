/* SPDX-License-Identifier: MIT */
/*
 * Replays fuzz inputs through the libFuzzer harness without libFuzzer: each argument is a file
 * or a directory of files (read in name order), each file one LLVMFuzzerTestOneInput call. The
 * normal test suite runs the seed corpus and the kept findings this way, in every build.
 */
#define _GNU_SOURCE /* DT_REG, DT_UNKNOWN */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs one file; 0 when it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, got;

    if (f == NULL) return 0;
    do {
        if (size == cap) {
            uint8_t *grown = realloc(data, cap = cap ? cap * 2 : 4096);

            if (grown == NULL) {
                free(data);
                fclose(f);
                return 0;
            }
            data = grown;
        }
        got = fread(data + size, 1, cap - size, f);
        size += got;
    } while (got > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    long n_inputs = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        struct dirent **names;
        int n;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "fuzz_replay: cannot read %s\n", argv[i]);
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (!replay_file(argv[i])) return 2;
            n_inputs++;
            continue;
        }
        n = scandir(argv[i], &names, NULL, by_name);
        if (n < 0) return 2;
        for (int k = 0; k < n; k++) {
            char path[4096];

            if (names[k]->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                    if (!replay_file(path)) return 2;
                    n_inputs++;
                }
            }
            free(names[k]);
        }
        free(names);
    }
    printf("fuzz_replay: %ld inputs replayed, every invariant held\n", n_inputs);
    return n_inputs > 0 ? 0 : 2;
}
