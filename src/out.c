/* SPDX-License-Identifier: MIT */
/*
 * The output sink (out.h): buffered, deadline-bounded writes to a file descriptor, or text
 * gathered into a string; the line prefix; the report's destination (WSHEAP_LOG_PATH).
 * Async-signal-safe except wsh_out_printf and wsh_out_logf.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os.h"
#include "out.h"

void wsh_out_start_fd(struct wsh_out *o, int fd, long budget_ms)
{
    o->fd = fd;
    o->stopped = false;
    o->deadline = wsh_os_now_ms() + budget_ms;
    o->line_hook = NULL;
    o->str = NULL;
    o->str_size = o->total = o->len = 0;
    o->copy = NULL;
    o->copy_size = o->copy_len = 0;
}

void wsh_out_copy_to(struct wsh_out *o, char *buf, size_t size)
{
    o->copy = buf;
    o->copy_size = size;
    o->copy_len = 0;
    if (size > 0) buf[0] = '\0';
}

void wsh_out_start_string(struct wsh_out *o, char *buf, size_t size)
{
    o->fd = -1;
    o->stopped = false;
    o->deadline = 0;
    o->line_hook = NULL;
    o->str = buf;
    o->str_size = size;
    o->total = o->len = 0;
    o->copy = NULL;
    o->copy_size = o->copy_len = 0;
    if (size > 0) buf[0] = '\0';
}

void wsh_out_extend(struct wsh_out *o, long budget_ms)
{
    if (!o->stopped) o->deadline = wsh_os_now_ms() + budget_ms;
}

/* Writes p[0..n) unless o->deadline passes first: poll(POLLOUT) before each write, so that a
 * full pipe (a blocking one: O_NONBLOCK is not ours to set on a shared file description) is
 * waited for with a timeout instead of inside write(2). A pipe whose reader is gone
 * (POLLERR) stops the output rather than raise SIGPIPE. */
static void write_all(struct wsh_out *o, const char *p, size_t n)
{
    while (n > 0 && !o->stopped) {
        struct pollfd pfd = {o->fd, POLLOUT, 0};
        long left = o->deadline - wsh_os_now_ms();
        ssize_t w;
        int r;

        if (left <= 0) break;
        r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0 || (r > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))) break;
        /* r < 0 otherwise (poll filtered by a sandbox?): write anyway, as without the bound. */
        w = write(o->fd, p, n);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (w <= 0) break;
        p += w;
        n -= (size_t)w;
    }
    if (n > 0) o->stopped = true;
}

void wsh_out_flush(struct wsh_out *o)
{
    if (o->fd < 0) return;
    write_all(o, o->buf, o->len);
    o->len = 0;
}

void wsh_out_mem(struct wsh_out *o, const char *s, size_t n)
{
    if (o->fd < 0) {
        for (size_t i = 0; i < n; i++, o->total++)
            if (o->total + 1 < o->str_size) {
                o->str[o->total] = s[i];
                o->str[o->total + 1] = '\0';
            }
        return;
    }
    for (size_t i = 0; o->copy != NULL && i < n && o->copy_len + 1 < o->copy_size; i++) {
        o->copy[o->copy_len++] = s[i];
        o->copy[o->copy_len] = '\0';
    }
    while (n > 0) {
        size_t room = sizeof o->buf - o->len, k = n < room ? n : room;

        for (size_t i = 0; i < k; i++)
            o->buf[o->len + i] = s[i];
        o->len += k;
        s += k;
        n -= k;
        if (o->len == sizeof o->buf) wsh_out_flush(o);
    }
}

void wsh_out_str(struct wsh_out *o, const char *s)
{
    size_t n = 0;

    while (s[n] != '\0')
        n++;
    wsh_out_mem(o, s, n);
}

void wsh_out_dec(struct wsh_out *o, uint64_t v)
{
    char tmp[24], buf[24];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    wsh_out_mem(o, buf, n);
}

size_t wsh_format_hex(char *buf, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0, len = 0;

    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v != 0);
    buf[len++] = '0';
    buf[len++] = 'x';
    while (n > 0)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

void wsh_out_hex(struct wsh_out *o, uint64_t v)
{
    char buf[WSH_HEX_MAX];

    wsh_out_mem(o, buf, wsh_format_hex(buf, v));
}

void wsh_out_byte(struct wsh_out *o, uint8_t b)
{
    static const char digits[] = "0123456789abcdef";
    char two[2] = {digits[b >> 4], digits[b & 15]};

    wsh_out_mem(o, two, 2);
}

void wsh_out_printf(struct wsh_out *o, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n > 0) wsh_out_mem(o, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

size_t wsh_format_prefix(char *buf)
{
    static const char head[] = "==wsheap==";
    char digits[24];
    size_t n = 0, len = 0;
    unsigned long pid = (unsigned long)getpid();

    do {
        digits[n++] = (char)('0' + pid % 10);
        pid /= 10;
    } while (pid != 0);
    for (size_t i = 0; i < sizeof head - 1; i++)
        buf[len++] = head[i];
    while (n > 0)
        buf[len++] = digits[--n];
    buf[len++] = '=';
    buf[len++] = '=';
    buf[len++] = ' ';
    buf[len] = '\0';
    return len;
}

void wsh_out_prefix(struct wsh_out *o)
{
    char buf[WSH_PREFIX_MAX];

    wsh_out_mem(o, buf, wsh_format_prefix(buf));
}

void wsh_out_logf(struct wsh_out *o, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    int n;

    wsh_out_prefix(o);
    va_start(ap, fmt);
    n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n > 0) wsh_out_mem(o, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}

/* --- The report's destination ----------------------------------------------------------------- */

#define NOTE_BUDGET_MS 1000 /* for the one stderr line about where a report went */

/* Why an open failed, in words (strerror is not async-signal-safe). */
static const char *open_error(int err)
{
    switch (err) {
    case ELOOP:
        return "it is a symbolic link";
    case EACCES:
    case EPERM:
        return "permission denied";
    case ENOENT:
        return "its directory does not exist";
    case ENOTDIR:
        return "a component of the path is not a directory";
    case EISDIR:
        return "it is a directory";
    case EROFS:
        return "read-only file system";
    case ENOSPC:
    case EDQUOT:
        return "no space left";
    case ENXIO:
        return "it is a FIFO or socket with no reader";
    case EMFILE:
    case ENFILE:
        return "no file descriptor left";
    case ENAMETOOLONG:
        return "the name is too long";
    default:
        return NULL;
    }
}

int wsh_out_open_report(const char *base, const char *what)
{
    char path[4096 + 32], prefix[WSH_PREFIX_MAX];
    size_t n = 0, pid_at;
    const char *why = NULL;
    struct stat st;
    int fd, saved_errno = errno, open_errno = 0;
    struct wsh_out o;

    if (base == NULL) return STDERR_FILENO;
    while (base[n] != '\0' && n < 4096)
        path[n] = base[n], n++;
    path[n++] = '.';
    /* The pid: the prefix's digits, between "==wsheap==" and "== ". */
    pid_at = wsh_format_prefix(prefix);
    for (size_t i = 10; i + 3 < pid_at; i++)
        path[n++] = prefix[i];
    path[n] = '\0';

    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
    if (fd < 0) {
        open_errno = errno;
        why = open_error(open_errno);
    } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        why = "it is not a regular file";
    } else if (st.st_uid != geteuid()) {
        why = "it belongs to another user";
    }
    if (why == NULL && fd >= 0) {
        wsh_out_start_fd(&o, STDERR_FILENO, NOTE_BUDGET_MS);
        wsh_out_prefix(&o);
        wsh_out_str(&o, what);
        wsh_out_str(&o, " written to ");
        wsh_out_str(&o, path);
        wsh_out_line(&o);
        errno = saved_errno;
        return fd;
    }
    if (fd >= 0) close(fd);
    wsh_out_start_fd(&o, STDERR_FILENO, NOTE_BUDGET_MS);
    wsh_out_prefix(&o);
    wsh_out_str(&o, "cannot write ");
    wsh_out_str(&o, what);
    wsh_out_str(&o, " to ");
    wsh_out_str(&o, path);
    wsh_out_str(&o, " (");
    if (why != NULL) {
        wsh_out_str(&o, why);
    } else {
        wsh_out_str(&o, "errno ");
        wsh_out_dec(&o, (uint64_t)open_errno);
    }
    wsh_out_str(&o, "): writing it here");
    wsh_out_line(&o);
    errno = saved_errno;
    return STDERR_FILENO;
}

void wsh_out_close_report(int fd)
{
    if (fd != STDERR_FILENO && fd >= 0) close(fd);
}

void wsh_out_line(struct wsh_out *o)
{
    wsh_out_mem(o, "\n", 1);
    wsh_out_flush(o);
    if (o->line_hook != NULL) o->line_hook();
}

size_t wsh_out_length(const struct wsh_out *o)
{
    return o->total;
}
