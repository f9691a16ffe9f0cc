/* SPDX-License-Identifier: MIT */
/*
 * The WS_ERROR object (WsCreateError ... WsFreeError), wsh_fail() through which every failing
 * call leaves its English message, the HRESULT name table, and UTF-8 <-> UTF-16 conversion.
 * Strings are stored oldest first; the API's index 0 is the newest.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "os.h"
#include "out.h"

#define ERROR_MAGIC    0x57534552u      /* "WSER" while live */
#define DEFAULT_LANGID ((LANGID)0x0409) /* en-US */
#define MESSAGE_MAX    512

struct WS_ERROR {
    uint32_t magic;
    ULONG original_error_code;
    LANGID langid;
    ULONG n_strings;
    ULONG capacity;
    WS_STRING *strings; /* [0] is the oldest; each chars array is a separate allocation */
};

static WS_ERROR *error_from_handle(WS_ERROR *error)
{
    return error != NULL && error->magic == ERROR_MAGIC ? error : NULL;
}

/* --- Strings ---------------------------------------------------------------------------------- */

/* Appends a copy of `length` code units. Returns S_OK or E_OUTOFMEMORY (nothing changed). */
static HRESULT append_string(WS_ERROR *error, const WCHAR *chars, ULONG length)
{
    WCHAR *copy;

    if (error->n_strings == error->capacity) {
        ULONG capacity = error->capacity ? error->capacity * 2 : 4;
        WS_STRING *grown;

        if (capacity < error->capacity) return E_OUTOFMEMORY;
        grown = wsh_os_malloc((size_t)capacity * sizeof *grown);
        if (grown == NULL) return E_OUTOFMEMORY;
        if (error->n_strings > 0)
            memcpy(grown, error->strings, (size_t)error->n_strings * sizeof *grown);
        wsh_os_free(error->strings);
        error->strings = grown;
        error->capacity = capacity;
    }
    /* An empty string still gets a non-NULL array, as Windows returns one. */
    copy = wsh_os_malloc(((size_t)length + 1) * sizeof(WCHAR));
    if (copy == NULL) return E_OUTOFMEMORY;
    if (length > 0) memcpy(copy, chars, (size_t)length * sizeof(WCHAR));
    copy[length] = 0;
    error->strings[error->n_strings].length = length;
    error->strings[error->n_strings].chars = copy;
    error->n_strings++;
    return S_OK;
}

static void drop_strings(WS_ERROR *error)
{
    for (ULONG i = 0; i < error->n_strings; i++)
        wsh_os_free(error->strings[i].chars);
    wsh_os_free(error->strings);
    error->strings = NULL;
    error->n_strings = 0;
    error->capacity = 0;
}

/* Decodes UTF-8 into UTF-16; invalid sequences become U+FFFD. Returns the code units written
 * (at most `cap`). */
static size_t utf8_to_utf16(const char *s, WCHAR *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;

    while (*p != 0 && n < cap) {
        uint32_t c = *p++;
        int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;

        if (c >= 0x80 && extra == 0) {
            c = 0xFFFD;
        } else if (extra > 0) {
            c &= 0x3Fu >> extra;
            for (int i = 0; i < extra; i++, p++) {
                if ((*p & 0xC0) != 0x80) {
                    c = 0xFFFD;
                    break;
                }
                c = (c << 6) | (*p & 0x3F);
            }
            if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
        }
        if (c >= 0x10000) {
            if (n + 2 > cap) break;
            out[n++] = (WCHAR)(0xD800 + ((c - 0x10000) >> 10));
            out[n++] = (WCHAR)(0xDC00 + ((c - 0x10000) & 0x3FF));
        } else {
            out[n++] = (WCHAR)c;
        }
    }
    return n;
}

size_t wsheap_string_to_utf8(const WS_STRING *string, char *buf, size_t size)
{
    size_t n = 0, written = 0; /* written: bytes of whole characters that fit in buf */

    for (ULONG i = 0; string != NULL && i < string->length; i++) {
        uint32_t c = string->chars[i];
        unsigned char enc[4];
        size_t len;

        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < string->length &&
            string->chars[i + 1] >= 0xDC00 && string->chars[i + 1] <= 0xDFFF) {
            c = 0x10000 + ((c - 0xD800) << 10) + (string->chars[i + 1] - 0xDC00u);
            i++;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = 0xFFFD;
        }
        if (c < 0x80) {
            enc[0] = (unsigned char)c;
            len = 1;
        } else if (c < 0x800) {
            enc[0] = (unsigned char)(0xC0 | (c >> 6));
            enc[1] = (unsigned char)(0x80 | (c & 0x3F));
            len = 2;
        } else if (c < 0x10000) {
            enc[0] = (unsigned char)(0xE0 | (c >> 12));
            enc[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            enc[2] = (unsigned char)(0x80 | (c & 0x3F));
            len = 3;
        } else {
            enc[0] = (unsigned char)(0xF0 | (c >> 18));
            enc[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
            enc[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
            enc[3] = (unsigned char)(0x80 | (c & 0x3F));
            len = 4;
        }
        /* A character is written whole or not at all, and nothing after a cut one. */
        if (written == n && n + len < size) {
            memcpy(buf + n, enc, len);
            written += len;
        }
        n += len;
    }
    if (size > 0) buf[written] = '\0';
    return n;
}

/* --- Failing calls ---------------------------------------------------------------------------- */

HRESULT wsh_fail(WS_ERROR *error, HRESULT hr, const char *fmt, ...)
{
    char text[MESSAGE_MAX];
    WCHAR wide[MESSAGE_MAX];
    va_list ap;
    size_t n;

    error = error_from_handle(error);
    if (error == NULL) return hr;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    n = utf8_to_utf16(text, wide, MESSAGE_MAX);
    (void)append_string(error, wide, (ULONG)n); /* out of memory: the object stays as it was */
    return hr;
}

void wsh_warn(const char *message)
{
    char line[MESSAGE_MAX + 64], prefix[WSH_PREFIX_MAX];
    int n;

    wsh_format_prefix(prefix); /* "==wsheap==<pid>== ", as every line wsheap writes */
    n = snprintf(line, sizeof line, "%swarning: %s\n", prefix, message);

    if (n > 0)
        (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

_Noreturn void wsh_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "wsheap: assertion failed at %s:%d: %s\n", file, line, expr);
    abort();
}

/* --- HRESULT names ---------------------------------------------------------------------------- */

const char *wsheap_hresult_name(HRESULT hr)
{
#define NAME_CASE(code, text)                                                                      \
    case code:                                                                                     \
        return #code;
    switch (hr) {
        WSHEAP_HRESULT_MAP(NAME_CASE)
    }
#undef NAME_CASE
    return "unknown HRESULT";
}

const char *wsheap_hresult_message(HRESULT hr)
{
#define TEXT_CASE(code, text)                                                                      \
    case code:                                                                                     \
        return text;
    switch (hr) {
        WSHEAP_HRESULT_MAP(TEXT_CASE)
    }
#undef TEXT_CASE
    return "unknown HRESULT";
}

/* --- The WS_ERROR API ------------------------------------------------------------------------- */

HRESULT WsCreateError(const WS_ERROR_PROPERTY *properties, ULONG propertyCount, WS_ERROR **error)
{
    LANGID langid = DEFAULT_LANGID;
    WS_ERROR *e;

    if (propertyCount > 0 && properties == NULL) return E_INVALIDARG;
    for (ULONG i = 0; i < propertyCount; i++) {
        const WS_ERROR_PROPERTY *prop = &properties[i];

        /* STRING_COUNT and ORIGINAL_ERROR_CODE cannot be given at creation (Windows). */
        if (prop->id != WS_ERROR_PROPERTY_LANGID || prop->value == NULL ||
            prop->valueSize != sizeof(LANGID))
            return E_INVALIDARG;
        memcpy(&langid, prop->value, sizeof langid);
        if (langid == 0) return E_INVALIDARG;
    }
    if (error == NULL) return E_INVALIDARG;
    e = wsh_os_malloc(sizeof *e);
    if (e == NULL) return E_OUTOFMEMORY;
    memset(e, 0, sizeof *e);
    e->magic = ERROR_MAGIC;
    e->langid = langid;
    *error = e;
    return S_OK;
}

HRESULT WsGetErrorProperty(WS_ERROR *error, WS_ERROR_PROPERTY_ID id, void *buffer, ULONG bufferSize)
{
    error = error_from_handle(error);
    if (error == NULL || buffer == NULL) return E_INVALIDARG;
    switch (id) {
    case WS_ERROR_PROPERTY_STRING_COUNT:
        if (bufferSize != sizeof(ULONG)) return E_INVALIDARG;
        memcpy(buffer, &error->n_strings, sizeof(ULONG));
        return S_OK;
    case WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE:
        if (bufferSize != sizeof(ULONG)) return E_INVALIDARG;
        memcpy(buffer, &error->original_error_code, sizeof(ULONG));
        return S_OK;
    case WS_ERROR_PROPERTY_LANGID:
        if (bufferSize != sizeof(LANGID)) return E_INVALIDARG;
        memcpy(buffer, &error->langid, sizeof(LANGID));
        return S_OK;
    }
    return E_INVALIDARG;
}

HRESULT WsSetErrorProperty(WS_ERROR *error, WS_ERROR_PROPERTY_ID id, const void *value,
                           ULONG valueSize)
{
    error = error_from_handle(error);
    if (error == NULL) return E_INVALIDARG;
    switch (id) {
    case WS_ERROR_PROPERTY_STRING_COUNT:
        return E_INVALIDARG; /* read-only */
    case WS_ERROR_PROPERTY_ORIGINAL_ERROR_CODE:
        if (value == NULL || valueSize != sizeof(ULONG)) return E_INVALIDARG;
        memcpy(&error->original_error_code, value, sizeof(ULONG));
        return S_OK;
    case WS_ERROR_PROPERTY_LANGID:
        return WS_E_INVALID_OPERATION; /* fixed at creation (observed Windows behaviour) */
    }
    return E_INVALIDARG;
}

HRESULT WsGetErrorString(WS_ERROR *error, ULONG index, WS_STRING *string)
{
    error = error_from_handle(error);
    if (error == NULL || string == NULL || index >= error->n_strings) return E_INVALIDARG;
    *string = error->strings[error->n_strings - 1 - index];
    return S_OK;
}

HRESULT WsAddErrorString(WS_ERROR *error, const WS_STRING *string)
{
    error = error_from_handle(error);
    if (error == NULL || string == NULL || (string->length > 0 && string->chars == NULL))
        return E_INVALIDARG;
    return append_string(error, string->chars, string->length);
}

HRESULT WsResetError(WS_ERROR *error)
{
    error = error_from_handle(error);
    if (error == NULL) return E_INVALIDARG;
    drop_strings(error);
    error->original_error_code = 0;
    return S_OK;
}

void WsFreeError(WS_ERROR *error)
{
    error = error_from_handle(error);
    if (error == NULL) return;
    drop_strings(error);
    error->magic = 0;
    wsh_os_free(error);
}
