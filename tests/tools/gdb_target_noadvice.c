/* SPDX-License-Identifier: MIT */
/*
 * Linked into gdb_target_noadvice with the library's objects: makes the guarded backend use
 * PROT_NONE guard mappings (as on kernels before MADV_GUARD_INSTALL) from the start, so that
 * tests/tools/test_gdb_ext.sh can check the extension on a gcore core that holds every span
 * (gdb's gcore cannot copy memory with MADV_GUARD_INSTALL guard pages, docs/debugging.md).
 */
#include "os.h"

/* Runs before main, so before the first guarded heap. */
__attribute__((constructor)) static void force_mprotect_guards(void)
{
    wsh_os_force_no_guard_advice(true);
}
