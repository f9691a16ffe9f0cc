/* SPDX-License-Identifier: MIT */
/*
 * Death-test support: fork, capture the child's output through a pipe, wait with a deadline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
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

/* Reads the child's output until EOF or the deadline, then reaps it. */
static int collect(pid_t pid, int fd, char *buf, size_t buf_size)
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

int run_in_child(void (*fn)(void *arg), void *arg, char *buf, size_t buf_size)
{
    int fd = -1;
    pid_t pid = fork_captured(&fd);

    if (pid < 0) return -1;
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    return collect(pid, fd, buf, buf_size);
}

int run_program(char *const argv[], char *const env[], char *buf, size_t buf_size)
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
    return collect(pid, fd, buf, buf_size);
}
