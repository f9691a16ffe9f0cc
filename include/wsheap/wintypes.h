/* SPDX-License-Identifier: MIT */
/*
 * Windows base types and HRESULT codes with the widths and values Windows uses, so that code
 * written for webservices.h compiles unchanged. A program that already has these types (for
 * example from Wine's windef.h) defines WSHEAP_HAVE_WINTYPES before including wsheap.h.
 */
#ifndef WSHEAP_WINTYPES_H
#define WSHEAP_WINTYPES_H

#include <stddef.h>
#include <stdint.h>

#ifndef WSHEAP_HAVE_WINTYPES
typedef int32_t HRESULT; /* not `long`: FAILED() relies on bit 31 being the sign */
typedef uint32_t ULONG;  /* 32 bits as on Windows; `unsigned long` is 64 on LP64 */
typedef size_t SIZE_T;
typedef uint16_t LANGID;
typedef uint16_t WCHAR; /* a UTF-16 code unit; not wchar_t, which is 32 bits on Linux */

#define SUCCEEDED(hr) ((HRESULT)(hr) >= 0)
#define FAILED(hr)    ((HRESULT)(hr) < 0)

/* Values from the Windows SDK (winerror.h), not from the "Return Values" web page. */
#define S_OK                   ((HRESULT)0x00000000)
#define E_INVALIDARG           ((HRESULT)0x80070057)
#define E_OUTOFMEMORY          ((HRESULT)0x8007000E)
#define WS_E_INVALID_OPERATION ((HRESULT)0x803D0003)
#define WS_E_QUOTA_EXCEEDED    ((HRESULT)0x803D0008)
#endif

/* One row per code this library returns: X(code, description). Expanded in src/error.c. */
#define WSHEAP_HRESULT_MAP(X)                                                                      \
    X(S_OK, "success")                                                                             \
    X(E_INVALIDARG, "one or more arguments are invalid")                                           \
    X(E_OUTOFMEMORY, "not enough memory")                                                          \
    X(WS_E_INVALID_OPERATION, "the object's state does not allow this operation")                  \
    X(WS_E_QUOTA_EXCEEDED, "the heap's maximum size would be exceeded")

#endif
