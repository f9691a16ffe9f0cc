/* SPDX-License-Identifier: MIT */
/*
 * Checks on what a child wrote: see report.h.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "report.h"

void fail_with_output_at(const char *text, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n--- output ---\n%s%s--- end ---\n", text,
            text[0] != '\0' && text[strlen(text) - 1] == '\n' ? "" : "\n");
    _fail(file, line);
}

void expect_sigsegv_at(int status, const char *text, const char *file, int line)
{
    if (status == -1 || !WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
        fail_with_output_at(text, file, line, "expected death by SIGSEGV, got status 0x%x", status);
}

void expect_text_at(const char *text, const char *needle, const char *file, int line)
{
    if (strstr(text, needle) == NULL)
        fail_with_output_at(text, file, line, "missing \"%s\"", needle);
}

void expect_in_section_at(const char *text, const char *section, const char *needle,
                          const char *file, int line)
{
    char title[256];
    const char *s, *end, *hit;

    snprintf(title, sizeof title, "==wsheap== %s", section);
    s = strstr(text, title);
    if (s == NULL) fail_with_output_at(text, file, line, "missing section \"%s\"", section);
    end = strstr(s + 1, "==wsheap== ");
    hit = strstr(s, needle);
    if (hit == NULL || (end != NULL && hit > end))
        fail_with_output_at(text, file, line, "\"%s\" not in section \"%s\"", needle, section);
}

const char *line_with(const char *text, const char *needle, char *line, size_t line_size)
{
    const char *hit = strstr(text, needle), *start, *end;
    size_t n;

    if (hit == NULL || line_size == 0) return NULL;
    start = hit;
    while (start > text && start[-1] != '\n')
        start--;
    end = strchr(hit, '\n');
    if (end == NULL) end = hit + strlen(hit);
    n = (size_t)(end - start);
    if (n >= line_size) n = line_size - 1;
    memcpy(line, start, n);
    line[n] = '\0';
    return line;
}
