/* SPDX-License-Identifier: MIT */
/*
 * ka_global_set_keep_empty(): how many empty sub-heap chunks stay mapped. A heap grown to
 * several chunks and emptied keeps exactly min(keep, chunks) of them, a rebuild reuses them
 * without mapping new ones, lowering the figure releases the excess at once, and the checker
 * agrees after every step. Every case runs over each byte backend of the build.
 *
 * ka_global_set_keep_large(): freed large blocks kept mapped for reuse. A reused block is
 * dirty, so calloc clears it; the idle set stays within its bounds; a capped source gives
 * the idle memory back before a request fails; a free of an idle block is a double free.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

#define MIB ((size_t)1 << 20)

static size_t idle_pages(void)
{
	struct ka_global_stats st;

	ka_global_stats(&G, &st);
	return st.idle_large_pages;
}

static void test_keep_large_reuse(void **state)
{
	struct ka_alloc *a;
	struct ka_global_stats st;
	size_t base_pages, n = 3 * MIB;
	unsigned char *p, *q;

	(void)state;
	assert_int_equal(ka_global_init_hosted(&G, 0, NULL), 0);
	a = ka_global_alloc_iface(&G);
	assert_true(n > G.large_threshold);
	ka_global_stats(&G, &st);
	base_pages = st.used_pages;
	p = ka_malloc(a, n);
	assert_non_null(p);
	memset(p, 0xab, n);
	ka_free(a, p);
	/* Kept: still mapped, counted, but no longer a live block. */
	ka_global_stats(&G, &st);
	assert_int_equal(st.large_blocks, 0);
	assert_int_equal(st.live_blocks, 0);
	assert_true(st.idle_large_pages * KA_PAGE_SIZE > n);
	assert_int_equal(st.used_pages, base_pages + st.idle_large_pages);
	assert_int_equal(ka_global_check(&G), 0);

	/* Reused, and dirty: calloc must clear what the last owner wrote. */
	q = ka_calloc(a, 1, n);
	assert_ptr_equal(q, p);
	assert_int_equal(idle_pages(), 0);
	for (size_t i = 0; i < n; i += 512)
		assert_int_equal(q[i], 0);
	assert_int_equal(q[n - 1], 0);
	ka_free(a, q);

	/* A request of a third of the block reuses it, trimmed at the tail. */
	q = ka_malloc(a, n / 3);
	assert_ptr_equal(q, p);
	assert_true(ka_usable_size(a, q) < n / 2);
	assert_int_equal(ka_global_check(&G), 0);
	ka_free(a, q);

	/* A fresh mapping is zero already; calloc of one leaves it alone and it reads zero. */
	q = ka_calloc(a, 1, 8 * MIB);
	assert_non_null(q);
	assert_int_equal(q[0] | q[4 * MIB] | q[8 * MIB - 1], 0);
	ka_free(a, q);

	/* Lowering the figure to 0 gives every idle block back at once. */
	ka_global_set_keep_large(&G, 0);
	ka_global_stats(&G, &st);
	assert_int_equal(st.idle_large_pages, 0);
	assert_int_equal(st.used_pages, base_pages);
	p = ka_malloc(a, n);
	ka_free(a, p);
	assert_int_equal(idle_pages(), 0);
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
	assert_int_equal(G.src->used_pages, 0);
}

static void test_keep_large_bounds(void **state)
{
	struct ka_alloc *a;
	void *p[12];

	(void)state;
	assert_int_equal(ka_global_init_hosted(&G, 0, NULL), 0);
	a = ka_global_alloc_iface(&G);
	/* More blocks than the count bound, then more bytes than the byte bound. */
	for (int i = 0; i < 12; i++)
		assert_non_null(p[i] = ka_malloc(a, 2 * MIB));
	for (int i = 0; i < 12; i++)
		ka_free(a, p[i]);
	assert_int_equal(G.nidle, KA_GLOBAL_IDLE_MAX);
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_set_keep_large(&G, 5 * MIB);
	assert_true(idle_pages() * KA_PAGE_SIZE <= 5 * MIB);
	assert_true(G.nidle >= 1);
	for (int i = 0; i < 4; i++)
		assert_non_null(p[i] = ka_malloc(a, 3 * MIB));
	for (int i = 0; i < 4; i++)
		ka_free(a, p[i]);
	assert_true(idle_pages() * KA_PAGE_SIZE <= 5 * MIB);
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
	assert_int_equal(G.src->used_pages, 0);
}

/* Idle memory does not make a request fail: a capped source gets it back first. */
static void test_keep_large_capped(void **state)
{
	struct ka_alloc *a;
	void *p, *q;

	(void)state;
	assert_int_equal(ka_global_init_hosted(&G, 20 * MIB, NULL), 0);
	a = ka_global_alloc_iface(&G);
	p = ka_malloc(a, 8 * MIB);
	assert_non_null(p);
	ka_free(a, p);
	assert_true(idle_pages() > 0);
	q = ka_malloc(a, 16 * MIB); /* needs the idle block's pages */
	assert_non_null(q);
	assert_int_equal(idle_pages(), 0);
	assert_int_equal(ka_global_check(&G), 0);
	ka_free(a, q);
	ka_global_destroy(&G);
}

/* ka_global_init() keeps none by default: a kernel's frames stay with the frame allocator. */
static void test_keep_large_default_off(void **state)
{
	static struct ka_plat_source ps;
	struct ka_alloc *a;

	(void)state;
	assert_int_equal(ka_global_init(&G, ka_plat_source_init(&ps, 0), NULL), 0);
	a = ka_global_alloc_iface(&G);
	ka_free(a, ka_malloc(a, 3 * MIB));
	assert_int_equal(idle_pages(), 0);
	ka_global_destroy(&G);
	assert_int_equal(ps.base.used_pages, 0);
}

static void free_idle_twice(void)
{
	struct ka_alloc *a;
	void *p;

	if (ka_global_init_hosted(&G, 0, NULL) != 0)
		_exit(3);
	a = ka_global_alloc_iface(&G);
	p = ka_malloc(a, 3 * MIB);
	ka_free(a, p);
	ka_free(a, p); /* the block is idle, still mapped: reported, not freed again */
}

static void test_keep_large_double_free(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		free_idle_twice();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keep_empty),
	    cmocka_unit_test(test_keep_large_reuse),
	    cmocka_unit_test(test_keep_large_bounds),
	    cmocka_unit_test(test_keep_large_capped),
	    cmocka_unit_test(test_keep_large_default_off),
	    cmocka_unit_test(test_keep_large_double_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
