/* SPDX-License-Identifier: MIT */
/*
 * Heap statistics by creation site (WSHEAP_STATS=1) and the leak report (WSHEAP_LEAKS=1). Heaps
 * created while either is on are registered under the stack of their WsCreateHeap (a stack
 * depot handle); each round (the allocations between two resets) is folded into its site at the
 * reset, under one registry lock. At exit, and on demand through wsheap_print_stats, the sites
 * are printed with a suggested trimSize and maxSize; at exit the heaps never freed are listed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guarded/guarded.h" /* the stack depot and thread ids */
#include "internal.h"
#include "os.h"
#include "stats.h"

extern char **environ;

#define PREFIX          "==wsheap== "
#define FIRST_CHUNK     ((size_t)4096) /* the arena's first chunk: a reset always keeps one */
#define NAMES_KEPT      3              /* distinct heap names listed per site */
#define LEAKS_LISTED    8              /* leaked heaps listed one by one per site */
#define SITE_BUCKETS    256
#define SYMBOLIZE_MS    10000 /* addr2line runs longer than this are killed */
#define ADDR2LINE_BATCH 200   /* addresses per addr2line run */

/* --- Round-size distributions ----------------------------------------------------------------- */
#define HIST_EXACT   32
#define HIST_SUB     16
#define HIST_BUCKETS (HIST_EXACT + (64 - 5) * HIST_SUB)

struct histogram {
    uint64_t count[HIST_BUCKETS];
};

static size_t bucket_of(size_t v)
{
    int e;

    if (v < HIST_EXACT) return v;
    e = 63 - __builtin_clzll((unsigned long long)v); /* >= 5 */
    return HIST_EXACT + (size_t)(e - 5) * HIST_SUB + ((v >> (e - 4)) & (HIST_SUB - 1));
}

/* The largest value that falls in bucket `b`. */
static size_t bucket_top(size_t b)
{
    size_t e, sub;

    if (b < HIST_EXACT) return b;
    e = (b - HIST_EXACT) / HIST_SUB + 5;
    sub = (b - HIST_EXACT) % HIST_SUB;
    if (e == 63 && sub == HIST_SUB - 1) return SIZE_MAX;
    return ((HIST_SUB + sub + 1) << (e - 4)) - 1;
}

/* The p-th percentile (0 < p <= 100) of `n` values, never above `max`; 0 when n is 0. */
static size_t percentile(const struct histogram *h, uint64_t n, unsigned p, size_t max)
{
    uint64_t want = (n * p + 99) / 100, seen = 0;

    if (n == 0) return 0;
    for (size_t b = 0; b < HIST_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= want) return bucket_top(b) < max ? bucket_top(b) : max;
    }
    return max;
}

/* --- The registry ----------------------------------------------------------------------------- */

/* What a site has seen; also the scratch copy a printer adds the live heaps' rounds to. */
struct totals {
    uint64_t n_created, n_freed, n_allocs, n_quota_failures, n_resets, n_rounds;
    uint64_t n_sys_allocs, n_sys_steady; /* steady: after each heap's first round */
    size_t round_max;                    /* largest REQUESTED_SIZE at a round's end */
    size_t consumed_max;                 /* largest round in 8-byte aligned bytes */
    size_t actual_peak;                  /* largest ACTUAL_SIZE seen */
    size_t refused_max;                  /* largest round a refused request would have made */
    struct histogram requested;          /* REQUESTED_SIZE per round */
    struct histogram consumed;           /* aligned bytes per round */
};

/* Heaps created by one stack. Sites are never freed (their stacks live in the depot too). */
struct site {
    struct site *next;      /* hash chain */
    struct site *next_made; /* every site, in creation order */
    uint32_t stack;         /* depot handle; 0 when no stack was captured */
    unsigned number;        /* 1, 2, ... in creation order */
    const char *backend;    /* of the first heap */
    size_t max_size, trim_size;
    bool sizes_vary; /* later heaps were created with other sizes */
    char names[NAMES_KEPT][WSHEAP_NAME_MAX];
    bool more_names; /* a further distinct name was seen */
    struct wsh_heap_stats *live;
    struct totals t;
};

/* One watched heap. The counters since the last fold are written by the heap's user only and
 * read by printers under the registry lock, hence relaxed atomics. */
struct wsh_heap_stats {
    struct wsh_heap *heap;
    struct site *site;
    struct wsh_heap_stats *prev, *next; /* the site's live heaps (registry lock) */
    int32_t tid;                        /* the creating thread */
    bool first_round_done;              /* registry lock */
    unsigned long sys_mark;             /* wsh_stats_mark: the thread's count before a call */
    atomic_size_t n_allocs, n_quota_failures, n_sys_allocs;
    atomic_size_t round_requested, round_consumed, actual_peak, refused_max;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct site *site_buckets[SITE_BUCKETS];
static struct site *sites_first, **sites_tail = &sites_first;
static unsigned n_sites;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;

static size_t load(atomic_size_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* The heap's user is the only writer, so a load and a store make an add. */
static void bump(atomic_size_t *v, size_t by)
{
    atomic_store_explicit(v, load(v) + by, memory_order_relaxed);
}

static void raise_to(atomic_size_t *v, size_t value)
{
    if (value > load(v)) atomic_store_explicit(v, value, memory_order_relaxed);
}

static void lock_registry(void)
{
    pthread_mutex_lock(&registry_lock);
}

static void unlock_registry(void)
{
    pthread_mutex_unlock(&registry_lock);
}

/* Re-creates the lock in a fork child: the parent may have held it in another thread. */
static void child_after_fork(void)
{
    pthread_mutex_init(&registry_lock, NULL);
}

static atomic_bool registry_started; /* a heap was watched: the exit report has work */

static void setup_registry(void)
{
    pthread_atfork(lock_registry, unlock_registry, child_after_fork);
    atomic_store(&registry_started, true);
}

/* The site of `stack`, made on first use; NULL when out of memory. */
static struct site *site_for_locked(uint32_t stack, const struct wsh_heap *heap)
{
    struct site **bucket = &site_buckets[stack % SITE_BUCKETS], *s;

    for (s = *bucket; s != NULL; s = s->next)
        if (s->stack == stack) {
            if (s->max_size != heap->max_size || s->trim_size != heap->trim_size)
                s->sizes_vary = true;
            return s;
        }
    s = wsh_os_malloc(sizeof *s);
    if (s == NULL) return NULL;
    memset(s, 0, sizeof *s);
    s->stack = stack;
    s->number = ++n_sites;
    s->backend = heap->ops->name;
    s->max_size = heap->max_size;
    s->trim_size = heap->trim_size;
    s->next = *bucket;
    *bucket = s;
    *sites_tail = s;
    sites_tail = &s->next_made;
    return s;
}

static void note_name_locked(struct site *s, const char *name)
{
    size_t i;

    if (name[0] == '\0') return;
    for (i = 0; i < NAMES_KEPT && s->names[i][0] != '\0'; i++)
        if (strcmp(s->names[i], name) == 0) return;
    if (i == NAMES_KEPT) {
        s->more_names = true;
        return;
    }
    snprintf(s->names[i], sizeof s->names[i], "%s", name);
}

/* Adds what `h` counted since its last fold, and the round it is in, to `t`. Leaves `h`
 * untouched; fold_locked clears it. */
static void add_heap(struct totals *t, struct wsh_heap_stats *h, bool first_round_done)
{
    size_t n_allocs = load(&h->n_allocs), consumed = load(&h->round_consumed);
    size_t n_sys = load(&h->n_sys_allocs), requested = load(&h->round_requested);

    t->n_allocs += n_allocs;
    t->n_quota_failures += load(&h->n_quota_failures);
    t->n_sys_allocs += n_sys;
    if (first_round_done) t->n_sys_steady += n_sys;
    if (load(&h->actual_peak) > t->actual_peak) t->actual_peak = load(&h->actual_peak);
    if (load(&h->refused_max) > t->refused_max) t->refused_max = load(&h->refused_max);
    if (n_allocs == 0) return; /* an empty round says nothing about sizes */
    t->n_rounds++;
    t->requested.count[bucket_of(requested)]++;
    t->consumed.count[bucket_of(consumed)]++;
    if (requested > t->round_max) t->round_max = requested;
    if (consumed > t->consumed_max) t->consumed_max = consumed;
}

/* Ends the round of `h`: folds it into the site. */
static void fold_locked(struct wsh_heap_stats *h)
{
    add_heap(&h->site->t, h, h->first_round_done);
    if (load(&h->n_allocs) > 0) h->first_round_done = true;
    atomic_store_explicit(&h->n_allocs, 0, memory_order_relaxed);
    atomic_store_explicit(&h->n_quota_failures, 0, memory_order_relaxed);
    atomic_store_explicit(&h->n_sys_allocs, 0, memory_order_relaxed);
    atomic_store_explicit(&h->round_requested, 0, memory_order_relaxed);
    atomic_store_explicit(&h->round_consumed, 0, memory_order_relaxed);
}

WSH_NOINLINE void wsh_stats_heap_created(struct wsh_heap *heap)
{
    const struct wsh_options *options = wsh_options();
    struct wsh_heap_stats *h;
    struct site *s;
    uint32_t stack;

    /* The unwinder initialises itself lazily, and not thread-safely: warm it up once (as the
     * guarded backend does) before the first capture, which may run on many threads at once. */
    if (options->stack_depth > 0) wsh_stack_init();
    /* skip 2: this function and WsCreateHeap; the stack starts in WsCreateHeap's caller. */
    stack = wsh_stack_record(options->stack_depth, 2);
    h = wsh_os_malloc(sizeof *h);
    if (h == NULL) return;
    memset(h, 0, sizeof *h);
    pthread_once(&registry_once, setup_registry);
    lock_registry();
    s = site_for_locked(stack, heap);
    if (s == NULL) {
        unlock_registry();
        wsh_os_free(h);
        return;
    }
    h->heap = heap;
    h->site = s;
    h->tid = wsh_thread_id();
    h->next = s->live;
    if (s->live != NULL) s->live->prev = h;
    s->live = h;
    s->t.n_created++;
    unlock_registry();
    heap->stats = h;
}

void wsh_stats_mark(struct wsh_heap *heap)
{
    heap->stats->sys_mark = wsh_os_thread_allocations();
}

/* Counts the system allocations the calling thread made since wsh_stats_mark. */
static void count_sys_allocs(struct wsh_heap_stats *h)
{
    bump(&h->n_sys_allocs, wsh_os_thread_allocations() - h->sys_mark);
}

void wsh_stats_alloc_done(struct wsh_heap *heap, size_t size)
{
    struct wsh_heap_stats *h = heap->stats;

    count_sys_allocs(h);
    bump(&h->n_allocs, 1);
    bump(&h->round_requested, size);
    bump(&h->round_consumed, size == 0 ? WSH_ALIGN : wsh_align_up(size, WSH_ALIGN));
    raise_to(&h->actual_peak, heap->ops->actual_size(heap));
}

void wsh_stats_quota_failure(struct wsh_heap *heap, size_t size)
{
    struct wsh_heap_stats *h = heap->stats;
    size_t wanted = heap->requested_size;

    bump(&h->n_quota_failures, 1);
    /* The round the refused request would have made; saturates instead of wrapping. */
    wanted = size > SIZE_MAX - wanted ? SIZE_MAX : wanted + size;
    raise_to(&h->refused_max, wanted);
}

void wsh_stats_reset_done(struct wsh_heap *heap)
{
    struct wsh_heap_stats *h = heap->stats;

    count_sys_allocs(h);
    lock_registry();
    fold_locked(h);
    h->site->t.n_resets++;
    unlock_registry();
}

void wsh_stats_heap_freed(struct wsh_heap *heap)
{
    struct wsh_heap_stats *h = heap->stats;
    struct site *s = h->site;
    char name[WSHEAP_NAME_MAX];

    raise_to(&h->actual_peak, heap->ops->actual_size(heap));
    wsh_name_copy(heap, name, true);
    lock_registry();
    fold_locked(h);
    note_name_locked(s, name);
    s->t.n_freed++;
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        s->live = h->next;
    if (h->next != NULL) h->next->prev = h->prev;
    unlock_registry();
    heap->stats = NULL;
    wsh_os_free(h);
}

/* --- Output ----------------------------------------------------------------------------------- */
struct out {
    char *buf;
    size_t len, cap;
    bool failed; /* out of memory: what was built is still written */
};

static void out_printf(struct out *o, const char *fmt, ...) WSH_PRINTF(2, 3);

static void out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->failed) return;
    for (;;) {
        size_t room = o->cap - o->len;

        va_start(ap, fmt);
        n = vsnprintf(o->buf != NULL ? o->buf + o->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < room) {
            o->len += (size_t)n;
            return;
        }
        {
            size_t cap = (o->cap ? o->cap * 2 : 4096) + (size_t)n;
            char *grown = realloc(o->buf, cap);

            if (grown == NULL) {
                o->failed = true;
                return;
            }
            o->buf = grown;
            o->cap = cap;
        }
    }
}

static void out_write(struct out *o, int fd)
{
    const char *p = o->buf;
    size_t n = o->len;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        p += w;
        n -= (size_t)w;
    }
    free(o->buf);
    o->buf = NULL;
    o->len = o->cap = 0;
}

/* --- Stacks: modules and symbols -------------------------------------------------------------- */
struct sym {
    char *func; /* NULL: unknown */
    char *loc;  /* "file:line"; NULL: unknown */
};

struct frame {
    uintptr_t pc;
    int module; /* index in modules[], or -1 */
    struct sym *syms;
    size_t n_syms;
};

struct module {
    char path[512];
    uintptr_t base; /* the start of its mapping at file offset 0 */
    uintptr_t bias; /* load bias: ELF address = run-time address - bias */
};

struct symbolizer {
    struct frame *frames;
    size_t n_frames, cap_frames;
    struct module *modules;
    size_t n_modules, cap_modules;
};

struct phdr_query {
    uintptr_t pc;
    bool found;
    char path[512];
    uintptr_t base, bias;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct phdr_query *q = arg;
    uintptr_t page = (uintptr_t)wsh_os_page_size(), base = UINTPTR_MAX;
    bool inside = false;

    (void)size;
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;

        if (ph->p_type != PT_LOAD) continue;
        if (ph->p_offset < page) base = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
        if (q->pc >= start && q->pc < start + ph->p_memsz) inside = true;
    }
    if (!inside) return 0;
    q->found = true;
    q->base = base;
    q->bias = info->dlpi_addr;
    if (info->dlpi_name != NULL && info->dlpi_name[0] != '\0') {
        snprintf(q->path, sizeof q->path, "%s", info->dlpi_name);
    } else { /* the main program */
        ssize_t n = readlink("/proc/self/exe", q->path, sizeof q->path - 1);

        q->path[n > 0 ? n : 0] = '\0';
    }
    return 1;
}

/* The module holding `pc`, added on first use; -1 when none has a file (the vDSO, JIT code). */
static int module_of(struct symbolizer *z, uintptr_t pc)
{
    struct phdr_query q = {.pc = pc};

    dl_iterate_phdr(find_object, &q);
    if (!q.found || q.path[0] != '/' || q.base == UINTPTR_MAX) return -1;
    for (size_t i = 0; i < z->n_modules; i++)
        if (strcmp(z->modules[i].path, q.path) == 0) return (int)i;
    if (z->n_modules == z->cap_modules) {
        size_t cap = z->cap_modules ? z->cap_modules * 2 : 16;
        struct module *grown = realloc(z->modules, cap * sizeof *grown);

        if (grown == NULL) return -1;
        z->modules = grown;
        z->cap_modules = cap;
    }
    snprintf(z->modules[z->n_modules].path, sizeof z->modules[0].path, "%s", q.path);
    z->modules[z->n_modules].base = q.base;
    z->modules[z->n_modules].bias = q.bias;
    return (int)z->n_modules++;
}

/* Adds the frames of depot stack `stack`; returns the index of the first. */
static size_t add_stack(struct symbolizer *z, uint32_t stack, size_t *n_out)
{
    const uintptr_t *pcs;
    size_t n = wsh_depot_get(stack, &pcs), first = z->n_frames;

    *n_out = 0;
    if (z->n_frames + n > z->cap_frames) {
        size_t cap = (z->cap_frames ? z->cap_frames * 2 : 64) + n;
        struct frame *grown = realloc(z->frames, cap * sizeof *grown);

        if (grown == NULL) return first;
        z->frames = grown;
        z->cap_frames = cap;
    }
    for (size_t i = 0; i < n; i++) {
        struct frame *f = &z->frames[z->n_frames++];

        f->pc = pcs[i];
        f->module = pcs[i] != 0 ? module_of(z, pcs[i] - 1) : -1;
        f->syms = NULL;
        f->n_syms = 0;
    }
    *n_out = n;
    return first;
}

/* Runs argv (addr2line) with its output into a malloc'd, NUL-terminated string; NULL when it
 * cannot be run. Killed after SYMBOLIZE_MS. */
static char *run_addr2line(char *const argv[])
{
    posix_spawn_file_actions_t actions;
    char *text = NULL;
    size_t len = 0, cap = 0;
    struct timespec t0, t;
    int fds[2], status;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0) return NULL;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        long waited;
        ssize_t got;
        int r;

        clock_gettime(CLOCK_MONOTONIC, &t);
        waited = (long)(t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (waited >= SYMBOLIZE_MS) {
            kill(pid, SIGKILL);
            break;
        }
        r = poll(&pfd, 1, (int)(SYMBOLIZE_MS - waited));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        if (len + 4096 + 1 > cap) {
            char *grown = realloc(text, cap + 65536);

            if (grown == NULL) {
                kill(pid, SIGKILL);
                break;
            }
            text = grown;
            cap += 65536;
        }
        got = read(fds[0], text + len, cap - len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (text != NULL) text[len] = '\0';
    return text;
}

static char *copy_line(const char *s, size_t n)
{
    char *c = malloc(n + 1);

    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

/* Parses addr2line -a -f -i output for frames which[0..n): per address a "0x..." line, then
 * pairs of lines "function" / "file:line", innermost function first. */
static void parse_addr2line(struct symbolizer *z, const size_t *which, size_t n, const char *text)
{
    const char *p = text;
    size_t group = 0;
    bool have_group = false;
    char *func = NULL;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

        if (func == NULL && len > 2 && p[0] == '0' && p[1] == 'x') {
            group = have_group ? group + 1 : 0;
            have_group = true;
        } else if (have_group && group < n && func == NULL) {
            func = copy_line(p, len);
            if (func == NULL) break;
        } else if (have_group && group < n) {
            struct frame *f = &z->frames[which[group]];
            const char *cut = strstr(p, " (discriminator");
            size_t loc_len = cut != NULL && cut < p + len ? (size_t)(cut - p) : len;
            bool no_func = strcmp(func, "??") == 0, no_loc = loc_len >= 3 && !strncmp(p, "??:", 3);
            struct sym *grown;

            if (!(no_func && no_loc) &&
                (grown = realloc(f->syms, (f->n_syms + 1) * sizeof *grown)) != NULL) {
                f->syms = grown;
                grown[f->n_syms].func = no_func ? NULL : func;
                grown[f->n_syms].loc = no_loc ? NULL : copy_line(p, loc_len);
                f->n_syms++;
                if (!no_func) func = NULL;
            }
            free(func);
            func = NULL;
        }
        if (nl == NULL) break;
        p = nl + 1;
    }
    free(func);
}

/* Adds function and file:line to the frames with one addr2line run per module and batch. */
static void symbolize(struct symbolizer *z)
{
    for (size_t m = 0; m < z->n_modules; m++) {
        size_t i = 0;

        while (i < z->n_frames) {
            char addrs[ADDR2LINE_BATCH][24];
            char *argv[ADDR2LINE_BATCH + 8];
            size_t which[ADDR2LINE_BATCH], n = 0, argc = 0;
            char *text;

            for (; i < z->n_frames && n < ADDR2LINE_BATCH; i++) {
                const struct frame *f = &z->frames[i];

                if (f->module != (int)m) continue;
                snprintf(addrs[n], sizeof addrs[n], "0x%" PRIxPTR, f->pc - 1 - z->modules[m].bias);
                which[n++] = i;
            }
            if (n == 0) break;
            argv[argc++] = "addr2line";
            argv[argc++] = "-a";
            argv[argc++] = "-f";
            argv[argc++] = "-C";
            argv[argc++] = "-i";
            argv[argc++] = "-e";
            argv[argc++] = z->modules[m].path;
            for (size_t k = 0; k < n; k++)
                argv[argc++] = addrs[k];
            argv[argc] = NULL;
            text = run_addr2line(argv);
            if (text == NULL) return; /* no addr2line: every frame stays raw */
            parse_addr2line(z, which, n, text);
            free(text);
        }
    }
}

static void out_frames(struct out *o, const struct symbolizer *z, size_t first, size_t n)
{
    size_t k = 0;

    if (n == 0) {
        out_printf(o, "  <no stack recorded (WSHEAP_STACK_DEPTH=0?)>\n");
        return;
    }
    for (size_t i = first; i < first + n; i++) {
        const struct frame *f = &z->frames[i];
        size_t j = 0;

        do {
            out_printf(o, "  #%zu 0x%" PRIxPTR, k++, f->pc);
            if (f->n_syms > 0) {
                const struct sym *s = &f->syms[j];

                out_printf(o, " in %s", s->func != NULL ? s->func : "??");
                if (s->loc != NULL) out_printf(o, " %s", s->loc);
            }
            if (f->module >= 0)
                out_printf(o, " (%s+0x%" PRIxPTR ")\n", z->modules[f->module].path,
                           f->pc - z->modules[f->module].base);
            else
                out_printf(o, " (<unknown module>)\n");
        } while (++j < f->n_syms);
    }
}

static void free_symbolizer(struct symbolizer *z)
{
    for (size_t i = 0; i < z->n_frames; i++) {
        for (size_t j = 0; j < z->frames[i].n_syms; j++) {
            free(z->frames[i].syms[j].func);
            free(z->frames[i].syms[j].loc);
        }
        free(z->frames[i].syms);
    }
    free(z->frames);
    free(z->modules);
}

/* --- The statistics table --------------------------------------------------------------------- */

/* A site as printed: its totals with the live heaps' current rounds added, copied under the
 * registry lock so that the slow part (addr2line) runs without it. */
struct site_view {
    unsigned number;
    uint32_t stack;
    const char *backend;
    size_t max_size, trim_size;
    bool sizes_vary, more_names;
    char names[NAMES_KEPT][WSHEAP_NAME_MAX];
    uint64_t n_live;
    struct totals t;
};

/* Copies every site; *n_out is the count. NULL (and 0) when there is none or no memory. */
static struct site_view *snapshot_sites(size_t *n_out)
{
    struct site_view *views;
    size_t n = 0;

    lock_registry();
    views = n_sites > 0 ? calloc(n_sites, sizeof *views) : NULL;
    for (struct site *s = sites_first; views != NULL && s != NULL; s = s->next_made, n++) {
        struct site_view *v = &views[n];
        struct site copy = *s; /* note_name_locked on the copy: the live heaps' names */

        for (struct wsh_heap_stats *h = s->live; h != NULL; h = h->next) {
            char name[WSHEAP_NAME_MAX];

            /* The heap's owner may be renaming it: copy under the name lock. */
            wsh_name_copy(h->heap, name, true);
            add_heap(&copy.t, h, h->first_round_done);
            note_name_locked(&copy, name);
            v->n_live++;
        }
        v->number = s->number;
        v->stack = s->stack;
        v->backend = s->backend;
        v->max_size = s->max_size;
        v->trim_size = s->trim_size;
        v->sizes_vary = s->sizes_vary;
        v->more_names = copy.more_names;
        memcpy(v->names, copy.names, sizeof v->names);
        v->t = copy.t;
    }
    unlock_registry();
    *n_out = n;
    return views;
}

/* "s" unless n is 1, for plurals. */
static const char *plural(uint64_t n)
{
    return n == 1 ? "" : "s";
}

static size_t round_up_saturating(size_t v, size_t unit)
{
    return v > SIZE_MAX - unit ? SIZE_MAX : wsh_align_up(v, unit);
}

/* The smallest power of two >= v (at least 64); SIZE_MAX when there is none. */
static size_t power_of_two_above(size_t v)
{
    size_t p = 64;

    while (p < v) {
        if (p > SIZE_MAX / 2) return SIZE_MAX;
        p *= 2;
    }
    return p;
}

static void out_names(struct out *o, const struct site_view *v)
{
    char shown[WSH_NAME_SHOWN_MAX];

    if (v->names[0][0] == '\0') {
        out_printf(o, "unnamed heaps");
        return;
    }
    out_printf(o, "heaps");
    for (size_t i = 0; i < NAMES_KEPT && v->names[i][0] != '\0'; i++) {
        wsh_name_escape(v->names[i], shown, sizeof shown);
        out_printf(o, "%s \"%s\"", i > 0 ? "," : "", shown);
    }
    if (v->more_names) out_printf(o, " and others");
}

/*
 * The suggestion for one site. The arena keeps, at a reset, one chunk of up to trimSize bytes
 * (never less than its 4096-byte first chunk) sized to the round plus a quarter; a round that
 * fits that chunk makes no system allocation. So trimSize should hold the 95th-percentile round
 * in aligned bytes, plus a quarter, in whole 4096-byte units: rounds up to that size then run
 * without system allocations, and the rare larger round costs an allocation instead of keeping
 * its memory for good. maxSize gets twice the largest round, as headroom that still stops a
 * runaway message.
 */
static void out_suggestion(struct out *o, const struct site_view *v)
{
    const struct totals *t = &v->t;
    size_t c95, trim, max;

    if (t->n_rounds == 0) {
        out_printf(o, PREFIX "  suggested: nothing (no heap from this site allocated anything)\n");
        return;
    }
    c95 = percentile(&t->consumed, t->n_rounds, 95, t->consumed_max);
    trim = round_up_saturating(c95 + c95 / 4, FIRST_CHUNK);
    if (trim < FIRST_CHUNK) trim = FIRST_CHUNK;
    max = t->round_max > SIZE_MAX / 2 ? SIZE_MAX : power_of_two_above(2 * t->round_max);
    out_printf(o, PREFIX "  suggested trimSize %zu, maxSize %zu\n", trim, max);
    out_printf(
        o, PREFIX "  why: 95%% of rounds used at most %zu bytes (8-byte aligned; the largest %zu)",
        c95, t->consumed_max);
    if (c95 + c95 / 4 <= FIRST_CHUNK)
        out_printf(o,
                   ", which fit the 4096-byte first chunk a reset always keeps, so trimSize %zu "
                   "keeps no more than that",
                   trim);
    else
        out_printf(o,
                   ", and a reset keeps one chunk of up to trimSize bytes, so trimSize %zu lets "
                   "those rounds reuse it without system allocations",
                   trim);
    out_printf(o,
               "; maxSize is twice the largest round (%zu bytes requested), rounded up to a power "
               "of two",
               t->round_max);
    if (t->n_quota_failures > 0)
        out_printf(o,
                   "; %" PRIu64 " request%s refused by maxSize %zu (the largest would have "
                   "made a round of %zu bytes): keep it if they were meant to fail",
                   t->n_quota_failures, t->n_quota_failures == 1 ? " was" : "s were", v->max_size,
                   t->refused_max);
    out_printf(o, "\n");
}

static void print_stats(int fd)
{
    struct symbolizer z = {0};
    struct out o = {0};
    size_t n_views, *first, *n_frames;
    struct site_view *views = snapshot_sites(&n_views);
    uint64_t created = 0, live = 0;

    first = calloc(n_views + 1, sizeof *first);
    n_frames = calloc(n_views + 1, sizeof *n_frames);
    for (size_t i = 0; i < n_views; i++) {
        created += views[i].t.n_created;
        live += views[i].n_live;
        if (first != NULL && n_frames != NULL)
            first[i] = add_stack(&z, views[i].stack, &n_frames[i]);
    }
    if (wsh_options()->symbolize) symbolize(&z);

    out_printf(&o,
               PREFIX "heap statistics by creation site (WSHEAP_STATS=1), pid %ld: %zu site%s, "
                      "%" PRIu64 " heap%s created, %" PRIu64 " live\n",
               (long)getpid(), n_views, plural(n_views), created, plural(created), live);
    out_printf(&o, PREFIX "site  heaps  live     allocs  resets   round max   round p95  "
                          "ACTUAL peak  quota  sys allocs  steady  name\n");
    for (size_t i = 0; i < n_views; i++) {
        const struct site_view *v = &views[i];
        const struct totals *t = &v->t;
        char shown[WSH_NAME_SHOWN_MAX];

        wsh_name_escape(v->names[0][0] != '\0' ? v->names[0] : "-", shown, sizeof shown);
        out_printf(&o,
                   PREFIX "%4u %6" PRIu64 " %5" PRIu64 " %10" PRIu64 " %7" PRIu64
                          " %11zu %11zu %12zu %6" PRIu64 " %11" PRIu64 " %7" PRIu64 "  %s%s\n",
                   v->number, t->n_created, v->n_live, t->n_allocs, t->n_resets, t->round_max,
                   percentile(&t->requested, t->n_rounds, 95, t->round_max), t->actual_peak,
                   t->n_quota_failures, t->n_sys_allocs, t->n_sys_steady, shown,
                   v->names[1][0] != '\0' ? " ..." : "");
    }
    for (size_t i = 0; i < n_views; i++) {
        const struct site_view *v = &views[i];

        out_printf(&o, PREFIX "site %u: ", v->number);
        out_names(&o, v);
        out_printf(&o, " (%s), created with maxSize %zu, trimSize %zu%s\n", v->backend, v->max_size,
                   v->trim_size, v->sizes_vary ? " (and other sizes)" : "");
        out_printf(&o,
                   PREFIX "  %" PRIu64 " round%s with allocations; %" PRIu64
                          " system allocation%s, %" PRIu64
                          " of them after each heap's first round\n",
                   v->t.n_rounds, plural(v->t.n_rounds), v->t.n_sys_allocs,
                   plural(v->t.n_sys_allocs), v->t.n_sys_steady);
        out_suggestion(&o, v);
        out_printf(&o, PREFIX "  created at:\n");
        if (first != NULL && n_frames != NULL) out_frames(&o, &z, first[i], n_frames[i]);
    }
    out_printf(&o, PREFIX "END heap statistics\n");
    out_write(&o, fd);
    free_symbolizer(&z);
    free(first);
    free(n_frames);
    free(views);
}

/* --- The leak report -------------------------------------------------------------------------- */

struct leak {
    unsigned site;
    uint32_t stack;
    uintptr_t handle;
    char name[WSHEAP_NAME_MAX];
    const char *backend;
    size_t max_size, trim_size, requested, actual;
    uint32_t n_resets;
    int32_t tid;
};

/* Lists the live heaps, site by site in creation order; *n_out is the count. */
static struct leak *snapshot_leaks(size_t *n_out)
{
    struct leak *leaks = NULL;
    size_t n = 0, cap = 0;

    lock_registry();
    for (struct site *s = sites_first; s != NULL; s = s->next_made) {
        for (struct wsh_heap_stats *h = s->live; h != NULL; h = h->next) {
            struct wsh_heap *heap = h->heap;
            struct leak *l;

            if (n == cap) {
                struct leak *grown = realloc(leaks, (cap ? cap * 2 : 16) * sizeof *grown);

                if (grown == NULL) goto out;
                leaks = grown;
                cap = cap ? cap * 2 : 16;
            }
            l = &leaks[n++];
            l->site = s->number;
            l->stack = s->stack;
            l->handle = (uintptr_t)heap;
            wsh_name_copy(heap, l->name, true); /* its owner may be renaming it */
            l->backend = heap->ops->name;
            l->max_size = heap->max_size;
            l->trim_size = heap->trim_size;
            l->requested = heap->requested_size;
            l->actual = heap->ops->actual_size(heap);
            l->n_resets = heap->n_resets;
            l->tid = h->tid;
        }
    }
out:
    unlock_registry();
    *n_out = n;
    return leaks;
}

/* Prints the heaps never freed; returns how many there are (nothing is printed for none). */
static size_t print_leaks(int fd)
{
    struct symbolizer z = {0};
    struct out o = {0};
    size_t n, held = 0;
    struct leak *leaks = snapshot_leaks(&n);
    size_t *first = calloc(n + 1, sizeof *first), *n_frames = calloc(n + 1, sizeof *n_frames);

    if (n == 0 || first == NULL || n_frames == NULL) goto done;
    for (size_t i = 0; i < n; i++) {
        held += leaks[i].actual;
        if (i == 0 || leaks[i].site != leaks[i - 1].site)
            first[i] = add_stack(&z, leaks[i].stack, &n_frames[i]);
    }
    if (wsh_options()->symbolize) symbolize(&z);

    out_printf(&o,
               PREFIX "LEAK: %zu heap%s never freed, holding %zu bytes (WSHEAP_LEAKS=1), pid %ld\n",
               n, n == 1 ? "" : "s", held, (long)getpid());
    for (size_t i = 0; i < n;) {
        size_t end = i, site_held = 0;

        while (end < n && leaks[end].site == leaks[i].site)
            site_held += leaks[end++].actual;
        out_printf(&o, PREFIX "site %u: %zu heap%s never freed, holding %zu bytes\n", leaks[i].site,
                   end - i, end - i == 1 ? "" : "s", site_held);
        for (size_t k = i; k < end && k < i + LEAKS_LISTED; k++) {
            const struct leak *l = &leaks[k];
            char shown[WSH_NAME_SHOWN_MAX];

            out_printf(&o, PREFIX "  heap 0x%" PRIxPTR, l->handle);
            wsh_name_escape(l->name, shown, sizeof shown);
            if (l->name[0] != '\0') out_printf(&o, " \"%s\"", shown);
            out_printf(&o,
                       " (%s): maxSize %zu, trimSize %zu, REQUESTED_SIZE %zu, ACTUAL_SIZE %zu, "
                       "%" PRIu32 " reset%s, created by thread %" PRId32 "\n",
                       l->backend, l->max_size, l->trim_size, l->requested, l->actual, l->n_resets,
                       plural(l->n_resets), l->tid);
        }
        if (end - i > LEAKS_LISTED)
            out_printf(&o, PREFIX "  ... and %zu more\n", end - i - LEAKS_LISTED);
        out_printf(&o, PREFIX "  created at:\n");
        out_frames(&o, &z, first[i], n_frames[i]);
        i = end;
    }
    out_printf(&o, PREFIX "END leak report\n");
    out_write(&o, fd);
done:
    free_symbolizer(&z);
    free(first);
    free(n_frames);
    free(leaks);
    return n;
}

/* --- Entry points ----------------------------------------------------------------------------- */

HRESULT wsheap_print_stats(int fd)
{
    if (fd < 0) return E_INVALIDARG;
    if (!wsh_options()->stats) return WS_E_INVALID_OPERATION;
    print_stats(fd);
    return S_OK;
}

/*
 * At exit: the statistics, then the leak report. A destructor rather than atexit, so that it
 * runs after the program's own atexit handlers and destructors (which may free heaps): the
 * library's destructors run after the program's. With WSHEAP_LEAKS_EXITCODE set and a leak
 * found, the process ends here with that status (stdio flushed; later destructors skipped).
 */
__attribute__((destructor)) static void stats_at_exit(void)
{
    const struct wsh_options *options;

    if (!atomic_load(&registry_started)) return;
    options = wsh_options();
    if (options->stats) print_stats(STDERR_FILENO);
    if (options->leaks && print_leaks(STDERR_FILENO) > 0 && options->leaks_exitcode != 0) {
        fflush(NULL);
        _exit((int)options->leaks_exitcode);
    }
}
