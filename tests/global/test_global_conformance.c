/* SPDX-License-Identifier: MIT */
/*
 * The shared conformance suite (tests/conformance) over the global allocator's
 * `struct ka_alloc` face, for every byte backend: once growing from the platform source
 * (capped so that out-of-memory cases end), once from a frame source on simulated physical
 * memory for each frame allocator (with the add_memory case). The suite's code is compiled
 * into this program (it is written to be included or linked anywhere).
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "conformance.c"
#include "gsim.h"

#define MiB ((size_t)1 << 20)

static struct ka_global G;
static struct gsim S;
static const char *backend;
static enum gsim_kind kind;
static bool live;	    /* G holds an allocator to destroy before the next one */
static char spare[1 << 16]; /* offered to the platform target, which must refuse it */

static void print_line(const char *line)
{
	puts(line);
}

static struct ka_alloc *make_hosted(void *ctx)
{
	struct ka_global_config cfg = {backend, 0, 0};

	(void)ctx;
	if (live)
		ka_global_destroy(&G);
	live = ka_global_init_hosted(&G, 16 * MiB, &cfg) == 0;
	return live ? ka_global_alloc_iface(&G) : NULL;
}

/* Frames: the first 12 MiB are the heap, the last 4 MiB the add_memory case's extra. */
static struct ka_alloc *make_frames(void *ctx)
{
	struct ka_global_config cfg = {backend, 0, 0};
	struct ka_frame_alloc *fa = gsim_frames(&S, kind);

	(void)ctx;
	live = ka_global_init_region(&G, fa, S.dm_off, S.mem, 12 * MiB, &cfg) == 0;
	return live ? ka_global_alloc_iface(&G) : NULL;
}

int main(void)
{
	struct ka_conf c = {print_line, 0, 0, 0, 0};
	unsigned runs = 0;

	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		unsigned before = c.failed;
		struct ka_conf_target th = {"global/platform", 0, make_hosted, NULL, spare,
					    sizeof(spare)};

		backend = *b;
		make_hosted(NULL);
		th.caps = ka_global_alloc_iface(&G)->ops->caps;
		ka_conformance_target(&c, &th);
		ka_global_destroy(&G);
		live = false;
		printf("global/platform over %s: %s\n", *b, c.failed == before ? "ok" : "FAILED");
		runs++;

		gsim_map(&S, 16 * MiB, MiB, 0x100000000ull);
		for (kind = 0; kind < GSIM_NKINDS; kind++) {
			struct ka_conf_target tf = {"global/frames",  0,      make_frames, NULL,
						    S.mem + 12 * MiB, 4 * MiB};
			before = c.failed;
			make_frames(NULL);
			tf.caps = ka_global_alloc_iface(&G)->ops->caps;
			ka_conformance_target(&c, &tf);
			live = false;
			printf("global/%s over %s: %s\n", gsim_kind_name(kind), *b,
			       c.failed == before ? "ok" : "FAILED");
			runs++;
		}
		gsim_unmap(&S);
	}
	printf("%u runs, %u passed, %u failed, %u skipped\n", runs, c.passed, c.failed, c.skipped);
	return runs > 0 && c.failed == 0 ? 0 : 1;
}
