/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the tiny backend (src/backend/tiny.c) against its private layout
 * (tiny_priv.h): merging of free neighbours, several regions, aligned allocation, the class
 * search policy, misuse detection (in a forked child that must die of SIGABRT) and the
 * checker, which must count deliberate corruption exactly.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abort_helper.h"
#include "kalloc/tiny.h"
#if KA_CFG_TINY_COMPACT
/* Built for size the library's tiny is the compact variant (config.h), which
 * test_tiny_compact.c tests. The binned variant is then compiled into this program under
 * other names, so that its -Os bodies are still tested (.ci/steps/size_paths.sh). */
#undef KA_CFG_TINY_COMPACT
#define KA_CFG_TINY_COMPACT 0
#define ka_tiny_init	    ka_tiny_binned_init
#define ka_backend_tiny	    ka_backend_tiny_binned
#define ka_tiny_check_impl  ka_tiny_binned_check_impl
#define ka_tiny_walk_impl   ka_tiny_binned_walk_impl
#include "backend/tiny.c"
#include "backend/tiny_validate.c"
#else
#include "backend/tiny_priv.h"
#endif

#define HEAP_LEN ((size_t)1 << 20)

static _Alignas(4096) unsigned char heap[HEAP_LEN];
static _Alignas(4096) unsigned char extra1[64 * 1024];
static _Alignas(4096) unsigned char extra2[64 * 1024];

static struct ka_alloc *mk(size_t len)
{
	struct ka_alloc *a = ka_tiny_init(heap, len);

	assert_non_null(a);
	assert_int_equal(ka_check(a), 0);
	return a;
}

static struct tiny *T(struct ka_alloc *a)
{
	return (struct tiny *)a;
}

static uintptr_t blk_of(const void *p)
{
	return (uintptr_t)p - TINY_HDR;
}

static size_t bsize(const void *p)
{
	return tiny_size(*(size_t *)blk_of(p));
}

struct census {
	size_t nfree, nused, free_bytes, used_bytes;
};

static int count_cb(void *ptr, size_t size, bool used, void *arg)
{
	struct census *c = arg;

	(void)ptr;
	if (used) {
		c->nused++;
		c->used_bytes += size;
	} else {
		c->nfree++;
		c->free_bytes += size;
	}
	return 0;
}

static struct census census(struct ka_alloc *a)
{
	struct census c = {0, 0, 0, 0};

	assert_int_equal(ka_walk(a, count_cb, &c), 0);
	return c;
}

/* Block size for a request of n bytes at minimum alignment. */
static size_t req_block(size_t n)
{
	size_t r = (n + TINY_HDR + TINY_UNIT - 1) & ~(TINY_UNIT - 1);

	return r < TINY_MINBLK ? TINY_MINBLK : r;
}

/* ---- init and basic layout ------------------------------------------------------------- */

static void test_init_limits(void **state)
{
	(void)state;
	size_t min = ka_backend_tiny.min_size;

	assert_null(ka_tiny_init(NULL, HEAP_LEN));
	assert_null(ka_tiny_init(heap, min - 1));
	struct ka_alloc *a = ka_tiny_init(heap, min);
	assert_non_null(a);
	assert_int_equal(ka_check(a), 0);
	/* The smallest heap holds exactly one minimum block. */
	assert_int_equal(ka_maxalloc(a), TINY_MINBLK - TINY_HDR);
	void *p = ka_malloc(a, 1);
	assert_non_null(p);
	assert_null(ka_malloc(a, 1));
	ka_free(a, p);
	assert_int_equal(ka_check(a), 0);

	/* An unaligned base and end are rounded inwards. */
	a = ka_tiny_init(heap + 3, 4096 + 5);
	assert_non_null(a);
	p = ka_malloc(a, 100);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p & (TINY_UNIT - 1), 0);
	assert_true((unsigned char *)p + 100 <= heap + 3 + 4096 + 5);
	assert_int_equal(ka_check(a), 0);
}

static void test_sizes_and_bins(void **state)
{
	(void)state;
	struct ka_alloc *a = mk(HEAP_LEN);

	for (size_t n = 1; n < 5000; n += 7) {
		void *p = ka_malloc(a, n);
		assert_non_null(p);
		assert_int_equal(bsize(p), req_block(n));
		assert_int_equal(ka_usable_size(a, p), req_block(n) - TINY_HDR);
		assert_true(ka_usable_size(a, p) >= n);
		memset(p, 0xab, n);
		ka_free(a, p);
	}
	assert_int_equal(ka_check(a), 0);

	/* A freed small block between two used ones goes on its exact-size list and is
	 * reused first by a request of that size. */
	void *x = ka_malloc(a, 40), *y = ka_malloc(a, 40), *z = ka_malloc(a, 40);
	size_t s = bsize(y);
	unsigned bin = (unsigned)((s - TINY_MINBLK) / TINY_UNIT);
	assert_true(bin < TINY_NEXACT);
	ka_free(a, y);
	assert_ptr_equal(T(a)->bins[bin], (void *)blk_of(y));
	assert_true(T(a)->bitmap & ((size_t)1 << bin));
	void *y2 = ka_malloc(a, 40);
	assert_ptr_equal(y2, y);
	assert_null(T(a)->bins[bin]);
	assert_false(T(a)->bitmap & ((size_t)1 << bin));
	ka_free(a, x);
	ka_free(a, y2);
	ka_free(a, z);
	assert_int_equal(ka_check(a), 0);
}

/* ---- merging ----------------------------------------------------------------------------- */

static void test_coalesce(void **state)
{
	(void)state;
	struct ka_alloc *a = mk(HEAP_LEN);
	struct ka_info i0, i1;
	void *p[6];

	ka_info(a, &i0);
	assert_int_equal(census(a).nfree, 1);
	for (int i = 0; i < 6; i++)
		p[i] = ka_malloc(a, 100 + 50 * (size_t)i);
	/* p[5] keeps the blocks away from the rest of the heap. */
	size_t s1 = bsize(p[1]), s2 = bsize(p[2]), s3 = bsize(p[3]);

	/* Free with both neighbours used: no merge, the next block learns its predecessor
	 * is free. */
	ka_free(a, p[2]);
	assert_int_equal(census(a).nfree, 2);
	assert_int_equal(bsize(p[2]), s2);
	assert_true(*(size_t *)blk_of(p[3]) & TINY_PFREE);
	assert_int_equal(ka_check(a), 0);

	/* Free merging forward (p[1] + free p[2]). */
	ka_free(a, p[1]);
	assert_int_equal(census(a).nfree, 2);
	assert_int_equal(tiny_size(*(size_t *)blk_of(p[1])), s1 + s2);
	assert_int_equal(ka_check(a), 0);

	/* Free merging backward only (free p[1..2] + p[3]; p[4] is used). */
	ka_free(a, p[3]);
	assert_int_equal(census(a).nfree, 2);
	assert_int_equal(tiny_size(*(size_t *)blk_of(p[1])), s1 + s2 + s3);
	assert_int_equal(ka_check(a), 0);

	/* The same with p[4] (p[5] is used). */
	ka_free(a, p[4]);
	assert_int_equal(census(a).nfree, 2);
	/* Free merging both ways: p[5] sits between free p[1..4] and the free top block. */
	ka_free(a, p[5]);
	assert_int_equal(census(a).nfree, 1);
	assert_int_equal(ka_check(a), 0);
	/* Merging forward into everything: back to the initial single block. */
	ka_free(a, p[0]);
	assert_int_equal(census(a).nfree, 1);
	ka_info(a, &i1);
	assert_int_equal(i1.avail, i0.avail);
	assert_int_equal(i1.maxalloc, i0.maxalloc);
	assert_int_equal(ka_check(a), 0);
}

static void test_coalesce_random(void **state)
{
	(void)state;
	struct ka_alloc *a = mk(HEAP_LEN);
	struct ka_info i0, i1;
	void *p[300] = {0};
	uint32_t x = 12345;

	ka_info(a, &i0);
	for (int step = 0; step < 20000; step++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		size_t i = x % 300;
		if (p[i]) {
			ka_free(a, p[i]);
			p[i] = NULL;
		} else {
			p[i] = ka_malloc(a, 1 + (x >> 9) % 700);
			assert_non_null(p[i]);
		}
		/* The checker also verifies that no two free blocks are adjacent. */
		if (step % 500 == 0)
			assert_int_equal(ka_check(a), 0);
	}
	for (int i = 0; i < 300; i++)
		ka_free(a, p[i]);
	assert_int_equal(census(a).nfree, 1);
	ka_info(a, &i1);
	assert_int_equal(i1.avail, i0.avail);
	assert_int_equal(ka_check(a), 0);
}

/* ---- class search policy ---------------------------------------------------------------- */

/* Build a heap where one power-of-two class holds many too-small blocks and one fitting
 * block at the end of the list, then ask for the fitting size: without a larger class the
 * scan must go past TINY_PROBES; with one, the larger class is used. */
static void test_probe_policy(void **state)
{
	(void)state;
	struct ka_alloc *a = mk(64 * 1024);
	enum { N = 3 * TINY_PROBES };
	void *small[N], *big, *fill = NULL;
	size_t small_req = TINY_LASTEXACT + TINY_UNIT - TINY_HDR; /* first class after exact */
	/* the largest block of the same class */
	size_t big_req = ((size_t)2 << ka_fls(TINY_LASTEXACT)) - TINY_UNIT - TINY_HDR;
	unsigned cls = TINY_NEXACT;

	assert_int_equal(tiny_bin(req_block(small_req)), cls);
	assert_int_equal(tiny_bin(req_block(big_req)), cls);
	for (int i = 0; i < N; i++) {
		small[i] = ka_malloc(a, small_req);
		assert_non_null(ka_malloc(a, 1)); /* separator */
	}
	big = ka_malloc(a, big_req);
	assert_non_null(ka_malloc(a, 1));
	/* Fill the rest of the heap with minimum blocks chained through their first word. */
	for (;;) {
		void **q = ka_malloc(a, 1);
		if (!q)
			break;
		*q = fill;
		fill = q;
	}
	assert_int_equal(T(a)->bitmap, 0);
	ka_free(a, big);
	for (int i = 0; i < N; i++)
		ka_free(a, small[i]);
	assert_int_equal(T(a)->bitmap, (size_t)1 << cls);
	/* The fitting block is last on the LIFO list, behind N smaller ones. */
	void *p = ka_malloc(a, big_req);
	assert_ptr_equal(p, big);
	assert_int_equal(ka_check(a), 0);

	/* Now give a larger class a block (64 neighbouring fill blocks merge into one) while
	 * the class holds only too-small blocks: after the probes, the larger class serves. */
	void **q = fill;
	for (int i = 0; i < 64; i++) {
		void **next = *q;
		ka_free(a, q);
		q = next;
	}
	assert_true(T(a)->bitmap >> (cls + 1));
	void *p2 = ka_malloc(a, big_req);
	assert_non_null(p2);
	size_t len = 0;
	for (struct tiny_free *f = T(a)->bins[cls]; f; f = f->next)
		len++;
	assert_int_equal(len, N); /* the small blocks were skipped, not split */
	ka_free(a, p2);
	ka_free(a, p);
	assert_int_equal(ka_check(a), 0);
}

/* ---- regions ------------------------------------------------------------------------------ */

static void test_regions(void **state)
{
	(void)state;
	struct ka_alloc *a = mk(32 * 1024);
	void *chain = NULL;
	size_t n1 = 0, n2 = 0;

	/* Refusals: overlap with the first region, with itself later, too small. */
	assert_int_equal(ka_add_memory(a, heap + 1024, 8192), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, extra1, 8), KA_EINVAL);
	assert_int_equal(ka_add_memory(a, extra1, TINY_MINBLK), KA_EINVAL);
	assert_int_equal(ka_check(a), 0);

	for (;;) {
		void **q = ka_malloc(a, 1000);
		if (!q)
			break;
		*q = chain;
		chain = q;
		n1++;
	}
	size_t left = census(a).nfree; /* 0 or 1 block too small for 1000 bytes */
	assert_int_equal(ka_add_memory(a, extra1, sizeof(extra1)), 0);
	assert_int_equal(ka_add_memory(a, extra1 + 100, 4096), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, extra2 + 1, sizeof(extra2) - 1), 0);
	assert_int_equal(ka_check(a), 0);
	assert_int_equal(census(a).nfree, left + 2);

	for (;;) {
		void **q = ka_malloc(a, 1000);
		if (!q)
			break;
		assert_true(
		    ((unsigned char *)q >= extra1 &&
		     (unsigned char *)q < extra1 + sizeof(extra1)) ||
		    ((unsigned char *)q >= extra2 && (unsigned char *)q < extra2 + sizeof(extra2)));
		assert_true(ka_owns(a, q));
		*q = chain;
		chain = q;
		n2++;
	}
	assert_true(n2 >= 2 * (sizeof(extra1) / 1024 - 2));
	assert_int_equal(census(a).nused, n1 + n2);
	assert_int_equal(ka_check(a), 0);
	struct ka_info info;
	ka_info(a, &info);
	assert_int_equal(info.total, 32 * 1024 + sizeof(extra1) + sizeof(extra2) - 1);

	/* A block of one region never merges with another region, even when adjacent in
	 * the list order: freeing everything leaves exactly one free block per region. */
	while (chain) {
		void *next = *(void **)chain;
		ka_free(a, chain);
		chain = next;
	}
	assert_int_equal(census(a).nfree, 3);
	assert_int_equal(census(a).nused, 0);
	assert_int_equal(ka_check(a), 0);
	int local;
	assert_false(ka_owns(a, &local));
	assert_true(ka_owns(a, extra2 + 100));
}

/* ---- alignment --------------------------------------------------------------------------- */

static void test_memalign(void **state)
{
	(void)state;
	struct ka_alloc *a = mk(HEAP_LEN);
	struct ka_info i0, i1;
	void *p[64];
	int n = 0;

	ka_info(a, &i0);
	/* A misaligned start so that most requests need a leading gap. */
	void *pad = ka_malloc(a, 24);
	for (size_t al = TINY_UNIT; al <= 8192; al <<= 1) {
		for (size_t sz = 1; sz <= 3000; sz += 999) {
			void *q = ka_memalign(a, al, sz);
			assert_non_null(q);
			assert_int_equal((uintptr_t)q & (al - 1), 0);
			assert_true(ka_usable_size(a, q) >= sz);
			memset(q, 0x5a, ka_usable_size(a, q));
			assert_int_equal(ka_check(a), 0);
			p[n++] = q;
		}
	}
	/* Leading gaps became free blocks: more than the one top block is free. */
	assert_true(census(a).nfree > 1);
	for (int i = 0; i < n; i += 2)
		ka_free(a, p[i]);
	assert_int_equal(ka_check(a), 0);
	for (int i = 1; i < n; i += 2)
		ka_free(a, p[i]);
	ka_free(a, pad);
	assert_int_equal(census(a).nfree, 1);
	ka_info(a, &i1);
	assert_int_equal(i1.avail, i0.avail);
	/* An alignment whose padding cannot fit fails cleanly. */
	assert_null(ka_memalign(a, (size_t)1 << (sizeof(size_t) * 8 - 1), 16));
	assert_int_equal(ka_check(a), 0);
}

static void test_info_maxalloc(void **state)
{
	(void)state;
	struct ka_alloc *a = mk(HEAP_LEN);
	struct ka_info info;

	ka_info(a, &info);
	assert_int_equal(info.total, HEAP_LEN);
	assert_true(info.meta >= sizeof(struct tiny));
	assert_true(info.avail + info.meta <= info.total);
	assert_int_equal(info.maxalloc, info.avail); /* one free block */
	assert_null(ka_malloc(a, info.maxalloc + 1));
	void *p = ka_malloc(a, info.maxalloc);
	assert_non_null(p);
	ka_info(a, &info);
	assert_int_equal(info.avail, 0);
	assert_int_equal(info.maxalloc, 0);
	ka_free(a, p);
	assert_int_equal(ka_check(a), 0);
}

/* ---- misuse ------------------------------------------------------------------------------ */

typedef void (*misuse_fn)(struct ka_alloc *a);

/* The allocator is made inside the child, so a misuse never touches the parent's heap. */
static void run_on_fresh(struct ka_alloc *unused, void *fnp)
{
	(void)unused;
	(*(misuse_fn *)fnp)(mk(HEAP_LEN));
}

static void expect_abort(misuse_fn fn)
{
	ka_test_expect_abort(run_on_fresh, NULL, &fn);
}

static void m_double_free(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	ka_free(a, p);
	ka_free(a, p);
}

static void m_double_free_merged(struct ka_alloc *a)
{
	/* q merges into free p: its old header is now inside a free block. */
	void *p = ka_malloc(a, 64), *q = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	ka_free(a, p);
	ka_free(a, q);
	ka_free(a, q);
}

static void m_foreign(struct ka_alloc *a)
{
	static size_t outside[8];
	ka_free(a, &outside[2]);
}

static void m_unaligned(struct ka_alloc *a)
{
	char *p = ka_malloc(a, 64);
	ka_free(a, p + 1);
}

static void m_interior_free_block(struct ka_alloc *a)
{
	/* A pointer into the big free block: its "header" is the free block's own. */
	char *p = ka_malloc(a, 64);
	ka_free(a, p + bsize(p));
}

static void m_bad_size(struct ka_alloc *a)
{
	char *p = ka_malloc(a, 64);
	*(size_t *)blk_of(p) = (HEAP_LEN * 2) | TINY_USED;
	ka_free(a, p);
}

static void m_next_disagrees(struct ka_alloc *a)
{
	char *p = ka_malloc(a, 64);
	char *q = ka_malloc(a, 64);
	*(size_t *)blk_of(q) |= TINY_PFREE; /* says p is free, but p is in use */
	ka_free(a, p);
}

static void m_prev_footer(struct ka_alloc *a)
{
	char *p = ka_malloc(a, 64), *q = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	ka_free(a, p);
	*(size_t *)(blk_of(q) - TINY_HDR) += TINY_UNIT; /* p's footer */
	ka_free(a, q);
}

static void m_write_after_free(struct ka_alloc *a)
{
	char *p = ka_malloc(a, 64), *q = ka_malloc(a, 64), *r = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	ka_free(a, p);
	ka_free(a, r);
	memset(p, 0x41, 2 * sizeof(void *)); /* clobbers p's list links */
	ka_free(a, q);			     /* merging unlinks p and r */
}

static void m_usable_size_freed(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	ka_free(a, p);
	(void)ka_usable_size(a, p);
}

static void test_misuse(void **state)
{
	(void)state;
	expect_abort(m_double_free);
	expect_abort(m_double_free_merged);
	expect_abort(m_foreign);
	expect_abort(m_unaligned);
	expect_abort(m_interior_free_block);
	expect_abort(m_bad_size);
	expect_abort(m_next_disagrees);
	expect_abort(m_prev_footer);
	expect_abort(m_write_after_free);
	expect_abort(m_usable_size_freed);
}

/* ---- checker --------------------------------------------------------------------------- */

struct corruption {
	size_t *where;
	size_t xor ;
};

static void test_checker_counts(void **state)
{
	(void)state;
	struct ka_alloc *a = mk(HEAP_LEN);
	struct tiny *t = T(a);
	void *p[8];
	struct corruption c[6];
	unsigned empty = 0;

	for (int i = 0; i < 8; i++)
		p[i] = ka_malloc(a, 500);
	/* Two free blocks of the same class, separated by used ones. */
	ka_free(a, p[2]);
	ka_free(a, p[4]);
	struct tiny_free *f4 = (struct tiny_free *)blk_of(p[4]);
	struct tiny_free *f2 = (struct tiny_free *)blk_of(p[2]);
	assert_ptr_equal(f4->next, f2);
	while (t->bins[empty])
		empty++;
	struct tiny_region *r = t->regions;

	c[0] = (struct corruption){(size_t *)(blk_of(p[2]) + bsize(p[2]) - TINY_HDR), TINY_UNIT};
	c[1] = (struct corruption){(size_t *)blk_of(p[6]), TINY_PFREE};
	c[2] = (struct corruption){&t->bitmap, (size_t)1 << empty};
	c[3] = (struct corruption){&t->avail, TINY_UNIT};
	c[4] = (struct corruption){(size_t *)(void *)&f2->prev, (size_t)(uintptr_t)f4};
	c[5] = (struct corruption){(size_t *)r->fence, TINY_UNIT};

	assert_int_equal(ka_check(a), 0);
	for (int i = 0; i < 6; i++) {
		*c[i].where ^= c[i].xor ;
		assert_int_equal(ka_check(a), 1);
		*c[i].where ^= c[i].xor ;
		assert_int_equal(ka_check(a), 0);
	}
	for (int i = 0; i < 6; i++) {
		*c[i].where ^= c[i].xor ;
		assert_int_equal(ka_check(a), (unsigned)i + 1);
	}
	for (int i = 0; i < 6; i++)
		*c[i].where ^= c[i].xor ;
	assert_int_equal(ka_check(a), 0);

	/* A cycle in a free list is one finding, and the checker returns. */
	f2->next = f4;
	assert_true(ka_check(a) >= 1);
	f2->next = NULL;
	assert_int_equal(ka_check(a), 0);

	/* A walk stops at a size it cannot trust. */
	size_t saved = *(size_t *)blk_of(p[1]);
	*(size_t *)blk_of(p[1]) = TINY_USED; /* size 0 */
	assert_int_equal(ka_walk(a, count_cb, &(struct census){0, 0, 0, 0}), KA_EFAULT);
	assert_true(ka_check(a) >= 1);
	*(size_t *)blk_of(p[1]) = saved;
	assert_int_equal(ka_check(a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_limits),	 cmocka_unit_test(test_sizes_and_bins),
	    cmocka_unit_test(test_coalesce),	 cmocka_unit_test(test_coalesce_random),
	    cmocka_unit_test(test_probe_policy), cmocka_unit_test(test_regions),
	    cmocka_unit_test(test_memalign),	 cmocka_unit_test(test_info_maxalloc),
	    cmocka_unit_test(test_misuse),	 cmocka_unit_test(test_checker_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
