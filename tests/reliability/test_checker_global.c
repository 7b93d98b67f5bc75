/* SPDX-License-Identifier: MIT */
/*
 * The global allocator's checker (ka_global_check) counts deliberate corruption exactly:
 * each case damages one piece of bookkeeping (chunk or large-block header, list link,
 * counter, page-source figure), asserts the exact number of inconsistencies reported, then
 * repairs it and asserts a clean check again. The backends' and frame allocators' own
 * checkers have such tests in tests/unit; this covers the layer above them, over every
 * general-purpose byte backend.
 *
 * Prints "checker global/<backend>: N/N corruptions counted exactly".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "global/global_priv.h"
#include "rel.h"

static struct ka_global G;
static unsigned cases, exact;

static void expect_count(const char *what, unsigned want)
{
	unsigned got = ka_global_check(&G);

	cases++;
	if (got == want)
		exact++;
	else
		printf("  %s: %s: checker counted %u, expected %u\n", ka_global_name(&G), what, got,
		       want);
}

/* After a repair the heap must be clean again (not counted as a case of its own). */
static unsigned unrepaired;
static void repaired_ok(const char *what)
{
	if (ka_global_check(&G) != 0) {
		printf("  %s: %s: still reported after the repair\n", ka_global_name(&G), what);
		unrepaired++;
	}
}

#define CORRUPT(what, lvalue, bad, want)                                                           \
	do {                                                                                       \
		__typeof__(lvalue) saved_ = (lvalue);                                              \
		(lvalue) = (bad);                                                                  \
		expect_count(what, want);                                                          \
		(lvalue) = saved_;                                                                 \
		repaired_ok(what);                                                                 \
	} while (0)

static bool run(const char *backend)
{
	unsigned shift = 16;
	void *small[64], *large[3];

	while (ka_backend_find(backend)->min_size > ((size_t)1 << shift) - KA_GCHUNK_HDR)
		shift++;
	struct ka_global_config cfg = {backend, shift, 0};
	REL_REQUIRE(ka_global_init_hosted(&G, 0, &cfg) == 0, "%s", backend);
	/* Enough small blocks for three or more chunks, and three large blocks. */
	size_t bs = G.chunk_size / 16;
	for (size_t i = 0; i < 64; i++)
		small[i] = ka_global_alloc(&G, bs, 16);
	for (size_t i = 0; i < 3; i++)
		large[i] = ka_global_alloc(&G, G.chunk_size, 16);
	REL_REQUIRE(G.nheaps >= 3 && G.nlarge == 3, "%s: %zu chunks, %zu large", backend, G.nheaps,
		    G.nlarge);
	cases = exact = 0;
	expect_count("healthy heap", 0);

	struct ka_gchunk *c1 = G.heaps, *c2 = G.heaps->next, *l1 = G.large, *l3 = G.large;
	while (l3->next)
		l3 = l3->next;
	CORRUPT("chunk live count", c2->live, c2->live + 1, 1);
	CORRUPT("chunk back link", c2->prev, c2, 1);
	/* One chunk too many: the list disagrees, and so does the source's page figure. */
	CORRUPT("chunk count", G.nheaps, G.nheaps + 1, 2);
	CORRUPT("used bytes", G.used_bytes, G.used_bytes + 16, 1);
	CORRUPT("live block count", G.live_blocks, G.live_blocks + 1, 1);
	CORRUPT("free bytes total", G.heap_avail, G.heap_avail + 16, 1);
	CORRUPT("chunk free bytes", c2->avail, c2->avail - 16, 1);
	CORRUPT("cached empty chunk with live blocks", G.empty, c1, 1);
	CORRUPT("current chunk off the list", G.cur, (struct ka_gchunk *)(void *)&G, 1);
	CORRUPT("large block count", G.nlarge, G.nlarge + 1, 1);
	CORRUPT("large back link", l3->prev, l3, 1);
	/* The walk stops at a bad header, so the count of the rest is off as well. */
	CORRUPT("first large block's magic", l1->magic, l1->magic ^ 1, 2);
	CORRUPT("last large block's magic", l3->magic, l3->magic ^ 1, 1);
	CORRUPT("large block size", l3->size, l3->size + KA_PAGE_SIZE, 1);
	/* One page too many on the allocator's side: its own figures and the source's. */
	CORRUPT("large page total", G.large_pages, G.large_pages + 1, 2);
	CORRUPT("page source figure", G.src->used_pages, G.src->used_pages - 1, 1);
	/* Two independent faults: both counted. */
	struct ka_gchunk *saved_prev = c2->prev;
	c2->prev = c2;
	G.nlarge++;
	expect_count("chunk back link and large count", 2);
	c2->prev = saved_prev;
	G.nlarge--;
	repaired_ok("chunk back link and large count");

	for (size_t i = 0; i < 64; i++)
		ka_global_free(&G, small[i]);
	for (size_t i = 0; i < 3; i++)
		ka_global_free(&G, large[i]);
	expect_count("emptied", 0);
	ka_global_destroy(&G);
	printf("checker global/%s: %u/%u corruptions counted exactly\n", backend, exact, cases);
	fflush(stdout);
	return exact == cases && unrepaired == 0;
}

int main(void)
{
	unsigned bad = 0;

	for (size_t i = 0; ka_backend_at(i); i++)
		if (rel_general(ka_backend_at(i)->name))
			bad += !run(ka_backend_at(i)->name);
	return bad ? 1 : 0;
}
