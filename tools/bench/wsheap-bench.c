/* SPDX-License-Identifier: MIT */
/*
 * wsheap-bench: CPU time per allocation of wsheap's WsAlloc/WsResetHeap against an inline
 * bump-pointer floor and the allocators a C programmer would otherwise use for per-message
 * memory (APR pools, glibc obstack, mimalloc, talloc, glibc malloc), and of the guarded backend
 * against Electric Fence. The workloads are described in docs/PERFORMANCE.md and in bench.h.
 * This file is the driver (options, size tables, one child per run); the loops are in
 * workload_impl.h, the adapters in backend_*.c, the output in report.c.
 *
 * Every run happens in a fresh child process (this program re-executed with the same options
 * and a hidden --child), so each row gets a clean address space, its own peak RSS and its own
 * environment (WSHEAP_PAGEHEAP=1 for the guarded rows, LD_PRELOAD for Electric Fence).
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern const struct bench_backend bench_backend_floor_inline, bench_backend_wsheap,
    bench_backend_wsheap_inline, bench_backend_wsheap_inline_stats,
    bench_backend_wsheap_inline_sampled, bench_backend_apr, bench_backend_obstack,
    bench_backend_mimalloc, bench_backend_mimalloc_heap, bench_backend_talloc, bench_backend_malloc,
    bench_backend_wsheap_guarded, bench_backend_wsheap_guarded_nostack, bench_backend_efence;

const struct bench_backend *const bench_backends[] = {
    &bench_backend_floor_inline,
    &bench_backend_wsheap,
    &bench_backend_wsheap_inline,
    &bench_backend_wsheap_inline_stats,
    &bench_backend_wsheap_inline_sampled,
    &bench_backend_apr,
    &bench_backend_obstack,
    &bench_backend_mimalloc,
    &bench_backend_mimalloc_heap,
    &bench_backend_talloc,
    &bench_backend_malloc,
    &bench_backend_wsheap_guarded,
    &bench_backend_wsheap_guarded_nostack,
    &bench_backend_efence,
};
const size_t bench_backends_count = sizeof bench_backends / sizeof bench_backends[0];

const char *const bench_workload_names[BW_COUNT] = {"W1", "W2", "W3", "W4", "W5", "W1K10", "G"};

int bench_backend_index(const char *name)
{
    for (size_t i = 0; i < bench_backends_count; i++)
        if (strcmp(bench_backends[i]->name, name) == 0) return (int)i;
    return -1;
}

int bench_applicable(enum bench_workload w, size_t b)
{
    unsigned all = (1u << BW_COUNT) - 1, g = 1u << BW_G;
    unsigned mask = bench_backends[b]->only      ? bench_backends[b]->only
                    : bench_backends[b]->guarded ? all
                                                 : all & ~g;

    return (mask >> w) & 1;
}

/* --- Options ---------------------------------------------------------------------------------- */

struct opts {
    int be_on[BENCH_MAX_BACKENDS];
    struct bench_column cols[BENCH_MAX_COLS]; /* the selected workloads; G once per --guarded-n */
    int ncols;
    long long reps, rounds, k, seed, max_size, trim_size; /* -1 for rounds, k: the default */
    const char *only, *backends, *guarded_n, *json, *svg;
    const char *child; /* hidden: "backend,column,validate" */
    long long quick, callgrind, list;
};

static void usage(FILE *f)
{
    fputs("usage: wsheap-bench [options]; CPU ns per allocation (W4: per heap), the ratio to the\n"
          "inline bump floor and peak RSS for every backend (docs/PERFORMANCE.md)\n"
          "  --only=W1,W2,...    workloads: W1 W2 W3 W4 W5 W1K10 G (default: all)\n"
          "  --backends=a,b,...  backends (default: all; --list shows them)\n"
          "  --reps=N            repetitions, backends interleaved, medians reported (default 7)\n"
          "  --rounds=N, --k=N   timed rounds (W4: cycles of 1000 heaps), allocations per round\n"
          "                      (W4: per heap), for every workload\n"
          "  --seed=N            seed of the size tables (default 1)\n"
          "  --max-size=B, --trim-size=B   WsCreateHeap's (default 1 GiB, 64 MiB)\n"
          "  --guarded-n=N,...   live blocks in the guarded sweep G (default 1000,30000)\n"
          "  --json FILE, --svg FILE   all results with peak RSS, and a bar chart of the ratios\n"
          "  --quick             smoke test: tiny counts, one repetition; exit 0 only when every\n"
          "                      validation passed (no timing assertions)\n"
          "  --callgrind-mode    one workload (--only) with one backend (--backends) once, here,\n"
          "                      without warm-up or children, with the environment as it is;\n"
          "                      for callgrind.sh\n"
          "  --list              the backends, the environment each needs, whether built in\n"
          "                      (docs/PERFORMANCE.md describes them)\n",
          f);
}

static long long parse_num(const char *opt, const char *v)
{
    char *end;
    long long x;

    errno = 0;
    x = strtoll(v, &end, 0);
    if (errno != 0 || end == v || *end != '\0' || x < 0) {
        fprintf(stderr, "wsheap-bench: %s: not a number: '%s'\n", opt, v);
        exit(2);
    }
    return x;
}

/* Applies the comma-separated `list` of --only (kind 'w': flags in `on`), --backends ('b': flags
 * in `on`) or --guarded-n ('g': appended to gn[0..*ngn)). */
static void parse_list(const char *list, char kind, int *on, size_t *gn, int *ngn)
{
    char buf[512], *save = NULL;

    snprintf(buf, sizeof buf, "%s", list);
    for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        int i = kind == 'b' ? bench_backend_index(it) : kind == 'w' ? -1 : 0;

        for (int w = 0; kind == 'w' && w < BW_COUNT; w++)
            if (strcasecmp(bench_workload_names[w], it) == 0) i = w;
        if (i < 0) {
            fprintf(stderr, "wsheap-bench: unknown %s '%s' (--help, --list)\n",
                    kind == 'w' ? "workload" : "backend", it);
            exit(2);
        }
        if (kind != 'g')
            on[i] = 1;
        else if (*ngn < BENCH_MAX_GN && (gn[*ngn] = (size_t)parse_num("--guarded-n", it)) > 0)
            (*ngn)++;
    }
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    /* Every option: a number, a string, or a flag (no value), and where it goes. */
    static const struct {
        const char *name;
        char kind;
        size_t off;
    } table[] = {
        {"--reps", 'n', offsetof(struct opts, reps)},
        {"--rounds", 'n', offsetof(struct opts, rounds)},
        {"--k", 'n', offsetof(struct opts, k)},
        {"--seed", 'n', offsetof(struct opts, seed)},
        {"--max-size", 'n', offsetof(struct opts, max_size)},
        {"--trim-size", 'n', offsetof(struct opts, trim_size)},
        {"--only", 's', offsetof(struct opts, only)},
        {"--backends", 's', offsetof(struct opts, backends)},
        {"--guarded-n", 's', offsetof(struct opts, guarded_n)},
        {"--json", 's', offsetof(struct opts, json)},
        {"--svg", 's', offsetof(struct opts, svg)},
        {"--child", 's', offsetof(struct opts, child)},
        {"--quick", 'f', offsetof(struct opts, quick)},
        {"--callgrind-mode", 'f', offsetof(struct opts, callgrind)},
        {"--list", 'f', offsetof(struct opts, list)},
    };
    const size_t nt = sizeof table / sizeof table[0];
    int wl_on[BW_COUNT] = {0}, ngn = 0;
    size_t gn[BENCH_MAX_GN];

    *o = (struct opts){.reps = 7,
                       .rounds = -1,
                       .k = -1,
                       .seed = 1,
                       .max_size = 1ll << 30,
                       .trim_size = 64ll << 20};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '='), *v = eq ? eq + 1 : NULL;
        size_t t = 0, nlen = eq ? (size_t)(eq - a) : strlen(a);

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        while (t < nt && (strlen(table[t].name) != nlen || strncmp(a, table[t].name, nlen) != 0))
            t++;
        if (t < nt && table[t].kind != 'f' && !v && i + 1 < argc)
            v = argv[++i]; /* --json FILE as well as --json=FILE */
        if (t == nt || (table[t].kind == 'f') != (v == NULL)) {
            fprintf(stderr, "wsheap-bench: unknown option, or a value missing: '%s'\n", a);
            usage(stderr);
            exit(2);
        }
        if (table[t].kind == 'f')
            *(long long *)((char *)o + table[t].off) = 1;
        else if (table[t].kind == 'n')
            *(long long *)((char *)o + table[t].off) = parse_num(table[t].name, v);
        else
            *(const char **)((char *)o + table[t].off) = v;
    }
    if (o->reps < 1 || o->reps > BENCH_MAX_REPS || o->k == 0) {
        fprintf(stderr, "wsheap-bench: --reps must be 1..%d, --k at least 1\n", BENCH_MAX_REPS);
        exit(2);
    }
    parse_list(o->only ? o->only : "W1,W2,W3,W4,W5,W1K10,G", 'w', wl_on, NULL, NULL);
    for (size_t b = 0; b < bench_backends_count; b++)
        o->be_on[b] = o->backends == NULL;
    if (o->backends) parse_list(o->backends, 'b', o->be_on, NULL, NULL);
    parse_list(o->guarded_n ? o->guarded_n : o->quick ? "1000" : "1000,30000", 'g', NULL, gn, &ngn);
    for (int w = 0; w < BW_COUNT; w++) {
        for (int g = 0; wl_on[w] && g < (w == BW_G ? ngn : 1); g++) {
            struct bench_column *c = &o->cols[o->ncols++];

            c->w = (enum bench_workload)w;
            c->n = w == BW_G ? gn[g] : 0;
            if (w == BW_G)
                snprintf(c->name, sizeof c->name, "G N=%zu", c->n);
            else
                snprintf(c->name, sizeof c->name, "%s", bench_workload_names[w]);
        }
    }
}

/* --- Jobs and size tables --------------------------------------------------------------------- */

/* The parameters of workload `w` for backend `b` (guarded rows get smaller counts); for G,
 * `gn` live blocks. */
static void make_job(const struct opts *o, enum bench_workload w, size_t b, size_t gn,
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
    };
    int col = (o->quick ? 2 : 0) + bench_backends[b]->guarded;

    memset(j, 0, sizeof *j);
    j->workload = w;
    j->k = d[w].k;
    j->rounds = d[w].rounds[col];
    j->warmup_rounds = d[w].warmup[col];
    if (w == BW_G) {
        j->k = gn;
        j->const_size = 32;
        j->rounds = o->quick ? 2 : gn >= 30000 ? 1 : 30000 / gn;
        /* One round on the heap first, at every N: steady state, as in the other workloads (a
         * heap's first round also pays for faulting its pages in; a reset keeps trimSize). */
        j->warmup_rounds = 1;
    }
    if (o->k > 0) j->k = (size_t)o->k;
    if (o->rounds >= 0) j->rounds = (uint64_t)o->rounds;
    if (w == BW_W2) j->const_size = 16;
    if (w == BW_W4) j->nheaps = 1000;
    /* Rows in the size table: a power of two holding about 64Ki sizes (W1: 64 rounds), so
     * that runs of R and 2R rounds (callgrind.sh) differ by whole passes over the table. */
    j->table_rounds = 1;
    while (!j->const_size && w != BW_W4 && j->table_rounds * 2 * j->k <= 65536)
        j->table_rounds *= 2;
    if (w == BW_W4) j->table_rounds = j->nheaps; /* heap hi allocates row hi */
    j->max_size = o->max_size;
    j->trim_size = o->trim_size;
}

/* splitmix64, the deterministic generator behind every size table. */
static uint64_t rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]; the modulo bias is irrelevant at these ranges. */
static uint32_t uniform(uint64_t *state, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)(rand_next(state) % (uint64_t)(hi - lo + 1));
}

/* Builds the job's size table, deterministic from the seed (W3: 4 KiB..256 KiB, uniform; the
 * others W1's mix: 70% 8-64 B, 25% 65-512 B, 5% 513-4096 B), and its round_bytes hint. */
static void make_table(uint64_t seed, struct bench_job *j)
{
    enum bench_workload like = j->workload == BW_W5 ? BW_W1 : j->workload;
    uint64_t state = seed * 0x100000001b3u + (uint64_t)like;
    size_t n = j->table_rounds * j->k;
    uint32_t *t;

    j->round_bytes = j->k * ((j->const_size + 7) & ~(size_t)7);
    if (j->const_size != 0) return;
    if ((t = malloc(n * sizeof *t)) == NULL) {
        fprintf(stderr, "wsheap-bench: out of memory for the size table\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t pick = like == BW_W3 ? 100 : (uint32_t)(rand_next(&state) % 100u);

        t[i] = pick < 70    ? uniform(&state, 8, 64)
               : pick < 95  ? uniform(&state, 65, 512)
               : pick < 100 ? uniform(&state, 513, 4096)
                            : uniform(&state, 4096, 256 * 1024);
    }
    for (size_t r = 0; r < j->table_rounds; r++) {
        size_t sum = 0;

        for (size_t i = 0; i < j->k; i++)
            sum += (t[r * j->k + i] + 7) & ~(size_t)7;
        if (sum > j->round_bytes) j->round_bytes = sum;
    }
    j->sizes = t;
}

/* --- Child side and callgrind mode: one run in this process ----------------------------------- */

/* Runs column `c` with backend `b` in this process; without warm-up in callgrind mode. Returns
 * the status; fills `j` and `res`. */
static enum bench_status run_one(const struct opts *o, size_t b, const struct bench_column *c,
                                 int validate, struct bench_job *j, struct bench_result *res)
{
    const struct bench_backend *be = bench_backends[b];
    enum bench_status st;

    make_job(o, c->w, b, c->n, j);
    j->validate = validate;
    if (o->callgrind) j->warmup_rounds = 0;
    make_table(o->seed, j);
    memset(res, 0, sizeof *res);
    if (be->skip_why != NULL) {
        snprintf(res->message, sizeof res->message, "%s", be->skip_why);
        return BS_SKIP;
    }
    if (be->process_init != NULL &&
        (st = be->process_init(res->message, sizeof res->message)) != BS_OK)
        return st;
    return be->run(j, res);
}

/* What a child writes on fd 3 when its run is over; nothing there means it died. */
struct child_msg {
    enum bench_status st;
    struct bench_result res;
};

static int child_main(const struct opts *o)
{
    unsigned b, col, validate;
    struct bench_job j;
    struct child_msg m;

    if (sscanf(o->child, "%u,%u,%u", &b, &col, &validate) != 3 || b >= bench_backends_count ||
        col >= (unsigned)o->ncols)
        return 2;
    alarm(o->quick ? 120 : 900);
    m.st = run_one(o, b, &o->cols[col], (int)validate, &j, &m.res);
    free((void *)j.sizes);
    return write(3, &m, sizeof m) == (ssize_t)sizeof m ? 0 : 1;
}

static int callgrind_main(const struct opts *o)
{
    const struct bench_column *c = &o->cols[0];
    int b = -1, nb = 0;
    struct bench_job j;
    struct bench_result res;
    enum bench_status st;

    for (size_t i = 0; i < bench_backends_count; i++)
        if (o->be_on[i]) b = (int)i, nb++;
    if (o->ncols == 0 || o->cols[o->ncols - 1].w != c->w || c->w == BW_W5 || nb != 1) {
        fprintf(stderr, "wsheap-bench: --callgrind-mode needs exactly one of W1 W2 W3 W4 W1K10 G "
                        "(--only) and one backend (--backends); G uses the first --guarded-n\n");
        return 2;
    }
    st = run_one(o, (size_t)b, c, 0, &j, &res);
    free((void *)j.sizes);
    if (st != BS_OK) {
        fprintf(stderr, "wsheap-bench: %s %s: %s: %s\n", c->name, bench_backends[b]->name,
                st == BS_SKIP ? "skipped" : "FAILED", res.message);
        return 1;
    }
    /* units: allocations, or heaps for W4 */
    printf("workload=%s backend=%s rounds=%llu k=%zu units=%llu\n", bench_workload_names[c->w],
           bench_backends[b]->name, (unsigned long long)j.rounds, j.k,
           (unsigned long long)res.units);
    return 0;
}

/* --- Parent side: spawn, collect -------------------------------------------------------------- */

static char **bench_argv; /* this process's argv, handed on to every child */
static int bench_argc;

/* Puts every NAME=VALUE of the space-separated `env` into the environment. */
static void apply_env(const char *env)
{
    char buf[512], *save = NULL;

    snprintf(buf, sizeof buf, "%s", env ? env : "");
    for (char *kv = strtok_r(buf, " ", &save); kv; kv = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(kv, '=');

        if (eq == NULL) continue;
        *eq = '\0';
        setenv(kv, eq + 1, 1);
    }
}

/* Runs one (backend, column) in a fresh child: this program re-executed with the same options
 * and --child. Its result comes back on fd 3; its output goes where ours does. */
static void spawn_run(size_t b, int col, int validate, enum bench_status *st,
                      struct bench_result *res)
{
    char child[64], *argv[bench_argc + 2];
    int rpipe[2], status;
    ssize_t got;
    struct child_msg m;
    pid_t pid;

    memset(res, 0, sizeof *res);
    *st = BS_FAIL;
    snprintf(child, sizeof child, "--child=%zu,%d,%d", b, col, validate);
    memcpy(argv, bench_argv, (size_t)bench_argc * sizeof *argv);
    argv[bench_argc] = child;
    argv[bench_argc + 1] = NULL;
    if (pipe(rpipe) != 0 || (pid = fork()) < 0) {
        snprintf(res->message, sizeof res->message, "pipe/fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        dup2(rpipe[1], 3);
        unsetenv("WSHEAP_PAGEHEAP");
        unsetenv("LD_PRELOAD");
        apply_env(bench_backends[b]->env);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "wsheap-bench: exec /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    close(rpipe[1]);
    while ((got = read(rpipe[0], &m, sizeof m)) < 0 && errno == EINTR)
        ;
    close(rpipe[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got == (ssize_t)sizeof m) {
        *st = m.st;
        *res = m.res;
    } else if (WIFSIGNALED(status)) {
        snprintf(res->message, sizeof res->message, "child killed by signal %d%s", WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    } else {
        snprintf(res->message, sizeof res->message, "child exited %d (its output is above)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
}

/* Records one child's outcome in a cell. */
static void record(struct bench_cell *c, enum bench_status st, const struct bench_result *res)
{
    if (st != BS_OK || res->units == 0) {
        c->state = st == BS_SKIP ? BC_SKIP : BC_FAIL;
        snprintf(c->why, sizeof c->why, "%s", res->message[0] ? res->message : "no result");
        return;
    }
    c->state = BC_OK;
    c->units = res->units;
    c->ns[c->nsamples] = (double)res->cpu_ns / (double)res->units;
    for (int t = 0; t < 2; t++)
        c->ns_t[t][c->nsamples] = (double)res->cpu_ns_t[t] / (double)res->units;
    c->rss_kib[c->nsamples] = (double)res->rss_peak_kib;
    c->drss_kib[c->nsamples] = (double)res->rss_peak_kib - (double)res->rss_before_kib;
    c->nsamples++;
}

static void describe_machine(char *buf, size_t size)
{
    struct utsname u;
    char line[256], model[128] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");

    while (f != NULL && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    if (f != NULL) fclose(f);
    uname(&u);
    snprintf(buf, size, "%s, %ld CPUs, Linux %s", model, sysconf(_SC_NPROCESSORS_ONLN), u.release);
}

/* Why backend `b` skips column `c` without starting a child, or NULL: not built in, or
 * Electric Fence with more live blocks than vm.max_map_count's default allows. */
static const char *skip_why(size_t b, const struct bench_column *c)
{
    if (bench_backends[b] == &bench_backend_efence && c->w == BW_G && 2 * c->n >= 65530)
        return "Electric Fence maps two areas per live block and dies at vm.max_map_count "
               "(65530 by default)";
    return bench_backends[b]->skip_why;
}

static int parent_main(struct opts *o)
{
    struct bench_report *r = calloc(1, sizeof *r);
    size_t nb = bench_backends_count;
    int greps, failures = 0;

    if (r == NULL) return 1;
    if (o->quick) o->reps = 1;
    r->reps = (int)o->reps;
    greps = r->reps < 3 ? r->reps : 3; /* guarded rows: at most 3 repetitions */
    r->quick = (int)o->quick;
    r->seed = (uint64_t)o->seed;
    r->ncols = o->ncols;
    memcpy(r->cols, o->cols, sizeof r->cols);
    memcpy(r->be_on, o->be_on, sizeof r->be_on);
    for (int w = 0; w < BW_G; w++) {
        make_job(o, (enum bench_workload)w, 0, 0, &r->jobs[w]);
        make_job(o, (enum bench_workload)w, (size_t)bench_backend_index("wsheap-guarded"), 0,
                 &r->gjobs[w]);
    }
    describe_machine(r->machine, sizeof r->machine);

    for (int rep = 0; rep < r->reps; rep++) {
        for (int col = 0; col < r->ncols; col++) {
            fprintf(stderr, "wsheap-bench: rep %d/%d %s:", rep + 1, r->reps, r->cols[col].name);
            /* Rotate the order each repetition so no backend always runs first. */
            for (size_t step = 0; step < nb; step++) {
                size_t b = (step + (size_t)rep) % nb;
                struct bench_cell *c = &r->cells[col][b];
                const char *why = skip_why(b, &r->cols[col]);
                struct bench_result res;
                enum bench_status st = BS_SKIP;

                if (!o->be_on[b] || !bench_applicable(r->cols[col].w, b) || c->state == BC_FAIL ||
                    c->state == BC_SKIP || (bench_backends[b]->guarded && rep >= greps))
                    continue;
                if (why != NULL)
                    snprintf(res.message, sizeof res.message, "%s", why);
                else
                    spawn_run(b, col, rep == 0, &st, &res);
                record(c, st, &res);
                failures += c->state == BC_FAIL;
                fprintf(stderr, " %s%s", bench_backends[b]->name,
                        c->state == BC_FAIL   ? "(FAIL)"
                        : c->state == BC_SKIP ? "(skip)"
                                              : "");
            }
            fprintf(stderr, "\n");
        }
    }
    bench_summarize(r);
    bench_print_report(r, stdout);
    if (o->json && bench_write_json(r, o->json) != 0) failures++;
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
    if (o.child != NULL) return child_main(&o);
    if (o.list) {
        for (size_t b = 0; b < bench_backends_count; b++)
            printf("%-22s %s%s%s\n", bench_backends[b]->name,
                   bench_backends[b]->env ? bench_backends[b]->env : "",
                   bench_backends[b]->skip_why ? " skipped: " : "",
                   bench_backends[b]->skip_why ? bench_backends[b]->skip_why : "");
        return 0;
    }
    if (o.callgrind) return callgrind_main(&o);
    bench_argc = argc;
    bench_argv = argv;
    return parent_main(&o);
}
