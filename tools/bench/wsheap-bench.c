/* SPDX-License-Identifier: MIT */
/*
 * wsheap-bench: CPU time per allocation of wsheap's WsAlloc/WsResetHeap against an inline
 * bump-pointer floor and the allocators a C programmer would otherwise use (APR pools, glibc
 * obstack, mimalloc, talloc, glibc malloc; Electric Fence for the guarded backend), on the
 * workloads of ../shared/design/performance.md. This file is the driver; the loops are in
 * workload_impl.h, the adapters in backend_*.c, the output in report.c.
 *
 * Usage: wsheap-bench [options]
 *   --only=W1,W2,...     workloads: W1 W2 W3 W4 W5 W1K10 G (default: all)
 *   --backends=a,b,...   backends (default: all; --list shows them)
 *   --reps=N             repetitions, backends interleaved, medians reported (default 7)
 *   --rounds=N           timed rounds per run (W4: cycles of 1000 heaps) for every workload
 *   --k=N                allocations per round (W4: per heap) for every workload
 *   --seed=N             seed of the size tables (default 1)
 *   --max-size=BYTES     maxSize for WsCreateHeap (default 1 GiB)
 *   --trim-size=BYTES    trimSize (default 64 MiB: covers any round)
 *   --guarded-n=N,...    live blocks in the guarded sweep G (default 1000,30000)
 *   --json FILE, --csv FILE, --svg FILE   machine-readable results, bar chart of the ratios
 *   --quick              CI smoke: every workload, tiny counts, one repetition; exit 0 only
 *                        when every validation passed (no timing assertions)
 *   --callgrind-mode     run one workload with one backend once, in this process, no warm-up,
 *                        no children (see callgrind.sh and syscalls.sh); set WSHEAP_PAGEHEAP=1
 *                        yourself for wsheap-guarded
 *   --list               list the backends and whether they are built in
 *   --verbose            show each child's output
 *   --help
 * Every run happens in a fresh child process (this program re-executed), so each row gets a
 * clean address space, its own peak RSS and its own environment (WSHEAP_PAGEHEAP=1 for the
 * guarded rows, LD_PRELOAD for Electric Fence).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern const struct bench_backend bench_backend_floor_inline, bench_backend_floor_call,
    bench_backend_floor_so, bench_backend_wsheap, bench_backend_wsheap_inline, bench_backend_apr,
    bench_backend_obstack, bench_backend_mimalloc, bench_backend_mimalloc_heap,
    bench_backend_talloc, bench_backend_malloc, bench_backend_wsheap_guarded, bench_backend_efence;

const struct bench_backend *const bench_backends[] = {
    &bench_backend_floor_inline, &bench_backend_floor_call,    &bench_backend_floor_so,
    &bench_backend_wsheap,       &bench_backend_wsheap_inline, &bench_backend_apr,
    &bench_backend_obstack,      &bench_backend_mimalloc,      &bench_backend_mimalloc_heap,
    &bench_backend_talloc,       &bench_backend_malloc,        &bench_backend_wsheap_guarded,
    &bench_backend_efence,
};
const size_t bench_backends_count = sizeof bench_backends / sizeof bench_backends[0];

static const char *const workload_names[BW_COUNT] = {"W1", "W2", "W3", "W4", "W5", "W1K10", "G"};

int bench_backend_index(const char *name)
{
    for (size_t i = 0; i < bench_backends_count; i++)
        if (strcmp(bench_backends[i]->name, name) == 0) return (int)i;
    return -1;
}

static int is_guarded_backend(int b)
{
    return strcmp(bench_backends[b]->name, "wsheap-guarded") == 0 ||
           strcmp(bench_backends[b]->name, "efence") == 0;
}

/* Which (workload, backend) cells exist: Electric Fence only runs W1 and the sweep; the sweep
 * only runs the guarded backends. */
static int applicable(enum bench_workload w, int b)
{
    if (w == BW_G) return is_guarded_backend(b);
    if (strcmp(bench_backends[b]->name, "efence") == 0) return w == BW_W1;
    return 1;
}

/* --- Options ---------------------------------------------------------------------------------- */

struct opts {
    int wl_on[BW_COUNT];
    int be_on[32];
    int reps;
    long long rounds, k;
    uint64_t seed;
    size_t max_size, trim_size;
    size_t gn[BENCH_MAX_GN];
    int ngn;
    const char *json, *csv, *svg;
    int quick, callgrind, list, verbose;
    /* Child (hidden): one run of `child_backend` with the job given by the fields below. */
    const char *child_backend;
    int child_workload;
    struct bench_job cj;
    int timeout;
};

static void usage(FILE *f)
{
    fputs("usage: wsheap-bench [--only=W1,W2,W3,W4,W5,W1K10,G] [--backends=LIST] [--reps=N]\n"
          "                    [--rounds=N] [--k=N] [--seed=N] [--max-size=B] [--trim-size=B]\n"
          "                    [--guarded-n=N,...] [--json FILE] [--csv FILE] [--svg FILE]\n"
          "                    [--quick] [--callgrind-mode] [--list] [--verbose] [--help]\n"
          "Reports CPU ns per allocation (W4: per heap), the ratio to the inline bump floor and\n"
          "peak RSS for every backend; see docs/PERFORMANCE.md.\n",
          f);
}

static int workload_by_name(const char *s, size_t len)
{
    for (int w = 0; w < BW_COUNT; w++)
        if (strlen(workload_names[w]) == len && strncasecmp(workload_names[w], s, len) == 0)
            return w;
    return -1;
}

static unsigned long long parse_num(const char *opt, const char *v)
{
    char *end;
    unsigned long long x;

    errno = 0;
    x = strtoull(v, &end, 0);
    if (errno != 0 || end == v || *end != '\0') {
        fprintf(stderr, "wsheap-bench: %s: not a number: '%s'\n", opt, v);
        exit(2);
    }
    return x;
}

/* Calls fn(item, len, ctx) for each comma-separated item of `list`. */
static void each_item(const char *list, void (*fn)(const char *, size_t, void *), void *ctx)
{
    while (*list) {
        const char *comma = strchr(list, ',');
        size_t len = comma ? (size_t)(comma - list) : strlen(list);

        if (len > 0) fn(list, len, ctx);
        list += len + (comma != NULL);
    }
}

static void add_workload(const char *s, size_t len, void *ctx)
{
    int w = workload_by_name(s, len);

    if (w < 0) {
        fprintf(stderr, "wsheap-bench: unknown workload '%.*s'\n", (int)len, s);
        exit(2);
    }
    ((struct opts *)ctx)->wl_on[w] = 1;
}

static void add_backend(const char *s, size_t len, void *ctx)
{
    char name[64];
    int b;

    snprintf(name, sizeof name, "%.*s", (int)len, s);
    if ((b = bench_backend_index(name)) < 0) {
        fprintf(stderr, "wsheap-bench: unknown backend '%s' (--list shows them)\n", name);
        exit(2);
    }
    ((struct opts *)ctx)->be_on[b] = 1;
}

static void add_gn(const char *s, size_t len, void *ctx)
{
    struct opts *o = ctx;
    char num[32];

    snprintf(num, sizeof num, "%.*s", (int)len, s);
    if (o->ngn < BENCH_MAX_GN) o->gn[o->ngn++] = (size_t)parse_num("--guarded-n", num);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    int any_wl = 0, any_be = 0;

    memset(o, 0, sizeof *o);
    o->reps = 7;
    o->rounds = -1;
    o->k = -1;
    o->seed = 1;
    o->max_size = (size_t)1 << 30;
    o->trim_size = (size_t)64 << 20;
    o->child_workload = -1;
    o->timeout = 900;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const char *v = eq ? eq + 1 : NULL;

#define IS(name) (nlen == strlen(name) && strncmp(a, name, nlen) == 0)
#define NEED_V()                                                                                   \
    do {                                                                                           \
        if (v == NULL && i + 1 < argc) v = argv[++i];                                              \
        if (v == NULL) {                                                                           \
            fprintf(stderr, "wsheap-bench: %s needs a value\n", a);                                \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)
        if (IS("--help") || IS("-h")) {
            usage(stdout);
            exit(0);
        } else if (IS("--only")) {
            NEED_V();
            each_item(v, add_workload, o);
            any_wl = 1;
        } else if (IS("--backends")) {
            NEED_V();
            each_item(v, add_backend, o);
            any_be = 1;
        } else if (IS("--reps")) {
            NEED_V();
            o->reps = (int)parse_num(a, v);
            if (o->reps < 1 || o->reps > BENCH_MAX_REPS) {
                fprintf(stderr, "wsheap-bench: --reps must be 1..%d\n", BENCH_MAX_REPS);
                exit(2);
            }
        } else if (IS("--rounds")) {
            NEED_V();
            o->rounds = (long long)parse_num(a, v);
        } else if (IS("--k")) {
            NEED_V();
            o->k = (long long)parse_num(a, v);
            if (o->k < 1) {
                fprintf(stderr, "wsheap-bench: --k must be at least 1\n");
                exit(2);
            }
        } else if (IS("--seed")) {
            NEED_V();
            o->seed = parse_num(a, v);
        } else if (IS("--max-size")) {
            NEED_V();
            o->max_size = (size_t)parse_num(a, v);
        } else if (IS("--trim-size")) {
            NEED_V();
            o->trim_size = (size_t)parse_num(a, v);
        } else if (IS("--guarded-n")) {
            NEED_V();
            o->ngn = 0;
            each_item(v, add_gn, o);
        } else if (IS("--json")) {
            NEED_V();
            o->json = v;
        } else if (IS("--csv")) {
            NEED_V();
            o->csv = v;
        } else if (IS("--svg")) {
            NEED_V();
            o->svg = v;
        } else if (IS("--quick")) {
            o->quick = 1;
        } else if (IS("--callgrind-mode")) {
            o->callgrind = 1;
        } else if (IS("--list")) {
            o->list = 1;
        } else if (IS("--verbose") || IS("-v")) {
            o->verbose = 1;
            /* Hidden: the child side of one run. */
        } else if (IS("--child")) {
            NEED_V();
            o->child_backend = v;
        } else if (IS("--workload")) {
            NEED_V();
            o->child_workload = workload_by_name(v, strlen(v));
        } else if (IS("--warmup")) {
            NEED_V();
            o->cj.warmup_rounds = parse_num(a, v);
        } else if (IS("--nheaps")) {
            NEED_V();
            o->cj.nheaps = (size_t)parse_num(a, v);
        } else if (IS("--const-size")) {
            NEED_V();
            o->cj.const_size = (size_t)parse_num(a, v);
        } else if (IS("--table-rounds")) {
            NEED_V();
            o->cj.table_rounds = (size_t)parse_num(a, v);
        } else if (IS("--validate")) {
            o->cj.validate = 1;
        } else if (IS("--timeout")) {
            NEED_V();
            o->timeout = (int)parse_num(a, v);
        } else {
            fprintf(stderr, "wsheap-bench: unknown option '%s'\n", a);
            usage(stderr);
            exit(2);
        }
#undef IS
#undef NEED_V
    }
    if (!any_wl)
        for (int w = 0; w < BW_COUNT; w++)
            o->wl_on[w] = 1;
    if (!any_be)
        for (size_t b = 0; b < bench_backends_count; b++)
            o->be_on[b] = 1;
    if (o->ngn == 0) {
        o->gn[o->ngn++] = 1000;
        if (!o->quick) o->gn[o->ngn++] = 30000;
    }
}

/* --- Jobs and size tables --------------------------------------------------------------------- */

/* The parameters of workload `w`, for the normal rows or (guarded) the smaller guarded ones. */
static void make_job(const struct opts *o, enum bench_workload w, int guarded, size_t gn,
                     struct bench_job *j)
{
    /* rounds, warm-up, k for: normal, guarded, quick, quick guarded */
    static const struct {
        uint64_t rounds[4], warmup[4];
        size_t k;
    } d[BW_COUNT] = {
        [BW_W1] = {{5000, 20, 20, 5}, {500, 2, 2, 1}, 1000},
        [BW_W2] = {{50, 2, 2, 1}, {5, 1, 1, 0}, 100000},
        [BW_W3] = {{2000, 20, 10, 3}, {200, 2, 1, 1}, 64},
        [BW_W4] = {{100, 2, 2, 1}, {10, 1, 1, 0}, 10},
        [BW_W5] = {{5000, 20, 20, 5}, {500, 2, 2, 1}, 1000},
        [BW_W1K10] = {{500000, 2000, 2000, 500}, {50000, 200, 100, 20}, 10},
        [BW_G] = {{0, 0, 0, 0}, {0, 0, 0, 0}, 0},
    };
    int col = (o->quick ? 2 : 0) + (guarded ? 1 : 0);

    memset(j, 0, sizeof *j);
    j->workload = w;
    j->k = d[w].k;
    j->rounds = d[w].rounds[col];
    j->warmup_rounds = d[w].warmup[col];
    if (w == BW_G) {
        gn = gn ? gn : 1000;
        j->k = gn;
        j->const_size = 32;
        j->rounds = gn >= 30000 ? 1 : 30000 / gn;
        if (o->quick) j->rounds = 2;
        j->warmup_rounds = gn <= 1000 ? 1 : 0;
    }
    if (o->k > 0) j->k = (size_t)o->k;
    if (o->rounds >= 0) j->rounds = (uint64_t)o->rounds;
    if (w == BW_W2) j->const_size = 16;
    if (w == BW_W4) j->nheaps = 1000;
    /* Rows in the size table: a power of two holding about 64Ki sizes (W1: 64 rounds), so
     * that runs of R and 2R rounds (callgrind.sh) differ by whole passes over the table. */
    j->table_rounds = 1;
    while (!j->const_size && j->table_rounds * 2 * j->k <= 65536)
        j->table_rounds *= 2;
    if (w == BW_W4) j->table_rounds = 1;
    j->max_size = o->max_size;
    j->trim_size = o->trim_size;
}

/* Builds the job's size table (deterministic from the seed) and its round_bytes hint. */
static uint32_t *make_table(uint64_t seed, struct bench_job *j)
{
    size_t n = 0, row = 0;
    uint64_t state = seed * 0x100000001b3u + (uint64_t)j->workload;
    uint32_t *t = NULL;

    if (j->workload == BW_W5 || j->workload == BW_W1K10)
        state = seed * 0x100000001b3u + (uint64_t)(j->workload == BW_W5 ? BW_W1 : BW_W1K10);
    if (j->const_size == 0) {
        row = j->k;
        n = j->workload == BW_W4 ? j->nheaps * j->k : j->table_rounds * j->k;
        if ((t = malloc(n * sizeof *t)) == NULL) {
            fprintf(stderr, "wsheap-bench: out of memory for the size table\n");
            exit(1);
        }
        if (j->workload == BW_W3)
            bench_fill_w3_sizes(t, n, &state);
        else
            bench_fill_w1_sizes(t, n, &state);
        j->round_bytes = 0;
        for (size_t r = 0; r < n / row; r++) {
            size_t sum = 0;

            for (size_t i = 0; i < row; i++)
                sum += (t[r * row + i] + 7) & ~(size_t)7;
            if (sum > j->round_bytes) j->round_bytes = sum;
        }
    } else {
        j->round_bytes = j->k * ((j->const_size + 7) & ~(size_t)7);
    }
    j->sizes = t;
    return t;
}

/* --- Child side: one run ---------------------------------------------------------------------- */

static void print_result(enum bench_status st, const struct bench_result *res)
{
    char msg[sizeof res->message];

    /* One line, no newlines inside the message. */
    snprintf(msg, sizeof msg, "%s", res->message[0] ? res->message : "-");
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    printf("RESULT %d %llu %llu %llu %llu %llu %llu %s\n", (int)st, (unsigned long long)res->cpu_ns,
           (unsigned long long)res->units, (unsigned long long)res->cpu_ns_t[0],
           (unsigned long long)res->cpu_ns_t[1], (unsigned long long)res->rss_before_kib,
           (unsigned long long)res->rss_peak_kib, msg);
    fflush(stdout);
}

/* Runs `job` with backend `b` in this process. Returns the status; fills `res`. */
static enum bench_status run_here(int b, struct bench_job *job, struct bench_result *res)
{
    const struct bench_backend *be = bench_backends[b];
    enum bench_status st;

    memset(res, 0, sizeof *res);
    if (be->skip_why != NULL) {
        snprintf(res->message, sizeof res->message, "%s", be->skip_why);
        return BS_SKIP;
    }
    if (be->process_init != NULL &&
        (st = be->process_init(res->message, sizeof res->message)) != BS_OK)
        return st;
    return be->run(job, res);
}

static int child_main(struct opts *o)
{
    int b = bench_backend_index(o->child_backend);
    struct bench_job j = o->cj;
    struct bench_result res;
    enum bench_status st;

    if (b < 0 || o->child_workload < 0) {
        fprintf(stderr, "wsheap-bench: bad child invocation\n");
        return 2;
    }
    alarm((unsigned)o->timeout);
    j.workload = (enum bench_workload)o->child_workload;
    j.rounds = (uint64_t)o->rounds;
    j.k = (size_t)o->k;
    j.max_size = o->max_size;
    j.trim_size = o->trim_size;
    make_table(o->seed, &j);
    st = run_here(b, &j, &res);
    print_result(st, &res);
    return 0;
}

/* --- Callgrind mode: one run in this process -------------------------------------------------- */

static int callgrind_main(struct opts *o)
{
    int w = -1, b = -1, nw = 0, nb = 0;
    struct bench_job j;
    struct bench_result res;
    enum bench_status st;

    for (int i = 0; i < BW_COUNT; i++)
        if (o->wl_on[i]) w = i, nw++;
    for (size_t i = 0; i < bench_backends_count; i++)
        if (o->be_on[i]) b = (int)i, nb++;
    if (nw != 1 || nb != 1 || w == BW_W5) {
        fprintf(stderr, "wsheap-bench: --callgrind-mode needs exactly one of W1 W2 W3 W4 W1K10 G "
                        "(--only) and one backend (--backends); G uses the first --guarded-n, "
                        "and wsheap-guarded needs WSHEAP_PAGEHEAP=1 in the environment\n");
        return 2;
    }
    make_job(o, (enum bench_workload)w, w == BW_G, o->gn[0], &j);
    j.warmup_rounds = 0;
    j.validate = 0;
    make_table(o->seed, &j);
    st = run_here(b, &j, &res);
    if (st != BS_OK) {
        fprintf(stderr, "wsheap-bench: %s %s: %s: %s\n", workload_names[w], bench_backends[b]->name,
                st == BS_SKIP ? "skipped" : "FAILED", res.message);
        return 1;
    }
    /* units: allocations, or heaps for W4 */
    printf("workload=%s backend=%s rounds=%llu k=%zu units=%llu\n", workload_names[w],
           bench_backends[b]->name, (unsigned long long)j.rounds, j.k,
           (unsigned long long)res.units);
    return 0;
}

/* --- Parent side: spawn, collect -------------------------------------------------------------- */

#ifndef BENCH_EFENCE_PATH
#define BENCH_EFENCE_PATH ""
#endif

struct child_out {
    enum bench_status st;
    struct bench_result res;
    int died; /* no RESULT line */
};

/* Runs one job in a fresh child (this program re-executed) and reads its RESULT line. */
static void spawn_run(const struct opts *o, int b, const struct bench_job *j, struct child_out *co)
{
    char bufs[16][64];
    char *argv[40];
    int argc = 0, pfd[2];
    pid_t pid;
    char *out = NULL;
    size_t len = 0, cap = 0;
    int status;
    const char *name = bench_backends[b]->name;

    memset(co, 0, sizeof *co);
#define ARG(...)                                                                                   \
    (snprintf(bufs[argc], sizeof bufs[argc], __VA_ARGS__), argv[argc] = bufs[argc], argc++)
    ARG("wsheap-bench");
    ARG("--child=%s", name);
    ARG("--workload=%s", workload_names[j->workload]);
    ARG("--rounds=%llu", (unsigned long long)j->rounds);
    ARG("--warmup=%llu", (unsigned long long)j->warmup_rounds);
    ARG("--k=%zu", j->k);
    ARG("--nheaps=%zu", j->nheaps);
    ARG("--const-size=%zu", j->const_size);
    ARG("--table-rounds=%zu", j->table_rounds);
    ARG("--seed=%llu", (unsigned long long)o->seed);
    ARG("--max-size=%zu", j->max_size);
    ARG("--trim-size=%zu", j->trim_size);
    ARG("--timeout=%d", o->quick ? 120 : o->timeout);
    if (j->validate) ARG("--validate");
#undef ARG
    argv[argc] = NULL;

    if (pipe(pfd) != 0 || (pid = fork()) < 0) {
        co->st = BS_FAIL;
        snprintf(co->res.message, sizeof co->res.message, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        unsetenv("WSHEAP_PAGEHEAP");
        unsetenv("LD_PRELOAD");
        if (strcmp(name, "wsheap-guarded") == 0) setenv("WSHEAP_PAGEHEAP", "1", 1);
        if (strcmp(name, "efence") == 0 && BENCH_EFENCE_PATH[0] != '\0') {
            setenv("LD_PRELOAD", BENCH_EFENCE_PATH, 1);
            setenv("EF_ALIGNMENT", "8", 1);
        }
        execv("/proc/self/exe", argv);
        fprintf(stderr, "wsheap-bench: exec /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    for (;;) {
        ssize_t got;

        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            if ((out = realloc(out, cap + 1)) == NULL) {
                fprintf(stderr, "wsheap-bench: out of memory\n");
                exit(1);
            }
        }
        got = read(pfd[0], out + len, cap - len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(pfd[0]);
    out = out ? out : calloc(1, 1);
    out[len] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (o->verbose && len > 0)
        fprintf(stderr, "[%s %s] %s", name, workload_names[j->workload], out);

    {
        char *line = strstr(out, "RESULT ");
        int st = -1, used = 0;
        unsigned long long v[6] = {0};

        /* RESULT status cpu_ns units t0_ns t1_ns rss_before rss_peak message */
        if (line != NULL && sscanf(line, "RESULT %d %llu %llu %llu %llu %llu %llu %n", &st, &v[0],
                                   &v[1], &v[2], &v[3], &v[4], &v[5], &used) >= 7) {
            co->res.cpu_ns = v[0];
            co->res.units = v[1];
            co->res.cpu_ns_t[0] = v[2];
            co->res.cpu_ns_t[1] = v[3];
            co->res.rss_before_kib = v[4];
            co->res.rss_peak_kib = v[5];
            co->st = (enum bench_status)st;
            if (used > 0) {
                char *msg = line + used, *nl = strchr(msg, '\n');

                if (nl) *nl = '\0';
                snprintf(co->res.message, sizeof co->res.message, "%s",
                         strcmp(msg, "-") == 0 ? "" : msg);
            }
        } else {
            /* No result: the child died. Show how, and its last line of output. */
            char *last = out + len;

            while (last > out && (last[-1] == '\n'))
                *--last = '\0';
            while (last > out && last[-1] != '\n')
                last--;
            co->died = 1;
            co->st = BS_FAIL;
            if (WIFSIGNALED(status))
                snprintf(co->res.message, sizeof co->res.message, "child killed by signal %d%s%s%s",
                         WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (timeout)" : "",
                         *last ? ": " : "", last);
            else
                snprintf(co->res.message, sizeof co->res.message, "child exited %d%s%s",
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1, *last ? ": " : "", last);
        }
    }
    free(out);
}

static const struct opts *bench_options; /* the parent's options */

/* Records one child's outcome in a cell. */
static void record(struct bench_cell *c, enum bench_workload w, const struct child_out *co)
{
    if (co->st == BS_SKIP) {
        c->state = BC_SKIP;
        snprintf(c->why, sizeof c->why, "%s", co->res.message);
        return;
    }
    if (co->st != BS_OK || co->res.units == 0) {
        c->state = BC_FAIL;
        snprintf(c->why, sizeof c->why, "%s", co->res.message[0] ? co->res.message : "no result");
        return;
    }
    c->state = BC_OK;
    c->units = co->res.units;
    c->ns[c->nsamples] = (double)co->res.cpu_ns / (double)co->res.units;
    if (w == BW_W5) {
        c->ns_t[0][c->nsamples] = (double)co->res.cpu_ns_t[0] / (double)co->res.units;
        c->ns_t[1][c->nsamples] = (double)co->res.cpu_ns_t[1] / (double)co->res.units;
    }
    c->rss_kib[c->nsamples] = (double)co->res.rss_peak_kib;
    c->drss_kib[c->nsamples] = (double)co->res.rss_peak_kib - (double)co->res.rss_before_kib;
    c->nsamples++;
}

/* A cell keeps running while it has not failed or been skipped. */
static int cell_live(const struct bench_cell *c)
{
    return c->state == BC_NA || c->state == BC_OK;
}

static void describe_machine(char *buf, size_t size)
{
    struct utsname u;
    char model[128] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");

    if (f != NULL) {
        char line[256];

        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');

                if (c) {
                    snprintf(model, sizeof model, "%s", c + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        fclose(f);
    }
    uname(&u);
    snprintf(buf, size, "%s, %ld CPUs, Linux %s", model, sysconf(_SC_NPROCESSORS_ONLN), u.release);
}

/* Electric Fence maps two areas per live block and dies at vm.max_map_count (65530 by
 * default, so near 32.7k blocks): rather than crash, mark the sweep sizes past that skipped.
 * Asking for that backend alone (--backends=efence) still runs them, to show the crash. */
static int efence_past_limit(int b, size_t n, struct bench_cell *c)
{
    static long max_maps = -1;
    static int alone = -1;

    if (strcmp(bench_backends[b]->name, "efence") != 0) return 0;
    if (max_maps < 0) {
        FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

        if (f == NULL || fscanf(f, "%ld", &max_maps) != 1) max_maps = 65530;
        if (f != NULL) fclose(f);
    }
    if (alone < 0) {
        alone = 1;
        for (size_t i = 0; i < bench_backends_count; i++)
            if (i != (size_t)b && bench_options->be_on[i]) alone = 0;
    }
    if (alone || (long)(2 * n) < max_maps) return 0;
    c->state = BC_SKIP;
    snprintf(c->why, sizeof c->why,
             "%zu live blocks need %zu mappings, vm.max_map_count is %ld: Electric Fence dies "
             "there (--backends=efence alone runs it anyway)",
             n, 2 * n, max_maps);
    return 1;
}

static int parent_main(struct opts *o)
{
    struct bench_report *r = calloc(1, sizeof *r);
    int nb = (int)bench_backends_count;
    int greps;
    int failures = 0;

    if (r == NULL) return 1;
    bench_options = o;
    if (o->quick) o->reps = 1;
    greps = o->reps < 3 ? o->reps : 3;
    r->reps = o->reps;
    r->quick = o->quick;
    r->seed = o->seed;
    r->ngn = o->ngn;
    memcpy(r->gn, o->gn, sizeof r->gn);
    memcpy(r->wl_on, o->wl_on, sizeof r->wl_on);
    memcpy(r->be_on, o->be_on, sizeof r->be_on);
    for (int w = 0; w < BW_COUNT; w++) {
        r->workload_names[w] = workload_names[w];
        make_job(o, (enum bench_workload)w, 0, 0, &r->jobs[w]);
        make_job(o, (enum bench_workload)w, 1, 0, &r->gjobs[w]);
    }
    describe_machine(r->machine, sizeof r->machine);

    for (int rep = 0; rep < o->reps; rep++) {
        for (int w = 0; w < BW_COUNT; w++) {
            int ncols = w == BW_G ? o->ngn : 1;

            if (!o->wl_on[w]) continue;
            fprintf(stderr, "wsheap-bench: rep %d/%d %s:", rep + 1, o->reps, workload_names[w]);
            for (int col = 0; col < ncols; col++) {
                /* Rotate the order each repetition so no backend always runs first. */
                for (int step = 0; step < nb; step++) {
                    int b = (step + rep) % nb;
                    int guarded = is_guarded_backend(b);
                    struct bench_cell *c = w == BW_G ? &r->gcells[col][b] : &r->cells[w][b];
                    struct bench_job j;
                    struct child_out co;

                    if (!o->be_on[b] || !applicable((enum bench_workload)w, b) || !cell_live(c))
                        continue;
                    if (guarded && rep >= greps) continue;
                    if (w == BW_G && efence_past_limit(b, o->gn[col], c)) continue;
                    make_job(o, (enum bench_workload)w, guarded, o->gn[col], &j);
                    j.validate = rep == 0;
                    if (bench_backends[b]->skip_why != NULL) {
                        /* Known without a child (and a preload could not even start one). */
                        memset(&co, 0, sizeof co);
                        co.st = BS_SKIP;
                        snprintf(co.res.message, sizeof co.res.message, "%s",
                                 bench_backends[b]->skip_why);
                    } else {
                        spawn_run(o, b, &j, &co);
                    }
                    record(c, (enum bench_workload)w, &co);
                    fprintf(stderr, " %s%s", bench_backends[b]->name,
                            c->state == BC_FAIL   ? "(FAIL)"
                            : c->state == BC_SKIP ? "(skip)"
                                                  : "");
                }
            }
            fprintf(stderr, "\n");
        }
    }
    bench_summarize(r);
    bench_print_report(r, stdout);
    for (int b = 0; b < nb; b++) {
        for (int w = 0; w < BW_COUNT; w++)
            failures += r->cells[w][b].state == BC_FAIL;
        for (int g = 0; g < r->ngn; g++)
            failures += r->gcells[g][b].state == BC_FAIL;
    }
    if (o->json && bench_write_json(r, o->json) != 0) failures++;
    if (o->csv && bench_write_csv(r, o->csv) != 0) failures++;
    if (o->svg && bench_write_svg(r, o->svg) != 0) failures++;
    free(r);
    if (failures) {
        fprintf(stderr, "wsheap-bench: %d check(s) FAILED\n", failures);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;

    parse_args(argc, argv, &o);
    if (o.child_backend != NULL) return child_main(&o);
    if (o.list) {
        for (size_t b = 0; b < bench_backends_count; b++)
            printf("%-15s %s%s%s\n", bench_backends[b]->name, bench_backends[b]->label,
                   bench_backends[b]->skip_why ? " -- skipped: " : "",
                   bench_backends[b]->skip_why ? bench_backends[b]->skip_why : "");
        return 0;
    }
    if (o.callgrind) return callgrind_main(&o);
    return parent_main(&o);
}
