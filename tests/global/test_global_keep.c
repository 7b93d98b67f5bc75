/* SPDX-License-Identifier: MIT */
/*
 * ka_global_set_keep_empty(): how many empty sub-heap chunks stay mapped. A heap grown to
 * several chunks and emptied keeps exactly min(keep, chunks) of them, a rebuild reuses them
 * without mapping new ones, lowering the figure releases the excess at once, and the checker
 * agrees after every step. Every case runs over each byte backend of the build.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "global/global_priv.h"
#include "gsim.h"

#define NBLK 600

static struct ka_global G;
static void *blk[NBLK];

static unsigned shift_for(const char *backend)
{
	unsigned shift = 16;

	while (ka_backend_find(backend)->min_size > ((size_t)1 << shift) - KA_GCHUNK_HDR)
		shift++;
	return shift;
}

/* Fill the heap with NBLK blocks of a tenth of a chunk: several chunks. */
static void build(size_t chunk)
{
	for (size_t i = 0; i < NBLK / 10; i++) {
		blk[i] = ka_global_alloc(&G, chunk / 10, 16);
		assert_non_null(blk[i]);
		memset(blk[i], (int)i, chunk / 10);
	}
}

static void drop(void)
{
	for (size_t i = 0; i < NBLK / 10; i++)
		ka_global_free(&G, blk[i]);
}

static void keep_for(const char *backend)
{
	struct ka_global_config cfg = {backend, shift_for(backend), 0};
	struct ka_global_stats st;
	size_t chunk = (size_t)1 << cfg.chunk_shift, grown;
	uint64_t mapped;

	assert_int_equal(ka_global_init_hosted(&G, 0, &cfg), 0);
	ka_global_set_keep_empty(&G, 4);
	build(chunk);
	ka_global_stats(&G, &st);
	grown = st.chunks;
	assert_true(grown > 4);
	drop();
	ka_global_stats(&G, &st);
	assert_int_equal(st.chunks, 4);
	assert_int_equal(G.nempty, 4);
	assert_int_equal(ka_global_check(&G), 0);

	/* Rebuilding maps only what the four kept chunks cannot hold. */
	mapped = st.chunks_mapped;
	build(chunk);
	ka_global_stats(&G, &st);
	assert_int_equal(st.chunks_mapped - mapped, grown - 4);
	assert_int_equal(ka_global_check(&G), 0);
	drop();

	/* Lowering the figure releases the excess now; 0 counts as 1. */
	ka_global_set_keep_empty(&G, 0);
	ka_global_stats(&G, &st);
	assert_int_equal(st.chunks, 1);
	assert_int_equal(G.nempty, 1);
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
	assert_int_equal(G.src->used_pages, 0);
}

static void test_keep_empty(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++)
		keep_for(*b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keep_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
