/* SPDX-License-Identifier: MIT */
/*
 * Failure injection (WSHEAP_FAIL_*, docs/failures.md), black box: the options are read once per
 * process, so every configuration runs in a child that sets its variables before its first
 * call (run_in_child), or in a fresh run of this program (run_program: a new address-space
 * layout, so a site id recorded in one run and used in another proves ids are stable). The
 * children check their calls themselves and say "FAIL: ..." and exit 1 on a mismatch. Runs under
 * both backends (WSHEAP_PAGEHEAP=0|1, tests/CMakeLists.txt).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <wsheap.h>

#include "support/death.h"
#include "support/errors.h"

#define SENTINEL  ((void *)(uintptr_t)0x5e5e5e5e5e58u)
#define HEAP_SIZE ((size_t)1 << 20)

static const char *self; /* argv[0], for run_program */

/* --- In the child ----------------------------------------------------------------------------- */

static void expect(int ok, const char *fmt, ...)
{
    va_list ap;

    if (ok) return;
    printf("FAIL: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    _exit(1);
}

static void set_env(const char *const *env)
{
    for (size_t i = 0; env[i] != NULL; i += 2)
        setenv(env[i], env[i + 1], 1);
}

static WS_HEAP *create_ok(void)
{
    WS_HEAP *heap = NULL;
    HRESULT hr = WsCreateHeap(HEAP_SIZE, 0, NULL, 0, &heap, NULL);

    expect(hr == S_OK && heap != NULL, "WsCreateHeap returned %s", wsheap_hresult_name(hr));
    return heap;
}

static size_t requested(WS_HEAP *heap)
{
    SIZE_T v = 0;

    expect(WsGetHeapProperty(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE, &v, sizeof v, NULL) == S_OK,
           "REQUESTED_SIZE");
    return v;
}

/* WsAlloc of 24 bytes that must give `want`; a failure must leave the out-parameter and
 * REQUESTED_SIZE alone and leave the usual message plus " (injected by <cause>)". */
static void alloc_expect(WS_HEAP *heap, HRESULT want, const char *message_start, const char *cause)
{
    WS_ERROR *error = NULL;
    void *p = SENTINEL;
    size_t before = requested(heap);
    HRESULT hr;
    char text[1024], note[128];

    expect(WsCreateError(NULL, 0, &error) == S_OK, "WsCreateError");
    hr = WsAlloc(heap, 24, &p, error);
    expect(hr == want, "WsAlloc returned %s, expected %s", wsheap_hresult_name(hr),
           wsheap_hresult_name(want));
    if (want == S_OK) {
        expect(p != SENTINEL && requested(heap) == before + 24, "WsAlloc S_OK");
    } else {
        expect(p == SENTINEL, "the out-parameter was written");
        expect(requested(heap) == before, "REQUESTED_SIZE changed");
        newest_error_string(error, text, sizeof text);
        snprintf(note, sizeof note, " (injected by %s)", cause);
        expect(strncmp(text, message_start, strlen(message_start)) == 0 &&
                   strlen(text) > strlen(note) &&
                   strcmp(text + strlen(text) - strlen(note), note) == 0,
               "message \"%s\"", text);
    }
    WsFreeError(error);
}

static void create_fails(const char *cause)
{
    WS_ERROR *error = NULL;
    WS_HEAP *heap = SENTINEL;
    char text[1024], want[256];
    HRESULT hr;

    expect(WsCreateError(NULL, 0, &error) == S_OK, "WsCreateError");
    hr = WsCreateHeap(HEAP_SIZE, 0, NULL, 0, &heap, error);
    expect(hr == E_OUTOFMEMORY, "WsCreateHeap returned %s", wsheap_hresult_name(hr));
    expect(heap == SENTINEL, "the heap out-parameter was written");
    newest_error_string(error, text, sizeof text);
    snprintf(want, sizeof want,
             "WsCreateHeap: out of memory creating a heap (maxSize %zu, trimSize 0, backend %s) "
             "(injected by %s)",
             HEAP_SIZE,
             getenv("WSHEAP_PAGEHEAP") && atoi(getenv("WSHEAP_PAGEHEAP")) ? "guarded" : "arena",
             cause);
    expect(strcmp(text, want) == 0, "message \"%s\", expected \"%s\"", text, want);
    WsFreeError(error);
}

#define OOM   "WsAlloc: out of memory: the "
#define QUOTA "WsAlloc: 24 bytes requested, but the heap's maxSize is "
#define AT    "WSHEAP_FAIL_AT"

static void nth_alloc(void *arg)
{
    WS_HEAP *heap;

    set_env(arg);
    heap = create_ok();
    alloc_expect(heap, S_OK, NULL, NULL);
    alloc_expect(heap, S_OK, NULL, NULL);
    alloc_expect(heap, E_OUTOFMEMORY, OOM, AT);
    alloc_expect(heap, S_OK, NULL, NULL); /* transient: that call only */
    create_ok();                          /* creates are not counted by alloc:N */
    WsFreeHeap(heap);
}

static void nth_alloc_persistent_quota(void *arg)
{
    WS_HEAP *heap;

    set_env(arg);
    heap = create_ok();
    alloc_expect(heap, S_OK, NULL, NULL);
    alloc_expect(heap, WS_E_QUOTA_EXCEEDED, QUOTA, AT);
    alloc_expect(heap, WS_E_QUOTA_EXCEEDED, QUOTA, AT); /* persistent */
    WsFreeHeap(create_ok());                            /* WsCreateHeap is another kind */
    WsFreeHeap(heap);
}

static void nth_create(void *arg)
{
    WS_HEAP *first;

    set_env(arg);
    first = create_ok();
    alloc_expect(first, S_OK, NULL, NULL);
    create_fails(AT); /* quota applies to WsAlloc only: WsCreateHeap fails with E_OUTOFMEMORY */
    WsFreeHeap(create_ok());
    WsFreeHeap(first);
}

static void nth_both_persistent(void *arg)
{
    WS_HEAP *heap;

    set_env(arg);
    heap = create_ok();                         /* call 1 */
    alloc_expect(heap, S_OK, NULL, NULL);       /* 2 */
    alloc_expect(heap, E_OUTOFMEMORY, OOM, AT); /* 3 */
    create_fails(AT);                           /* both kinds fail from then on */
    alloc_expect(heap, E_OUTOFMEMORY, OOM, AT);
    WsFreeHeap(heap);
}

/* Calls that fail their argument checks are not counted. */
static void bad_calls_not_counted(void *arg)
{
    WS_HEAP *heap;
    void *p;

    set_env(arg);
    heap = create_ok();
    expect(WsAlloc(heap, 8, NULL, NULL) == E_INVALIDARG, "NULL ptr");
    expect(WsAlloc(NULL, 8, &p, NULL) == E_INVALIDARG, "NULL heap");
    expect(WsCreateHeap(HEAP_SIZE, 0, NULL, 1, (WS_HEAP **)&p, NULL) == E_INVALIDARG, "count");
    alloc_expect(heap, E_OUTOFMEMORY, OOM, AT); /* the first counted WsAlloc */
    WsFreeHeap(heap);
}

static void run(void (*fn)(void *), const char *const *env)
{
    char out[16384];
    int status = run_in_child(fn, (void *)env, out, sizeof out);

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("child: %s", out);
}

static void test_nth_alloc(void **state)
{
    static const char *const env[] = {"WSHEAP_FAIL_AT", "alloc:3", NULL};

    (void)state;
    run(nth_alloc, env);
}

static void test_nth_alloc_persistent_quota(void **state)
{
    static const char *const env[] = {
        "WSHEAP_FAIL_AT", "alloc:2", "WSHEAP_FAIL_PERSISTENT", "1", "WSHEAP_FAIL_KIND",
        "quota",          NULL};

    (void)state;
    run(nth_alloc_persistent_quota, env);
}

static void test_nth_create(void **state)
{
    static const char *const env[] = {"WSHEAP_FAIL_AT", "create:2", "WSHEAP_FAIL_KIND", "quota",
                                      NULL};

    (void)state;
    run(nth_create, env);
}

static void test_nth_both_persistent(void **state)
{
    static const char *const env[] = {"WSHEAP_FAIL_AT", "3", "WSHEAP_FAIL_PERSISTENT", "yes", NULL};

    (void)state;
    run(nth_both_persistent, env);
}

static void test_bad_calls_not_counted(void **state)
{
    static const char *const env[] = {"WSHEAP_FAIL_AT", "alloc:1", NULL};

    (void)state;
    run(bad_calls_not_counted, env);
}

/* --- The log ---------------------------------------------------------------------------------- */

static char log_path[64];

static void logged(void *arg)
{
    WS_HEAP *heap;

    set_env(arg);
    heap = create_ok();
    alloc_expect(heap, S_OK, NULL, NULL);
    alloc_expect(heap, E_OUTOFMEMORY, OOM, AT);
    WsFreeHeap(heap);
}

static void test_log_format(void **state)
{
    const char *const env[] = {
        "WSHEAP_FAIL_AT", "3", "WSHEAP_FAIL_LOG", log_path, "WSHEAP_SYMBOLIZE", "0", NULL};
    char text[8192], id[17];
    unsigned long long call;
    long pid;
    FILE *f;
    size_t n;

    (void)state;
    snprintf(log_path, sizeof log_path, "/tmp/wsheap-test-fail-log.%ld", (long)getpid());
    unlink(log_path);
    for (int i = 0; i < 2; i++) /* appended; from one site, so with one id */
        run(logged, env);
    f = fopen(log_path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(log_path);
    assert_int_equal(
        sscanf(text, "injected oom alloc call %llu site %16[0-9a-f] pid %ld\n", &call, id, &pid),
        3);
    assert_int_equal(call, 3);
    assert_int_equal(strlen(id), 16);
    assert_non_null(strstr(text, "\n  #0 0x"));
    assert_non_null(strstr(text, "\nend\ninjected oom alloc call 3 site "));
    if (strstr(strstr(text, "\nend\n"), id) == NULL) /* the same site in both runs */
        fail_msg("site %s not in the second entry:\n%s", id, text);
    assert_true(strlen(text) > 5 && strcmp(text + strlen(text) - 5, "\nend\n") == 0);
}

/* --- Call sites: recorded in one run, failed by id in another --------------------------------- */

/* The site under test; noinline so that it is a frame of its own. */
static __attribute__((noinline)) HRESULT alloc_at_site(WS_HEAP *heap, void **p)
{
    HRESULT hr = WsAlloc(heap, 24, p, NULL);

    __asm__ volatile("" ::: "memory");
    return hr;
}

/* `--site-child`: three calls from alloc_at_site and one from elsewhere, each printed. */
static int site_child(void)
{
    WS_HEAP *heap = create_ok();
    void *p = SENTINEL;

    for (int i = 0; i < 3; i++) {
        HRESULT hr;

        p = SENTINEL;
        hr = alloc_at_site(heap, &p);
        printf("site call %d: %s%s\n", i, wsheap_hresult_name(hr),
               p == SENTINEL ? " untouched" : "");
    }
    printf("other call: %s\n", wsheap_hresult_name(WsAlloc(heap, 8, &p, NULL)));
    fflush(stdout);
    WsFreeHeap(heap);
    return 0;
}

static void test_site_record_and_fail(void **state)
{
    char record[64], env_record[128], env_site[64], out[16384], text[8192], line[512];
    char *argv[] = {(char *)self, "--site-child", NULL};
    char *env1[] = {env_record, "WSHEAP_SYMBOLIZE=1", NULL};
    char *env2[] = {env_site, NULL};
    char id[32] = "";
    unsigned long long calls = 0;
    int status, n_sites = 0;
    FILE *f;

    (void)state;
    snprintf(record, sizeof record, "/tmp/wsheap-test-fail-record.%ld", (long)getpid());
    snprintf(env_record, sizeof env_record, "WSHEAP_FAIL_RECORD=%s", record);
    status = run_program(argv, env1, out, sizeof out);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(out, "site call 2: S_OK"));
    f = fopen(record, "r");
    assert_non_null(f);
    text[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        char sid[32], kind[16], func[256], loc[256];
        unsigned long long c;

        strncat(text, line, sizeof text - strlen(text) - 1);
        assert_int_equal(sscanf(line, "site %31s %15s %llu %255s %255s", sid, kind, &c, func, loc),
                         5);
        assert_int_equal(strlen(sid), 16);
        assert_true(strcmp(kind, "alloc") == 0 || strcmp(kind, "create") == 0);
        n_sites++;
        if (strcmp(func, "alloc_at_site") == 0) {
            snprintf(id, sizeof id, "%s", sid);
            calls = c;
            assert_non_null(strstr(loc, "test_fail.c:"));
        }
    }
    fclose(f);
    unlink(record);
    if (id[0] == '\0') fail_msg("no alloc_at_site line in the record:\n%s", text);
    assert_int_equal(calls, 3);
    assert_int_equal(n_sites, 3); /* the create, alloc_at_site, the other WsAlloc */
    assert_int_equal(strncmp(text, "site ", 5), 0);
    assert_non_null(strstr(text, " create 1 create_ok "));

    /* A new run, a new layout: the first call from that site fails, only that one. */
    snprintf(env_site, sizeof env_site, "WSHEAP_FAIL_SITE=%s", id);
    status = run_program(argv, env2, out, sizeof out);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(out, "site call 0: E_OUTOFMEMORY untouched\n"));
    assert_non_null(strstr(out, "site call 1: S_OK\n"));
    assert_non_null(strstr(out, "other call: S_OK\n"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nth_alloc),
        cmocka_unit_test(test_nth_alloc_persistent_quota),
        cmocka_unit_test(test_nth_create),
        cmocka_unit_test(test_nth_both_persistent),
        cmocka_unit_test(test_bad_calls_not_counted),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_site_record_and_fail),
    };

    self = argv[0];
    if (argc > 1 && strcmp(argv[1], "--site-child") == 0) return site_child();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
