/* SPDX-License-Identifier: MIT */
/*
 * kalloc-slots: the random slot workloads of issue 15, for instruction counts under callgrind
 * (bench/callgrind_slots.sh) and cycle percentiles natively.
 *
 *   kalloc-slots BACKEND S|M [--steps N] [--nostats] [--cycles]
 *
 * BACKEND is a kalloc backend name, "glibc", "empty" (the kalloc call shape with do-nothing
 * callees) or "empty-ptr" (glibc's call shape, through pointers, with do-nothing callees).
 * The workloads and the loop are tools/common/slots.h, shared with `kalloc-bench slots`,
 * which also has mimalloc, footprint and percentiles for every allocator (docs/bench.md).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/slots.h"
#include "kalloc/alloc.h"
#include "kalloc/alloc_impl.h"

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
	const char *name;
	const struct slot_wl *wl;
	uint64_t steps = 10000000;
	bool nostats = false, cycles = false;
	enum slot_shape shape = SLOT_KALLOC;
	struct slot_run r;
	void *arena = NULL;

	if (argc < 3) {
		fprintf(stderr,
			"usage: %s BACKEND|glibc|empty|empty-ptr S|M [--steps N] "
			"[--nostats] [--cycles]\n",
			argv[0]);
		return 2;
	}
	name = argv[1];
	wl = slot_wl_find(argv[2]);
	if (!wl) {
		fprintf(stderr, "workload must be S or M\n");
		return 2;
	}
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--steps") && i + 1 < argc)
			steps = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--nostats"))
			nostats = true;
		else if (!strcmp(argv[i], "--cycles"))
			cycles = true;
		else {
			fprintf(stderr, "unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (steps == 0) {
		fprintf(stderr, "--steps: a positive count\n");
		return 2;
	}
	memset(&r, 0, sizeof(r));
	r.wl = wl;
	r.steps = steps;
	if (!strcmp(name, "glibc")) {
		/* Nothing else is linked in, so the plain names are the C library's. */
		shape = SLOT_PTR;
		r.malloc = malloc;
		r.free = free;
	} else if (!strcmp(name, "empty")) {
		shape = SLOT_EMPTY;
	} else if (!strcmp(name, "empty-ptr")) {
		shape = SLOT_PTR;
		r.malloc = slot_empty_malloc;
		r.free = slot_empty_free;
	} else {
		const struct ka_backend *b = ka_backend_find(name);
		if (!b) {
			fprintf(stderr, "no backend %s\n", name);
			return 2;
		}
		if (posix_memalign(&arena, 1 << 16, wl->heap) != 0)
			return 1;
		memset(arena, 0, wl->heap);
		r.a = b->init(arena, wl->heap);
		if (!r.a) {
			fprintf(stderr, "%s: init failed\n", name);
			return 1;
		}
		if (nostats)
			r.a->flags |= KA_ALLOC_NOSTATS;
	}
	r.slot = calloc(wl->nslots, sizeof(*r.slot));
	r.slot_size = calloc(wl->nslots, sizeof(*r.slot_size));
	if (cycles)
		r.ticks = calloc(steps, sizeof(*r.ticks));
	if (!r.slot || !r.slot_size || (cycles && !r.ticks))
		return 1;

	if (shape == SLOT_KALLOC)
		slot_run_kalloc(&r);
	else if (shape == SLOT_EMPTY)
		slot_run_empty(&r);
	else
		slot_run_ptr(&r);
	printf("%s %s steps %llu fails %zu peak_live %zu", name, wl->name,
	       (unsigned long long)steps, r.fails, r.peak_live);
	if (r.a) {
		/* Peak bytes handed out (usable sizes) against peak bytes requested. */
		printf(" peak_handed_out %zu heap %zu", (size_t)ka_stats(r.a)->max_mem_use,
		       wl->heap);
		if (ka_check(r.a) != 0) {
			printf("\ncheck failed\n");
			return 1;
		}
	}
	printf("\n");
	if (cycles) {
		qsort(r.ticks, steps, sizeof(*r.ticks), cmp_u32);
		printf("%s/op median %u p99 %u p99.9 %u max %u\n", BENCH_TICK_UNIT,
		       r.ticks[steps / 2], r.ticks[steps * 99 / 100], r.ticks[steps * 999 / 1000],
		       r.ticks[steps - 1]);
	}
	for (size_t s = 0; s < wl->nslots; s++)
		if (r.slot[s] && r.a)
			ka_free(r.a, r.slot[s]);
	return 0;
}
