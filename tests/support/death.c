/* SPDX-License-Identifier: MIT */
/*
 * Death-test support: fork, capture the child's output through a pipe, wait with a deadline;
 * the pid in wsheap's line prefix is dropped unless a _raw variant is used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "death.h"

#define DEADLINE_MS 60000

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t drop_report_pids(char *text)
{
    static const char head[] = "==wsheap==";
    size_t n = 0, k = 0;

    while (text[k] != '\0') {
        if (strncmp(text + k, head, sizeof head - 1) == 0) {
            size_t d = k + sizeof head - 1;

            while (text[d] >= '0' && text[d] <= '9')
                d++;
            if (d > k + sizeof head - 1 && text[d] == '=' && text[d + 1] == '=') {
                memmove(text + n, head, sizeof head - 1);
                n += sizeof head - 1;
                k = d + 2;
                continue;
            }
        }
        text[n++] = text[k++];
    }
    text[n] = '\0';
    return n;
}

/* Reads the child's output until EOF or the deadline, then reaps it; with `keep_pids` false,
 * "==wsheap==<pid>==" becomes "==wsheap==" (drop_report_pids). */
static int collect(pid_t pid, int fd, char *buf, size_t buf_size, bool keep_pids)
{
    size_t used = 0;
    long deadline = now_ms() + DEADLINE_MS;
    int status = -1;
    char sink[4096];

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long left = deadline - now_ms();
        ssize_t r;

        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        if (used + 1 < buf_size)
            r = read(fd, buf + used, buf_size - 1 - used);
        else
            r = read(fd, sink, sizeof sink); /* keep draining so the child never blocks */
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (used + 1 < buf_size) used += (size_t)r;
    }
    close(fd);
    if (buf_size > 0) buf[used] = '\0';
    if (buf_size > 0 && !keep_pids) drop_report_pids(buf);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* Forks with the child's stdout and stderr on a pipe. Returns the child's pid in the parent,
 * with *read_fd set to the pipe's read end; 0 in the child; -1 when the pipe or fork fails. */
static pid_t fork_captured(int *read_fd)
{
    int fds[2];
    pid_t pid;

    if (pipe(fds) != 0) return -1;
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        return 0;
    }
    close(fds[1]);
    *read_fd = fds[0];
    return pid;
}

static int child(void (*fn)(void *arg), void *arg, char *buf, size_t buf_size, bool keep_pids,
                 pid_t *pid_out)
{
    int fd = -1;
    pid_t pid = fork_captured(&fd);

    if (pid < 0) return -1;
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    if (pid_out != NULL) *pid_out = pid;
    return collect(pid, fd, buf, buf_size, keep_pids);
}

int run_in_child(void (*fn)(void *arg), void *arg, char *buf, size_t buf_size)
{
    return child(fn, arg, buf, buf_size, false, NULL);
}

int run_in_child_raw(void (*fn)(void *arg), void *arg, char *buf, size_t buf_size, pid_t *pid_out)
{
    return child(fn, arg, buf, buf_size, true, pid_out);
}

static int program(char *const argv[], char *const env[], char *buf, size_t buf_size,
                   bool keep_pids, pid_t *pid_out)
{
    int fd = -1;
    pid_t pid = fork_captured(&fd);

    if (pid < 0) return -1;
    if (pid == 0) {
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv(env[i]);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid_out != NULL) *pid_out = pid;
    return collect(pid, fd, buf, buf_size, keep_pids);
}

int run_program(char *const argv[], char *const env[], char *buf, size_t buf_size)
{
    return program(argv, env, buf, buf_size, false, NULL);
}

int run_program_raw(char *const argv[], char *const env[], char *buf, size_t buf_size,
                    pid_t *pid_out)
{
    return program(argv, env, buf, buf_size, true, pid_out);
}
