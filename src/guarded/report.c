/* SPDX-License-Identifier: MIT */
/*
 * The fault report: an async-signal-safe writer that turns a struct wsh_fault into a report
 * through the output sink (src/out.h), with its frames found, symbolized and printed by the
 * stack service's symbolizer (src/stack/symbolize.h) in static storage. A report is text
 * (ending with a SUMMARY line) or one JSON object (report_json.c), written to stderr or to
 * WSHEAP_LOG_PATH's file, and handed whole to the crash-reporter callback when one is set.
 * One report at a time (report_owner); in keep-going mode (recover.c) each distinct error gets
 * one, repeats and suppressed errors are counted. It runs on a stack of its own.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../debug_info.h"
#include "../os.h"
#include "../out.h"
#include "../sample.h"
#include "../stack/symbolize.h"
#include "../suppress.h"
#include "guarded.h"
#include "report.h"

/* A report's writes are bounded in time (the header, then the stacks after the addr2line runs,
 * which have a bound of their own): stderr may be a pipe that nobody reads, and a report that
 * cannot be written must not keep the process from dying. */
#define WRITE_BUDGET_MS      5000 /* for the header, then again for the stacks */
#define REENTRY_BUDGET_MS    1000 /* for the one line about a fault while writing a report */
#define SYMBOLIZE_TIMEOUT_MS 5000 /* for all addr2line runs of a report together */
#define ACCESS_FRAMES        32
#define CALLBACK_TEXT_MAX    ((size_t)64 << 10) /* the callback's copies of a report */
#define CALLBACK_JSON_MAX    ((size_t)64 << 10)

/* Test hook called after each line of a report is written (wsh_report_test_set_line_hook). */
static void (*_Atomic line_hook)(void);

/* The crash reporter's callback (wsheap_set_report_callback) and its argument, published
 * together: the handler reads the pair it was set as. */
struct callback {
    wsheap_report_callback fn;
    void *arg;
};
static struct callback callbacks[2];
static _Atomic int callback_current = -1; /* index in callbacks[], -1: none */
static pthread_mutex_t callback_lock = PTHREAD_MUTEX_INITIALIZER;

/* The report's frames, modules and symbols, and the callback's copies of its text and JSON:
 * static, because the signal stack is small; one report is written at a time (report_owner). */
static struct wsh_symbolizer sym;
static char callback_text[CALLBACK_TEXT_MAX];
static char callback_json[CALLBACK_JSON_MAX];

struct wsh_report_config wsh_report_config = {NULL, false, true, -1};

/* --- The report ------------------------------------------------------------------------------- */

const char *wsh_fault_kind_name(enum wsh_fault_kind kind)
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

/* The heap a report names: the arena heap whose sampled block this is (sample.h), else the
 * guarded heap itself. */
static void out_heap(struct wsh_out *o, const struct wsh_fault *f)
{
    struct wsh_sample_info info;

    wsh_out_str(o, "heap ");
    wsh_out_hex(o, wsh_sample_lookup(f->heap, &info) ? info.heap : f->heap);
    if (f->heap_name[0] != '\0') {
        char shown[WSH_NAME_SHOWN_MAX]; /* escaped: a name cannot forge or colour a line */

        wsh_name_escape(f->heap_name, shown, sizeof shown);
        wsh_out_str(o, " \"");
        wsh_out_str(o, shown);
        wsh_out_str(o, "\"");
    }
}

/* "block+13" / "block-3" */
static void out_block_offset(struct wsh_out *o, uintptr_t addr, uintptr_t user)
{
    wsh_out_str(o, addr >= user ? "block+" : "block-");
    wsh_out_dec(o, addr >= user ? addr - user : user - addr);
}

/* The corrupted bytes, KFENCE-style: a window of up to 24 pattern bytes from a little before
 * the first corrupted one; "expected" shows the pattern, "actual" shows changed bytes in hex
 * and unchanged ones as "..":
 *   ==wsheap==   block+13 expected: cd ce cf
 *   ==wsheap==   block+13 actual:   68 .. ..                                                  */
static void out_corruption(struct wsh_out *o, const struct wsh_fault *f)
{
    uintptr_t lo = f->bad_lo >= f->check_lo + 8 ? f->bad_lo - 8 : f->check_lo;
    uintptr_t hi = lo + 24 < f->check_hi ? lo + 24 : f->check_hi;
    uint8_t bytes[24];
    size_t n = hi - lo;

    wsh_os_safe_read(bytes, (const void *)lo, n);
    wsh_out_prefix(o);
    wsh_out_dec(o, f->n_bad);
    wsh_out_str(o, f->n_bad == 1 ? " byte" : " bytes");
    wsh_out_str(o, " of the ");
    wsh_out_dec(o, f->check_hi - f->check_lo);
    wsh_out_str(o, f->check_lo >= f->block.user ? " pattern bytes after the block"
                                                : " pattern bytes before the block");
    wsh_out_str(o, " changed, at ");
    out_block_offset(o, f->bad_lo, f->block.user);
    if (f->bad_hi - f->bad_lo > 1) {
        wsh_out_str(o, " .. ");
        out_block_offset(o, f->bad_hi - 1, f->block.user);
    }
    wsh_out_str(o, ":");
    wsh_out_line(o);
    wsh_out_prefix(o);
    wsh_out_str(o, "  ");
    out_block_offset(o, lo, f->block.user);
    wsh_out_str(o, " expected:");
    for (size_t i = 0; i < n; i++) {
        wsh_out_str(o, " ");
        wsh_out_byte(o, wsh_canary_byte(lo + i));
    }
    wsh_out_line(o);
    wsh_out_prefix(o);
    wsh_out_str(o, "  ");
    out_block_offset(o, lo, f->block.user);
    wsh_out_str(o, " actual:  ");
    for (size_t i = 0; i < n; i++) {
        wsh_out_str(o, " ");
        if (bytes[i] == wsh_canary_byte(lo + i))
            wsh_out_str(o, "..");
        else
            wsh_out_byte(o, bytes[i]);
    }
    if (f->bad_hi > hi) wsh_out_str(o, " ...");
    wsh_out_line(o);
}

/* concurrent-use names the heap and both threads on the first line, which is what one greps
 * for; there is no address or block to describe. */
static void out_concurrent_header(struct wsh_out *o, const struct wsh_fault *f)
{
    wsh_out_prefix(o);
    wsh_out_str(o, "ERROR: ");
    wsh_out_str(o, wsh_fault_kind_name(f->kind));
    wsh_out_str(o, " of ");
    out_heap(o, f);
    wsh_out_str(o, " by thread ");
    wsh_out_dec(o, (uint64_t)(uint32_t)f->release_tid);
    wsh_out_str(o, " in ");
    wsh_out_str(o, f->found_by);
    wsh_out_str(o, " while thread ");
    wsh_out_dec(o, (uint64_t)(uint32_t)f->other_tid);
    wsh_out_str(o, " is inside ");
    wsh_out_str(o, f->other_call);
    wsh_out_line(o);
    wsh_out_prefix(o);
    wsh_out_str(o, "a heap is used by one thread at a time: calls on it must not overlap "
                   "(backend guarded)");
    wsh_out_line(o);
}

/* " (backend guarded<note>)", or for a block an arena heap sampled (sample.h) " (backend arena,
 * sampled: 1 block per ~N bytes, 1 round in ~M on guard pages<note>)" (either rate alone when
 * the other is off). */
static void out_backend(struct wsh_out *o, const struct wsh_fault *f, const char *note)
{
    struct wsh_sample_info info;

    if (wsh_sample_lookup(f->heap, &info)) {
        wsh_out_str(o, " (backend arena, sampled: ");
        if (info.mean != 0) {
            wsh_out_str(o, "1 block per ~");
            wsh_out_dec(o, info.mean);
            wsh_out_str(o, info.rounds != 0 ? " bytes, " : " bytes");
        }
        if (info.rounds != 0) {
            wsh_out_str(o, "1 round in ~");
            wsh_out_dec(o, info.rounds);
        }
        wsh_out_str(o, " on guard pages");
    } else {
        wsh_out_str(o, " (backend guarded");
    }
    wsh_out_str(o, note);
    wsh_out_str(o, ")");
}

static void out_header(struct wsh_out *o, const struct wsh_fault *f)
{
    if (f->kind == WSH_FAULT_CONCURRENT_USE) {
        out_concurrent_header(o, f);
        return;
    }
    wsh_out_prefix(o);
    wsh_out_str(o, "ERROR: ");
    wsh_out_str(o, wsh_fault_kind_name(f->kind));
    if (f->access != 0) wsh_out_str(o, f->access == 2 ? " WRITE" : " READ");
    wsh_out_str(o, " at ");
    wsh_out_hex(o, f->addr);
    if (f->found_by != NULL) {
        wsh_out_str(o, " found by ");
        wsh_out_str(o, f->found_by);
    }
    if (is_corruption(f) && f->n_corrupted > 1) { /* the block shown has the lowest ordinal */
        wsh_out_str(o, " (");
        wsh_out_dec(o, f->n_corrupted);
        wsh_out_str(o, " corrupted blocks; the first is shown)");
    }
    wsh_out_line(o);

    wsh_out_prefix(o);
    if (f->has_block) {
        wsh_out_dec(o, f->distance);
        wsh_out_str(o, f->distance == 1 ? " byte " : " bytes ");
        wsh_out_str(o, f->where == WSH_WHERE_INSIDE  ? "inside"
                       : f->where == WSH_WHERE_RIGHT ? "to the right of"
                                                     : "to the left of");
        wsh_out_str(o, " a ");
        wsh_out_dec(o, f->block.size);
        wsh_out_str(o, "-byte block #");
        wsh_out_dec(o, f->block.ordinal);
        wsh_out_str(o, " from WsAlloc on ");
        out_heap(o, f);
        out_backend(o, f, f->redzone ? ", redzone-only block" : "");
    } else if (f->where == WSH_WHERE_HEAP_OBJECT) {
        wsh_out_dec(o, f->distance);
        wsh_out_str(o, f->distance == 1 ? " byte inside the object of "
                                        : " bytes inside the object of ");
        out_heap(o, f);
        wsh_out_str(o, ", a heap freed by WsFreeHeap");
        out_backend(o, f, "");
    } else {
        wsh_out_str(o, "guarded memory of ");
        out_heap(o, f);
        wsh_out_str(o, " that belongs to no block");
        out_backend(o, f, "");
    }
    wsh_out_line(o);

    if (is_corruption(f)) out_corruption(o, f);
}

static void out_section_title(struct wsh_out *o, const struct wsh_report_section *sec,
                              const struct wsh_fault *f)
{
    wsh_out_prefix(o);
    switch (sec->role) {
    case WSH_SECTION_ACCESS:
        wsh_out_str(o, "access by thread ");
        break;
    case WSH_SECTION_FOUND:
        if (f->kind == WSH_FAULT_CONCURRENT_USE) {
            wsh_out_str(o, f->found_by);
            wsh_out_str(o, " called by thread ");
            break;
        }
        wsh_out_str(o, "found by ");
        wsh_out_str(o, f->found_by);
        wsh_out_str(o, " in thread ");
        break;
    case WSH_SECTION_ALLOC:
        wsh_out_str(o, "block allocated by thread ");
        break;
    case WSH_SECTION_RELEASE:
        if (f->kind == WSH_FAULT_USE_AFTER_RESET) {
            wsh_out_str(o, "block released by WsResetHeap (reset #");
            wsh_out_dec(o, f->release_reset);
            wsh_out_str(o, " of the heap) in thread ");
        } else {
            wsh_out_str(o, "block released by WsFreeHeap in thread ");
        }
        break;
    case WSH_SECTION_FREED:
        wsh_out_str(o, "heap freed by WsFreeHeap in thread ");
        break;
    case WSH_SECTION_CREATE: {
        struct wsh_sample_info info;

        /* A sampling arena heap's guard pages are set up at its first sampled WsAlloc. */
        wsh_out_str(o, wsh_sample_lookup(f->heap, &info)
                           ? "heap's guard pages set up (first sampled block) by thread "
                           : "heap created by thread ");
        break;
    }
    }
    wsh_out_dec(o, (uint64_t)(uint32_t)sec->tid);
    wsh_out_str(o, ":");
    wsh_out_line(o);
}

/* Adds a depot stack as a section, with the modules noted when it was stored. */
static void add_depot_section(struct wsh_report_section *sec, enum wsh_section_role role,
                              uint32_t handle, int32_t tid)
{
    sec->role = role;
    sec->tid = tid;
    sec->first = wsh_sym_add_depot(&sym, handle, &sec->n);
}

/* Gathers the stacks of the report for `f` into `sym` (at most 4 sections); returns how many. */
static size_t gather_sections(const struct wsh_fault *f, void *ucontext,
                              struct wsh_report_section *sections)
{
    size_t n_sections = 0;

    if (ucontext != NULL) {
        uintptr_t pcs[ACCESS_FRAMES];
        size_t n = wsh_stack_unwind_signal(ucontext, pcs, ACCESS_FRAMES);

        sections[n_sections].role = WSH_SECTION_ACCESS;
        sections[n_sections].tid = wsh_os_thread_id(); /* a raw gettid: no once, no TLS */
        sections[n_sections].first = wsh_sym_add(&sym, pcs, NULL, n, WSH_SYM_FAULT_FIRST);
        sections[n_sections].n = sym.n_frames - sections[n_sections].first;
        n_sections++;
    } else if (f->found_by != NULL) {
        add_depot_section(&sections[n_sections++], WSH_SECTION_FOUND, f->release_stack,
                          f->release_tid);
    }
    if (f->has_block)
        add_depot_section(&sections[n_sections++], WSH_SECTION_ALLOC, f->block.alloc_stack,
                          f->block.tid);
    if (f->has_block &&
        (f->kind == WSH_FAULT_USE_AFTER_RESET || f->kind == WSH_FAULT_USE_AFTER_FREE))
        add_depot_section(&sections[n_sections++], WSH_SECTION_RELEASE, f->release_stack,
                          f->release_tid);
    if (!f->has_block && f->kind == WSH_FAULT_USE_AFTER_FREE)
        add_depot_section(&sections[n_sections++], WSH_SECTION_FREED, f->release_stack,
                          f->release_tid);
    if (!f->has_block)
        add_depot_section(&sections[n_sections++], WSH_SECTION_CREATE, f->create_stack,
                          f->create_tid);
    return n_sections;
}

static size_t text_length(const char *s)
{
    size_t n = 0;

    while (s[n] != '\0')
        n++;
    return n;
}

/* --- Dedup key and the SUMMARY frame ---------------------------------------------------------- */

/* libwsheap.so's module (wsh_report_find_self): its path and load address; self_shared false
 * when the library is linked into the program (then its frames are told by their names). */
static char self_path[WSH_SYM_PATH_MAX];
static uintptr_t self_base;
static bool self_shared;

void wsh_report_find_self(void)
{
    Dl_info self, program;
    const void *phdr = (const void *)getauxval(AT_PHDR);

    if (dladdr((void *)wsh_report_find_self, &self) == 0 || self.dli_fname == NULL) return;
    self_base = (uintptr_t)self.dli_fbase;
    self_shared =
        phdr == NULL || dladdr(phdr, &program) == 0 || program.dli_fbase != self.dli_fbase;
    for (size_t i = 0; i + 1 < sizeof self_path && self.dli_fname[i] != '\0'; i++)
        self_path[i] = self.dli_fname[i], self_path[i + 1] = '\0';
}

static bool starts_with(const char *s, const char *prefix)
{
    while (*prefix != '\0')
        if (*s++ != *prefix++) return false;
    return true;
}

static bool same_text(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Whether frame `i` is in wsheap's own code (see wsh_report_summary_frame). */
static bool frame_is_ours(const struct wsh_report *r, size_t i)
{
    const struct wsh_sym_frame *fr = &r->sym->frames[i];

    if (self_shared && fr->module >= 0) {
        const struct wsh_sym_module *m = &r->sym->modules[fr->module];

        if (m->base == self_base || same_text(m->path, self_path)) return true;
    }
    for (uint32_t k = 0; k < fr->n_names; k++) {
        const struct wsh_sym_name *name = &r->sym->names[fr->first_name + k];
        const char *func = name->func != UINT32_MAX ? r->sym->pool + name->func : "";

        if (starts_with(func, "wsh_") || starts_with(func, "wsheap_") ||
            (func[0] == 'W' && func[1] == 's' && func[2] >= 'A' && func[2] <= 'Z'))
            return true;
    }
    return false;
}

/* The section a SUMMARY line and the dedup key start from: the access, or the call that found
 * the error; NULL when there is neither. */
static const struct wsh_report_section *first_section(const struct wsh_report *r)
{
    return r->n_sections > 0 && (r->sections[0].role == WSH_SECTION_ACCESS ||
                                 r->sections[0].role == WSH_SECTION_FOUND)
               ? &r->sections[0]
               : NULL;
}

static const struct wsh_report_section *alloc_section(const struct wsh_report *r)
{
    for (size_t i = 0; i < r->n_sections; i++)
        if (r->sections[i].role == WSH_SECTION_ALLOC) return &r->sections[i];
    return NULL;
}

long wsh_report_summary_frame(const struct wsh_report *r)
{
    const struct wsh_report_section *secs[2] = {first_section(r), alloc_section(r)};

    for (size_t k = 0; k < 2; k++) {
        if (secs[k] == NULL) continue;
        for (size_t i = secs[k]->first; i < secs[k]->first + secs[k]->n; i++)
            if (!frame_is_ours(r, i)) return (long)i;
    }
    return -1;
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Hashes the top three frames of `sec` outside wsheap (an allocation stack starts with the
 * same frames of WsAlloc for every block): module basename and offset, or the pc. */
static uint64_t hash_frames(uint64_t h, const struct wsh_report *r,
                            const struct wsh_report_section *sec)
{
    size_t n = 0;

    if (sec == NULL) return h;
    for (size_t i = sec->first; i < sec->first + sec->n && n < 3; i++) {
        const struct wsh_sym_frame *fr = &r->sym->frames[i];
        uint64_t where = fr->pc;

        if (frame_is_ours(r, i)) continue;
        n++;

        if (fr->module >= 0) {
            const char *path = r->sym->modules[fr->module].path, *base = path;

            for (const char *c = path; *c != '\0'; c++)
                if (*c == '/') base = c + 1;
            h = fnv_bytes(h, base, text_length(base));
            where = fr->pc - r->sym->modules[fr->module].base;
        }
        h = fnv_bytes(h, &where, sizeof where);
    }
    return h;
}

uint64_t wsh_report_dedup_key(const struct wsh_report *r)
{
    const char *kind = wsh_fault_kind_name(r->f->kind);
    uint64_t h = 0xcbf29ce484222325ull;

    h = fnv_bytes(h, kind, text_length(kind));
    h = hash_frames(h, r, first_section(r));
    h = hash_frames(h, r, alloc_section(r));
    return h;
}

/* The WSHEAP_SUPPRESSIONS line of the first rule that matches a function name or a module
 * basename of the access stack (or the stack that found the error) or the allocation stack;
 * 0 when none does. */
static unsigned suppression_rule(const struct wsh_report *r)
{
    const struct wsh_report_section *secs[2] = {first_section(r), alloc_section(r)};
    const char *kind = wsh_fault_kind_name(r->f->kind);

    for (size_t k = 0; k < 2; k++) {
        if (secs[k] == NULL) continue;
        for (size_t i = secs[k]->first; i < secs[k]->first + secs[k]->n; i++) {
            const struct wsh_sym_frame *fr = &r->sym->frames[i];
            unsigned rule;

            for (uint32_t j = 0; j < fr->n_names; j++) {
                const struct wsh_sym_name *name = &r->sym->names[fr->first_name + j];

                if (name->func == UINT32_MAX) continue;
                rule = wsh_suppress_match(kind, r->sym->pool + name->func);
                if (rule != 0) return rule;
            }
            if (fr->module >= 0) {
                const char *path = r->sym->modules[fr->module].path, *base = path;

                for (const char *c = path; *c != '\0'; c++)
                    if (*c == '/') base = c + 1;
                rule = wsh_suppress_match(kind, base);
                if (rule != 0) return rule;
            }
        }
    }
    return 0;
}

/* The last line of a text report, as sanitizers end theirs:
 *   SUMMARY: wsheap: heap-buffer-overflow /src/parse.c:50 in copy_field
 * naming the first frame outside wsheap; without file:line, its module and offset (as ASan:
 * "(/usr/bin/prog+0x160c) in copy_field"); without a function, no " in ...". */
static void out_summary(struct wsh_out *o, const struct wsh_report *r)
{
    long i = wsh_report_summary_frame(r);
    const struct wsh_sym_frame *fr;
    const struct wsh_sym_name *name = NULL;

    wsh_out_str(o, "SUMMARY: wsheap: ");
    wsh_out_str(o, wsh_fault_kind_name(r->f->kind));
    if (i >= 0) {
        fr = &r->sym->frames[i];
        if (fr->n_names > 0) name = &r->sym->names[fr->first_name];
        if (name != NULL && name->loc != UINT32_MAX) {
            wsh_out_str(o, " ");
            wsh_out_str(o, r->sym->pool + name->loc);
        } else if (fr->module >= 0) {
            wsh_out_str(o, " (");
            wsh_out_str(o, r->sym->modules[fr->module].path);
            wsh_out_str(o, "+");
            wsh_out_hex(o, fr->pc - r->sym->modules[fr->module].base);
            wsh_out_str(o, ")");
        } else {
            wsh_out_str(o, " (");
            wsh_out_hex(o, fr->pc);
            wsh_out_str(o, ")");
        }
        if (name != NULL && name->func != UINT32_MAX) {
            wsh_out_str(o, " in ");
            wsh_out_str(o, r->sym->pool + name->func);
        }
    }
    wsh_out_line(o);
}

/* The text form of `r`. The header goes out before addr2line runs (when `symbolize` and the
 * frames are not symbolized yet): it needs no symbols, and is out even if symbolizing goes
 * wrong. */
static void out_text(struct wsh_out *o, struct wsh_report *r, bool symbolize)
{
    out_header(o, r->f);
    if (symbolize && !r->symbolized && (!o->stopped || o->copy != NULL)) {
        /* Not for output nobody can see (a copy for the callback is seen). */
        wsh_sym_symbolize(&sym, SYMBOLIZE_TIMEOUT_MS);
        wsh_out_extend(o, WRITE_BUDGET_MS); /* the stacks get a budget of their own */
        r->symbolized = true;
    }
    for (size_t i = 0; i < r->n_sections; i++) {
        out_section_title(o, &r->sections[i], r->f);
        wsh_sym_print(o, &sym, r->sections[i].first, r->sections[i].n, "  ");
    }
    wsh_out_prefix(o);
    wsh_out_str(o, "END");
    wsh_out_line(o);
    out_summary(o, r);
}

/* What a report is called in the stderr line that says where it went: "the <kind> report". */
static void report_title(char *buf, size_t size, const struct wsh_fault *f)
{
    struct wsh_out t;

    wsh_out_start_string(&t, buf, size);
    wsh_out_str(&t, "the ");
    wsh_out_str(&t, wsh_fault_kind_name(f->kind));
    wsh_out_str(&t, " report");
}

/* Halt mode: the one line that replaces a suppressed error's report before the process ends
 * (it cannot go on past a fault without keep-going mode). */
static void out_suppressed_halt(const struct wsh_fault *f, unsigned line)
{
    struct wsh_out o;

    wsh_out_start_fd(&o, STDERR_FILENO, REENTRY_BUDGET_MS);
    wsh_out_prefix(&o);
    wsh_out_str(&o, wsh_fault_kind_name(f->kind));
    wsh_out_str(&o, " suppressed (WSHEAP_SUPPRESSIONS line ");
    wsh_out_dec(&o, line);
    wsh_out_str(&o, "); the process ends without a report, as WSHEAP_HALT_ON_ERROR=1 cannot go "
                    "on past an error");
    wsh_out_line(&o);
}

/* The report proper, on the report stack when there is one: gathers and dedups (keep-going
 * mode), checks the suppressions, writes the report to its destination in the chosen form, and
 * hands both forms to the crash reporter's callback. */
static void write_report(const struct wsh_fault *f, void *ucontext, bool symbolize)
{
    static struct wsh_out o;
    static struct wsh_report_section sections[4];
    struct wsh_report r;
    int cb_index = atomic_load_explicit(&callback_current, memory_order_acquire);
    const struct callback *cb = cb_index >= 0 ? &callbacks[cb_index] : NULL;
    bool json = wsh_report_config.json, keep_going = !wsh_report_config.halt;
    enum wsh_seen seen = WSH_SEEN_NEW;
    int fd;
    unsigned rule = 0;
    char title[64];

    wsh_sym_reset(&sym);
    r.f = f;
    r.sym = &sym;
    r.sections = sections;
    r.n_sections = gather_sections(f, ucontext, sections);
    r.symbolized = false;
    wsh_sym_find_modules(&sym);
    r.dedup = wsh_report_dedup_key(&r);

    if (keep_going) seen = wsh_recover_seen(r.dedup);
    if (seen != WSH_SEEN_NEW) { /* a repeat: counted only */
        wsh_recover_count(seen == WSH_SEEN_SUPPRESSED);
        return;
    }
    if (wsh_suppress_active()) {
        /* Patterns match function names: symbolize first (the header then waits for it). */
        if (symbolize) {
            wsh_sym_symbolize(&sym, SYMBOLIZE_TIMEOUT_MS);
            r.symbolized = true;
        }
        rule = suppression_rule(&r);
    }
    if (keep_going) wsh_recover_remember(r.dedup, rule != 0);
    wsh_recover_count(rule != 0);
    if (rule != 0) {
        if (!keep_going) out_suppressed_halt(f, rule);
        return;
    }

    report_title(title, sizeof title, f);
    fd = wsh_out_open_report(wsh_report_config.log_path, title);
    wsh_out_start_fd(&o, fd, WRITE_BUDGET_MS);
    o.line_hook = atomic_load_explicit(&line_hook, memory_order_relaxed);
    if (cb != NULL) {
        callback_text[0] = callback_json[0] = '\0';
        if (json)
            wsh_out_copy_to(&o, callback_json, sizeof callback_json);
        else
            wsh_out_copy_to(&o, callback_text, sizeof callback_text);
    }
    if (json) {
        if (symbolize && !r.symbolized) {
            wsh_sym_symbolize(&sym, SYMBOLIZE_TIMEOUT_MS);
            r.symbolized = true;
        }
        wsh_report_json(&o, &r);
    } else {
        out_text(&o, &r, symbolize);
    }
    wsh_out_flush(&o);
    wsh_out_close_report(fd);

    if (cb != NULL) {
        struct wsh_out other;

        if (json) {
            wsh_out_start_string(&other, callback_text, sizeof callback_text);
            out_text(&other, &r, false);
        } else {
            wsh_out_start_string(&other, callback_json, sizeof callback_json);
            wsh_report_json(&other, &r);
        }
        cb->fn(callback_text, text_length(callback_text), callback_json, text_length(callback_json),
               cb->arg);
    }
}

/* --- Entry: one report at a time, on a stack of its own --------------------------------------- */

/*
 * The report runs on a stack of its own, mapped once at the first guarded heap: the fault may
 * come on a thread's small stack (16 KiB, mostly used) or on a language runtime's 8 KiB
 * alternate signal stack, where the report's unwinding, /proc/self/maps parsing and addr2line
 * child do not fit. Only the thread that holds report_owner uses the stack.
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

/* The per-report lock: the thread writing a report (a raw gettid), 0 when none is. Threads that
 * fault meanwhile wait for it (bounded), so that reports never interleave. */
static _Atomic int report_owner;
/* Halt mode: a report was written and the process is ending; no other report starts. */
static atomic_bool halting;

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

    wsh_os_safe_read(&copy, &probe, sizeof probe); /* process_vm_readv, getpid */
    (void)wsh_os_thread_id();                      /* syscall */
    (void)wsh_os_now_ms();                         /* clock_gettime */
    nanosleep(&zero, NULL);
    poll(NULL, 0, 0);
    (void)!write(2, "", 0); /* writes nothing */
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    pthread_sigmask(SIG_BLOCK, NULL, &set);
    raise(0); /* signal 0: checks, sends nothing */
    errno = saved_errno;
}

/* Copies the report options (the handler must not call wsh_options: pthread_once is not
 * async-signal-safe), loads the suppressions and finds libwsheap.so's module. */
static void load_config(void)
{
    const struct wsh_options *options = wsh_options();

    wsh_report_config.log_path = options->log_path;
    wsh_report_config.json = options->report_json;
    wsh_report_config.halt = options->halt_on_error;
    wsh_report_config.exitcode = options->exitcode;
    wsh_suppress_load();
    wsh_report_find_self();
}

static void report_init_once(void)
{
    load_config();
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
    static struct wsh_out o;

    wsh_out_start_fd(&o, 2, REENTRY_BUDGET_MS);
    wsh_out_prefix(&o);
    wsh_out_str(&o, "ERROR: a second fault while this thread was writing the report: ");
    wsh_out_str(&o, wsh_fault_kind_name(f->kind));
    if (f->access != 0) wsh_out_str(&o, f->access == 2 ? " WRITE" : " READ");
    wsh_out_str(&o, " at ");
    wsh_out_hex(&o, f->addr);
    wsh_out_str(&o, "; the report is cut short");
    wsh_out_mem(&o, "\n", 1);
    wsh_out_flush(&o);
    wsh_die();
}

/* Waits up to 30 s for the process to end (halt mode: another thread's report is out, and
 * its death will end this thread's fault too). */
static void wait_for_the_end(void)
{
    struct timespec ms = {0, 1000000};

    for (int i = 0; i < 30000; i++)
        nanosleep(&ms, NULL);
}

bool wsh_report(const struct wsh_fault *f, void *ucontext, bool symbolize_frames)
{
    int self = wsh_os_thread_id(); /* a raw gettid: no once, no TLS */
    struct timespec ms = {0, 1000000};
    struct report_args args;

    wsh_debug_record_fault(f, ucontext); /* for debuggers (debug_info.h), first of all */
    for (int i = 0;; i++) {
        int expected = 0;

        if (atomic_load(&halting)) {
            wait_for_the_end();
            return false;
        }
        if (atomic_compare_exchange_strong(&report_owner, &expected, self)) break;
        if (expected == self) die_reentered(f);
        /* Another thread is reporting: wait (bounded) for it to finish. */
        if (i == 30000) return false;
        nanosleep(&ms, NULL);
    }
    args.f = f;
    args.ucontext = ucontext;
    args.symbolize = symbolize_frames;
    if (report_stack == NULL ||
        !call_on_stack(report_with, &args, report_stack + REPORT_STACK_SIZE))
        report_with(&args);
    if (wsh_report_config.halt) atomic_store(&halting, true);
    atomic_store(&report_owner, 0);
    if (!wsh_report_config.halt) return true;
    if (wsh_report_config.exitcode >= 0) _exit(wsh_report_config.exitcode);
    return false;
}

/* --- The crash reporter's callback (wsheap.h) ------------------------------------------------- */

/* Two slots: the one being set is never the one a report is reading, unless the callback is
 * changed twice during one report (the header asks for one setting, at start-up). */
void wsheap_set_report_callback(wsheap_report_callback callback, void *arg)
{
    pthread_mutex_lock(&callback_lock);
    if (callback == NULL) {
        atomic_store_explicit(&callback_current, -1, memory_order_release);
    } else {
        int next = atomic_load_explicit(&callback_current, memory_order_relaxed) == 0 ? 1 : 0;

        callbacks[next].fn = callback;
        callbacks[next].arg = arg;
        atomic_store_explicit(&callback_current, next, memory_order_release);
    }
    pthread_mutex_unlock(&callback_lock);
}
