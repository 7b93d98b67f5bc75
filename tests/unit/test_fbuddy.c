/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the buddy frame allocator (src/frame/fbuddy_priv.h): regions cut into
 * maximal physically aligned blocks, merging on free (also after partial frees), no merging
 * across regions, the smallest fitting block chosen, the metadata layout size, the checker
 * finding corruption, and refused frees leaving the metadata byte for byte unchanged.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kalloc/fbuddy.h"
#include "frame/fbuddy_priv.h"

#define PG ((ka_paddr_t)KA_PAGE_SIZE)

struct env {
	struct ka_fbuddy fb;
	struct ka_frame_alloc *fa;
	void *meta[4];
	size_t size[4];
	int n;
};

static struct env *env_new(void)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->fa = ka_fbuddy_init(&e->fb);
	return e;
}

static struct ka_fbuddy_region *env_add(struct env *e, ka_paddr_t pa, size_t frames)
{
	size_t need = ka_fmetadata_size(e->fa, frames);
	void *m = malloc(need);

	assert_non_null(m);
	memset(m, 0x5a, need);
	assert_int_equal(ka_fadd_memory(e->fa, m, pa, frames, KA_DM_NONE), 0);
	e->meta[e->n] = m;
	e->size[e->n++] = need;
	return m;
}

static void env_free(struct env *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->meta[i]);
	free(e);
}

/* Assert the free blocks of r are exactly the (pfn, order) pairs given. */
static void expect_blocks(const struct ka_fbuddy_region *r, const unsigned (*blk)[2], size_t n)
{
	size_t heads = 0;

	for (size_t i = 0; i < r->frames; i++)
		heads += r->ord[i] != KA_FBUDDY_NOT_HEAD;
	assert_int_equal(heads, n);
	for (size_t i = 0; i < n; i++) {
		size_t rel = blk[i][0] - (size_t)r->base;
		assert_true(rel < r->frames);
		if (r->ord[rel] != blk[i][1])
			fail_msg("frame %u: order %u, want %u", blk[i][0], r->ord[rel], blk[i][1]);
	}
}

static void t_split_maximal(void **state)
{
	struct env *e = env_new();
	/* frames 3..102: aligned by physical frame number, largest first where they fit */
	static const unsigned want[][2] = {{3, 0},  {4, 2},  {8, 3},   {16, 4}, {32, 5},
					   {64, 5}, {96, 2}, {100, 1}, {102, 0}};
	struct ka_fbuddy_region *r = env_add(e, 3 * PG, 100);

	(void)state;
	expect_blocks(r, want, 9);
	assert_int_equal(r->orders, 0x3f);
	/* allocate everything frame by frame, free it again: the same blocks come back */
	for (int i = 0; i < 100; i++)
		assert_true(ka_falloc(e->fa, 1) != KA_PADDR_INV);
	assert_int_equal(r->orders, 0);
	for (unsigned i = 0; i < 100; i += 7)
		assert_int_equal(ka_ffree(e->fa, (3 + i) * PG, 1), 0);
	for (unsigned i = 0; i < 100; i++)
		if (i % 7)
			assert_int_equal(ka_ffree(e->fa, (3 + i) * PG, 1), 0);
	expect_blocks(r, want, 9);
	assert_int_equal(ka_fcheck(e->fa), 0);
	env_free(e);
}

static void t_no_merge_across_regions(void **state)
{
	struct env *e = env_new();
	struct ka_fbuddy_region *a = env_add(e, 0, 16), *b = env_add(e, 16 * PG, 16);
	static const unsigned wa[][2] = {{0, 4}}, wb[][2] = {{16, 4}};

	(void)state;
	expect_blocks(a, wa, 1);
	expect_blocks(b, wb, 1);
	assert_int_equal(ka_falloc_at(e->fa, 0, 16), 0);
	assert_int_equal(ka_falloc_at(e->fa, 16 * PG, 16), 0);
	assert_int_equal(ka_ffree(e->fa, 0, 32), 0);
	expect_blocks(a, wa, 1);
	expect_blocks(b, wb, 1);
	assert_int_equal(a->orders | b->orders, 1u << 4);
	env_free(e);
}

static void t_smallest_block_first(void **state)
{
	struct env *e = env_new();
	struct ka_fbuddy_region *r = env_add(e, 3 * PG, 100);
	ka_paddr_t p;

	(void)state;
	/* one frame: an order-0 block, nothing split */
	p = ka_falloc(e->fa, 1);
	assert_true(p == 3 * PG || p == 102 * PG);
	assert_int_equal(r->orders, 0x3f);
	/* three frames: from an order-2 block, the fourth frame goes back as order 0 */
	p = ka_falloc(e->fa, 3);
	assert_true(p == 4 * PG || p == 96 * PG);
	assert_int_equal(r->ord[p / PG + 3 - 3], 0);
	/* 33 frames: there is no order-6 block, so the run comes from the bitmap scan, across
	 * blocks that are not buddies (allocation is complete) */
	assert_int_equal(r->orders >> 6, 0);
	p = ka_falloc(e->fa, 33);
	assert_true(p != KA_PADDR_INV && p >= 3 * PG && p + 33 * PG <= 103 * PG);
	assert_int_equal(ka_ffree_frames(e->fa), 100 - 37);
	assert_int_equal(ka_fcheck(e->fa), 0);
	env_free(e);
}

static void t_partial_free_merges(void **state)
{
	struct env *e = env_new();
	struct ka_fbuddy_region *r = env_add(e, 0, 64);
	static const unsigned whole[][2] = {{0, 6}};

	(void)state;
	assert_int_equal(ka_falloc(e->fa, 64), 0); /* the only block is 0..63 */
	assert_int_equal(ka_ffree(e->fa, 8 * PG, 56), 0);
	assert_int_equal(ka_ffree(e->fa, 2 * PG, 3), 0);
	/* free now: 2..4 as {2,o1}, {4,o0}, and everything from 8 merged into 8, 16, 32 */
	assert_int_equal(r->ord[2], 1);
	assert_int_equal(r->ord[4], 0);
	assert_int_equal(r->ord[8], 3);
	assert_int_equal(r->ord[16], 4);
	assert_int_equal(r->ord[32], 5);
	assert_int_equal(ka_ffree(e->fa, 0, 2), 0);
	assert_int_equal(r->ord[0], 2); /* {0,o1} + {2,o1} */
	assert_int_equal(ka_ffree(e->fa, 5 * PG, 3), 0);
	expect_blocks(r, whole, 1);
	assert_int_equal(ka_fcheck(e->fa), 0);
	env_free(e);
}

static void t_metadata_size(void **state)
{
	struct env *e = env_new();
	size_t sizes[] = {1, 64, 65, 1000, (size_t)1 << 20};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t f = sizes[i], words = (f + sizeof(size_t) * 8 - 1) / (sizeof(size_t) * 8);
		size_t want = ((sizeof(struct ka_fbuddy_region) + 7) & ~(size_t)7) +
			      words * sizeof(size_t) + f * sizeof(struct ka_fbuddy_link) + f;
		assert_int_equal(ka_fmetadata_size(e->fa, f), want);
	}
	assert_int_equal(ka_fmetadata_size(e->fa, KA_FBUDDY_MAX_FRAMES + 1), 0);
	env_free(e);
}

static void t_refused_free_unchanged(void **state)
{
	struct env *e = env_new();
	void *copy;

	(void)state;
	env_add(e, 0, 1000);
	assert_int_equal(ka_falloc_at(e->fa, 100 * PG, 50), 0);
	assert_int_equal(ka_ffree(e->fa, 120 * PG, 5), 0);
	copy = malloc(e->size[0]);
	assert_non_null(copy);
	memcpy(copy, e->meta[0], e->size[0]);
	assert_int_equal(ka_ffree(e->fa, 100 * PG, 50), KA_EFAULT);
	assert_int_equal(ka_ffree(e->fa, 120 * PG, 1), KA_EFAULT);
	assert_int_equal(ka_ffree(e->fa, 149 * PG, 2), KA_EFAULT);
	assert_int_equal(ka_ffree(e->fa, 999 * PG, 2), KA_EFAULT);
	assert_int_equal(ka_falloc_at(e->fa, 95 * PG, 10), KA_EBUSY);
	assert_memory_equal(copy, e->meta[0], e->size[0]);
	assert_int_equal(ka_ffree_frames(e->fa), 955);
	free(copy);
	env_free(e);
}

static void t_check_finds_corruption(void **state)
{
	struct env *e = env_new();
	struct ka_fbuddy_region *r = env_add(e, 0, 100);
	uint32_t save;
	size_t n;

	(void)state;
	assert_int_equal(ka_falloc_at(e->fa, 0, 10), 0);
	assert_int_equal(ka_fcheck(e->fa), 0);
	/* a stray order byte on a frame that heads nothing */
	r->ord[1] = 0;
	assert_true(ka_fcheck(e->fa) >= 1);
	r->ord[1] = KA_FBUDDY_NOT_HEAD;
	/* a free frame marked allocated, an allocated frame marked free */
	r->used[0] ^= (size_t)1 << 20;
	assert_true(ka_fcheck(e->fa) >= 1);
	r->used[0] ^= (size_t)1 << 20;
	r->used[0] ^= 1;
	assert_true(ka_fcheck(e->fa) >= 1);
	r->used[0] ^= 1;
	assert_int_equal(ka_fcheck(e->fa), 0);
	/* a broken back link */
	for (n = 0; n < KA_FBUDDY_ORDERS; n++)
		if (r->head[n] != KA_FBUDDY_NIL && r->link[r->head[n]].next != KA_FBUDDY_NIL)
			break;
	if (n < KA_FBUDDY_ORDERS) {
		uint32_t second = r->link[r->head[n]].next;
		save = r->link[second].prev;
		r->link[second].prev = KA_FBUDDY_NIL;
		assert_true(ka_fcheck(e->fa) >= 1);
		r->link[second].prev = save;
	}
	/* the order mask out of step with the lists */
	r->orders ^= 1u << 20;
	assert_int_equal(ka_fcheck(e->fa), 1);
	r->orders ^= 1u << 20;
	/* counters */
	e->fa->free_frames--;
	assert_int_equal(ka_fcheck(e->fa), 1);
	e->fa->free_frames++;
	assert_int_equal(ka_fcheck(e->fa), 0);
	env_free(e);
}

/* At KA_CFG_DEBUG 3 an operation on a corrupted allocator stops the program (the check after
 * every operation); at lower levels this test has nothing to test and is skipped. */
static void t_debug3_panics(void **state)
{
	(void)state;
#if KA_CFG_DEBUG >= 3
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct env *e = env_new();
		struct ka_fbuddy_region *r = env_add(e, 0, 100);

		r->ord[1] = 0; /* a stray head */
		ka_falloc(e->fa, 1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_split_maximal),		cmocka_unit_test(t_no_merge_across_regions),
	    cmocka_unit_test(t_smallest_block_first),	cmocka_unit_test(t_partial_free_merges),
	    cmocka_unit_test(t_metadata_size),		cmocka_unit_test(t_refused_free_unchanged),
	    cmocka_unit_test(t_check_finds_corruption), cmocka_unit_test(t_debug3_panics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
