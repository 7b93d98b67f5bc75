/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the pool backend (src/backend/pool.c) against its private layout
 * (pool_priv.h): geometry and refusals, the exactness of ka_pool_memsize() and
 * ka_pool_area_memsize(), LIFO order, batch take/return, request limits, a second area
 * through add_memory, the walker, misuse in forked children (SIGABRT) and the checker's
 * exact counts on deliberate corruption.
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
#include "kalloc/pool.h"
#include "backend/pool_priv.h"

#define HEAP_LEN ((size_t)256 * 1024)

static _Alignas(4096) unsigned char heap[HEAP_LEN];
static _Alignas(4096) unsigned char extra[64 * 1024];

static struct ka_pool_state *P(struct ka_alloc *a)
{
	return (struct ka_pool_state *)a;
}

static struct ka_alloc *mk(size_t obj, size_t align)
{
	struct ka_alloc *a = ka_pool_create(heap, HEAP_LEN, obj, align);

	assert_non_null(a);
	assert_int_equal(ka_check(a), 0);
	return a;
}

/* ---- geometry --------------------------------------------------------------------------- */

static void create_geometry(void **state)
{
	static const size_t objs[] = {1, 8, 24, 100, 256, 1000, 4096};
	static const size_t aligns[] = {0, 1, 8, 16, 64, 256, 4096};

	(void)state;
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
		for (size_t j = 0; j < sizeof(aligns) / sizeof(aligns[0]); j++) {
			struct ka_alloc *a = mk(objs[i], aligns[j]);
			size_t al = aligns[j] < KA_CFG_MIN_ALIGN ? KA_CFG_MIN_ALIGN : aligns[j];
			size_t osz = ka_pool_obj_size(a), n = ka_pool_total_count(a);
			struct ka_info in;

			assert_int_equal(ka_pool_obj_align(a), al);
			assert_true(osz >= objs[i] && osz >= sizeof(void *));
			assert_int_equal(osz % al, 0);
			assert_true(osz <
				    (objs[i] > sizeof(void *) ? objs[i] : sizeof(void *)) + al);
			assert_int_equal(P(a)->first.start % al, 0);
			/* as many as fit: one more would not */
			assert_true(P(a)->first.end <= (uintptr_t)heap + HEAP_LEN);
			assert_true(P(a)->first.end + osz > (uintptr_t)heap + HEAP_LEN);
			assert_int_equal(ka_pool_free_count(a), n);
			ka_info(a, &in);
			assert_int_equal(in.total, HEAP_LEN);
			assert_int_equal(in.avail, n * osz);
			assert_int_equal(in.maxalloc, osz);
			assert_int_equal(in.meta, HEAP_LEN - n * osz);
		}
	assert_null(ka_pool_create(NULL, HEAP_LEN, 64, 0));
	assert_null(ka_pool_create(heap, HEAP_LEN, 0, 0));
	assert_null(ka_pool_create(heap, HEAP_LEN, 64, 24));
	assert_null(ka_pool_create(heap, HEAP_LEN, SIZE_MAX - 4, 0));
	assert_null(ka_pool_create(heap, sizeof(struct ka_pool_state), 64, 0));
	assert_null(ka_pool_init(heap, ka_backend_pool.min_size - 1));
	assert_non_null(ka_pool_init(heap + 1, ka_backend_pool.min_size));
	assert_int_equal(ka_pool_obj_size(ka_pool_init(heap, HEAP_LEN)), KA_CFG_POOL_DEFAULT_OBJ);
	assert_ptr_equal(ka_backend_find("pool"), &ka_backend_pool);
}

/* memsize(n) holds exactly n objects; one byte less holds n - 1. Same for add_memory. */
static void memsize_exact(void **state)
{
	static const size_t ns[] = {1, 2, 7, 63, 64, 65, 129, 1000};
	static const size_t par[][2] = {{1, 0}, {24, 8}, {100, 64}, {256, 16}, {4096, 4096}};
	unsigned char *buf = aligned_alloc(8192, 8u << 20);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		for (size_t j = 0; j < sizeof(par) / sizeof(par[0]); j++) {
			size_t n = ns[i], m = ka_pool_memsize(n, par[j][0], par[j][1]);
			size_t am = ka_pool_area_memsize(n, par[j][0], par[j][1]);
			struct ka_alloc *a;
			int rc;

			assert_true(m > 0 && m <= (8u << 20) / 2);
			a = ka_pool_create(buf, m, par[j][0], par[j][1]);
			assert_non_null(a);
			assert_int_equal(ka_pool_total_count(a), n);
			assert_int_equal(P(a)->first.end, (uintptr_t)buf + m);
			a = ka_pool_create(buf, m - 1, par[j][0], par[j][1]);
			if (n == 1)
				assert_null(a);
			else
				assert_int_equal(ka_pool_total_count(a), n - 1);

			/* a second area of exactly am bytes, placed after a one-object pool */
			a = ka_pool_create(buf, ka_pool_memsize(1, par[j][0], par[j][1]), par[j][0],
					   par[j][1]);
			assert_non_null(a);
			rc = ka_add_memory(a, buf + (4u << 20), am);
			assert_int_equal(rc, 0);
			assert_int_equal(ka_pool_total_count(a), 1 + n);
			assert_int_equal(ka_check(a), 0);
			a = ka_pool_create(buf, ka_pool_memsize(1, par[j][0], par[j][1]), par[j][0],
					   par[j][1]);
			rc = ka_add_memory(a, buf + (4u << 20), am - 1);
			if (n == 1)
				assert_int_equal(rc, KA_EINVAL);
			else
				assert_int_equal(ka_pool_total_count(a), n);
		}
	assert_int_equal(ka_pool_memsize(0, 64, 0), 0);
	assert_int_equal(ka_pool_memsize(4, 0, 0), 0);
	assert_int_equal(ka_pool_memsize(4, 64, 3), 0);
	assert_int_equal(ka_pool_memsize(SIZE_MAX / 8, 64, 0), 0);
	free(buf);
}

/* ---- allocation ------------------------------------------------------------------------- */

static void lifo_and_limits(void **state)
{
	struct ka_alloc *a = mk(100, 32);
	size_t osz = ka_pool_obj_size(a);
	void *x, *y;

	(void)state;
	x = ka_malloc(a, 10);
	y = ka_malloc(a, osz);
	assert_non_null(x);
	assert_non_null(y);
	assert_int_equal((uintptr_t)x % 32, 0);
	assert_int_equal(ka_usable_size(a, x), osz);
	assert_null(ka_malloc(a, osz + 1));
	assert_null(ka_memalign(a, 64, 8));
	assert_non_null(ka_memalign(a, 32, 8));
	ka_free(a, x);
	ka_free(a, y);
	assert_ptr_equal(ka_malloc(a, 1), y); /* last in, first out */
	assert_ptr_equal(ka_malloc(a, 1), x);
	assert_int_equal(ka_check(a), 0);
}

static void exhaustion_and_counts(void **state)
{
	struct ka_alloc *a = mk(64, 0);
	size_t n = ka_pool_total_count(a);
	void **v = calloc(n, sizeof(void *));

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = ka_malloc(a, 64);
		assert_non_null(v[i]);
		assert_int_equal(ka_pool_free_count(a), n - i - 1);
	}
	assert_null(ka_malloc(a, 1));
	assert_int_equal(ka_maxalloc(a), 0);
	assert_int_equal(ka_availmem(a), 0);
	assert_int_equal(ka_check(a), 0);
	for (size_t i = 0; i < n; i += 2)
		ka_free(a, v[i]);
	for (size_t i = 1; i < n; i += 2)
		ka_free(a, v[i]);
	assert_int_equal(ka_pool_free_count(a), n);
	assert_int_equal(ka_stats(a)->cur_nb_allocs, 0);
	assert_int_equal(ka_check(a), 0);
	free(v);
}

static void batches(void **state)
{
	struct ka_alloc *a = mk(48, 0);
	size_t n = ka_pool_total_count(a), osz = ka_pool_obj_size(a);
	void **v = calloc(n + 10, sizeof(void *));
	void *w[8];

	(void)state;
	assert_non_null(v);
	assert_int_equal(ka_pool_take_batch(a, v, 5), 5);
	assert_int_equal(ka_stats(a)->cur_nb_allocs, 5);
	assert_int_equal(ka_stats(a)->cur_mem_use, 5 * osz);
	assert_int_equal(ka_pool_take_batch(a, v + 5, n + 5), n - 5); /* runs out */
	assert_int_equal(ka_pool_free_count(a), 0);
	assert_int_equal(ka_pool_take_batch(a, w, 8), 0);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < 3 && j < i; j++)
			assert_ptr_not_equal(v[i], v[i - j - 1]);
	assert_int_equal(ka_check(a), 0);
	v[n] = NULL; /* NULL entries are skipped */
	ka_pool_return_batch(a, v, n + 1);
	assert_int_equal(ka_pool_free_count(a), n);
	assert_int_equal(ka_stats(a)->cur_nb_allocs, 0);
	assert_int_equal(ka_stats(a)->nb_frees, n);
	/* LIFO across batches: the last returned comes back first */
	assert_int_equal(ka_pool_take_batch(a, w, 3), 3);
	assert_ptr_equal(w[0], v[n - 1]);
	assert_ptr_equal(w[1], v[n - 2]);
	assert_ptr_equal(w[2], v[n - 3]);
	ka_pool_return_batch(a, w, 3);
	assert_int_equal(ka_check(a), 0);
	free(v);
}

static void second_area(void **state)
{
	struct ka_alloc *a = ka_pool_create(heap, ka_pool_memsize(4, 64, 0), 64, 0);
	size_t n2;
	void *v[64];
	size_t k = 0;

	(void)state;
	assert_non_null(a);
	assert_int_equal(ka_add_memory(a, heap + 16, 4096), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, extra, 40), KA_EINVAL);
	assert_int_equal(ka_add_memory(a, extra, 2048), 0);
	assert_int_equal(ka_add_memory(a, extra + 100, 200), KA_EEXIST);
	n2 = ka_pool_total_count(a) - 4;
	assert_true(n2 > 10 && n2 < 64);
	assert_int_equal(P(a)->nareas, 2);
	while (k < 64 && (v[k] = ka_malloc(a, 64)) != NULL)
		k++;
	assert_int_equal(k, 4 + n2);
	assert_true((unsigned char *)v[3] < heap + HEAP_LEN); /* first area first */
	assert_true((unsigned char *)v[4] >= extra);
	assert_true(ka_owns(a, v[5]));
	assert_true(ka_owns(a, extra));
	assert_false(ka_owns(a, extra + 2048));
	assert_int_equal(ka_check(a), 0);
	for (size_t i = 0; i < k; i++)
		ka_free(a, v[k - 1 - i]);
	assert_int_equal(ka_pool_free_count(a), 4 + n2);
	assert_int_equal(ka_check(a), 0);
}

struct census {
	size_t used, free;
};

static int census_cb(void *ptr, size_t size, bool used, void *arg)
{
	struct census *c = arg;

	(void)ptr;
	(void)size;
	if (used)
		c->used++;
	else
		c->free++;
	return 0;
}

static void walk_counts(void **state)
{
	struct ka_alloc *a = mk(32, 0);
	struct census c = {0, 0};
	void *p[10];

	(void)state;
	for (int i = 0; i < 10; i++)
		p[i] = ka_malloc(a, 8);
	ka_free(a, p[4]);
	assert_int_equal(ka_walk(a, census_cb, &c), 0);
	assert_int_equal(c.used, 9);
	assert_int_equal(c.used + c.free, ka_pool_total_count(a));
}

/* ---- misuse ----------------------------------------------------------------------------- */

typedef void (*misuse_fn)(struct ka_alloc *a);

/* The allocator is made inside the child, so a misuse never touches the parent's heap. */
static void run_on_fresh(struct ka_alloc *unused, void *fnp)
{
	(void)unused;
	(*(misuse_fn *)fnp)(ka_pool_create(heap, HEAP_LEN, 64, 0));
}

static void expect_abort(misuse_fn fn)
{
	ka_test_expect_abort(run_on_fresh, NULL, &fn);
}

static void m_double_free(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 64);
	ka_free(a, p);
	ka_free(a, p);
}

static void m_double_free_nostats(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 64);
	a->flags |= KA_ALLOC_NOSTATS;
	ka_free(a, p);
	ka_free(a, p);
}

static void m_interior(struct ka_alloc *a)
{
	char *p = ka_malloc(a, 64);
	a->flags |= KA_ALLOC_NOSTATS;
	ka_free(a, p + 8);
}

static void m_foreign(struct ka_alloc *a)
{
	ka_free(a, extra + 64);
}

static void m_state(struct ka_alloc *a)
{
	ka_free(a, (char *)a + 16);
}

static void m_never_allocated(struct ka_alloc *a)
{
	char *p = ka_malloc(a, 64);
	ka_free(a, p + 5 * ka_pool_obj_size(a));
}

static void m_batch_double(struct ka_alloc *a)
{
	void *v[2];

	ka_pool_take_batch(a, v, 1);
	v[1] = v[0];
	ka_pool_return_batch(a, v, 2);
}

static void m_not_pool(struct ka_alloc *a)
{
	/* a pool query on an allocator with other ops */
	struct ka_alloc fake = {.ops = NULL, .name = "fake"};

	(void)a;
	ka_pool_free_count(&fake);
}

static void m_use_after_free(struct ka_alloc *a)
{
	void *p = ka_malloc(a, 64);
	ka_free(a, p);
	*(void **)p = (char *)p + 8; /* scribble on the free-list link */
	(void)ka_malloc(a, 64);
	(void)ka_malloc(a, 64);
}

static void misuse_detected(void **state)
{
	(void)state;
	expect_abort(m_double_free);
	expect_abort(m_double_free_nostats);
	expect_abort(m_interior);
	expect_abort(m_foreign);
	expect_abort(m_state);
	expect_abort(m_never_allocated);
	expect_abort(m_batch_double);
	expect_abort(m_not_pool);
	expect_abort(m_use_after_free);
}

/* ---- checker ---------------------------------------------------------------------------- */

static void checker_counts_corruption(void **state)
{
	struct ka_alloc *a = mk(64, 0);
	struct ka_pool_state *st = P(a);
	void *p[12], *save;

	(void)state;
	for (int i = 0; i < 12; i++)
		p[i] = ka_malloc(a, 64);
	for (int i = 0; i < 12; i += 3)
		ka_free(a, p[i]);
	assert_int_equal(ka_check(a), 0);

	st->nfree++;
	assert_int_equal(ka_check(a), 1);
	st->nfree--;

	save = *(void **)st->free;
	*(void **)st->free = (char *)p[1] + 8; /* link into the middle of an object */
	assert_int_equal(ka_check(a), 1);
	*(void **)st->free = save;

	save = *(void **)p[0]; /* p[0] is the last entry of the list */
	*(void **)p[0] = st->free;
	assert_int_equal(ka_check(a), 1); /* cycle */
	*(void **)p[0] = save;

	/* the list head marked live again: the entry, then the list is one too long */
	st->first.map[0] ^= (size_t)1 << 9; /* p[9], the most recently freed */
	assert_int_equal(ka_check(a), 2);
	st->first.map[0] ^= (size_t)1 << 9;

	st->first.bump = st->first.nobj + 1;
	assert_int_equal(ka_check(a), 1);
	st->first.bump = 12;

	st->bump_area = NULL;
	assert_int_equal(ka_check(a), 1);
	st->bump_area = &st->first;

	st->ntotal++;
	assert_int_equal(ka_check(a), 1);
	st->ntotal--;

	assert_int_equal(ka_check(a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(create_geometry),
	    cmocka_unit_test(memsize_exact),
	    cmocka_unit_test(lifo_and_limits),
	    cmocka_unit_test(exhaustion_and_counts),
	    cmocka_unit_test(batches),
	    cmocka_unit_test(second_area),
	    cmocka_unit_test(walk_counts),
	    cmocka_unit_test(misuse_detected),
	    cmocka_unit_test(checker_counts_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
