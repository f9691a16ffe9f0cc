/* SPDX-License-Identifier: MIT */
/*
 * Death tests of the fault report's module names (issue 9): a block allocated by a plugin that
 * was dlclose'd before the fault (item 10), a fault when every file descriptor is in use (item
 * 11), an executable whose path is about 650 characters long (item 15), and a library without
 * debug information where addr2line's nearest symbol is far from the address (item 17). Each
 * case runs in a forked child (or a program run by a child) with WSHEAP_PAGEHEAP=1, which must
 * die by SIGSEGV after one report; the report's frame lines are checked.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "death.h"
#include "internal.h"
#include "report.h"

#define OUT_SIZE 65536
static char out[OUT_SIZE];

typedef void *report_alloc_fn(unsigned long size);

/* --- What the children do --------------------------------------------------------------------- */

static WS_HEAP *child_heap;

static void child_setup(void)
{
    setenv("WSHEAP_PAGEHEAP", "1", 1); /* read at the child's first heap */
    if (WsCreateHeap(SIZE_MAX, 0, NULL, 0, &child_heap, NULL) != S_OK) _exit(90);
}

/* The allocating functions the reports name: global and never inlined. */
WSH_NOINLINE void *report_modules_alloc(unsigned long size)
{
    void *p = NULL;

    if (WsAlloc(child_heap, size, &p, NULL) != S_OK) _exit(91);
    __asm__ volatile("" ::: "memory");
    return p;
}

WSH_NOINLINE char *report_modules_make_block(void)
{
    char *p = report_modules_alloc(24);

    __asm__ volatile("" ::: "memory");
    return p;
}

WSH_NOINLINE void report_modules_overrun(char *p)
{
    ((volatile char *)p)[24] = 'w';
    __asm__ volatile("" ::: "memory");
}

/* Item 10: the block comes from the plugin, which is gone when the block is overrun. */
static void plugin_then_dlclose(void *arg)
{
    void *lib, *(*plugin_alloc)(report_alloc_fn *, unsigned long);
    char *p;

    (void)arg;
    child_setup();
    lib = dlopen(REPORT_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) _exit(92);
    *(void **)&plugin_alloc = dlsym(lib, "report_plugin_alloc");
    if (plugin_alloc == NULL) _exit(92);
    p = plugin_alloc(report_modules_alloc, 24);
    dlclose(lib);
    if (dlopen(REPORT_PLUGIN, RTLD_NOW | RTLD_NOLOAD) != NULL) _exit(93); /* still loaded */
    report_modules_make_block(); /* a new stack: the module table learns the plugin is gone */
    report_modules_overrun(p);
}

/* Item 11: every descriptor the limit allows is in use when the fault comes. */
static void no_free_descriptor(void *arg)
{
    struct rlimit rl;
    char *p;

    (void)arg;
    child_setup();
    p = report_modules_make_block();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 256) {
        rl.rlim_cur = 256;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    while (dup(2) >= 0)
        ;
    if (errno != EMFILE) _exit(94);
    report_modules_overrun(p);
}

/* Item 17: the block comes from a static function of a stripped library. */
static void nodebug_library(void *arg)
{
    void *lib, *(*nodebug_alloc)(report_alloc_fn *, unsigned long);
    char *p;

    (void)arg;
    child_setup();
    lib = dlopen(REPORT_NODEBUG, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) _exit(92);
    *(void **)&nodebug_alloc = dlsym(lib, "report_nodebug_alloc");
    if (nodebug_alloc == NULL) _exit(92);
    p = nodebug_alloc(report_modules_alloc, 24);
    report_modules_overrun(p);
}

/* --- Checks ----------------------------------------------------------------------------------- */

/* A frame line of the section holds `needle` and names no function. */
static bool raw_frame_in_section(const char *section, const char *needle)
{
    char title[256];
    const char *line, *end;

    snprintf(title, sizeof title, "==wsheap== %s", section);
    line = strstr(out, title);
    if (line == NULL) return false;
    end = strstr(line + 1, "==wsheap== ");
    if (end == NULL) end = line + strlen(line);
    while ((line = strchr(line, '\n')) != NULL && ++line < end) {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        const char *hit = memmem(line, len, needle, strlen(needle));

        if (hit != NULL && memmem(line, len, " in ", 4) == NULL) return true;
    }
    return false;
}

static void expect_absent(const char *needle)
{
    if (strstr(out, needle) != NULL) fail_with_output(out, "\"%s\" in the report", needle);
}

/* The path the report prints for `path`: the file itself, symbolic links resolved. */
static const char *real(const char *path, char *buf)
{
    return realpath(path, buf) != NULL ? buf : path;
}

/* --- Tests ------------------------------------------------------------------------------------ */

static void test_block_of_unloaded_plugin_names_it(void **state)
{
    char path[PATH_MAX], want[PATH_MAX + 8];
    int status = run_in_child(plugin_then_dlclose, NULL, out, sizeof out);

    (void)state;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 93) {
        print_message("dlclose does not unload the plugin here: test skipped\n");
        skip();
    }
    expect_sigsegv(status, out);
    snprintf(want, sizeof want, "(%s+0x", real(REPORT_PLUGIN, path));
    expect_in_section(out, "block allocated by thread", want);
    expect_in_section(out, "block allocated by thread", "in report_plugin_alloc ");
    expect_absent("<unknown module>");
}

static void test_modules_known_without_free_descriptor(void **state)
{
    int status = run_in_child(no_free_descriptor, NULL, out, sizeof out);
    size_t n_frames = 0;

    (void)state;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 94) {
        print_message("cannot use up the descriptors: test skipped\n");
        skip();
    }
    expect_sigsegv(status, out);
    expect_absent("<unknown module>");
    /* Every frame line ends with "(module+0xoffset)". */
    for (const char *line = out; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);

        if (strncmp(line, "  #", 3) == 0) {
            const char *open = memchr(line, '(', len);

            n_frames++;
            if (open == NULL || open[1] != '/' || line[len - 1] != ')' ||
                strstr(open, "+0x") == NULL || strstr(open, "+0x") > line + len)
                fail_with_output(out, "a frame line without (module+0xoffset): \"%.*s\"", (int)len,
                                 line);
        }
        line += len + (eol != NULL);
    }
    if (n_frames < 4) fail_with_output(out, "expected an access and an allocation stack");
    expect_in_section(out, "access by thread", "/test_report_modules+0x");
    expect_in_section(out, "block allocated by thread", "/test_report_modules+0x");
}

/* Makes `dir` and its parents (no error when they exist). */
static bool make_dirs(const char *dir)
{
    char buf[PATH_MAX];

    if (strlen(dir) >= sizeof buf) return false;
    strcpy(buf, dir);
    for (char *p = buf + 1; *p != '\0'; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return false;
            *p = '/';
        }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

/* Copies this test program to `to`, executable. */
static bool copy_self(const char *to)
{
    char buf[65536];
    int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), fd;
    bool ok = true;
    ssize_t n;

    if (in < 0) return false;
    unlink(to);
    fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (fd < 0) {
        close(in);
        return false;
    }
    while (ok && (n = read(in, buf, sizeof buf)) > 0)
        ok = write(fd, buf, (size_t)n) == n;
    close(in);
    return close(fd) == 0 && ok && n == 0;
}

static void test_long_executable_path(void **state)
{
    char dir[PATH_MAX - 32], exe[PATH_MAX], want[PATH_MAX + 8];
    char *argv[] = {exe, "--long-path-child", NULL};
    char *env[] = {"WSHEAP_PAGEHEAP=1", "WSHEAP_SYMBOLIZE=1", NULL};
    size_t len = (size_t)snprintf(dir, sizeof dir, "%s", REPORT_WORK_DIR);

    (void)state;
    /* Three 200-character directories: about 650 characters in all, a real path (no link). */
    for (int i = 0; i < 3; i++) {
        dir[len++] = '/';
        memset(dir + len, 'a' + i, 200);
        len += 200;
    }
    dir[len] = '\0';
    snprintf(exe, sizeof exe, "%s/test_report_modules", dir);
    if (!make_dirs(dir) || !copy_self(exe)) {
        print_message("cannot make %s: test skipped\n", exe);
        skip();
    }
    assert_true(strlen(exe) > 600);
    expect_sigsegv(run_program(argv, env, out, sizeof out), out);
    snprintf(want, sizeof want, "(%s+0x", exe);
    expect_in_section(out, "access by thread", want);
    expect_in_section(out, "access by thread", "in report_modules_overrun ");
    expect_in_section(out, "block allocated by thread", want);
    expect_in_section(out, "block allocated by thread", "in report_modules_make_block ");
}

static void test_no_name_outside_symbol_extent(void **state)
{
    char path[PATH_MAX], want[PATH_MAX + 8];
    int status = run_in_child(nodebug_library, NULL, out, sizeof out);

    (void)state;
    expect_sigsegv(status, out);
    /* addr2line alone names the tiny exported function before the static one. */
    expect_absent("report_nodebug_tiny");
    snprintf(want, sizeof want, "(%s+0x", real(REPORT_NODEBUG, path));
    expect_in_section(out, "block allocated by thread", want);
    /* The static function's frame is raw: "#N 0xPC (module+0xoffset)", no " in ". */
    if (!raw_frame_in_section("block allocated by thread", want))
        fail_with_output(out, "no raw frame in %s", want);
    expect_in_section(out, "block allocated by thread", "in report_nodebug_alloc ");
}

/* --- The program run from a long path --------------------------------------------------------- */

static int long_path_child(void)
{
    char *p;

    child_setup();
    p = report_modules_make_block();
    report_modules_overrun(p);
    return 1; /* not reached */
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_of_unloaded_plugin_names_it),
        cmocka_unit_test(test_modules_known_without_free_descriptor),
        cmocka_unit_test(test_long_executable_path),
        cmocka_unit_test(test_no_name_outside_symbol_extent),
    };

    if (argc == 2 && strcmp(argv[1], "--long-path-child") == 0) return long_path_child();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
