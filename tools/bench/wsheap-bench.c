/* SPDX-License-Identifier: MIT */
/*
 * wsheap-bench: CPU time per allocation of wsheap's WsAlloc/WsResetHeap against an inline
 * bump-pointer floor and the allocators a C programmer would otherwise use for per-message
 * memory (APR pools, glibc obstack, mimalloc, talloc, glibc malloc), and of the guarded backend
 * against Electric Fence. The workloads are described in docs/PERFORMANCE.md and in bench.h.
 * This file is the driver; the loops are in workload_impl.h, the adapters in backend_*.c, the
 * output in report.c.
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
    bench_backend_wsheap_inline, bench_backend_apr, bench_backend_obstack, bench_backend_mimalloc,
    bench_backend_mimalloc_heap, bench_backend_talloc, bench_backend_malloc,
    bench_backend_wsheap_guarded, bench_backend_wsheap_guarded_nostack, bench_backend_efence;

const struct bench_backend *const bench_backends[] = {
    &bench_backend_floor_inline,
    &bench_backend_wsheap,
    &bench_backend_wsheap_inline,
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

static const char *const workload_names[BW_COUNT] = {"W1", "W2", "W3", "W4", "W5", "W1K10", "G"};

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
    int wl_on[BW_COUNT];
    int be_on[BENCH_MAX_BACKENDS];
    long long reps, rounds, k, seed, max_size, trim_size; /* -1 for rounds, k: the default */
    size_t gn[BENCH_MAX_GN];
    int ngn;
    const char *only, *backends, *guarded_n, *json, *svg;
    const char *child; /* hidden: "backend,workload,guarded-n column,validate" */
    long long quick, callgrind, list, verbose;
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
          "  --json FILE, --svg FILE   all results, and a bar chart of the ratios to the floor\n"
          "  --quick             smoke test: tiny counts, one repetition; exit 0 only when every\n"
          "                      validation passed (no timing assertions)\n"
          "  --callgrind-mode    one workload (--only) with one backend (--backends) once, here,\n"
          "                      without warm-up or children, with the environment as it is;\n"
          "                      for callgrind.sh\n"
          "  --list              the backends, the environment each needs, whether built in\n"
          "  --verbose           show each child's output\n",
          f);
}

static int workload_by_name(const char *s)
{
    for (int w = 0; w < BW_COUNT; w++)
        if (strcasecmp(workload_names[w], s) == 0) return w;
    return -1;
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

/* Applies the comma-separated `list` of --only (kind 'w'), --backends ('b') or --guarded-n. */
static void parse_list(const char *list, char kind, struct opts *o)
{
    char buf[512], *save = NULL;

    snprintf(buf, sizeof buf, "%s", list);
    for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        int i = kind == 'w' ? workload_by_name(it) : kind == 'b' ? bench_backend_index(it) : 0;

        if (i < 0) {
            fprintf(stderr, "wsheap-bench: unknown %s '%s' (--help, --list)\n",
                    kind == 'w' ? "workload" : "backend", it);
            exit(2);
        }
        if (kind == 'w') o->wl_on[i] = 1;
        if (kind == 'b') o->be_on[i] = 1;
        if (kind == 'g' && o->ngn < BENCH_MAX_GN) o->gn[o->ngn++] = (size_t)parse_num("-n", it);
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
        {"--verbose", 'f', offsetof(struct opts, verbose)},
    };

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
        while (t < sizeof table / sizeof table[0] &&
               (strlen(table[t].name) != nlen || strncmp(a, table[t].name, nlen) != 0))
            t++;
        if (t < sizeof table / sizeof table[0] && table[t].kind != 'f' && !v && i + 1 < argc)
            v = argv[++i]; /* --json FILE as well as --json=FILE */
        if (t == sizeof table / sizeof table[0] || (table[t].kind == 'f') != (v == NULL)) {
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
    parse_list(o->only ? o->only : "W1,W2,W3,W4,W5,W1K10,G", 'w', o);
    for (size_t b = 0; b < bench_backends_count; b++)
        o->be_on[b] = o->backends == NULL;
    if (o->backends) parse_list(o->backends, 'b', o);
    parse_list(o->guarded_n ? o->guarded_n : o->quick ? "1000" : "1000,30000", 'g', o);
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
        gn = gn ? gn : 1000;
        j->k = gn;
        j->const_size = 32;
        j->rounds = o->quick ? 2 : gn >= 30000 ? 1 : 30000 / gn;
        j->warmup_rounds = gn <= 1000;
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

/* Builds the job's size table (deterministic from the seed) and its round_bytes hint. */
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
    if (j->workload == BW_W3)
        bench_fill_w3_sizes(t, n, &state);
    else
        bench_fill_w1_sizes(t, n, &state);
    for (size_t r = 0; r < n / j->k; r++) {
        size_t sum = 0;

        for (size_t i = 0; i < j->k; i++)
            sum += (t[r * j->k + i] + 7) & ~(size_t)7;
        if (sum > j->round_bytes) j->round_bytes = sum;
    }
    j->sizes = t;
}

/* --- Child side and callgrind mode: one run in this process ----------------------------------- */

/* Runs workload `w` (G: with gn[col] live blocks) with backend `b` in this process; without
 * warm-up in callgrind mode. Returns the status; fills `j` and `res`. */
static enum bench_status run_one(const struct opts *o, size_t b, int w, int col, int validate,
                                 struct bench_job *j, struct bench_result *res)
{
    const struct bench_backend *be = bench_backends[b];
    enum bench_status st;

    make_job(o, (enum bench_workload)w, b, o->gn[col], j);
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
    unsigned b, w, col, validate;
    struct bench_job j;
    struct child_msg m;

    if (sscanf(o->child, "%u,%u,%u,%u", &b, &w, &col, &validate) != 4 ||
        b >= bench_backends_count || w >= BW_COUNT || col >= (unsigned)o->ngn)
        return 2;
    alarm(o->quick ? 120 : 900);
    m.st = run_one(o, b, (int)w, (int)col, (int)validate, &j, &m.res);
    return write(3, &m, sizeof m) == (ssize_t)sizeof m ? 0 : 1;
}

static int callgrind_main(const struct opts *o)
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
                        "(--only) and one backend (--backends); G uses the first --guarded-n\n");
        return 2;
    }
    if ((st = run_one(o, (size_t)b, w, 0, 0, &j, &res)) != BS_OK) {
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

/* Runs one (backend, workload, column) in a fresh child: this program re-executed with the same
 * options and --child. Its output goes to a pipe (shown with --verbose, and its last line when
 * it dies); its result comes back on fd 3. */
static void spawn_run(const struct opts *o, size_t b, int w, int col, int validate,
                      enum bench_status *st, struct bench_result *res)
{
    char child[64], *argv[bench_argc + 2], out[16384];
    int opipe[2], rpipe[2], status;
    size_t len = 0;
    ssize_t got;
    struct child_msg m;
    pid_t pid;

    memset(res, 0, sizeof *res);
    *st = BS_FAIL;
    snprintf(child, sizeof child, "--child=%zu,%d,%d,%d", b, w, col, validate);
    memcpy(argv, bench_argv, (size_t)bench_argc * sizeof *argv);
    argv[bench_argc] = child;
    argv[bench_argc + 1] = NULL;
    if (pipe(opipe) != 0 || pipe(rpipe) != 0 || (pid = fork()) < 0) {
        snprintf(res->message, sizeof res->message, "pipe/fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        dup2(opipe[1], 1);
        dup2(opipe[1], 2);
        dup2(rpipe[1], 3);
        unsetenv("WSHEAP_PAGEHEAP");
        unsetenv("LD_PRELOAD");
        apply_env(bench_backends[b]->env);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "wsheap-bench: exec /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    close(opipe[1]);
    close(rpipe[1]);
    /* Keep the last sizeof out bytes of the output. */
    while ((got = read(opipe[0], out + len, sizeof out - 1 - len)) != 0) {
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) break;
        if (o->verbose) fprintf(stderr, "%.*s", (int)got, out + len);
        len += (size_t)got;
        if (len > sizeof out / 2) {
            memmove(out, out + len - sizeof out / 4, sizeof out / 4);
            len = sizeof out / 4;
        }
    }
    out[len] = '\0';
    close(opipe[0]);
    got = read(rpipe[0], &m, sizeof m);
    close(rpipe[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got == (ssize_t)sizeof m) {
        *st = m.st;
        *res = m.res;
        return;
    }
    /* No result: the child died. Say how, with its last line of output. */
    while (len > 0 && out[len - 1] == '\n')
        out[--len] = '\0';
    char *last = strrchr(out, '\n') ? strrchr(out, '\n') + 1 : out;
    if (WIFSIGNALED(status))
        snprintf(res->message, sizeof res->message, "child killed by signal %d%s%s%.120s",
                 WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (timeout)" : "",
                 *last ? ": " : "", last);
    else
        snprintf(res->message, sizeof res->message, "child exited %d%s%.120s",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, *last ? ": " : "", last);
}

/* Records one child's outcome in a cell. */
static void record(struct bench_cell *c, enum bench_workload w, enum bench_status st,
                   const struct bench_result *res)
{
    if (st != BS_OK || res->units == 0) {
        c->state = st == BS_SKIP ? BC_SKIP : BC_FAIL;
        snprintf(c->why, sizeof c->why, "%s", res->message[0] ? res->message : "no result");
        return;
    }
    c->state = BC_OK;
    c->units = res->units;
    c->ns[c->nsamples] = (double)res->cpu_ns / (double)res->units;
    if (w == BW_W5)
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

/* Electric Fence maps two areas per live block and dies at vm.max_map_count (65530 by
 * default, so near 32.7k blocks): rather than crash, mark the sweep sizes past that skipped.
 * Asking for that backend alone (--backends=efence) still runs them, to show the crash. */
static int efence_past_limit(const struct opts *o, size_t b, size_t n, struct bench_cell *c)
{
    long max_maps = 65530;
    int alone = 1;
    FILE *f;

    if (bench_backends[b] != &bench_backend_efence) return 0;
    for (size_t i = 0; i < bench_backends_count; i++)
        alone &= i == b || !o->be_on[i];
    if ((f = fopen("/proc/sys/vm/max_map_count", "r")) != NULL) {
        if (fscanf(f, "%ld", &max_maps) != 1) max_maps = 65530;
        fclose(f);
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
    size_t nb = bench_backends_count;
    int greps, failures = 0;

    if (r == NULL) return 1;
    if (o->quick) o->reps = 1;
    r->reps = (int)o->reps;
    greps = r->reps < 3 ? r->reps : 3; /* guarded rows: at most 3 repetitions */
    r->quick = o->quick;
    r->seed = o->seed;
    r->ngn = o->ngn;
    memcpy(r->gn, o->gn, sizeof r->gn);
    memcpy(r->wl_on, o->wl_on, sizeof r->wl_on);
    memcpy(r->be_on, o->be_on, sizeof r->be_on);
    for (int w = 0; w < BW_COUNT; w++) {
        r->workload_names[w] = workload_names[w];
        make_job(o, (enum bench_workload)w, 0, 0, &r->jobs[w]);
        make_job(o, (enum bench_workload)w, (size_t)bench_backend_index("wsheap-guarded"), 0,
                 &r->gjobs[w]);
    }
    describe_machine(r->machine, sizeof r->machine);

    for (int rep = 0; rep < r->reps; rep++) {
        for (int w = 0; w < BW_COUNT; w++) {
            if (!o->wl_on[w]) continue;
            fprintf(stderr, "wsheap-bench: rep %d/%d %s:", rep + 1, r->reps, workload_names[w]);
            for (int col = 0; col < (w == BW_G ? o->ngn : 1); col++) {
                /* Rotate the order each repetition so no backend always runs first. */
                for (size_t step = 0; step < nb; step++) {
                    size_t b = (step + (size_t)rep) % nb;
                    struct bench_cell *c = w == BW_G ? &r->gcells[col][b] : &r->cells[w][b];
                    struct bench_result res;
                    enum bench_status st = BS_SKIP;

                    if (!o->be_on[b] || !bench_applicable((enum bench_workload)w, b) ||
                        c->state == BC_FAIL || c->state == BC_SKIP)
                        continue;
                    if (bench_backends[b]->guarded && rep >= greps) continue;
                    if (w == BW_G && efence_past_limit(o, b, o->gn[col], c)) continue;
                    if (bench_backends[b]->skip_why != NULL) /* known without a child */
                        snprintf(res.message, sizeof res.message, "%s",
                                 bench_backends[b]->skip_why);
                    else
                        spawn_run(o, b, w, col, rep == 0, &st, &res);
                    record(c, (enum bench_workload)w, st, &res);
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
    for (size_t b = 0; b < nb; b++) {
        for (int w = 0; w < BW_COUNT; w++)
            failures += r->cells[w][b].state == BC_FAIL;
        for (int g = 0; g < r->ngn; g++)
            failures += r->gcells[g][b].state == BC_FAIL;
    }
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
            printf("%-22s %s%s%s%s%s\n", bench_backends[b]->name, bench_backends[b]->label,
                   bench_backends[b]->env ? "; env: " : "",
                   bench_backends[b]->env ? bench_backends[b]->env : "",
                   bench_backends[b]->skip_why ? " -- skipped: " : "",
                   bench_backends[b]->skip_why ? bench_backends[b]->skip_why : "");
        return 0;
    }
    if (o.callgrind) return callgrind_main(&o);
    bench_argc = argc;
    bench_argv = argv;
    return parent_main(&o);
}
