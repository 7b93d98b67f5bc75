/* SPDX-License-Identifier: MIT */
/*
 * Random-operation stress driver over every registry backend (or one named in argv[1]).
 * A shadow table of live blocks (pointer, size, alignment, fill seed) is the model; the
 * driver checks after operations that contents are intact, blocks do not overlap, alignment
 * holds, statistics agree with the model, and the backend's checker passes.
 *
 * Two fill levels: "half" keeps live bytes near 50% of the heap, "full" allocates until the
 * heap refuses (an out-of-memory event) and then frees a random share, over and over.
 *
 * After the registry backends, the per-CPU cache adapter over tlsf and over slab (named
 * "cache(tlsf)", "cache(slab)"), built by init functions of the same shape.
 *
 * Usage: test_stress [backend|all] [ops per level] [seed]; env KA_STRESS_SEED also sets the
 * seed. The seed is printed so any failure can be replayed.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kalloc/alloc.h"
#include "kalloc/cache.h"

#define HEAP_LEN    ((size_t)8 << 20)
#define MAX_LIVE    4096
#define CHECK_EVERY 997

struct blk {
	unsigned char *p;
	size_t n;
	size_t align;
	uint64_t seed;
};

static struct blk live[MAX_LIVE];
static size_t nlive;
static uint64_t rng;
static unsigned long failures;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned char pat(uint64_t seed, size_t i)
{
	return (unsigned char)((seed >> (i & 31)) ^ i ^ (i >> 9));
}

#define FAILF(...)                                                                                 \
	do {                                                                                       \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fputc('\n', stderr);                                                               \
		failures++;                                                                        \
		return false;                                                                      \
	} while (0)

static bool verify(const struct blk *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->p[i] != pat(b->seed, i))
			FAILF("content of block %p (%zu bytes) changed at offset %zu", (void *)b->p,
			      b->n, i);
	return true;
}

static void paint(const struct blk *b)
{
	for (size_t i = 0; i < b->n; i++)
		b->p[i] = pat(b->seed, i);
}

static int by_addr(const void *x, const void *y)
{
	const struct blk *a = x, *b = y;

	return a->p < b->p ? -1 : a->p > b->p;
}

/* Full model check: overlap, alignment, usable sizes, statistics, backend checker. */
static bool model_check(struct ka_alloc *a)
{
	static struct blk sorted[MAX_LIVE];
	size_t bytes = 0;

	memcpy(sorted, live, nlive * sizeof(live[0]));
	qsort(sorted, nlive, sizeof(sorted[0]), by_addr);
	for (size_t i = 0; i < nlive; i++) {
		size_t us = ka_usable_size(a, sorted[i].p);
		if (us < sorted[i].n)
			FAILF("usable size %zu below request %zu", us, sorted[i].n);
		if ((uintptr_t)sorted[i].p % sorted[i].align)
			FAILF("block %p not aligned to %zu", (void *)sorted[i].p, sorted[i].align);
		if (i + 1 < nlive && sorted[i].p + us > sorted[i + 1].p)
			FAILF("blocks %p (+%zu) and %p overlap", (void *)sorted[i].p, us,
			      (void *)sorted[i + 1].p);
		if (!verify(&sorted[i]))
			return false;
		bytes += us;
	}
	const struct ka_stats *s = ka_stats(a);
	if (s->cur_nb_allocs != nlive || s->cur_mem_use != bytes)
		FAILF("stats say %zu blocks / %zu bytes, model %zu / %zu", s->cur_nb_allocs,
		      s->cur_mem_use, nlive, bytes);
	unsigned bad = ka_check(a);
	if (bad)
		FAILF("checker found %u problems", bad);
	return true;
}

static size_t pick_size(void)
{
	uint64_t r = next() % 100;

	if (r < 60)
		return 1 + next() % 256;
	if (r < 95)
		return 1 + next() % 4096;
	return 1 + next() % 65536;
}

static void drop(struct ka_alloc *a, size_t i)
{
	verify(&live[i]);
	ka_free(a, live[i].p);
	live[i] = live[--nlive];
}

static bool grow(struct ka_alloc *a, bool *oom)
{
	size_t n = pick_size(), al = (next() % 8 == 0) ? (size_t)1 << (next() % 12) : 0;
	void *p;

	if (nlive == MAX_LIVE) {
		*oom = true;
		return true;
	}
	if (al == 0 && nlive > 0 && next() % 5 == 0) {
		size_t i = next() % nlive;
		verify(&live[i]);
		p = ka_realloc(a, live[i].p, n);
		if (!p) {
			*oom = true;
			return verify(&live[i]);
		}
		size_t keep = n < live[i].n ? n : live[i].n;
		struct blk moved = {p, keep, live[i].align, live[i].seed};
		if (!verify(&moved))
			return false;
		live[i].p = p;
		live[i].n = n;
		live[i].align = KA_CFG_MIN_ALIGN;
		paint(&live[i]);
		return true;
	}
	p = al ? ka_memalign(a, al, n) : ka_malloc(a, n);
	if (!p) {
		*oom = true;
		return true;
	}
	struct blk b = {p, n, al > KA_CFG_MIN_ALIGN ? al : KA_CFG_MIN_ALIGN, next()};
	live[nlive++] = b;
	paint(&b);
	return true;
}

static bool run_level(const struct ka_backend *b, void *mem, bool full, unsigned long ops)
{
	struct ka_alloc *a = b->init(mem, HEAP_LEN);
	unsigned long ooms = 0;
	size_t target = HEAP_LEN / 2;
	unsigned long before = failures;

	if (!a) {
		fprintf(stderr, "%s: init failed\n", b->name);
		failures++;
		return false;
	}
	for (unsigned long op = 0; op < ops && failures == before; op++) {
		bool oom = false;
		bool want_free = full ? false : ka_stats(a)->cur_mem_use > target;
		if (nlive && (want_free || next() % 100 < 35)) {
			drop(a, next() % nlive);
		} else {
			grow(a, &oom);
			if (oom) {
				ooms++;
				if (!(b->caps & KA_CAP_FREE)) /* region: refill from empty */
					break;
				/* Free a random third to make room again. */
				for (size_t k = nlive / 3; k > 0; k--)
					drop(a, next() % nlive);
			}
		}
		if (op % CHECK_EVERY == 0 && !model_check(a))
			break;
	}
	if (failures == before)
		model_check(a);
	while (nlive)
		drop(a, nlive - 1);
	if (failures == before && (ka_stats(a)->cur_nb_allocs != 0 || ka_check(a) != 0)) {
		fprintf(stderr, "%s: heap not empty/healthy after freeing everything\n", b->name);
		failures++;
	}
	printf("stress %-8s %-4s ops=%lu oom_events=%lu %s\n", b->name, full ? "full" : "half", ops,
	       ooms, failures == before ? "ok" : "FAILED");
	return failures == before;
}

/* The cache adapter over a backend as one more init(mem, len): the backend takes the heap
 * but its last 64 KiB, which hold the cache's magazines (small ones: depot traffic). */
static const struct ka_cache_config cache_cfg = {4, 8, 2, 1024, 0};
#define CACHE_META ((size_t)64 << 10)

static struct ka_alloc *cache_over(const char *name, void *mem, size_t len)
{
	struct ka_alloc *below = ka_backend_find(name)->init(mem, len - CACHE_META);

	if (!below || ka_cache_memsize(cache_cfg.ncpus, &cache_cfg) > CACHE_META)
		return NULL;
	return ka_cache_init((char *)mem + len - CACHE_META, CACHE_META, below, &cache_cfg);
}

static struct ka_alloc *cache_tlsf(void *mem, size_t len)
{
	return cache_over("tlsf", mem, len);
}

static struct ka_alloc *cache_slab(void *mem, size_t len)
{
	return cache_over("slab", mem, len);
}

int main(int argc, char **argv)
{
	static struct ka_backend cached[2] = {{.name = "cache(tlsf)", .init = cache_tlsf},
					      {.name = "cache(slab)", .init = cache_slab}};
	const char *only = argc > 1 && strcmp(argv[1], "all") != 0 ? argv[1] : NULL;
	unsigned long ops = argc > 2 ? strtoul(argv[2], NULL, 0) : 100000;
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 0x5eedf00dULL;
	unsigned passed = 0, failed = 0;

	if (argc <= 3 && getenv("KA_STRESS_SEED"))
		seed = strtoull(getenv("KA_STRESS_SEED"), NULL, 0);
	printf("stress seed=0x%" PRIx64 "\n", seed);
	void *mem = mmap(NULL, HEAP_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	for (size_t i = 0; ka_backend_at(i); i++) {
		const struct ka_backend *b = ka_backend_at(i);
		if (only && strcmp(only, b->name) != 0)
			continue;
		if (!(b->caps & KA_CAP_ANYSIZE))
			continue; /* fixed-size pools have their own randomised unit test */
		for (int full = 0; full < 2; full++) {
			rng = seed ^ (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)full;
			if (run_level(b, mem, full, ops))
				passed++;
			else
				failed++;
		}
	}
	for (size_t i = 0; i < 2; i++) {
		struct ka_backend *b = &cached[i];
		if (only && strcmp(only, b->name) != 0)
			continue;
		b->caps = KA_CAP_FREE | KA_CAP_ANYSIZE;
		for (int full = 0; full < 2; full++) {
			rng = seed ^ (uint64_t)(i + 101) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)full;
			if (run_level(b, mem, full, ops))
				passed++;
			else
				failed++;
		}
	}
	munmap(mem, HEAP_LEN);
	if (passed + failed == 0) {
		fprintf(stderr, "no backend to stress\n");
		return 1;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
