/* SPDX-License-Identifier: MIT */
/*
 * The one output sink for reports, statistics and address descriptions: text written to a file
 * descriptor through a small buffer, with every write bounded by a deadline (poll before each
 * write, so that a full pipe nobody reads cannot hang a dying process or its exit), or text
 * gathered into a caller's string as snprintf does. Everything but wsh_out_printf is
 * async-signal-safe: numbers are formatted here, and output goes out with write(2) only.
 */
#ifndef WSH_OUT_H
#define WSH_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

struct wsh_out {
    int fd;                  /* -1: string mode */
    bool stopped;            /* fd mode: the deadline passed or the fd failed; nothing more goes */
    long deadline;           /* fd mode: wsh_os_now_ms() after which nothing more is written */
    void (*line_hook)(void); /* called after each wsh_out_line; NULL: none (a test hook) */
    char *str;               /* string mode: the caller's buffer ... */
    size_t str_size;         /* ... and its size */
    size_t total;            /* string mode: the length the whole text needs */
    size_t len;              /* fd mode: bytes waiting in buf */
    char buf[1024];          /* at most this much per write(2): one pipe slot holds it */
};

/* Starts output to `fd` that gives up `budget_ms` from now. */
void wsh_out_start_fd(struct wsh_out *o, int fd, long budget_ms);

/* Starts output into buf[0..size), kept NUL-terminated (when size > 0) and cut as snprintf
 * cuts; wsh_out_length then tells the length the whole text needs. */
void wsh_out_start_string(struct wsh_out *o, char *buf, size_t size);

/* fd mode: gives the output `budget_ms` more from now, unless it has stopped already. */
void wsh_out_extend(struct wsh_out *o, long budget_ms);

/* Appends text. */
void wsh_out_mem(struct wsh_out *o, const char *s, size_t n);
void wsh_out_str(struct wsh_out *o, const char *s);
void wsh_out_dec(struct wsh_out *o, uint64_t v);
void wsh_out_hex(struct wsh_out *o, uint64_t v); /* 0x-prefixed */

/* Writes `v` as 0x-prefixed hexadecimal and a NUL into `buf` (WSH_HEX_MAX bytes); returns the
 * length without the NUL. Async-signal-safe. */
#define WSH_HEX_MAX 19
size_t wsh_format_hex(char *buf, uint64_t v);
void wsh_out_byte(struct wsh_out *o, uint8_t b); /* two hexadecimal digits */

/* Appends formatted text. NOT async-signal-safe (vsnprintf); at most 1023 bytes per call. */
void wsh_out_printf(struct wsh_out *o, const char *fmt, ...) WSH_PRINTF(2, 3);

/* Ends a line and writes out what is buffered (fd mode), so that output cut short still has
 * whole lines; then calls the line hook. */
void wsh_out_line(struct wsh_out *o);

/* Writes out what is buffered (fd mode). */
void wsh_out_flush(struct wsh_out *o);

/* String mode: the length the whole text needs (as snprintf returns). */
size_t wsh_out_length(const struct wsh_out *o);

#endif
