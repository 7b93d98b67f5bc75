/* SPDX-License-Identifier: MIT */
/*
 * ka_global_owns(), the ownership query the shim asks before it reads anything around a
 * pointer: the O(1) table (ka_global_owns_table()) must give exactly the answers of the walk
 * of the chunk and large-block lists (the contract in global.h), for block starts, interior
 * and boundary pointers, over-aligned large blocks, and addresses that are not the heap's;
 * freed large blocks and released chunks must stop being owned; the table's pages go back
 * to the page source on destroy. Both forms of the table: the flat map (hosted: reserved
 * address space) and the radix table of mapped pages (kernels without a reserve hook); with the
 * flat map, ka_global_owns_inline()'s "yes" must be a "yes" of the walk too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "global/global_priv.h"

static char a_global[256] __attribute__((aligned(64)));

/* Same answer from the table and from the walk; returns it. */
static bool owns(struct ka_global *g, const void *p)
{
	bool t = ka_global_owns(g, p), w = ka_global_owns_walk(g, p);

	if (t != w)
		print_error("table %d walk %d for %p\n", t, w, p);
	assert_true(t == w);
	if (ka_global_owns_inline(g, p))
		assert_true(w);
	assert_true(ka_global_owns_fast(g, p) == w);
	return t;
}

#define NB 12

static void one_shift(unsigned shift, bool flat)
{
	static struct ka_global g;
	struct ka_global_config cfg = {"tlsf", shift, 0};
	char stack[64];
	size_t cs = (size_t)1 << shift;
	size_t sizes[NB] = {1,	    16, 100,	1000,	      3000, cs / 8,
			    cs / 2, cs, 3 * cs, 5 * cs + 123, 40,   8};
	size_t aligns[NB] = {16, 16, 16, 64, 16, 16, 4096, cs, 2 * cs, 16, 8192, 4 * cs};
	unsigned char *b[NB];

	assert_int_equal(ka_global_init_hosted(&g, 0, &cfg), 0);
	b[0] = ka_global_alloc(&g, sizes[0], aligns[0]);
	assert_int_equal(ka_global_owns_table_form(&g, flat), 0); /* records the first chunk */
	assert_true((g.owns_flat != NULL) == flat); /* hosted: the reservation is there */
	for (int i = 1; i < NB; i++)
		b[i] = ka_global_alloc(&g, sizes[i], aligns[i]);
	for (int i = 0; i < NB; i++) {
		size_t u = ka_global_usable_size(&g, b[i]);

		assert_non_null(b[i]);
		assert_true(owns(&g, b[i]));
		if (flat && ka_gchunk_of(&g, b[i])->kind == KA_GCHUNK_HEAP)
			assert_true(ka_global_owns_inline(&g, b[i])); /* the common case, inline */
		assert_true(owns(&g, b[i] + 16)); /* where a cache in front puts its pointer */
		if (aligns[i] < u)
			assert_true(owns(&g, b[i] + aligns[i])); /* the same, over-aligned */
		assert_true(owns(&g, b[i] + (u < 4096 ? u : 4096) - 16));
		/* Interior, slot boundaries and one past the end: whatever the answer, the table
		 * and the walk agree (owns() asserts it). */
		for (size_t off = 0; off <= u + cs; off += cs / 4)
			(void)owns(&g, b[i] + off);
		(void)owns(&g, b[i] + u);
		(void)owns(&g, b[i] - 1);
	}
	assert_false(owns(&g, NULL));
	assert_false(owns(&g, (void *)(uintptr_t)0x100000));
	assert_false(owns(&g, stack));
	assert_false(owns(&g, a_global));
	assert_false(owns(&g, (void *)(uintptr_t)0x0123456789abcdefull)); /* not canonical */
	assert_false(owns(&g, (void *)~(uintptr_t)0xfff));
	/* A chunk's header is not block memory. */
	assert_false(owns(&g, (void *)(((uintptr_t)b[1] & ~(uintptr_t)(cs - 1)) + 16)));
	for (int i = NB - 1; i >= 0; i--) {
		bool large = ka_gchunk_of(&g, b[i])->kind == KA_GCHUNK_LARGE;

		ka_global_free(&g, b[i]);
		if (large)
			assert_false(owns(&g, b[i]));
	}
	{
		struct ka_global_stats st;

		ka_global_stats(&g, &st);
		assert_int_equal(st.large_blocks, 0);
		assert_true(flat ? g.owns_pages == 0 : g.owns_pages > 0);
	}
	ka_global_destroy(&g);
	assert_int_equal(g.src->used_pages, 0); /* chunks, large blocks and the table */
	assert_null(g.owns_flat);
}

static void t_owns_matches_walk(void **state)
{
	(void)state;
	for (unsigned s = KA_CFG_PAGE_SHIFT + 2; s <= 24; s += 2)
		for (int flat = 0; flat < 2; flat++)
			one_shift(s, flat != 0);
}

/* A chunk given back to the source is no longer owned (keep_empty 1: the second empty one
 * goes back). */
static void released_chunk(bool flat)
{
	static struct ka_global g;
	struct ka_global_config cfg = {"tlsf", 16, 0};
	void *p[64];
	unsigned n = 0;

	assert_int_equal(ka_global_init_hosted(&g, 0, &cfg), 0);
	assert_int_equal(ka_global_owns_table_form(&g, flat), 0);
	for (n = 0; n < 64; n++) {
		p[n] = ka_global_alloc(&g, 8000, 16);
		assert_non_null(p[n]);
		assert_true(owns(&g, p[n]));
	}
	for (unsigned i = 0; i < n; i++)
		ka_global_free(&g, p[i]);
	{
		struct ka_global_stats st;
		unsigned gone = 0;

		ka_global_stats(&g, &st);
		assert_true(st.chunks_released > 0);
		for (unsigned i = 0; i < n; i++)
			gone += !owns(&g, p[i]);
		assert_true(gone > 0);
	}
	ka_global_destroy(&g);
	assert_int_equal(g.src->used_pages, 0);
}

static void t_released_chunk(void **state)
{
	(void)state;
	released_chunk(false);
	released_chunk(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_owns_matches_walk),
	    cmocka_unit_test(t_released_chunk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
