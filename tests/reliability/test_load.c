/* SPDX-License-Identifier: MIT */
/*
 * Load: per backend of the registry, a long run of random operations (malloc, calloc,
 * memalign, realloc, free, palloc/pfree) on a heap small enough that requests often fail,
 * against a model of the live blocks. After every operation the checker runs and the
 * statistics must agree with the model; every block's fill pattern is verified when it is
 * resized or freed; a failed request must leave its old block intact. A backend that never
 * reuses memory (region) is re-made empty whenever it is full.
 *
 * Prints "load <backend>: ops N, oom events M, mismatches 0" and fails unless every backend
 * ran its N operations with at least 1,000 out-of-memory events and no mismatch.
 * N is 1,000,000 by default; KA_LOAD_OPS (environment) or the first argument changes it (the
 * sanitizer build runs fewer); a second argument picks one backend.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kalloc/alloc.h"
#include "rel.h"

#define NSLOTS	  256
#define EXTRA	  ((size_t)96 << 10) /* heap = the backend's minimum + this */
#define MIN_OOM	  1000u
#define MAX_SHOWN 10

static unsigned char *mem;
static size_t mem_len;

struct slot {
	unsigned char *p;
	size_t n; /* bytes filled */
	size_t pages;
	uint32_t tag;
};

struct run {
	const struct ka_backend *b;
	struct ka_alloc *a;
	size_t heap_len;
	size_t max_req; /* pool: its object size */
	struct slot s[NSLOTS];
	size_t live;
	unsigned long ops, oom, mismatches, remakes;
	uint32_t tag;
};

static void mismatch(struct run *r, const char *what, size_t i)
{
	if (r->mismatches++ < MAX_SHOWN)
		printf("  %s op %lu slot %zu: %s\n", r->b->name, r->ops, i, what);
}

static void release(struct run *r, size_t i)
{
	struct slot *s = &r->s[i];

	if (rel_verify(s->p, s->n, s->tag) != SIZE_MAX)
		mismatch(r, "contents changed before free", i);
	if (s->pages)
		ka_pfree(r->a, s->p, s->pages);
	else
		ka_free(r->a, s->p);
	s->p = NULL;
	r->live--;
}

static void remake(struct run *r)
{
	for (size_t i = 0; i < NSLOTS; i++)
		if (r->s[i].p)
			release(r, i);
	r->a = r->b->init(mem, r->heap_len);
	REL_REQUIRE(r->a, "%s: init over %zu bytes", r->b->name, r->heap_len);
	r->remakes++;
}

static size_t pick_size(struct run *r, struct rel_rng *g)
{
	size_t k = rel_below(g, 100), n;

	if (k < 70)
		n = rel_below(g, 257);
	else if (k < 95)
		n = 256 + rel_below(g, 2048);
	else
		n = 2048 + rel_below(g, 16384);
	return n > r->max_req ? rel_below(g, r->max_req + 1) : n;
}

static void store(struct run *r, size_t i, unsigned char *p, size_t n, size_t pages)
{
	r->s[i] = (struct slot){p, n, pages, r->tag++};
	rel_fill(p, n, r->s[i].tag);
	r->live++;
}

static void one_op(struct run *r, struct rel_rng *g)
{
	size_t i = rel_below(g, NSLOTS);
	unsigned k = (unsigned)rel_below(g, 100);
	struct slot *s = &r->s[i];
	bool failed = false;

	if (s->p && k < 60) {
		release(r, i);
	} else if (s->p && !s->pages) {
		/* realloc */
		size_t n = pick_size(r, g);
		unsigned char *q = ka_realloc(r->a, s->p, n);
		if (!q) {
			failed = true;
			if (rel_verify(s->p, s->n, s->tag) != SIZE_MAX)
				mismatch(r, "failed realloc changed the block", i);
		} else {
			size_t keep = n < s->n ? n : s->n;
			if (rel_verify(q, keep, s->tag) != SIZE_MAX)
				mismatch(r, "realloc lost contents", i);
			if (ka_usable_size(r->a, q) < n)
				mismatch(r, "realloc: usable size below the request", i);
			s->p = q;
			s->n = n;
			rel_fill(q, n, s->tag);
		}
	} else if (!s->p) {
		size_t n = pick_size(r, g), pages = 0, al = KA_CFG_MIN_ALIGN;
		unsigned char *p;

		if (k < 5 && (r->b->caps & KA_CAP_ANYSIZE)) {
			pages = 1 + rel_below(g, 3);
			n = pages * KA_PAGE_SIZE;
			al = KA_PAGE_SIZE;
			p = ka_palloc(r->a, pages);
		} else if (k < 15) {
			size_t cnt = 1 + rel_below(g, 4);
			n /= cnt;
			p = ka_calloc(r->a, cnt, n);
			n *= cnt;
			for (size_t b = 0; p && b < n; b++)
				if (p[b]) {
					mismatch(r, "calloc block not zeroed", i);
					break;
				}
		} else if (k < 25) {
			al = (size_t)16 << rel_below(g, 6);
			p = ka_memalign(r->a, al, n);
		} else {
			p = ka_malloc(r->a, n);
		}
		if (!p) {
			failed = true;
		} else {
			if ((uintptr_t)p & (al - 1))
				mismatch(r, "misaligned block", i);
			if (!pages && ka_usable_size(r->a, p) < n)
				mismatch(r, "usable size below the request", i);
			store(r, i, p, n, pages);
		}
	}
	r->ops++;
	if (failed) {
		r->oom++;
		/* A full heap of a backend that never reuses memory: start over, empty. */
		if (!(r->b->caps & KA_CAP_FREE) && ka_maxalloc(r->a) < 64)
			remake(r);
	}
	unsigned errs = ka_check(r->a);
	if (errs)
		mismatch(r, "checker reports errors", errs);
	if (ka_stats(r->a)->cur_nb_allocs != r->live)
		mismatch(r, "live-block count differs from the model", r->live);
}

static bool run_backend(const struct ka_backend *b, unsigned long nops)
{
	static struct run r;
	struct rel_rng g;

	memset(&r, 0, sizeof(r));
	r.b = b;
	r.heap_len = b->min_size + EXTRA;
	REL_REQUIRE(r.heap_len <= mem_len, "%s: heap %zu", b->name, r.heap_len);
	r.a = b->init(mem, r.heap_len);
	REL_REQUIRE(r.a, "%s: init over %zu bytes", b->name, r.heap_len);
	r.max_req = (b->caps & KA_CAP_ANYSIZE) ? SIZE_MAX : ka_maxalloc(r.a);
	r.tag = 1;
	rel_seed(&g, 0x10adull * 1000003u + (uint64_t)b->min_size);
	while (r.ops < nops)
		one_op(&r, &g);
	for (size_t i = 0; i < NSLOTS; i++)
		if (r.s[i].p)
			release(&r, i);
	if (ka_check(r.a) != 0 || ka_stats(r.a)->cur_nb_allocs != 0)
		mismatch(&r, "heap not empty and healthy at the end", 0);
	printf("load %s: ops %lu, oom events %lu, mismatches %lu", b->name, r.ops, r.oom,
	       r.mismatches);
	if (r.remakes)
		printf(" (heap re-made empty %lu times)", r.remakes);
	printf("\n");
	fflush(stdout);
	return r.mismatches == 0 && r.oom >= MIN_OOM && r.ops == nops;
}

int main(int argc, char **argv)
{
	unsigned long nops = 1000000;
	const char *env = getenv("KA_LOAD_OPS");
	unsigned bad = 0;

	if (argc > 1)
		nops = strtoul(argv[1], NULL, 0);
	else if (env && *env)
		nops = strtoul(env, NULL, 0);
	REL_REQUIRE(nops > 0, "operation count");
	mem_len = (size_t)1 << 20;
	for (size_t i = 0; ka_backend_at(i); i++) {
		if (argc > 2 && strcmp(argv[2], ka_backend_at(i)->name) != 0)
			continue;
		mem = rel_map(mem_len); /* fresh per backend (see rel_map) */
		bad += !run_backend(ka_backend_at(i), nops);
		rel_unmap(mem, mem_len);
	}
	return bad ? 1 : 0;
}
