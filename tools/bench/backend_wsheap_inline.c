/* SPDX-License-Identifier: MIT */
/*
 * Backend "wsheap-inline": the wsheap arena as a program that includes <wsheap.h> gets it, with
 * the inline fast path (the default, see wsheap.h): WsAlloc's common case compiled into the
 * workload loop, everything else through libwsheap.so. The targets compare it with floor-inline.
 * "wsheap-stats" is the same code under WSHEAP_STATS=1, "wsheap-sampled" under
 * WSHEAP_SAMPLE_BYTES at the production rate docs/sampling.md recommends.
 */
#include "bench.h"
#include <fcntl.h>
#include <unistd.h>

#include "backend_wsheap_adapter.h"

const struct bench_backend bench_backend_wsheap_inline = {
    .name = "wsheap-inline",
    .run = b_run,
};

/* The child of "wsheap-stats" prints the statistics table at exit: not on the bench's
 * terminal. Its results come back through the driver's pipe; its stderr goes to /dev/null. */
static enum bench_status quiet_stats(char *why, size_t why_size)
{
    int fd = open("/dev/null", O_WRONLY);

    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
        snprintf(why, why_size, "cannot send the statistics to /dev/null");
        return BS_SKIP;
    }
    close(fd);
    return BS_OK;
}

/* "wsheap-stats": the same with WSHEAP_STATS=1, W1 and W2 only: what statistics cost a
 * heap that keeps its fast path between sample points (docs/statistics.md). Under
 * callgrind.sh, set WSHEAP_STATS=1 by hand, as for the guarded rows. */
const struct bench_backend bench_backend_wsheap_inline_stats = {
    .name = "wsheap-stats",
    .env = "WSHEAP_STATS=1 WSHEAP_SYMBOLIZE=0",
    .only = 1u << BW_W1 | 1u << BW_W2,
    .process_init = quiet_stats,
    .run = b_run,
};

/* "wsheap-sampled": the same with sampled guarding at the recommended production rate
 * (docs/sampling.md), W1 and W2 only: what leaving it on costs. Under callgrind.sh, set
 * WSHEAP_SAMPLE_BYTES by hand, as for the guarded rows. */
const struct bench_backend bench_backend_wsheap_inline_sampled = {
    .name = "wsheap-sampled",
    .env = "WSHEAP_SAMPLE_BYTES=134217728 WSHEAP_SYMBOLIZE=0",
    .only = 1u << BW_W1 | 1u << BW_W2,
    .run = b_run,
};
