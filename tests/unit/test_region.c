/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the region backend (src/backend/region.c) against its private layout
 * (region_priv.h): bumping and alignment padding, no reuse after free, usable sizes, realloc
 * in place at the bump pointer, several regions (moving on and wrapping back), misuse
 * detection (in a forked child that must die of SIGABRT) and the checker, which must count
 * deliberate corruption exactly.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abort_helper.h"
#include "kalloc/region.h"
#include "backend/region_priv.h"

static _Alignas(4096) unsigned char heap[256 * 1024];
static _Alignas(4096) unsigned char extra1[16 * 1024];
static _Alignas(4096) unsigned char extra2[64 * 1024];

static struct rg_state *R(struct ka_alloc *a)
{
	return (struct rg_state *)a;
}

static struct ka_alloc *mk(size_t len)
{
	struct ka_alloc *a = ka_region_init(heap, len);

	assert_non_null(a);
	assert_int_equal(ka_check(a), 0);
	return a;
}

static struct rg_hdr *hdr_of(const void *p)
{
	return (struct rg_hdr *)((uintptr_t)p - RG_HDR);
}

static void expect_abort(void (*fn)(struct ka_alloc *, void *), struct ka_alloc *a, void *arg)
{
	ka_test_expect_abort(fn, a, arg);
}

struct census {
	size_t used, freed, used_bytes, free_bytes;
	const void *last;
	bool ordered;
};

static int census_cb(void *ptr, size_t size, bool used, void *arg)
{
	struct census *c = arg;

	if ((const char *)ptr < (const char *)c->last)
		c->ordered = false;
	c->last = ptr;
	if (used) {
		c->used++;
		c->used_bytes += size;
	} else {
		c->freed++;
		c->free_bytes += size;
	}
	return 0;
}

static void test_init(void **state)
{
	struct ka_alloc *a;
	struct ka_info i;

	(void)state;
	assert_null(ka_region_init(NULL, 4096));
	assert_null(ka_region_init(heap, RG_MIN_SIZE - 1));
	/* The minimum works even from an odd address. */
	a = ka_region_init(heap + 3, RG_MIN_SIZE);
	assert_non_null(a);
	assert_non_null(ka_malloc(a, 1));
	assert_int_equal(ka_check(a), 0);

	a = mk(sizeof(heap));
	ka_info(a, &i);
	assert_int_equal(i.total, sizeof(heap));
	assert_int_equal(i.meta, R(a)->first->start - (uintptr_t)heap);
	assert_int_equal(i.avail, sizeof(heap) - i.meta);
	assert_int_equal(i.maxalloc, i.avail - RG_HDR);
	assert_true(ka_owns(a, heap + 100));
	assert_false(ka_owns(a, heap + sizeof(heap)));
	assert_true(ka_malloc(a, i.maxalloc) != NULL);
	assert_null(ka_malloc(a, 1));
	assert_int_equal(ka_availmem(a), 0);
	assert_int_equal(ka_check(a), 0);
}

static void test_bump_and_align(void **state)
{
	struct ka_alloc *a = mk(sizeof(heap));
	struct rg_state *s = R(a);
	char *p1, *p2, *p3;
	size_t meta0 = s->meta;
	struct census c = {0, 0, 0, 0, NULL, true};

	(void)state;
	p1 = ka_malloc(a, 10);
	p2 = ka_malloc(a, 17);
	/* Adjacent: one header apart, sizes rounded to the minimum alignment. */
	assert_int_equal(ka_usable_size(a, p1), 16);
	assert_int_equal(ka_usable_size(a, p2), 32);
	assert_ptr_equal(p2, p1 + 16 + RG_HDR);
	assert_int_equal(hdr_of(p1)->word & RG_TAG_MASK, RG_TAG_USED);

	/* A large alignment leaves a padding record before the header. */
	p3 = ka_memalign(a, 4096, 100);
	assert_non_null(p3);
	assert_int_equal((uintptr_t)p3 & 4095, 0);
	assert_int_equal(*(size_t *)(p2 + 32) & RG_TAG_MASK, RG_TAG_PAD);
	assert_int_equal((*(size_t *)(p2 + 32) & ~RG_TAG_MASK) + (uintptr_t)(p2 + 32),
			 (uintptr_t)p3 - RG_HDR);
	assert_int_equal(s->nblocks, 3);
	assert_int_equal(s->meta,
			 meta0 + 3 * RG_HDR + ((uintptr_t)p3 - RG_HDR - (uintptr_t)(p2 + 32)));
	assert_int_equal(s->first->brk, (uintptr_t)p3 + 112);
	assert_int_equal(ka_check(a), 0);

	/* The walk finds the three blocks in order plus the free tail. */
	assert_int_equal(ka_walk(a, census_cb, &c), 0);
	assert_int_equal(c.used, 3);
	assert_int_equal(c.freed, 1);
	assert_int_equal(c.used_bytes, 16 + 32 + 112);
	assert_int_equal(c.free_bytes, ka_availmem(a));
	assert_true(c.ordered);
}

static void test_free_no_reuse(void **state)
{
	struct ka_alloc *a = mk(sizeof(heap));
	void *p, *q;
	size_t avail;
	struct census c = {0, 0, 0, 0, NULL, true};

	(void)state;
	p = ka_malloc(a, 64);
	avail = ka_availmem(a);
	ka_free(a, p);
	/* Freed memory is never reused: the next block comes after it. */
	assert_int_equal(ka_availmem(a), avail);
	assert_int_equal(hdr_of(p)->word & RG_TAG_MASK, RG_TAG_FREED);
	q = ka_malloc(a, 64);
	assert_true((char *)q > (char *)p);
	assert_int_equal(ka_check(a), 0);
	/* The walker reports the freed block as not in use. */
	assert_int_equal(ka_walk(a, census_cb, &c), 0);
	assert_int_equal(c.used, 1);
	assert_int_equal(c.freed, 2);
	ka_free(a, q);
	assert_int_equal(ka_stats(a)->cur_nb_allocs, 0);
}

static void test_resize(void **state)
{
	struct ka_alloc *a = mk(sizeof(heap));
	struct rg_state *s = R(a);
	unsigned char *p, *q, *last;

	(void)state;
	p = ka_malloc(a, 40);
	memset(p, 0x5a, 40);
	/* The last block grows and shrinks in place by moving the bump pointer. */
	q = ka_realloc(a, p, 1000);
	assert_ptr_equal(q, p);
	assert_int_equal(ka_usable_size(a, p), 1008);
	assert_int_equal(s->first->brk, (uintptr_t)p + 1008);
	q = ka_realloc(a, p, 100);
	assert_ptr_equal(q, p);
	assert_int_equal(s->first->brk, (uintptr_t)p + 112);
	assert_int_equal(ka_check(a), 0);

	last = ka_malloc(a, 16);
	/* Not the last any more: shrinking keeps it, growing moves and marks the old freed. */
	q = ka_realloc(a, p, 50);
	assert_ptr_equal(q, p);
	assert_int_equal(ka_usable_size(a, p), 112);
	q = ka_realloc(a, p, 500);
	assert_true(q > last);
	for (int i = 0; i < 40; i++)
		assert_int_equal(q[i], 0x5a);
	assert_int_equal(hdr_of(p)->word & RG_TAG_MASK, RG_TAG_FREED);
	/* Too big for the region: NULL, the block intact. */
	assert_null(ka_realloc(a, last, sizeof(heap)));
	assert_int_equal(ka_usable_size(a, last), 16);
	assert_int_equal(ka_check(a), 0);
}

static void test_regions(void **state)
{
	struct ka_alloc *a = mk(RG_MIN_SIZE + 256);
	struct rg_state *s = R(a);
	void *p, *q, *r;
	size_t avail;

	(void)state;
	assert_int_equal(ka_add_memory(a, extra1, sizeof(extra1)), 0);
	assert_int_equal(ka_add_memory(a, extra2 + 8, sizeof(extra2) - 8), 0);
	assert_int_equal(s->nsegs, 3);
	/* Overlap and too small are refused. */
	assert_int_equal(ka_add_memory(a, extra1 + 100, 1000), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, heap, 1000), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, extra2, 8), KA_EINVAL);
	assert_int_equal(ka_add_memory(a, heap + 200000, 16), KA_EINVAL);
	assert_int_equal(s->nsegs, 3);
	assert_int_equal(ka_check(a), 0);

	/* Does not fit in the first region: moves on to the second. */
	p = ka_malloc(a, 4000);
	assert_true((unsigned char *)p >= extra1 && (unsigned char *)p < extra1 + sizeof(extra1));
	assert_ptr_equal(s->cur, s->first->next);
	/* Bigger than the second region: the third. */
	q = ka_malloc(a, 20000);
	assert_true((unsigned char *)q >= extra2 && (unsigned char *)q < extra2 + sizeof(extra2));
	/* A small one wraps around to the first region, which still has room. */
	r = ka_malloc(a, 16);
	assert_true(ka_owns(a, r));
	assert_true((unsigned char *)r < extra1 || (unsigned char *)r >= extra2);
	avail = ka_availmem(a);
	assert_true(ka_maxalloc(a) < avail);
	assert_int_equal(ka_check(a), 0);
	assert_true(ka_owns(a, extra1 + 5));
	assert_true(ka_owns(a, extra2 + 9));
	assert_false(ka_owns(a, extra2 + 7));
	/* Exhaust everything: the allocator fails cleanly. */
	while (ka_malloc(a, 16))
		;
	assert_true(ka_availmem(a) < 2 * RG_HDR + 16);
	assert_int_equal(ka_check(a), 0);
	ka_free(a, p);
	ka_free(a, q);
	ka_free(a, r);
}

static void do_free(struct ka_alloc *a, void *p)
{
	ka_free(a, p);
}

static void do_double_free(struct ka_alloc *a, void *p)
{
	ka_free(a, p);
	ka_free(a, p);
}

static void do_usable(struct ka_alloc *a, void *p)
{
	(void)ka_usable_size(a, p);
}

static void test_misuse(void **state)
{
	struct ka_alloc *a = mk(sizeof(heap));
	char *p = ka_malloc(a, 100);
	char *q = ka_malloc(a, 100);
	int local;

	(void)state;
	expect_abort(do_double_free, a, p);
	expect_abort(do_free, a, p + 16);   /* interior */
	expect_abort(do_free, a, p + 8);    /* misaligned */
	expect_abort(do_free, a, &local);   /* foreign */
	expect_abort(do_free, a, q + 2000); /* beyond the bump pointer */
	expect_abort(do_free, a, heap + 8); /* the state */
	ka_free(a, q);
	expect_abort(do_usable, a, q); /* use of a freed block */
	hdr_of(p)->word += 16;	       /* a corrupted header */
	expect_abort(do_free, a, p);
	hdr_of(p)->word -= 16;
	ka_free(a, p);
	assert_int_equal(ka_check(a), 0);
}

static void test_check_corruption(void **state)
{
	struct ka_alloc *a = mk(sizeof(heap));
	struct rg_state *s = R(a);
	char *p = ka_malloc(a, 100);
	char *q = ka_memalign(a, 1024, 10);
	uintptr_t saved;

	(void)state;
	(void)q;
	assert_int_equal(ka_check(a), 0);

	/* 1. A header's check word. */
	hdr_of(p)->check ^= 4;
	assert_int_equal(ka_check(a), 1);
	hdr_of(p)->check ^= 4;

	/* 2. The block counter. */
	s->nblocks++;
	assert_int_equal(ka_check(a), 1);
	s->nblocks--;

	/* 3. A padding record too long. */
	saved = *(size_t *)(p + 112);
	*(size_t *)(p + 112) = (size_t)(1 << 20) | RG_TAG_PAD;
	assert_int_equal(ka_check(a), 1);
	*(size_t *)(p + 112) = saved;

	/* 4. A misaligned bump pointer. */
	s->first->brk += 4;
	assert_int_equal(ka_check(a), 1);
	s->first->brk -= 4;

	/* 5. Total and region count. */
	s->total--;
	s->nsegs++;
	assert_int_equal(ka_check(a), 2);
	s->total++;
	s->nsegs--;

	/* 6. The current region outside the list. */
	s->cur = (struct rg_seg *)heap;
	assert_int_equal(ka_check(a), 1);
	s->cur = s->first;
	assert_int_equal(ka_check(a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init),
	    cmocka_unit_test(test_bump_and_align),
	    cmocka_unit_test(test_free_no_reuse),
	    cmocka_unit_test(test_resize),
	    cmocka_unit_test(test_regions),
	    cmocka_unit_test(test_misuse),
	    cmocka_unit_test(test_check_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
