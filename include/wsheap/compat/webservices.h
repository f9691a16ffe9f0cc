/* SPDX-License-Identifier: MIT */
/*
 * <webservices.h> for source written for Windows: includes <wsheap.h> and adds the spellings such
 * source uses around the heap and error API that wsheap.h does not define, so that the file
 * builds with no edit. It lives in its own directory, which is on the include path only when the
 * consumer opts in (CMake: wsheap::webservices; pkg-config: wsheap-webservices), because
 * programs written for Linux must not see Windows names. See docs/porting.md.
 *
 * Not here, on purpose: <windows.h> (the whole Win32 API; a stand-in that declares a few types
 * would shadow a real one and fail far from the cause), NOERROR (glibc's <arpa/nameser.h>
 * defines it as a DNS code), HRESULT_FROM_WIN32 (useless without winerror.h's ERROR_* codes),
 * and WS_STRING_VALUE (it takes an L"" literal, whose wchar_t is 32 bits on Linux, not WCHAR).
 */
#ifndef WSHEAP_COMPAT_WEBSERVICES_H
#define WSHEAP_COMPAT_WEBSERVICES_H

/* Brings WsAlloc's inline fast path along (wsheap.h; WSHEAP_NO_INLINE_ALLOC before this include
 * turns it off), so that ported code gets the same speed as code written for wsheap. */
#include <wsheap.h>

/* The struct tags as Windows spells them, for forward declarations such as
 * `typedef struct _WS_HEAP WS_HEAP;` in a header that does not include this one. wsheap.h names
 * the tags WS_HEAP and WS_ERROR; the typedefs are the same. */
#define _WS_HEAP  WS_HEAP
#define _WS_ERROR WS_ERROR

/* Calling conventions: the Ws* functions are plain C functions with the platform's C calling
 * convention, so WINAPI and CALLBACK are empty, as they are in effect on x86-64 Windows. */
#ifndef WINAPI
#define WINAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif

/* SAL annotations (sal.h), which only Microsoft's code analysis reads; every compiler ignores
 * them, so they are empty. These are the ones found on functions that take heaps, error objects
 * and buffers. A program that already has sal.h (Wine's) keeps its own. */
#ifndef _In_
#define _In_
#define _In_opt_
#define _In_z_
#define _In_reads_(count)
#define _In_reads_opt_(count)
#define _In_reads_bytes_(size)
#define _Out_
#define _Out_opt_
#define _Out_writes_(count)
#define _Out_writes_bytes_(size)
#define _Inout_
#define _Inout_opt_
#define _Outptr_
#define _Outptr_opt_
#define _Outptr_result_bytebuffer_(size)
#define _Success_(expr)
#define _Check_return_
#endif

#endif
