/* SPDX-License-Identifier: MIT */
/*
 * The fault report: an async-signal-safe writer that turns a struct wsh_fault into text on
 * stderr. It formats numbers itself, writes with write(2), keeps its buffers in static storage
 * (one report per process, guarded by report_state), names each frame's module from the module
 * table (src/stack/modules.h; no file descriptor needed, unloaded modules included) or else from
 * /proc/self/maps, and symbolizes by running addr2line in a child made with _Fork + execve.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../os.h"
#include "../stack/modules.h"
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

static bool starts_with(const char *s, size_t n, const char *prefix)
{
    size_t i = 0;

    for (; prefix[i] != '\0'; i++)
        if (i >= n || s[i] != prefix[i]) return false;
    return true;
}

/* --- Output ----------------------------------------------------------------------------------- */

/* A report's writes are bounded in time (the header, then the stacks after the addr2line runs,
 * which have a bound of their own): stderr may be a pipe that nobody reads, and a report that
 * cannot be written must not keep the process from dying. */
#define WRITE_BUDGET_MS   5000 /* for the header, then again for the stacks */
#define REENTRY_BUDGET_MS 1000 /* for the one line about a fault while writing a report */

struct out {
    int fd;
    bool stopped;  /* the deadline passed, or fd failed: nothing more is written */
    long deadline; /* now_ms() after which nothing more is written */
    size_t len;
    char buf[1024]; /* at most this much per write(2): one pipe slot holds it */
};

static long now_ms(void);

/* Starts output to `fd` that gives up `budget_ms` from now. */
static void out_start(struct out *o, int fd, long budget_ms)
{
    o->fd = fd;
    o->stopped = false;
    o->deadline = now_ms() + budget_ms;
    o->len = 0;
}

/* Writes p[0..n) unless o->deadline passes first: poll(POLLOUT) before each write, so that a
 * full pipe (a blocking one: O_NONBLOCK is not ours to set on a shared file description) is
 * waited for with a timeout instead of inside write(2). A pipe whose reader is gone
 * (POLLERR) stops the output rather than raise SIGPIPE. */
static void write_all(struct out *o, const char *p, size_t n)
{
    while (n > 0 && !o->stopped) {
        struct pollfd pfd = {o->fd, POLLOUT, 0};
        long left = o->deadline - now_ms();
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

/* Test hook called after each line of a report is written (wsh_report_test_set_line_hook). */
static void (*_Atomic line_hook)(void);

static void out_flush(struct out *o)
{
    write_all(o, o->buf, o->len);
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
    void (*hook)(void) = atomic_load_explicit(&line_hook, memory_order_relaxed);

    out_mem(o, "\n", 1);
    out_flush(o);
    if (hook != NULL) hook();
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
#define MAX_MODULES          64
#define MAX_MAPS_MODULES     16
#define MAX_SYMS             1024
#define ACCESS_FRAMES        32
#define SYMBOLIZE_TIMEOUT_MS 5000 /* for all addr2line runs of a report together */

struct frame {
    uintptr_t pc;      /* as captured */
    uintptr_t lookup;  /* pc - 1 for return addresses: the call instruction */
    uint32_t table_id; /* module noted by the depot when the stack was stored; 0 none */
    int module;        /* index in modules[], or -1 */
    uint32_t first_sym;
    uint32_t n_syms;
};

/* A module some frame lies in: from the module table (which may describe a module unloaded
 * since), or from /proc/self/maps when the table has nothing for the frame. */
struct module {
    uint32_t table_id; /* 0: found in /proc/self/maps */
    uintptr_t base;    /* offsets printed count from here */
    uintptr_t bias;    /* addr2line and the ELF symbol tables want address - bias */
    const char *path;  /* the table's string, or one of maps_paths */
};

struct sym {
    uint32_t func; /* offsets into pool */
    uint32_t loc;
};

/* The report's working storage: static, because the signal stack is small and only one report
 * is ever written (report_state). Paths are kept whole, up to PATH_MAX. */
static struct frame frames[MAX_FRAMES];
static size_t n_frames;
static struct module modules[MAX_MODULES];
static size_t n_modules;
static struct sym syms[MAX_SYMS];
static size_t n_syms;
static char pool[1 << 16];
static size_t pool_used;
static char child_output[1 << 16];
static char maps_buf[PATH_MAX + 256]; /* holds one whole line of /proc/self/maps */
static char maps_paths[MAX_MAPS_MODULES][PATH_MAX];
static size_t n_maps_paths;
static char zero_path[PATH_MAX];

/* Adds frames; returns the index of the first. */
static size_t add_frames(const uintptr_t *pcs, size_t n, bool first_is_exact)
{
    size_t first = n_frames;

    for (size_t i = 0; i < n && n_frames < MAX_FRAMES; i++) {
        struct frame *f = &frames[n_frames++];

        f->pc = pcs[i];
        f->lookup = (i == 0 && first_is_exact) || pcs[i] == 0 ? pcs[i] : pcs[i] - 1;
        f->table_id = 0;
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

/* Copies the n bytes at src into dst (PATH_MAX bytes), cut at PATH_MAX - 1, NUL-terminated. */
static void copy_path(char *dst, const char *src, size_t n)
{
    if (n >= PATH_MAX) n = PATH_MAX - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
    dst[n] = '\0';
}

/* The n bytes at s are the string t. */
static bool mem_is(const char *s, size_t n, const char *t)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] != s[i]) return false;
    return t[n] == '\0';
}

/* The report's module for module table record `id`. */
static int module_for_record(uint32_t id)
{
    const struct wsh_module *rec = wsh_modules_get(id);

    if (rec == NULL) return -1;
    for (size_t i = 0; i < n_modules; i++)
        if (modules[i].table_id == id) return (int)i;
    if (n_modules == MAX_MODULES) return -1;
    modules[n_modules].table_id = id;
    modules[n_modules].base = rec->base;
    modules[n_modules].bias = rec->bias;
    modules[n_modules].path = rec->path;
    return (int)n_modules++;
}

/* The report's module for the file mapped at `base` whose path is the n bytes at `path`. */
static int module_for_mapping(const char *path, size_t n, uintptr_t base)
{
    Elf64_Ehdr eh;
    bool absolute;

    for (size_t i = 0; i < n_modules; i++)
        if (modules[i].table_id == 0 && modules[i].base == base && mem_is(path, n, modules[i].path))
            return (int)i;
    if (n_modules == MAX_MODULES || n_maps_paths == MAX_MAPS_MODULES) return -1;
    copy_path(maps_paths[n_maps_paths], path, n);
    /* ET_EXEC: addr2line wants the address itself, not the offset. */
    absolute = wsh_safe_read(&eh, (const void *)base, sizeof eh) && eh.e_type == ET_EXEC;
    modules[n_modules].table_id = 0;
    modules[n_modules].base = base;
    modules[n_modules].bias = absolute ? 0 : base;
    modules[n_modules].path = maps_paths[n_maps_paths++];
    return (int)n_modules++;
}

/* The start of the last mapping at file offset 0 seen (zero_path's): a module's base. */
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
    const char *p = line, *end = line + len, *path;
    uintptr_t start, stop, offset;
    size_t path_len;

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
    path = p;
    path_len = (size_t)(end - p);
    if (path_len == 0 || path[0] != '/')
        return; /* anonymous memory, [vdso], [stack]...: no file to symbolize with */
    if (offset == 0) {
        zero_start = start;
        copy_path(zero_path, path, path_len);
    }
    for (size_t i = 0; i < n_frames; i++) {
        struct frame *f = &frames[i];

        if (f->module != -1 || f->lookup < start || f->lookup >= stop) continue;
        f->module = module_for_mapping(
            path, path_len, mem_is(path, path_len, zero_path) ? zero_start : start - offset);
    }
}

/* Reads /proc/self/maps and sets frames[i].module for every frame still without a module that
 * lies inside a file mapping. Needs a free file descriptor. */
static void resolve_from_maps(void)
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

/* Sets frames[i].module for every frame: from the module the depot noted when the stack was
 * stored (still right after the module was unloaded), else the newest loaded module of the
 * module table holding the address (needs no file descriptor), else /proc/self/maps. */
static void resolve_modules(void)
{
    bool missing = false;

    n_maps_paths = 0;
    for (size_t i = 0; i < n_frames; i++) {
        struct frame *f = &frames[i];
        uint32_t id = f->table_id != 0 ? f->table_id : wsh_modules_find(f->lookup);

        if (id != 0) f->module = module_for_record(id);
        if (f->module == -1 && f->pc != 0) missing = true;
    }
    if (missing) resolve_from_maps();
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

/* When the report's addr2line runs must all have ended (symbolize sets it). */
static long symbolize_deadline;

/* Runs argv[0] (or /bin/<name> when that fails) with stdout into child_output, killing it at
 * symbolize_deadline; returns the bytes read. */

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
    deadline = symbolize_deadline;
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

/* pread of exactly n bytes. */
static bool read_at(int fd, void *buf, size_t n, uint64_t offset)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(offset + done));

        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        done += (size_t)r;
    }
    return true;
}

/*
 * Without debug information addr2line names the nearest symbol before an address, however far
 * the address lies past that symbol's end (a 37-byte exported function named for code 20 KiB
 * further on, in a static function the symbol tables lack). A name from the symbol tables is
 * kept only when a sized function symbol covers the address, as ASan does: this checks
 * `n` ELF addresses addrs[i] against every STT_FUNC / STT_GNU_IFUNC symbol of the module's
 * .symtab and .dynsym, read with open and pread, and sets covered[i]. Files that are not 64-bit
 * ELF, or cannot be read, cover nothing.
 */
static void find_covered(const char *path, const uint64_t *addrs, bool *covered, size_t n)
{
    static Elf64_Sym syms_buf[256];
    Elf64_Ehdr eh;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    for (size_t i = 0; i < n; i++)
        covered[i] = false;
    if (fd < 0) return;
    if (!read_at(fd, &eh, sizeof eh, 0) || eh.e_ident[EI_MAG0] != ELFMAG0 ||
        eh.e_ident[EI_MAG1] != ELFMAG1 || eh.e_ident[EI_MAG2] != ELFMAG2 ||
        eh.e_ident[EI_MAG3] != ELFMAG3 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_shentsize != sizeof(Elf64_Shdr)) {
        close(fd);
        return;
    }
    for (unsigned s = 0; s < eh.e_shnum; s++) {
        Elf64_Shdr sh;
        uint64_t count;

        if (!read_at(fd, &sh, sizeof sh, eh.e_shoff + (uint64_t)s * sizeof sh)) break;
        if ((sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
            sh.sh_entsize != sizeof(Elf64_Sym))
            continue;
        count = sh.sh_size / sizeof(Elf64_Sym);
        for (uint64_t first = 0; first < count; first += 256) {
            size_t k = count - first < 256 ? (size_t)(count - first) : 256;

            if (!read_at(fd, syms_buf, k * sizeof(Elf64_Sym),
                         sh.sh_offset + first * sizeof(Elf64_Sym)))
                break;
            for (size_t j = 0; j < k; j++) {
                const Elf64_Sym *sy = &syms_buf[j];
                unsigned type = ELF64_ST_TYPE(sy->st_info);

                if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sy->st_size == 0 ||
                    sy->st_shndx == SHN_UNDEF)
                    continue;
                for (size_t i = 0; i < n; i++)
                    if (addrs[i] >= sy->st_value && addrs[i] - sy->st_value < sy->st_size)
                        covered[i] = true;
            }
        }
    }
    close(fd);
}

/* Symbolizes the frames of module `m` with one addr2line run. */
static void symbolize_module(int m)
{
    static char addr_text[MAX_FRAMES][24];
    static char *argv[MAX_FRAMES + 10];
    static size_t which[MAX_FRAMES];
    static uint64_t check_addr[MAX_FRAMES];
    static bool check_covered[MAX_FRAMES];
    static size_t check_frame[MAX_FRAMES];
    size_t n = 0, argc = 0, got, group = 0, line_start = 0, n_check = 0;
    bool have_group = false, want_func = true;
    uint32_t func = 0;

    for (size_t i = 0; i < n_frames; i++) {
        const struct frame *f = &frames[i];

        if (f->module != m) continue;
        wsh_format_hex(addr_text[n], f->lookup - modules[m].bias);
        which[n++] = i;
    }
    if (n == 0) return;
    argv[argc++] = "/usr/bin/addr2line";
    argv[argc++] = "-a";
    argv[argc++] = "-f";
    argv[argc++] = "-C";
    argv[argc++] = "-i";
    argv[argc++] = "-e";
    argv[argc++] = (char *)modules[m].path;
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
            if (loc == UINT32_MAX && f->n_syms == 0) {
                /* A name from the symbol tables only: checked below. */
                check_addr[n_check] = f->lookup - modules[m].bias;
                check_frame[n_check++] = which[group];
            }
            if (f->n_syms == 0) f->first_sym = (uint32_t)n_syms;
            syms[n_syms].func = func;
            syms[n_syms].loc = loc;
            n_syms++;
            f->n_syms++;
        }
    }
    if (n_check == 0) return;
    find_covered(modules[m].path, check_addr, check_covered, n_check);
    for (size_t i = 0; i < n_check; i++) {
        struct frame *f = &frames[check_frame[i]];

        if (!check_covered[i] && f->n_syms == 1) f->n_syms = 0; /* the raw frame alone */
    }
}

static void symbolize(void)
{
    symbolize_deadline = now_ms() + SYMBOLIZE_TIMEOUT_MS;
    for (size_t m = 0; m < n_modules && now_ms() < symbolize_deadline; m++)
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

/* Adds a depot stack as a section, with the modules noted when it was stored. */
static void add_depot_section(struct section *sec, enum section_kind kind, uint32_t handle,
                              int32_t tid)
{
    static uint32_t ids[WSH_STACK_MAX];
    const uintptr_t *pcs;
    size_t n = wsh_depot_get(handle, &pcs);
    size_t n_ids = wsh_depot_get_modules(handle, ids, WSH_STACK_MAX);

    sec->kind = kind;
    sec->tid = tid;
    sec->missing = n == 0;
    sec->first = add_frames(pcs, n, false);
    sec->n = n_frames - sec->first;
    for (size_t i = 0; i < sec->n && i < n_ids; i++)
        frames[sec->first + i].table_id = ids[i];
}

/* The report proper, on the report stack when there is one. */
static void write_report(const struct wsh_fault *f, void *ucontext, bool symbolize_frames)
{
    static struct out o;
    struct section sections[4];
    size_t n_sections = 0;

    out_start(&o, 2, WRITE_BUDGET_MS);
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
    if (symbolize_frames && !o.stopped) {
        symbolize();                             /* not for output nobody can see */
        o.deadline = now_ms() + WRITE_BUDGET_MS; /* the stacks get a budget of their own */
    }
    for (size_t i = 0; i < n_sections; i++) {
        out_section_title(&o, &sections[i], f);
        out_stack(&o, &sections[i]);
    }
    out_str(&o, PREFIX "END");
    out_line(&o);
}

/* --- Entry: one report per process, on a stack of its own ------------------------------------ */

/*
 * The report runs on a stack of its own, mapped once at the first guarded heap: the fault may
 * come on a thread's small stack (16 KiB, mostly used) or on a language runtime's 8 KiB
 * alternate signal stack, where the report's unwinding, /proc/self/maps parsing and addr2line
 * child do not fit. Only the thread that claimed report_state uses the stack.
 *
 * The switch is a four-instruction trampoline per architecture (call_on_stack), not
 * getcontext/makecontext/swapcontext: ASan intercepts swapcontext and prints a warning on stderr
 * at the first switch, which would open every report of an ASan build and, on a full stderr
 * pipe, block before the report's bounded writes; swapcontext also makes a sigprocmask call and
 * is not async-signal-safe by POSIX. The trampoline keeps the handler's signal mask and
 * registers, and returns to the caller's stack. Where there is none (neither x86-64 nor
 * AArch64), or the stack could not be mapped, the report runs on the caller's stack.
 *
 * Size: a report touched at most 4.8 KiB of the stack (Debug build, symbolizing, found by
 * filling it with zeros and finding the deepest byte written, over test_guarded_death and
 * test_hostile) and at most 6.0 KiB in an ASan+UBSan build; 256 KiB leaves a wide margin for
 * deeper libunwind paths and other sanitizers. Untouched pages cost no memory.
 */
#define REPORT_STACK_SIZE ((size_t)256 << 10)

static char *report_stack; /* REPORT_STACK_SIZE bytes above a PROT_NONE page; NULL: none */
static pthread_once_t report_stack_once = PTHREAD_ONCE_INIT;

/* Calls fn(arg) with the stack pointer at `top` (16-byte aligned) and returns on the caller's
 * stack. Returns false, calling nothing, where there is no trampoline for this architecture. */
static bool call_on_stack(void (*fn)(void *), void *arg, char *top)
{
#if defined(__x86_64__)
    register void *rdi __asm__("rdi") = arg;

    /* rbx (callee-saved) keeps the caller's rsp across the call; everything the SysV ABI lets
     * the callee change is clobbered. */
    __asm__ volatile("mov %%rsp, %%rbx\n\t"
                     "mov %[top], %%rsp\n\t"
                     "call *%[fn]\n\t"
                     "mov %%rbx, %%rsp"
                     : "+r"(rdi)
                     : [fn] "r"(fn), [top] "r"(top)
                     : "rbx", "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "xmm0", "xmm1",
                       "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                       "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)", "st(3)",
                       "st(4)", "st(5)", "st(6)", "st(7)", "memory", "cc");
    return true;
#elif defined(__aarch64__)
    register void *x0 __asm__("x0") = arg;

    /* x19 (callee-saved) keeps the caller's sp across the call. */
    __asm__ volatile("mov x19, sp\n\t"
                     "mov sp, %[top]\n\t"
                     "blr %[fn]\n\t"
                     "mov sp, x19"
                     : "+r"(x0)
                     : [fn] "r"(fn), [top] "r"(top)
                     : "x19", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11",
                       "x12", "x13", "x14", "x15", "x16", "x17", "x18", "x30", "v0", "v1", "v2",
                       "v3", "v4", "v5", "v6", "v7", "v16", "v17", "v18", "v19", "v20", "v21",
                       "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31",
                       "memory", "cc");
    return true;
#else
    (void)fn;
    (void)arg;
    (void)top;
    return false;
#endif
}

struct report_args {
    const struct wsh_fault *f;
    void *ucontext;
    bool symbolize;
};

static _Atomic int report_state;  /* 0: none yet; 1: being written; 2: written */
static _Atomic int report_writer; /* the thread writing it (a raw gettid) */

/* Maps the report stack with mmap itself: it is not a heap's memory, and must not count as a
 * request for the fault-injection tests. Without it, reports run on the faulting stack. */
static void map_report_stack(void)
{
    size_t guard = wsh_os_page_size();
    char *p = mmap(NULL, guard + REPORT_STACK_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (p == MAP_FAILED) return;
    if (mprotect(p, guard, PROT_NONE) != 0) {
        munmap(p, guard + REPORT_STACK_SIZE);
        return;
    }
    report_stack = p + guard;
}

/* Binds, once, the lazily bound libc functions that a fault calls before it reaches the report
 * stack (or instead of it: the wait, the line about a second fault, the foreign-fault path in
 * segv.c). The dynamic linker's first call through a PLT slot saves the vector registers on the
 * stack, 3 KiB of it with AVX-512: more than the handler itself needs of a small signal stack
 * (measured: the handler's whole path then takes about 200 bytes below the kernel's frame). */
static void bind_early(void)
{
    struct timespec zero = {0, 0};
    int probe = 0, copy, saved_errno = errno;
    sigset_t set;

    wsh_safe_read(&copy, &probe, sizeof probe); /* process_vm_readv, getpid */
    (void)wsh_os_thread_id();                   /* syscall */
    (void)now_ms();                             /* clock_gettime */
    nanosleep(&zero, NULL);
    poll(NULL, 0, 0);
    (void)!write(2, "", 0); /* writes nothing */
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    pthread_sigmask(SIG_BLOCK, NULL, &set);
    raise(0); /* signal 0: checks, sends nothing */
    errno = saved_errno;
}

static void report_init_once(void)
{
    map_report_stack();
    bind_early();
}

void wsh_report_init(void)
{
    pthread_once(&report_stack_once, report_init_once);
}

void wsh_report_test_set_line_hook(void (*hook)(void))
{
    atomic_store_explicit(&line_hook, hook, memory_order_relaxed);
}

static void report_with(void *arg)
{
    const struct report_args *a = arg;

    write_report(a->f, a->ucontext, a->symbolize);
}

/* A guarded-memory fault in the thread that is writing the report (a signal handler that ran
 * in the middle of it touched a guard page): the report will never finish, so waiting for it
 * would wait for ourselves. Say what came and die now. */
static _Noreturn void die_reentered(const struct wsh_fault *f)
{
    static struct out o;

    out_start(&o, 2, REENTRY_BUDGET_MS);
    out_str(&o, PREFIX "ERROR: a second fault while this thread was writing the report: ");
    out_str(&o, kind_name(f->kind));
    if (f->access != 0) out_str(&o, f->access == 2 ? " WRITE" : " READ");
    out_str(&o, " at ");
    out_hex(&o, f->addr);
    out_str(&o, "; the report is cut short");
    out_mem(&o, "\n", 1);
    out_flush(&o);
    wsh_die();
}

bool wsh_report(const struct wsh_fault *f, void *ucontext, bool symbolize_frames)
{
    int expected = 0, self = wsh_os_thread_id(); /* a raw gettid: no once, no TLS */
    struct report_args args;

    if (!atomic_compare_exchange_strong(&report_state, &expected, 1)) {
        struct timespec ms = {0, 1000000};

        if (expected == 1 && atomic_load(&report_writer) == self) die_reentered(f);
        /* Another thread is reporting: wait (bounded) so that it can finish before this
         * thread's fault kills the process. */
        for (int i = 0; i < 30000 && atomic_load(&report_state) != 2; i++)
            nanosleep(&ms, NULL);
        return false;
    }
    atomic_store(&report_writer, self);
    args.f = f;
    args.ucontext = ucontext;
    args.symbolize = symbolize_frames;
    if (report_stack == NULL ||
        !call_on_stack(report_with, &args, report_stack + REPORT_STACK_SIZE))
        report_with(&args);
    atomic_store(&report_state, 2);
    return true;
}
