/* SPDX-License-Identifier: MIT */
/*
 * The random slot workloads of issue 15, shared by kalloc-slots (tools/slots) and
 * `kalloc-bench slots` (tools/bench/slots.c) so that both run the very same sequence and
 * their instruction counts compare. Each step picks one of N slots at random: frees it if it
 * holds a block, else allocates a uniform random size. The seed is fixed.
 *
 * The measured loop exists in three copies, one per call shape, each alone in a noinline
 * function named slot_run_* so that callgrind counts only it (--toggle-collect='slot_run_*'
 * in bench/callgrind_slots.sh):
 *   slot_run_kalloc  ka_malloc(a, n) / ka_free(a, p), direct calls;
 *   slot_run_empty   the same shape with do-nothing callees (the harness for kalloc);
 *   slot_run_ptr     malloc/free through function pointers (glibc, mimalloc, or the
 *                    do-nothing pair slot_empty_malloc/free as their harness).
 * Subtracting the harness of the same shape leaves what the allocator itself executes.
 */
#ifndef KALLOC_TOOLS_SLOTS_H
#define KALLOC_TOOLS_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kalloc/alloc.h"
#include "tick.h"

struct slot_wl {
	const char *name;
	size_t nslots, lo, hi; /**< slots; request sizes lo..hi bytes, uniform */
	size_t heap;	       /**< kalloc heap (arena) bytes */
};

static const struct slot_wl slot_workloads[] = {
    {"S", 256, 8, 256, (size_t)1 << 20},
    {"M", 8192, 16, 4096, (size_t)64 << 20},
};

static inline const struct slot_wl *slot_wl_find(const char *name)
{
	for (size_t i = 0; i < sizeof(slot_workloads) / sizeof(slot_workloads[0]); i++)
		if (strcmp(slot_workloads[i].name, name) == 0)
			return &slot_workloads[i];
	return NULL;
}

#define SLOT_SEED 0x9e3779b97f4a7c15ull

/** One run's inputs and what it measured. */
struct slot_run {
	const struct slot_wl *wl;
	uint64_t steps;
	void **slot;	   /**< wl->nslots entries, NULL at the start */
	size_t *slot_size; /**< wl->nslots entries */
	uint32_t *ticks;   /**< steps entries: ticks of each call; NULL: untimed */
	struct ka_alloc *a;
	void *(*malloc)(size_t); /**< slot_run_ptr only */
	void (*free)(void *);
	/* out */
	size_t fails, live, peak_live;
};

/* The do-nothing callees: each costs only its own call and return. */
static char slot_empty_block[16];

__attribute__((noinline, used)) static void *slot_empty_kalloc(struct ka_alloc *a, size_t n)
{
	__asm__ volatile("" ::"r"(a), "r"(n));
	return slot_empty_block;
}

__attribute__((noinline, used)) static void slot_empty_kfree(struct ka_alloc *a, void *p)
{
	__asm__ volatile("" ::"r"(a), "r"(p));
}

__attribute__((noinline, used)) static void *slot_empty_malloc(size_t n)
{
	__asm__ volatile("" ::"r"(n));
	return slot_empty_block;
}

__attribute__((noinline, used)) static void slot_empty_free(void *p)
{
	__asm__ volatile("" ::"r"(p));
}

enum slot_shape { SLOT_KALLOC, SLOT_EMPTY, SLOT_PTR };

/* Ticks never exceed 32 bits in practice (4 s at 1 GHz); clamp rather than wrap. */
static inline uint32_t slot_clamp(uint64_t t)
{
	return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

/* The loop; `shape` is a constant in each caller, so each slot_run_* has its own copy. */
static inline __attribute__((always_inline)) void slot_loop(struct slot_run *r,
							    enum slot_shape shape)
{
	void **slot = r->slot;
	size_t *slot_size = r->slot_size;
	uint32_t *ticks = r->ticks;
	struct ka_alloc *a = r->a;
	void *(*m)(size_t) = r->malloc;
	void (*f)(void *) = r->free;
	size_t nslots = r->wl->nslots, lo = r->wl->lo, span = r->wl->hi - r->wl->lo + 1;
	size_t live = 0, peak_live = 0, fails = 0;
	uint64_t rng = SLOT_SEED, steps = r->steps, t0 = 0;

	for (uint64_t i = 0; i < steps; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		size_t s = (size_t)(rng % nslots);
		void *p = slot[s];

		if (p) {
			if (ticks)
				t0 = bench_tick();
			if (shape == SLOT_KALLOC)
				ka_free(a, p);
			else if (shape == SLOT_EMPTY)
				slot_empty_kfree(a, p);
			else
				f(p);
			if (ticks)
				ticks[i] = slot_clamp(bench_tick() - t0);
			slot[s] = NULL;
			live -= slot_size[s];
		} else {
			size_t n = lo + (size_t)((rng >> 32) % span);
			if (ticks)
				t0 = bench_tick();
			if (shape == SLOT_KALLOC)
				p = ka_malloc(a, n);
			else if (shape == SLOT_EMPTY)
				p = slot_empty_kalloc(a, n);
			else
				p = m(n);
			if (ticks)
				ticks[i] = slot_clamp(bench_tick() - t0);
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
	}
	r->live = live;
	r->peak_live = peak_live;
	r->fails = fails;
}

#if defined(__clang__)
#define SLOT_NOCLONE
#else
#define SLOT_NOCLONE __attribute__((noclone))
#endif

__attribute__((noinline, used)) SLOT_NOCLONE static void slot_run_kalloc(struct slot_run *r)
{
	slot_loop(r, SLOT_KALLOC);
}

__attribute__((noinline, used)) SLOT_NOCLONE static void slot_run_empty(struct slot_run *r)
{
	slot_loop(r, SLOT_EMPTY);
}

__attribute__((noinline, used)) SLOT_NOCLONE static void slot_run_ptr(struct slot_run *r)
{
	slot_loop(r, SLOT_PTR);
}

#endif /* KALLOC_TOOLS_SLOTS_H */
