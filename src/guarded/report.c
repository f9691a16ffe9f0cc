/* SPDX-License-Identifier: MIT */
/*
 * The fault report: an async-signal-safe writer that turns a struct wsh_fault into text on
 * stderr through the output sink (src/out.h), with its frames found, symbolized and printed by
 * the stack service's symbolizer (src/stack/symbolize.h) in static storage: one report per
 * process, guarded by report_state. It runs on a stack of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../os.h"
#include "../out.h"
#include "../stack/symbolize.h"
#include "guarded.h"

#define PREFIX "==wsheap== "

/* A report's writes are bounded in time (the header, then the stacks after the addr2line runs,
 * which have a bound of their own): stderr may be a pipe that nobody reads, and a report that
 * cannot be written must not keep the process from dying. */
#define WRITE_BUDGET_MS      5000 /* for the header, then again for the stacks */
#define REENTRY_BUDGET_MS    1000 /* for the one line about a fault while writing a report */
#define SYMBOLIZE_TIMEOUT_MS 5000 /* for all addr2line runs of a report together */
#define ACCESS_FRAMES        32

/* Test hook called after each line of a report is written (wsh_report_test_set_line_hook). */
static void (*_Atomic line_hook)(void);

/* The report's frames, modules and symbols: static, because the signal stack is small and only
 * one report is ever written (report_state). */
static struct wsh_symbolizer sym;

/* --- The report ------------------------------------------------------------------------------- */

enum section_kind { SEC_ACCESS, SEC_FOUND, SEC_ALLOC, SEC_RELEASE, SEC_FREED, SEC_CREATE };

struct section {
    enum section_kind kind;
    int32_t tid;
    size_t first;
    size_t n; /* 0: no stack recorded */
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

static void out_heap(struct wsh_out *o, const struct wsh_fault *f)
{
    wsh_out_str(o, "heap ");
    wsh_out_hex(o, f->heap);
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
    wsh_out_str(o, PREFIX);
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
    wsh_out_str(o, PREFIX "  ");
    out_block_offset(o, lo, f->block.user);
    wsh_out_str(o, " expected:");
    for (size_t i = 0; i < n; i++) {
        wsh_out_str(o, " ");
        wsh_out_byte(o, wsh_canary_byte(lo + i));
    }
    wsh_out_line(o);
    wsh_out_str(o, PREFIX "  ");
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
    wsh_out_str(o, PREFIX "ERROR: ");
    wsh_out_str(o, kind_name(f->kind));
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
    wsh_out_str(o, PREFIX "a heap is used by one thread at a time: calls on it must not overlap "
                          "(backend guarded)");
    wsh_out_line(o);
}

static void out_header(struct wsh_out *o, const struct wsh_fault *f)
{
    if (f->kind == WSH_FAULT_CONCURRENT_USE) {
        out_concurrent_header(o, f);
        return;
    }
    wsh_out_str(o, PREFIX "ERROR: ");
    wsh_out_str(o, kind_name(f->kind));
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

    wsh_out_str(o, PREFIX);
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
        wsh_out_str(o,
                    f->redzone ? " (backend guarded, redzone-only block)" : " (backend guarded)");
    } else if (f->where == WSH_WHERE_HEAP_OBJECT) {
        wsh_out_dec(o, f->distance);
        wsh_out_str(o, f->distance == 1 ? " byte inside the object of "
                                        : " bytes inside the object of ");
        out_heap(o, f);
        wsh_out_str(o, ", a heap freed by WsFreeHeap (backend guarded)");
    } else {
        wsh_out_str(o, "guarded memory of ");
        out_heap(o, f);
        wsh_out_str(o, " that belongs to no block (backend guarded)");
    }
    wsh_out_line(o);

    if (is_corruption(f)) out_corruption(o, f);
}

static void out_section_title(struct wsh_out *o, const struct section *sec,
                              const struct wsh_fault *f)
{
    wsh_out_str(o, PREFIX);
    switch (sec->kind) {
    case SEC_ACCESS:
        wsh_out_str(o, "access by thread ");
        break;
    case SEC_FOUND:
        if (f->kind == WSH_FAULT_CONCURRENT_USE) {
            wsh_out_str(o, f->found_by);
            wsh_out_str(o, " called by thread ");
            break;
        }
        wsh_out_str(o, "found by ");
        wsh_out_str(o, f->found_by);
        wsh_out_str(o, " in thread ");
        break;
    case SEC_ALLOC:
        wsh_out_str(o, "block allocated by thread ");
        break;
    case SEC_RELEASE:
        if (f->kind == WSH_FAULT_USE_AFTER_RESET) {
            wsh_out_str(o, "block released by WsResetHeap (reset #");
            wsh_out_dec(o, f->release_reset);
            wsh_out_str(o, " of the heap) in thread ");
        } else {
            wsh_out_str(o, "block released by WsFreeHeap in thread ");
        }
        break;
    case SEC_FREED:
        wsh_out_str(o, "heap freed by WsFreeHeap in thread ");
        break;
    case SEC_CREATE:
        wsh_out_str(o, "heap created by thread ");
        break;
    }
    wsh_out_dec(o, (uint64_t)(uint32_t)sec->tid);
    wsh_out_str(o, ":");
    wsh_out_line(o);
}

/* Adds a depot stack as a section, with the modules noted when it was stored. */
static void add_depot_section(struct section *sec, enum section_kind kind, uint32_t handle,
                              int32_t tid)
{
    sec->kind = kind;
    sec->tid = tid;
    sec->first = wsh_sym_add_depot(&sym, handle, &sec->n);
}

/* The report proper, on the report stack when there is one. */
static void write_report(const struct wsh_fault *f, void *ucontext, bool symbolize_frames)
{
    static struct wsh_out o;
    struct section sections[4];
    size_t n_sections = 0;

    wsh_out_start_fd(&o, 2, WRITE_BUDGET_MS);
    o.line_hook = atomic_load_explicit(&line_hook, memory_order_relaxed);
    wsh_sym_reset(&sym);

    if (ucontext != NULL) {
        uintptr_t pcs[ACCESS_FRAMES];
        size_t n = wsh_stack_unwind_signal(ucontext, pcs, ACCESS_FRAMES);

        sections[n_sections].kind = SEC_ACCESS;
        sections[n_sections].tid = wsh_os_thread_id(); /* a raw gettid: no once, no TLS */
        sections[n_sections].first = wsh_sym_add(&sym, pcs, NULL, n, WSH_SYM_FAULT_FIRST);
        sections[n_sections].n = sym.n_frames - sections[n_sections].first;
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
    wsh_sym_find_modules(&sym);
    if (symbolize_frames && !o.stopped) {
        wsh_sym_symbolize(&sym, SYMBOLIZE_TIMEOUT_MS); /* not for output nobody can see */
        wsh_out_extend(&o, WRITE_BUDGET_MS);           /* the stacks get a budget of their own */
    }
    for (size_t i = 0; i < n_sections; i++) {
        out_section_title(&o, &sections[i], f);
        wsh_sym_print(&o, &sym, sections[i].first, sections[i].n, "  ");
    }
    wsh_out_str(&o, PREFIX "END");
    wsh_out_line(&o);
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
    static struct wsh_out o;

    wsh_out_start_fd(&o, 2, REENTRY_BUDGET_MS);
    wsh_out_str(&o, PREFIX "ERROR: a second fault while this thread was writing the report: ");
    wsh_out_str(&o, kind_name(f->kind));
    if (f->access != 0) wsh_out_str(&o, f->access == 2 ? " WRITE" : " READ");
    wsh_out_str(&o, " at ");
    wsh_out_hex(&o, f->addr);
    wsh_out_str(&o, "; the report is cut short");
    wsh_out_mem(&o, "\n", 1);
    wsh_out_flush(&o);
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
