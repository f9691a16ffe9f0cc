/* SPDX-License-Identifier: MIT */
/*
 * The fault report: an async-signal-safe writer that turns a struct wsh_fault into text on
 * stderr. It formats numbers itself, writes with write(2), keeps its buffers in static storage
 * (one report per process, guarded by report_state), reads module bases from /proc/self/maps
 * with open/read, and symbolizes by running addr2line in a child made with _Fork + execve.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../os.h"
#include "guarded.h"

#define PREFIX "==wsheap== "

/* --- Numbers ---------------------------------------------------------------------------------- */

size_t wsh_format_dec(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

size_t wsh_format_hex(char *buf, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[24];
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

static size_t str_len(const char *s)
{
    size_t n = 0;

    while (s[n] != '\0')
        n++;
    return n;
}

static bool str_eq(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
    size_t i = 0;

    for (; prefix[i] != '\0'; i++)
        if (i >= n || s[i] != prefix[i]) return false;
    return true;
}

/* --- Output ----------------------------------------------------------------------------------- */

struct out {
    int fd;
    size_t len;
    char buf[1024];
};

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

static void out_flush(struct out *o)
{
    write_all(o->fd, o->buf, o->len);
    o->len = 0;
}

static void out_mem(struct out *o, const char *s, size_t n)
{
    while (n > 0) {
        size_t room = sizeof o->buf - o->len, k = n < room ? n : room;

        for (size_t i = 0; i < k; i++)
            o->buf[o->len + i] = s[i];
        o->len += k;
        s += k;
        n -= k;
        if (o->len == sizeof o->buf) out_flush(o);
    }
}

static void out_str(struct out *o, const char *s)
{
    out_mem(o, s, str_len(s));
}

static void out_dec(struct out *o, uint64_t v)
{
    char buf[24];

    out_mem(o, buf, wsh_format_dec(buf, v));
}

static void out_hex(struct out *o, uint64_t v)
{
    char buf[24];

    out_mem(o, buf, wsh_format_hex(buf, v));
}

static void out_byte(struct out *o, uint8_t b)
{
    static const char digits[] = "0123456789abcdef";
    char two[2] = {digits[b >> 4], digits[b & 15]};

    out_mem(o, two, 2);
}

/* Ends a line and writes it out, so that a report cut short still has whole lines. */
static void out_line(struct out *o)
{
    out_mem(o, "\n", 1);
    out_flush(o);
}

/* --- Safe reads ------------------------------------------------------------------------------- */

/* Fallback for process_vm_readv (filtered by some sandboxes): the kernel reads `src` for a
 * pipe write and answers EFAULT instead of faulting. */
static bool read_through_pipe(void *dst, const void *src, size_t n)
{
    int fds[2];
    bool ok = false;

    if (n > 4096 || pipe2(fds, O_CLOEXEC) != 0) return false;
    if (write(fds[1], src, n) == (ssize_t)n && read(fds[0], dst, n) == (ssize_t)n) ok = true;
    close(fds[0]);
    close(fds[1]);
    return ok;
}

bool wsh_safe_read(void *dst, const void *src, size_t n)
{
    struct iovec local = {dst, n}, remote = {(void *)src, n};
    ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    bool ok = got == (ssize_t)n;

    if (got < 0 && (errno == ENOSYS || errno == EPERM)) ok = read_through_pipe(dst, src, n);
    if (!ok)
        for (size_t i = 0; i < n; i++)
            ((char *)dst)[i] = 0;
    return ok;
}

/* --- Stacks, modules, symbols ----------------------------------------------------------------- */

#define MAX_FRAMES           (4 * WSH_STACK_MAX)
#define MAX_MODULES          32
#define PATH_KEPT            512
#define MAX_SYMS             1024
#define ACCESS_FRAMES        32
#define SYMBOLIZE_TIMEOUT_MS 5000

struct frame {
    uintptr_t pc;     /* as captured */
    uintptr_t lookup; /* pc - 1 for return addresses: the call instruction */
    int module;       /* index in modules[], or -1 */
    uint32_t first_sym;
    uint32_t n_syms;
};

struct module {
    uintptr_t base;
    bool absolute; /* ET_EXEC: addr2line wants the address, not the offset */
    char path[PATH_KEPT];
};

struct sym {
    uint32_t func; /* offsets into pool */
    uint32_t loc;
};

/* The report's working storage: static, because the signal stack is small and only one report
 * is ever written (report_state). */
static struct frame frames[MAX_FRAMES];
static size_t n_frames;
static struct module modules[MAX_MODULES];
static size_t n_modules;
static struct sym syms[MAX_SYMS];
static size_t n_syms;
static char pool[1 << 16];
static size_t pool_used;
static char child_output[1 << 16];
static char maps_buf[8192];
static char zero_path[PATH_KEPT];

/* Adds frames; returns the index of the first. */
static size_t add_frames(const uintptr_t *pcs, size_t n, bool first_is_exact)
{
    size_t first = n_frames;

    for (size_t i = 0; i < n && n_frames < MAX_FRAMES; i++) {
        struct frame *f = &frames[n_frames++];

        f->pc = pcs[i];
        f->lookup = (i == 0 && first_is_exact) || pcs[i] == 0 ? pcs[i] : pcs[i] - 1;
        f->module = -1;
        f->first_sym = 0;
        f->n_syms = 0;
    }
    return first;
}

static uintptr_t parse_hex(const char **p, const char *end)
{
    uintptr_t v = 0;

    for (; *p < end; (*p)++) {
        char c = **p;

        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            break;
    }
    return v;
}

static void copy_path(char *dst, const char *src, size_t n)
{
    if (n >= PATH_KEPT) n = PATH_KEPT - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
    dst[n] = '\0';
}

static int module_for(const char *path, uintptr_t base)
{
    Elf64_Ehdr eh;

    for (size_t i = 0; i < n_modules; i++)
        if (str_eq(modules[i].path, path)) return (int)i;
    if (n_modules == MAX_MODULES) return -1;
    copy_path(modules[n_modules].path, path, str_len(path));
    modules[n_modules].base = base;
    modules[n_modules].absolute =
        wsh_safe_read(&eh, (const void *)base, sizeof eh) && eh.e_type == ET_EXEC;
    return (int)n_modules++;
}

/* The start and path of the last mapping at file offset 0 seen: a module's base. */
static uintptr_t zero_start;

/* Moves *p past the spaces at *p. */
static void skip_spaces(const char **p, const char *end)
{
    while (*p < end && **p == ' ')
        (*p)++;
}

/* Moves *p past the spaces at *p and the field that follows them. */
static void skip_field(const char **p, const char *end)
{
    skip_spaces(p, end);
    while (*p < end && **p != ' ')
        (*p)++;
}

/* One line of /proc/self/maps: "start-end perms offset dev inode   path". */
static void maps_line(const char *line, size_t len)
{
    const char *p = line, *end = line + len;
    uintptr_t start, stop, offset;
    char path[PATH_KEPT];

    start = parse_hex(&p, end);
    if (p >= end || *p != '-') return;
    p++;
    stop = parse_hex(&p, end);
    skip_field(&p, end); /* perms */
    skip_spaces(&p, end);
    offset = parse_hex(&p, end);
    skip_field(&p, end); /* dev */
    skip_field(&p, end); /* inode */
    skip_spaces(&p, end);
    copy_path(path, p, (size_t)(end - p));
    if (path[0] != '/')
        return; /* anonymous memory, [vdso], [stack]...: no file to symbolize with */
    if (offset == 0) {
        zero_start = start;
        copy_path(zero_path, path, str_len(path));
    }
    for (size_t i = 0; i < n_frames; i++) {
        struct frame *f = &frames[i];

        if (f->module != -1 || f->lookup < start || f->lookup >= stop) continue;
        f->module = module_for(path, str_eq(zero_path, path) ? zero_start : start - offset);
    }
}

/* Reads /proc/self/maps and sets frames[i].module for every frame inside a file mapping. */
static void resolve_modules(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    size_t used = 0;

    zero_path[0] = '\0';
    zero_start = 0;
    if (fd < 0) return;
    for (;;) {
        ssize_t got = read(fd, maps_buf + used, sizeof maps_buf - used);
        size_t start = 0;

        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        used += (size_t)got;
        for (size_t i = 0; i < used; i++) {
            if (maps_buf[i] == '\n') {
                maps_line(maps_buf + start, i - start);
                start = i + 1;
            }
        }
        if (start == 0 && used == sizeof maps_buf) {
            used = 0; /* an absurdly long line: drop it */
            continue;
        }
        used -= start;
        for (size_t i = 0; i < used; i++)
            maps_buf[i] = maps_buf[start + i];
    }
    close(fd);
}

/* --- Symbolization: addr2line in a child ------------------------------------------------------ */

static uint32_t pool_add(const char *s, size_t n)
{
    uint32_t at = (uint32_t)pool_used;

    if (pool_used + n + 1 > sizeof pool) return UINT32_MAX;
    for (size_t i = 0; i < n; i++)
        pool[pool_used + i] = s[i];
    pool[pool_used + n] = '\0';
    pool_used += n + 1;
    return at;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs argv[0] (or /bin/<name> when that fails) with stdout into child_output; returns the
 * bytes read. */
static size_t run_child(char *const argv[])
{
    static char *const envp[] = {NULL};
    int fds[2];
    size_t got = 0;
    long deadline;
    pid_t pid;
    int status;

    if (pipe2(fds, O_CLOEXEC) != 0) return 0;
    pid = _Fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        dup2(fds[1], 1);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 2);
        }
        execve(argv[0], argv, envp);
        execve("/bin/addr2line", argv, envp);
        _exit(127);
    }
    close(fds[1]);
    deadline = now_ms() + SYMBOLIZE_TIMEOUT_MS;
    for (;;) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        long left = deadline - now_ms();
        ssize_t r;

        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        r = read(fds[0], child_output + got, sizeof child_output - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == sizeof child_output - 1) break;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    child_output[got] = '\0';
    return got;
}

static bool unknown_func(const char *s, size_t n)
{
    return n == 2 && s[0] == '?' && s[1] == '?';
}

static bool unknown_loc(const char *s, size_t n)
{
    return starts_with(s, n, "??:");
}

/* Symbolizes the frames of module `m` with one addr2line run. */
static void symbolize_module(int m)
{
    static char addr_text[MAX_FRAMES][24];
    static char *argv[MAX_FRAMES + 10];
    static size_t which[MAX_FRAMES];
    size_t n = 0, argc = 0, got, group = 0, line_start = 0;
    bool have_group = false, want_func = true;
    uint32_t func = 0;

    for (size_t i = 0; i < n_frames; i++) {
        const struct frame *f = &frames[i];

        if (f->module != m) continue;
        wsh_format_hex(addr_text[n], modules[m].absolute ? f->lookup : f->lookup - modules[m].base);
        which[n++] = i;
    }
    if (n == 0) return;
    argv[argc++] = "/usr/bin/addr2line";
    argv[argc++] = "-a";
    argv[argc++] = "-f";
    argv[argc++] = "-C";
    argv[argc++] = "-i";
    argv[argc++] = "-e";
    argv[argc++] = modules[m].path;
    for (size_t i = 0; i < n; i++)
        argv[argc++] = addr_text[i];
    argv[argc] = NULL;
    got = run_child(argv);

    /* Output: per address, "0x<address>" then pairs of lines "function" / "file:line", more
     * than one pair when the address is inside inlined code (innermost first). */
    for (size_t i = 0; i <= got; i++) {
        const char *s = child_output + line_start;
        size_t len;

        if (i < got && child_output[i] != '\n') continue;
        len = i - line_start;
        line_start = i + 1;
        if (len == 0 && i == got) break;
        if (want_func && starts_with(s, len, "0x")) {
            group = have_group ? group + 1 : 0;
            have_group = true;
            continue;
        }
        if (!have_group || group >= n) break;
        if (want_func) {
            func = unknown_func(s, len) ? UINT32_MAX : pool_add(s, len);
            want_func = false;
            continue;
        }
        want_func = true;
        {
            struct frame *f = &frames[which[group]];
            size_t cut = len;
            uint32_t loc;

            /* "file:line (discriminator N)": the discriminator helps nobody reading a report. */
            for (size_t k = 0; k + 15 < len; k++)
                if (starts_with(s + k, len - k, " (discriminator")) {
                    cut = k;
                    break;
                }
            loc = unknown_loc(s, cut) ? UINT32_MAX : pool_add(s, cut);
            if ((func == UINT32_MAX && loc == UINT32_MAX) || n_syms == MAX_SYMS) continue;
            if (f->n_syms == 0) f->first_sym = (uint32_t)n_syms;
            syms[n_syms].func = func;
            syms[n_syms].loc = loc;
            n_syms++;
            f->n_syms++;
        }
    }
}

static void symbolize(void)
{
    for (size_t m = 0; m < n_modules; m++)
        symbolize_module((int)m);
}

/* --- The report ------------------------------------------------------------------------------- */

enum section_kind { SEC_ACCESS, SEC_FOUND, SEC_ALLOC, SEC_RELEASE, SEC_FREED, SEC_CREATE };

struct section {
    enum section_kind kind;
    int32_t tid;
    size_t first;
    size_t n;
    bool missing; /* no stack recorded */
};

static _Atomic int report_state; /* 0: none yet; 1: being written; 2: written */

static const char *kind_name(enum wsh_fault_kind kind)
{
    switch (kind) {
    case WSH_FAULT_OVERFLOW:
        return "heap-buffer-overflow";
    case WSH_FAULT_UNDERFLOW:
        return "heap-buffer-underflow";
    case WSH_FAULT_USE_AFTER_RESET:
        return "use-after-reset";
    case WSH_FAULT_USE_AFTER_FREE:
        return "use-after-free-heap";
    case WSH_FAULT_CORRUPTED_SLACK:
        return "corrupted-slack";
    case WSH_FAULT_CORRUPTED_REDZONE:
        return "corrupted-redzone";
    case WSH_FAULT_WILD:
        return "wild-access";
    case WSH_FAULT_CONCURRENT_USE:
        return "concurrent-use";
    case WSH_FAULT_NONE:
        break;
    }
    return "unknown";
}

static bool is_corruption(const struct wsh_fault *f)
{
    return f->kind == WSH_FAULT_CORRUPTED_SLACK || f->kind == WSH_FAULT_CORRUPTED_REDZONE;
}

static void out_heap(struct out *o, const struct wsh_fault *f)
{
    out_str(o, "heap ");
    out_hex(o, f->heap);
    if (f->heap_name[0] != '\0') {
        char shown[WSH_NAME_SHOWN_MAX]; /* escaped: a name cannot forge or colour a line */

        wsh_name_escape(f->heap_name, shown, sizeof shown);
        out_str(o, " \"");
        out_str(o, shown);
        out_str(o, "\"");
    }
}

/* "block+13" / "block-3" */
static void out_block_offset(struct out *o, uintptr_t addr, uintptr_t user)
{
    out_str(o, addr >= user ? "block+" : "block-");
    out_dec(o, addr >= user ? addr - user : user - addr);
}

/* The corrupted bytes, KFENCE-style: a window of up to 24 pattern bytes from a little before
 * the first corrupted one; "expected" shows the pattern, "actual" shows changed bytes in hex
 * and unchanged ones as "..":
 *   ==wsheap==   block+13 expected: cd ce cf
 *   ==wsheap==   block+13 actual:   68 .. ..                                                  */
static void out_corruption(struct out *o, const struct wsh_fault *f)
{
    uintptr_t lo = f->bad_lo >= f->check_lo + 8 ? f->bad_lo - 8 : f->check_lo;
    uintptr_t hi = lo + 24 < f->check_hi ? lo + 24 : f->check_hi;
    uint8_t bytes[24];
    size_t n = hi - lo;

    wsh_safe_read(bytes, (const void *)lo, n);
    out_str(o, PREFIX);
    out_dec(o, f->n_bad);
    out_str(o, f->n_bad == 1 ? " byte" : " bytes");
    out_str(o, " of the ");
    out_dec(o, f->check_hi - f->check_lo);
    out_str(o, f->check_lo >= f->block.user ? " pattern bytes after the block"
                                            : " pattern bytes before the block");
    out_str(o, " changed, at ");
    out_block_offset(o, f->bad_lo, f->block.user);
    if (f->bad_hi - f->bad_lo > 1) {
        out_str(o, " .. ");
        out_block_offset(o, f->bad_hi - 1, f->block.user);
    }
    out_str(o, ":");
    out_line(o);
    out_str(o, PREFIX "  ");
    out_block_offset(o, lo, f->block.user);
    out_str(o, " expected:");
    for (size_t i = 0; i < n; i++) {
        out_str(o, " ");
        out_byte(o, wsh_canary_byte(lo + i));
    }
    out_line(o);
    out_str(o, PREFIX "  ");
    out_block_offset(o, lo, f->block.user);
    out_str(o, " actual:  ");
    for (size_t i = 0; i < n; i++) {
        out_str(o, " ");
        if (bytes[i] == wsh_canary_byte(lo + i))
            out_str(o, "..");
        else
            out_byte(o, bytes[i]);
    }
    if (f->bad_hi > hi) out_str(o, " ...");
    out_line(o);
}

/* concurrent-use names the heap and both threads on the first line, which is what one greps
 * for; there is no address or block to describe. */
static void out_concurrent_header(struct out *o, const struct wsh_fault *f)
{
    out_str(o, PREFIX "ERROR: ");
    out_str(o, kind_name(f->kind));
    out_str(o, " of ");
    out_heap(o, f);
    out_str(o, " by thread ");
    out_dec(o, (uint64_t)(uint32_t)f->release_tid);
    out_str(o, " in ");
    out_str(o, f->found_by);
    out_str(o, " while thread ");
    out_dec(o, (uint64_t)(uint32_t)f->other_tid);
    out_str(o, " is inside ");
    out_str(o, f->other_call);
    out_line(o);
    out_str(o, PREFIX "a heap is used by one thread at a time: calls on it must not overlap "
                      "(backend guarded)");
    out_line(o);
}

static void out_header(struct out *o, const struct wsh_fault *f)
{
    if (f->kind == WSH_FAULT_CONCURRENT_USE) {
        out_concurrent_header(o, f);
        return;
    }
    out_str(o, PREFIX "ERROR: ");
    out_str(o, kind_name(f->kind));
    if (f->access != 0) out_str(o, f->access == 2 ? " WRITE" : " READ");
    out_str(o, " at ");
    out_hex(o, f->addr);
    if (f->found_by != NULL) {
        out_str(o, " found by ");
        out_str(o, f->found_by);
    }
    if (is_corruption(f) && f->n_corrupted > 1) { /* the block shown has the lowest ordinal */
        out_str(o, " (");
        out_dec(o, f->n_corrupted);
        out_str(o, " corrupted blocks; the first is shown)");
    }
    out_line(o);

    out_str(o, PREFIX);
    if (f->has_block) {
        out_dec(o, f->distance);
        out_str(o, f->distance == 1 ? " byte " : " bytes ");
        out_str(o, f->where == WSH_WHERE_INSIDE  ? "inside"
                   : f->where == WSH_WHERE_RIGHT ? "to the right of"
                                                 : "to the left of");
        out_str(o, " a ");
        out_dec(o, f->block.size);
        out_str(o, "-byte block #");
        out_dec(o, f->block.ordinal);
        out_str(o, " from WsAlloc on ");
        out_heap(o, f);
        out_str(o, f->redzone ? " (backend guarded, redzone-only block)" : " (backend guarded)");
    } else if (f->where == WSH_WHERE_HEAP_OBJECT) {
        out_dec(o, f->distance);
        out_str(o,
                f->distance == 1 ? " byte inside the object of " : " bytes inside the object of ");
        out_heap(o, f);
        out_str(o, ", a heap freed by WsFreeHeap (backend guarded)");
    } else {
        out_str(o, "guarded memory of ");
        out_heap(o, f);
        out_str(o, " that belongs to no block (backend guarded)");
    }
    out_line(o);

    if (is_corruption(f)) out_corruption(o, f);
}

static void out_section_title(struct out *o, const struct section *sec, const struct wsh_fault *f)
{
    out_str(o, PREFIX);
    switch (sec->kind) {
    case SEC_ACCESS:
        out_str(o, "access by thread ");
        break;
    case SEC_FOUND:
        if (f->kind == WSH_FAULT_CONCURRENT_USE) {
            out_str(o, f->found_by);
            out_str(o, " called by thread ");
            break;
        }
        out_str(o, "found by ");
        out_str(o, f->found_by);
        out_str(o, " in thread ");
        break;
    case SEC_ALLOC:
        out_str(o, "block allocated by thread ");
        break;
    case SEC_RELEASE:
        if (f->kind == WSH_FAULT_USE_AFTER_RESET) {
            out_str(o, "block released by WsResetHeap (reset #");
            out_dec(o, f->release_reset);
            out_str(o, " of the heap) in thread ");
        } else {
            out_str(o, "block released by WsFreeHeap in thread ");
        }
        break;
    case SEC_FREED:
        out_str(o, "heap freed by WsFreeHeap in thread ");
        break;
    case SEC_CREATE:
        out_str(o, "heap created by thread ");
        break;
    }
    out_dec(o, (uint64_t)(uint32_t)sec->tid);
    out_str(o, ":");
    out_line(o);
}

static void out_frame_suffix(struct out *o, const struct frame *fr)
{
    out_str(o, " (");
    if (fr->module >= 0) {
        out_str(o, modules[fr->module].path);
        out_str(o, "+");
        out_hex(o, fr->pc - modules[fr->module].base);
    } else {
        out_str(o, "<unknown module>");
    }
    out_str(o, ")");
    out_line(o);
}

static void out_stack(struct out *o, const struct section *sec)
{
    size_t k = 0;

    if (sec->missing || sec->n == 0) {
        out_str(o, "  <no stack recorded (WSHEAP_STACK_DEPTH=0?)>");
        out_line(o);
        return;
    }
    for (size_t i = sec->first; i < sec->first + sec->n; i++) {
        const struct frame *fr = &frames[i];
        size_t j = 0;

        do {
            out_str(o, "  #");
            out_dec(o, k++);
            out_str(o, " ");
            out_hex(o, fr->pc);
            if (fr->n_syms > 0) {
                const struct sym *sy = &syms[fr->first_sym + j];

                out_str(o, " in ");
                out_str(o, sy->func != UINT32_MAX ? pool + sy->func : "??");
                if (sy->loc != UINT32_MAX) {
                    out_str(o, " ");
                    out_str(o, pool + sy->loc);
                }
            }
            out_frame_suffix(o, fr);
        } while (++j < fr->n_syms);
    }
}

/* Adds a depot stack as a section. */
static void add_depot_section(struct section *sec, enum section_kind kind, uint32_t handle,
                              int32_t tid)
{
    const uintptr_t *pcs;
    size_t n = wsh_depot_get(handle, &pcs);

    sec->kind = kind;
    sec->tid = tid;
    sec->missing = n == 0;
    sec->first = add_frames(pcs, n, false);
    sec->n = n_frames - sec->first;
}

bool wsh_report(const struct wsh_fault *f, void *ucontext, bool symbolize_frames)
{
    static struct out o;
    struct section sections[4];
    size_t n_sections = 0;
    int expected = 0;

    if (!atomic_compare_exchange_strong(&report_state, &expected, 1)) {
        /* Another thread is reporting: wait (bounded) so that it can finish before this
         * thread's fault kills the process. */
        struct timespec ms = {0, 1000000};

        for (int i = 0; i < 30000 && atomic_load(&report_state) != 2; i++)
            nanosleep(&ms, NULL);
        return false;
    }
    o.fd = 2;
    o.len = 0;
    n_frames = n_modules = n_syms = pool_used = 0;

    if (ucontext != NULL) {
        uintptr_t pcs[ACCESS_FRAMES];
        size_t n = wsh_stack_unwind_signal(ucontext, pcs, ACCESS_FRAMES);

        sections[n_sections].kind = SEC_ACCESS;
        sections[n_sections].tid = wsh_os_thread_id(); /* a raw gettid: no once, no TLS */
        sections[n_sections].missing = n == 0;
        sections[n_sections].first = add_frames(pcs, n, true);
        sections[n_sections].n = n_frames - sections[n_sections].first;
        n_sections++;
    } else if (f->found_by != NULL) {
        add_depot_section(&sections[n_sections++], SEC_FOUND, f->release_stack, f->release_tid);
    }
    if (f->has_block)
        add_depot_section(&sections[n_sections++], SEC_ALLOC, f->block.alloc_stack, f->block.tid);
    if (f->has_block &&
        (f->kind == WSH_FAULT_USE_AFTER_RESET || f->kind == WSH_FAULT_USE_AFTER_FREE))
        add_depot_section(&sections[n_sections++], SEC_RELEASE, f->release_stack, f->release_tid);
    if (!f->has_block && f->kind == WSH_FAULT_USE_AFTER_FREE)
        add_depot_section(&sections[n_sections++], SEC_FREED, f->release_stack, f->release_tid);
    if (!f->has_block)
        add_depot_section(&sections[n_sections++], SEC_CREATE, f->create_stack, f->create_tid);

    /* The header first: it needs no symbols, and is out even if symbolizing goes wrong. */
    out_header(&o, f);
    resolve_modules();
    if (symbolize_frames) symbolize();
    for (size_t i = 0; i < n_sections; i++) {
        out_section_title(&o, &sections[i], f);
        out_stack(&o, &sections[i]);
    }
    out_str(&o, PREFIX "END");
    out_line(&o);
    atomic_store(&report_state, 2);
    return true;
}
