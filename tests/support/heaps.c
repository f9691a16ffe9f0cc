/* SPDX-License-Identifier: MIT */
/*
 * Heap helpers the tests share: see heaps.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <wsheap.h>

#include "check.h"
#include "heaps.h"

size_t heap_property(WS_HEAP *heap, WS_HEAP_PROPERTY_ID id)
{
    size_t value = 0;

    assert_hr(WsGetHeapProperty(heap, id, &value, (ULONG)sizeof value, NULL), S_OK);
    return value;
}

char *alloc_written(WS_HEAP *heap, size_t size)
{
    void *p = NULL;

    assert_hr(WsAlloc(heap, size, &p, NULL), S_OK);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 8, 0);
    memset(p, 0x5a, size);
    return p;
}
