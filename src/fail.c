/* SPDX-License-Identifier: MIT */
/*
 * Failure injection (fail.h): counts the WsAlloc and WsCreateHeap calls the public layer asks
 * about, names their call sites, decides which fail (WSHEAP_FAIL_AT, _SITE, _KIND,
 * _PERSISTENT), appends each injected failure with its stack to WSHEAP_FAIL_LOG, and writes the
 * call sites seen to WSHEAP_FAIL_RECORD at exit. Stacks are kept in the stack depot; the site
 * table (id -> first stack, calls, kind) is under one leaf lock. Frames are printed by the one
 * frame printer and symbolized by the one symbolizer (stack/symbolize.h), through the one
 * output sink (out.h).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fail.h"
#include "internal.h"
#include "mutex.h"
#include "os.h"
#include "out.h"
#include "stack/modules.h"
#include "stack/stack.h"
#include "stack/symbolize.h"

#define SITE_DEPTH      8  /* frames that name a call site (the interface says so) */
#define CALIBRATE_DEPTH 32 /* frames captured while finding wsheap's own frames */
#define SITE_BUCKETS    256
#define SYMBOLIZE_MS    10000 /* addr2line runs for one log entry or one record batch */
#define WRITE_BUDGET_MS 10000
#define LOG_ENTRY_MAX   16384 /* one log entry, written with one write(2) */

enum call_kind { CALL_ALLOC, CALL_CREATE };

static const char *const kind_names[] = {"alloc", "create"};

/* Why a kind fails for good (WSHEAP_FAIL_PERSISTENT): 0 not yet, else an index in causes. */
static const char *const causes[] = {NULL, "WSHEAP_FAIL_AT", "WSHEAP_FAIL_SITE"};

/* Every call site seen; never freed (their stacks live in the depot too). */
struct site {
    struct site *next;      /* hash chain */
    struct site *next_seen; /* every site, in order of first appearance */
    uint64_t id;
    uint32_t stack; /* depot handle of its first call's stack */
    enum call_kind kind;
    uint64_t calls;
};

static struct wsh_mutex *const sites_lock = &wsh_mutexes[WSH_MUTEX_FAIL];
static struct site *site_buckets[SITE_BUCKETS];
static struct site *sites_first, **sites_tail = &sites_first;
static size_t n_sites;
static atomic_bool sites_started; /* a site was noted: the exit record has work */

static atomic_uint_fast64_t n_calls[2], n_calls_both; /* counted calls, by kind and together */
static atomic_int failing[2];                         /* persistent failure: index in causes */

/* --- Call sites ------------------------------------------------------------------------------- */

/*
 * wsheap's own frames above the caller of WsAlloc / WsCreateHeap differ between builds (WsAlloc
 * tail-calls its slow path when optimised, sanitizers add none or some), so they are counted
 * once per process rather than assumed: probe() calls each function as a program would, while
 * `calibrating` makes decide() measure where probe's frame is in the stack it captures and fail
 * the call at once. frames_above[kind] is then the number of frames, from decide's outwards,
 * that lie above the caller (the fallback values are those of an optimised build).
 */
static size_t frames_above[2] = {3, 2};
static _Thread_local bool calibrating;
static uintptr_t probe_return; /* probe's return address: the frame just above probe's */
static pthread_once_t calibrate_once = PTHREAD_ONCE_INIT;
static struct wsh_heap probe_heap; /* a live heap with an empty window, never allocated from */

static __attribute__((noinline, noclone)) void probe(enum call_kind kind)
{
    WS_HEAP *heap;
    void *p;

    probe_return = (uintptr_t)__builtin_return_address(0);
    if (kind == CALL_ALLOC)
        (void)WsAlloc((WS_HEAP *)&probe_heap, 1, &p, NULL);
    else
        (void)WsCreateHeap(0, 0, NULL, 0, &heap, NULL);
    __asm__ volatile("" ::: "memory"); /* no tail call: probe's frame stays */
}

static void calibrate(void)
{
    wsh_stack_init();
    probe_heap.magic = WSH_HEAP_MAGIC;
    probe_heap.ops = &wsh_arena_ops;
    probe_heap.inject = true;
    calibrating = true;
    probe(CALL_ALLOC);
    probe(CALL_CREATE);
    calibrating = false;
}

/* For probe()'s call of `kind`: finds probe's frame in `stack`, which decide() captured from
 * its own frame outwards. */
static void measure(enum call_kind kind, uint32_t stack)
{
    const uintptr_t *pcs;
    size_t n = wsh_depot_get(stack, &pcs);

    for (size_t j = 1; j < n; j++)
        if (pcs[j] == probe_return) {
            frames_above[kind] = j - 1;
            return;
        }
}

/* FNV-1a, 64 bits. */
static uint64_t hash_bytes(uint64_t h, const void *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= ((const unsigned char *)data)[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The id of depot stack `stack`: a hash of (module file name, offset) for each frame, which
 * address-space layout does not change; a frame in no known module adds its address. */
static uint64_t site_id(uint32_t stack)
{
    const uintptr_t *pcs;
    uint32_t ids[WSH_STACK_MAX] = {0};
    size_t n = wsh_depot_get(stack, &pcs);
    uint64_t h = 0xcbf29ce484222325ull;

    wsh_depot_get_modules(stack, ids, WSH_STACK_MAX);
    for (size_t i = 0; i < n; i++) {
        const struct wsh_module *m = wsh_modules_get(ids[i]);
        uint64_t offset = m != NULL ? pcs[i] - m->base : pcs[i];
        const char *slash = m != NULL ? strrchr(m->path, '/') : NULL;
        const char *name = m == NULL ? "?" : slash != NULL ? slash + 1 : m->path;

        h = hash_bytes(h, name, strlen(name) + 1);
        h = hash_bytes(h, &offset, sizeof offset);
    }
    return h;
}

/* Counts a call from site `id` (made on first sight, with `stack`); true when it is the site's
 * first call. Out of memory, the site is not kept and every call counts as a later one. */
static bool note_site(uint64_t id, uint32_t stack, enum call_kind kind)
{
    struct site **bucket = &site_buckets[id % SITE_BUCKETS], *s;
    bool first = false;

    atomic_store(&sites_started, true);
    wsh_mutex_lock(sites_lock);
    for (s = *bucket; s != NULL && s->id != id; s = s->next)
        ;
    if (s == NULL && (s = calloc(1, sizeof *s)) != NULL) {
        s->id = id;
        s->stack = stack;
        s->kind = kind;
        s->next = *bucket;
        *bucket = s;
        *sites_tail = s;
        sites_tail = &s->next_seen;
        n_sites++;
        first = true;
    }
    if (s != NULL) s->calls++;
    wsh_mutex_unlock(sites_lock);
    return first;
}

/* --- The log ---------------------------------------------------------------------------------- */

/* Set once the first entry of this process has been symbolized. A persistent failure injects
 * hundreds of times, and an addr2line run costs tens of milliseconds: later entries keep their
 * frames raw (module+offset; tools/wsheap-symbolize adds names), which the sweep needs no more. */
static atomic_bool log_symbolized;

/* Appends one entry for an injected failure to `path`, with one write(2):
 *   injected <oom|quota> <alloc|create> call <N> site <ID> pid <PID>
 *     #0 0xPC in FUNC FILE:LINE (MODULE+0xOFF)   (one line per frame; names for the first)
 *   end */
static void log_failure(const char *path, HRESULT hr, enum call_kind kind, uint64_t number,
                        uint64_t id, uint32_t stack)
{
    struct wsh_symbolizer *z = wsh_sym_map();
    char *entry = malloc(LOG_ENTRY_MAX);
    struct wsh_out o;
    size_t first = 0, n = 0, len;
    int fd;

    if (entry == NULL) goto done;
    if (z != NULL) {
        first = wsh_sym_add_depot(z, stack, &n);
        wsh_sym_find_modules(z);
        if (wsh_options()->symbolize &&
            !atomic_exchange_explicit(&log_symbolized, true, memory_order_relaxed))
            wsh_sym_symbolize(z, SYMBOLIZE_MS);
    }
    wsh_out_start_string(&o, entry, LOG_ENTRY_MAX);
    wsh_out_printf(&o, "injected %s %s call %" PRIu64 " site %016" PRIx64 " pid %ld\n",
                   hr == WS_E_QUOTA_EXCEEDED ? "quota" : "oom", kind_names[kind], number, id,
                   (long)getpid());
    if (z != NULL) wsh_sym_print(&o, z, first, n, "  ");
    wsh_out_str(&o, "end\n");
    len = wsh_out_length(&o) < LOG_ENTRY_MAX ? wsh_out_length(&o) : LOG_ENTRY_MAX - 1;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, entry, len) != (ssize_t)len) wsh_warn("WSHEAP_FAIL_LOG: short write");
        close(fd);
    } else {
        wsh_warn("WSHEAP_FAIL_LOG: cannot open the file");
    }
done:
    free(entry);
    wsh_sym_unmap(z);
}

/* --- Deciding --------------------------------------------------------------------------------- */

/* True when WSHEAP_FAIL_AT's selection counts calls of `kind`. */
static bool at_counts(enum wsh_fail_calls calls, enum call_kind kind)
{
    return calls == WSH_FAIL_CALLS_ALL ||
           (calls == WSH_FAIL_CALLS_ALLOC ? kind == CALL_ALLOC : kind == CALL_CREATE);
}

static WSH_NOINLINE const char *decide(enum call_kind kind, HRESULT *hr)
{
    const struct wsh_options *options = wsh_options();
    const struct wsh_fail_options *f = &options->fail;
    uint64_t number, id = 0;
    uint32_t stack = 0;
    int cause;

    if (calibrating) { /* probe()'s call: the one capture site, as below */
        measure(kind, wsh_stack_record(CALIBRATE_DEPTH, 0));
        *hr = E_OUTOFMEMORY;
        return "calibration";
    }
    pthread_once(&calibrate_once, calibrate);
    number = atomic_fetch_add(&n_calls[kind], 1) + 1;
    if (f->at_calls == WSH_FAIL_CALLS_ALL) number = atomic_fetch_add(&n_calls_both, 1) + 1;
    cause = atomic_load(&failing[kind]);
    if (cause == 0 && f->at != 0 && at_counts(f->at_calls, kind) && number == f->at) cause = 1;
    if (f->site_set || f->record != NULL || (cause != 0 && f->log != NULL)) {
        stack = wsh_stack_record(SITE_DEPTH, frames_above[kind]);
        id = site_id(stack);
        if (note_site(id, stack, kind) && cause == 0 && f->site_set && id == f->site) cause = 2;
    }
    if (cause == 0) return NULL;
    if (f->persistent) {
        atomic_store(&failing[kind], cause);
        if (cause == 1 && f->at_calls == WSH_FAIL_CALLS_ALL) atomic_store(&failing[!kind], cause);
    }
    *hr = kind == CALL_ALLOC && f->quota ? WS_E_QUOTA_EXCEEDED : E_OUTOFMEMORY;
    if (f->log != NULL) log_failure(f->log, *hr, kind, number, id, stack);
    return causes[cause];
}

const char *wsh_inject_alloc(HRESULT *hr)
{
    return decide(CALL_ALLOC, hr);
}

const char *wsh_inject_create(void)
{
    HRESULT hr;

    return decide(CALL_CREATE, &hr);
}

/* --- The record ------------------------------------------------------------------------------- */

struct site_view {
    uint64_t id, calls;
    uint32_t stack;
    enum call_kind kind;
    size_t frame; /* its first frame in the symbolizer; SIZE_MAX: none */
};

/* Writes `text` with every space as "_", or "?" for NULL or "": a field of a record line. */
static void out_field(struct wsh_out *o, const char *text)
{
    if (text == NULL || text[0] == '\0') text = "?";
    for (; *text != '\0'; text++)
        wsh_out_mem(o, *text == ' ' || *text == '\t' ? "_" : text, 1);
}

/* One record line: "site <ID> <alloc|create> <calls> <function> <location>". */
static void out_site(struct wsh_out *o, const struct wsh_symbolizer *z, const struct site_view *v)
{
    const struct wsh_sym_frame *fr =
        z != NULL && v->frame != SIZE_MAX ? &z->frames[v->frame] : NULL;
    const struct wsh_sym_name *name =
        fr != NULL && fr->n_names > 0 ? &z->names[fr->first_name] : NULL;

    wsh_out_printf(o, "site %016" PRIx64 " %s %" PRIu64 " ", v->id, kind_names[v->kind], v->calls);
    out_field(o, name != NULL && name->func != UINT32_MAX ? z->pool + name->func : NULL);
    wsh_out_str(o, " ");
    if (name != NULL && name->loc != UINT32_MAX) {
        out_field(o, z->pool + name->loc);
    } else if (fr != NULL && fr->module >= 0) {
        const char *path = z->modules[fr->module].path, *slash = strrchr(path, '/');

        out_field(o, slash != NULL ? slash + 1 : path);
        wsh_out_str(o, "+");
        wsh_out_hex(o, fr->pc - z->modules[fr->module].base);
    } else {
        out_field(o, NULL);
    }
    wsh_out_line(o);
}

static void write_record(const char *path)
{
    struct site_view *views;
    struct wsh_symbolizer *z = wsh_sym_map(); /* NULL: lines without names */
    struct wsh_out o;
    size_t n = 0;
    int fd;

    wsh_mutex_lock(sites_lock);
    views = n_sites > 0 ? calloc(n_sites, sizeof *views) : NULL;
    for (struct site *s = sites_first; views != NULL && s != NULL; s = s->next_seen, n++) {
        views[n].id = s->id;
        views[n].calls = s->calls;
        views[n].stack = s->stack;
        views[n].kind = s->kind;
        views[n].frame = SIZE_MAX;
    }
    wsh_mutex_unlock(sites_lock);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        wsh_warn("WSHEAP_FAIL_RECORD: cannot open the file");
        goto done;
    }
    wsh_out_start_fd(&o, fd, WRITE_BUDGET_MS);
    for (size_t i = 0, end = 0; i < n; i = end) {
        if (z != NULL) { /* the next batch: the first frame of as many sites as fit */
            wsh_sym_reset(z);
            for (; end < n && wsh_sym_room(z) > 0; end++) {
                const uintptr_t *pcs;
                uint32_t id = 0;

                if (wsh_depot_get(views[end].stack, &pcs) == 0) continue;
                wsh_depot_get_modules(views[end].stack, &id, 1);
                views[end].frame = wsh_sym_add(z, pcs, &id, 1, WSH_SYM_RETURNS);
            }
            wsh_sym_find_modules(z);
            if (wsh_options()->symbolize && !o.stopped) wsh_sym_symbolize(z, SYMBOLIZE_MS);
            wsh_out_extend(&o, WRITE_BUDGET_MS);
        } else {
            end = n;
        }
        for (; i < end; i++)
            out_site(&o, z, &views[i]);
    }
    wsh_out_flush(&o);
    close(fd);
done:
    wsh_sym_unmap(z);
    free(views);
}

/* At exit (a destructor, as the statistics): the call sites seen, when WSHEAP_FAIL_RECORD asks
 * for them. A process that ends with _exit writes no record. */
__attribute__((destructor)) static void record_at_exit(void)
{
    const char *path;

    if (!atomic_load(&sites_started)) return;
    path = wsh_options()->fail.record;
    if (path != NULL) write_record(path);
}
