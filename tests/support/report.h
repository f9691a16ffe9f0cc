/* SPDX-License-Identifier: MIT */
/*
 * Checks on what a child wrote (see death.h): its wait status, a line, a section of a wsheap
 * report. A failure prints the message and then the whole text to stderr, since cmocka cuts its
 * own messages at 1,024 bytes, and fails the current test at the caller's file and line.
 */
#ifndef WSH_TEST_REPORT_H
#define WSH_TEST_REPORT_H

#include <stddef.h>

/* Fails the current test with a printf-style message followed by `text`. */
#define fail_with_output(text, ...) fail_with_output_at((text), __FILE__, __LINE__, __VA_ARGS__)
void fail_with_output_at(const char *text, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fails unless `status` (from run_in_child or run_program) is a death by SIGSEGV. */
#define expect_sigsegv(status, text) expect_sigsegv_at((status), (text), __FILE__, __LINE__)
void expect_sigsegv_at(int status, const char *text, const char *file, int line);

/* Fails unless `text` contains `needle`. */
#define expect_text(text, needle) expect_text_at((text), (needle), __FILE__, __LINE__)
void expect_text_at(const char *text, const char *needle, const char *file, int line);

/* Fails unless `needle` appears in the report section of `text` whose title line contains
 * "==wsheap== <section>": after the title, before the next "==wsheap== " line. */
#define expect_in_section(text, section, needle)                                                   \
    expect_in_section_at((text), (section), (needle), __FILE__, __LINE__)
void expect_in_section_at(const char *text, const char *section, const char *needle,
                          const char *file, int line);

/* The line of `text` that contains `needle`, copied into line (cut at line_size - 1); NULL
 * when no line contains it. */
const char *line_with(const char *text, const char *needle, char *line, size_t line_size);

#endif
