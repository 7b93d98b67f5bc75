/* SPDX-License-Identifier: MIT */
/*
 * kalloc-framebench: page-allocation speed of the two frame allocators (buddy, bitmap) on
 * a simulated physical map (frames are never touched, only the metadata is real memory).
 *
 * Workloads, each on a fresh allocator:
 *  - single: allocate N single frames, then free them in random order;
 *  - churn1: steady state at about half full, random single-frame alloc/free;
 *  - runs:   steady state, runs of 1..64 frames allocated anywhere, freed at random;
 *  - big:    steady state, runs of 256..1024 frames;
 *  - dma:    16-frame runs aligned to 64 KiB below 4 GiB on a map that also has memory
 *            above 4 GiB (range allocation), freed at random.
 * Prints nanoseconds per operation (alloc and free separately for "single", per alloc+free
 * pair otherwise), measured in process CPU time so that a shared machine skews it less.
 * Usage: kalloc-framebench [GiB of simulated memory, default 4] [seed].
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kalloc/fbitmap.h"
#include "kalloc/fbuddy.h"

#define PG ((ka_paddr_t)KA_PAGE_SIZE)

struct live {
	ka_paddr_t p;
	size_t n;
};

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct fa_box {
	union {
		struct ka_fbuddy bd;
		struct ka_fbitmap bm;
	} u;
	struct ka_frame_alloc *fa;
	void *meta[2];
};

/* A fresh allocator with `frames` frames: the lower part below 4 GiB at physical 0, the rest
 * (if any) from 4 GiB up, as two regions. */
static void make(struct fa_box *b, int buddy, size_t frames)
{
	size_t low = frames, lim = (size_t)(((ka_paddr_t)4 << 30) / PG);

	memset(b, 0, sizeof(*b));
	b->fa = buddy ? ka_fbuddy_init(&b->u.bd) : ka_fbitmap_init(&b->u.bm);
	if (low > lim)
		low = lim;
	for (int i = 0; i < 2; i++) {
		size_t n = i ? frames - low : low;
		ka_paddr_t at = i ? (ka_paddr_t)4 << 30 : 0;

		if (!n)
			continue;
		b->meta[i] = malloc(ka_fmetadata_size(b->fa, n));
		if (!b->meta[i] || ka_fadd_memory(b->fa, b->meta[i], at, n, KA_DM_NONE)) {
			fprintf(stderr, "framebench: setup failed\n");
			exit(1);
		}
	}
}

static void unmake(struct fa_box *b)
{
	if (ka_fcheck(b->fa) != 0) {
		fprintf(stderr, "framebench: %s: check failed\n", b->fa->name);
		exit(1);
	}
	free(b->meta[0]);
	free(b->meta[1]);
}

static void shuffle(struct live *l, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rnd() % i);
		struct live t = l[i - 1];
		l[i - 1] = l[j];
		l[j] = t;
	}
}

static void bench_single(int buddy, size_t frames, struct live *l)
{
	struct fa_box b;
	size_t n = frames / 2;
	double t0, t1, t2;

	make(&b, buddy, frames);
	t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		l[i].p = ka_falloc(b.fa, 1);
		if (l[i].p == KA_PADDR_INV)
			exit(2);
	}
	t1 = now_ns();
	shuffle(l, n);
	t2 = now_ns();
	for (size_t i = 0; i < n; i++)
		ka_ffree(b.fa, l[i].p, 1);
	printf("%-7s %-7s %9.1f ns/alloc %9.1f ns/free   (%zu frames)\n", b.fa->name, "single",
	       (t1 - t0) / (double)n, (now_ns() - t2) / (double)n, n);
	unmake(&b);
}

/* Steady state: fill to about half with runs of [lo, hi] frames, then `ops` random
 * free-one/alloc-one pairs. dma: range allocations below 4 GiB, 64 KiB aligned. */
static void bench_churn(int buddy, size_t frames, struct live *l, const char *name, size_t lo,
			size_t hi, int dma)
{
	struct fa_box b;
	size_t nlive = 0, ops = 200000, failed = 0;
	size_t target = frames / 2;
	size_t held = 0;
	double t0;

	make(&b, buddy, frames);
	for (;;) {
		size_t n = lo + (size_t)(rnd() % (hi - lo + 1));
		ka_paddr_t p = dma ? ka_falloc_range(b.fa, n, 0, (ka_paddr_t)4 << 30, 16 * PG)
				   : ka_falloc(b.fa, n);
		if (p == KA_PADDR_INV || held + n > target)
			break;
		l[nlive].p = p;
		l[nlive++].n = n;
		held += n;
	}
	t0 = now_ns();
	for (size_t i = 0; i < ops; i++) {
		size_t j = (size_t)(rnd() % nlive);
		size_t n = lo + (size_t)(rnd() % (hi - lo + 1));
		ka_paddr_t p;

		ka_ffree(b.fa, l[j].p, l[j].n);
		p = dma ? ka_falloc_range(b.fa, n, 0, (ka_paddr_t)4 << 30, 16 * PG)
			: ka_falloc(b.fa, n);
		if (p == KA_PADDR_INV) {
			failed++;
			l[j] = l[--nlive];
			if (!nlive)
				break;
			continue;
		}
		l[j].p = p;
		l[j].n = n;
	}
	printf("%-7s %-7s %9.1f ns/(free+alloc) runs %zu..%zu, %zu live, %zu failed\n", b.fa->name,
	       name, (now_ns() - t0) / (double)ops, lo, hi, nlive, failed);
	unmake(&b);
}

int main(int argc, char **argv)
{
	unsigned gib = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 4;
	size_t frames = (size_t)(((ka_paddr_t)gib << 30) / PG);
	struct live *l = malloc(frames / 2 * sizeof(*l) + sizeof(*l));

	rng = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x2545f4914f6cdd1dull;
	if (!gib || !l) {
		fprintf(stderr, "usage: kalloc-framebench [GiB] [seed]\n");
		return 2;
	}
	printf("simulated %u GiB (%zu frames of %zu bytes), seed %#" PRIx64 "\n", gib, frames,
	       (size_t)KA_PAGE_SIZE, rng);
	for (int buddy = 1; buddy >= 0; buddy--) {
		bench_single(buddy, frames, l);
		bench_churn(buddy, frames, l, "churn1", 1, 1, 0);
		bench_churn(buddy, frames, l, "runs", 1, 64, 0);
		bench_churn(buddy, frames, l, "big", 256, 1024, 0);
		bench_churn(buddy, frames, l, "dma", 16, 16, 1);
	}
	free(l);
	return 0;
}
