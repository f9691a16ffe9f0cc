/* SPDX-License-Identifier: MIT */
/*
 * Death tests of the guarded backend: each error kind is committed in a forked child (cmocka's
 * own SIGSEGV handler rules in the test process), which must die by SIGSEGV after printing one
 * report; the report's lines are checked: kind, READ/WRITE, size, offset, ordinal, heap name,
 * and the names of the functions that allocated and accessed the block (symbolized). Faults
 * that are not wsheap's must reach the handler installed before wsheap's, unchanged.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "death.h"
#include "guarded/guarded.h"
#include "internal.h"
#include "os.h"
#include "report.h"

#define OUT_SIZE 65536
static char out[OUT_SIZE];

/* --- What the children do --------------------------------------------------------------------- */

static WS_HEAP *new_heap_with(bool backward, bool unaligned)
{
    struct wsh_options o = *wsh_options();
    struct wsh_heap *h;

    o.backend = WSH_BACKEND_GUARDED;
    o.backward = backward;
    o.unaligned = unaligned;
    o.stack_depth = 16;
    o.symbolize = true;
    o.quarantine_size = (size_t)64 << 20;
    h = wsh_guarded_ops.create(&o);
    if (h == NULL) _exit(90);
    wsh_heap_init(h, &wsh_guarded_ops, SIZE_MAX, 0);
    wsheap_set_heap_name((WS_HEAP *)h, "death");
    return (WS_HEAP *)h;
}

/* The allocating, accessing and releasing functions the reports must name: global and never
 * inlined, so that addr2line finds them. */
WSH_NOINLINE char *death_make_block(WS_HEAP *heap, size_t size)
{
    void *p = NULL;

    if (WsAlloc(heap, size, &p, NULL) != S_OK) _exit(91);
    memset(p, 0x5a, size);
    __asm__ volatile("" ::: "memory");
    return p;
}

WSH_NOINLINE void death_write(char *p, long at)
{
    ((volatile char *)p)[at] = 'w';
    __asm__ volatile("" ::: "memory");
}

WSH_NOINLINE char death_read(const char *p, long at)
{
    char c = ((const volatile char *)p)[at];

    __asm__ volatile("" ::: "memory");
    return c;
}

WSH_NOINLINE void death_reset(WS_HEAP *heap)
{
    WsResetHeap(heap, NULL);
    __asm__ volatile("" ::: "memory");
}

WSH_NOINLINE void death_free(WS_HEAP *heap)
{
    WsFreeHeap(heap);
    __asm__ volatile("" ::: "memory");
}

/* Three blocks first, so the faulty one is block #3. */
static char *fourth_block(WS_HEAP *heap, size_t size)
{
    for (int i = 0; i < 3; i++)
        death_make_block(heap, 100);
    return death_make_block(heap, size);
}

static void overflow_write(void *arg)
{
    WS_HEAP *heap = new_heap_with(false, false);
    char *p = fourth_block(heap, 24);

    (void)arg;
    death_write(p, 24);
}

static void overflow_read_unaligned(void *arg)
{
    WS_HEAP *heap = new_heap_with(false, true);
    char *p = fourth_block(heap, 13);

    (void)arg;
    death_read(p, 13);
}

static void underflow_backward(void *arg)
{
    WS_HEAP *heap = new_heap_with(true, false);
    char *p = fourth_block(heap, 10);

    (void)arg;
    death_write(p, -1);
}

static void use_after_reset(void *arg)
{
    WS_HEAP *heap = new_heap_with(false, false);
    char *p = fourth_block(heap, 24);

    (void)arg;
    death_reset(heap);
    for (int i = 0; i < 1000; i++) /* the address is not handed out again */
        death_make_block(heap, 24);
    death_read(p, 3);
}

static void double_free_heap(void *arg)
{
    WS_HEAP *heap = new_heap_with(false, false);

    (void)arg;
    fourth_block(heap, 24);
    death_free(heap);
    WsFreeHeap(heap);
}

static void alloc_on_freed_heap(void *arg)
{
    WS_HEAP *heap = new_heap_with(false, false);
    void *p;

    (void)arg;
    death_free(heap);
    WsAlloc(heap, 10, &p, NULL);
}

static void block_after_free_heap(void *arg)
{
    WS_HEAP *heap = new_heap_with(false, false);
    char *p = fourth_block(heap, 24);

    (void)arg;
    death_free(heap);
    death_write(p, 0);
}

static void slack_overrun_found_at_reset(void *arg)
{
    WS_HEAP *heap = new_heap_with(false, false);
    char *p = fourth_block(heap, 13);

    (void)arg;
    death_write(p, 13); /* into the 3 slack bytes: no guard page there */
    death_reset(heap);
}

/* Backward mode, blocks of 31 pages: the first spans hold one, three, then seven of them, so
 * blocks #2, #5 and #7 lie in two spans and the newest span (#5, #7) is checked first. Their
 * slack (the tail of their last page) is overrun by one byte each. */
static void many_corrupted_found_at_reset(void *arg)
{
    WS_HEAP *heap = new_heap_with(true, false);
    const size_t size = 126000;
    char *p[8];

    (void)arg;
    for (int i = 0; i < 8; i++)
        p[i] = death_make_block(heap, size);
    death_write(p[7], (long)size);
    death_write(p[2], (long)size);
    death_write(p[5], (long)size + 1);
    death_reset(heap);
}

static void head_underrun_found_at_free(void *arg)
{
    WS_HEAP *heap = new_heap_with(false, false);
    char *p = fourth_block(heap, 40);

    (void)arg;
    death_write(p, -2);
    death_free(heap);
}

static void overflow_with_mprotect(void *arg)
{
    WS_HEAP *heap;
    char *p;

    (void)arg;
    wsh_os_force_no_guard_advice(true);
    heap = new_heap_with(false, false);
    p = fourth_block(heap, 24);
    death_write(p, 24);
}

static void redzone_overrun_found_at_reset(void *arg)
{
    WS_HEAP *heap;
    struct wsh_guarded_stats st;
    char *p;

    (void)arg;
    wsh_os_force_no_guard_advice(true);
    heap = new_heap_with(false, false);
    death_make_block(heap, 8);
    wsh_guarded_get_stats(&st);
    wsh_guarded_set_map_limit(st.map_estimate); /* no room for one more guarded block */
    p = fourth_block(heap, 20);
    death_write(p, 21);
    death_reset(heap);
}

static void no_stacks(void *arg)
{
    struct wsh_options o = *wsh_options();
    struct wsh_heap *h;
    char *p;

    (void)arg;
    o.backend = WSH_BACKEND_GUARDED;
    o.stack_depth = 0;
    o.symbolize = false;
    h = wsh_guarded_ops.create(&o);
    if (h == NULL) _exit(90);
    wsh_heap_init(h, &wsh_guarded_ops, SIZE_MAX, 0);
    p = death_make_block((WS_HEAP *)h, 8);
    death_write(p, 8);
}

static void previous_handler(int sig, siginfo_t *info, void *uc)
{
    static const char msg[] = "previous handler ran\n";

    (void)sig;
    (void)info;
    (void)uc;
    (void)!write(2, msg, sizeof msg - 1);
    _exit(42);
}

static void foreign_fault_chains(void *arg)
{
    struct sigaction sa;
    char *own;

    (void)arg;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = previous_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    new_heap_with(false, false); /* installs wsheap's handler over it */
    own = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    death_write(own, 0);
}

/* A crash reporter installed after wsheap that chains to the handler it replaced (wsheap's). */
static struct sigaction reporter_previous;

static void chaining_reporter(int sig, siginfo_t *info, void *uc)
{
    static const char msg[] = "reporter ran\n";

    (void)!write(2, msg, sizeof msg - 1);
    if (reporter_previous.sa_flags & SA_SIGINFO) reporter_previous.sa_sigaction(sig, info, uc);
}

static void foreign_fault_chain_loop(void *arg)
{
    struct sigaction sa;

    (void)arg;
    signal(SIGSEGV, SIG_DFL);
    new_heap_with(false, false);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = chaining_reporter;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, &reporter_previous);
    new_heap_with(false, false); /* wsheap's handler goes on top again, chaining to the reporter */
    death_write((char *)16, 0);
}

static void foreign_fault_default(void *arg)
{
    (void)arg;
    signal(SIGSEGV, SIG_DFL);
    new_heap_with(false, false);
    death_write((char *)16, 0);
}

static void foreign_raise_ignored(void *arg)
{
    (void)arg;
    signal(SIGSEGV, SIG_IGN);
    new_heap_with(false, false);
    raise(SIGSEGV); /* sent, not a fault: ignored as before wsheap */
    _exit(7);
}

/* --- Checks ----------------------------------------------------------------------------------- */

/* cmocka cuts long messages: the child's whole output goes to stderr first. */
/* --- Concurrent use: children with two threads on one heap ------------------------------------ */

/* The children's thread ids, for the parent to find in the report: in a shared mapping made
 * before the fork. [0] holds the call inside the heap (or hammers allocations), [1] enters. */
static int32_t *shared_tids;

static WS_HEAP *concurrent_heap;
static sem_t held;              /* posted when the hook holds a call inside the heap */
static atomic_int hook_calls;   /* WsAlloc calls the hook has seen */
static atomic_int hold_at = -1; /* the hook holds the WsAlloc with this index, once */
static pthread_barrier_t start_line;

/* The test hook: holds the chosen WsAlloc inside the heap until the other thread's report
 * kills the process (bounded, so that a missed detection fails instead of hanging). */
static void hold_inside(WS_HEAP *heap, const char *call)
{
    (void)heap;
    if (strcmp(call, "WsAlloc") != 0 || atomic_fetch_add(&hook_calls, 1) != atomic_load(&hold_at))
        return;
    sem_post(&held);
    sleep(20);
    _exit(93);
}

WSH_NOINLINE void *death_alloc_thread(void *arg)
{
    (void)arg;
    shared_tids[0] = wsh_thread_id();
    death_make_block(concurrent_heap, 16); /* the hook holds this one */
    _exit(94);
}

/* WsResetHeap enters the heap while the other thread is held inside WsAlloc: one report,
 * every time. */
static void reset_while_alloc(void *arg)
{
    pthread_t t;

    (void)arg;
    concurrent_heap = new_heap_with(false, false);
    sem_init(&held, 0, 0);
    atomic_store(&hold_at, 0);
    wsh_guarded_test_set_inside_hook(hold_inside);
    shared_tids[1] = wsh_thread_id();
    if (pthread_create(&t, NULL, death_alloc_thread, NULL) != 0) _exit(95);
    while (sem_wait(&held) != 0)
        ;
    death_reset(concurrent_heap);
    _exit(96); /* not reached: the reset must report */
}

/* Both threads hammer the heap from a barrier; the hook holds the 200th WsAlloc (whichever
 * thread makes it), so that an overlap happens even if the scheduler never interleaves the
 * two loops by itself. Either thread may be the one that finds the heap held. */
WSH_NOINLINE void *death_hammer_thread(void *arg)
{
    int which = (int)(intptr_t)arg;

    shared_tids[which] = wsh_thread_id();
    pthread_barrier_wait(&start_line);
    for (long i = 1; i < 10000000; i++) {
        void *p;

        if (which == 1 && i % 8 == 0)
            WsResetHeap(concurrent_heap, NULL);
        else
            WsAlloc(concurrent_heap, 24, &p, NULL);
        if (which == 0 && i % 64 == 0) WsResetHeap(concurrent_heap, NULL); /* bounds memory */
    }
    _exit(97);
}

static void hammer(void *arg)
{
    pthread_t t[2];

    (void)arg;
    concurrent_heap = new_heap_with(false, false);
    sem_init(&held, 0, 0);
    atomic_store(&hold_at, 200);
    wsh_guarded_test_set_inside_hook(hold_inside);
    pthread_barrier_init(&start_line, NULL, 2);
    for (intptr_t i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, death_hammer_thread, (void *)i) != 0) _exit(95);
    pthread_join(t[0], NULL);
    _exit(98);
}

/* Two threads take turns with one heap, handing it over with a mutex: correct use, no report. */
static pthread_mutex_t handover = PTHREAD_MUTEX_INITIALIZER;

static void *take_turns(void *arg)
{
    (void)arg;
    for (int round = 0; round < 300; round++) {
        pthread_mutex_lock(&handover);
        for (int i = 0; i < 4; i++)
            death_make_block(concurrent_heap, 40);
        WsResetHeap(concurrent_heap, NULL);
        pthread_mutex_unlock(&handover);
    }
    return NULL;
}

static void handed_over(void *arg)
{
    pthread_t t[2];

    (void)arg;
    concurrent_heap = new_heap_with(false, false);
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, take_turns, NULL) != 0) _exit(95);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    WsFreeHeap(concurrent_heap); /* from a third thread, after both: fine too */
}

static void expect_first_line(const char *prefix)
{
    if (strncmp(out, prefix, strlen(prefix)) != 0)
        fail_with_output(out, "the report must start with \"%s\"", prefix);
}

static void expect_one_report(void)
{
    const char *first = strstr(out, "==wsheap== ERROR:");

    if (first == NULL || strstr(first + 1, "==wsheap== ERROR:") != NULL)
        fail_with_output(out, "expected exactly one report");
    expect_text(out, "==wsheap== END\n");
}

static int run(void (*fn)(void *))
{
    int status = run_in_child(fn, NULL, out, sizeof out);

    assert_true(status != -1);
    return status;
}

/* --- Tests ------------------------------------------------------------------------------------ */

static void test_overflow_write(void **state)
{
    (void)state;
    expect_sigsegv(run(overflow_write), out);
    expect_first_line("==wsheap== ERROR: heap-buffer-overflow WRITE at 0x");
    expect_text(out,
                "==wsheap== 0 bytes to the right of a 24-byte block #3 from WsAlloc on heap 0x");
    expect_text(out, "\"death\" (backend guarded)\n");
    expect_in_section(out, "access by thread", "in death_write ");
    expect_in_section(out, "block allocated by thread", "in death_make_block ");
    expect_in_section(out, "block allocated by thread", "test_guarded_death.c:");
    expect_one_report();
}

static void test_overflow_read_unaligned(void **state)
{
    (void)state;
    expect_sigsegv(run(overflow_read_unaligned), out);
    expect_first_line("==wsheap== ERROR: heap-buffer-overflow READ at 0x");
    expect_text(out, "0 bytes to the right of a 13-byte block #3");
    expect_in_section(out, "access by thread", "in death_read ");
    expect_in_section(out, "block allocated by thread", "in death_make_block ");
    expect_one_report();
}

static void test_underflow_backward(void **state)
{
    (void)state;
    expect_sigsegv(run(underflow_backward), out);
    expect_first_line("==wsheap== ERROR: heap-buffer-underflow WRITE at 0x");
    expect_text(out, "1 byte to the left of a 10-byte block #3");
    expect_in_section(out, "block allocated by thread", "in death_make_block ");
    expect_one_report();
}

static void test_use_after_reset(void **state)
{
    (void)state;
    expect_sigsegv(run(use_after_reset), out);
    expect_first_line("==wsheap== ERROR: use-after-reset READ at 0x");
    expect_text(out, "3 bytes inside a 24-byte block #3");
    expect_in_section(out, "access by thread", "in death_read ");
    expect_in_section(out, "block allocated by thread", "in death_make_block ");
    expect_in_section(out, "block released by WsResetHeap (reset #1 of the heap)",
                      "in death_reset ");
    expect_one_report();
}

static void test_double_free_heap(void **state)
{
    (void)state;
    expect_sigsegv(run(double_free_heap), out);
    expect_first_line("==wsheap== ERROR: use-after-free-heap READ at 0x");
    expect_text(out, "inside the object of heap 0x");
    expect_text(out, "\"death\", a heap freed by WsFreeHeap");
    expect_in_section(out, "access by thread", "in WsFreeHeap ");
    expect_in_section(out, "heap freed by WsFreeHeap", "in death_free ");
    /* These tests create heaps through the backend's ops, so the creating frame is ours. */
    expect_in_section(out, "heap created by thread", "in new_heap_with ");
    expect_one_report();
}

static void test_alloc_on_freed_heap(void **state)
{
    (void)state;
    expect_sigsegv(run(alloc_on_freed_heap), out);
    expect_first_line("==wsheap== ERROR: use-after-free-heap READ at 0x");
    expect_in_section(out, "access by thread", "in WsAlloc ");
    expect_one_report();
}

static void test_block_after_free_heap(void **state)
{
    (void)state;
    expect_sigsegv(run(block_after_free_heap), out);
    expect_first_line("==wsheap== ERROR: use-after-free-heap WRITE at 0x");
    expect_text(out, "0 bytes inside a 24-byte block #3");
    expect_in_section(out, "block released by WsFreeHeap", "in death_free ");
    expect_one_report();
}

static void test_slack_overrun_found_at_reset(void **state)
{
    (void)state;
    expect_sigsegv(run(slack_overrun_found_at_reset), out);
    expect_first_line("==wsheap== ERROR: corrupted-slack at 0x");
    expect_text(out, " found by WsResetHeap\n");
    expect_text(out, "0 bytes to the right of a 13-byte block #3");
    /* The block is 8-aligned, so its bytes 13..15 hold the pattern bytes cd ce cf. */
    expect_text(out, "1 byte of the 3 pattern bytes after the block changed, at block+13:");
    expect_text(out, "block+13 expected: cd ce cf\n");
    expect_text(out, "block+13 actual:   77 .. ..\n");
    expect_in_section(out, "found by WsResetHeap in thread", "in death_reset ");
    expect_in_section(out, "block allocated by thread", "in death_make_block ");
    expect_one_report();
}

/* Issue 9 item 18: many corrupted blocks are counted, and the one with the lowest ordinal is
 * shown (it used to be the first found, newest span first, with no count). */
static void test_many_corrupted_blocks_name_the_first(void **state)
{
    (void)state;
    expect_sigsegv(run(many_corrupted_found_at_reset), out);
    expect_first_line("==wsheap== ERROR: corrupted-slack at 0x");
    expect_text(out, " found by WsResetHeap (3 corrupted blocks; the first is shown)\n");
    expect_text(out, "0 bytes to the right of a 126000-byte block #2 from WsAlloc on heap 0x");
    expect_text(out, "1 byte of the 976 pattern bytes after the block changed, at block+126000:");
    expect_in_section(out, "found by WsResetHeap in thread", "in death_reset ");
    expect_one_report();
}

static void test_head_underrun_found_at_free(void **state)
{
    (void)state;
    expect_sigsegv(run(head_underrun_found_at_free), out);
    expect_first_line("==wsheap== ERROR: corrupted-slack at 0x");
    expect_text(out, " found by WsFreeHeap\n");
    expect_text(out, "2 bytes to the left of a 40-byte block #3");
    expect_text(out, "pattern bytes before the block changed, at block-2:");
    /* The pattern is address-dependent: 0xc8 + (address & 7); the block is 8-aligned. */
    expect_text(out, "block-10 expected: ce cf c8 c9 ca cb cc cd ce cf\n");
    expect_text(out, "block-10 actual:   .. .. .. .. .. .. .. .. 77 ..\n");
    expect_in_section(out, "found by WsFreeHeap in thread", "in death_free ");
    expect_one_report();
}

static void test_overflow_with_mprotect(void **state)
{
    (void)state;
    expect_sigsegv(run(overflow_with_mprotect), out);
    expect_first_line("==wsheap== ERROR: heap-buffer-overflow WRITE at 0x");
    expect_text(out, "0 bytes to the right of a 24-byte block #3");
    expect_one_report();
}

static void test_redzone_overrun_found_at_reset(void **state)
{
    (void)state;
    expect_sigsegv(run(redzone_overrun_found_at_reset), out);
    expect_text(out, "==wsheap== warning:");
    expect_text(out, "==wsheap== ERROR: corrupted-redzone at 0x");
    expect_text(out, "1 byte to the right of a 20-byte block #4");
    expect_text(out, "(backend guarded, redzone-only block)");
    expect_one_report();
}

static void test_report_without_stacks(void **state)
{
    (void)state;
    expect_sigsegv(run(no_stacks), out);
    expect_first_line("==wsheap== ERROR: heap-buffer-overflow WRITE at 0x");
    expect_in_section(out, "block allocated by thread", "<no stack recorded");
    /* Symbolization off: raw frames only, "#0 0x... (/path/module+0x...)". */
    expect_in_section(out, "access by thread", "  #0 0x");
    if (strstr(out, " in death_write") != NULL)
        fail_with_output(out, "symbolized although WSHEAP_SYMBOLIZE is off");
    expect_in_section(out, "access by thread", "test_guarded_death+0x");
}

static void test_foreign_fault_goes_to_the_previous_handler(void **state)
{
    int status;

    (void)state;
    status = run(foreign_fault_chains);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 42);
    assert_non_null(strstr(out, "previous handler ran"));
    assert_null(strstr(out, "==wsheap=="));
}

static void test_foreign_fault_default_action(void **state)
{
    (void)state;
    expect_sigsegv(run(foreign_fault_default), out);
    assert_null(strstr(out, "==wsheap=="));
}

static void test_foreign_fault_chain_loop_ends(void **state)
{
    (void)state;
    expect_sigsegv(run(foreign_fault_chain_loop), out); /* neither a hang nor a stack overflow */
    expect_text(out, "reporter ran");
    assert_null(strstr(strstr(out, "reporter ran") + 1, "reporter ran")); /* once, not in a loop */
    assert_null(strstr(out, "==wsheap=="));
}

static void test_foreign_raise_stays_ignored(void **state)
{
    int status;

    (void)state;
    status = run(foreign_raise_ignored);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
}

/* The report's first line names the heap and both threads; `entering` found the heap held by
 * `inside`, which was inside `inside_call`. */
static void expect_concurrent(int32_t entering, const char *entering_call, int32_t inside,
                              const char *inside_call)
{
    char want[256];

    snprintf(want, sizeof want,
             "\"death\" by thread %d in %s while thread %d is inside %s\n"
             "==wsheap== a heap is used by one thread at a time",
             (int)entering, entering_call, (int)inside, inside_call);
    expect_text(out, want);
}

static void map_shared_tids(void)
{
    shared_tids = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(shared_tids != MAP_FAILED);
    shared_tids[0] = shared_tids[1] = 0;
}

static void test_concurrent_reset_while_alloc(void **state)
{
    (void)state;
    map_shared_tids();
    expect_sigsegv(run(reset_while_alloc), out);
    expect_first_line("==wsheap== ERROR: concurrent-use of heap 0x");
    assert_true(shared_tids[0] != 0 && shared_tids[1] != 0 && shared_tids[0] != shared_tids[1]);
    expect_concurrent(shared_tids[1], "WsResetHeap", shared_tids[0], "WsAlloc");
    expect_in_section(out, "WsResetHeap called by thread", "in death_reset ");
    expect_in_section(out, "WsResetHeap called by thread", "in reset_while_alloc ");
    expect_in_section(out, "heap created by thread", "in new_heap_with ");
    expect_one_report();
    munmap(shared_tids, 4096);
}

static void test_concurrent_hammer(void **state)
{
    char first[512], want[2][64];

    (void)state;
    map_shared_tids();
    expect_sigsegv(run(hammer), out);
    expect_first_line("==wsheap== ERROR: concurrent-use of heap 0x");
    assert_true(shared_tids[0] != 0 && shared_tids[1] != 0 && shared_tids[0] != shared_tids[1]);
    /* Either thread may be the one that entered; both must be named, once each. */
    assert_non_null(line_with(out, "concurrent-use", first, sizeof first));
    snprintf(want[0], sizeof want[0], " thread %d ", (int)shared_tids[0]);
    snprintf(want[1], sizeof want[1], " thread %d ", (int)shared_tids[1]);
    if (strstr(first, want[0]) == NULL || strstr(first, want[1]) == NULL)
        fail_with_output(out, "the first line must name threads %d and %d", (int)shared_tids[0],
                         (int)shared_tids[1]);
    expect_in_section(out, "heap created by thread", "in new_heap_with ");
    expect_one_report();
    munmap(shared_tids, 4096);
}

static void test_handed_over_heap_is_not_reported(void **state)
{
    int status;

    (void)state;
    status = run(handed_over);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strstr(out, "==wsheap==") != NULL)
        fail_with_output(out, "expected a clean exit, got status 0x%x", status);
}

#ifdef WSHEAP_CRASHME
/* tools/wsheap-crashme, the program the documentation's sample report comes from. */
static void crashme(const char *mode, const char *first_line, const char *second)
{
    char *argv[] = {WSHEAP_CRASHME, (char *)mode, NULL};
    char *env[] = {"WSHEAP_PAGEHEAP=1", NULL};
    int status = run_program(argv, env, out, sizeof out);

    expect_sigsegv(status, out);
    expect_first_line(first_line);
    expect_text(out, second);
    expect_text(out, "\"crashme\" (backend guarded)");
    expect_in_section(out, "block allocated by thread", "in new_message_buffer ");
    expect_one_report();
}

static void test_crashme(void **state)
{
    char *help[] = {WSHEAP_CRASHME, "--help", NULL};
    int status;

    (void)state;
    crashme("overflow", "==wsheap== ERROR: heap-buffer-overflow WRITE at 0x",
            "0 bytes to the right of a 24-byte block #2");
    expect_in_section(out, "access by thread", "in copy_field ");
    crashme("underflow", "==wsheap== ERROR: heap-buffer-underflow WRITE at 0x",
            "1 byte to the left of a 24-byte block #2");
    crashme("use-after-reset", "==wsheap== ERROR: use-after-reset READ at 0x",
            "0 bytes inside a 24-byte block #2");
    crashme("slack", "==wsheap== ERROR: corrupted-slack at 0x",
            "0 bytes to the right of a 13-byte block #2");
    status = run_program(help, NULL, out, sizeof out);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    expect_text(out, "use-after-free-heap");
}

#ifdef WSHEAP_SOURCE_DIR
/* The ==wsheap== lines of `text`, with addresses and thread ids replaced: what must not change
 * between two runs of the same program. */
static void normalize(const char *text, char *outbuf, size_t size)
{
    size_t k = 0;
    bool keep = false, line_start = true;

    for (const char *p = text; *p != '\0' && k + 4 < size; p++) {
        if (line_start) keep = strncmp(p, "==wsheap==", 10) == 0;
        line_start = *p == '\n';
        if (!keep) continue;
        if (p[0] == '0' && p[1] == 'x') {
            outbuf[k++] = '0';
            outbuf[k++] = 'x';
            outbuf[k++] = '?';
            for (p += 2; p[1] != '\0' && strchr("0123456789abcdef", p[1]) != NULL; p++)
                ;
            continue;
        }
        if (strncmp(p, "thread ", 7) == 0 && p[7] >= '0' && p[7] <= '9') {
            memcpy(outbuf + k, "thread ?", 8);
            k += 8;
            for (p += 7; p[1] >= '0' && p[1] <= '9'; p++)
                ;
            continue;
        }
        outbuf[k++] = *p;
    }
    outbuf[k] = '\0';
}

/* docs/guarded.md's sample report, from a real run, must still be what wsheap-crashme prints. */
static void test_documented_sample_is_current(void **state)
{
    static char doc[1 << 16], sample[OUT_SIZE], want[OUT_SIZE], got[OUT_SIZE];
    static const char marker[] = "<!-- sample: wsheap-crashme overflow -->";
    char *argv[] = {WSHEAP_CRASHME, "overflow", NULL};
    char *env[] = {"WSHEAP_PAGEHEAP=1", NULL};
    FILE *f = fopen(WSHEAP_SOURCE_DIR "/docs/guarded.md", "r");
    size_t n;
    const char *start, *end;

    (void)state;
    assert_non_null(f);
    n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    start = strstr(doc, marker);
    assert_non_null(start);
    start = strstr(start, "```");
    assert_non_null(start);
    start = strchr(start, '\n') + 1;
    end = strstr(start, "```");
    assert_non_null(end);
    memcpy(sample, start, (size_t)(end - start));
    sample[end - start] = '\0';
    drop_report_pids(sample); /* the sample's "==wsheap==<pid>==", as the output's */
    normalize(sample, want, sizeof want);

    expect_sigsegv(run_program(argv, env, out, sizeof out), out);
    normalize(out, got, sizeof got);
    if (strcmp(want, got) != 0)
        fail_with_output(got,
                         "docs/guarded.md's sample is out of date; documented:\n%s\nnow:", want);
}
#endif
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overflow_write),
        cmocka_unit_test(test_overflow_read_unaligned),
        cmocka_unit_test(test_underflow_backward),
        cmocka_unit_test(test_use_after_reset),
        cmocka_unit_test(test_double_free_heap),
        cmocka_unit_test(test_alloc_on_freed_heap),
        cmocka_unit_test(test_block_after_free_heap),
        cmocka_unit_test(test_slack_overrun_found_at_reset),
        cmocka_unit_test(test_head_underrun_found_at_free),
        cmocka_unit_test(test_many_corrupted_blocks_name_the_first),
        cmocka_unit_test(test_overflow_with_mprotect),
        cmocka_unit_test(test_redzone_overrun_found_at_reset),
        cmocka_unit_test(test_report_without_stacks),
        cmocka_unit_test(test_foreign_fault_goes_to_the_previous_handler),
        cmocka_unit_test(test_foreign_fault_default_action),
        cmocka_unit_test(test_foreign_fault_chain_loop_ends),
        cmocka_unit_test(test_foreign_raise_stays_ignored),
        cmocka_unit_test(test_concurrent_reset_while_alloc),
        cmocka_unit_test(test_concurrent_hammer),
        cmocka_unit_test(test_handed_over_heap_is_not_reported),
#ifdef WSHEAP_CRASHME
        cmocka_unit_test(test_crashme),
#ifdef WSHEAP_SOURCE_DIR
        cmocka_unit_test(test_documented_sample_is_current),
#endif
#endif
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
