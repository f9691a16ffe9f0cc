/* SPDX-License-Identifier: MIT */
/*
 * The install test's consumer: uses the installed header and library, as a user's program
 * would, and exits 0 only when a heap works end to end and the version macros are present.
 */
#include <stdio.h>
#include <string.h>

#include <wsheap.h>

int main(void)
{
    WS_HEAP *heap = NULL;
    SIZE_T requested = 0;
    char *text = NULL;

    if (FAILED(WsCreateHeap(1024, 512, NULL, 0, &heap, NULL))) return 1;
    if (FAILED(WsAlloc(heap, 6, (void **)&text, NULL))) return 2;
    memcpy(text, "hello", 6);
    if (FAILED(WsGetHeapProperty(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE, &requested,
                                 sizeof requested, NULL)) ||
        requested != 6)
        return 3;
    if (WsAlloc(heap, 2048, (void **)&text, NULL) != WS_E_QUOTA_EXCEEDED) return 4;
    WsFreeHeap(heap);
    printf("consumer: wsheap %s works (%d.%d.%d)\n", WSHEAP_VERSION_STRING, WSHEAP_VERSION_MAJOR,
           WSHEAP_VERSION_MINOR, WSHEAP_VERSION_PATCH);
    return 0;
}
