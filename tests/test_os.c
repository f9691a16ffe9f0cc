/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the operating-system layer (src/os_linux.c): the process's own pidfd that
 * batched guard installation uses, across fork.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "os.h"

/* The descriptor of this process that is a pidfd, or -1. */
static int find_pidfd(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;

    if (d == NULL) return -1;
    while (found < 0 && (e = readdir(d)) != NULL) {
        char path[300], target[64];
        ssize_t n;

        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        n = readlink(path, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[pidfd]") == 0) found = atoi(e->d_name);
    }
    closedir(d);
    return found;
}

/* Installs guards on two pages of a scratch mapping with the batched call; how many it did. */
static size_t strided_install(void)
{
    size_t page = wsh_os_page_size(), done;
    char *p = wsh_os_map(4 * page, true);

    assert_non_null(p);
    done = wsh_os_guard_install_strided(p, 2 * page, 2, page);
    wsh_os_unmap(p, 4 * page);
    return done;
}

/* A fork child that closes the parent's cached pidfd number and opens a file of its own, which
 * the kernel gives that same number: wsheap must not close the child's file when it opens a
 * pidfd for the child. */
static void fork_child_keeps_a_reused_pidfd_number(bool run_atfork_handlers)
{
    int pidfd, status;
    pid_t pid;

    if (strided_install() != 2) {
        print_message("skipped: this kernel cannot install guard pages through process_madvise\n");
        skip();
    }
    pidfd = find_pidfd();
    assert_true(pidfd >= 0);
    pid = run_atfork_handlers ? fork() : _Fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct stat st;
        int fd;

        close(pidfd); /* as a child would that closes what it inherited (harmless if closed) */
        fd = open("/dev/null", O_RDONLY);
        if (fd != pidfd) _exit(3); /* the number was not reused: nothing to test */
        if (strided_install() != 2) _exit(4);
        /* The child's own file must still be open and still be /dev/null. */
        if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode)) _exit(1);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 3) {
        print_message("skipped: the child did not get the pidfd's number back\n");
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_fork_child_keeps_a_reused_pidfd_number(void **state)
{
    (void)state;
    fork_child_keeps_a_reused_pidfd_number(true);
}

/* The same in a child made by _Fork, which runs no atfork handler: wsheap finds the parent's
 * entry in its cache and must check the number before closing it. */
static void test_raw_fork_child_keeps_a_reused_pidfd_number(void **state)
{
    (void)state;
    fork_child_keeps_a_reused_pidfd_number(false);
}

/* A _Fork child that leaves the inherited pidfd alone: wsheap closes it (it names the parent)
 * when it opens the child's own, so the child ends up with exactly one pidfd. */
static void test_raw_fork_child_drops_the_parents_pidfd(void **state)
{
    int status;
    pid_t pid;

    (void)state;
    if (strided_install() != 2) {
        print_message("skipped: this kernel cannot install guard pages through process_madvise\n");
        skip();
    }
    pid = _Fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int inherited = find_pidfd();

        if (inherited < 0 || strided_install() != 2) _exit(4);
        if (fcntl(inherited, F_GETFD) != -1) _exit(1); /* nothing else reopened the number */
        _exit(find_pidfd() >= 0 ? 0 : 2);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fork_child_keeps_a_reused_pidfd_number),
        cmocka_unit_test(test_raw_fork_child_keeps_a_reused_pidfd_number),
        cmocka_unit_test(test_raw_fork_child_drops_the_parents_pidfd),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
