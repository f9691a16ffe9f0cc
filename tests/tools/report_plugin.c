/* SPDX-License-Identifier: MIT */
/*
 * A plugin for tests/test_report_modules.c (issue 9, item 10): the test dlopens it, lets it
 * allocate a guarded block through a callback (so that the block's allocation stack has a frame
 * in the plugin), dlcloses it, then overruns the block; the report must still name the plugin.
 */

typedef void *report_alloc_fn(unsigned long size);

/* Allocates `size` bytes with `alloc`, from a frame of this plugin. */
__attribute__((noinline)) void *report_plugin_alloc(report_alloc_fn *alloc, unsigned long size)
{
    void *p = alloc(size);

    __asm__ volatile("" ::: "memory"); /* no tail call: the return address stays in here */
    return p;
}
