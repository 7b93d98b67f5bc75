/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the TLSF backend (src/backend/tlsf.c) against its private layout
 * (tlsf_priv.h): the size-class mapping at its boundaries, the size queries of kalloc/tlsf.h,
 * coalescing with both neighbours, aligned allocation up to 64 KiB, realloc in place, several
 * pools, misuse detection (in a forked child that must die of SIGABRT), the checker counting
 * deliberate corruption exactly, and a worst-case fragmentation pattern.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abort_helper.h"
#include "kalloc/tlsf.h"
#include "backend/tlsf_priv.h"
#include "fmt.h"

#define HEAP_LEN  ((size_t)1 << 20)
#define EXTRA_LEN ((size_t)64 * 1024)

static _Alignas(4096) unsigned char heap[HEAP_LEN];
static _Alignas(4096) unsigned char heap2[HEAP_LEN];
static _Alignas(4096) unsigned char extra1[EXTRA_LEN];
static _Alignas(4096) unsigned char extra2[EXTRA_LEN];

static struct ka_alloc *mk_at(void *mem, size_t len)
{
	struct ka_alloc *a = ka_tlsf_init(mem, len);

	assert_non_null(a);
	assert_int_equal(ka_check(a), 0);
	return a;
}

static struct ka_alloc *mk(size_t len)
{
	return mk_at(heap, len);
}

static struct ka_tlsf *T(struct ka_alloc *a)
{
	return (struct ka_tlsf *)a;
}

static struct tlsf_block *blk(const void *p)
{
	return tlsf_from_payload(p);
}

struct census {
	size_t nfree, nused, free_bytes, used_bytes, largest_free;
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
		if (size > c->largest_free)
			c->largest_free = size;
	}
	return 0;
}

static struct census census(struct ka_alloc *a)
{
	struct census c = {0, 0, 0, 0, 0};

	assert_int_equal(ka_walk(a, count_cb, &c), 0);
	return c;
}

/* ---- mapping ---------------------------------------------------------------------------- */

/* The list a stride maps to must contain it: list_min(fl,sl) <= s < list_min(next list). */
static void assert_in_list(size_t s)
{
	unsigned fl, sl;
	size_t lo, hi;

	tlsf_mapping(s, &fl, &sl);
	assert_true(fl < TLSF_FL_COUNT);
	assert_true(sl < TLSF_SL_COUNT);
	lo = tlsf_list_min(fl, sl);
	assert_true(lo <= s);
	if (sl + 1 < TLSF_SL_COUNT)
		hi = tlsf_list_min(fl, sl + 1);
	else if (fl + 1 < TLSF_FL_COUNT)
		hi = tlsf_list_min(fl + 1, 0);
	else
		hi = 0; /* the last list: open ended */
	if (hi)
		assert_true(s < hi);
}

/* Searching from round_up(s) must only find blocks >= s, and must not skip a list whose
 * every block would fit: the list found is the first whose minimum is >= s. */
static void assert_round_up(size_t s)
{
	unsigned fl, sl, f0, s0;
	size_t r = tlsf_round_up(s), m;

	tlsf_mapping(r, &fl, &sl);
	m = tlsf_list_min(fl, sl);
	assert_true(m >= s);
	tlsf_mapping(s, &f0, &s0);
	if (tlsf_list_min(f0, s0) == s) {
		assert_int_equal(fl, f0);
		assert_int_equal(sl, s0);
	} else {
		/* exactly the next list */
		if (s0 + 1 < TLSF_SL_COUNT) {
			assert_int_equal(fl, f0);
			assert_int_equal(sl, s0 + 1);
		} else {
			assert_int_equal(fl, f0 + 1);
			assert_int_equal(sl, 0);
		}
	}
}

static void test_mapping(void **state)
{
	unsigned fl, sl;

	(void)state;
	/* Small strides: one exact list each, in first-level list 0. */
	tlsf_mapping(TLSF_MIN_STRIDE, &fl, &sl);
	assert_int_equal(fl, 0);
	assert_int_equal(sl, TLSF_MIN_STRIDE / TLSF_ALIGN);
	tlsf_mapping(TLSF_SMALL - TLSF_ALIGN, &fl, &sl);
	assert_int_equal(fl, 0);
	assert_int_equal(sl, TLSF_SL_COUNT - 1);
	/* The first large stride opens first level 1. */
	tlsf_mapping(TLSF_SMALL, &fl, &sl);
	assert_int_equal(fl, 1);
	assert_int_equal(sl, 0);
	tlsf_mapping(2 * TLSF_SMALL - TLSF_ALIGN, &fl, &sl);
	assert_int_equal(fl, 1);
	assert_int_equal(sl, TLSF_SL_COUNT - 1);
	tlsf_mapping(2 * TLSF_SMALL, &fl, &sl);
	assert_int_equal(fl, 2);
	assert_int_equal(sl, 0);
	/* Every power of two up to the largest stride starts a first-level list, and the stride
	 * just below the next power of two ends it. */
	for (unsigned k = TLSF_FL_SHIFT; k < TLSF_SIZE_BITS; k++) {
		size_t p = (size_t)1 << k;

		tlsf_mapping(p, &fl, &sl);
		assert_int_equal(fl, k - TLSF_FL_SHIFT + 1);
		assert_int_equal(sl, 0);
		tlsf_mapping(p + (p - TLSF_ALIGN), &fl, &sl);
		assert_int_equal(fl, k - TLSF_FL_SHIFT + 1);
		assert_int_equal(sl, TLSF_SL_COUNT - 1);
		assert_in_list(p);
		assert_in_list(p - TLSF_ALIGN);
		assert_in_list(p + TLSF_ALIGN);
		assert_round_up(p);
		assert_round_up(p - TLSF_ALIGN);
		assert_round_up(p + TLSF_ALIGN);
	}
	tlsf_mapping(TLSF_MAX_STRIDE, &fl, &sl);
	assert_int_equal(fl, TLSF_FL_COUNT - 1);
	assert_int_equal(sl, 0);
	/* The largest request's rounded stride still has a list (no out-of-range index). */
	tlsf_mapping(tlsf_round_up(TLSF_MAX_STRIDE), &fl, &sl);
	assert_true(fl < TLSF_FL_COUNT);
	/* Exhaustively over the first 4 MiB of strides. */
	for (size_t s = TLSF_MIN_STRIDE; s < ((size_t)4 << 20); s += TLSF_ALIGN) {
		assert_in_list(s);
		assert_round_up(s);
	}
	/* Stride of a request: header added, rounded to the alignment, at least the minimum. */
	assert_int_equal(tlsf_stride_for(1), TLSF_MIN_STRIDE);
	assert_int_equal(tlsf_stride_for(TLSF_MIN_STRIDE - TLSF_HDR), TLSF_MIN_STRIDE);
	assert_int_equal(tlsf_stride_for(TLSF_MIN_STRIDE - TLSF_HDR + 1),
			 TLSF_MIN_STRIDE + TLSF_ALIGN);
}

/* ---- size queries ----------------------------------------------------------------------- */

static void test_size_queries(void **state)
{
	struct ka_alloc *a;
	size_t need = ka_tlsf_control_size() + ka_tlsf_min_pool_size();
	struct census c;

	(void)state;
	assert_int_equal(ka_tlsf_block_overhead(), 2 * sizeof(void *));
	assert_true(ka_tlsf_control_size() >= sizeof(struct ka_tlsf));
	assert_int_equal(ka_backend_find("tlsf")->min_size, need);
	assert_int_equal(ka_tlsf_max_block_size(), TLSF_MAX_STRIDE - TLSF_HDR);

	/* init: exactly the advertised minimum works at every misalignment, one byte less never. */
	for (size_t off = 0; off < TLSF_ALIGN; off++) {
		assert_non_null(ka_tlsf_init(heap + off, need));
		assert_null(ka_tlsf_init(heap + off, need - 1));
	}
	assert_null(ka_tlsf_init(NULL, HEAP_LEN));
	a = ka_tlsf_init(heap, need);
	assert_int_equal(ka_check(a), 0);
	assert_non_null(ka_malloc(a, 1));

	/* A pool with aligned base and length starts as one block of len - pool_overhead. */
	a = mk(HEAP_LEN / 2);
	assert_int_equal(ka_add_memory(a, extra1, EXTRA_LEN), 0);
	c = census(a);
	assert_int_equal(c.nfree, 2);
	{
		struct tlsf_pool *p = T(a)->pools->next;
		struct tlsf_block *b = (struct tlsf_block *)(p + 1);

		assert_int_equal(tlsf_stride(b) - TLSF_HDR, EXTRA_LEN - ka_tlsf_pool_overhead());
	}
	/* add_memory: the minimum pool works at every misalignment, one byte less fails. */
	for (size_t off = 0; off < TLSF_ALIGN; off++) {
		a = mk(HEAP_LEN / 2);
		assert_int_equal(ka_add_memory(a, extra2 + off, ka_tlsf_min_pool_size()), 0);
		assert_int_equal(ka_check(a), 0);
		assert_int_equal(ka_add_memory(a, extra1 + off, ka_tlsf_min_pool_size() - 1),
				 KA_EINVAL);
	}
	/* Requests above the largest block fail cleanly. */
	a = mk(HEAP_LEN);
	assert_null(ka_malloc(a, ka_tlsf_max_block_size() + 1));
	assert_null(ka_memalign(a, 4096, ka_tlsf_max_block_size() - 100));
	assert_null(ka_malloc(a, HEAP_LEN));
	assert_int_equal(ka_check(a), 0);
}

/* ---- basic layout and accounting ---------------------------------------------------------- */

static void test_layout_and_info(void **state)
{
	struct ka_alloc *a = mk(HEAP_LEN);
	struct ka_info i0, i1;
	void *p[64];

	(void)state;
	ka_info(a, &i0);
	assert_int_equal(i0.total, HEAP_LEN);
	assert_int_equal(i0.meta + i0.avail, i0.total);
	assert_int_equal(i0.maxalloc, i0.avail); /* one free block */
	assert_non_null(ka_malloc(a, i0.maxalloc - 4096));

	a = mk(HEAP_LEN);
	for (size_t i = 0; i < 64; i++) {
		size_t want = i * 37 + 1;

		p[i] = ka_malloc(a, want);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % KA_CFG_MIN_ALIGN, 0);
		assert_int_equal(ka_usable_size(a, p[i]), tlsf_stride_for(want) - TLSF_HDR);
		assert_false(blk(p[i])->size & TLSF_FREE);
		if (i > 0) /* carved from the front of one block, in order */
			assert_ptr_equal(blk(p[i]), tlsf_next(blk(p[i - 1])));
		assert_true(ka_owns(a, p[i]));
	}
	ka_info(a, &i1);
	{
		size_t used = 0;

		for (size_t i = 0; i < 64; i++)
			used += tlsf_stride(blk(p[i]));
		/* every byte of a used block (header included) left avail */
		assert_int_equal(i0.avail - i1.avail, used);
	}
	for (size_t i = 0; i < 64; i++)
		ka_free(a, p[i]);
	ka_info(a, &i1);
	assert_int_equal(i1.avail, i0.avail);
	assert_int_equal(census(a).nfree, 1);
	assert_int_equal(ka_check(a), 0);
	assert_false(ka_owns(a, extra1));
	assert_false(ka_owns(a, heap + HEAP_LEN));
}

/* ---- coalescing --------------------------------------------------------------------------- */

static void test_coalesce(void **state)
{
	struct ka_alloc *a = mk(HEAP_LEN);
	struct ka_info i0, i;
	void *x, *y, *z, *guard;

	(void)state;
	ka_info(a, &i0);
	x = ka_malloc(a, 100);
	y = ka_malloc(a, 200);
	z = ka_malloc(a, 300);
	guard = ka_malloc(a, 16);
	assert_non_null(guard);

	/* Free x then z: two lone free blocks, their successors know it. */
	ka_free(a, x);
	ka_free(a, z);
	assert_true(blk(y)->size & TLSF_PREV_FREE);
	assert_true(blk(guard)->size & TLSF_PREV_FREE);
	assert_int_equal(census(a).nfree, 3);
	assert_int_equal(ka_check(a), 0);

	/* Free y: merges with both neighbours into one block starting at x. */
	size_t sx = tlsf_stride(blk(x)), sy = tlsf_stride(blk(y)), sz = tlsf_stride(blk(z));
	ka_free(a, y);
	assert_int_equal(census(a).nfree, 2);
	assert_true(blk(x)->size & TLSF_FREE);
	assert_int_equal(tlsf_stride(blk(x)), sx + sy + sz);
	assert_ptr_equal(blk(guard)->prev_phys, blk(x));
	assert_int_equal(ka_check(a), 0);

	/* The merged block is the smallest free one, so good fit picks it for any request its
	 * list guarantees (the list's smallest stride). */
	unsigned mfl, msl;
	tlsf_mapping(sx + sy + sz, &mfl, &msl);
	void *w = ka_malloc(a, tlsf_list_min(mfl, msl) - TLSF_HDR);
	assert_ptr_equal(w, x);
	ka_free(a, w);

	/* Previous-only merge: x free, y freed while its successor z is used. */
	x = ka_malloc(a, 64);
	y = ka_malloc(a, 64);
	z = ka_malloc(a, 64);
	assert_ptr_equal(tlsf_next(blk(x)), blk(y));
	assert_ptr_equal(tlsf_next(blk(y)), blk(z));
	ka_free(a, x);
	ka_free(a, y);
	assert_true(blk(x)->size & TLSF_FREE);
	assert_int_equal(tlsf_stride(blk(x)), 2 * tlsf_stride_for(64));
	assert_ptr_equal(blk(z)->prev_phys, blk(x));
	assert_int_equal(ka_check(a), 0);
	/* Next-only merge: x is carved again from the front of the free pair (good fit picks
	 * the smallest list), so its successor is free and its predecessor is none. */
	void *x2 = ka_malloc(a, 64);
	assert_ptr_equal(x2, x);
	assert_true(tlsf_next(blk(x))->size & TLSF_FREE);
	ka_free(a, x);
	assert_int_equal(tlsf_stride(blk(x)), 2 * tlsf_stride_for(64));
	assert_int_equal(ka_check(a), 0);
	/* z: both neighbours free again, everything up to the guard is one block. */
	ka_free(a, z);
	assert_int_equal(tlsf_stride(blk(x)), sx + sy + sz);
	ka_free(a, guard);
	ka_info(a, &i);
	assert_int_equal(i.avail, i0.avail);
	assert_int_equal(census(a).nfree, 1);
	assert_int_equal(ka_check(a), 0);
}

/* Random frees in random order always end in one free block (immediate coalescing). */
static void test_coalesce_random(void **state)
{
	struct ka_alloc *a = mk(HEAP_LEN);
	struct ka_info i0, i;
	void *p[300];
	unsigned seed = 12345;

	(void)state;
	ka_info(a, &i0);
	for (int round = 0; round < 20; round++) {
		for (int k = 0; k < 300; k++) {
			seed = seed * 1103515245u + 12345u;
			p[k] = ka_malloc(a, 1 + (seed >> 16) % 2000);
			assert_non_null(p[k]);
		}
		for (int k = 299; k > 0; k--) {
			seed = seed * 1103515245u + 12345u;
			int j = (int)((seed >> 16) % (unsigned)(k + 1));
			void *tmp = p[k];
			p[k] = p[j];
			p[j] = tmp;
		}
		for (int k = 0; k < 300; k++) {
			ka_free(a, p[k]);
			if (k % 37 == 0)
				assert_int_equal(ka_check(a), 0);
		}
		ka_info(a, &i);
		assert_int_equal(i.avail, i0.avail);
		assert_int_equal(census(a).nfree, 1);
	}
}

/* ---- aligned allocation ------------------------------------------------------------------- */

static void test_aligned(void **state)
{
	struct ka_alloc *a = mk(HEAP_LEN);
	static const size_t sizes[] = {1, 24, 100, 4000, 20000};
	struct ka_info i0, i;
	void *keep[16 * 5];
	size_t n = 0;

	(void)state;
	ka_info(a, &i0);
	for (size_t align = 2 * KA_CFG_MIN_ALIGN; align <= 64 * 1024; align *= 2) {
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			/* A small block before makes the natural position misaligned. */
			void *pad = ka_malloc(a, 24);
			void *p = ka_memalign(a, align, sizes[k]);

			assert_non_null(pad);
			assert_non_null(p);
			assert_int_equal((uintptr_t)p % align, 0);
			assert_true(ka_usable_size(a, p) >= sizes[k]);
			memset(p, 0xa5, sizes[k]);
			assert_int_equal(ka_check(a), 0);
			ka_free(a, pad);
			keep[n++] = p;
		}
	}
	/* posix_memalign goes the same way. */
	{
		void *p = NULL;

		assert_int_equal(ka_posix_memalign(a, &p, 65536, 10), 0);
		assert_int_equal((uintptr_t)p % 65536, 0);
		keep[n++] = p;
	}
	for (size_t k = 0; k < n; k++)
		ka_free(a, keep[k]);
	ka_info(a, &i);
	assert_int_equal(i.avail, i0.avail);
	assert_int_equal(census(a).nfree, 1);
	assert_int_equal(ka_check(a), 0);

	/* An alignment whose over-allocation overflows fails instead of wrapping. */
	assert_null(ka_memalign(a, (size_t)1 << (TLSF_SIZE_BITS - 1), 64));
	assert_null(ka_memalign(a, 1u << 20, HEAP_LEN / 2));
	assert_int_equal(ka_check(a), 0);
}

/* ---- realloc ------------------------------------------------------------------------------ */

static void test_realloc_in_place(void **state)
{
	struct ka_alloc *a = mk(HEAP_LEN);
	unsigned char *p, *q, *r, *n;
	struct ka_info i0, i;

	(void)state;
	ka_info(a, &i0);
	p = ka_malloc(a, 100);
	q = ka_malloc(a, 100);
	r = ka_malloc(a, 100); /* guard */
	memset(p, 0x5a, 100);
	ka_free(a, q);

	/* Grow into the free next block: same address, contents kept. */
	n = ka_realloc(a, p, 180);
	assert_ptr_equal(n, p);
	assert_true(ka_usable_size(a, p) >= 180);
	for (int k = 0; k < 100; k++)
		assert_int_equal(p[k], 0x5a);
	assert_int_equal(ka_check(a), 0);

	/* Grow to exactly both blocks (no remainder is left). */
	n = ka_realloc(a, p, (size_t)(r - p) - TLSF_HDR);
	assert_ptr_equal(n, p);
	assert_ptr_equal(tlsf_next(blk(p)), blk(r));
	assert_false(blk(r)->size & TLSF_PREV_FREE);
	assert_int_equal(ka_check(a), 0);

	/* Shrink: same address, the tail is a free block again. */
	n = ka_realloc(a, p, 40);
	assert_ptr_equal(n, p);
	assert_int_equal(ka_usable_size(a, p), tlsf_stride_for(40) - TLSF_HDR);
	assert_true(blk(r)->size & TLSF_PREV_FREE);
	assert_int_equal(ka_check(a), 0);

	/* Shrink next to a free block: the tail merges with it. */
	ka_free(a, r);
	size_t nfree = census(a).nfree;
	n = ka_realloc(a, p, 16);
	assert_ptr_equal(n, p);
	assert_int_equal(census(a).nfree, nfree);
	assert_int_equal(ka_check(a), 0);

	/* Grow when the next block is used: moves, keeps the data, frees the old block. */
	q = ka_malloc(a, 16);
	assert_ptr_equal(blk(q), tlsf_next(blk(p)));
	memset(p, 0x77, ka_usable_size(a, p));
	n = ka_realloc(a, p, 1000);
	assert_non_null(n);
	assert_ptr_not_equal(n, p);
	for (int k = 0; k < 16; k++)
		assert_int_equal(n[k], 0x77);
	assert_true(blk(p)->size & TLSF_FREE);
	ka_free(a, n);
	ka_free(a, q);
	ka_info(a, &i);
	assert_int_equal(i.avail, i0.avail);
	assert_int_equal(ka_check(a), 0);

	/* A failed growth leaves the block intact. */
	p = ka_malloc(a, 64);
	memset(p, 0x11, 64);
	assert_null(ka_realloc(a, p, HEAP_LEN));
	assert_int_equal(p[63], 0x11);
	assert_false(blk(p)->size & TLSF_FREE);
	ka_free(a, p);
	assert_int_equal(ka_check(a), 0);
}

/* ---- pools -------------------------------------------------------------------------------- */

static void test_pools(void **state)
{
	size_t small = ka_tlsf_control_size() + 8192;
	struct ka_alloc *a = mk(small);
	struct ka_info i;
	void *p[64];
	size_t n = 0;

	(void)state;
	assert_int_equal(ka_add_memory(a, extra1, EXTRA_LEN), 0);
	assert_int_equal(ka_add_memory(a, extra2 + 13, EXTRA_LEN - 13), 0);
	assert_int_equal(T(a)->npools, 3);
	assert_int_equal(ka_check(a), 0);

	/* Overlaps with any pool (or the control structure) are refused. */
	assert_int_equal(ka_add_memory(a, extra1 + 100, 4096), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, extra2, 4096), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, heap, 4096), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, heap2, 10), KA_EINVAL);

	/* A block larger than any one pool cannot exist, even though the sum would hold it. */
	ka_info(a, &i);
	assert_int_equal(i.total, small + EXTRA_LEN + EXTRA_LEN - 13);
	assert_true(i.avail > EXTRA_LEN + 8192);
	assert_null(ka_malloc(a, EXTRA_LEN + 1024));
	assert_true(i.maxalloc < EXTRA_LEN);
	assert_non_null(ka_malloc(a, i.maxalloc));
	a = mk(small);
	assert_int_equal(ka_add_memory(a, extra1, EXTRA_LEN), 0);
	assert_int_equal(ka_add_memory(a, extra2 + 13, EXTRA_LEN - 13), 0);

	/* Filling with 4 KiB blocks uses every pool. */
	for (;;) {
		void *q = ka_malloc(a, 4000);

		if (!q)
			break;
		assert_true(n < 64);
		p[n++] = q;
	}
	bool in_main = false, in_e1 = false, in_e2 = false;
	for (size_t k = 0; k < n; k++) {
		uintptr_t q = (uintptr_t)p[k];

		in_main |= q >= (uintptr_t)heap && q < (uintptr_t)heap + small;
		in_e1 |= q >= (uintptr_t)extra1 && q < (uintptr_t)extra1 + EXTRA_LEN;
		in_e2 |= q >= (uintptr_t)extra2 && q < (uintptr_t)extra2 + EXTRA_LEN;
		assert_true(ka_owns(a, p[k]));
	}
	assert_true(in_main && in_e1 && in_e2);
	struct census c = census(a);
	assert_int_equal(c.nused, n);
	assert_int_equal(ka_check(a), 0);
	for (size_t k = 0; k < n; k++)
		ka_free(a, p[k]);
	c = census(a);
	assert_int_equal(c.nfree, 3); /* one per pool: blocks never merge across pools */
	assert_int_equal(c.nused, 0);
	ka_info(a, &i);
	assert_int_equal(i.avail, c.free_bytes);
	assert_int_equal(i.meta + i.avail, i.total);
	assert_int_equal(ka_check(a), 0);
}

/* ---- misuse ------------------------------------------------------------------------------- */

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

/* The second free of a block already merged into its free predecessor. */
static void m_double_free_merged(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 64), *q = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	ka_free(a, p);
	ka_free(a, q);
	ka_free(a, q);
}

static void m_double_free_raw(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	a->ops->free(a, p); /* bypass the generic layer: the free op itself must notice */
	a->ops->free(a, p);
}

static void m_foreign_stack(struct ka_alloc *a)
{
	_Alignas(16) unsigned char buf[64];
	ka_free(a, buf + 16);
}

static void m_foreign_heap(struct ka_alloc *a)
{
	struct ka_alloc *o = mk_at(heap2, HEAP_LEN);
	ka_free(a, ka_malloc(o, 64));
}

static void m_interior(struct ka_alloc *a)
{
	unsigned char *p = ka_malloc(a, 256);
	memset(p, 0, 256);
	ka_free(a, p + 64);
}

static void m_interior_pattern(struct ka_alloc *a)
{
	unsigned char *p = ka_malloc(a, 256);
	memset(p, 0x30, 256); /* looks like a plausible used size word */
	ka_free(a, p + 32);
}

static void m_misaligned(struct ka_alloc *a)
{
	unsigned char *p = ka_malloc(a, 256);
	a->ops->free(a, p + 8);
}

static void m_header_size(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	blk(p)->size += TLSF_ALIGN; /* stride now points into the next payload */
	ka_free(a, p);
}

static void m_header_prev(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 64), *q = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	ka_free(a, p);
	blk(q)->prev_phys = blk(q); /* the prev-free merge must notice */
	ka_free(a, q);
}

static void m_usable_freed(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	ka_free(a, p);
	(void)ka_usable_size(a, p);
}

static void m_realloc_foreign(struct ka_alloc *a)
{
	static _Alignas(16) unsigned char g[64];
	(void)ka_realloc(a, g, 100);
}

static void m_use_after_free(struct ka_alloc *a)
{
	unsigned char *p = ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
	ka_free(a, p);
	memset(p, 0x41, 16); /* the free-list links */
	(void)ka_malloc(a, 64);
}

static void test_misuse(void **state)
{
	(void)state;
	expect_abort(m_double_free);
	expect_abort(m_double_free_merged);
	expect_abort(m_double_free_raw);
	expect_abort(m_foreign_stack);
	expect_abort(m_foreign_heap);
	expect_abort(m_interior);
	expect_abort(m_interior_pattern);
	expect_abort(m_misaligned);
	expect_abort(m_header_size);
	expect_abort(m_header_prev);
	expect_abort(m_usable_freed);
	expect_abort(m_realloc_foreign);
	expect_abort(m_use_after_free);
}

/* The misuse reports above name the pointer in hex (src/core/report.c): the digits, the
 * prefix, and the cut at the buffer's end. */
static void test_fmt_hex(void **state)
{
	char buf[32];
	struct ka_fmt f;

	(void)state;
	ka_fmt_init(&f, buf, sizeof(buf));
	ka_fmt_hex(&f, 0);
	assert_string_equal(buf, "0x0");
	ka_fmt_init(&f, buf, sizeof(buf));
	ka_fmt_str(&f, "at ");
	ka_fmt_hex(&f, 0x1a2b3c4d5e6f7089ull);
	assert_string_equal(buf, "at 0x1a2b3c4d5e6f7089");
	ka_fmt_init(&f, buf, sizeof(buf));
	ka_fmt_hex(&f, UINT64_MAX);
	assert_string_equal(buf, "0xffffffffffffffff");
	ka_fmt_init(&f, buf, 5);
	ka_fmt_hex(&f, 0xabcdef);
	assert_string_equal(buf, "0xab");
	assert_int_equal(f.len, 4);
}

/* ---- checker ------------------------------------------------------------------------------ */

static void test_checker_counts(void **state)
{
	struct ka_alloc *a = mk(HEAP_LEN);
	struct ka_tlsf *t = T(a);
	void *p[8];
	size_t saved;
	struct tlsf_block *saved_ptr;

	(void)state;
	for (int k = 0; k < 8; k++) /* distinct strides: each free block on its own list */
		p[k] = ka_malloc(a, 100 + 16 * (size_t)k);
	ka_free(a, p[2]);
	ka_free(a, p[5]);
	assert_int_equal(ka_check(a), 0);

	/* prev_phys of a used block after a used block: one finding. */
	saved_ptr = blk(p[1])->prev_phys;
	blk(p[1])->prev_phys = blk(p[1]);
	assert_int_equal(ka_check(a), 1);
	blk(p[1])->prev_phys = saved_ptr;

	/* prev-free bit set although the predecessor is used: one finding. */
	blk(p[7])->size |= TLSF_PREV_FREE;
	assert_int_equal(ka_check(a), 1);
	/* ... plus a bitmap bit for an empty list (both levels kept consistent): two. */
	assert_null(t->heads[TLSF_LIST(0, TLSF_SL_COUNT - 1)]);
	t->sl_bitmap[0] |= 1u << (TLSF_SL_COUNT - 1);
	t->fl_bitmap |= 1;
	assert_int_equal(ka_check(a), 2);
	/* ... plus a wrong free-byte counter: three. */
	t->avail += TLSF_ALIGN;
	assert_int_equal(ka_check(a), 3);
	/* An implausible size in the middle of the pool instead: the walk stops there (one
	 * finding) and never reaches p[7]; the totals it could not finish are not compared; the
	 * bitmap finding stays: 2. */
	saved = blk(p[4])->size;
	blk(p[4])->size = 8;
	assert_int_equal(ka_check(a), 2);
	blk(p[4])->size = saved;
	blk(p[7])->size &= ~TLSF_PREV_FREE;
	t->sl_bitmap[0] &= ~(1u << (TLSF_SL_COUNT - 1));
	t->avail -= TLSF_ALIGN;
	assert_int_equal(ka_check(a), 0);

	/* A free block whose free bit was cleared: the successor's prev-free bit disagrees, a used
	 * block sits on a list, the counts and the bytes differ: four findings. */
	blk(p[2])->size &= ~TLSF_FREE;
	assert_int_equal(ka_check(a), 4);
	blk(p[2])->size |= TLSF_FREE;

	/* A free block moved to the wrong list (bitmaps kept right): one finding. */
	{
		struct tlsf_block *b = blk(p[5]);
		unsigned fl, sl;

		tlsf_mapping(tlsf_stride(b), &fl, &sl);
		assert_ptr_equal(t->heads[TLSF_LIST(fl, sl)], b);
		assert_null(b->next_free);
		t->heads[TLSF_LIST(fl, sl)] = NULL;
		t->sl_bitmap[fl] &= ~(1u << sl);
		t->heads[TLSF_LIST(fl, sl + 1)] = b;
		t->sl_bitmap[fl] |= 1u << (sl + 1);
		assert_int_equal(ka_check(a), 1);
		t->heads[TLSF_LIST(fl, sl + 1)] = NULL;
		t->sl_bitmap[fl] &= ~(1u << (sl + 1));
		t->heads[TLSF_LIST(fl, sl)] = b;
		t->sl_bitmap[fl] |= 1u << sl;
	}
	/* A cycle in a free list is found at its first repeat: one finding. */
	{
		struct tlsf_block *b = blk(p[5]);

		b->next_free = b;
		assert_int_equal(ka_check(a), 1);
		b->next_free = NULL;
	}
	/* The sentinel overwritten (its prev-free bit kept): one finding. */
	saved = t->pools->sentinel->size;
	t->pools->sentinel->size |= 64;
	assert_int_equal(ka_check(a), 1);
	t->pools->sentinel->size = saved;
	assert_int_equal(ka_check(a), 0);
	/* Walk stops cleanly on the broken size. */
	blk(p[4])->size = 8;
	assert_int_equal(ka_walk(a, count_cb, &(struct census){0, 0, 0, 0, 0}), KA_EFAULT);
}

/* ---- worst case --------------------------------------------------------------------------- */

/*
 * The TLSF worst case: a heap fragmented so that free blocks of many classes coexist with
 * used ones (every second block free, sizes spread over all classes). Requests that must skip
 * to a higher first level, requests that fit no list, and frees that merge on both sides must
 * all stay correct; maxalloc must still name a request that succeeds.
 */
static void test_worst_case(void **state)
{
	struct ka_alloc *a = mk(HEAP_LEN);
	struct ka_tlsf *t = T(a);
	void *p[600];
	size_t n = 0;
	struct ka_info i;

	(void)state;
	/* Blocks of growing size until the heap is full, then free every second one. */
	for (size_t sz = 8; n < 600; sz += sz / 8 + 8) {
		void *q = ka_malloc(a, sz % 6000 + 1);

		if (!q)
			break;
		p[n++] = q;
	}
	assert_true(n > 100);
	for (size_t k = 0; k < n; k += 2)
		ka_free(a, p[k]);
	assert_int_equal(ka_check(a), 0);
	/* Many lists are populated at once. */
	{
		unsigned lists = 0;

		for (unsigned fl = 0; fl < TLSF_FL_COUNT; fl++)
			for (unsigned sl = 0; sl < TLSF_SL_COUNT; sl++)
				lists += t->heads[TLSF_LIST(fl, sl)] != NULL;
		assert_true(lists > 20);
	}
	/* maxalloc succeeds, one more aligned step does not need to. */
	ka_info(a, &i);
	void *big = ka_malloc(a, i.maxalloc);
	assert_non_null(big);
	ka_free(a, big);
	/* A request larger than any free block fails although the total would hold it. */
	assert_true(i.avail > 2 * i.maxalloc);
	assert_null(ka_malloc(a, i.avail / 2));
	/* Every small request is served from some list (good fit never scans). */
	for (size_t sz = 1; sz < 2000; sz += 61) {
		void *q = ka_malloc(a, sz);

		assert_non_null(q);
		ka_free(a, q);
	}
	/* Freeing the used ones merges each with both free neighbours: one block remains. */
	for (size_t k = 1; k < n; k += 2)
		ka_free(a, p[k]);
	assert_int_equal(census(a).nfree, 1);
	assert_int_equal(ka_check(a), 0);
}

/* ---- random operations against a shadow model --------------------------------------------- */

static void test_random_model(void **state)
{
	struct ka_alloc *a = mk(256 * 1024);
	struct {
		unsigned char *p;
		size_t n;
		unsigned char fill;
	} live[128];
	unsigned seed = 777;

	(void)state;
	memset(live, 0, sizeof(live));
	assert_int_equal(ka_add_memory(a, extra1, EXTRA_LEN), 0);
	for (int step = 0; step < 20000; step++) {
		seed = seed * 1103515245u + 12345u;
		unsigned k = (seed >> 8) % 128, op = (seed >> 20) % 4;
		size_t sz = 1 + (seed >> 3) % ((seed & 1) ? 200 : 9000);

		if (live[k].p) {
			for (size_t j = 0; j < live[k].n; j += 7)
				assert_int_equal(live[k].p[j], live[k].fill);
			if (op == 0) {
				unsigned char *q = ka_realloc(a, live[k].p, sz);

				if (!q)
					continue;
				for (size_t j = 0; j < (sz < live[k].n ? sz : live[k].n); j += 7)
					assert_int_equal(q[j], live[k].fill);
				memset(q, live[k].fill, sz);
				live[k].p = q;
				live[k].n = sz;
			} else {
				ka_free(a, live[k].p);
				live[k].p = NULL;
			}
		} else {
			size_t al = op == 3 ? (size_t)64 << ((seed >> 12) % 8) : 0;
			unsigned char *q = al ? ka_memalign(a, al, sz) : ka_malloc(a, sz);

			if (!q)
				continue;
			if (al)
				assert_int_equal((uintptr_t)q % al, 0);
			live[k].p = q;
			live[k].n = sz;
			live[k].fill = (unsigned char)step;
			memset(q, live[k].fill, sz);
		}
		if (step % 64 == 0)
			assert_int_equal(ka_check(a), 0);
	}
	for (int k = 0; k < 128; k++)
		if (live[k].p)
			ka_free(a, live[k].p);
	assert_int_equal(census(a).nfree, 2);
	assert_int_equal(ka_check(a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mapping),
	    cmocka_unit_test(test_size_queries),
	    cmocka_unit_test(test_layout_and_info),
	    cmocka_unit_test(test_coalesce),
	    cmocka_unit_test(test_coalesce_random),
	    cmocka_unit_test(test_aligned),
	    cmocka_unit_test(test_realloc_in_place),
	    cmocka_unit_test(test_fmt_hex),
	    cmocka_unit_test(test_pools),
	    cmocka_unit_test(test_misuse),
	    cmocka_unit_test(test_checker_counts),
	    cmocka_unit_test(test_worst_case),
	    cmocka_unit_test(test_random_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
