/* SPDX-License-Identifier: MIT */
/*
 * The one output sink for reports, statistics and address descriptions: text written to a file
 * descriptor through a small buffer, with every write bounded by a deadline (poll before each
 * write, so that a full pipe nobody reads cannot hang a dying process or its exit), or text
 * gathered into a caller's string as snprintf does; the "==wsheap==<pid>== " prefix that starts
 * every line wsheap writes; and where a report goes (stderr, or WSHEAP_LOG_PATH's file).
 * Everything but wsh_out_printf and wsh_out_logf is async-signal-safe: numbers are formatted
 * here, and output goes out with write(2) only.
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
    char *copy;              /* fd mode: a copy of everything written also goes here (NULL: no) */
    size_t copy_size;        /* ... cut at copy_size - 1 bytes, kept NUL-terminated ... */
    size_t copy_len;         /* ... and this long */
    size_t len;              /* fd mode: bytes waiting in buf */
    char buf[1024];          /* at most this much per write(2): one pipe slot holds it */
};

/* Starts output to `fd` that gives up `budget_ms` from now. */
void wsh_out_start_fd(struct wsh_out *o, int fd, long budget_ms);

/* Starts output into buf[0..size), kept NUL-terminated (when size > 0) and cut as snprintf
 * cuts; wsh_out_length then tells the length the whole text needs. */
void wsh_out_start_string(struct wsh_out *o, char *buf, size_t size);

/* fd mode: also copies everything written from now on into buf[0..size), kept NUL-terminated
 * and cut at size - 1 bytes (a crash reporter's copy of a report). */
void wsh_out_copy_to(struct wsh_out *o, char *buf, size_t size);

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

/* The prefix of every line wsheap writes, "==wsheap==<pid>== " (ASan's "==<pid>==" with the
 * tool's name), is built here and nowhere else. wsh_format_prefix writes it and a NUL into buf
 * (WSH_PREFIX_MAX bytes) and returns its length; the pid is read at each call (getpid), so a
 * forked child's lines carry its own. wsh_out_prefix appends it. Both async-signal-safe.
 * wsh_out_logf appends the prefix, then formatted text (NOT async-signal-safe). */
#define WSH_PREFIX_MAX 40
size_t wsh_format_prefix(char *buf);
void wsh_out_prefix(struct wsh_out *o);
void wsh_out_logf(struct wsh_out *o, const char *fmt, ...) WSH_PRINTF(2, 3);

/*
 * Where a report goes. With `base` NULL (no WSHEAP_LOG_PATH) wsh_out_open_report returns 2,
 * stderr. Otherwise it opens "<base>.<pid>" (pid read now: each process of a forking program
 * writes its own file) with O_WRONLY|O_CREAT|O_APPEND|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK, mode
 * 0600 (O_NONBLOCK: opening a FIFO planted there must not wait for a reader; it has no effect
 * on the regular file that is accepted), and keeps it only when it is a regular file owned by
 * the effective user; it then writes one line to stderr saying where `what` (e.g. "the
 * heap-buffer-overflow report") went, and returns the descriptor. When the file cannot be
 * opened or is refused, it writes one line to stderr saying why and returns 2. The stderr line
 * is bounded in time like every write of the sink. Async-signal-safe (open, fstat, write).
 * wsh_out_close_report closes what wsh_out_open_report opened (nothing for 2).
 */
int wsh_out_open_report(const char *base, const char *what);
void wsh_out_close_report(int fd);

/* Ends a line and writes out what is buffered (fd mode), so that output cut short still has
 * whole lines; then calls the line hook. */
void wsh_out_line(struct wsh_out *o);

/* Writes out what is buffered (fd mode). */
void wsh_out_flush(struct wsh_out *o);

/* String mode: the length the whole text needs (as snprintf returns). */
size_t wsh_out_length(const struct wsh_out *o);

#endif
