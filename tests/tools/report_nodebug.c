/* SPDX-License-Identifier: MIT */
/*
 * A library without debug information or .symtab for tests/test_report_modules.c (issue 9,
 * item 17), laid out as the expat case: a tiny exported function, then a large static function
 * (absent from .dynsym) that allocates 16 KiB past the tiny one's end. addr2line names the tiny
 * function for that frame; the report must not. Built with -O0 so that the functions stay in
 * source order, and stripped after linking (tests/CMakeLists.txt).
 */

typedef void *report_alloc_fn(unsigned long size);

/* The tiny exported function that addr2line picks as "nearest symbol". */
int report_nodebug_tiny(int x)
{
    return x + 1;
}

/* Large and static: 16 KiB of no-ops before the call. */
static __attribute__((noinline)) void *nodebug_big(report_alloc_fn *alloc, unsigned long size)
{
    void *p;

    __asm__ volatile(".skip 16384, 0x90");
    p = alloc(size);
    __asm__ volatile("" ::: "memory");
    return p;
}

/* The entry point the test calls (exported and sized: its frame keeps its name). */
void *report_nodebug_alloc(report_alloc_fn *alloc, unsigned long size)
{
    void *p = nodebug_big(alloc, size);

    __asm__ volatile("" ::: "memory");
    return p;
}
