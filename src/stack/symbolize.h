/* SPDX-License-Identifier: MIT */
/*
 * The one symbolizer and the one frame printer. A symbolizer holds the frames of one or more
 * stacks in caller-provided storage (struct wsh_symbolizer: static for the fault report, mapped
 * for the statistics and for wsheap_describe_address), finds each frame's module (the module
 * the depot noted at capture time, else the module table, else /proc/self/maps), and names
 * functions and file:line by running addr2line in a child with a total deadline; a name that
 * only the symbol tables give is kept only when a sized function symbol covers the address.
 * The printer writes every frame as one line:
 *
 *   #N 0xPC in FUNCTION FILE:LINE (MODULE+0xOFFSET)
 *
 * (" in ..." when symbolized; "(<unknown module>)" when no module holds PC), which is what
 * tools/wsheap-symbolize reads. Everything here is async-signal-safe unless it says otherwise.
 */
#ifndef WSH_STACK_SYMBOLIZE_H
#define WSH_STACK_SYMBOLIZE_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack.h"

struct wsh_out;

#define WSH_SYM_MAX_FRAMES       (4 * WSH_STACK_MAX)
#define WSH_SYM_MAX_MODULES      64
#define WSH_SYM_MAX_MAPS_MODULES 16
#define WSH_SYM_MAX_NAMES        1024
#define WSH_SYM_PATH_MAX         4096 /* Linux's PATH_MAX, with its NUL */

/* How wsh_sym_add reads the addresses it is given. */
enum wsh_sym_addresses {
    WSH_SYM_RETURNS,     /* return addresses: printed as they are, looked up at pc - 1 */
    WSH_SYM_FAULT_FIRST, /* the same, but the first is a faulting instruction: looked up as is */
    WSH_SYM_CALLS,       /* return addresses printed and looked up at pc - 1 (the call), as
                          * ASan's own frames show them */
};

struct wsh_sym_frame {
    uintptr_t pc;        /* the address printed */
    uintptr_t lookup;    /* the address symbolized (a call instruction's, for return addresses) */
    uint32_t table_id;   /* module noted by the depot when the stack was stored; 0 none */
    int module;          /* index in modules[], or -1 */
    uint32_t first_name; /* names[first_name .. first_name + n_names): innermost inlined first */
    uint32_t n_names;
};

/* A module some frame lies in: from the module table (which may describe a module unloaded
 * since), or from /proc/self/maps when the table has nothing for the frame. */
struct wsh_sym_module {
    uint32_t table_id; /* 0: found in /proc/self/maps */
    uintptr_t base;    /* offsets printed count from here */
    uintptr_t bias;    /* addr2line and the ELF symbol tables want address - bias */
    const char *path;  /* the table's string, or one of maps_paths */
};

struct wsh_sym_name {
    uint32_t func; /* offsets into pool; UINT32_MAX: unknown */
    uint32_t loc;
};

/* A symbolizer's storage (about 240 KiB). Paths are kept whole, up to WSH_SYM_PATH_MAX. Everything
 * past `pool_used` is scratch space for one call. */
struct wsh_symbolizer {
    struct wsh_sym_frame frames[WSH_SYM_MAX_FRAMES];
    size_t n_frames;
    struct wsh_sym_module modules[WSH_SYM_MAX_MODULES];
    size_t n_modules;
    struct wsh_sym_name names[WSH_SYM_MAX_NAMES];
    size_t n_names;
    char pool[1 << 16];
    size_t pool_used;
    char maps_paths[WSH_SYM_MAX_MAPS_MODULES][WSH_SYM_PATH_MAX];
    size_t n_maps_paths;
    /* Scratch. */
    long deadline;                         /* when every addr2line run must have ended */
    char child_output[1 << 16];            /* one addr2line run's output */
    char maps_buf[WSH_SYM_PATH_MAX + 256]; /* holds one whole line of /proc/self/maps */
    char zero_path[WSH_SYM_PATH_MAX];      /* the last mapping at file offset 0 seen ... */
    uintptr_t zero_start;                  /* ... and its start: a module's base */
    char addr_text[WSH_SYM_MAX_FRAMES][24];
    char *argv[WSH_SYM_MAX_FRAMES + 10];
    size_t which[WSH_SYM_MAX_FRAMES];
    uint64_t check_addr[WSH_SYM_MAX_FRAMES];
    bool check_covered[WSH_SYM_MAX_FRAMES];
    size_t check_frame[WSH_SYM_MAX_FRAMES];
    Elf64_Sym elf_syms[256];
};

/* Maps a symbolizer's storage with mmap (not counted as a heap request); NULL on failure.
 * wsh_sym_unmap gives it back. Both AS-safe. */
struct wsh_symbolizer *wsh_sym_map(void);
void wsh_sym_unmap(struct wsh_symbolizer *z);

/* Empties `z` for new frames. */
void wsh_sym_reset(struct wsh_symbolizer *z);

/* Frames `z` still has room for. */
size_t wsh_sym_room(const struct wsh_symbolizer *z);

/* Adds pcs[0..n) (read as `how` says), with the module ids `ids` noted at capture time (NULL,
 * or 0 entries: none), as far as there is room. Returns the index of the first; the frames
 * added are those up to z->n_frames. */
size_t wsh_sym_add(struct wsh_symbolizer *z, const uintptr_t *pcs, const uint32_t *ids, size_t n,
                   enum wsh_sym_addresses how);

/* Adds the frames of depot stack `handle` with the modules noted when it was stored; *n_out is
 * the number added (0 for handle 0). Returns the index of the first. */
size_t wsh_sym_add_depot(struct wsh_symbolizer *z, uint32_t handle, size_t *n_out);

/* Finds the module of every frame: the one the depot noted, else the newest loaded module of
 * the module table holding the address (needs no file descriptor), else /proc/self/maps. */
void wsh_sym_find_modules(struct wsh_symbolizer *z);

/* Names the frames (after wsh_sym_find_modules) with one addr2line run per module, all of them
 * ending within `budget_ms` (a run still going then is killed). Needs free file descriptors
 * and fork; frames it cannot name are printed raw. */
void wsh_sym_symbolize(struct wsh_symbolizer *z, long budget_ms);

/* The frame printer (frames.c): writes frames [first, first + n) of `z`, numbered from #0, one
 * line each (one per inlined function), each line starting with `indent`; for n == 0 one line
 * "<no stack recorded (WSHEAP_STACK_DEPTH=0?)>". */
void wsh_sym_print(struct wsh_out *o, const struct wsh_symbolizer *z, size_t first, size_t n,
                   const char *indent);

#endif
