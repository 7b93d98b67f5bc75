/* SPDX-License-Identifier: MIT */
/*
 * Tests of the compact variant of the tiny backend (src/backend/tiny_compact.c, the one the
 * minimal configuration builds). The library here is the default one, so the variant is
 * compiled into this program under other names (ka_tiny_compact_init) and reached through
 * the generic layer like any heap: merging with both neighbours, first fit in address
 * order, aligned allocation, exact info figures, and each misuse it must stop. The shared
 * conformance suite runs it too (conformance_minimal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#undef KA_CFG_TINY_COMPACT
#define KA_CFG_TINY_COMPACT 1
#define ka_tiny_init	    ka_tiny_compact_init
#define ka_backend_tiny	    ka_backend_tiny_compact
#define ka_tiny_check_impl  ka_tiny_compact_check_impl
#define ka_tiny_walk_impl   ka_tiny_compact_walk_impl
#include "backend/tiny_compact.c"
#include "backend/tiny_compact_validate.c"

#include "abort_helper.h"

#define HEAP_LEN ((size_t)64 << 10)

static _Alignas(4096) unsigned char heap[HEAP_LEN];

static struct ka_alloc *mk(void)
{
	struct ka_alloc *a = ka_tiny_compact_init(heap, HEAP_LEN);

	assert_non_null(a);
	return a;
}

static size_t nfree(struct ka_alloc *a)
{
	size_t n = 0;

	for (struct tc_free *f = ((struct tiny *)a)->anchor.next; f; f = f->next)
		n++;
	return n;
}

static void test_init_limits(void **state)
{
	(void)state;
	assert_null(ka_tiny_compact_init(NULL, HEAP_LEN));
	assert_null(ka_tiny_compact_init(heap, TC_MIN_SIZE - 1));
	assert_null(ka_tiny_compact_init(heap + 1, SIZE_MAX));
	/* Any base alignment works at the minimum size, and one small block fits. */
	for (size_t off = 0; off < 16; off++) {
		struct ka_alloc *a = ka_tiny_compact_init(heap + off, TC_MIN_SIZE);
		assert_non_null(a);
		void *p = ka_malloc(a, 1);
		assert_non_null(p);
		assert_true(((uintptr_t)p & (KA_CFG_MIN_ALIGN - 1)) == 0);
		ka_free(a, p);
	}
#if !TC_REGIONS
	/* The minimal configuration keeps the one region. */
	assert_int_equal(ka_add_memory(mk(), heap, 16), KA_ENOTSUP);
	assert_false(ka_owns(mk(), heap + HEAP_LEN / 2));
#endif
}

#if TC_REGIONS
/* Regions below and above the first one, in one array so that their order is known: the
 * free list stays in address order across them, blocks never merge across them, and
 * overlaps are refused, the state of the first region included. */
static void test_regions(void **state)
{
	(void)state;
	const size_t part = HEAP_LEN / 4;
	unsigned char *lo = heap, *mid = heap + part, *hi = heap + 2 * part;
	struct ka_alloc *a = ka_tiny_compact_init(mid, part);
	struct ka_info i0, i1;
	void *p[3];

	assert_non_null(a);
	assert_int_equal(ka_add_memory(a, mid - 8, 64), KA_EEXIST);	    /* the state */
	assert_int_equal(ka_add_memory(a, mid + part - 32, 64), KA_EEXIST); /* the last block */
	assert_int_equal(ka_add_memory(a, hi, 2 * KA_CFG_MIN_ALIGN), KA_EINVAL);
	assert_int_equal(ka_add_memory(a, hi, SIZE_MAX), KA_EINVAL);
	assert_int_equal(ka_add_memory(a, hi + 1, part - 1), 0);
	assert_int_equal(ka_add_memory(a, lo, part), 0);
	assert_int_equal(ka_add_memory(a, lo + part / 2, 64), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, hi + part / 2, 64), KA_EEXIST);
	assert_int_equal(nfree(a), 3);
	for (struct tc_free *f = ((struct tiny *)a)->anchor.next; f->next; f = f->next)
		assert_true((uintptr_t)f < (uintptr_t)f->next);
	ka_info(a, &i0);
	assert_int_equal(i0.total, 3 * part - 1);
	assert_int_equal(i0.meta, sizeof(struct tiny) + 2 * sizeof(struct tc_region));
	/* The largest request that fits takes one region's whole block each time. */
	for (int k = 0; k < 3; k++) {
		ka_info(a, &i1);
		assert_non_null(p[k] = ka_malloc(a, i1.maxalloc));
	}
	assert_null(ka_malloc(a, 1));
	for (int k = 0; k < 3; k++) {
		unsigned char *q = p[k];
		int in = (q >= lo && q < mid) + (q >= mid && q < hi) * 2 + (q >= hi) * 4;

		assert_true(in == 1 || in == 2 || in == 4);
		for (int j = 0; j < k; j++)
			assert_true((p[j] < (void *)mid) != (p[k] < (void *)mid) ||
				    (p[j] < (void *)hi) != (p[k] < (void *)hi));
	}
	for (int k = 0; k < 3; k++)
		assert_true(ka_owns(a, p[k]));
	assert_false(ka_owns(a, heap + 3 * part + 64));
	assert_int_equal(ka_check(a), 0);
	ka_free(a, p[1]);
	ka_free(a, p[0]);
	ka_free(a, p[2]);
	assert_int_equal(nfree(a), 3);
	ka_info(a, &i1);
	assert_int_equal(i1.avail, i0.avail);
	assert_int_equal(ka_check(a), 0);
}
#endif

#if KA_CFG_CHECK
struct census {
	size_t blocks, used, bytes;
};

static int count_cb(void *ptr, size_t size, bool used, void *arg)
{
	struct census *c = arg;

	assert_true(((uintptr_t)ptr & (KA_CFG_MIN_ALIGN - 1)) == 0);
	c->blocks++;
	c->used += used;
	c->bytes += size + TC_HDR;
	return 0;
}

/* The walker visits every block; the checker counts each deliberate corruption exactly. */
static void test_check_walk(void **state)
{
	(void)state;
	struct ka_alloc *a = mk();
	struct tiny *t = (struct tiny *)a;
	struct census c = {0};
	size_t *p[4], h;
	struct tc_free *f1, *save;

	for (int k = 0; k < 4; k++)
		assert_non_null(p[k] = ka_malloc(a, 100));
	ka_free(a, p[1]);
	assert_int_equal(ka_walk(a, count_cb, &c), 0);
	assert_int_equal(c.blocks, 5);
	assert_int_equal(c.used, 3);
	assert_int_equal(c.bytes, t->r0.span);
	assert_int_equal(ka_check(a), 0);

	t->anchor.hdr ^= 8;
	assert_int_equal(ka_check(a), 1);
	t->anchor.hdr ^= 8;

	/* p[2] looks free: next to the free p[1], and missing from the list. */
	p[2][-1] &= ~TC_USED;
	assert_int_equal(ka_check(a), 2);
	p[2][-1] |= TC_USED;

	/* The list skips the tail block for the used p[3]. */
	f1 = (struct tc_free *)(p[1] - 1);
	save = f1->next;
	f1->next = (struct tc_free *)(p[3] - 1);
	assert_int_equal(ka_check(a), 1);
	f1->next = save;

	/* A size that is no whole number of units stops the walks of blocks. */
	h = p[3][-1];
	p[3][-1] = h + 4;
	assert_int_equal(ka_walk(a, count_cb, &c), KA_EFAULT);
	/* ... and leaves the tail, still on the list, unseen. */
	assert_int_equal(ka_check(a), 2);
	p[3][-1] = h;
	assert_int_equal(ka_check(a), 0);
}
#endif

/* Freeing in every order leaves one free block again: merging backward, forward, both. */
static void test_merge(void **state)
{
	(void)state;
	struct ka_alloc *a = mk();
	struct ka_info i0, i1;
	void *p[6];

	ka_info(a, &i0);
	assert_int_equal(i0.maxalloc, i0.avail);
	assert_int_equal(i0.total, HEAP_LEN);
	for (int i = 0; i < 6; i++)
		assert_non_null(p[i] = ka_malloc(a, 40 + 8 * (size_t)i));
	assert_int_equal(nfree(a), 1);
	ka_free(a, p[1]); /* alone */
	ka_free(a, p[3]); /* alone */
	assert_int_equal(nfree(a), 3);
	ka_free(a, p[2]); /* both neighbours */
	assert_int_equal(nfree(a), 2);
	ka_free(a, p[0]); /* forward */
	assert_int_equal(nfree(a), 2);
	ka_free(a, p[5]); /* backward into the tail */
	assert_int_equal(nfree(a), 2);
	ka_free(a, p[4]); /* both */
	assert_int_equal(nfree(a), 1);
	ka_info(a, &i1);
	assert_int_equal(i1.avail, i0.avail);
	assert_int_equal(i1.maxalloc, i0.maxalloc);
}

/* First fit in address order: a hole freed low in the heap is reused first. */
static void test_first_fit(void **state)
{
	(void)state;
	struct ka_alloc *a = mk();
	void *p = ka_malloc(a, 100), *q = ka_malloc(a, 100);

	assert_true((uintptr_t)q > (uintptr_t)p);
	ka_free(a, p);
	assert_ptr_equal(ka_malloc(a, 60), p);
	assert_true(ka_usable_size(a, p) >= 60);
	assert_true(ka_usable_size(a, p) < 60 + 2 * KA_CFG_MIN_ALIGN);
}

/* Aligned blocks (up to a quarter of the heap) leave their leading gap on the list; freeing
 * gives everything back. Not up to half: whether a 32 KiB-aligned block still fits in a
 * 64 KiB arena after the others depends on where the compiler placed the arena. */
static void test_align(void **state)
{
	(void)state;
	struct ka_alloc *a = mk();
	struct ka_info i0, i1;
	void *p[11];

	ka_info(a, &i0);
	for (size_t k = 0; k < 11; k++) {
		size_t al = (size_t)KA_CFG_MIN_ALIGN << k;
		p[k] = ka_memalign(a, al, 24);
		assert_non_null(p[k]);
		assert_true(((uintptr_t)p[k] & (al - 1)) == 0);
	}
	for (size_t k = 0; k < 11; k++)
		ka_free(a, p[k]);
	ka_info(a, &i1);
	assert_int_equal(i1.avail, i0.avail);
	assert_int_equal(nfree(a), 1);
	assert_null(ka_memalign(a, (size_t)1 << (sizeof(size_t) * 8 - 1), 16));
}

/* maxalloc is exact: that much succeeds, one byte more fails. */
static void test_maxalloc(void **state)
{
	(void)state;
	struct ka_alloc *a = mk();
	struct ka_info i;

	ka_info(a, &i);
	assert_null(ka_malloc(a, i.maxalloc + 1));
	void *p = ka_malloc(a, i.maxalloc);
	assert_non_null(p);
	ka_info(a, &i);
	assert_int_equal(i.avail, 0);
	assert_int_equal(i.maxalloc, 0);
	assert_null(ka_malloc(a, 1));
	ka_free(a, p);
}

typedef void (*misuse_fn)(struct ka_alloc *a);

static void run_on_fresh(struct ka_alloc *unused, void *fnp)
{
	(void)unused;
	(*(misuse_fn *)fnp)(mk());
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
	void *p = ka_malloc(a, 64), *q = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	ka_free(a, p);
	ka_free(a, q);
	ka_free(a, q);
}

/* A stale pointer whose old header word now holds data that looks in use: the list walk
 * finds it inside the free block before it. */
static void m_stale_inside_free(struct ka_alloc *a)
{
	size_t *p = ka_malloc(a, 256), *q;
	(void)ka_malloc(a, 64);
	q = p + 8;
	ka_free(a, p);
	q[-1] = 2 * KA_CFG_MIN_ALIGN | 1;
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

/* A header overwritten with a size reaching past the heap. */
static void m_header_too_big(struct ka_alloc *a)
{
	size_t *p = ka_malloc(a, 64);
	p[-1] = (HEAP_LEN * 2) | 1;
	ka_free(a, p);
}

/* A size that reaches into the free block after it. */
static void m_header_overlaps_free(struct ka_alloc *a)
{
	size_t *p = ka_malloc(a, 64);
	p[-1] += 4 * KA_CFG_MIN_ALIGN;
	ka_free(a, p);
}

static void m_usable_of_freed(struct ka_alloc *a)
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
	expect_abort(m_stale_inside_free);
	expect_abort(m_foreign);
	expect_abort(m_unaligned);
	expect_abort(m_header_too_big);
	expect_abort(m_header_overlaps_free);
	expect_abort(m_usable_of_freed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_limits),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_first_fit),
		cmocka_unit_test(test_align),
		cmocka_unit_test(test_maxalloc),
		cmocka_unit_test(test_misuse),
#if TC_REGIONS
		cmocka_unit_test(test_regions),
#endif
#if KA_CFG_CHECK
		cmocka_unit_test(test_check_walk),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
