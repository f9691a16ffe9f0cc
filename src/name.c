/* SPDX-License-Identifier: MIT */
/*
 * Heap names: setting and copying them without a data race (one process-wide lock that is only
 * ever taken last), and rendering them for a report. A name is whatever bytes the program gave
 * wsheap_set_heap_name; every report line that shows one (fault reports, statistics, the leak
 * report, wsheap_describe_address) shows wsh_name_escape's rendering, in which no byte can end
 * the line, start another "==wsheap==" line, or reach the terminal as a control sequence.
 */
#include <string.h>

#include "internal.h"
#include "mutex.h"

/* --- The name lock ---------------------------------------------------------------------------- */

/* Guards every heap's name field. Last in the lock order (mutex.h): nothing else is locked while
 * it is held, so the statistics registry or the tracked heaps' list may be held when taking it. */
static struct wsh_mutex *const name_lock = &wsh_mutexes[WSH_MUTEX_NAME];

void wsh_name_set(struct wsh_heap *heap, const char *name)
{
    size_t n = strlen(name);

    wsh_assert(n < sizeof heap->name);
    wsh_mutex_lock(name_lock);
    memcpy(heap->name, name, n + 1);
    wsh_mutex_unlock(name_lock);
}

bool wsh_name_copy(const struct wsh_heap *heap, char *dst, bool may_block)
{
    if (may_block) {
        wsh_mutex_lock(name_lock);
    } else if (!wsh_mutex_trylock(name_lock)) {
        dst[0] = '\0';
        return false;
    }
    memcpy(dst, heap->name, sizeof heap->name);
    wsh_mutex_unlock(name_lock);
    dst[WSHEAP_NAME_MAX - 1] = '\0';
    return true;
}

/* --- Escaping --------------------------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence of 2 to 4 bytes starting at s (s[0] >= 0x80), and its
 * code point in *cp; 0 when s does not start one (a stray continuation byte, an overlong form,
 * a surrogate, a code point above U+10FFFF, or a sequence cut short by the NUL). */
static size_t utf8_sequence(const unsigned char *s, uint32_t *cp)
{
    size_t n;
    uint32_t c, min;

    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2, c = s[0] & 0x1Fu, min = 0x80;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3, c = s[0] & 0x0Fu, min = 0x800;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4, c = s[0] & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* the NUL ends a cut sequence here too */
        c = c << 6 | (s[i] & 0x3Fu);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return n;
}

/* Code points shown escaped although valid: the C1 controls (U+0080..U+009F, which terminals
 * take as CSI, OSC and the like), the line and paragraph separators (U+2028, U+2029: some
 * viewers break lines there), and the bidirectional formatting controls (U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069), which reorder what a reader sees. */
static bool hidden_code_point(uint32_t c)
{
    return (c >= 0x80 && c <= 0x9F) || c == 0x200E || c == 0x200F || (c >= 0x2028 && c <= 0x202E) ||
           (c >= 0x2066 && c <= 0x2069);
}

size_t wsh_name_escape(const char *name, char *dst, size_t dst_size)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)name;
    size_t len = 0;

    if (dst_size == 0) return 0;
    while (*s != '\0') {
        char unit[16]; /* one byte or one whole sequence, as shown */
        size_t k = 0, used = 1;
        uint32_t cp;

        if (*s == '"' || *s == '\\') {
            unit[k++] = '\\';
            unit[k++] = (char)*s;
        } else if (*s >= 0x20 && *s < 0x7F) {
            unit[k++] = (char)*s;
        } else if (*s == '\n' || *s == '\t' || *s == '\r') {
            unit[k++] = '\\';
            unit[k++] = *s == '\n' ? 'n' : *s == '\t' ? 't' : 'r';
        } else if (*s >= 0x80 && (used = utf8_sequence(s, &cp)) != 0 && !hidden_code_point(cp)) {
            memcpy(unit, s, used);
            k = used;
        } else { /* other control bytes, DEL, invalid UTF-8, hidden code points: byte by byte */
            used = used == 0 ? 1 : used;
            for (size_t i = 0; i < used; i++) {
                unit[k++] = '\\';
                unit[k++] = 'x';
                unit[k++] = hex[s[i] >> 4];
                unit[k++] = hex[s[i] & 15];
            }
        }
        if (len + k >= dst_size) break; /* whole units only: never half an escape */
        memcpy(dst + len, unit, k);
        len += k;
        s += used;
    }
    dst[len] = '\0';
    return len;
}
