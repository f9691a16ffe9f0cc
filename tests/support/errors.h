/* SPDX-License-Identifier: MIT */
/*
 * WS_ERROR helpers the tests share, through the public API only: how many strings an error
 * object holds, and its newest string as UTF-8. Each fails the current cmocka test when a call
 * does not return S_OK.
 */
#ifndef WSH_TEST_ERRORS_H
#define WSH_TEST_ERRORS_H

#include <stddef.h>

#include <wsheap.h>

/* WS_ERROR_PROPERTY_STRING_COUNT of `error`. */
ULONG error_string_count(WS_ERROR *error);

/* The newest string of `error` (index 0), which must be non-empty, as UTF-8 into buf; fails
 * when it does not fit in `size` bytes. */
void newest_error_string(WS_ERROR *error, char *buf, size_t size);

#endif
