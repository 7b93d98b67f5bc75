/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the buddy backend (src/backend/buddy.c) against its private layout
 * (buddy_priv.h): order and class arithmetic, splitting and merging, page runs of any length
 * with their tails given back, a 1 GiB request on a 4 GiB heap (a sparse MAP_NORESERVE
 * mapping: only the metadata is touched), several regions of odd alignment and size, small
 * objects, realloc, misuse detection (in a forked child that must die of SIGABRT) and the
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
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abort_helper.h"
#include "kalloc/buddy.h"
#include "backend/buddy_priv.h"

#define P KA_PAGE_SIZE

/* A fresh mapping of len + slack bytes; never unmapped (tests are short-lived processes). */
static unsigned char *map_raw(size_t len, int extra_flags)
{
	unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);

	assert_true(m != MAP_FAILED);
	return m;
}

/* A mapping holding `before` bytes followed by an `align`-aligned address and `after` bytes;
 * returns that aligned address. */
static unsigned char *map_around(size_t before, size_t after, size_t align, int extra_flags)
{
	unsigned char *m = map_raw(before + after + align, extra_flags);

	return (unsigned char *)ka_align_up((uintptr_t)m + before, align);
}

static unsigned char *map_aligned(size_t len, size_t align, int extra_flags)
{
	return map_around(0, len, align, extra_flags);
}

static struct bd_state *B(struct ka_alloc *a)
{
	return (struct bd_state *)a;
}

/* A buddy managing exactly `pages` pages whose first page is aligned to `align`. */
static struct ka_alloc *mk_exact(size_t pages, size_t align)
{
	size_t meta = ka_buddy_meta_size(pages * P);
	unsigned char *data = map_around(meta, pages * P, align, 0);
	struct ka_alloc *a = ka_buddy_init(data - meta, meta + pages * P);

	assert_non_null(a);
	assert_int_equal(B(a)->zones->npages, pages);
	assert_ptr_equal(bd_page_addr(B(a)->zones->first_pfn), data);
	assert_int_equal(ka_check(a), 0);
	return a;
}

static size_t count_list(struct bd_state *b, unsigned k)
{
	size_t n = 0;

	for (struct bd_free *f = b->free[k]; f; f = f->next)
		n++;
	return n;
}

static void expect_abort(void (*fn)(struct ka_alloc *, void *), struct ka_alloc *a, void *arg)
{
	ka_test_expect_abort(fn, a, arg);
}

/* ---- arithmetic ------------------------------------------------------------------------- */

static void test_order_math(void **state)
{
	(void)state;
	assert_int_equal(bd_order_of(1), 0);
	assert_int_equal(bd_order_of(2), 1);
	assert_int_equal(bd_order_of(3), 2);
	assert_int_equal(bd_order_of(4), 2);
	assert_int_equal(bd_order_of(5), 3);
	assert_int_equal(bd_order_of((size_t)1 << 18), 18);
	assert_int_equal(bd_order_of(((size_t)1 << 18) + 1), 19);
	for (size_t n = 1; n < 5000; n++) {
		unsigned k = bd_order_of(n);
		assert_true(((size_t)1 << k) >= n);
		if (k > 0)
			assert_true(((size_t)1 << (k - 1)) < n);
	}
}

static void test_class_math(void **state)
{
	(void)state;
	/* Sizes grow strictly, are multiples of 16, and class_of is the inverse. */
	for (unsigned c = 1; c < BD_MAX_CLASSES; c++) {
		assert_true(bd_class_size(c) > bd_class_size(c - 1));
		assert_int_equal(bd_class_size(c) % 16, 0);
		assert_int_equal(bd_class_of(bd_class_size(c)), c);
	}
	for (size_t s = 1; s <= P; s++) {
		unsigned c = bd_class_of(s);
		assert_true(bd_class_size(c) >= s);
		if (c > 0)
			assert_true(bd_class_size(c - 1) < s);
		/* Waste stays within 25% above 128 bytes. */
		if (s > 128)
			assert_true(bd_class_size(c) - s < s / 4 + 1);
	}
}

static void test_meta_layout(void **state)
{
	(void)state;
	/* meta_size gives an exact fit for several sizes and data alignments. */
	for (size_t pages = 4; pages < 3000; pages = pages * 3 + 1) {
		struct ka_alloc *a = mk_exact(pages, P);
		struct ka_info i;

		ka_info(a, &i);
		assert_int_equal(i.avail, pages * P);
		assert_int_equal(i.total, ka_buddy_meta_size(pages * P) + pages * P);
		assert_int_equal(i.meta, ka_buddy_meta_size(pages * P));
		assert_int_equal(B(a)->free_pages, pages);
	}
	assert_null(ka_buddy_init(NULL, 1 << 20));
	{
		unsigned char *m = map_aligned(8 * P, P, 0);
		assert_null(ka_buddy_init(m, BD_MIN_SIZE - 1));
		assert_null(ka_buddy_init(m, sizeof(struct bd_state) + 64));
	}
}

/* ---- splitting and merging ------------------------------------------------------------- */

static void test_split_merge(void **state)
{
	struct ka_alloc *a = mk_exact(16, 16 * P);
	struct bd_state *b = B(a);
	void *p, *q;

	(void)state;
	/* One aligned order-4 block. */
	assert_int_equal(b->nonempty, (size_t)1 << 4);
	assert_int_equal(count_list(b, 4), 1);

	/* One page: the block splits into 8 + 4 + 2 + 1 free pages. */
	p = ka_palloc(a, 1);
	assert_non_null(p);
	assert_ptr_equal(p, bd_page_addr(b->zones->first_pfn));
	for (unsigned k = 0; k < 4; k++)
		assert_int_equal(count_list(b, k), 1);
	assert_int_equal(count_list(b, 4), 0);
	assert_int_equal(b->free_pages, 15);
	assert_int_equal(bd_desc(b->zones, b->zones->first_pfn)->kind, BD_RUN);
	assert_int_equal(ka_check(a), 0);

	/* The next page is the buddy (order 0 list). */
	q = ka_palloc(a, 1);
	assert_ptr_equal(q, (char *)p + P);
	assert_int_equal(count_list(b, 0), 0);

	/* Freeing merges level by level back to one order-4 block. */
	ka_pfree(a, p, 1);
	assert_int_equal(count_list(b, 0), 1);
	ka_pfree(a, q, 1);
	assert_int_equal(b->nonempty, (size_t)1 << 4);
	assert_int_equal(b->free_pages, 16);
	/* The merged-away heads are cleared: only the block head is non-zero in the map. */
	for (size_t i = 1; i < 16; i++)
		assert_int_equal(b->zones->map[i].kind, BD_NONE);
	assert_int_equal(ka_check(a), 0);
}

static void test_merge_any_order(void **state)
{
	struct ka_alloc *a = mk_exact(64, 64 * P);
	struct bd_state *b = B(a);
	void *pg[64];
	unsigned seed = 12345;

	(void)state;
	for (size_t i = 0; i < 64; i++) {
		pg[i] = ka_palloc(a, 1);
		assert_non_null(pg[i]);
	}
	assert_null(ka_palloc(a, 1));
	assert_int_equal(b->free_pages, 0);
	/* Free in a pseudo-random order, checking the heap at each step. */
	for (size_t i = 63; i > 0; i--) {
		size_t j;
		void *t;

		seed = seed * 1103515245u + 12345u;
		j = (seed >> 8) % (i + 1);
		t = pg[i];
		pg[i] = pg[j];
		pg[j] = t;
	}
	for (size_t i = 0; i < 64; i++) {
		ka_pfree(a, pg[i], 1);
		assert_int_equal(ka_check(a), 0);
	}
	assert_int_equal(b->nonempty, (size_t)1 << 6);
	assert_int_equal(count_list(b, 6), 1);
}

/* ---- page runs ------------------------------------------------------------------------- */

static void test_palloc_tails(void **state)
{
	struct ka_alloc *a = mk_exact(16, 16 * P);
	struct bd_state *b = B(a);
	void *p3, *p5, *p7;

	(void)state;
	p3 = ka_palloc(a, 3);
	assert_non_null(p3);
	/* 3 pages used, the 4th page is free again. */
	assert_int_equal(b->free_pages, 13);
	assert_int_equal(bd_desc(b->zones, ((uintptr_t)p3 >> KA_CFG_PAGE_SHIFT) + 3)->kind,
			 BD_FREE);
	assert_int_equal(bd_desc(b->zones, (uintptr_t)p3 >> KA_CFG_PAGE_SHIFT)->npages, 3);
	assert_int_equal(ka_check(a), 0);

	p5 = ka_palloc(a, 5); /* from the order-3 block: pages 8..12, 13..15 free */
	assert_non_null(p5);
	assert_int_equal(b->free_pages, 8);
	assert_int_equal(((uintptr_t)p5 >> KA_CFG_PAGE_SHIFT) & 7, 0);
	memset(p5, 0xab, 5 * P);
	assert_int_equal(ka_check(a), 0);

	/* 7 pages do not fit in any free aligned block now: 1 + 3 scattered pages. */
	p7 = ka_palloc(a, 7);
	assert_null(p7);

	ka_pfree(a, p3, 3);
	assert_int_equal(b->free_pages, 11);
	ka_pfree(a, p5, 5);
	assert_int_equal(b->free_pages, 16);
	assert_int_equal(b->nonempty, (size_t)1 << 4);
	assert_int_equal(ka_check(a), 0);

	/* Malloc of more than a page is a run too: whole pages, no header. */
	p7 = ka_malloc(a, 6 * P + 1);
	assert_non_null(p7);
	assert_int_equal((uintptr_t)p7 & (P - 1), 0);
	assert_int_equal(ka_usable_size(a, p7), 7 * P);
	assert_int_equal(b->free_pages, 9);
	ka_free(a, p7);
	assert_int_equal(b->free_pages, 16);
	assert_int_equal(ka_check(a), 0);
}

static void test_big_alignment(void **state)
{
	struct ka_alloc *a = mk_exact(256, 256 * P);
	struct bd_state *b = B(a);
	void *small, *p, *q;

	(void)state;
	small = ka_palloc(a, 1); /* breaks the top block */
	assert_non_null(small);
	p = ka_memalign(a, 64 * P, 100);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p & (64 * P - 1), 0);
	/* A 100-byte request aligned to 64 pages takes one page: the rest goes back. */
	assert_int_equal(b->free_pages, 256 - 2);
	q = ka_palloc_aligned(a, 3, 32 * P);
	assert_non_null(q);
	assert_int_equal((uintptr_t)q & (32 * P - 1), 0);
	assert_int_equal(b->free_pages, 256 - 5);
	assert_int_equal(ka_check(a), 0);
	ka_pfree(a, q, 3);
	ka_free(a, p);
	ka_pfree(a, small, 1);
	assert_int_equal(b->nonempty, (size_t)1 << 8);
	assert_int_equal(ka_check(a), 0);
}

/* Unikraft issue 1381: 1 GiB must succeed on a buddy given 4 GiB. Only the metadata (8 MiB
 * of map) and a few free-list nodes are touched, so the mapping costs no real memory. */
static void test_1g_in_4g(void **state)
{
	const size_t gib = (size_t)1 << 30;
	size_t meta, len;
	unsigned char *data;
	struct ka_alloc *a;
	struct ka_info i;
	void *p[4];

	(void)state;
	if (sizeof(size_t) < 8) {
		skip();
		return;
	}
	len = 4 * gib;
	meta = ka_buddy_meta_size(len);
	/* Reserve 8 GiB of address space to place the data at a 4 GiB boundary. */
	data = map_around(meta + P, len + 8 * P, 4 * gib, MAP_NORESERVE);
	a = ka_buddy_init(data - meta, meta + len);
	assert_non_null(a);
	ka_info(a, &i);
	assert_int_equal(i.avail, len);
	assert_int_equal(i.maxalloc, len);
	for (int k = 0; k < 4; k++) {
		p[k] = ka_malloc(a, gib);
		assert_non_null(p[k]);
		assert_int_equal(ka_usable_size(a, p[k]), gib);
	}
	/* All of it went to the four requests: nothing was lost to bookkeeping. */
	assert_null(ka_malloc(a, 1));
	assert_int_equal(ka_availmem(a), 0);
	assert_int_equal(ka_check(a), 0);
	for (int k = 0; k < 4; k++)
		ka_free(a, p[k]);
	assert_int_equal(ka_maxalloc(a), len);

	/* Also on an unaligned 4 GiB + metadata region: still at least one aligned GiB. */
	a = ka_buddy_init(data - meta + 5 * P, meta + len);
	assert_non_null(a);
	p[0] = ka_malloc(a, gib);
	assert_non_null(p[0]);
	p[1] = ka_palloc(a, gib / P);
	assert_non_null(p[1]);
	assert_int_equal(ka_check(a), 0);
}

/* ---- several regions ------------------------------------------------------------------- */

static void test_regions(void **state)
{
	unsigned char *m = map_aligned(4 << 20, 1 << 20, 0);
	struct ka_alloc *a = ka_buddy_init(m, 64 * P);
	struct bd_state *b = B(a);
	size_t pages0, total;
	void *pg[2048];
	size_t n = 0, in_second = 0;
	uintptr_t r2 = (uintptr_t)m + (1 << 20) + 12345;
	size_t r2len = 700000;

	(void)state;
	assert_non_null(a);
	pages0 = b->free_pages;
	/* An odd address and size: cut into maximal aligned blocks. */
	assert_int_equal(ka_add_memory(a, (void *)r2, r2len), 0);
	assert_int_equal(b->nzones, 2);
	assert_true(b->free_pages > pages0 + 160);
	assert_int_equal(ka_check(a), 0);
	total = b->free_pages;
	/* Overlaps and too-small regions are refused and change nothing. */
	assert_int_equal(ka_add_memory(a, m + 10 * P, 64 * P), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, (void *)(r2 + r2len - 10), 4096), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, m + (2 << 20), 200), KA_EINVAL);
	assert_int_equal(ka_add_memory(a, m + (2 << 20), P + 100), KA_EINVAL);
	assert_int_equal(b->nzones, 2);
	/* A third region: exactly one page after its metadata. */
	assert_int_equal(ka_add_memory(a, m + (3 << 20), 2 * P), 0);
	assert_int_equal(b->free_pages, total + 1);
	total++;
	assert_true(ka_owns(a, m + (3 << 20) + P));
	assert_false(ka_owns(a, m + (3 << 20) + 2 * P));

	/* Every page can be taken, from every region, and given back. */
	while ((pg[n] = ka_palloc(a, 1)) != NULL) {
		if ((uintptr_t)pg[n] >= r2 && (uintptr_t)pg[n] < r2 + r2len)
			in_second++;
		n++;
		assert_true(n < 2048);
	}
	assert_int_equal(n, total);
	assert_true(in_second > 160);
	assert_int_equal(ka_check(a), 0);
	while (n > 0)
		ka_pfree(a, pg[--n], 1);
	assert_int_equal(b->free_pages, total);
	assert_int_equal(ka_check(a), 0);
	/* No block crosses a region boundary: the largest is bounded by the largest region. */
	assert_true(ka_maxalloc(a) <= r2len);
}

/* ---- small objects ----------------------------------------------------------------------- */

static void test_small_objects(void **state)
{
	struct ka_alloc *a = mk_exact(512, P);
	struct bd_state *b = B(a);
	unsigned c32 = bd_class_of(32);
	size_t per = b->nobj[c32], free0 = b->free_pages;
	void *o[1024];

	(void)state;
	assert_true(per >= 100);
	o[0] = ka_malloc(a, 24);
	assert_int_equal(ka_usable_size(a, o[0]), 32);
	assert_int_equal(b->free_pages, free0 - 1);
	for (size_t i = 1; i < per + 1; i++) {
		o[i] = ka_malloc(a, 32);
		assert_non_null(o[i]);
		assert_int_equal((uintptr_t)o[i] & 15, 0);
	}
	/* One full slab and one more: two pages. */
	assert_int_equal(b->free_pages, free0 - 2);
	assert_null(b->partial[c32]->next);
	assert_int_equal(ka_check(a), 0);
	for (size_t i = 0; i < per + 1; i++)
		ka_free(a, o[i]);
	/* Empty slabs go back to the page lists. */
	assert_int_equal(b->free_pages, free0);
	assert_null(b->partial[c32]);
	assert_int_equal(b->slab_free, 0);
	assert_int_equal(ka_check(a), 0);

	/* Aligned small requests get a class whose size is a multiple of the alignment. */
	for (size_t al = 16; al <= 2048; al <<= 1) {
		void *p = ka_memalign(a, al, 24);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p & (al - 1), 0);
		assert_true(ka_usable_size(a, p) >= 24);
		o[0] = ka_malloc(a, 40); /* interleave another class */
		ka_free(a, p);
		ka_free(a, o[0]);
	}
	assert_int_equal(b->free_pages, free0);

	/* Every size up to a page and a bit: usable >= requested, heap checks. */
	for (size_t s = 1, n = 0; s <= P + 64; s += 7, n++) {
		o[n] = ka_malloc(a, s);
		assert_non_null(o[n]);
		assert_true(ka_usable_size(a, o[n]) >= s);
		memset(o[n], (int)n, s);
		if (n == 100) {
			assert_int_equal(ka_check(a), 0);
			for (size_t i = 0; i <= n; i++)
				ka_free(a, o[i]);
			n = (size_t)-1;
		}
	}
}

static int count_used(void *ptr, size_t size, bool used, void *arg)
{
	size_t *acc = arg;

	(void)ptr;
	if (used) {
		acc[0]++;
		acc[1] += size;
	} else {
		acc[2] += size;
	}
	return 0;
}

static void test_walk(void **state)
{
	struct ka_alloc *a = mk_exact(64, P);
	size_t acc[3] = {0, 0, 0};
	void *p[6];
	struct ka_info i;

	(void)state;
	p[0] = ka_malloc(a, 10);
	p[1] = ka_malloc(a, 100);
	p[2] = ka_malloc(a, 1000);
	p[3] = ka_malloc(a, 3 * P);
	p[4] = ka_palloc(a, 5);
	p[5] = ka_malloc(a, 12);
	assert_int_equal(ka_walk(a, count_used, acc), 0);
	assert_int_equal(acc[0], 6);
	assert_int_equal(acc[1], 16 + 112 + 1024 + 3 * P + 5 * P + 16);
	ka_info(a, &i);
	assert_int_equal(acc[2], i.avail);
	{
		/* Slab pages lose their header and the gap below the lowest object. */
		struct bd_state *b = B(a);
		unsigned cls[3] = {bd_class_of(16), bd_class_of(100), bd_class_of(1000)};
		size_t lost = 0;

		for (int k = 0; k < 3; k++)
			lost += bd_slab_bytes(b, cls[k]) - b->nobj[cls[k]] * bd_class_size(cls[k]);
		assert_int_equal(acc[1] + acc[2], 64 * P - lost);
	}
	for (int k = 0; k < 6; k++) {
		if (k == 4)
			ka_pfree(a, p[k], 5);
		else
			ka_free(a, p[k]);
	}
	ka_info(a, &i);
	assert_int_equal(i.avail, 64 * P);
}

/* The checker and walker live in buddy_validate.c and the ops table names them weakly
 * (src/core/check.h): this program calls ka_check(), so they are linked. A head whose check op
 * is missing is reported as unchecked (1), never passed as healthy. */
static void test_checker_linked(void **state)
{
	struct ka_alloc *a = mk_exact(16, P);
	const struct ka_alloc_ops *ops = a->ops;
	struct ka_alloc_ops bare = *ops;

	(void)state;
	assert_ptr_equal(ops->check, bd_check);
	assert_ptr_equal(ops->walk, bd_walk);
	bare.check = NULL;
	bare.walk = NULL;
	a->ops = &bare;
	assert_int_equal(ka_check(a), KA_CFG_CHECK ? 1 : 0);
	assert_int_equal(ka_walk(a, count_used, NULL), KA_ENOTSUP);
	a->ops = ops;
	assert_int_equal(ka_check(a), 0);
}

/* ---- realloc ----------------------------------------------------------------------------- */

static void test_resize(void **state)
{
	struct ka_alloc *a = mk_exact(64, P);
	struct bd_state *b = B(a);
	unsigned char *p, *q;
	size_t free0;

	(void)state;
	p = ka_malloc(a, 40); /* class 48 */
	memset(p, 0x11, 40);
	q = ka_realloc(a, p, 48); /* same class: in place */
	assert_ptr_equal(q, p);
	q = ka_realloc(a, p, 300); /* another class: moves, keeps the bytes */
	assert_ptr_not_equal(q, p);
	for (int i = 0; i < 40; i++)
		assert_int_equal(q[i], 0x11);
	memset(q, 0x22, 300);

	p = ka_realloc(a, q, 10 * P); /* to a run */
	assert_non_null(p);
	assert_int_equal((uintptr_t)p & (P - 1), 0);
	for (int i = 0; i < 300; i++)
		assert_int_equal(p[i], 0x22);
	free0 = b->free_pages;
	q = ka_realloc(a, p, 3 * P); /* shrink a run in place: 7 pages come back */
	assert_ptr_equal(q, p);
	assert_int_equal(b->free_pages, free0 + 7);
	assert_int_equal(ka_usable_size(a, q), 3 * P);
	assert_int_equal(ka_check(a), 0);
	q = ka_realloc(a, p, 3 * P - 100); /* same page count: in place */
	assert_ptr_equal(q, p);
	memset(p, 0x33, 3 * P);
	q = ka_realloc(a, p, 20 * P); /* grow: moves */
	assert_non_null(q);
	for (size_t i = 0; i < 3 * P; i++)
		assert_int_equal(q[i], 0x33);
	p = ka_realloc(a, q, 64); /* back to a small object */
	assert_non_null(p);
	assert_int_equal(ka_usable_size(a, p), 64);
	for (int i = 0; i < 64; i++)
		assert_int_equal(p[i], 0x33);
	/* A failed grow keeps the old block intact. */
	assert_null(ka_realloc(a, p, 1000 * P));
	assert_int_equal(p[0], 0x33);
	ka_free(a, p);
	assert_int_equal(b->free_pages, 64);
	assert_int_equal(ka_check(a), 0);
}

/* ---- misuse -------------------------------------------------------------------------------- */

static void do_free(struct ka_alloc *a, void *p)
{
	ka_free(a, p);
}

static void do_double_free(struct ka_alloc *a, void *p)
{
	ka_free(a, p);
	ka_free(a, p);
}

static void do_pfree3(struct ka_alloc *a, void *p)
{
	ka_pfree(a, p, 3);
}

static void do_pfree_small(struct ka_alloc *a, void *p)
{
	ka_pfree(a, (void *)ka_align_down((uintptr_t)p, P), 1);
}

/* Free an object of a slab that stays in use, write into it, allocate it again. */
static void do_write_after_free(struct ka_alloc *a, void *keep)
{
	unsigned char *p = ka_malloc(a, 100);

	(void)keep;
	ka_free(a, p);
	memset(p, 0x41, 16);
	ka_free(a, ka_malloc(a, 100));
}

/* Classes above half a page use slabs of several pages: every class wastes at most 1/8 of
 * its slab, objects in the slab's later pages (page aligned ones included) are found from
 * any page of the slab, and a slab's pages go back as one block. */
static void test_multipage_slabs(void **state)
{
	struct ka_alloc *a = mk_exact(256, 256 * P);
	struct bd_state *b = B(a);
	size_t free0 = b->free_pages;
	static void *o[512];

	(void)state;
	assert_int_equal(b->small_max, P - P / 8);
	for (unsigned c = 0; c < b->nclasses; c++) {
		size_t sb = bd_slab_bytes(b, c), cs = bd_class_size(c), n = b->nobj[c];
		size_t pages = sb / P, aligned = 0;

		assert_true(b->sorder[c] <= BD_SLAB_MAX_ORDER);
		assert_true(sb - n * cs <= sb / 8);
		assert_true(n * cs + BD_SLAB_HDR <= sb);
		if (b->sorder[c] > 0) /* the next smaller slab would have wasted more */
			assert_true(sb / 2 - (sb / 2 - BD_SLAB_HDR) / cs * cs > sb / 16);
		/* One full slab and one more object. */
		for (size_t i = 0; i <= n; i++) {
			o[i] = ka_malloc(a, cs);
			assert_non_null(o[i]);
			assert_int_equal(ka_usable_size(a, o[i]), cs);
			memset(o[i], (int)i, cs);
			aligned += ((uintptr_t)o[i] & (P - 1)) == 0;
		}
		assert_int_equal(b->free_pages, free0 - 2 * pages);
		if (cs == 2048)
			assert_true(aligned > 0);
		assert_int_equal(ka_check(a), 0);
		for (size_t i = n + 1; i-- > 0;) {
			assert_int_equal(*(unsigned char *)o[i], (unsigned char)i);
			ka_free(a, o[i]);
		}
		assert_int_equal(b->free_pages, free0);
		assert_int_equal(ka_check(a), 0);
	}
	/* Above the classes: page runs. */
	o[0] = ka_malloc(a, b->small_max + 1);
	assert_int_equal(((uintptr_t)o[0] & (P - 1)), 0);
	assert_int_equal(ka_usable_size(a, o[0]), P);
	ka_free(a, o[0]);
	/* Interior pointers into an object in a later page of a slab. */
	o[0] = ka_malloc(a, 2048);
	o[1] = ka_malloc(a, 2048);
	o[2] = ka_malloc(a, 2048);
	expect_abort(do_free, a, (char *)o[2] + 1024);
	expect_abort(do_free, a, (char *)o[2] + 16);
	expect_abort(do_double_free, a, o[1]);
	{
		/* The checker sees a slab page that lost its link to the slab. */
		struct bd_zone *z = b->zones;
		size_t pfn = (uintptr_t)o[0] >> KA_CFG_PAGE_SHIFT;
		struct bd_page *d = bd_desc(z, pfn), save = *d;

		assert_int_equal(d->kind, BD_SLAB);
		assert_true(d->npages > 0);
		d->npages--;
		assert_int_equal(ka_check(a), 1);
		*d = save;
		assert_int_equal(ka_check(a), 0);
	}
	for (int i = 0; i < 3; i++)
		ka_free(a, o[i]);
	assert_int_equal(b->free_pages, free0);
	assert_int_equal(ka_check(a), 0);
}

/* With no free block of order ceil(log2 n), a run is cut from adjacent smaller blocks. */
static void test_run_fit(void **state)
{
	struct ka_alloc *a = mk_exact(16, 16 * P);
	struct bd_state *b = B(a);
	unsigned char *pg[16], *base;
	void *r, *r2;

	(void)state;
	for (int i = 0; i < 16; i++) {
		pg[i] = ka_palloc(a, 1);
		assert_non_null(pg[i]);
	}
	base = bd_page_addr(B(a)->zones->first_pfn);
	/* Free pages 1..6: blocks {1}, {2,3}, {4,5}, {6}; no block of order 2 or more. */
	for (int i = 1; i <= 6; i++)
		ka_pfree(a, base + (size_t)i * P, 1);
	assert_int_equal(b->free_pages, 6);
	assert_int_equal(b->nonempty, 3);
	r = ka_palloc(a, 5);
	assert_ptr_equal(r, base + P);
	assert_int_equal(ka_check(a), 0);
	assert_int_equal(b->free_pages, 1);
	assert_null(ka_palloc(a, 2)); /* one page left */
	ka_pfree(a, r, 5);
	assert_int_equal(ka_check(a), 0);
	/* Exactly the stretch: 6 pages. */
	r = ka_malloc(a, 5 * P + 1);
	assert_ptr_equal(r, base + P);
	assert_int_equal(b->free_pages, 0);
	assert_int_equal(ka_check(a), 0);
	/* Two stretches of 3 pages: one run of 3 fits, not one of 4. */
	ka_free(a, r);
	ka_pfree(a, base + 8 * P, 1);
	ka_pfree(a, base + 9 * P, 1);
	ka_pfree(a, base + 10 * P, 1);
	r2 = ka_palloc(a, 5); /* pages 1..5 */
	assert_non_null(r2);
	assert_null(ka_palloc(a, 4));
	r = ka_palloc(a, 3);
	assert_ptr_equal(r, base + 8 * P);
	assert_int_equal(ka_check(a), 0);
	ka_pfree(a, r, 3);
	ka_pfree(a, r2, 5);
	for (int i = 0; i < 16; i++)
		if (i == 0 || i == 7 || i > 10)
			ka_pfree(a, pg[i], 1);
	assert_int_equal(b->free_pages, 16);
	assert_int_equal(b->nonempty, (size_t)1 << 4);
	assert_int_equal(ka_check(a), 0);
}

static void test_misuse(void **state)
{
	struct ka_alloc *a = mk_exact(64, 64 * P);
	void *small = ka_malloc(a, 100);
	void *run = ka_malloc(a, 2 * P);
	void *pages = ka_palloc(a, 5);
	void *merged = ka_palloc(a, 1);
	int local;

	(void)state;
	assert_non_null(small);
	expect_abort(do_double_free, a, small);
	expect_abort(do_double_free, a, run);
	expect_abort(do_double_free, a, pages);
	expect_abort(do_free, a, (char *)small + 16); /* interior of an object */
	expect_abort(do_free, a, (char *)small + 8);  /* between objects */
	expect_abort(do_free, a, (char *)run + P);    /* inside a run */
	expect_abort(do_free, a, (char *)run + 64);
	expect_abort(do_free, a, &local);	  /* foreign */
	expect_abort(do_free, a, (char *)a + 64); /* the allocator's own metadata */
	expect_abort(do_pfree3, a, pages);	  /* wrong count */
	expect_abort(do_pfree_small, a, small);	  /* a slab page */
	expect_abort(do_write_after_free, a, small);
	/* A freed page that merged into its buddy is still caught. */
	ka_pfree(a, merged, 1);
	expect_abort(do_free, a, merged);
	/* The parent is unharmed by the children's attempts. */
	ka_free(a, small);
	ka_free(a, run);
	ka_pfree(a, pages, 5);
	assert_int_equal(B(a)->free_pages, 64);
	assert_int_equal(ka_check(a), 0);
}

/* ---- checker ------------------------------------------------------------------------------ */

static void test_check_corruption(void **state)
{
	struct ka_alloc *a = mk_exact(64, 64 * P);
	struct bd_state *b = B(a);
	void *run = ka_palloc(a, 3);
	void *pair = ka_palloc(a, 2);
	void *o1 = ka_malloc(a, 50);
	void *o2 = ka_malloc(a, 50);
	size_t saved;
	struct bd_free *f;
	struct bd_zone *z = b->zones;

	(void)state;
	ka_free(a, o1); /* o1 is now on its slab's free list */
	assert_int_equal(ka_check(a), 0);

	/* 1. A stale bit in the non-empty bitmap. */
	assert_int_equal(b->free[20], NULL);
	b->nonempty |= (size_t)1 << 20;
	assert_int_equal(ka_check(a), 1);
	b->nonempty &= ~((size_t)1 << 20);

	/* 2. The free page counter off by one. */
	b->free_pages++;
	assert_int_equal(ka_check(a), 1);
	b->free_pages--;

	/* 3. A broken back link: free the even page of three used pairs, so that order 0 holds
	 * blocks that cannot merge. */
	{
		void *pg[12];
		size_t nfreed = 0;

		for (int i = 0; i < 12; i++)
			pg[i] = ka_palloc(a, 1);
		for (int i = 0; i < 12; i++) {
			uintptr_t x = (uintptr_t)pg[i];
			bool partner = false;
			for (int j = 0; j < 12; j++)
				partner |= pg[j] && (uintptr_t)pg[j] == x + P;
			if (pg[i] && ((x >> KA_CFG_PAGE_SHIFT) & 1) == 0 && partner && nfreed < 3) {
				ka_pfree(a, pg[i], 1);
				pg[i] = NULL;
				nfreed++;
			}
		}
		assert_int_equal(nfreed, 3);
		assert_true(count_list(b, 0) >= 3);
		f = b->free[0];
		saved = (uintptr_t)f->next->prev;
		f->next->prev = f->next;
		assert_int_equal(ka_check(a), 1);
		f->next->prev = (struct bd_free *)saved;
		assert_int_equal(ka_check(a), 0);
	}

	/* 4. Two free buddies left unmerged: turn the 2-page run into two free pages by hand. */
	{
		size_t pfn = (uintptr_t)pair >> KA_CFG_PAGE_SHIFT;
		struct bd_free *f0 = pair, *f1 = (struct bd_free *)((char *)pair + P);

		f1->zone = f0->zone = z;
		f0->prev = NULL;
		f0->next = f1;
		f1->prev = f0;
		f1->next = b->free[0];
		if (b->free[0])
			b->free[0]->prev = f1;
		b->free[0] = f0;
		*bd_desc(z, pfn) = (struct bd_page){BD_FREE, 0, 0, 0};
		*bd_desc(z, pfn + 1) = (struct bd_page){BD_FREE, 0, 0, 0};
		b->free_pages += 2;
		b->nonempty |= 1;
		assert_int_equal(ka_check(a), 1);
		/* Undo: unlink both, make the run again. */
		b->free[0] = f1->next;
		if (b->free[0])
			b->free[0]->prev = NULL;
		b->free_pages -= 2;
		if (!b->free[0])
			b->nonempty &= ~(size_t)1;
		*bd_desc(z, pfn) = (struct bd_page){BD_RUN, 0, 0, 2};
		*bd_desc(z, pfn + 1) = (struct bd_page){0};
		assert_int_equal(ka_check(a), 0);
	}

	/* 5. A head left inside a used run. */
	{
		size_t pfn = (uintptr_t)run >> KA_CFG_PAGE_SHIFT;
		bd_desc(z, pfn + 1)->kind = BD_SLAB;
		assert_int_equal(ka_check(a), 1);
		bd_desc(z, pfn + 1)->kind = BD_NONE;
	}

	/* 6. A free object that lost its key (a use after free). */
	((struct bd_obj *)o1)->key ^= 1;
	assert_int_equal(ka_check(a), 1);
	((struct bd_obj *)o1)->key ^= 1;

	/* 7. The free slab byte counter off. */
	b->slab_free += 16;
	assert_int_equal(ka_check(a), 1);
	b->slab_free -= 16;

	/* 8. A free block's map entry with the wrong order: the list disagrees (1), and the map
	 * walk then sees a shorter block followed by a page that belongs to no block (1). */
	{
		unsigned k = ka_fls(b->nonempty);
		size_t pfn = (uintptr_t)b->free[k] >> KA_CFG_PAGE_SHIFT;
		assert_true(k >= 1);
		bd_desc(z, pfn)->order--;
		assert_int_equal(ka_check(a), 2);
		bd_desc(z, pfn)->order++;
	}

	/* 9. A cycle in a free list ends in a report, not a hang. */
	{
		unsigned k = ka_fls(b->nonempty);
		f = b->free[k];
		assert_null(f->next);
		f->next = f;
		assert_true(ka_check(a) >= 1);
		f->next = NULL;
	}
	assert_int_equal(ka_check(a), 0);
	ka_free(a, o2);
	ka_pfree(a, run, 3);
	ka_pfree(a, pair, 2);
	assert_int_equal(ka_check(a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_math),
	    cmocka_unit_test(test_class_math),
	    cmocka_unit_test(test_meta_layout),
	    cmocka_unit_test(test_split_merge),
	    cmocka_unit_test(test_merge_any_order),
	    cmocka_unit_test(test_palloc_tails),
	    cmocka_unit_test(test_big_alignment),
	    cmocka_unit_test(test_1g_in_4g),
	    cmocka_unit_test(test_regions),
	    cmocka_unit_test(test_small_objects),
	    cmocka_unit_test(test_walk),
	    cmocka_unit_test(test_checker_linked),
	    cmocka_unit_test(test_resize),
	    cmocka_unit_test(test_misuse),
	    cmocka_unit_test(test_multipage_slabs),
	    cmocka_unit_test(test_run_fit),
	    cmocka_unit_test(test_check_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
