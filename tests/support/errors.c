/* SPDX-License-Identifier: MIT */
/*
 * WS_ERROR helpers the tests share: see errors.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <wsheap.h>

#include "check.h"
#include "errors.h"

ULONG error_string_count(WS_ERROR *error)
{
    ULONG count = 0xfefefefe;

    assert_hr(WsGetErrorProperty(error, WS_ERROR_PROPERTY_STRING_COUNT, &count, sizeof count),
              S_OK);
    return count;
}

void newest_error_string(WS_ERROR *error, char *buf, size_t size)
{
    WS_STRING s = {0, NULL};

    assert_hr(WsGetErrorString(error, 0, &s), S_OK);
    assert_true(s.length > 0);
    assert_non_null(s.chars);
    assert_true(wsheap_string_to_utf8(&s, buf, size) < size);
}
