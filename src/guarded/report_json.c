/* SPDX-License-Identifier: MIT */
/*
 * The JSON form of a fault report (WSHEAP_REPORT_FORMAT=json, and the crash reporter's copy):
 * one object on one line, schema "wsheap-report/1", documented in docs/reports.md. Written
 * through the output sink with no allocation, so that it is async-signal-safe like the text
 * form. Addresses are strings ("0x..."): a JSON number is a double to most parsers, which
 * cannot hold every 64-bit address.
 */
#define _GNU_SOURCE
#include <time.h>
#include <unistd.h>

#include "../out.h"
#include "../sample.h"
#include "report.h"

#define SCHEMA "wsheap-report/1"

/* --- Strings ---------------------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at s (1..4), or 0 when there is none there
 * (an invalid, overlong, surrogate or truncated sequence). */
static size_t utf8_sequence(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0; /* no overlong forms */
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

void wsh_json_string(struct wsh_out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;

    wsh_out_str(o, "\"");
    while (*p != '\0') {
        size_t n = utf8_sequence(p);

        if (n == 0) {
            wsh_out_str(o, "\\ufffd"); /* not UTF-8: the replacement character */
            p++;
        } else if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};

            wsh_out_mem(o, esc, 2);
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};

            wsh_out_mem(o, esc, 6);
            p++;
        } else {
            wsh_out_mem(o, (const char *)p, n);
            p += n;
        }
    }
    wsh_out_str(o, "\"");
}

/* --- Pieces ----------------------------------------------------------------------------------- */

static void key(struct wsh_out *o, bool *first, const char *name)
{
    if (!*first) wsh_out_str(o, ",");
    *first = false;
    wsh_out_str(o, "\"");
    wsh_out_str(o, name);
    wsh_out_str(o, "\":");
}

static void hex_string(struct wsh_out *o, uint64_t v)
{
    wsh_out_str(o, "\"");
    wsh_out_hex(o, v);
    wsh_out_str(o, "\"");
}

static void signed_dec(struct wsh_out *o, int64_t v)
{
    if (v < 0) {
        wsh_out_str(o, "-");
        wsh_out_dec(o, (uint64_t)0 - (uint64_t)v);
    } else {
        wsh_out_dec(o, (uint64_t)v);
    }
}

/* `sep`, then `v` (0..99) as two digits. */
static void out_two(struct wsh_out *o, char sep, int64_t v)
{
    char three[3] = {sep, (char)('0' + v / 10), (char)('0' + v % 10)};

    wsh_out_mem(o, three, 3);
}

/* The time as RFC 3339 UTC ("2026-12-02T01:44:55.123Z"), from the civil date of the days since
 * the epoch (gmtime_r is not async-signal-safe; the date algorithm is the proleptic Gregorian
 * calendar's, by 400-year eras counted from 0000-03-01). */
static void out_time(struct wsh_out *o)
{
    struct timespec ts;
    int64_t secs, days, rem, era, doe, yoe, y, doy, mp, d, m;
    long ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    secs = (int64_t)ts.tv_sec;
    days = secs / 86400;
    rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    days += 719468; /* days from 0000-03-01 to 1970-01-01 */
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    ms = ts.tv_nsec / 1000000;

    wsh_out_str(o, "\"");
    wsh_out_dec(o, (uint64_t)y);
    out_two(o, '-', m);
    out_two(o, '-', d);
    out_two(o, 'T', rem / 3600);
    out_two(o, ':', rem / 60 % 60);
    out_two(o, ':', rem % 60);
    out_two(o, '.', ms / 10); /* milliseconds: two digits, then the third */
    wsh_out_dec(o, (uint64_t)(ms % 10));
    wsh_out_str(o, "Z\"");
}

const char *wsh_section_role_name(const struct wsh_report_section *sec, const struct wsh_fault *f)
{
    switch (sec->role) {
    case WSH_SECTION_ACCESS:
        return "access";
    case WSH_SECTION_FOUND:
        /* The call that found a corruption releases the block, as the release stacks do. */
        if (f->kind == WSH_FAULT_CONCURRENT_USE) return "access";
        return f->found_by != NULL && f->found_by[0] == 'W' && f->found_by[2] == 'F' ? "free"
                                                                                     : "reset";
    case WSH_SECTION_ALLOC:
        return "allocation";
    case WSH_SECTION_RELEASE:
        return f->kind == WSH_FAULT_USE_AFTER_RESET ? "reset" : "free";
    case WSH_SECTION_FREED:
        return "free";
    case WSH_SECTION_CREATE:
        return "create";
    }
    return "unknown";
}

/* "file:line" split at its last colon: the file, and the line when all digits follow. */
static void out_location(struct wsh_out *o, bool *first, const char *loc)
{
    size_t n = 0, colon = 0;
    bool digits;
    uint64_t line = 0;

    while (loc[n] != '\0') {
        if (loc[n] == ':') colon = n;
        n++;
    }
    digits = colon > 0 && colon + 1 < n;
    for (size_t i = colon + 1; digits && i < n; i++) {
        if (loc[i] < '0' || loc[i] > '9')
            digits = false;
        else
            line = line * 10 + (uint64_t)(loc[i] - '0');
    }
    key(o, first, "file");
    if (!digits) {
        wsh_json_string(o, loc);
        key(o, first, "line");
        wsh_out_str(o, "null");
        return;
    }
    {
        /* The file part, escaped like any string: copy it out up to the colon. */
        char file[WSH_SYM_PATH_MAX];
        size_t k = colon < sizeof file - 1 ? colon : sizeof file - 1;

        for (size_t i = 0; i < k; i++)
            file[i] = loc[i];
        file[k] = '\0';
        wsh_json_string(o, file);
    }
    key(o, first, "line");
    wsh_out_dec(o, line);
}

/* One frame object per function name (inlined functions share their frame's pc). */
static void out_frames(struct wsh_out *o, const struct wsh_report *r,
                       const struct wsh_report_section *sec)
{
    const struct wsh_symbolizer *z = r->sym;
    bool first_frame = true;

    wsh_out_str(o, "[");
    for (size_t i = sec->first; i < sec->first + sec->n; i++) {
        const struct wsh_sym_frame *fr = &z->frames[i];
        uint32_t k = 0;

        do {
            const struct wsh_sym_name *name =
                fr->n_names > 0 ? &z->names[fr->first_name + k] : NULL;
            bool first = true;

            if (!first_frame) wsh_out_str(o, ",");
            first_frame = false;
            wsh_out_str(o, "{");
            key(o, &first, "pc");
            hex_string(o, fr->pc);
            key(o, &first, "module");
            if (fr->module >= 0)
                wsh_json_string(o, z->modules[fr->module].path);
            else
                wsh_out_str(o, "null");
            key(o, &first, "offset");
            if (fr->module >= 0)
                hex_string(o, fr->pc - z->modules[fr->module].base);
            else
                wsh_out_str(o, "null");
            key(o, &first, "function");
            if (name != NULL && name->func != UINT32_MAX)
                wsh_json_string(o, z->pool + name->func);
            else
                wsh_out_str(o, "null");
            if (name != NULL && name->loc != UINT32_MAX) {
                out_location(o, &first, z->pool + name->loc);
            } else {
                key(o, &first, "file");
                wsh_out_str(o, "null");
                key(o, &first, "line");
                wsh_out_str(o, "null");
            }
            key(o, &first, "inlined");
            wsh_out_str(o, k + 1 < fr->n_names ? "true" : "false");
            wsh_out_str(o, "}");
        } while (++k < fr->n_names);
    }
    wsh_out_str(o, "]");
}

/* --- The object ------------------------------------------------------------------------------- */

void wsh_report_json(struct wsh_out *o, const struct wsh_report *r)
{
    const struct wsh_fault *f = r->f;
    bool first = true, inner, sampled;
    struct wsh_sample_info info;

    wsh_out_str(o, "{");
    key(o, &first, "schema");
    wsh_out_str(o, "\"" SCHEMA "\"");
    key(o, &first, "kind");
    wsh_json_string(o, wsh_fault_kind_name(f->kind));
    key(o, &first, "pid");
    wsh_out_dec(o, (uint64_t)getpid());
    key(o, &first, "time");
    out_time(o);
    key(o, &first, "dedup");
    {
        char hex[WSH_HEX_MAX];

        wsh_format_hex(hex, r->dedup);
        wsh_out_str(o, "\"");
        wsh_out_str(o, hex + 2);
        wsh_out_str(o, "\"");
    }

    key(o, &first, "access");
    inner = true;
    wsh_out_str(o, "{");
    key(o, &inner, "type");
    wsh_out_str(o, f->access == 2 ? "\"WRITE\"" : f->access == 1 ? "\"READ\"" : "null");
    key(o, &inner, "address");
    hex_string(o, f->addr);
    key(o, &inner, "thread");
    if (r->n_sections > 0 &&
        (r->sections[0].role == WSH_SECTION_ACCESS || r->sections[0].role == WSH_SECTION_FOUND))
        wsh_out_dec(o, (uint64_t)(uint32_t)r->sections[0].tid);
    else
        wsh_out_str(o, "null");
    key(o, &inner, "found_by");
    if (f->found_by != NULL)
        wsh_json_string(o, f->found_by);
    else
        wsh_out_str(o, "null");
    wsh_out_str(o, "}");

    key(o, &first, "block");
    if (f->has_block) {
        inner = true;
        wsh_out_str(o, "{");
        key(o, &inner, "address");
        hex_string(o, f->block.user);
        key(o, &inner, "size");
        wsh_out_dec(o, f->block.size);
        key(o, &inner, "offset");
        signed_dec(o, (int64_t)(f->addr - f->block.user));
        key(o, &inner, "ordinal");
        wsh_out_dec(o, f->block.ordinal);
        key(o, &inner, "redzone_only");
        wsh_out_str(o, f->redzone ? "true" : "false");
        if (f->kind == WSH_FAULT_CORRUPTED_SLACK || f->kind == WSH_FAULT_CORRUPTED_REDZONE) {
            key(o, &inner, "corrupted_bytes");
            wsh_out_dec(o, f->n_bad);
            key(o, &inner, "corrupted_blocks");
            wsh_out_dec(o, f->n_corrupted > 0 ? f->n_corrupted : 1);
        }
        wsh_out_str(o, "}");
    } else {
        wsh_out_str(o, "null");
    }

    key(o, &first, "heap");
    inner = true;
    sampled = wsh_sample_lookup(f->heap, &info); /* an arena heap's sampled block */
    wsh_out_str(o, "{");
    key(o, &inner, "handle");
    hex_string(o, sampled ? info.heap : f->heap);
    key(o, &inner, "name");
    if (f->heap_name[0] != '\0')
        wsh_json_string(o, f->heap_name);
    else
        wsh_out_str(o, "null");
    key(o, &inner, "backend");
    wsh_out_str(o, sampled ? "\"arena\"" : "\"guarded\"");
    key(o, &inner, "sampled");
    wsh_out_str(o, sampled ? "true" : "false");
    if (sampled) {
        key(o, &inner, "sample_bytes");
        wsh_out_dec(o, info.mean);
        key(o, &inner, "sample_rounds");
        wsh_out_dec(o, info.rounds);
    }
    wsh_out_str(o, "}");

    key(o, &first, "stacks");
    wsh_out_str(o, "[");
    for (size_t i = 0; i < r->n_sections; i++) {
        const struct wsh_report_section *sec = &r->sections[i];

        inner = true;
        if (i > 0) wsh_out_str(o, ",");
        wsh_out_str(o, "{");
        key(o, &inner, "role");
        wsh_json_string(o, wsh_section_role_name(sec, f));
        key(o, &inner, "thread");
        wsh_out_dec(o, (uint64_t)(uint32_t)sec->tid);
        key(o, &inner, "frames");
        out_frames(o, r, sec);
        wsh_out_str(o, "}");
    }
    wsh_out_str(o, "]");
    key(o, &first, "symbolized");
    wsh_out_str(o, r->symbolized ? "true" : "false");
    wsh_out_str(o, "}");
    wsh_out_line(o);
}
