/* SPDX-License-Identifier: MIT */
/*
 * The tracked arena (ASan builds, valgrind memcheck runs): an empty window, redzones and block
 * records, poisoning, the quarantine after reset and how long it holds, wsheap_describe_address,
 * and what the tools print for a real overrun and a use after reset, checked in a child process
 * (tests/track_helper.c) run under ASan, valgrind and gdb. Cases that need a tool this build or
 * run does not have are skipped with a message saying which. Usage: test_track HELPER [FILTER]
 * (FILTER: a cmocka test name pattern); $WSHEAP_TEST_GDB names the gdb to run (default "gdb"),
 * so that a test can put a stand-in there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "heaps.h"
#include "report.h"
#include "arena/tracked.h"
#include "describe.h"
#include "internal.h"
#include "stack/stack.h" /* wsh_thread_id */
#include "track.h"

static const char *helper_path; /* argv[1]: the track_helper executable */

/* cmocka 1.1.5's skip() says nothing; say why first. */
#define skip_because(why)                                                                          \
    do {                                                                                           \
        print_message("[     SKIP ] %s\n", why);                                                   \
        skip();                                                                                    \
    } while (0)

/* --- Helpers ---------------------------------------------------------------------------------- */

static WS_HEAP *tracked_heap(size_t max_size, size_t trim_size)
{
    WS_HEAP *heap = NULL;

    wsh_track_force(WSH_TRACK_ON);
    assert_int_equal(WsCreateHeap(max_size, trim_size, NULL, 0, &heap, NULL), S_OK);
    wsh_track_force(WSH_TRACK_AUTO);
    assert_ptr_equal(((struct wsh_heap *)heap)->ops, &wsh_arena_tracked_ops);
    assert_string_equal(wsheap_backend_name(heap), "arena");
    return heap;
}

/* Describes `p` into `text` and returns the kind. */
static int describe(const void *p, char *text, size_t size)
{
    int kind = wsheap_describe_address(p, text, size);

    assert_true(strlen(text) < size);
    return kind;
}

/* Runs argv[0] with stdout and stderr captured into `out` (NUL-terminated, cut to fit) and
 * `extra_env` ("NAME=value", or NULL) added; returns the wait status, or -1 when the program
 * could not be started (exit status 127 from the child). */
static int run(char *const argv[], const char *extra_env, char *out, size_t size)
{
    int fds[2], status;
    size_t n = 0;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        if (extra_env != NULL) putenv((char *)extra_env);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        ssize_t got = read(fds[0], out + n, size - 1 - n);

        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        n += (size_t)got;
        if (n == size - 1) {
            char sink[4096]; /* keep draining so the child never blocks */

            while (read(fds[0], sink, sizeof sink) > 0)
                ;
            break;
        }
    }
    out[n] = '\0';
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -1 : status;
}

/* Checks that a description's allocation stack names `function`: directly (frames symbolized
 * by the sanitizer runtime), or else through addr2line on its "(module+0xoffset)" frames. */
static void expect_function(const char *text, const char *function)
{
    char out[8192], module[512] = "", offsets[16][24];
    char *argv[24] = {"addr2line", "-f", "-e", module};
    const char *at = text;
    int n = 0;

    if (strstr(text, function) != NULL) return;
    while (n < 16 && (at = strstr(at, " (")) != NULL) {
        const char *plus = strstr(at, "+0x"), *close = strchr(at, ')');

        at += 2;
        if (plus == NULL || close == NULL || plus > close || (size_t)(plus - at) >= sizeof module)
            continue;
        if (module[0] == '\0') {
            memcpy(module, at, (size_t)(plus - at));
            module[plus - at] = '\0';
        }
        if (strncmp(at, module, strlen(module)) != 0 || (size_t)(close - plus - 1) >= 24) continue;
        memcpy(offsets[n], plus + 1, (size_t)(close - plus - 1));
        offsets[n][close - plus - 1] = '\0';
        argv[4 + n] = offsets[n];
        n++;
    }
    argv[4 + n] = NULL;
    if (n == 0) fail_msg("no frames to symbolize in:\n%s", text);
    if (run(argv, NULL, out, sizeof out) == -1) skip_because("addr2line is not installed");
    if (strstr(out, function) == NULL)
        fail_msg("expected %s in the stack:\n%s\naddr2line says:\n%s", function, text, out);
}

static bool have_program(const char *name)
{
    char out[256];
    char *argv[] = {(char *)name, "--version", NULL};

    return run(argv, NULL, out, sizeof out) != -1;
}

/* --- The window and the blocks ---------------------------------------------------------------- */

/* A tracked heap never serves WsAlloc from the window: every call reaches the backend. */
static void test_window_stays_empty(void **state)
{
    WS_HEAP *heap = tracked_heap(SIZE_MAX, 0);
    struct wsh_heap *h = (struct wsh_heap *)heap;

    (void)state;
    for (size_t size = 0; size < 100; size++) {
        alloc_written(heap, size);
        assert_ptr_equal(h->cur, h->end);
    }
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_ptr_equal(h->cur, h->end);
    WsFreeHeap(heap);
}

/* Neighbouring blocks are at least a redzone apart, and each is described exactly. */
static void test_blocks_are_apart_and_described(void **state)
{
    static const size_t sizes[] = {13, 0, 24, 1, 4096, 7, 100000, 8};
    enum { N = sizeof sizes / sizeof sizes[0] };
    WS_HEAP *heap = tracked_heap(SIZE_MAX, 0);
    char *blocks[N], text[2048], want[160];

    (void)state;
    wsheap_set_heap_name(heap, "parser");
    for (size_t i = 0; i < N; i++)
        blocks[i] = alloc_written(heap, sizes[i]);
    for (size_t i = 0; i < N; i++) {
        for (size_t j = 0; j < N; j++) {
            if (i == j) continue;
            /* No block starts within 32 bytes of another's end, whatever their order. */
            assert_true(blocks[j] >= blocks[i] + sizes[i] + 32 ||
                        blocks[j] + sizes[j] + 32 <= blocks[i]);
        }
        if (sizes[i] > 0) {
            assert_int_equal(describe(blocks[i] + sizes[i] - 1, text, sizeof text),
                             WSHEAP_ADDRESS_BLOCK);
            snprintf(want, sizeof want, "is %zu bytes inside the %zu-byte block at %p",
                     sizes[i] - 1, sizes[i], (void *)blocks[i]);
            expect_text(text, want);
        }
        assert_int_equal(describe(blocks[i] + sizes[i], text, sizeof text), WSHEAP_ADDRESS_BLOCK);
        snprintf(want, sizeof want, "is 0 bytes after the %zu-byte block at %p", sizes[i],
                 (void *)blocks[i]);
        expect_text(text, want);
        expect_text(text, "\"parser\" (arena backend)");
        snprintf(want, sizeof want, "block #%zu since the heap was created", i);
        expect_text(text, want);
    }
    /* Just before a block that follows another: nearer to this one's start. */
    assert_int_equal(describe(blocks[2] - 3, text, sizeof text), WSHEAP_ADDRESS_BLOCK);
    snprintf(want, sizeof want, "is 3 bytes before the 24-byte block at %p", (void *)blocks[2]);
    expect_text(text, want);
    WsFreeHeap(heap);
}

/* Under ASan the redzones and the tail of a chunk are poisoned byte-exactly. */
static void test_asan_poisoning(void **state)
{
#if WSH_TRACK_ASAN
    WS_HEAP *heap = tracked_heap(SIZE_MAX, 0);
    char *a = alloc_written(heap, 13), *b = alloc_written(heap, 16);

    (void)state;
    assert_false(__asan_address_is_poisoned(a + 12));
    assert_true(__asan_address_is_poisoned(a + 13)); /* inside the last 8-byte granule */
    assert_true(__asan_address_is_poisoned(a - 1));
    assert_false(__asan_address_is_poisoned(b + 15));
    assert_true(__asan_address_is_poisoned(b + 16));
    assert_true(__asan_address_is_poisoned(b + 200)); /* the chunk's unused tail */
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_true(__asan_address_is_poisoned(a));
    assert_true(__asan_address_is_poisoned(b + 8));
    WsFreeHeap(heap);
#else
    (void)state;
    skip_because("not an ASan build");
#endif
}

/* Under memcheck: GET_VBITS answers 3 for memory that is not addressable, without an error. */
static void test_memcheck_no_access(void **state)
{
#if WSH_TRACK_VALGRIND
    WS_HEAP *heap;
    char *a, *b;
    uint8_t vbits[8];

    (void)state;
    if (!wsh_track_memcheck()) skip_because("not running under valgrind memcheck");
    heap = tracked_heap(SIZE_MAX, 0);
    a = alloc_written(heap, 13);
    b = alloc_written(heap, 16);
    assert_int_equal(VALGRIND_GET_VBITS(a + 5, vbits, 8), 1);
    assert_int_equal(VALGRIND_GET_VBITS(a + 13, vbits, 1), 3);
    assert_int_equal(VALGRIND_GET_VBITS(a - 1, vbits, 1), 3);
    assert_int_equal(VALGRIND_GET_VBITS(b + 16, vbits, 1), 3);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(VALGRIND_GET_VBITS(a, vbits, 1), 3);
    WsFreeHeap(heap);
#else
    (void)state;
    skip_because("built without valgrind's headers");
#endif
}

/* --- Reset and the quarantine ----------------------------------------------------------------- */

/* After a reset a block is described as released, and its memory is not handed out again. */
static void test_reset_releases_and_describes(void **state)
{
    WS_HEAP *heap = tracked_heap(SIZE_MAX, 0);
    char *old, *fresh, text[2048];

    (void)state;
    alloc_written(heap, 40);
    old = alloc_written(heap, 13);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(describe(old + 2, text, sizeof text), WSHEAP_ADDRESS_RELEASED);
    expect_text(text, "is 2 bytes inside the 13-byte block");
    expect_text(text, "block #1 of its round and was released by reset #1 (WsResetHeap)");
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    assert_int_equal(describe(old, text, sizeof text), WSHEAP_ADDRESS_RELEASED);
    expect_text(text, "released by reset #1"); /* still the reset that released it */
    fresh = alloc_written(heap, 13);
    assert_true(fresh + 13 <= old - 40 || fresh >= old + 13); /* not the released memory */
    assert_int_equal(describe(fresh, text, sizeof text), WSHEAP_ADDRESS_BLOCK);
    expect_text(text, "block #0 since reset #2");
    /* Reset keeps a chunk of its own for the next round, as the untracked arena does. */
    assert_true(wsh_arena_tracked_held((struct wsh_heap *)heap) >= 4096);
    WsFreeHeap(heap);
}

/* Rounds of `n` blocks of `size` bytes until a block lands on `stale` again; returns the number
 * of rounds (resets) that `stale` stayed out of use, checking it is described as released. */
static long rounds_until_reused(WS_HEAP *heap, char *stale, int n, size_t size, long limit)
{
    char text[2048];

    for (long r = 1; r <= limit; r++) {
        for (int i = 0; i < n; i++) {
            char *p = alloc_written(heap, size);

            if (stale >= p && stale < p + size + 8) return r;
        }
        if (r % 64 == 1)
            assert_int_equal(describe(stale, text, sizeof text), WSHEAP_ADDRESS_RELEASED);
        assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    }
    return limit + 1;
}

/* How long a stale pointer keeps pointing at poisoned memory: until the heap has released 4 MiB
 * of chunks after it. Small rounds (one 4 KiB chunk each): 1024 resets; rounds of about 1000
 * message-sized blocks: about 20. The oldest released chunk of the right size is then reused,
 * so a steady program makes no system calls once its quarantine is full. */
static void test_quarantine_holds(void **state)
{
    WS_HEAP *heap = tracked_heap(SIZE_MAX, 1 << 20);
    char *stale;
    long small, large;
    size_t kept;

    (void)state;
    stale = alloc_written(heap, 24);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    small = rounds_until_reused(heap, stale, 1, 24, 5000);
    print_message("quarantine: a 24-byte block's memory was reused after %ld resets "
                  "(one 4 KiB chunk per round)\n",
                  small);
    assert_true(small >= 1024);
    assert_true(small <= 1030); /* bounded: the quarantine does give memory back */
    WsFreeHeap(heap);

    heap = tracked_heap(SIZE_MAX, 1 << 20);
    for (int i = 0; i < 1000; i++)
        alloc_written(heap, 8 + (size_t)(i * 37) % 180);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    stale = alloc_written(heap, 100);
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    kept = wsh_arena_tracked_held((struct wsh_heap *)heap);
    large = rounds_until_reused(heap, stale, 1000, 100, 5000);
    print_message("quarantine: with 1000 blocks of 100 bytes per round (%zu-byte chunk kept), "
                  "reused after %ld resets\n",
                  kept, large);
    assert_true(large >= (long)((4u << 20) / kept));
    assert_true(large <= (long)((4u << 20) / kept) + 3);
    WsFreeHeap(heap);
}

/* --- wsheap_describe_address outside tracked heaps -------------------------------------------- */

static void test_describe_untracked_and_unknown(void **state)
{
    WS_HEAP *heap = NULL;
    char text[512], local = 0;
    void *p;

    (void)state;
    wsh_track_force(WSH_TRACK_OFF);
    assert_int_equal(WsCreateHeap(SIZE_MAX, 0, NULL, 0, &heap, NULL), S_OK);
    wsh_track_force(WSH_TRACK_AUTO);
    assert_ptr_equal(((struct wsh_heap *)heap)->ops, &wsh_arena_ops);
    assert_int_equal(WsAlloc(heap, 13, &p, NULL), S_OK);
    /* An untracked arena keeps no block boundaries: nothing is known, and the text says why. */
    assert_int_equal(describe(p, text, sizeof text), WSHEAP_ADDRESS_UNKNOWN);
    expect_text(text, "is not in any heap wsheap knows");
    assert_int_equal(describe(&local, text, sizeof text), WSHEAP_ADDRESS_UNKNOWN);
    /* Truncation: always NUL-terminated. */
    assert_int_equal(wsheap_describe_address(&local, text, 10), WSHEAP_ADDRESS_UNKNOWN);
    assert_int_equal(strlen(text), 9);
    WsFreeHeap(heap);
}

/* The heap object of a tracked heap is recognised (a stale WS_HEAP handle, say). */
static void test_describe_heap_object(void **state)
{
    WS_HEAP *heap = tracked_heap(SIZE_MAX, 0);
    char text[512];

    (void)state;
    assert_int_equal(describe((char *)heap + 8, text, sizeof text), WSHEAP_ADDRESS_HEAP);
    expect_text(text, "the heap object itself");
    WsFreeHeap(heap);
}

/* With a NULL buffer the description goes to stderr (for `call` in gdb). */
static void test_describe_to_stderr(void **state)
{
    WS_HEAP *heap = tracked_heap(SIZE_MAX, 0);
    char *p = alloc_written(heap, 13), text[2048];
    int fds[2], saved;
    ssize_t n;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    assert_int_equal(wsheap_describe_address(p + 13, NULL, 0), WSHEAP_ADDRESS_BLOCK);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    n = read(fds[0], text, sizeof text - 1);
    close(fds[0]);
    assert_true(n > 0);
    text[n] = '\0';
    expect_text(text, "wsheap: ");
    expect_text(text, "is 0 bytes after the 13-byte block");
    WsFreeHeap(heap);
}

/* The allocation stack is recorded (not under memcheck, which shows its own). */
static void test_allocation_stack_is_recorded(void **state)
{
    WS_HEAP *heap = tracked_heap(SIZE_MAX, 0);
    char *p = alloc_written(heap, 13), text[4096];

    (void)state;
    describe(p, text, sizeof text);
    if (wsh_track_memcheck()) {
        expect_text(text, "allocation stack: recorded by memcheck");
    } else {
        expect_text(text, "wsheap: allocated by thread ");
        expect_text(text, "    #2 0x");
    }
    WsFreeHeap(heap);
}

/* The reset that releases a block is recorded: its thread and stack follow the allocation
 * stack, as in the guarded backend's report and memcheck's ("released by WsResetHeap"). */
WSH_NOINLINE void track_test_reset(WS_HEAP *heap)
{
    assert_int_equal(WsResetHeap(heap, NULL), S_OK);
    __asm__ volatile("" ::: "memory");
}

static void test_reset_stack_is_recorded(void **state)
{
    WS_HEAP *heap = tracked_heap(SIZE_MAX, 0);
    char *p = alloc_written(heap, 13), text[8192], want[96];
    const char *release;

    (void)state;
    track_test_reset(heap);
    assert_int_equal(describe(p, text, sizeof text), WSHEAP_ADDRESS_RELEASED);
    if (wsh_track_memcheck()) {
        expect_text(text, "wsheap: released by WsResetHeap (reset #1): stack recorded by memcheck");
    } else {
        snprintf(want, sizeof want, "wsheap: released by WsResetHeap (reset #1) in thread %d:\n",
                 (int)wsh_thread_id());
        expect_text(text, want);
        release = strstr(text, want);
        expect_function(release, "track_test_reset"); /* the frames after that line */
    }
    /* Memory of the released chunk that no block used says which reset released it, too. */
    assert_int_equal(describe(p + 13 + 300, text, sizeof text), WSHEAP_ADDRESS_RELEASED);
    expect_text(text, "that memory was released by reset #1 of the heap");
    expect_text(text, "wsheap: released by WsResetHeap (reset #1)");
    WsFreeHeap(heap);
}

/* A name that would forge a line and colour the terminal is shown escaped. */
static void test_describe_escapes_name(void **state)
{
    WS_HEAP *heap = tracked_heap(SIZE_MAX, 0);
    char *p = alloc_written(heap, 13), text[8192];

    (void)state;
    wsheap_set_heap_name(heap, "evil\n==wsheap== ERROR: forged\x1b[31m");
    assert_int_equal(describe(p, text, sizeof text), WSHEAP_ADDRESS_BLOCK);
    expect_text(text, "of heap 0x");
    expect_text(text, " \"evil\\n==wsheap== ERROR: forged\\x1b[31m\" (arena backend)");
    if (strstr(text, "\n==wsheap== ERROR: forged") != NULL || strchr(text, '\x1b') != NULL)
        fail_msg("the heap name reached the description raw:\n%s", text);
    WsFreeHeap(heap);
}

/* Each frame line shows one address: where a module offset is printed, it is the printed
 * address's offset in that module (in ASan builds the sanitizer symbolizes a return address at
 * pc - 1; the line must then show pc - 1, not pc). Frames in libcmocka, which Debian ships
 * without debug information, are printed with their module offset in every build. */
static void test_frame_address_matches_offset(void **state)
{
    struct wsh_addr_info info;
    char text[8192];
    const char *line;
    int checked = 0;

    (void)state;
    memset(&info, 0, sizeof info);
    info.kind = WSHEAP_ADDRESS_BLOCK;
    info.where = WSH_ADDR_INSIDE;
    info.backend = "arena";
    info.has_generation = true;
    info.n_frames = 4;
    info.frames[0] = (uintptr_t)&getpid + 4;
    info.frames[1] = (uintptr_t)&cmocka_set_test_filter + 4;
    info.frames[2] = (uintptr_t)&_test_free + 4;
    info.frames[3] = (uintptr_t)&test_frame_address_matches_offset + 16;
    wsh_describe_format(&info, text, sizeof text);
    for (line = text; (line = strstr(line, "\n    #")) != NULL; line++) {
        unsigned long addr, offset;
        const char *plus, *end = strchr(line + 1, '\n');
        Dl_info dl;

        assert_int_equal(sscanf(line, "\n    #%*d 0x%lx", &addr), 1);
        plus = strstr(line, "+0x");
        if (plus == NULL || (end != NULL && plus > end)) continue; /* file:line, no offset */
        assert_int_equal(sscanf(plus, "+0x%lx)", &offset), 1);
        assert_true(dladdr((void *)addr, &dl) != 0);
        if (addr - (unsigned long)(uintptr_t)dl.dli_fbase != offset)
            fail_msg("address 0x%lx is at offset 0x%lx in %s, but the line says 0x%lx:\n%s", addr,
                     addr - (unsigned long)(uintptr_t)dl.dli_fbase, dl.dli_fname, offset, text);
        checked++;
    }
    if (checked == 0) fail_msg("expected frames with module offsets in:\n%s", text);
}

/* --- What the tools print, in a child --------------------------------------------------------- */

static void test_asan_reports_overrun(void **state)
{
#if WSH_TRACK_ASAN
    char out[65536];
    char *argv[] = {(char *)helper_path, "overrun", NULL};
    int status = run(argv, "ASAN_OPTIONS=abort_on_error=0:detect_leaks=0", out, sizeof out);

    (void)state;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    expect_text(out, "ERROR: AddressSanitizer: use-after-poison");
    expect_text(out, "READ of size 1");
    /* wsheap's lines, added to ASan's report through the report callback: */
    expect_text(out, "is 0 bytes after the 13-byte block at");
    expect_text(out, "of heap 0x");
    expect_text(out, "\"requests\" (arena backend)");
    expect_text(out, "wsheap: allocated by thread");
    expect_text(out, "in make_message");
#else
    (void)state;
    skip_because("not an ASan build (run the asan preset)");
#endif
}

static void test_asan_reports_use_after_reset(void **state)
{
#if WSH_TRACK_ASAN
    char out[65536];
    char *argv[] = {(char *)helper_path, "use-after-reset", NULL};
    int status = run(argv, "ASAN_OPTIONS=abort_on_error=0:detect_leaks=0", out, sizeof out);

    (void)state;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    expect_text(out, "ERROR: AddressSanitizer: use-after-poison");
    expect_text(out, "is 0 bytes inside the 13-byte block");
    expect_text(out, "released by reset #1 (WsResetHeap): a stale pointer");
    expect_text(out, "in make_message");
    /* The reset's thread and stack, after the allocation stack. */
    expect_text(out, "wsheap: released by WsResetHeap (reset #1) in thread ");
    expect_text(strstr(out, "wsheap: released by WsResetHeap (reset #1) in thread "),
                "in finish_message");
#else
    (void)state;
    skip_because("not an ASan build (run the asan preset)");
#endif
}

/* Runs the helper under valgrind memcheck; skips when that cannot be done here. */
static int run_memcheck(char *mode, char *arg, char *out, size_t size)
{
    char *argv[] = {"valgrind",
                    "--error-exitcode=99",
                    "--leak-check=no",
                    "--num-callers=30",
                    (char *)helper_path,
                    mode,
                    arg,
                    NULL};

    if (WSH_TRACK_ASAN) skip_because("an ASan build: valgrind cannot run its programs");
    if (!have_program("valgrind")) skip_because("valgrind is not installed");
    return run(argv, NULL, out, size);
}

static void test_memcheck_reports_overrun(void **state)
{
    char out[65536];
    int status = run_memcheck("overrun", NULL, out, sizeof out);

    (void)state;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 99);
    expect_text(out, "Invalid read of size 1");
    expect_text(out, "0 bytes after a block of size 13");
    expect_text(out, "make_message"); /* the block's allocation stack */
}

static void test_memcheck_reports_use_after_reset(void **state)
{
    char out[65536];
    int status = run_memcheck("use-after-reset", NULL, out, sizeof out);

    (void)state;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 99);
    expect_text(out, "Invalid read of size 1");
    expect_text(out, "0 bytes inside a block of size 13 free'd");
    expect_text(out, "WsResetHeap");  /* where it was released */
    expect_text(out, "make_message"); /* where it was allocated */
}

/* The quarantine at work under memcheck: 500 rounds after the reset, the stale pointer still
 * points at memory memcheck knows as freed. */
static void test_memcheck_stale_after_reuse(void **state)
{
    char out[65536];
    int status = run_memcheck("stale", "500", out, sizeof out);

    (void)state;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 99);
    expect_text(out, "Invalid read of size 1");
    expect_text(out, "free'd");
}

/* A guarded heap's block is described by wsheap_describe_address too. */
static void test_describe_guarded_block(void **state)
{
    char out[8192];
    char *argv[] = {(char *)helper_path, "describe", NULL};
    int status = run(argv, "WSHEAP_PAGEHEAP=1", out, sizeof out);

    (void)state;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    expect_text(out, "kind 2");
    expect_text(out, "is 0 bytes after the 13-byte block");
    expect_text(out, "\"requests\" (guarded backend)");
    expect_function(out, "make_message");
}

/* The gdb to run: $WSHEAP_TEST_GDB (a stand-in, for testing the probe below), else "gdb". */
static char *gdb_program(void)
{
    char *gdb = getenv("WSHEAP_TEST_GDB");

    return gdb != NULL && gdb[0] != '\0' ? gdb : "gdb";
}

/* Copies the line of `text` holding `needle` into why (after `prefix`); false when none does. */
static bool reason_from(const char *text, const char *needle, const char *prefix, char *why,
                        size_t why_size)
{
    char line[256];

    if (line_with(text, needle, line, sizeof line) == NULL) return false;
    snprintf(why, why_size, "%s%s", prefix, line);
    return true;
}

/* Whether gdb can call a function in the helper stopped at helper_stop: a trivial
 * `call (int)getpid()` must print "$1 = <pid>" and no error. Some hosts cannot (gdb 13.1 on
 * AMX-capable Xeons fails every call with "Couldn't write extended state status: Bad
 * address."; ptrace may be forbidden): false, with the reason in `why`. */
static bool gdb_can_call(char *why, size_t why_size)
{
    char out[16384], line[256];
    char *argv[] = {gdb_program(),
                    "-batch",
                    "-nx",
                    "-ex",
                    "break helper_stop",
                    "-ex",
                    "run",
                    "-ex",
                    "call (int)getpid()",
                    "--args",
                    (char *)helper_path,
                    "gdb",
                    NULL};
    int status = run(argv, NULL, out, sizeof out);

    if (status == -1) {
        snprintf(why, why_size, "%s is not installed", argv[0]);
        return false;
    }
    if (strstr(out, "Breakpoint 1, helper_stop") == NULL) {
        if (!reason_from(out, "rror", "gdb could not run the helper here: ", why, why_size))
            snprintf(why, why_size, "gdb could not run the helper here (ptrace not permitted?)");
        return false;
    }
    if (reason_from(out, "Couldn't write extended state status",
                    "gdb cannot call functions in a program here: ", why, why_size))
        return false;
    if (line_with(out, "$1 = ", line, sizeof line) == NULL ||
        strspn(strstr(line, "$1 = ") + 5, "0123456789") == 0) {
        if (!reason_from(out, "Couldn't", "gdb cannot call functions in a program here: ", why,
                         why_size) &&
            !reason_from(out, "rror", "gdb cannot call functions in a program here: ", why,
                         why_size) &&
            !reason_from(out, "annot", "gdb cannot call functions in a program here: ", why,
                         why_size))
            snprintf(why, why_size, "gdb's `call (int)getpid()` printed no value");
        return false;
    }
    return true;
}

/* gdb can call it on a stopped program (where gdb can call functions at all). */
static void test_callable_from_gdb(void **state)
{
    char out[65536], why[512];
    char *argv[] = {gdb_program(),
                    "-batch",
                    "-nx",
                    "-ex",
                    "break helper_stop",
                    "-ex",
                    "run",
                    "-ex",
                    "call (int)wsheap_describe_address(helper_block + 13, 0, 0)",
                    "--args",
                    (char *)helper_path,
                    "gdb",
                    NULL};
    int status;

    (void)state;
    if (!gdb_can_call(why, sizeof why)) skip_because(why);
    status = run(argv, NULL, out, sizeof out);
    assert_true(WIFEXITED(status));
    if (strstr(out, "Breakpoint 1, helper_stop") == NULL) {
        print_message("%s\n", out);
        skip_because("gdb could not run the helper here (ptrace not permitted?)");
    }
    expect_text(out, "is 0 bytes after the 13-byte block");
    expect_text(out, "= 2"); /* WSHEAP_ADDRESS_BLOCK */
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_stays_empty),
        cmocka_unit_test(test_blocks_are_apart_and_described),
        cmocka_unit_test(test_asan_poisoning),
        cmocka_unit_test(test_memcheck_no_access),
        cmocka_unit_test(test_reset_releases_and_describes),
        cmocka_unit_test(test_quarantine_holds),
        cmocka_unit_test(test_describe_untracked_and_unknown),
        cmocka_unit_test(test_describe_heap_object),
        cmocka_unit_test(test_describe_to_stderr),
        cmocka_unit_test(test_allocation_stack_is_recorded),
        cmocka_unit_test(test_reset_stack_is_recorded),
        cmocka_unit_test(test_describe_escapes_name),
        cmocka_unit_test(test_frame_address_matches_offset),
        cmocka_unit_test(test_asan_reports_overrun),
        cmocka_unit_test(test_asan_reports_use_after_reset),
        cmocka_unit_test(test_memcheck_reports_overrun),
        cmocka_unit_test(test_memcheck_reports_use_after_reset),
        cmocka_unit_test(test_memcheck_stale_after_reuse),
        cmocka_unit_test(test_describe_guarded_block),
        cmocka_unit_test(test_callable_from_gdb),
    };

    if (argc < 2) {
        fprintf(stderr, "usage: test_track PATH-TO-track_helper [TEST-NAME-PATTERN]\n");
        return 2;
    }
    helper_path = argv[1];
    if (argc > 2) cmocka_set_test_filter(argv[2]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
