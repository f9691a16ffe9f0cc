/* SPDX-License-Identifier: MIT */
/*
 * The symbolizer (symbolize.h): modules from the module table or /proc/self/maps, addr2line in
 * a child made with _Fork + execve, and the ELF symbol-extent check. This is the one file in
 * the library that runs addr2line. It formats numbers itself and allocates nothing, so that a
 * signal handler can use it with static storage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../os.h"
#include "../out.h"
#include "modules.h"
#include "symbolize.h"

struct wsh_symbolizer *wsh_sym_map(void)
{
    void *p = mmap(NULL, sizeof(struct wsh_symbolizer), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (p == MAP_FAILED) return NULL;
    wsh_sym_reset(p);
    return p;
}

void wsh_sym_unmap(struct wsh_symbolizer *z)
{
    if (z != NULL) munmap(z, sizeof *z);
}

void wsh_sym_reset(struct wsh_symbolizer *z)
{
    z->n_frames = z->n_modules = z->n_names = z->pool_used = z->n_maps_paths = 0;
}

size_t wsh_sym_room(const struct wsh_symbolizer *z)
{
    return WSH_SYM_MAX_FRAMES - z->n_frames;
}

/* --- Frames ----------------------------------------------------------------------------------- */

size_t wsh_sym_add(struct wsh_symbolizer *z, const uintptr_t *pcs, const uint32_t *ids, size_t n,
                   enum wsh_sym_addresses how)
{
    size_t first = z->n_frames;

    for (size_t i = 0; i < n && z->n_frames < WSH_SYM_MAX_FRAMES; i++) {
        struct wsh_sym_frame *f = &z->frames[z->n_frames++];
        bool exact = pcs[i] == 0 || (i == 0 && how == WSH_SYM_FAULT_FIRST);

        f->lookup = exact ? pcs[i] : pcs[i] - 1;
        f->pc = how == WSH_SYM_CALLS ? f->lookup : pcs[i];
        f->table_id = ids != NULL ? ids[i] : 0;
        f->module = -1;
        f->first_name = 0;
        f->n_names = 0;
    }
    return first;
}

size_t wsh_sym_add_depot(struct wsh_symbolizer *z, uint32_t handle, size_t *n_out)
{
    uint32_t ids[WSH_STACK_MAX];
    const uintptr_t *pcs;
    size_t n = wsh_depot_get(handle, &pcs), n_ids, first;

    if (n > WSH_STACK_MAX) n = WSH_STACK_MAX; /* the depot stores no more */
    n_ids = wsh_depot_get_modules(handle, ids, WSH_STACK_MAX);
    for (size_t i = n_ids; i < n; i++)
        ids[i] = 0;
    first = wsh_sym_add(z, pcs, ids, n, WSH_SYM_RETURNS);
    *n_out = z->n_frames - first;
    return first;
}

/* --- Modules ---------------------------------------------------------------------------------- */

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

/* Copies the n bytes at src into dst (WSH_SYM_PATH_MAX bytes), cut at WSH_SYM_PATH_MAX - 1,
 * NUL-terminated. */
static void copy_path(char *dst, const char *src, size_t n)
{
    if (n >= WSH_SYM_PATH_MAX) n = WSH_SYM_PATH_MAX - 1;
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

static bool starts_with(const char *s, size_t n, const char *prefix)
{
    size_t i = 0;

    for (; prefix[i] != '\0'; i++)
        if (i >= n || s[i] != prefix[i]) return false;
    return true;
}

/* The symbolizer's module for module table record `id`. */
static int module_for_record(struct wsh_symbolizer *z, uint32_t id)
{
    const struct wsh_module *rec = wsh_modules_get(id);

    if (rec == NULL) return -1;
    for (size_t i = 0; i < z->n_modules; i++)
        if (z->modules[i].table_id == id) return (int)i;
    if (z->n_modules == WSH_SYM_MAX_MODULES) return -1;
    z->modules[z->n_modules].table_id = id;
    z->modules[z->n_modules].base = rec->base;
    z->modules[z->n_modules].bias = rec->bias;
    z->modules[z->n_modules].path = rec->path;
    return (int)z->n_modules++;
}

/* The symbolizer's module for the file mapped at `base` whose path is the n bytes at `path`. */
static int module_for_mapping(struct wsh_symbolizer *z, const char *path, size_t n, uintptr_t base)
{
    Elf64_Ehdr eh;
    bool absolute;

    for (size_t i = 0; i < z->n_modules; i++)
        if (z->modules[i].table_id == 0 && z->modules[i].base == base &&
            mem_is(path, n, z->modules[i].path))
            return (int)i;
    if (z->n_modules == WSH_SYM_MAX_MODULES || z->n_maps_paths == WSH_SYM_MAX_MAPS_MODULES)
        return -1;
    copy_path(z->maps_paths[z->n_maps_paths], path, n);
    /* ET_EXEC: addr2line wants the address itself, not the offset. */
    absolute = wsh_os_safe_read(&eh, (const void *)base, sizeof eh) && eh.e_type == ET_EXEC;
    z->modules[z->n_modules].table_id = 0;
    z->modules[z->n_modules].base = base;
    z->modules[z->n_modules].bias = absolute ? 0 : base;
    z->modules[z->n_modules].path = z->maps_paths[z->n_maps_paths++];
    return (int)z->n_modules++;
}

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
static void maps_line(struct wsh_symbolizer *z, const char *line, size_t len)
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
        z->zero_start = start;
        copy_path(z->zero_path, path, path_len);
    }
    for (size_t i = 0; i < z->n_frames; i++) {
        struct wsh_sym_frame *f = &z->frames[i];

        if (f->module != -1 || f->lookup < start || f->lookup >= stop) continue;
        f->module = module_for_mapping(z, path, path_len,
                                       mem_is(path, path_len, z->zero_path) ? z->zero_start
                                                                            : start - offset);
    }
}

/* Reads /proc/self/maps and sets frames[i].module for every frame still without a module that
 * lies inside a file mapping. Needs a free file descriptor. */
static void modules_from_maps(struct wsh_symbolizer *z)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    size_t used = 0;

    z->zero_path[0] = '\0';
    z->zero_start = 0;
    if (fd < 0) return;
    for (;;) {
        ssize_t got = read(fd, z->maps_buf + used, sizeof z->maps_buf - used);
        size_t start = 0;

        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        used += (size_t)got;
        for (size_t i = 0; i < used; i++) {
            if (z->maps_buf[i] == '\n') {
                maps_line(z, z->maps_buf + start, i - start);
                start = i + 1;
            }
        }
        if (start == 0 && used == sizeof z->maps_buf) {
            used = 0; /* an absurdly long line: drop it */
            continue;
        }
        used -= start;
        for (size_t i = 0; i < used; i++)
            z->maps_buf[i] = z->maps_buf[start + i];
    }
    close(fd);
}

void wsh_sym_find_modules(struct wsh_symbolizer *z)
{
    bool missing = false;

    for (size_t i = 0; i < z->n_frames; i++) {
        struct wsh_sym_frame *f = &z->frames[i];
        uint32_t id = f->table_id != 0 ? f->table_id : wsh_modules_find(f->lookup);

        if (f->module != -1) continue;
        if (id != 0) f->module = module_for_record(z, id);
        if (f->module == -1 && f->pc != 0) missing = true;
    }
    if (missing) modules_from_maps(z);
}

/* --- addr2line in a child --------------------------------------------------------------------- */

static uint32_t pool_add(struct wsh_symbolizer *z, const char *s, size_t n)
{
    uint32_t at = (uint32_t)z->pool_used;

    if (z->pool_used + n + 1 > sizeof z->pool) return UINT32_MAX;
    for (size_t i = 0; i < n; i++)
        z->pool[z->pool_used + i] = s[i];
    z->pool[z->pool_used + n] = '\0';
    z->pool_used += n + 1;
    return at;
}

/* Runs argv[0] (or /bin/addr2line when that fails) with stdout into z->child_output, killing it
 * at z->deadline; returns the bytes read. */
static size_t run_child(struct wsh_symbolizer *z, char *const argv[])
{
    static char *const envp[] = {NULL};
    int fds[2];
    size_t got = 0, room = sizeof z->child_output - 1;
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
    for (;;) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        long left = z->deadline - wsh_os_now_ms();
        ssize_t r;

        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        r = read(fds[0], z->child_output + got, room - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
        if (got == room) break;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    z->child_output[got] = '\0';
    return got;
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
 * kept only when a sized function symbol covers the address, as ASan does: this checks the
 * n_check ELF addresses z->check_addr[i] against every STT_FUNC / STT_GNU_IFUNC symbol of the
 * module's .symtab and .dynsym, read with open and pread, and sets z->check_covered[i]. Files
 * that are not 64-bit ELF, or cannot be read, cover nothing.
 */
static void find_covered(struct wsh_symbolizer *z, const char *path, size_t n_check)
{
    const size_t per_read = sizeof z->elf_syms / sizeof z->elf_syms[0];
    Elf64_Ehdr eh;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    for (size_t i = 0; i < n_check; i++)
        z->check_covered[i] = false;
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
        for (uint64_t first = 0; first < count; first += per_read) {
            size_t k = count - first < per_read ? (size_t)(count - first) : per_read;

            if (!read_at(fd, z->elf_syms, k * sizeof(Elf64_Sym),
                         sh.sh_offset + first * sizeof(Elf64_Sym)))
                break;
            for (size_t j = 0; j < k; j++) {
                const Elf64_Sym *sy = &z->elf_syms[j];
                unsigned type = ELF64_ST_TYPE(sy->st_info);

                if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sy->st_size == 0 ||
                    sy->st_shndx == SHN_UNDEF)
                    continue;
                for (size_t i = 0; i < n_check; i++)
                    if (z->check_addr[i] >= sy->st_value &&
                        z->check_addr[i] - sy->st_value < sy->st_size)
                        z->check_covered[i] = true;
            }
        }
    }
    close(fd);
}

/* Symbolizes the frames of module `m` with one addr2line run. */
static void symbolize_module(struct wsh_symbolizer *z, int m)
{
    const struct wsh_sym_module *mod = &z->modules[m];
    size_t n = 0, argc = 0, got, group = 0, line_start = 0, n_check = 0;
    bool have_group = false, want_func = true;
    uint32_t func = 0;

    for (size_t i = 0; i < z->n_frames; i++) {
        const struct wsh_sym_frame *f = &z->frames[i];

        if (f->module != m) continue;
        wsh_format_hex(z->addr_text[n], f->lookup - mod->bias);
        z->which[n++] = i;
    }
    if (n == 0) return;
    z->argv[argc++] = "/usr/bin/addr2line";
    z->argv[argc++] = "-a";
    z->argv[argc++] = "-f";
    z->argv[argc++] = "-C";
    z->argv[argc++] = "-i";
    z->argv[argc++] = "-e";
    z->argv[argc++] = (char *)mod->path;
    for (size_t i = 0; i < n; i++)
        z->argv[argc++] = z->addr_text[i];
    z->argv[argc] = NULL;
    got = run_child(z, z->argv);

    /* Output: per address, "0x<address>" then pairs of lines "function" / "file:line", more
     * than one pair when the address is inside inlined code (innermost first). */
    for (size_t i = 0; i <= got; i++) {
        const char *s = z->child_output + line_start;
        struct wsh_sym_frame *f;
        size_t len, cut;
        uint32_t loc;

        if (i < got && z->child_output[i] != '\n') continue;
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
            func = len == 2 && s[0] == '?' && s[1] == '?' ? UINT32_MAX : pool_add(z, s, len);
            want_func = false;
            continue;
        }
        want_func = true;
        f = &z->frames[z->which[group]];
        /* "file:line (discriminator N)": the discriminator helps nobody reading a frame. */
        cut = len;
        for (size_t k = 0; k + 15 < len; k++)
            if (starts_with(s + k, len - k, " (discriminator")) {
                cut = k;
                break;
            }
        loc = starts_with(s, cut, "??:") ? UINT32_MAX : pool_add(z, s, cut);
        if ((func == UINT32_MAX && loc == UINT32_MAX) || z->n_names == WSH_SYM_MAX_NAMES) continue;
        if (loc == UINT32_MAX && f->n_names == 0) {
            /* A name from the symbol tables only: checked below. */
            z->check_addr[n_check] = f->lookup - mod->bias;
            z->check_frame[n_check++] = z->which[group];
        }
        if (f->n_names == 0) f->first_name = (uint32_t)z->n_names;
        z->names[z->n_names].func = func;
        z->names[z->n_names].loc = loc;
        z->n_names++;
        f->n_names++;
    }
    if (n_check == 0) return;
    find_covered(z, mod->path, n_check);
    for (size_t i = 0; i < n_check; i++) {
        struct wsh_sym_frame *f = &z->frames[z->check_frame[i]];

        if (!z->check_covered[i] && f->n_names == 1) f->n_names = 0; /* the raw frame alone */
    }
}

void wsh_sym_symbolize(struct wsh_symbolizer *z, long budget_ms)
{
    z->deadline = wsh_os_now_ms() + budget_ms;
    for (size_t m = 0; m < z->n_modules && wsh_os_now_ms() < z->deadline; m++)
        symbolize_module(z, (int)m);
}
