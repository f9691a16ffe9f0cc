/* SPDX-License-Identifier: MIT */
/*
 * Tests of the WSHEAP_* option loader through its pure entry points, over fixed lookup tables:
 * defaults, every valid value (booleans in all their spellings), invalid values (one warning
 * each, the default kept), and unknown WSHEAP_* names in an environment list (one warning each,
 * with the nearest option when it is close). No test here reads the real environment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

/* The environment a test sees: NULL-terminated name/value pairs. */
static const char *const *fake_env;
static char warnings[8][256];
static int n_warnings;

static const char *fake_getenv(const char *name)
{
    for (const char *const *e = fake_env; e != NULL && e[0] != NULL; e += 2)
        if (strcmp(e[0], name) == 0) return e[1];
    return NULL;
}

static void record_warning(const char *message)
{
    if (n_warnings < 8) snprintf(warnings[n_warnings], sizeof warnings[0], "%s", message);
    n_warnings++;
}

static struct wsh_options load(const char *const *env)
{
    struct wsh_options o;

    fake_env = env;
    n_warnings = 0;
    wsh_options_load(fake_getenv, record_warning, &o);
    return o;
}

static void test_defaults(void **state)
{
    struct wsh_options o = load(NULL);

    (void)state;
    assert_int_equal(n_warnings, 0);
    assert_int_equal(o.backend, WSH_BACKEND_ARENA);
    assert_false(o.backward);
    assert_false(o.unaligned);
    assert_int_equal(o.stack_depth, 16);
    assert_int_equal(o.quarantine_size, (size_t)1024 << 20);
    assert_true(o.symbolize);
    assert_false(o.verbose);
    assert_false(o.help);
}

static void test_valid_values(void **state)
{
    static const char *const env[] = {"WSHEAP_PAGEHEAP",
                                      "1",
                                      "WSHEAP_PAGEHEAP_BACKWARD",
                                      "1",
                                      "WSHEAP_PAGEHEAP_UNALIGNED",
                                      "1",
                                      "WSHEAP_STACK_DEPTH",
                                      "64",
                                      "WSHEAP_QUARANTINE_MB",
                                      "0",
                                      "WSHEAP_SYMBOLIZE",
                                      "0",
                                      "WSHEAP_VERBOSE",
                                      "1",
                                      "WSHEAP_HELP",
                                      "1",
                                      NULL};
    struct wsh_options o = load(env);

    (void)state;
    assert_int_equal(n_warnings, 0);
    assert_int_equal(o.backend, WSH_BACKEND_GUARDED);
    assert_true(o.backward);
    assert_true(o.unaligned);
    assert_int_equal(o.stack_depth, 64);
    assert_int_equal(o.quarantine_size, 0);
    assert_false(o.symbolize);
    assert_true(o.verbose);
    assert_true(o.help);
}

static void test_pageheap_zero_keeps_the_arena(void **state)
{
    static const char *const env[] = {"WSHEAP_PAGEHEAP", "0", NULL};
    struct wsh_options o = load(env);

    (void)state;
    assert_int_equal(n_warnings, 0);
    assert_int_equal(o.backend, WSH_BACKEND_ARENA);
}

/* Each invalid value: exactly one warning naming the variable, and the default kept. */
static void test_invalid_values_warn_once_and_keep_defaults(void **state)
{
    static const struct {
        const char *name, *value;
    } cases[] = {
        {"WSHEAP_PAGEHEAP", "y"},
        {"WSHEAP_PAGEHEAP", "2"},
        {"WSHEAP_PAGEHEAP", ""},
        {"WSHEAP_PAGEHEAP", "1 "},
        {"WSHEAP_PAGEHEAP", "-1"},
        {"WSHEAP_PAGEHEAP_BACKWARD", "truth"},
        {"WSHEAP_PAGEHEAP_BACKWARD", "enabled"},
        {"WSHEAP_PAGEHEAP_UNALIGNED", "01x"},
        {"WSHEAP_STACK_DEPTH", "65"},
        {"WSHEAP_STACK_DEPTH", "99999999999999999999999"},
        {"WSHEAP_QUARANTINE_MB", "1048577"},
        {"WSHEAP_SYMBOLIZE", "on "},
        {"WSHEAP_SYMBOLIZE", "of"},
        {"WSHEAP_HELP", " 1"},
    };
    struct wsh_options defaults = load(NULL);

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *env[] = {cases[i].name, cases[i].value, NULL};
        struct wsh_options o = load(env);

        assert_int_equal(n_warnings, 1);
        assert_non_null(strstr(warnings[0], cases[i].name));
        assert_non_null(strstr(warnings[0], "using the default"));
        assert_memory_equal(&o, &defaults, sizeof o);
    }
}

/* WSHEAP_STATS, WSHEAP_LEAKS (whose default follows WSHEAP_PAGEHEAP) and WSHEAP_LEAKS_EXITCODE. */
static void test_stats_and_leaks(void **state)
{
    static const char *const on[] = {
        "WSHEAP_STATS", "1", "WSHEAP_LEAKS", "1", "WSHEAP_LEAKS_EXITCODE", "255", NULL};
    static const char *const guarded[] = {"WSHEAP_PAGEHEAP", "1", NULL};
    static const char *const guarded_no_leaks[] = {"WSHEAP_PAGEHEAP", "1", "WSHEAP_LEAKS", "0",
                                                   NULL};
    static const char *const bad[][3] = {
        {"WSHEAP_STATS", "2", NULL},
        {"WSHEAP_STATS", "yess", NULL},
        {"WSHEAP_LEAKS", "o", NULL},
        {"WSHEAP_LEAKS", "-1", NULL},
        {"WSHEAP_LEAKS_EXITCODE", "256", NULL},
        {"WSHEAP_LEAKS_EXITCODE", "-1", NULL},
        {"WSHEAP_LEAKS_EXITCODE", "", NULL},
        {"WSHEAP_LEAKS_EXITCODE", "0x17", NULL},
    };
    struct wsh_options o = load(NULL), defaults = o;

    (void)state;
    assert_false(o.stats);
    assert_int_equal(o.leaks, 0); /* the arena: off */
    assert_int_equal(o.leaks_exitcode, 0);
    o = load(on);
    assert_int_equal(n_warnings, 0);
    assert_true(o.stats);
    assert_int_equal(o.leaks, 1);
    assert_int_equal(o.leaks_exitcode, 255);
    o = load(guarded);
    assert_int_equal(o.leaks, 1); /* the guarded backend: on unless asked otherwise */
    assert_false(o.stats);
    o = load(guarded_no_leaks);
    assert_int_equal(o.leaks, 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o = load(bad[i]);
        assert_int_equal(n_warnings, 1);
        assert_non_null(strstr(warnings[0], bad[i][0]));
        assert_memory_equal(&o, &defaults, sizeof o);
    }
}

/* Every boolean takes 1/0, yes/no, true/false and on/off, in any case. */
static void test_boolean_spellings(void **state)
{
    static const struct {
        const char *value;
        bool on;
    } spellings[] = {
        {"1", true},    {"0", false},     {"yes", true}, {"no", false},
        {"true", true}, {"false", false}, {"on", true},  {"off", false},
        {"YES", true},  {"False", false}, {"On", true},  {"OFF", false},
    };

    (void)state;
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        const char *value = spellings[i].value;
        const char *const env[] = {"WSHEAP_PAGEHEAP",
                                   value,
                                   "WSHEAP_PAGEHEAP_BACKWARD",
                                   value,
                                   "WSHEAP_PAGEHEAP_UNALIGNED",
                                   value,
                                   "WSHEAP_SYMBOLIZE",
                                   value,
                                   "WSHEAP_STATS",
                                   value,
                                   "WSHEAP_LEAKS",
                                   value,
                                   "WSHEAP_VERBOSE",
                                   value,
                                   "WSHEAP_HELP",
                                   value,
                                   NULL};
        struct wsh_options o = load(env);
        bool on = spellings[i].on;

        assert_int_equal(n_warnings, 0);
        assert_int_equal(o.backend, on ? WSH_BACKEND_GUARDED : WSH_BACKEND_ARENA);
        assert_int_equal(o.backward, on);
        assert_int_equal(o.unaligned, on);
        assert_int_equal(o.symbolize, on);
        assert_int_equal(o.stats, on);
        assert_int_equal(o.leaks, on);
        assert_int_equal(o.verbose, on);
        assert_int_equal(o.help, on);
    }
}

static void check_names(const char *const *env)
{
    n_warnings = 0;
    wsh_options_check_names(env, record_warning);
}

/* Unknown WSHEAP_* names: one warning each, naming the nearest option when it is close. */
static void test_unknown_names_warn_with_the_nearest(void **state)
{
    static const char *const typos[][2] = {
        {"WSHEAP_PAGHEAP=1", "unknown variable WSHEAP_PAGHEAP (did you mean WSHEAP_PAGEHEAP?)"},
        {"WSHEAP_STAT=1", "unknown variable WSHEAP_STAT (did you mean WSHEAP_STATS?)"},
        {"WSHEAP_PAGEHEAP_BACKWARDS=1",
         "unknown variable WSHEAP_PAGEHEAP_BACKWARDS (did you mean WSHEAP_PAGEHEAP_BACKWARD?)"},
        {"WSHEAP_LEAK_EXITCODE=3",
         "unknown variable WSHEAP_LEAK_EXITCODE (did you mean WSHEAP_LEAKS_EXITCODE?)"},
        {"WSHEAP_Pageheap=1", "unknown variable WSHEAP_Pageheap (did you mean WSHEAP_PAGEHEAP?)"},
        {"WSHEAP_QUARANTINE=5",
         "unknown variable WSHEAP_QUARANTINE (did you mean WSHEAP_QUARANTINE_MB?)"},
        {"WSHEAP_HEAP=1", "unknown variable WSHEAP_HEAP (did you mean WSHEAP_HELP?)"},
        {"WSHEAP_DEPTH=4", "unknown variable WSHEAP_DEPTH (WSHEAP_HELP=1 lists the options)"},
        {"WSHEAP_FOO=1", "unknown variable WSHEAP_FOO (WSHEAP_HELP=1 lists the options)"},
        {"WSHEAP_X", "unknown variable WSHEAP_X (WSHEAP_HELP=1 lists the options)"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof typos / sizeof typos[0]; i++) {
        const char *const env[] = {"PATH=/bin", typos[i][0], "HOME=/", NULL};

        check_names(env);
        assert_int_equal(n_warnings, 1);
        assert_string_equal(warnings[0], typos[i][1]);
    }
}

/* Options, the project's own test variables and other programs' names: no warning; a name
 * that appears twice: one warning. */
static void test_known_names_are_quiet(void **state)
{
    static const char *const env[] = {"WSHEAP_PAGEHEAP=1",
                                      "WSHEAP_PAGEHEAP_BACKWARD=0",
                                      "WSHEAP_PAGEHEAP_UNALIGNED=0",
                                      "WSHEAP_STACK_DEPTH=4",
                                      "WSHEAP_QUARANTINE_MB=1",
                                      "WSHEAP_SYMBOLIZE=0",
                                      "WSHEAP_STATS=0",
                                      "WSHEAP_LEAKS=0",
                                      "WSHEAP_LEAKS_EXITCODE=0",
                                      "WSHEAP_VERBOSE=0",
                                      "WSHEAP_HELP=0",
                                      "WSHEAP_FUZZ_UNTRACKED=1",
                                      "WSHEAP_FUZZ_SECONDS=5",
                                      "WSHEAP_TEST_GDB=gdb",
                                      "WSHEAP_=1",
                                      "WSHEAP",
                                      "wsheap_pageheap=1",
                                      "XWSHEAP_PAGHEAP=1",
                                      "PATH=/bin",
                                      NULL};
    static const char *const twice[] = {"WSHEAP_PAGHEAP=1", "WSHEAP_PAGHEAP=0", NULL};

    (void)state;
    check_names(env);
    assert_int_equal(n_warnings, 0);
    check_names(NULL);
    assert_int_equal(n_warnings, 0);
    check_names(twice);
    assert_int_equal(n_warnings, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_and_leaks),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_valid_values),
        cmocka_unit_test(test_pageheap_zero_keeps_the_arena),
        cmocka_unit_test(test_invalid_values_warn_once_and_keep_defaults),
        cmocka_unit_test(test_boolean_spellings),
        cmocka_unit_test(test_unknown_names_warn_with_the_nearest),
        cmocka_unit_test(test_known_names_are_quiet),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
