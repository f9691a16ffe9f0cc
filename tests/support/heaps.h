/* SPDX-License-Identifier: MIT */
/*
 * Heap helpers the tests share, through the public API only (black-box tests use them too):
 * read a heap property, allocate a block and write every byte of it. Each fails the current
 * cmocka test when a call does not return S_OK.
 */
#ifndef WSH_TEST_HEAPS_H
#define WSH_TEST_HEAPS_H

#include <stddef.h>

#include <wsheap.h>

/* The size_t property `id` of `heap`. */
size_t heap_property(WS_HEAP *heap, WS_HEAP_PROPERTY_ID id);

/* A block of `size` bytes from `heap`, 8-byte aligned, every byte written (0x5a). */
char *alloc_written(WS_HEAP *heap, size_t size);

#endif
