/* SPDX-License-Identifier: MIT */
/*
 * Death tests of the guarded backend's fault handling in hostile situations (issue 9, items
 * 12, 13, 14 and 16): a fault on a small thread stack or on a language runtime's small
 * alternate signal stack, a crash reporter that forwards faults back to wsheap's handler,
 * stderr a full pipe that nobody reads (with and without WSHEAP_LOG_PATH), and a second fault in
 * the thread writing a report.
 * Each case runs in a forked child (cmocka's own SIGSEGV handler rules in the test process)
 * that arms alarm(): a child that hangs or loops dies by SIGALRM instead of SIGSEGV, and the
 * test fails. The parent also checks how long the child took.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "death.h"
#include "guarded/guarded.h"
#include "internal.h"
#include "report.h"

#define OUT_SIZE 65536
static char out[OUT_SIZE];

/* --- What the children do --------------------------------------------------------------------- */

/* A guarded heap made the way WsCreateHeap makes one, with stacks, symbolizing when
 * `symbolize` (the most a report asks of its stack). Installs wsheap's handler over the
 * default action, not over the SIGSEGV handler inherited from cmocka (child_start). */
static WS_HEAP *new_heap_with(bool symbolize)
{
    struct wsh_options o = *wsh_options();
    struct wsh_heap *h;

    o.backend = WSH_BACKEND_GUARDED;
    o.stack_depth = 16;
    o.symbolize = symbolize;
    h = wsh_guarded_ops.create(&o);
    if (h == NULL) _exit(90);
    wsh_heap_init(h, &wsh_guarded_ops, SIZE_MAX, 0);
    return (WS_HEAP *)h;
}

static WS_HEAP *new_heap(void)
{
    return new_heap_with(false);
}

/* Every child starts here: the default SIGSEGV action (not cmocka's handler) below wsheap's,
 * and a deadline after which the child dies by SIGALRM. */
static void child_start(unsigned deadline_s)
{
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    alarm(deadline_s);
}

static char *new_block(WS_HEAP *heap, size_t size)
{
    void *p = NULL;

    if (WsAlloc(heap, size, &p, NULL) != S_OK) _exit(91);
    memset(p, 0x5a, size);
    return p;
}

WSH_NOINLINE void hostile_write(char *p, long at)
{
    ((volatile char *)p)[at] = 'w';
    __asm__ volatile("" ::: "memory");
}

/* Item 12: the block overrun by the threads below, allocated by the main thread. */
static char *shared_block;

/* Uses about 256 bytes of stack per level, then overruns shared_block. */
WSH_NOINLINE void recurse_then_overrun(int depth)
{
    volatile char pad[224];

    pad[0] = (char)depth;
    if (depth > 0)
        recurse_then_overrun(depth - 1);
    else
        hostile_write(shared_block, 24);
    __asm__ volatile("" ::: "memory");
    (void)pad[0];
}

static void *small_stack_thread(void *arg)
{
    (void)arg;
    recurse_then_overrun(12); /* about 3 KiB deep */
    _exit(92);
}

/* A thread with a 16 KiB stack (PTHREAD_STACK_MIN if that is more), no alternate signal stack
 * (it never created a guarded heap), overruns a block of the main thread's heap. */
static void small_stack_overrun(void *arg)
{
    size_t size = 16384;
    pthread_attr_t attr;
    pthread_t t;

    (void)arg;
    child_start(20);
    shared_block = new_block(new_heap_with(true), 24);
    if (size < (size_t)PTHREAD_STACK_MIN) size = PTHREAD_STACK_MIN;
    pthread_attr_init(&attr);
    if (pthread_attr_setstacksize(&attr, size) != 0) _exit(93);
    if (pthread_create(&t, &attr, small_stack_thread, NULL) != 0) _exit(94);
    pthread_join(t, NULL);
    _exit(95);
}

/* A thread that sets up its own 8 KiB alternate signal stack (the classic SIGSTKSZ, as
 * language runtimes do), then overruns a block of the main thread's heap. The stack is a
 * shared mapping made by the parent, so that the parent can see how much of it was used. */
#define RUNTIME_ALTSTACK_SIZE 8192
static char *runtime_altstack;

WSH_NOINLINE void *runtime_altstack_thread(void *arg)
{
    stack_t ss;

    (void)arg;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = runtime_altstack;
    ss.ss_size = RUNTIME_ALTSTACK_SIZE;
    if (sigaltstack(&ss, NULL) != 0) _exit(96);
    hostile_write(shared_block, 24);
    _exit(92);
}

static void runtime_altstack_overrun(void *arg)
{
    pthread_t t;

    (void)arg;
    child_start(20);
    shared_block = new_block(new_heap_with(true), 24);
    if (pthread_create(&t, NULL, runtime_altstack_thread, NULL) != 0) _exit(94);
    pthread_join(t, NULL);
    _exit(95);
}

/* Item 13: a crash reporter installed after the first heap that forwards a fault by putting
 * back the action it replaced (wsheap's) and returning; a later heap puts wsheap's handler
 * back on top. */
static struct sigaction forwarder_saved;

static void forwarder(int sig, siginfo_t *info, void *uc)
{
    static const char msg[] = "forwarder ran\n";

    (void)info;
    (void)uc;
    (void)!write(2, msg, sizeof msg - 1);
    sigaction(sig, &forwarder_saved, NULL);
}

static WS_HEAP *forwarder_setup(void)
{
    struct sigaction sa;

    child_start(10);
    new_heap();
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forwarder;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &forwarder_saved);
    return new_heap();
}

static void forwarder_null_deref(void *arg)
{
    (void)arg;
    forwarder_setup();
    hostile_write((char *)16, 0); /* NULL plus a little: UBSan leaves it to the kernel */
    _exit(95);
}

static void forwarder_overrun(void *arg)
{
    char *p = new_block(forwarder_setup(), 24);

    (void)arg;
    hostile_write(p, 24);
    _exit(95);
}

/* Item 14: stderr is a pipe whose reader never reads, and it is full. The pipe is filled
 * through its own (not shared) file description with O_NONBLOCK, which is cleared again, so
 * that the report's writes find a blocking, full pipe. */
static void full_pipe_overrun(void *arg)
{
    static char chunk[4096];
    int fds[2];
    char *p;

    (void)arg;
    child_start(20);
    p = new_block(new_heap(), 24);
    if (pipe(fds) != 0) _exit(97);
    if (fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) _exit(97);
    while (write(fds[1], chunk, sizeof chunk) > 0)
        ;
    while (write(fds[1], chunk, 1) > 0)
        ;
    if (errno != EAGAIN || fcntl(fds[1], F_SETFL, 0) != 0) _exit(97);
    dup2(fds[1], 2); /* fds[0] stays open, unread: writes block, they do not fail */
    hostile_write(p, 24);
    _exit(95);
}

/* The same full stderr pipe, with WSHEAP_LOG_PATH (issue 13): the line saying where the report
 * went gives up on the pipe after its own bound, and the report is written whole to the file,
 * named in `log_base` (the child's pid is appended). */
static char log_base[PATH_MAX];

static void full_pipe_overrun_logged(void *arg)
{
    setenv("WSHEAP_LOG_PATH", log_base, 1); /* read at the child's first guarded heap */
    full_pipe_overrun(arg);
}

/* Item 16: a signal handler that touches a guard page runs while the thread writes a report
 * (a corrupted-slack report from WsResetHeap, outside any SIGSEGV handler); the report's line
 * hook raises the signal after the first line, deterministically. */
static char *victim;

static void touch_guard(int sig)
{
    (void)sig;
    hostile_write(victim, 24);
}

static void raise_once(void)
{
    static int raised;

    if (raised++ == 0) raise(SIGUSR1);
}

static void fault_while_reporting(void *arg)
{
    WS_HEAP *heap;
    char *p;

    (void)arg;
    child_start(10);
    heap = new_heap();
    victim = new_block(heap, 24);
    p = new_block(heap, 13);
    signal(SIGUSR1, touch_guard);
    hostile_write(p, 13); /* into the slack: found by the reset */
    wsh_report_test_set_line_hook(raise_once);
    WsResetHeap(heap, NULL);
    _exit(95);
}

/* --- Checks ----------------------------------------------------------------------------------- */

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long elapsed_ms;

static int run(void (*fn)(void *arg))
{
    long start = now_ms();
    int status = run_in_child(fn, NULL, out, sizeof out);

    elapsed_ms = now_ms() - start;
    return status;
}

static void expect_sigsegv_within(int status, long max_ms)
{
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV) {
        if (WIFSIGNALED(status))
            fail_with_output(out, "child died by signal %d (%s), not SIGSEGV, after %ld ms",
                             WTERMSIG(status), WTERMSIG(status) == SIGALRM ? "its deadline" : "?",
                             elapsed_ms);
        else
            fail_with_output(out, "child exited with status %d, not by SIGSEGV",
                             WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (elapsed_ms > max_ms)
        fail_with_output(out, "child took %ld ms to die (at most %ld expected)", elapsed_ms,
                         max_ms);
}

static void test_overrun_on_small_thread_stack(void **state)
{
    (void)state;
    expect_sigsegv_within(run(small_stack_overrun), 15000);
    expect_text(out, "==wsheap== ERROR: heap-buffer-overflow WRITE at 0x");
    expect_text(out, " in recurse_then_overrun ");
    expect_text(out, "==wsheap== END\n");
}

/* Besides the kernel's signal frame, wsheap's handler may use this much of a runtime's 8 KiB
 * alternate stack: the report itself runs elsewhere. Measured on x86-64 with AVX-512: the
 * kernel's frame 3.6 KiB, the handler's path 0.2 KiB (2.9 KiB with ASan's bigger frames); the
 * report, 4.8 KiB (6 KiB with ASan), would not fit beside them. */
#if defined(__SANITIZE_ADDRESS__)
#define HANDLER_MAX_USED 3584
#else
#define HANDLER_MAX_USED 2560
#endif

static void test_overrun_on_runtime_altstack(void **state)
{
    /* The kernel's frame depends on the CPU's register state (AT_MINSIGSTKSZ says how big). */
    size_t frame = (size_t)getauxval(AT_MINSIGSTKSZ), max_used, untouched = 0;

    (void)state;
    if (frame == 0) frame = 3712; /* an older kernel: what AVX-512 needs */
    max_used = frame + HANDLER_MAX_USED;
    if (max_used > RUNTIME_ALTSTACK_SIZE) {
        print_message("skipped: this CPU's signal frame (%zu bytes) leaves no room in an 8 KiB "
                      "alternate stack\n",
                      frame);
        skip();
    }
    runtime_altstack = mmap(NULL, RUNTIME_ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(runtime_altstack != MAP_FAILED);
    expect_sigsegv_within(run(runtime_altstack_overrun), 15000);
    expect_text(out, "==wsheap== ERROR: heap-buffer-overflow WRITE at 0x");
    expect_text(out, " in runtime_altstack_thread ");
    expect_text(out, "==wsheap== END\n");
    /* The stack grows down from its end: the zero bytes at its start were never written. */
    while (untouched < RUNTIME_ALTSTACK_SIZE && runtime_altstack[untouched] == 0)
        untouched++;
    print_message("the fault used %zu bytes of the 8 KiB alternate stack\n",
                  RUNTIME_ALTSTACK_SIZE - untouched);
    if (RUNTIME_ALTSTACK_SIZE - untouched > max_used)
        fail_with_output(
            out,
            "the fault used %zu bytes of the 8 KiB alternate stack (at most %zu expected: "
            "the kernel's frame %zu and the handler's %d)",
            RUNTIME_ALTSTACK_SIZE - untouched, max_used, frame, HANDLER_MAX_USED);
    munmap(runtime_altstack, RUNTIME_ALTSTACK_SIZE);
}

static void test_forwarded_foreign_fault_ends(void **state)
{
    (void)state;
    expect_sigsegv_within(run(forwarder_null_deref), 5000);
    expect_text(out, "forwarder ran");
    /* Once: wsheap's handler sees that the fault came back and passes it on at once. */
    if (strstr(strstr(out, "forwarder ran") + 1, "forwarder ran") != NULL)
        fail_with_output(out, "the fault went back and forth before it ended");
    if (strstr(out, "==wsheap==") != NULL)
        fail_with_output(out, "a report for a fault not wsheap's");
}

static void test_forwarder_does_not_hide_overrun(void **state)
{
    (void)state;
    expect_sigsegv_within(run(forwarder_overrun), 5000);
    expect_text(out, "==wsheap== ERROR: heap-buffer-overflow WRITE at 0x");
    expect_text(out, "==wsheap== END\n");
    if (strstr(out, "forwarder ran") != NULL)
        fail_with_output(out, "wsheap's fault went to the forwarder");
}

static void test_full_stderr_pipe_does_not_hang(void **state)
{
    (void)state;
    expect_sigsegv_within(run(full_pipe_overrun), 15000);
}

static void test_full_stderr_pipe_with_log_path(void **state)
{
    char path[PATH_MAX + 32];
    pid_t pid = 0;
    long start = now_ms();
    int status;
    FILE *f;
    static char file[OUT_SIZE];
    size_t n;

    (void)state;
    snprintf(log_base, sizeof log_base, "%s/hostile-log", P_tmpdir);
    status = run_in_child_raw(full_pipe_overrun_logged, NULL, out, sizeof out, &pid);
    elapsed_ms = now_ms() - start;
    expect_sigsegv_within(status, 15000);
    snprintf(path, sizeof path, "%s.%d", log_base, (int)pid);
    f = fopen(path, "r");
    if (f == NULL) fail_with_output(out, "no report file %s", path);
    n = fread(file, 1, sizeof file - 1, f);
    file[n] = '\0';
    fclose(f);
    unlink(path);
    expect_text(file, "== ERROR: heap-buffer-overflow WRITE at 0x");
    expect_text(file, "== END\nSUMMARY: wsheap: heap-buffer-overflow ");
}

static void test_fault_while_reporting_dies_at_once(void **state)
{
    (void)state;
    expect_sigsegv_within(run(fault_while_reporting), 5000);
    expect_text(out, "==wsheap== ERROR: corrupted-slack at 0x");
    expect_text(out, "==wsheap== ERROR: a second fault while this thread was writing the report: "
                     "heap-buffer-overflow WRITE at 0x");
    if (strstr(out, "==wsheap== END") != NULL)
        fail_with_output(out, "the interrupted report went on");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overrun_on_small_thread_stack),
        cmocka_unit_test(test_overrun_on_runtime_altstack),
        cmocka_unit_test(test_forwarded_foreign_fault_ends),
        cmocka_unit_test(test_forwarder_does_not_hide_overrun),
        cmocka_unit_test(test_full_stderr_pipe_does_not_hang),
        cmocka_unit_test(test_full_stderr_pipe_with_log_path),
        cmocka_unit_test(test_fault_while_reporting_dies_at_once),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
