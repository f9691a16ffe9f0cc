/* SPDX-License-Identifier: MIT */
/*
 * Suppressions (suppress.h): the rules of WSHEAP_SUPPRESSIONS, parsed once into static storage,
 * and the glob matcher the report writer calls in a signal handler.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suppress.h"

#define RULES_MAX   256
#define PATTERN_MAX 256
#define KIND_MAX    32
#define FILE_MAX    ((size_t)1 << 20) /* a suppression file larger than this is cut */

struct rule {
    char kind[KIND_MAX];
    char pattern[PATTERN_MAX];
    unsigned line;
};

static struct rule rules[RULES_MAX];
static size_t n_rules; /* written before the first guarded heap exists; read by handlers */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* The kinds a rule may name: the fault kinds of reports, every fault kind, and leaks. */
static const char *const kinds[] = {"heap-buffer-overflow",
                                    "heap-buffer-underflow",
                                    "use-after-reset",
                                    "use-after-free-heap",
                                    "corrupted-slack",
                                    "corrupted-redzone",
                                    "wild-access",
                                    "concurrent-use",
                                    "*",
                                    "leak"};

/* --- Matching --------------------------------------------------------------------------------- */

/* Matches the bracket expression at *pp ("[...]" or "[!...]") against c; advances *pp past it.
 * An unterminated bracket matches a literal '['. */
static bool match_bracket(const char **pp, char c)
{
    const char *p = *pp + 1;
    bool negate = false, found = false;

    if (*p == '!' || *p == '^') {
        negate = true;
        p++;
    }
    for (bool first = true; *p != '\0' && (first || *p != ']'); first = false, p++) {
        if (p[1] == '-' && p[2] != ']' && p[2] != '\0') {
            if ((unsigned char)c >= (unsigned char)p[0] && (unsigned char)c <= (unsigned char)p[2])
                found = true;
            p += 2;
        } else if (*p == c) {
            found = true;
        }
    }
    if (*p != ']') { /* no closing bracket: a literal '[' */
        *pp = *pp + 1;
        return c == '[';
    }
    *pp = p + 1;
    return found != negate;
}

/* Iterative glob with one backtrack point per '*' (the last one seen), as fnmatch matches
 * without flags: '*' and '?' match any character, '/' included. */
bool wsh_glob_match(const char *pattern, const char *name)
{
    const char *p = pattern, *n = name, *star_p = NULL, *star_n = NULL;

    while (*n != '\0') {
        if (*p == '*') {
            star_p = ++p;
            star_n = n;
            continue;
        }
        if (*p == '?') {
            p++;
            n++;
            continue;
        }
        if (*p == '[') {
            const char *q = p;

            if (match_bracket(&q, *n)) {
                p = q;
                n++;
                continue;
            }
        } else if (*p == '\\' && p[1] != '\0' && p[1] == *n) {
            p += 2;
            n++;
            continue;
        } else if (*p != '\0' && *p == *n) {
            p++;
            n++;
            continue;
        }
        if (star_p == NULL) return false;
        p = star_p;
        n = ++star_n;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool wsh_suppress_active(void)
{
    return n_rules > 0;
}

unsigned wsh_suppress_match(const char *kind, const char *name)
{
    bool is_leak = strcmp(kind, "leak") == 0;

    for (size_t i = 0; i < n_rules; i++) {
        const struct rule *r = &rules[i];

        if (strcmp(r->kind, kind) != 0 && (is_leak || strcmp(r->kind, "*") != 0)) continue;
        if (wsh_glob_match(r->pattern, name)) return r->line;
    }
    return 0;
}

/* --- Parsing ---------------------------------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static void warn_line(wsh_warn_fn *warn, const char *file, unsigned line, const char *why,
                      const char *text, size_t len)
{
    char message[512];

    snprintf(message, sizeof message, "WSHEAP_SUPPRESSIONS=%.200s line %u: %s (\"%.*s\"); ignored",
             file, line, why, (int)(len < 100 ? len : 100), text);
    warn(message);
}

/* Parses one line [s, s + len) (no newline). */
static void parse_line(const char *s, size_t len, unsigned line, const char *file,
                       wsh_warn_fn *warn)
{
    const char *colon;
    size_t kind_len, pattern_len;
    bool known = false;
    struct rule *r;

    while (len > 0 && is_space(*s))
        s++, len--;
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len == 0 || s[0] == '#') return;
    colon = memchr(s, ':', len);
    if (colon == NULL) {
        warn_line(warn, file, line, "not KIND:PATTERN", s, len);
        return;
    }
    kind_len = (size_t)(colon - s);
    while (kind_len > 0 && is_space(s[kind_len - 1]))
        kind_len--;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && !known; i++)
        known = strlen(kinds[i]) == kind_len && strncmp(kinds[i], s, kind_len) == 0;
    if (!known) {
        warn_line(warn, file, line, "unknown kind", s, len);
        return;
    }
    colon++;
    pattern_len = len - (size_t)(colon - s);
    while (pattern_len > 0 && is_space(*colon))
        colon++, pattern_len--;
    if (pattern_len == 0) {
        warn_line(warn, file, line, "empty pattern", s, len);
        return;
    }
    if (pattern_len >= PATTERN_MAX) {
        warn_line(warn, file, line, "pattern longer than 255 bytes", s, len);
        return;
    }
    if (n_rules == RULES_MAX) {
        warn_line(warn, file, line, "more than 256 rules", s, len);
        return;
    }
    r = &rules[n_rules++];
    memcpy(r->kind, s, kind_len);
    r->kind[kind_len] = '\0';
    memcpy(r->pattern, colon, pattern_len);
    r->pattern[pattern_len] = '\0';
    r->line = line;
}

size_t wsh_suppress_parse(const char *text, const char *file, wsh_warn_fn *warn)
{
    unsigned line = 1;

    n_rules = 0;
    while (*text != '\0') {
        const char *end = strchr(text, '\n');
        size_t len = end != NULL ? (size_t)(end - text) : strlen(text);

        parse_line(text, len, line++, file, warn);
        if (end == NULL) break;
        text = end + 1;
    }
    return n_rules;
}

static void load(void)
{
    const char *path = wsh_options()->suppressions;
    char message[512], *text;
    size_t n;
    FILE *f;

    if (path == NULL) return;
    f = fopen(path, "re");
    if (f == NULL) {
        snprintf(message, sizeof message,
                 "WSHEAP_SUPPRESSIONS=%.400s cannot be read; no errors are "
                 "suppressed",
                 path);
        wsh_warn(message);
        return;
    }
    text = malloc(FILE_MAX + 1);
    if (text != NULL) {
        n = fread(text, 1, FILE_MAX, f);
        text[n] = '\0';
        wsh_suppress_parse(text, path, wsh_warn);
        free(text);
    }
    fclose(f);
}

void wsh_suppress_load(void)
{
    pthread_once(&load_once, load);
}
