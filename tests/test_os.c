/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the operating-system layer (src/os_linux.c): how batched guard installation
 * names this process to process_madvise — the PIDFD_SELF sentinel where the kernel takes it (no
 * descriptor), else a pidfd of its own, across fork — and that neither costs a getpid() per
 * batch (counted with strace, when it is installed and may trace).
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
#include <sys/syscall.h>
#include <sys/uio.h>
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

#define PIDFD_SELF_PROCESS (-10001) /* PIDFD_SELF_THREAD_GROUP, Linux 6.14+ */
#define MADV_GUARD         102      /* MADV_GUARD_INSTALL */

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

/* The fork tests below are about the descriptor path (kernels before 6.14): they force it. */
static int force_pidfd(void **state)
{
    (void)state;
    wsh_os_force_pidfd(true);
    return 0;
}

static int unforce_pidfd(void **state)
{
    (void)state;
    wsh_os_force_pidfd(false);
    return 0;
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

/* True when this kernel takes the PIDFD_SELF sentinel for process_madvise with guard advice. */
static bool kernel_takes_pidfd_self(void)
{
    size_t page = wsh_os_page_size();
    char *p = wsh_os_map(2 * page, true);
    struct iovec iov = {p, page};
    long done;

    assert_non_null(p);
    done = syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, &iov, 1, MADV_GUARD, 0);
    wsh_os_unmap(p, 2 * page);
    return done == (long)page;
}

/* Where the kernel takes the sentinel, batches open no pidfd at all (so nothing is left to a
 * fork child either). Run in a fork child, which starts without the parent's cached pidfd. */
static void test_sentinel_opens_no_pidfd(void **state)
{
    int status;
    pid_t pid;

    (void)state;
    if (!kernel_takes_pidfd_self()) {
        print_message("skipped: this kernel does not take PIDFD_SELF for process_madvise\n");
        skip();
    }
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (find_pidfd() >= 0) _exit(3); /* the atfork handler did not close the parent's */
        if (strided_install() != 2 || strided_install() != 2) _exit(4);
        _exit(find_pidfd() < 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The program to trace in test_no_getpid_per_batch: `test_os --batches N pidfd|self` makes N
 * batched installs and exits 0 when each guarded its two pages. */
static int run_batches(int n, bool pidfd)
{
    wsh_os_force_pidfd(pidfd);
    for (int i = 0; i < n; i++)
        if (strided_install() != 2) return 1;
    return 0;
}

/* The path of `name` on PATH, in `out`; false when not found. */
static bool find_program(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");

    if (path == NULL) path = "/usr/bin:/bin";
    while (*path != '\0') {
        size_t n = strcspn(path, ":");

        if (n > 0 && (size_t)snprintf(out, size, "%.*s/%s", (int)n, path, name) < size &&
            access(out, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

/* Runs `test_os --batches n mode` under `strace -f -e trace=getpid,process_madvise`, counts
 * the calls of each in its log. False when strace could not trace (no ptrace here). */
static bool trace_batches(const char *strace, int n, const char *mode, int *getpids, int *batches)
{
    char self[4096], log[] = "/tmp/wsheap-test-os-XXXXXX", count[16], line[512];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    int fd = mkstemp(log), status;
    FILE *f;
    pid_t pid;

    assert_true(len > 0 && fd >= 0);
    self[len] = '\0';
    close(fd);
    snprintf(count, sizeof count, "%d", n);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, 1);
        dup2(null, 2);
        /* LeakSanitizer cannot run under ptrace: in an ASan build its exit check would fail. */
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        execl(strace, "strace", "-f", "-qq", "-e", "trace=getpid,process_madvise", "-o", log, self,
              "--batches", count, mode, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    *getpids = *batches = 0;
    f = fopen(log, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, "getpid(") != NULL) (*getpids)++;
        if (strstr(line, "process_madvise(") != NULL) (*batches)++;
    }
    fclose(f);
    unlink(log);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && *batches > 0;
}

/* 300 batches make 200 more process_madvise calls than 100 do, and not one more getpid (the
 * runtime may call getpid at start-up, and the descriptor path once to open its pidfd: the
 * difference of two runs leaves those out). With PIDFD_SELF and on the descriptor path. */
static void test_no_getpid_per_batch(void **state)
{
    const char *modes[] = {"pidfd", "self"};
    char strace[4096];

    (void)state;
    if (strided_install() != 2) {
        print_message("skipped: this kernel cannot install guard pages through process_madvise\n");
        skip();
    }
    if (!find_program("strace", strace, sizeof strace)) {
        print_message("skipped: strace is not installed\n");
        skip();
    }
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        int getpids[2], batches[2];

        if (!trace_batches(strace, 100, modes[i], &getpids[0], &batches[0]) ||
            !trace_batches(strace, 300, modes[i], &getpids[1], &batches[1])) {
            print_message("skipped: the traced run failed (ptrace not permitted here?)\n");
            skip();
        }
        print_message("%s: 100 / 300 batches: %d / %d process_madvise, %d / %d getpid\n", modes[i],
                      batches[0], batches[1], getpids[0], getpids[1]);
        assert_int_equal(batches[1] - batches[0], 200);
        assert_int_equal(getpids[1], getpids[0]);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fork_child_keeps_a_reused_pidfd_number, force_pidfd,
                                        unforce_pidfd),
        cmocka_unit_test_setup_teardown(test_raw_fork_child_keeps_a_reused_pidfd_number,
                                        force_pidfd, unforce_pidfd),
        cmocka_unit_test_setup_teardown(test_raw_fork_child_drops_the_parents_pidfd, force_pidfd,
                                        unforce_pidfd),
        cmocka_unit_test(test_sentinel_opens_no_pidfd),
        cmocka_unit_test(test_no_getpid_per_batch),
    };

    if (argc == 4 && strcmp(argv[1], "--batches") == 0)
        return run_batches(atoi(argv[2]), strcmp(argv[3], "pidfd") == 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
