/* SPDX-License-Identifier: MIT */
/*
 * kalloc-slots: the random slot workloads of issue 15, for instruction counts under callgrind
 * (bench/callgrind_slots.sh) and cycle percentiles natively.
 *
 *   kalloc-slots BACKEND S|M [--steps N] [--nostats] [--cycles]
 *
 * BACKEND is a kalloc backend name, "glibc" or "empty" (the same
 * loop with a do-nothing allocator, whose count the script subtracts). Each step picks one of
 * the slots at random: frees it if it holds a block, else allocates a uniform random size.
 * S: 256 slots, 8-256 B, 1 MiB heap. M: 8192 slots, 16-4096 B, 64 MiB heap. The seed is fixed.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kalloc/alloc.h"
#include "kalloc/alloc_impl.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static inline uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static char empty_block[16];

/* The empty harness: calls that cost only their own call, so that subtracting its count
 * leaves what the allocator does. */
__attribute__((noinline)) static void *empty_alloc(size_t n)
{
	__asm__ volatile("" ::"r"(n));
	return empty_block;
}

__attribute__((noinline)) static void empty_free(void *p)
{
	__asm__ volatile("" ::"r"(p));
}

enum kind { K_KALLOC, K_GLIBC, K_EMPTY };

static inline uint64_t now_cycles(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	return 0;
#endif
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

/* The measured loop, alone in its function so that callgrind counts only it
 * (--toggle-collect=run in bench/callgrind_slots.sh). */
#if defined(__clang__)
#define KS_NOCLONE
#else
#define KS_NOCLONE __attribute__((noclone))
#endif
__attribute__((noinline)) KS_NOCLONE static size_t run(enum kind k, struct ka_alloc *a, void **slot,
						       size_t *slot_size, size_t nslots, size_t lo,
						       size_t hi, size_t steps, uint32_t *cyc,
						       size_t *livep, size_t *peakp)
{
	bool cycles = cyc != NULL;
	size_t live = 0, peak_live = 0;
	size_t fails = 0;
	for (size_t i = 0; i < steps; i++) {
		uint64_t r = next();
		size_t s = (size_t)(r % nslots);
		uint64_t t0 = cycles ? now_cycles() : 0;

		if (slot[s]) {
			void *p = slot[s];
			switch (k) {
			case K_KALLOC:
				ka_free(a, p);
				break;
			case K_GLIBC:
				free(p);
				break;
			default:
				empty_free(p);
			}
			slot[s] = NULL;
			live -= slot_size[s];
		} else {
			size_t n = lo + (size_t)((r >> 32) % (hi - lo + 1));
			void *p;
			switch (k) {
			case K_KALLOC:
				p = ka_malloc(a, n);
				break;
			case K_GLIBC:
				p = malloc(n);
				break;
			default:
				p = empty_alloc(n);
			}
			if (p) {
				slot[s] = p;
				slot_size[s] = n;
				live += n;
				if (live > peak_live)
					peak_live = live;
			} else {
				fails++;
			}
		}
		if (cycles)
			cyc[i] = (uint32_t)(now_cycles() - t0);
	}
	*livep = live;
	*peakp = peak_live;
	return fails;
}

int main(int argc, char **argv)
{
	const char *name, *wl;
	size_t nslots, lo, hi, heap, steps = 10000000, live = 0, peak_live = 0;
	bool nostats = false, cycles = false;
	enum kind k = K_KALLOC;
	struct ka_alloc *a = NULL;
	void **slot;
	size_t *slot_size;
	uint32_t *cyc = NULL;
	void *arena = NULL;

	if (argc < 3) {
		fprintf(stderr,
			"usage: %s BACKEND|glibc|empty S|M [--steps N] "
			"[--nostats] [--cycles]\n",
			argv[0]);
		return 2;
	}
	name = argv[1];
	wl = argv[2];
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
	if (!strcmp(wl, "S")) {
		nslots = 256, lo = 8, hi = 256, heap = (size_t)1 << 20;
	} else if (!strcmp(wl, "M")) {
		nslots = 8192, lo = 16, hi = 4096, heap = (size_t)64 << 20;
	} else {
		fprintf(stderr, "workload must be S or M\n");
		return 2;
	}
	if (!strcmp(name, "glibc"))
		k = K_GLIBC;
	else if (!strcmp(name, "empty"))
		k = K_EMPTY;
	else {
		const struct ka_backend *b = ka_backend_find(name);
		if (!b) {
			fprintf(stderr, "no backend %s\n", name);
			return 2;
		}
		if (posix_memalign(&arena, 1 << 16, heap) != 0)
			return 1;
		memset(arena, 0, heap);
		a = b->init(arena, heap);
		if (!a) {
			fprintf(stderr, "%s: init failed\n", name);
			return 1;
		}
		if (nostats)
			a->flags |= KA_ALLOC_NOSTATS;
	}
	slot = calloc(nslots, sizeof(*slot));
	slot_size = calloc(nslots, sizeof(*slot_size));
	if (cycles)
		cyc = malloc(steps * sizeof(*cyc));
	if (!slot || !slot_size || (cycles && !cyc))
		return 1;

	size_t fails = run(k, a, slot, slot_size, nslots, lo, hi, steps, cyc, &live, &peak_live);
	printf("%s %s steps %zu fails %zu peak_live %zu", name, wl, steps, fails, peak_live);
	if (a) {
		/* Peak bytes handed out (usable sizes) against peak bytes requested. */
		printf(" peak_handed_out %zu heap %zu", (size_t)ka_stats(a)->max_mem_use, heap);
		if (ka_check(a) != 0) {
			printf("\ncheck failed\n");
			return 1;
		}
	}
	printf("\n");
	if (cycles) {
		qsort(cyc, steps, sizeof(*cyc), cmp_u32);
		printf("cycles/op median %u p99 %u p99.9 %u max %u\n", cyc[steps / 2],
		       cyc[steps * 99 / 100], cyc[steps * 999 / 1000], cyc[steps - 1]);
	}
	for (size_t s = 0; s < nslots; s++)
		if (slot[s] && k == K_KALLOC)
			ka_free(a, slot[s]);
	return 0;
}
