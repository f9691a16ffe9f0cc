/* SPDX-License-Identifier: MIT */
/*
 * A program written as for Windows, built with no edit through the opt-in <webservices.h>
 * (wsheap::webservices, -Wall -Wextra -pedantic -Werror): it includes <webservices.h> and no
 * wsheap header, annotates its functions with SAL, declares WINAPI and CALLBACK function
 * pointers, forward-declares the handles by their Windows struct tags, and processes messages
 * in one heap reset between them, reading failures from a WS_ERROR. It uses nothing Windows lacks
 * (no wsheap_* extension, no POSIX call). Exits 0 only when every result is the documented one.
 */
#include <webservices.h>
#include <stdio.h>
#include <string.h>

/* <webservices.h> gives ported code wsheap.h's inline WsAlloc, as <wsheap.h> does. */
#ifndef WsAlloc
#error "<webservices.h> lost the inline WsAlloc"
#endif

/* What a header of the program writes when it does not include webservices.h itself; repeated
 * after the include, the declarations must agree with it. */
typedef struct _WS_HEAP WS_HEAP;
typedef struct _WS_ERROR WS_ERROR;
typedef HRESULT(WINAPI *PFN_WS_ALLOC)(_In_ WS_HEAP *heap, _In_ SIZE_T size,
                                      _Outptr_result_bytebuffer_(size) void **ptr,
                                      _In_opt_ WS_ERROR *error);
typedef HRESULT(CALLBACK *MESSAGE_CALLBACK)(_In_ WS_HEAP *heap, _In_ ULONG index,
                                            _In_opt_ WS_ERROR *error);

#define MAX_SIZE  256
#define TRIM_SIZE 128

static int failures;

static void Check(_In_ int condition, _In_z_ const char *what)
{
    if (!condition) {
        printf("FAILED: %s\n", what);
        failures++;
    }
}

/* Makes a NUL-terminated copy of `text` in `heap` and writes its address to *copy; on failure
 * *copy is untouched. */
_Success_(return >= 0) static HRESULT CopyText(_In_ WS_HEAP *heap, _In_z_ const char *text,
                                               _Outptr_ char **copy, _In_opt_ WS_ERROR *error)
{
    PFN_WS_ALLOC alloc = WsAlloc;
    SIZE_T size = strlen(text) + 1;
    void *buffer;
    HRESULT hr = alloc(heap, size, &buffer, error);

    if (FAILED(hr)) return hr;
    memcpy(buffer, text, size);
    *copy = (char *)buffer;
    return S_OK;
}

static SIZE_T GetRequestedSize(_In_ WS_HEAP *heap)
{
    SIZE_T requested = 0;

    Check(SUCCEEDED(WsGetHeapProperty(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE, &requested,
                                      sizeof(requested), NULL)),
          "WsGetHeapProperty(REQUESTED_SIZE)");
    return requested;
}

/* The newest string of `error`, ASCII only ('?' for anything else), as C text in `buffer`. */
static void GetNewestErrorText(_In_ WS_ERROR *error, _Out_writes_(bufferSize) char *buffer,
                               _In_ ULONG bufferSize)
{
    WS_STRING string;
    ULONG i;

    buffer[0] = '\0';
    if (FAILED(WsGetErrorString(error, 0, &string))) return;
    for (i = 0; i < string.length && i + 1 < bufferSize; i++)
        buffer[i] = string.chars[i] < 128 ? (char)string.chars[i] : '?';
    buffer[i] = '\0';
}

/* Message `index`: one copy of its text, and for message 2 a request past the quota too. */
static HRESULT CALLBACK ProcessMessage(_In_ WS_HEAP *heap, _In_ ULONG index,
                                       _In_opt_ WS_ERROR *error)
{
    char *text = NULL;
    void *tooBig = &text;
    HRESULT hr = CopyText(heap, index == 0 ? "first" : "next message", &text, error);

    if (FAILED(hr)) return hr;
    Check(((SIZE_T)text & 7) == 0, "WsAlloc: 8-byte alignment");
    if (index == 2) {
        hr = WsAlloc(heap, MAX_SIZE, &tooBig, error);
        Check(hr == WS_E_QUOTA_EXCEEDED, "WsAlloc past maxSize: WS_E_QUOTA_EXCEEDED");
        Check(tooBig == &text, "WsAlloc past maxSize: out-parameter untouched");
    }
    return hr;
}

static HRESULT ProcessMessages(_In_ WS_HEAP *heap, _In_ MESSAGE_CALLBACK callback, _In_ ULONG count,
                               _In_opt_ WS_ERROR *error)
{
    HRESULT hr = S_OK;
    ULONG index;

    for (index = 0; index < count && SUCCEEDED(hr); index++) {
        hr = callback(heap, index, error);
        if (SUCCEEDED(hr)) Check(GetRequestedSize(heap) > 0, "REQUESTED_SIZE after a message");
        if (SUCCEEDED(hr)) hr = WsResetHeap(heap, error);
        if (SUCCEEDED(hr)) Check(GetRequestedSize(heap) == 0, "REQUESTED_SIZE after WsResetHeap");
    }
    return hr;
}

int main(void)
{
    WS_ERROR *error = NULL;
    WS_HEAP *heap = NULL;
    ULONG stringCount = 0;
    char text[256];
    HRESULT hr;

    hr = WsCreateError(NULL, 0, &error);
    Check(hr == S_OK && error != NULL, "WsCreateError");
    if (FAILED(hr)) return 1;
    hr = WsCreateHeap(MAX_SIZE, TRIM_SIZE, NULL, 0, &heap, error);
    Check(hr == S_OK && heap != NULL, "WsCreateHeap");
    if (FAILED(hr)) goto Exit;

    hr = ProcessMessages(heap, ProcessMessage, 2, error);
    Check(hr == S_OK, "messages 0 and 1");
    hr = ProcessMessages(heap, ProcessMessage, 3, error);
    Check(FAILED(hr) && hr == WS_E_QUOTA_EXCEEDED, "message 2 fails with WS_E_QUOTA_EXCEEDED");

    Check(SUCCEEDED(WsGetErrorProperty(error, WS_ERROR_PROPERTY_STRING_COUNT, &stringCount,
                                       sizeof(stringCount))) &&
              stringCount == 1,
          "one error string");
    GetNewestErrorText(error, text, sizeof(text));
    Check(strstr(text, "maxSize") != NULL, "the error string names maxSize");
    printf("message 2: 0x%08x (%s)\n", (unsigned int)hr, text);

    hr = WsResetHeap(heap, NULL);
    Check(hr == S_OK && GetRequestedSize(heap) == 0, "WsResetHeap after the failure");
    hr = WsGetHeapProperty(heap, (WS_HEAP_PROPERTY_ID)99, &stringCount, sizeof(stringCount), NULL);
    Check(hr == E_INVALIDARG, "WsGetHeapProperty with an unknown id: E_INVALIDARG");

Exit:
    if (heap != NULL) WsFreeHeap(heap);
    if (error != NULL) WsFreeError(error);
    printf("%s\n", failures == 0 ? "heap_windows: all checks passed" : "heap_windows: FAILED");
    return failures == 0 ? 0 : 1;
}
