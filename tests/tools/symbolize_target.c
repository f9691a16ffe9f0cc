/* SPDX-License-Identifier: MIT */
/*
 * A program with known functions at known lines, built with debug information, for the
 * wsheap-symbolize tests: the test computes addresses inside these functions with nm, writes a
 * synthetic report, and checks that the symbolizer names the function and this file's lines.
 */
#include <stdio.h>

__attribute__((noinline)) int symbolize_target_leaf(int x)
{
    return x * 3 + 1; /* LEAF_LINE */
}

__attribute__((noinline)) int symbolize_target_caller(int x)
{
    return symbolize_target_leaf(x) + 2; /* CALLER_LINE */
}

static inline __attribute__((always_inline)) int symbolize_target_inlined(int x)
{
    return x * x + 7; /* INLINED_LINE */
}

__attribute__((noinline)) int symbolize_target_outer(int x)
{
    return symbolize_target_inlined(x) - 1; /* OUTER_LINE */
}

int main(int argc, char **argv)
{
    (void)argv;
    printf("%d %d\n", symbolize_target_caller(argc), symbolize_target_outer(argc));
    return 0;
}
