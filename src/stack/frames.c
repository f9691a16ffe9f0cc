/* SPDX-License-Identifier: MIT */
/*
 * The one frame printer (symbolize.h): every frame of every report, statistics table, leak
 * report and address description is written here, as
 * "#N 0xPC in FUNCTION FILE:LINE (MODULE+0xOFFSET)". Async-signal-safe.
 */
#include "../out.h"
#include "symbolize.h"

void wsh_sym_print(struct wsh_out *o, const struct wsh_symbolizer *z, size_t first, size_t n,
                   const char *indent)
{
    size_t k = 0;

    if (n == 0) {
        wsh_out_str(o, indent);
        wsh_out_str(o, "<no stack recorded (WSHEAP_STACK_DEPTH=0?)>");
        wsh_out_line(o);
        return;
    }
    for (size_t i = first; i < first + n; i++) {
        const struct wsh_sym_frame *f = &z->frames[i];
        size_t j = 0;

        do {
            wsh_out_str(o, indent);
            wsh_out_str(o, "#");
            wsh_out_dec(o, k++);
            wsh_out_str(o, " ");
            wsh_out_hex(o, f->pc);
            if (f->n_names > 0) {
                const struct wsh_sym_name *s = &z->names[f->first_name + j];

                wsh_out_str(o, " in ");
                wsh_out_str(o, s->func != UINT32_MAX ? z->pool + s->func : "??");
                if (s->loc != UINT32_MAX) {
                    wsh_out_str(o, " ");
                    wsh_out_str(o, z->pool + s->loc);
                }
            }
            wsh_out_str(o, " (");
            if (f->module >= 0) {
                wsh_out_str(o, z->modules[f->module].path);
                wsh_out_str(o, "+");
                wsh_out_hex(o, f->pc - z->modules[f->module].base);
            } else {
                wsh_out_str(o, "<unknown module>");
            }
            wsh_out_str(o, ")");
            wsh_out_line(o);
        } while (++j < f->n_names);
    }
}
