/* SPDX-License-Identifier: MIT */
/*
 * wsheap-bench output: medians over the repetitions, the text tables (CPU time and ratio to the
 * inline floor; the guarded sweep), the skipped/failed list, and the JSON (every cell with its
 * samples and peak RSS) and SVG (a hand-written bar chart of the ratios) files.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

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

void bench_summarize(struct bench_report *r)
{
    for (int col = 0; col < r->ncols; col++) {
        for (size_t b = 0; b < bench_backends_count; b++) {
            struct bench_cell *c = &r->cells[col][b];

            if (c->state != BC_OK || c->nsamples == 0) continue;
            c->med = median(c->ns, c->nsamples);
            c->lo = c->hi = c->ns[0];
            for (int i = 1; i < c->nsamples; i++) {
                c->lo = fmin(c->lo, c->ns[i]);
                c->hi = fmax(c->hi, c->ns[i]);
            }
            c->med_rss = median(c->rss_kib, c->nsamples);
            c->med_drss = median(c->drss_kib, c->nsamples);
            c->med_t[0] = median(c->ns_t[0], c->nsamples);
            c->med_t[1] = median(c->ns_t[1], c->nsamples);
        }
    }
}

/* The floor's (bench_backends[0]) median in column `col`, or NAN. */
static double floor_ns(const struct bench_report *r, int col)
{
    return r->cells[col][0].state == BC_OK ? r->cells[col][0].med : NAN;
}

/* The number of columns before the guarded sweep's (G is the last workload). */
static int main_cols(const struct bench_report *r)
{
    int n = 0;

    while (n < r->ncols && r->cols[n].w != BW_G)
        n++;
    return n;
}

/* "1.43", "12.7", "885": three significant digits at most, then `suffix`; "?" for NAN. */
static void fmt3(char *buf, size_t size, double x, const char *suffix)
{
    if (isnan(x))
        snprintf(buf, size, "?");
    else
        snprintf(buf, size, "%.*f%s", x < 10 ? 2 : x < 100 ? 1 : 0, x, suffix);
}

static const char *state_text(const struct bench_cell *c)
{
    return c->state == BC_FAIL ? "FAIL" : c->state == BC_SKIP ? "skip" : "n/a";
}

/* CPU time and ratio to the floor, one column per workload but G. */
static void print_table(const struct bench_report *r, FILE *out)
{
    int nmain = main_cols(r);

    fprintf(out,
            "CPU ns per allocation (W4: per heap; W5: per thread) (ratio to floor-inline), "
            "median of %d repetitions\n%-15s",
            r->reps, "backend");
    for (int col = 0; col < nmain; col++)
        fprintf(out, " %17s", r->cols[col].w == BW_W4 ? "W4 ns/heap" : r->cols[col].name);
    for (size_t b = 0; b < bench_backends_count; b++) {
        int shown = 0;

        for (int col = 0; col < nmain; col++)
            shown |= bench_applicable(r->cols[col].w, b);
        if (!r->be_on[b] || !shown) continue;
        fprintf(out, "\n%-14s%s", bench_backends[b]->name, bench_backends[b]->guarded ? "*" : " ");
        for (int col = 0; col < nmain; col++) {
            const struct bench_cell *c = &r->cells[col][b];
            char ns[32], ratio[32], text[80];

            fmt3(ns, sizeof ns, c->med, "");
            fmt3(ratio, sizeof ratio, c->med / floor_ns(r, col), "x");
            snprintf(text, sizeof text, "%s (%s)", ns, ratio);
            fprintf(out, " %17s", c->state == BC_OK ? text : state_text(c));
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
    size_t nbe = bench_backends_count;

    fprintf(out,
            "Guarded sweep G: N live 32-byte blocks, then reset (Electric Fence: malloc, "
            "then free each); CPU us per block, median\n%-24s",
            "backend");
    for (int col = main_cols(r); col < r->ncols; col++)
        fprintf(out, " %12s", r->cols[col].name + 2); /* "N=1000" */
    for (size_t b = 0; b < nbe + 2; b++) {
        if (b < nbe && (!r->be_on[b] || !bench_applicable(BW_G, b))) continue;
        fprintf(out, "\n%-24s",
                b < nbe    ? bench_backends[b]->name
                : b == nbe ? "(stack capture, us)"
                           : "(efence / guarded)");
        for (int col = main_cols(r); col < r->ncols; col++) {
            const struct bench_cell *c = r->cells[col], *g = &c[gb], *n = &c[nb], *e = &c[eb];
            char text[32] = "-";

            if (b < nbe && c[b].state == BC_OK)
                snprintf(text, sizeof text, "%.2f", c[b].med / 1000);
            else if (b < nbe)
                snprintf(text, sizeof text, "%s", state_text(&c[b]));
            else if (b == nbe && g->state == BC_OK && n->state == BC_OK)
                snprintf(text, sizeof text, "%.2f", (g->med - n->med) / 1000);
            else if (b > nbe && g->state == BC_OK && e->state == BC_OK)
                fmt3(text, sizeof text, e->med / g->med, "x");
            fprintf(out, " %12s", text);
        }
    }
    fprintf(out, "\n\n");
}

void bench_print_report(const struct bench_report *r, FILE *out)
{
    int any = 0;

    fprintf(out, "\nwsheap-bench on %s\n", r->machine);
    if (r->quick) fprintf(out, "QUICK MODE: smoke counts, the numbers below mean nothing\n");
    if (main_cols(r) > 0) print_table(r, out);
    if (main_cols(r) < r->ncols) print_guarded_table(r, out);
    for (size_t b = 0; b < bench_backends_count; b++) {
        for (int col = 0; col < r->ncols; col++) {
            const struct bench_cell *c = &r->cells[col][b];

            if (c->state != BC_FAIL && c->state != BC_SKIP) continue;
            if (!any++) fprintf(out, "Skipped and failed rows:\n");
            fprintf(out, "  %-15s %-8s %s: %s\n", bench_backends[b]->name, r->cols[col].name,
                    c->state == BC_FAIL ? "FAILED" : "skipped", c->why);
        }
    }
    if (any) fprintf(out, "\n");
}

/* --- JSON ----------------------------------------------------------------------------------- */

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

/* `prefix`, then `x` as a JSON number (null when not finite). */
static void json_num(FILE *f, const char *prefix, double x)
{
    fputs(prefix, f);
    if (isfinite(x))
        fprintf(f, "%.6g", x);
    else
        fputs("null", f);
}

static void json_cell(FILE *f, const struct bench_report *r, int col, size_t b)
{
    static const char *const state_name[] = {"n/a", "ok", "failed", "skipped"};
    const struct bench_cell *c = &r->cells[col][b];
    enum bench_workload w = r->cols[col].w;

    fprintf(f, "\n    {\"workload\": \"%s\", ", bench_workload_names[w]);
    if (w == BW_G) fprintf(f, "\"n\": %zu, ", r->cols[col].n);
    fprintf(f, "\"backend\": \"%s\", \"state\": \"%s\"", bench_backends[b]->name,
            state_name[c->state]);
    if (c->state == BC_OK) {
        fprintf(f, ", \"unit\": \"%s\"", w == BW_W4 ? "heap" : "allocation");
        json_num(f, ", \"ns_median\": ", c->med);
        json_num(f, ", \"ns_min\": ", c->lo);
        json_num(f, ", \"ns_max\": ", c->hi);
        json_num(f, ", \"ratio_to_floor\": ", c->med / floor_ns(r, col));
        json_num(f, ", \"rss_peak_kib\": ", c->med_rss);
        json_num(f, ", \"rss_added_kib\": ", c->med_drss);
        fprintf(f, ", \"units_per_run\": %llu, \"samples_ns\": [", (unsigned long long)c->units);
        for (int i = 0; i < c->nsamples; i++)
            json_num(f, i ? ", " : "", c->ns[i]);
        fputc(']', f);
        if (w == BW_W5) {
            json_num(f, ", \"ns_thread\": [", c->med_t[0]);
            json_num(f, ", ", c->med_t[1]);
            fputc(']', f);
        }
    } else if (c->why[0]) {
        fputs(", \"why\": ", f);
        json_string(f, c->why);
    }
    fputc('}', f);
}

int bench_write_json(const struct bench_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    const char *sep = "";

    if (f == NULL) {
        perror(path);
        return -1;
    }
    fputs("{\n  \"machine\": ", f);
    json_string(f, r->machine);
    fprintf(f, ",\n  \"reps\": %d,\n  \"quick\": %s,\n  \"seed\": %llu,\n  \"workloads\": {",
            r->reps, r->quick ? "true" : "false", (unsigned long long)r->seed);
    for (int col = 0; col < main_cols(r); col++, sep = ",") {
        const struct bench_job *j = &r->jobs[r->cols[col].w];

        fprintf(f,
                "%s\n    \"%s\": {\"rounds\": %llu, \"warmup_rounds\": %llu, \"k\": %zu, "
                "\"nheaps\": %zu, \"guarded_rounds\": %llu, \"max_size\": %zu, "
                "\"trim_size\": %zu}",
                sep, r->cols[col].name, (unsigned long long)j->rounds,
                (unsigned long long)j->warmup_rounds, j->k, j->nheaps,
                (unsigned long long)r->gjobs[r->cols[col].w].rounds, j->max_size, j->trim_size);
    }
    fputs("\n  },\n  \"results\": [", f);
    sep = "";
    for (int col = 0; col < r->ncols; col++) {
        for (size_t b = 0; b < bench_backends_count; b++) {
            if (!r->be_on[b] || r->cells[col][b].state == BC_NA) continue;
            fputs(sep, f);
            json_cell(f, r, col, b);
            sep = ",";
        }
    }
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

/* Whether cell (col, b) has a bar: an unguarded row that ran, in a column the floor ran. */
static int has_bar(const struct bench_report *r, int col, size_t b)
{
    return r->be_on[b] && !bench_backends[b]->guarded && r->cells[col][b].state == BC_OK &&
           !isnan(floor_ns(r, col));
}

int bench_write_svg(const struct bench_report *r, const char *path)
{
    const int label_w = 130, plot_x = 140, plot_w = 600, bar_h = 13, gap = 3, width = 900;
    double max_ratio = 10, decades;
    int height = 70, y;
    FILE *f;

    /* Axis: 1x .. the next power of ten above the largest ratio shown. */
    for (int col = 0; col < main_cols(r); col++) {
        height += isnan(floor_ns(r, col)) ? 0 : 24;
        for (size_t b = 0; b < bench_backends_count; b++) {
            if (!has_bar(r, col, b)) continue;
            height += bar_h + gap;
            max_ratio = fmax(max_ratio, r->cells[col][b].med / floor_ns(r, col));
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
    for (int col = 0; col < main_cols(r); col++) {
        if (isnan(floor_ns(r, col))) continue;
        fprintf(f, "<text x=\"10\" y=\"%d\" font-weight=\"bold\">%s</text>\n", y + 12,
                r->cols[col].w == BW_W4 ? "W4 (per heap)" : r->cols[col].name);
        y += 20;
        for (size_t b = 0; b < bench_backends_count; b++) {
            const struct bench_cell *c = &r->cells[col][b];
            double ratio = c->med / floor_ns(r, col), len;
            char ns[32], rt[32];

            if (!has_bar(r, col, b)) continue;
            len = ratio > 1 ? plot_w * log10(ratio) / decades : 0;
            if (len < 2) len = 2;
            fmt3(ns, sizeof ns, c->med, "");
            fmt3(rt, sizeof rt, ratio, "x");
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
