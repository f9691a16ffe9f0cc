/* SPDX-License-Identifier: MIT */
/*
 * wsheap-bench output: medians over the repetitions, the text tables (time and ratio to the
 * inline floor, peak RSS, the guarded sweep), the skipped/failed list, the checks against the
 * targets of performance.md, and the JSON, CSV and SVG (a hand-written bar chart) files.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* The workloads of the main tables, in column order. */
static const enum bench_workload main_wl[] = {BW_W1, BW_W2, BW_W3, BW_W4, BW_W5, BW_W1K10};
#define N_MAIN_WL (sizeof main_wl / sizeof main_wl[0])

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double tmp[BENCH_MAX_REPS];

    if (n <= 0) return NAN;
    memcpy(tmp, v, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static void summarize_cell(struct bench_cell *c)
{
    if (c->state != BC_OK || c->nsamples == 0) return;
    c->med = median(c->ns, c->nsamples);
    c->lo = c->hi = c->ns[0];
    for (int i = 1; i < c->nsamples; i++) {
        c->lo = c->ns[i] < c->lo ? c->ns[i] : c->lo;
        c->hi = c->ns[i] > c->hi ? c->ns[i] : c->hi;
    }
    c->med_rss = median(c->rss_kib, c->nsamples);
    c->med_drss = median(c->drss_kib, c->nsamples);
    c->med_t[0] = median(c->ns_t[0], c->nsamples);
    c->med_t[1] = median(c->ns_t[1], c->nsamples);
}

void bench_summarize(struct bench_report *r)
{
    for (int w = 0; w < BW_COUNT; w++)
        for (size_t b = 0; b < bench_backends_count; b++)
            summarize_cell(&r->cells[w][b]);
    for (int g = 0; g < r->ngn; g++)
        for (size_t b = 0; b < bench_backends_count; b++)
            summarize_cell(&r->gcells[g][b]);
}

static const struct bench_cell *cell(const struct bench_report *r, enum bench_workload w,
                                     const char *backend)
{
    int b = bench_backend_index(backend);

    if (b < 0 || r->cells[w][b].state != BC_OK) return NULL;
    return &r->cells[w][b];
}

/* The inline floor's median for `w`, or NAN. */
static double floor_ns(const struct bench_report *r, enum bench_workload w)
{
    const struct bench_cell *c = cell(r, w, "floor-inline");

    return c ? c->med : NAN;
}

static int is_guarded(size_t b)
{
    return strcmp(bench_backends[b]->name, "wsheap-guarded") == 0 ||
           strcmp(bench_backends[b]->name, "efence") == 0;
}

/* "1.43", "12.7", "885": three significant digits at most. */
static void fmt_ns(char *buf, size_t size, double ns)
{
    if (ns < 10)
        snprintf(buf, size, "%.2f", ns);
    else if (ns < 100)
        snprintf(buf, size, "%.1f", ns);
    else
        snprintf(buf, size, "%.0f", ns);
}

static void fmt_ratio(char *buf, size_t size, double x)
{
    if (isnan(x))
        snprintf(buf, size, "?");
    else if (x < 10)
        snprintf(buf, size, "%.2fx", x);
    else if (x < 100)
        snprintf(buf, size, "%.1fx", x);
    else
        snprintf(buf, size, "%.0fx", x);
}

static const char *state_text(const struct bench_cell *c)
{
    switch (c->state) {
    case BC_FAIL:
        return "FAIL";
    case BC_SKIP:
        return "skip";
    default:
        return "n/a";
    }
}

static void print_params(const struct bench_report *r, FILE *out)
{
    fprintf(out, "Parameters (normal rows; guarded rows *):\n");
    for (size_t i = 0; i < N_MAIN_WL; i++) {
        enum bench_workload w = main_wl[i];
        const struct bench_job *j = &r->jobs[w], *g = &r->gjobs[w];

        if (!r->wl_on[w]) continue;
        if (w == BW_W4)
            fprintf(out,
                    "  %-6s %llu cycles of %zu heaps x %zu allocations (+%llu warm-up); "
                    "guarded: %llu cycles\n",
                    r->workload_names[w], (unsigned long long)j->rounds, j->nheaps, j->k,
                    (unsigned long long)j->warmup_rounds, (unsigned long long)g->rounds);
        else
            fprintf(out,
                    "  %-6s %llu rounds x K=%zu%s (+%llu warm-up rounds)%s; guarded: %llu "
                    "rounds\n",
                    r->workload_names[w], (unsigned long long)j->rounds, j->k,
                    j->const_size ? " x 16 B" : "", (unsigned long long)j->warmup_rounds,
                    w == BW_W5 ? " in each of 2 threads" : "", (unsigned long long)g->rounds);
    }
    fprintf(out, "  heaps: maxSize %zu, trimSize %zu; seed %llu\n\n", r->jobs[BW_W1].max_size,
            r->jobs[BW_W1].trim_size, (unsigned long long)r->seed);
}

static void print_time_table(const struct bench_report *r, FILE *out)
{
    fprintf(out,
            "CPU ns per allocation (W4: per heap; W5: per thread), median of %d "
            "repetitions; (ratio to floor-inline)\n",
            r->reps);
    fprintf(out, "%-15s", "backend");
    for (size_t i = 0; i < N_MAIN_WL; i++)
        if (r->wl_on[main_wl[i]])
            fprintf(out, " %17s",
                    main_wl[i] == BW_W4 ? "W4 ns/heap" : r->workload_names[main_wl[i]]);
    fprintf(out, "\n");
    for (size_t b = 0; b < bench_backends_count; b++) {
        if (!r->be_on[b] || strcmp(bench_backends[b]->name, "efence") == 0) continue;
        fprintf(out, "%-14s%s", bench_backends[b]->name, is_guarded(b) ? "*" : " ");
        for (size_t i = 0; i < N_MAIN_WL; i++) {
            enum bench_workload w = main_wl[i];
            const struct bench_cell *c = &r->cells[w][b];
            char ns[32], ratio[32], text[80];

            if (!r->wl_on[w]) continue;
            if (c->state != BC_OK) {
                fprintf(out, " %17s", state_text(c));
                continue;
            }
            fmt_ns(ns, sizeof ns, c->med);
            fmt_ratio(ratio, sizeof ratio, c->med / floor_ns(r, w));
            snprintf(text, sizeof text, "%s (%s)", ns, ratio);
            fprintf(out, " %17s", text);
        }
        fprintf(out, "\n");
    }
    fprintf(out, "* smaller counts (see Parameters)\n\n");
}

static void print_rss_table(const struct bench_report *r, FILE *out)
{
    fprintf(out, "Peak RSS of the run's process in MiB (+KiB added by the workload: peak minus "
                 "RSS before the first heap), median\n");
    fprintf(out, "%-15s", "backend");
    for (size_t i = 0; i < N_MAIN_WL; i++)
        if (r->wl_on[main_wl[i]]) fprintf(out, " %17s", r->workload_names[main_wl[i]]);
    fprintf(out, "\n");
    for (size_t b = 0; b < bench_backends_count; b++) {
        if (!r->be_on[b] || strcmp(bench_backends[b]->name, "efence") == 0) continue;
        fprintf(out, "%-14s%s", bench_backends[b]->name, is_guarded(b) ? "*" : " ");
        for (size_t i = 0; i < N_MAIN_WL; i++) {
            enum bench_workload w = main_wl[i];
            const struct bench_cell *c = &r->cells[w][b];
            char text[64];

            if (!r->wl_on[w]) continue;
            if (c->state != BC_OK) {
                fprintf(out, " %17s", state_text(c));
                continue;
            }
            snprintf(text, sizeof text, "%.1f (+%.0f)", c->med_rss / 1024, c->med_drss);
            fprintf(out, " %17s", text);
        }
        fprintf(out, "\n");
    }
    fprintf(out, "\n");
}

static void print_guarded_table(const struct bench_report *r, FILE *out)
{
    if (!r->wl_on[BW_G]) return;
    fprintf(out, "Guarded sweep G: N live 32-byte blocks, then reset (malloc rows: free each); "
                 "CPU us per alloc+reset, median\n");
    fprintf(out, "%-15s", "backend");
    for (int g = 0; g < r->ngn; g++) {
        char h[32];

        snprintf(h, sizeof h, "N=%zu", r->gn[g]);
        fprintf(out, " %14s", h);
    }
    fprintf(out, "\n");
    for (size_t b = 0; b < bench_backends_count; b++) {
        if (!r->be_on[b] || !is_guarded(b)) continue;
        fprintf(out, "%-15s", bench_backends[b]->name);
        for (int g = 0; g < r->ngn; g++) {
            const struct bench_cell *c = &r->gcells[g][b];
            char text[32];

            if (c->state != BC_OK)
                snprintf(text, sizeof text, "%s", state_text(c));
            else
                snprintf(text, sizeof text, "%.2f", c->med / 1000);
            fprintf(out, " %14s", text);
        }
        fprintf(out, "\n");
    }
    fprintf(out, "\n");
}

static void print_problems(const struct bench_report *r, FILE *out)
{
    int any = 0;

    for (size_t b = 0; b < bench_backends_count; b++) {
        for (int w = 0; w < BW_COUNT + r->ngn; w++) {
            const struct bench_cell *c =
                w < BW_COUNT ? &r->cells[w][b] : &r->gcells[w - BW_COUNT][b];
            char name[32];

            if (c->state != BC_FAIL && c->state != BC_SKIP) continue;
            if (w < BW_COUNT)
                snprintf(name, sizeof name, "%s", r->workload_names[w]);
            else
                snprintf(name, sizeof name, "G N=%zu", r->gn[w - BW_COUNT]);
            if (!any) fprintf(out, "Skipped and failed rows:\n");
            any = 1;
            fprintf(out, "  %-15s %-8s %s: %s\n", bench_backends[b]->name, name,
                    c->state == BC_FAIL ? "FAILED" : "skipped", c->why);
        }
    }
    if (any) fprintf(out, "\n");
}

/* One target line: [PASS]/[MISS]/[n/a ] text. */
static void target(FILE *out, int known, int pass, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void target(FILE *out, int known, int pass, const char *fmt, ...)
{
    va_list ap;

    fprintf(out, "  [%s] ", !known ? "n/a " : pass ? "PASS" : "MISS");
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fprintf(out, "\n");
}

static void faster_than(const struct bench_report *r, FILE *out, enum bench_workload w,
                        const char *anchor, double need)
{
    const struct bench_cell *ws = cell(r, w, "wsheap"), *an = cell(r, w, anchor);

    if (ws && an)
        target(out, 1, an->med / ws->med >= need,
               "%s: wsheap %.3g ns vs %s %.3g ns: %.2fx faster (target >= %.2fx)",
               r->workload_names[w], ws->med, anchor, an->med, an->med / ws->med, need);
    else
        target(out, 0, 0, "%s: wsheap >= %.2fx faster than %s (a row is missing)",
               r->workload_names[w], need, anchor);
}

static void print_targets(const struct bench_report *r, FILE *out)
{
    const struct bench_cell *ws, *fl;

    fprintf(out, "Targets (performance.md), from this run; the callgrind gate is callgrind.sh:\n");
    faster_than(r, out, BW_W1, "apr", 1.25);
    faster_than(r, out, BW_W1, "mimalloc-heap", 5);
    faster_than(r, out, BW_W1, "malloc", 20);
    faster_than(r, out, BW_W1K10, "apr", 1.0);
    faster_than(r, out, BW_W3, "apr", 8);
    ws = cell(r, BW_W4, "wsheap");
    fl = cell(r, BW_W4, "floor-call");
    if (ws && fl)
        target(out, 1, ws->med <= 1.5 * fl->med,
               "W4: wsheap %.1f ns/heap = %.2fx floor-call %.1f (target <= 1.5x)", ws->med,
               ws->med / fl->med, fl->med);
    else
        target(out, 0, 0, "W4: wsheap <= 1.5x floor-call per heap (a row is missing)");
    ws = cell(r, BW_W5, "wsheap");
    fl = cell(r, BW_W1, "wsheap");
    if (ws && fl)
        target(out, 1, ws->med <= 1.05 * fl->med,
               "W5: wsheap per-thread %.3g ns (threads %.3g, %.3g) = %.3fx W1 %.3g ns (target "
               "<= 1.05x)",
               ws->med, ws->med_t[0], ws->med_t[1], ws->med / fl->med, fl->med);
    else
        target(out, 0, 0, "W5: wsheap per-thread within 1.05x of W1 (a row is missing)");
    for (size_t i = 0; i < N_MAIN_WL; i++) {
        enum bench_workload w = main_wl[i];

        ws = cell(r, w, "wsheap");
        fl = cell(r, w, "floor-inline");
        if (ws && fl) {
            /* Compare what the workload added; a floor of under 64 KiB is noise, so the
             * allowance is 1.25x the floor or 64 KiB more, whichever is larger. */
            double allowed =
                fl->med_drss * 1.25 > fl->med_drss + 64 ? fl->med_drss * 1.25 : fl->med_drss + 64;
            target(out, 1, ws->med_drss <= allowed,
                   "%s RSS: wsheap +%.0f KiB vs floor +%.0f KiB (peaks %.1f / %.1f MiB; target "
                   "<= 1.25x)",
                   r->workload_names[w], ws->med_drss, fl->med_drss, ws->med_rss / 1024,
                   fl->med_rss / 1024);
        }
    }
    ws = cell(r, BW_W1, "wsheap");
    fl = cell(r, BW_W1, "floor-inline");
    if (ws && fl)
        target(out, 1, ws->med <= 1.3 * fl->med,
               "stretch W1: wsheap %.3g ns = %.2fx floor-inline %.3g ns (target <= 1.3x; for "
               "the optional inline fast path, measured here through the exported WsAlloc)",
               ws->med, ws->med / fl->med, fl->med);
    if (r->wl_on[BW_G]) {
        int gb = bench_backend_index("wsheap-guarded"), eb = bench_backend_index("efence");

        for (int g = 0; g < r->ngn; g++) {
            const struct bench_cell *gc = &r->gcells[g][gb], *ec = &r->gcells[g][eb];

            if (gc->state == BC_OK)
                target(out, 1, gc->med <= 4000,
                       "G N=%zu: wsheap-guarded %.2f us per alloc+reset (target <= 4 us)", r->gn[g],
                       gc->med / 1000);
            else
                target(out, 0, 0, "G N=%zu: wsheap-guarded <= 4 us (%s)", r->gn[g], state_text(gc));
            if (r->gn[g] == 30000 && gc->state == BC_OK && ec->state == BC_OK)
                target(out, 1, ec->med / gc->med >= 25,
                       "G N=30000: %.1fx cheaper than Electric Fence (%.1f us) (target >= 25x)",
                       ec->med / gc->med, ec->med / 1000);
        }
        if (r->ngn > 1 && r->gcells[0][gb].state == BC_OK &&
            r->gcells[r->ngn - 1][gb].state == BC_OK)
            target(out, 1, r->gcells[r->ngn - 1][gb].med <= 2 * r->gcells[0][gb].med,
                   "G flat: wsheap-guarded at N=%zu costs %.2fx N=%zu (target: flat, <= 2x here)",
                   r->gn[r->ngn - 1], r->gcells[r->ngn - 1][gb].med / r->gcells[0][gb].med,
                   r->gn[0]);
    }
    fprintf(out, "\n");
}

void bench_print_report(const struct bench_report *r, FILE *out)
{
    fprintf(out, "\nwsheap-bench on %s\n", r->machine);
    if (r->quick) fprintf(out, "QUICK MODE: smoke counts, the numbers below mean nothing\n");
    print_params(r, out);
    print_time_table(r, out);
    print_rss_table(r, out);
    print_guarded_table(r, out);
    print_problems(r, out);
    print_targets(r, out);
    fprintf(out, "Backends:\n");
    for (size_t b = 0; b < bench_backends_count; b++)
        if (r->be_on[b])
            fprintf(out, "  %-15s %s\n", bench_backends[b]->name, bench_backends[b]->label);
}

/* --- JSON / CSV ------------------------------------------------------------------------------- */

static const char *state_name(enum bench_cell_state s)
{
    static const char *const n[] = {"n/a", "ok", "failed", "skipped"};

    return n[s];
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double x)
{
    if (isnan(x) || isinf(x))
        fputs("null", f);
    else
        fprintf(f, "%.6g", x);
}

static void json_cell(FILE *f, const struct bench_report *r, const char *wl, size_t n, size_t b,
                      const struct bench_cell *c, double floor, int *first)
{
    fprintf(f, "%s\n    {\"workload\": \"%s\", ", *first ? "" : ",", wl);
    *first = 0;
    if (n) fprintf(f, "\"n\": %zu, ", n);
    fprintf(f, "\"backend\": \"%s\", \"state\": \"%s\"", bench_backends[b]->name,
            state_name(c->state));
    if (c->state == BC_OK) {
        fprintf(f, ", \"unit\": \"%s\", \"ns_median\": ",
                strcmp(wl, "W4") == 0 ? "heap" : "allocation");
        json_num(f, c->med);
        fputs(", \"ns_min\": ", f);
        json_num(f, c->lo);
        fputs(", \"ns_max\": ", f);
        json_num(f, c->hi);
        fputs(", \"ratio_to_floor\": ", f);
        json_num(f, n ? NAN : c->med / floor);
        fputs(", \"rss_peak_kib\": ", f);
        json_num(f, c->med_rss);
        fputs(", \"rss_added_kib\": ", f);
        json_num(f, c->med_drss);
        fprintf(f, ", \"units_per_run\": %llu, \"samples_ns\": [", (unsigned long long)c->units);
        for (int i = 0; i < c->nsamples; i++) {
            if (i) fputs(", ", f);
            json_num(f, c->ns[i]);
        }
        fputc(']', f);
        if (strcmp(wl, "W5") == 0) {
            fputs(", \"ns_thread\": [", f);
            json_num(f, c->med_t[0]);
            fputs(", ", f);
            json_num(f, c->med_t[1]);
            fputc(']', f);
        }
    } else if (c->why[0]) {
        fputs(", \"why\": ", f);
        json_string(f, c->why);
    }
    fputc('}', f);
    (void)r;
}

int bench_write_json(const struct bench_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    int first = 1;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    fputs("{\n  \"machine\": ", f);
    json_string(f, r->machine);
    fprintf(f, ",\n  \"reps\": %d,\n  \"quick\": %s,\n  \"seed\": %llu,\n  \"workloads\": {",
            r->reps, r->quick ? "true" : "false", (unsigned long long)r->seed);
    for (int w = 0, fw = 1; w < BW_COUNT; w++) {
        const struct bench_job *j = &r->jobs[w];

        if (!r->wl_on[w] || w == BW_G) continue;
        fprintf(f,
                "%s\n    \"%s\": {\"rounds\": %llu, \"warmup_rounds\": %llu, \"k\": %zu, "
                "\"nheaps\": %zu, \"guarded_rounds\": %llu, \"max_size\": %zu, "
                "\"trim_size\": %zu}",
                fw ? "" : ",", r->workload_names[w], (unsigned long long)j->rounds,
                (unsigned long long)j->warmup_rounds, j->k, j->nheaps,
                (unsigned long long)r->gjobs[w].rounds, j->max_size, j->trim_size);
        fw = 0;
    }
    fputs("\n  },\n  \"results\": [", f);
    for (int w = 0; w < BW_COUNT; w++) {
        if (!r->wl_on[w] || w == BW_G) continue;
        for (size_t b = 0; b < bench_backends_count; b++)
            if (r->be_on[b] && r->cells[w][b].state != BC_NA)
                json_cell(f, r, r->workload_names[w], 0, b, &r->cells[w][b],
                          floor_ns(r, (enum bench_workload)w), &first);
    }
    for (int g = 0; r->wl_on[BW_G] && g < r->ngn; g++)
        for (size_t b = 0; b < bench_backends_count; b++)
            if (r->be_on[b] && r->gcells[g][b].state != BC_NA)
                json_cell(f, r, "G", r->gn[g], b, &r->gcells[g][b], NAN, &first);
    fputs("\n  ]\n}\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

static void csv_cell(FILE *f, const char *wl, size_t n, size_t b, const struct bench_cell *c,
                     double floor)
{
    fprintf(f, "%s,%zu,%s,%s,", wl, n, bench_backends[b]->name, state_name(c->state));
    if (c->state == BC_OK) {
        fprintf(f, "%.6g,%.6g,%.6g,", c->med, c->lo, c->hi);
        if (n == 0 && !isnan(floor)) fprintf(f, "%.6g", c->med / floor);
        fprintf(f, ",%.0f,%.0f,%d,", c->med_rss, c->med_drss, c->nsamples);
    } else
        fprintf(f, ",,,,,,0,");
    fputc('"', f);
    for (const char *s = c->why; *s; s++)
        fputs(*s == '"' ? "\"\"" : (char[2]){*s, 0}, f);
    fputs("\"\n", f);
}

int bench_write_csv(const struct bench_report *r, const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        perror(path);
        return -1;
    }
    fputs("workload,n,backend,state,ns_median,ns_min,ns_max,ratio_to_floor,rss_peak_kib,"
          "rss_added_kib,samples,why\n",
          f);
    for (int w = 0; w < BW_COUNT; w++) {
        if (!r->wl_on[w] || w == BW_G) continue;
        for (size_t b = 0; b < bench_backends_count; b++)
            if (r->be_on[b] && r->cells[w][b].state != BC_NA)
                csv_cell(f, r->workload_names[w], 0, b, &r->cells[w][b],
                         floor_ns(r, (enum bench_workload)w));
    }
    for (int g = 0; r->wl_on[BW_G] && g < r->ngn; g++)
        for (size_t b = 0; b < bench_backends_count; b++)
            if (r->be_on[b] && r->gcells[g][b].state != BC_NA)
                csv_cell(f, "G", r->gn[g], b, &r->gcells[g][b], NAN);
    return fclose(f) == 0 ? 0 : -1;
}

/* --- SVG: ratio to the inline floor, log scale, one group of bars per workload ---------------- */

static const char *bar_color(const char *name)
{
    if (strcmp(name, "wsheap") == 0) return "#d9480f";
    if (strncmp(name, "floor", 5) == 0) return "#868e96";
    return "#4c6ef5";
}

static void svg_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else
            fputc(*s, f);
    }
}

int bench_write_svg(const struct bench_report *r, const char *path)
{
    const int label_w = 130, plot_x = 140, plot_w = 600, bar_h = 13, gap = 3, width = 900;
    double max_ratio = 10, decades;
    int height = 70, y;
    FILE *f;

    /* Axis: 1x .. the next power of ten above the largest ratio shown. */
    for (size_t i = 0; i < N_MAIN_WL; i++) {
        enum bench_workload w = main_wl[i];
        double fl = floor_ns(r, w);

        if (!r->wl_on[w] || isnan(fl)) continue;
        height += 24;
        for (size_t b = 0; b < bench_backends_count; b++) {
            const struct bench_cell *c = &r->cells[w][b];

            if (!r->be_on[b] || is_guarded(b) || c->state != BC_OK) continue;
            height += bar_h + gap;
            if (c->med / fl > max_ratio) max_ratio = c->med / fl;
        }
    }
    decades = ceil(log10(max_ratio));
    if (decades < 1) decades = 1;
    height += 30;

    if ((f = fopen(path, "w")) == NULL) {
        perror(path);
        return -1;
    }
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
            width, height, width, height);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", width, height);
    fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">CPU time per "
               "allocation (W4: per heap) relative to an inline bump-pointer floor; shorter is "
               "better</text>\n");
    fprintf(f, "<text x=\"10\" y=\"38\" fill=\"#555\">wsheap-bench, median of %d runs, log scale; ",
            r->reps);
    svg_text(f, r->machine);
    fprintf(f, "</text>\n");
    /* Grid lines and labels at each power of ten. */
    for (int d = 0; d <= (int)decades; d++) {
        double x = plot_x + plot_w * d / decades;

        fprintf(f, "<line x1=\"%.1f\" y1=\"50\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, x,
                height - 20);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%.0fx</text>\n",
                x, height - 8, pow(10, d));
    }
    y = 60;
    for (size_t i = 0; i < N_MAIN_WL; i++) {
        enum bench_workload w = main_wl[i];
        double fl = floor_ns(r, w);

        if (!r->wl_on[w] || isnan(fl)) continue;
        fprintf(f, "<text x=\"10\" y=\"%d\" font-weight=\"bold\">%s</text>\n", y + 12,
                w == BW_W4 ? "W4 (per heap)" : r->workload_names[w]);
        y += 20;
        for (size_t b = 0; b < bench_backends_count; b++) {
            const struct bench_cell *c = &r->cells[w][b];
            double ratio, len;
            char ns[32], rt[32];

            if (!r->be_on[b] || is_guarded(b) || c->state != BC_OK) continue;
            ratio = c->med / fl;
            len = ratio > 1 ? plot_w * log10(ratio) / decades : 0;
            if (len < 2) len = 2;
            fmt_ns(ns, sizeof ns, c->med);
            fmt_ratio(rt, sizeof rt, ratio);
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", label_w,
                    y + bar_h - 3, bench_backends[b]->name);
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n",
                    plot_x, y, len, bar_h, bar_color(bench_backends[b]->name));
            fprintf(f, "<text x=\"%.1f\" y=\"%d\">%s (%s ns)</text>\n", plot_x + len + 4,
                    y + bar_h - 3, rt, ns);
            y += bar_h + gap;
        }
        y += 4;
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
