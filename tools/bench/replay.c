/* SPDX-License-Identifier: MIT */
/* Trace replay for kalloc-bench: filled in by the trace work (issue 8). */
#include <stdio.h>

#include "bench.h"

int bench_replay_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "kalloc-bench replay: not built yet\n");
	return 2;
}
