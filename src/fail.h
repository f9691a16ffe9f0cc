/* SPDX-License-Identifier: MIT */
/*
 * Failure injection (WSHEAP_FAIL_*, docs/failures.md): makes the N-th WsAlloc and/or
 * WsCreateHeap of the process, or the first call from a given call site, fail as if memory or
 * the quota had run out, so that a program's error paths run. A call site is the stack of the
 * call from the caller of WsAlloc/WsCreateHeap outwards, at most 8 frames, each taken as
 * (module file name, offset in the module); its id is a 64-bit hash of that, the same in every
 * run of the same binary. The public layer asks here only while injection is configured
 * (options->inject, and heap->inject for WsAlloc: such heaps keep an empty window, so every
 * WsAlloc is asked about); the normal path never calls into this file.
 */
#ifndef WSH_FAIL_H
#define WSH_FAIL_H

#include "internal.h"

/* Counts a WsAlloc that passed its argument checks (before the quota test) and decides whether
 * it fails: NULL when it goes on, else the variable that made it fail ("WSHEAP_FAIL_AT" or
 * "WSHEAP_FAIL_SITE") with *hr set to E_OUTOFMEMORY or WS_E_QUOTA_EXCEEDED. Notes the call
 * site (for WSHEAP_FAIL_SITE and _RECORD) and appends an injected failure to WSHEAP_FAIL_LOG.
 * Takes the site table's lock. */
const char *wsh_inject_alloc(HRESULT *hr);

/* The same for a WsCreateHeap that passed its argument checks, before the backend creates the
 * heap; an injected failure is always E_OUTOFMEMORY. */
const char *wsh_inject_create(void);

#endif
