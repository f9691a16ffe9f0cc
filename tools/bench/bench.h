/* SPDX-License-Identifier: MIT */
/*
 * wsheap-bench internals shared by the driver (wsheap-bench.c), the report writer (report.c) and
 * the backend adapters (backend_*.c). A backend is a table of entry points whose run() comes from
 * workload_impl.h, so that every backend runs the same workload loops with its own allocation
 * call compiled in (inlined, or through the PLT).
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* --- Workloads -------------------------------------------------------------------------------- */

enum bench_workload {
    BW_W1,    /* rounds of K=1000 mixed sizes, reset */
    BW_W2,    /* rounds of K=100,000 x 16 B, reset */
    BW_W3,    /* rounds of K=64 x 4 KiB..256 KiB, reset */
    BW_W4,    /* 1000 heaps alive, 10 allocations each, all freed */
    BW_W5,    /* two threads, each its own heap, running W1 */
    BW_W1K10, /* W1 with K=10 */
    BW_G,     /* guarded sweep: N live 32 B blocks, then reset (malloc rows: free each); last */
    BW_COUNT
};

extern const char *const bench_workload_names[BW_COUNT]; /* "W1" ... "G" */

/* Everything one run of one workload needs; built by the driver, identical for every backend. */
struct bench_job {
    enum bench_workload workload;
    uint64_t rounds;        /* timed rounds (W4: cycles of nheaps heaps) */
    uint64_t warmup_rounds; /* untimed rounds first, same heap(s) */
    size_t k;               /* allocations per round (W4: per heap; G: live blocks) */
    size_t nheaps;          /* W4 only */
    size_t const_size;      /* nonzero: every allocation has this size (W2, G) */
    const uint32_t *sizes;  /* table_rounds * k sizes when const_size == 0 */
    size_t table_rounds;    /* round r uses row r % table_rounds of `sizes` (W4: heap r) */
    size_t max_size;        /* WsCreateHeap maxSize and the like */
    size_t trim_size;       /* WsCreateHeap trimSize and the like */
    size_t round_bytes;     /* largest sum of sizes of one round (pool-sizing hint) */
    int validate;           /* also run the untimed validation pass */
};

/* What a run reports back. */
struct bench_result {
    uint64_t cpu_ns;         /* CPU time of the timed part (W5: mean over the two threads) */
    uint64_t units;          /* allocations (W4: heaps) in the timed part */
    uint64_t cpu_ns_t[2];    /* W5: each thread's own CPU time */
    uint64_t rss_before_kib; /* ru_maxrss before the first heap was created */
    uint64_t rss_peak_kib;   /* ru_maxrss right after the timed part (before validation) */
    char message[200];       /* why a run failed or was skipped */
};

/* --- Backends --------------------------------------------------------------------------------- */

enum bench_status { BS_OK = 0, BS_FAIL = 1, BS_SKIP = 2 };

struct bench_backend {
    const char *name;     /* as given to --backends */
    const char *skip_why; /* non-NULL: not built in (optional anchor not found) */
    const char *env;      /* NULL, or "NAME=VALUE ..." set in the child that runs a row */
    int guarded;          /* smaller counts, at most 3 repetitions; runs the sweep G */
    unsigned only;        /* nonzero: the workloads it runs (1 << BW_x); 0: every one but G
                           * (guarded: every one) */
    /* Once per process before any heap exists; BS_SKIP with a reason when the anchor cannot
     * run here. NULL when nothing is needed. */
    enum bench_status (*process_init)(char *why, size_t why_size);
    /* Runs `job` (warm-up, timed part, validation); BS_OK or BS_FAIL with res->message. */
    enum bench_status (*run)(const struct bench_job *job, struct bench_result *res);
};

/* Every backend compiled into the binary, in table order, the floor first (every ratio is to
 * bench_backends[0]); bench_backends_count entries. */
extern const struct bench_backend *const bench_backends[];
extern const size_t bench_backends_count;

/* Whether backend `b` (an index into bench_backends) runs workload `w`. */
int bench_applicable(enum bench_workload w, size_t b);

/* Index of backend `name` in bench_backends, or -1. */
int bench_backend_index(const char *name);

/* --- Driver results, as the report sees them (report.c) --------------------------------------- */

#define BENCH_MAX_REPS     64
#define BENCH_MAX_GN       8 /* guarded sweep sizes */
#define BENCH_MAX_COLS     (BW_COUNT - 1 + BENCH_MAX_GN)
#define BENCH_MAX_BACKENDS 16

/* A column of the report: a workload, and for G the number of live blocks. */
struct bench_column {
    enum bench_workload w;
    size_t n;
    char name[24]; /* "W1", "G N=1000" */
};

enum bench_cell_state { BC_NA = 0, BC_OK, BC_FAIL, BC_SKIP };

/* One (column, backend) cell over all repetitions. */
struct bench_cell {
    enum bench_cell_state state;
    int nsamples;
    double ns[BENCH_MAX_REPS];       /* ns per unit (allocation, or heap for W4) */
    double ns_t[2][BENCH_MAX_REPS];  /* W5: each thread's ns per allocation */
    double rss_kib[BENCH_MAX_REPS];  /* peak RSS of the run's process */
    double drss_kib[BENCH_MAX_REPS]; /* peak RSS minus RSS before the first heap */
    uint64_t units;                  /* units per timed run */
    char why[200];                   /* reason for FAIL / SKIP */
    /* Filled by bench_summarize(). */
    double med, lo, hi, med_rss, med_drss, med_t[2];
};

struct bench_report {
    int reps;
    int quick;
    uint64_t seed;
    int ncols;
    struct bench_column cols[BENCH_MAX_COLS]; /* the selected workloads in order; G once per N */
    int be_on[BENCH_MAX_BACKENDS];            /* backend selected (index into bench_backends) */
    struct bench_job jobs[BW_COUNT];          /* the parameters used for the normal rows */
    struct bench_job gjobs[BW_COUNT];         /* ... and for the guarded rows */
    struct bench_cell cells[BENCH_MAX_COLS][BENCH_MAX_BACKENDS];
    char machine[160];
};

/* Medians etc. for every cell. */
void bench_summarize(struct bench_report *r);
/* The CPU-time table, the guarded sweep and the skipped/failed list, to `out`. */
void bench_print_report(const struct bench_report *r, FILE *out);
/* Every cell with its samples and peak RSS (JSON), and a bar chart of the ratios to the floor
 * (SVG); 0, or -1 after printing why. */
int bench_write_json(const struct bench_report *r, const char *path);
int bench_write_svg(const struct bench_report *r, const char *path);

#endif
