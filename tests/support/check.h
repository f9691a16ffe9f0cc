/* SPDX-License-Identifier: MIT */
/*
 * Assertions the black-box tests share: assert_hr() fails with both HRESULTs spelled out, which
 * cmocka's assert_int_equal cannot do. Include after <cmocka.h> and <wsheap.h>.
 */
#ifndef WSH_TEST_CHECK_H
#define WSH_TEST_CHECK_H

#include <stdarg.h>

/* Fails the current test with a printf-style message at file:line. */
static void failf(const char *file, int line, const char *fmt, ...) CMOCKA_PRINTF_ATTRIBUTE(3, 4);
static void failf(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprint_error(fmt, ap);
    va_end(ap);
    print_error("\n");
    _fail(file, line);
}

#define assert_hr(actual, expected) check_hr((actual), (expected), #actual, __FILE__, __LINE__)
static inline void check_hr(HRESULT actual, HRESULT expected, const char *expr, const char *file,
                            int line)
{
    if (actual != expected)
        failf(file, line, "%s returned %s (0x%08X), expected %s (0x%08X)", expr,
              wsheap_hresult_name(actual), (unsigned)actual, wsheap_hresult_name(expected),
              (unsigned)expected);
}

#endif
