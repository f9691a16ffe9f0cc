/* SPDX-License-Identifier: MIT */
/*
 * The module table (modules.h), filled from the dynamic loader's list with dl_iterate_phdr,
 * which needs no file descriptor. Records and path strings live in chunks that are mapped once
 * and never unmapped; a record is published by the release store of the record count, so a
 * reader that sees the count sees every field written before it.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "../debug_info.h"
#include "../internal.h"
#include "../mutex.h"
#include "../os.h"
#include "modules.h"

#define RECORDS_PER_CHUNK 256
#define MAX_RECORD_CHUNKS 256 /* 65536 modules at most */
#define POOL_CHUNK_SIZE   ((size_t)64 << 10)

static _Atomic(struct wsh_module *) record_chunks[MAX_RECORD_CHUNKS];
static _Atomic uint32_t n_records;
static atomic_uint n_unloaded; /* records marked unloaded so far (wsh_modules_unloaded) */
/* Where the records are, for debuggers (the anchor in ../debug_info.c). */
const struct wsh_debug_table wsh_debug_modules = {(const volatile void *)record_chunks, &n_records,
                                                  MAX_RECORD_CHUNKS, 0, RECORDS_PER_CHUNK};

/* Writers only, under table_lock. */
static struct wsh_mutex *const table_lock = &wsh_mutexes[WSH_MUTEX_MODULES];
static char *pool_chunk; /* the path pool's current chunk */
static size_t pool_used; /* bytes used in it */
static uint32_t generation;
static unsigned long long last_adds, last_subs;
static bool up_to_date; /* the last refresh saw every module: adds/subs mean something */
static bool refresh_failed;
static char exe_path[PATH_MAX + 1];
static char real_path[PATH_MAX + 1];

static struct wsh_module *record_at(uint32_t index)
{
    struct wsh_module *chunk =
        atomic_load_explicit(&record_chunks[index / RECORDS_PER_CHUNK], memory_order_acquire);

    return chunk == NULL ? NULL : &chunk[index % RECORDS_PER_CHUNK];
}

/* A copy of `path` in the pool, shared with any record that already has the same path; NULL
 * when memory ran out. Caller holds table_lock. */
static const char *intern_path_locked(const char *path)
{
    uint32_t n = atomic_load_explicit(&n_records, memory_order_relaxed);
    size_t len = strlen(path);
    char *copy;

    wsh_assert(wsh_mutex_held(table_lock));
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(record_at(i)->path, path) == 0) return record_at(i)->path;
    if (len + 1 > POOL_CHUNK_SIZE) return NULL; /* longer than PATH_MAX: cannot happen */
    if (pool_chunk == NULL || pool_used + len + 1 > POOL_CHUNK_SIZE) {
        char *mem = wsh_os_map(POOL_CHUNK_SIZE, true);

        if (mem == NULL) return NULL;
        pool_chunk = mem; /* the rest of the old chunk is left unused */
        pool_used = 0;
    }
    copy = pool_chunk + pool_used;
    memcpy(copy, path, len + 1);
    pool_used += len + 1;
    return copy;
}

/* The path to record for a loader entry: the executable's ("" in the list) through
 * /proc/self/exe, others with symbolic links resolved (the file /proc/self/maps names, as the
 * loader's name may be a link such as libc.so.6 or /lib on a merged-/usr system); NULL for
 * entries without a file (the vDSO). */
static const char *path_of(const char *name)
{
    if (name == NULL || name[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);

        if (n > 0) {
            exe_path[n] = '\0';
            return exe_path;
        }
        name = (const char *)getauxval(AT_EXECFN); /* no /proc: the path given to execve */
        if (name == NULL || name[0] == '\0') return NULL;
    }
    if (strchr(name, '/') == NULL) return NULL; /* "linux-vdso.so.1": no file */
    return realpath(name, real_path) != NULL ? real_path : name;
}

/* Records the loader's entry `info`, or notes it seen again when it is known and loaded.
 * Caller holds table_lock. */
static void add_module_locked(struct dl_phdr_info *info)
{
    uintptr_t lo = UINTPTR_MAX, hi = 0, base = UINTPTR_MAX;
    uintptr_t page = (uintptr_t)wsh_os_page_size();
    uint32_t n = atomic_load_explicit(&n_records, memory_order_relaxed);
    const char *path;
    struct wsh_module *rec;

    wsh_assert(wsh_mutex_held(table_lock));
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

        if (ph->p_type != PT_LOAD) continue;
        if (ph->p_vaddr < lo) lo = ph->p_vaddr;
        if (ph->p_vaddr + ph->p_memsz > hi) hi = ph->p_vaddr + ph->p_memsz;
        if (base == UINTPTR_MAX) base = ph->p_vaddr - ph->p_offset; /* the first segment */
    }
    if (hi == 0) return;
    lo = info->dlpi_addr + (lo & ~(page - 1));
    hi = info->dlpi_addr + hi;
    base = info->dlpi_addr + (base & ~(page - 1));
    path = path_of(info->dlpi_name);
    if (path == NULL) return;

    /* Known and still loaded: just seen again. */
    for (uint32_t i = n; i-- > 0;) {
        rec = record_at(i);
        if (rec->start == lo && rec->end == hi && rec->bias == info->dlpi_addr &&
            !atomic_load_explicit(&rec->unloaded, memory_order_relaxed) &&
            strcmp(rec->path, path) == 0) {
            rec->seen = generation;
            return;
        }
    }

    if (n / RECORDS_PER_CHUNK >= MAX_RECORD_CHUNKS) goto failed;
    if (n % RECORDS_PER_CHUNK == 0 && record_at(n) == NULL) {
        struct wsh_module *chunk =
            wsh_os_map(wsh_align_up(RECORDS_PER_CHUNK * sizeof(struct wsh_module), page), true);

        if (chunk == NULL) goto failed;
        atomic_store_explicit(&record_chunks[n / RECORDS_PER_CHUNK], chunk, memory_order_release);
    }
    rec = record_at(n);
    rec->path = intern_path_locked(path);
    if (rec->path == NULL) goto failed;
    rec->start = lo;
    rec->end = hi;
    rec->base = base;
    rec->bias = info->dlpi_addr;
    rec->seen = generation;
    atomic_store_explicit(&rec->unloaded, false, memory_order_relaxed);
    /* Publishes the record to lock-free readers. */
    atomic_store_explicit(&n_records, n + 1, memory_order_release);
    return;
failed:
    refresh_failed = true;
}

/* dl_iterate_phdr's callback: stops at once when the loader's add and remove counts say
 * nothing changed since the last complete refresh. */
static int visit(struct dl_phdr_info *info, size_t size, void *data)
{
    bool *first = data;

    if (*first) {
        *first = false;
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
            if (up_to_date && info->dlpi_adds == last_adds && info->dlpi_subs == last_subs)
                return 1;
            last_adds = info->dlpi_adds;
            last_subs = info->dlpi_subs;
        } else {
            last_adds = last_subs = 0; /* no counters: every refresh walks the list */
        }
        generation++;
        refresh_failed = false;
    }
    add_module_locked(info);
    return 0;
}

void wsh_modules_refresh(void)
{
    bool first = true;

    wsh_mutex_lock(table_lock);
    /* dl_iterate_phdr takes the loader's lock: no WsAlloc runs inside it (a library constructor
     * that calls WsAlloc runs under dlopen's lock, which glibc does not take here). */
    if (dl_iterate_phdr(visit, &first) == 0 && !first) {
        uint32_t n = atomic_load_explicit(&n_records, memory_order_relaxed);

        /* A full walk: whatever it did not meet has been unloaded. */
        for (uint32_t i = 0; i < n; i++) {
            struct wsh_module *rec = record_at(i);

            if (rec->seen != generation &&
                !atomic_load_explicit(&rec->unloaded, memory_order_relaxed)) {
                atomic_store_explicit(&rec->unloaded, true, memory_order_relaxed);
                atomic_fetch_add_explicit(&n_unloaded, 1, memory_order_release);
            }
        }
        up_to_date = !refresh_failed && last_adds != 0;
    }
    wsh_mutex_unlock(table_lock);
}

uint32_t wsh_modules_find(uintptr_t addr)
{
    uint32_t n = atomic_load_explicit(&n_records, memory_order_acquire);

    for (uint32_t i = n; i-- > 0;) {
        const struct wsh_module *rec = record_at(i);

        if (addr >= rec->start && addr < rec->end &&
            !atomic_load_explicit(&rec->unloaded, memory_order_relaxed))
            return i + 1;
    }
    return 0;
}

uint32_t wsh_modules_unloaded(void)
{
    return atomic_load_explicit(&n_unloaded, memory_order_acquire);
}

const struct wsh_module *wsh_modules_get(uint32_t id)
{
    if (id == 0 || id > atomic_load_explicit(&n_records, memory_order_acquire)) return NULL;
    return record_at(id - 1);
}
