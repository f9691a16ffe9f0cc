/* SPDX-License-Identifier: MIT */
/*
 * wsheap-guarded-bench: what the guarded backend (WSHEAP_PAGEHEAP=1) costs, measured.
 *
 *   usage: wsheap-guarded-bench [--quick] [--max-live N] [--no-efence] [--mprotect]
 *
 * Prints, for 1k, 30k, 100k and 1M live blocks of 16 bytes: the cost per block of a round of
 * N allocations followed by one WsResetHeap, split into alloc and reset, and the system
 * requests one reset makes; the cost of one alloc+reset pair on a second heap while N blocks
 * stay live on the first; the cost of capturing a stack and storing it in the depot; how many
 * live guarded 16-byte blocks the process holds (default target 1,000,000) and its mapping
 * count then. With Electric Fence installed (/usr/lib/libefence.so*), it re-runs itself under
 * LD_PRELOAD to time malloc+free at 30,000 live 32-byte blocks for comparison. --mprotect
 * measures the fallback for kernels without MADV_GUARD_INSTALL (mprotect guard pages, then
 * redzone-only blocks near vm.max_map_count).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guarded/guarded.h"
#include "internal.h"
#include "os.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "wsheap-guarded-bench: %s failed\n", what);
    exit(1);
}

static WS_HEAP *new_heap(void)
{
    WS_HEAP *heap;

    if (WsCreateHeap(SIZE_MAX, 0, NULL, 0, &heap, NULL) != S_OK) die("WsCreateHeap");
    if (strcmp(wsheap_backend_name(heap), "guarded") != 0) die("guarded backend selection");
    return heap;
}

static char *alloc16(WS_HEAP *heap, size_t size)
{
    void *p;

    if (WsAlloc(heap, size, &p, NULL) != S_OK) return NULL;
    memset(p, 0x5a, size); /* a program writes what it allocates */
    return p;
}

static size_t count_mappings(void)
{
    return wsh_os_count_mappings();
}

static long rss_mib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* Machines running this are often shared: every figure is the median of several runs. */
#define REPS 5

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return v[n / 2];
}

/* --- Rounds: N allocations, then one reset ---------------------------------------------------- */

static void bench_rounds(size_t n, int reps)
{
    WS_HEAP *heap = new_heap();
    double t_alloc[REPS], t_reset[REPS], t_total[REPS];
    unsigned long req_min = (unsigned long)-1, req_max = 0;

    for (int r = -1; r < reps; r++) { /* round -1 warms up */
        double t0 = now_s(), t1, t2;
        unsigned long req;

        for (size_t i = 0; i < n; i++)
            if (alloc16(heap, 16) == NULL) die("WsAlloc");
        t1 = now_s();
        wsh_os_fail_at(0); /* resets the request counter */
        if (WsResetHeap(heap, NULL) != S_OK) die("WsResetHeap");
        req = wsh_os_requests();
        t2 = now_s();
        if (r >= 0) {
            t_alloc[r] = (t1 - t0) / (double)n * 1e6;
            t_reset[r] = (t2 - t1) / (double)n * 1e6;
            t_total[r] = (t2 - t0) / (double)n * 1e6;
            if (req < req_min) req_min = req;
            if (req > req_max) req_max = req;
        }
    }
    printf("%10zu  %8.2f  %8.2f  %8.2f  %4lu-%-4lu\n", n, median(t_alloc, reps),
           median(t_reset, reps), median(t_total, reps), req_min, req_max);
    WsFreeHeap(heap);
}

/* --- Pairs: alloc + reset on one heap while N blocks stay live on another --------------------- */

static double pair_cost(size_t live, size_t pairs)
{
    WS_HEAP *big = new_heap(), *small = new_heap();
    double t[REPS];

    for (size_t i = 0; i < live; i++)
        if (alloc16(big, 16) == NULL) die("WsAlloc (live)");
    for (size_t i = 0; i < 1000; i++) { /* warm-up */
        alloc16(small, 32);
        WsResetHeap(small, NULL);
    }
    for (int r = 0; r < REPS; r++) {
        double t0 = now_s();

        for (size_t i = 0; i < pairs; i++) {
            if (alloc16(small, 32) == NULL) die("WsAlloc");
            WsResetHeap(small, NULL);
        }
        t[r] = (now_s() - t0) / (double)pairs * 1e6;
    }
    WsFreeHeap(small);
    WsFreeHeap(big);
    return median(t, REPS);
}

/* --- Stack capture + depot -------------------------------------------------------------------- */

static volatile uint32_t sink;

WSH_NOINLINE static void capture_loop(size_t n, double *ns_record, double *ns_capture)
{
    uintptr_t pcs[WSH_STACK_MAX];
    double t0, t1, t2;

    sink = wsh_stack_record(16, 0);
    t0 = now_s();
    for (size_t i = 0; i < n; i++)
        sink = wsh_stack_record(16, 0);
    t1 = now_s();
    for (size_t i = 0; i < n; i++)
        sink = (uint32_t)wsh_stack_capture(pcs, 16, 0);
    t2 = now_s();
    *ns_record = (t1 - t0) / (double)n * 1e9;
    *ns_capture = (t2 - t1) / (double)n * 1e9;
}

/* A 13-frame call chain under the capture, as a program's allocation sites have. */
WSH_NOINLINE static void deep(int depth, size_t n, double *ns_record, double *ns_capture)
{
    if (depth == 0)
        capture_loop(n, ns_record, ns_capture);
    else
        deep(depth - 1, n, ns_record, ns_capture);
    __asm__ volatile("" ::: "memory");
}

/* --- Live blocks ------------------------------------------------------------------------------ */

static void bench_max_live(size_t target)
{
    WS_HEAP *heap = new_heap();
    size_t n = 0, maps_before = count_mappings();
    double t0 = now_s(), t1;
    struct wsh_guarded_stats st;

    for (; n < target; n++)
        if (alloc16(heap, 16) == NULL) break;
    t1 = now_s();
    wsh_guarded_get_stats(&st);
    printf("live 16-byte guarded blocks: %zu of %zu asked (%s), %.2f us each\n", n, target,
           st.guard_advice ? "MADV_GUARD_INSTALL" : "mprotect", (t1 - t0) / (double)n * 1e6);
    printf("mappings (wc -l /proc/self/maps): %zu before, %zu with them live; "
           "vm.max_map_count %zu; redzone-only blocks in the run so far %zu; max RSS %ld MiB\n",
           maps_before, count_mappings(), wsh_os_max_map_count(), st.redzone_blocks, rss_mib());
    WsFreeHeap(heap);
}

/* --- Electric Fence, in a child under LD_PRELOAD ---------------------------------------------- */

static void *volatile escape;

static int efence_child(size_t live, size_t pairs)
{
    void **blocks = malloc(live * sizeof *blocks);
    double t0, t1;

    for (size_t i = 0; i < live; i++) {
        blocks[i] = malloc(32);
        if (blocks[i] == NULL) {
            printf("efence: malloc failed at %zu live blocks\n", i);
            return 1;
        }
        memset(blocks[i], 1, 32);
    }
    t0 = now_s();
    for (size_t i = 0; i < pairs; i++) {
        void *p = malloc(32);

        memset(p, 1, 32);
        escape = p; /* else the compiler may drop the malloc/free pair */
        free(escape);
    }
    t1 = now_s();
    printf("%.2f\n", (t1 - t0) / (double)pairs * 1e6);
    return 0;
}

static const char *efence_library(void)
{
    static const char *const candidates[] = {"/usr/lib/libefence.so", "/usr/lib/libefence.so.0",
                                             "/usr/lib/x86_64-linux-gnu/libefence.so.0"};

    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], R_OK) == 0) return candidates[i];
    return NULL;
}

/* Runs this program under LD_PRELOAD=libefence; returns its us per pair, or -1. */
static double run_efence(const char *self, const char *lib, size_t live, size_t pairs)
{
    char cmd[1024];
    double us = -1;
    FILE *f;

    snprintf(cmd, sizeof cmd,
             "EF_DISABLE_BANNER=1 LD_PRELOAD=%s '%s' --efence-child %zu %zu 2>/dev/null", lib, self,
             live, pairs);
    f = popen(cmd, "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%lf", &us) != 1) us = -1;
    pclose(f);
    return us;
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {1000, 30000, 100000, 1000000};
    bool quick = false, efence = true;
    size_t max_live = 1000000;
    double ns_record = 0, ns_capture = 0;

    if (argc == 4 && strcmp(argv[1], "--efence-child") == 0)
        return efence_child(strtoul(argv[2], NULL, 10), strtoul(argv[3], NULL, 10));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (strcmp(argv[i], "--mprotect") == 0) {
            wsh_os_force_no_guard_advice(true); /* as on a kernel without MADV_GUARD_INSTALL */
        } else if (strcmp(argv[i], "--no-efence") == 0) {
            efence = false;
        } else if (strcmp(argv[i], "--max-live") == 0 && i + 1 < argc) {
            max_live = strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: wsheap-guarded-bench [--quick] [--max-live N] [--no-efence] "
                            "[--mprotect]\n"
                            "Times the guarded backend; see the comment at the top of the "
                            "source for what each figure means.\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    setenv("WSHEAP_PAGEHEAP", "1", 1); /* before the first WsCreateHeap reads the options */
    WsFreeHeap(new_heap());
    printf("wsheap guarded backend: %s guard pages, page size %zu, stack depth %u\n",
           wsh_os_has_guard_advice() ? "MADV_GUARD_INSTALL" : "mprotect", wsh_os_page_size(),
           wsh_options()->stack_depth);

    printf("\nrounds of N allocations (16 bytes, written) then one WsResetHeap, per block:\n");
    printf("%10s  %8s  %8s  %8s  %9s\n", "N", "alloc us", "reset us", "total us", "req/reset");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        if (quick && n > 30000) break;
        bench_rounds(n, n >= 1000000 ? 3 : REPS);
    }

    printf("\none WsAlloc(32) + WsResetHeap on a second heap while N blocks stay live:\n");
    printf("%10s  %8s\n", "N live", "us/pair");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (quick && sizes[i] > 30000) break;
        printf("%10zu  %8.2f\n", sizes[i], pair_cost(sizes[i], quick ? 1000 : 4000));
    }

    deep(13, quick ? 20000 : 200000, &ns_record, &ns_capture);
    printf("\nstack capture (16 frames, 13-deep chain): %.0f ns unw_backtrace alone, "
           "%.0f ns capture + depot lookup\n",
           ns_capture, ns_record);

    printf("\n");
    bench_max_live(quick ? 30000 : max_live);

    if (efence) {
        const char *lib = efence_library();

        if (lib == NULL) {
            printf("\nElectric Fence: not installed, no comparison\n");
        } else {
            size_t pairs = quick ? 200 : 2000;
            double ef = run_efence(argv[0], lib, 30000, pairs);
            double ours = pair_cost(30000, 4000);

            if (ef < 0)
                printf("\nElectric Fence (%s): did not run\n", lib);
            else
                printf("\nat 30,000 live blocks: Electric Fence malloc+free %.1f us/pair (%s, "
                       "LD_PRELOAD), wsheap alloc+reset %.2f us/pair: %.0fx cheaper\n",
                       ef, lib, ours, ef / ours);
        }
    }
    return 0;
}
