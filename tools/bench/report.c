/* SPDX-License-Identifier: MIT */
/*
 * wsheap-bench output: medians over the repetitions, the text tables (time and ratio to the
 * inline floor, peak RSS, the guarded sweep), the skipped/failed list, and the JSON and SVG (a
 * hand-written bar chart) files.
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
    return bench_backends[b]->guarded;
}

/* Whether backend `b` has a row in the main tables: selected, and runs one of their workloads. */
static int in_main_tables(const struct bench_report *r, size_t b)
{
    for (size_t i = 0; i < N_MAIN_WL; i++)
        if (r->wl_on[main_wl[i]] && bench_applicable(main_wl[i], b)) return r->be_on[b];
    return 0;
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

/* One table over the main workloads: `rss` 0 for the CPU time and ratio to the floor, 1 for
 * the peak RSS. */
static void print_table(const struct bench_report *r, int rss, FILE *out)
{
    fprintf(out, "%s, median of %d repetitions\n%-15s",
            rss ? "Peak RSS of the run's process in MiB (+KiB added by the workload: peak minus "
                  "RSS before the first heap)"
                : "CPU ns per allocation (W4: per heap; W5: per thread) (ratio to floor-inline)",
            r->reps, "backend");
    for (size_t i = 0; i < N_MAIN_WL; i++)
        if (r->wl_on[main_wl[i]])
            fprintf(out, " %17s",
                    main_wl[i] == BW_W4 && !rss ? "W4 ns/heap" : r->workload_names[main_wl[i]]);
    for (size_t b = 0; b < bench_backends_count; b++) {
        if (!in_main_tables(r, b)) continue;
        fprintf(out, "\n%-14s%s", bench_backends[b]->name, is_guarded(b) ? "*" : " ");
        for (size_t i = 0; i < N_MAIN_WL; i++) {
            const struct bench_cell *c = &r->cells[main_wl[i]][b];
            char ns[32], ratio[32], text[80];

            if (!r->wl_on[main_wl[i]]) continue;
            fmt_ns(ns, sizeof ns, c->med);
            fmt_ratio(ratio, sizeof ratio, c->med / floor_ns(r, main_wl[i]));
            if (c->state != BC_OK)
                snprintf(text, sizeof text, "%s", state_text(c));
            else if (rss)
                snprintf(text, sizeof text, "%.1f (+%.0f)", c->med_rss / 1024, c->med_drss);
            else
                snprintf(text, sizeof text, "%s (%s)", ns, ratio);
            fprintf(out, " %17s", text);
        }
    }
    fprintf(out,
            "\n* guarded rows: smaller counts (rounds, warm-up and repetitions in the JSON)\n\n");
}

/* The guarded sweep, with two derived rows: what allocation stacks cost (wsheap-guarded minus
 * wsheap-guarded-nostack) and how many times cheaper than Electric Fence wsheap-guarded is. */
static void print_guarded_table(const struct bench_report *r, FILE *out)
{
    int gb = bench_backend_index("wsheap-guarded"),
        nb = bench_backend_index("wsheap-guarded-nostack"), eb = bench_backend_index("efence");

    if (!r->wl_on[BW_G]) return;
    fprintf(out,
            "Guarded sweep G: N live 32-byte blocks, then reset (Electric Fence: malloc, "
            "then free each); CPU us per block, median\n%-24s",
            "backend");
    for (int g = 0; g < r->ngn; g++) {
        char h[32];

        snprintf(h, sizeof h, "N=%zu", r->gn[g]);
        fprintf(out, " %12s", h);
    }
    for (size_t b = 0; b < bench_backends_count + 2; b++) {
        if (b < bench_backends_count && (!r->be_on[b] || !bench_applicable(BW_G, b))) continue;
        fprintf(out, "\n%-24s",
                b < bench_backends_count    ? bench_backends[b]->name
                : b == bench_backends_count ? "(stack capture, us)"
                                            : "(efence / guarded)");
        for (int g = 0; g < r->ngn; g++) {
            const struct bench_cell *c = &r->gcells[g][b < bench_backends_count ? b : 0];
            const struct bench_cell *gc = &r->gcells[g][gb], *nc = &r->gcells[g][nb],
                                    *ec = &r->gcells[g][eb];
            char text[32] = "-";

            if (b < bench_backends_count) snprintf(text, sizeof text, "%.2f", c->med / 1000);
            if (b < bench_backends_count && c->state != BC_OK)
                snprintf(text, sizeof text, "%s", state_text(c));
            if (b == bench_backends_count && gc->state == BC_OK && nc->state == BC_OK)
                snprintf(text, sizeof text, "%.2f", (gc->med - nc->med) / 1000);
            if (b > bench_backends_count && gc->state == BC_OK && ec->state == BC_OK)
                fmt_ratio(text, sizeof text, ec->med / gc->med);
            fprintf(out, " %12s", text);
        }
    }
    fprintf(out, "\n\n");
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

void bench_print_report(const struct bench_report *r, FILE *out)
{
    fprintf(out, "\nwsheap-bench on %s\n", r->machine);
    if (r->quick) fprintf(out, "QUICK MODE: smoke counts, the numbers below mean nothing\n");
    print_table(r, 0, out);
    print_table(r, 1, out);
    print_guarded_table(r, out);
    print_problems(r, out);
    fprintf(out, "Backends:\n");
    for (size_t b = 0; b < bench_backends_count; b++)
        if (r->be_on[b])
            fprintf(out, "  %-22s %s\n", bench_backends[b]->name, bench_backends[b]->label);
}

/* --- JSON ----------------------------------------------------------------------------------- */

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
