/* SPDX-License-Identifier: MIT */
/*
 * The debugger anchor, wsheap_debug_info (debug_info.h), and the record of the last fault
 * reported that it points at. A debugger that only reads memory finds everything from here:
 * the anchor's field table names each table (their descriptors are defined next to the tables,
 * in spans.c, depot.c and modules.c), and gives the offset and size of every record field the
 * reader uses (offset | size << 32), and the constants it compares against. All of it is
 * constant data, so the anchor costs nothing at startup; only wsh_debug_record_fault writes,
 * once, when a report begins. tools/gdb/wsheap.py reads it; docs/debugging.md documents it.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "debug_info.h"
#include "guarded/fault.h"
#include "internal.h"
#include "os.h"
#include "stack/modules.h"

/* The last fault reported: every wsh_report fills it (one at a time; see below). */
struct debug_fault {
    _Atomic uint32_t state; /* 0: none; 1: being copied; 2: complete */
    uint32_t count;         /* faults recorded so far */
    int32_t tid;            /* the thread that reported it (a raw gettid) */
    uintptr_t pc;           /* the faulting instruction; 0 outside a fault */
    uint32_t has_context;   /* the report was made in the signal handler (it unwinds the access) */
    struct wsh_fault f;
};

static struct debug_fault last_fault;

void wsh_debug_record_fault(const struct wsh_fault *f, const void *ucontext)
{
    uint32_t state = atomic_load_explicit(&last_fault.state, memory_order_relaxed);

    /* One copy at a time: a fault on another thread while one is being copied is not recorded
     * (its report waits for the first anyway, and in halt mode the first is the one that kills
     * the process). */
    do {
        if (state == 1) return;
    } while (!atomic_compare_exchange_weak_explicit(&last_fault.state, &state, 1,
                                                    memory_order_acquire, memory_order_relaxed));
    memcpy(&last_fault.f, f, sizeof last_fault.f);
    last_fault.count++;
    last_fault.tid = wsh_os_thread_id();
    last_fault.has_context = ucontext != NULL;
    last_fault.pc = ucontext != NULL ? wsh_os_context_pc(ucontext) : 0;
    atomic_store_explicit(&last_fault.state, 2, memory_order_release);
}

/* --- The anchor ------------------------------------------------------------------------------- */

/* An entry holding a number, and one holding an address. */
#define VALUE(n, v)                                                                                \
    {                                                                                              \
        .name = n, .u.value = (uint64_t)(v)                                                        \
    }
#define ADDR(n, a)                                                                                 \
    {                                                                                              \
        .name = n, .u.addr = (a)                                                                   \
    }
/* A field of a record: its offset in the low 32 bits, its size in the high 32. */
#define FIELD(n, type, member)                                                                     \
    VALUE(n, (uint64_t)offsetof(type, member) | (uint64_t)sizeof(((type *)0)->member) << 32)

/* The stack depot's record format (depot.c): word 0 holds the number of frames in its high 32
 * bits, the frames start at word 2, and after them come the module ids, two 32-bit ids a word
 * (frame 2k in the low half). */
#define DEPOT_COUNT_SHIFT  32
#define DEPOT_FRAMES_WORD  2
#define DEPOT_RECORD_WORDS 8 /* bytes per word */

static const struct wsh_debug_field fields[] = {
    VALUE("library.major", WSHEAP_VERSION_MAJOR),
    VALUE("library.minor", WSHEAP_VERSION_MINOR),
    VALUE("library.patch", WSHEAP_VERSION_PATCH),

    /* The tables (struct wsh_debug_table). */
    ADDR("spans", &wsh_debug_spans),
    ADDR("depot", &wsh_debug_depot),
    ADDR("modules", &wsh_debug_modules),
    FIELD("table.top", struct wsh_debug_table, top),
    FIELD("table.count", struct wsh_debug_table, count),
    FIELD("table.n_top", struct wsh_debug_table, n_top),
    FIELD("table.shift", struct wsh_debug_table, shift),
    FIELD("table.per_entry", struct wsh_debug_table, per_entry),

    /* Guarded spans (guarded/spans.h). */
    VALUE("span.granule_shift", WSH_SPAN_GRANULE_SHIFT),
    VALUE("span.address_bits", 47),
    VALUE("span.magic_value", WSH_SPAN_MAGIC),
    VALUE("span.kind_home", WSH_SPAN_HOME),
    VALUE("span.kind_blocks", WSH_SPAN_BLOCKS),
    VALUE("span.kind_redzone", WSH_SPAN_REDZONE),
    VALUE("span.state_live", WSH_SPAN_LIVE),
    VALUE("span.state_reset", WSH_SPAN_RESET),
    VALUE("span.state_freed", WSH_SPAN_FREED),
    FIELD("span.magic", struct wsh_span, magic),
    FIELD("span.kind", struct wsh_span, kind),
    FIELD("span.state", struct wsh_span, state),
    FIELD("span.base", struct wsh_span, base),
    FIELD("span.size", struct wsh_span, size),
    FIELD("span.area", struct wsh_span, area),
    FIELD("span.bump", struct wsh_span, bump),
    FIELD("span.blocks", struct wsh_span, blocks),
    FIELD("span.capacity", struct wsh_span, capacity),
    FIELD("span.n_blocks", struct wsh_span, n_blocks),
    FIELD("span.live_from", struct wsh_span, live_from),
    FIELD("span.home", struct wsh_span, home),
    FIELD("span.heap", struct wsh_span, heap),
    FIELD("span.heap_size", struct wsh_span, heap_size),
    FIELD("span.create_stack", struct wsh_span, create_stack),
    FIELD("span.create_tid", struct wsh_span, create_tid),
    FIELD("span.release_stack", struct wsh_span, release_stack),
    FIELD("span.release_tid", struct wsh_span, release_tid),
    FIELD("span.freed_name", struct wsh_span, freed_name),

    /* Block records (struct wsh_block), in spans and in the fault record. */
    VALUE("block.size_of", sizeof(struct wsh_block)),
    FIELD("block.user", struct wsh_block, user),
    FIELD("block.size", struct wsh_block, size),
    FIELD("block.data", struct wsh_block, data),
    FIELD("block.n_pages", struct wsh_block, n_pages),
    FIELD("block.ordinal", struct wsh_block, ordinal),
    FIELD("block.alloc_stack", struct wsh_block, alloc_stack),
    FIELD("block.tid", struct wsh_block, tid),
    FIELD("block.release_stack", struct wsh_block, release_stack),
    FIELD("block.release_tid", struct wsh_block, release_tid),
    FIELD("block.release_reset", struct wsh_block, release_reset),
    FIELD("block.released", struct wsh_block, released),

    /* Heap objects (struct wsh_heap, internal.h) and their backend. */
    VALUE("heap.magic_value", WSH_HEAP_MAGIC),
    FIELD("heap.requested_size", struct wsh_heap, requested_size),
    FIELD("heap.max_size", struct wsh_heap, max_size),
    FIELD("heap.ops", struct wsh_heap, ops),
    FIELD("heap.magic", struct wsh_heap, magic),
    FIELD("heap.n_resets", struct wsh_heap, n_resets),
    FIELD("heap.name", struct wsh_heap, name),
    FIELD("ops.name", struct wsh_backend_ops, name),

    /* The stack depot (depot.c). */
    VALUE("depot.count_shift", DEPOT_COUNT_SHIFT),
    VALUE("depot.frames_word", DEPOT_FRAMES_WORD),
    VALUE("depot.word_size", DEPOT_RECORD_WORDS),

    /* The module table (stack/modules.h). */
    VALUE("module.size_of", sizeof(struct wsh_module)),
    FIELD("module.start", struct wsh_module, start),
    FIELD("module.end", struct wsh_module, end),
    FIELD("module.base", struct wsh_module, base),
    FIELD("module.bias", struct wsh_module, bias),
    FIELD("module.path", struct wsh_module, path),
    FIELD("module.unloaded", struct wsh_module, unloaded),

    /* The last fault reported (struct debug_fault, then struct wsh_fault in it). */
    ADDR("fault", &last_fault),
    VALUE("fault.state_complete", 2),
    FIELD("fault.state", struct debug_fault, state),
    FIELD("fault.count", struct debug_fault, count),
    FIELD("fault.tid", struct debug_fault, tid),
    FIELD("fault.pc", struct debug_fault, pc),
    FIELD("fault.has_context", struct debug_fault, has_context),
    FIELD("fault.f", struct debug_fault, f),
    FIELD("f.kind", struct wsh_fault, kind),
    FIELD("f.addr", struct wsh_fault, addr),
    FIELD("f.access", struct wsh_fault, access),
    FIELD("f.where", struct wsh_fault, where),
    FIELD("f.distance", struct wsh_fault, distance),
    FIELD("f.has_block", struct wsh_fault, has_block),
    FIELD("f.block", struct wsh_fault, block),
    FIELD("f.redzone", struct wsh_fault, redzone),
    FIELD("f.heap", struct wsh_fault, heap),
    FIELD("f.heap_name", struct wsh_fault, heap_name),
    FIELD("f.create_stack", struct wsh_fault, create_stack),
    FIELD("f.create_tid", struct wsh_fault, create_tid),
    FIELD("f.release_stack", struct wsh_fault, release_stack),
    FIELD("f.release_tid", struct wsh_fault, release_tid),
    FIELD("f.release_reset", struct wsh_fault, release_reset),
    FIELD("f.found_by", struct wsh_fault, found_by),
    FIELD("f.check_lo", struct wsh_fault, check_lo),
    FIELD("f.check_hi", struct wsh_fault, check_hi),
    FIELD("f.bad_lo", struct wsh_fault, bad_lo),
    FIELD("f.bad_hi", struct wsh_fault, bad_hi),
    FIELD("f.n_bad", struct wsh_fault, n_bad),
    FIELD("f.n_corrupted", struct wsh_fault, n_corrupted),
    FIELD("f.other_tid", struct wsh_fault, other_tid),
    FIELD("f.other_call", struct wsh_fault, other_call),
    VALUE("kind.heap-buffer-overflow", WSH_FAULT_OVERFLOW),
    VALUE("kind.heap-buffer-underflow", WSH_FAULT_UNDERFLOW),
    VALUE("kind.use-after-reset", WSH_FAULT_USE_AFTER_RESET),
    VALUE("kind.use-after-free-heap", WSH_FAULT_USE_AFTER_FREE),
    VALUE("kind.corrupted-slack", WSH_FAULT_CORRUPTED_SLACK),
    VALUE("kind.corrupted-redzone", WSH_FAULT_CORRUPTED_REDZONE),
    VALUE("kind.wild-access", WSH_FAULT_WILD),
    VALUE("kind.concurrent-use", WSH_FAULT_CONCURRENT_USE),
    VALUE("where.inside", WSH_WHERE_INSIDE),
    VALUE("where.right", WSH_WHERE_RIGHT),
    VALUE("where.left", WSH_WHERE_LEFT),
    VALUE("where.heap_object", WSH_WHERE_HEAP_OBJECT),
};

WSHEAP_API const struct wsheap_debug_info wsheap_debug_info = {
    .magic = WSH_DEBUG_MAGIC,
    .version = WSH_DEBUG_VERSION,
    .pointer_size = sizeof(void *),
    .field_size = sizeof(struct wsh_debug_field),
    .n_fields = sizeof fields / sizeof fields[0],
    .fields = fields,
};
