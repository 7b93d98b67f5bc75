/* SPDX-License-Identifier: MIT */
/*
 * Concurrency: 4 threads hammer the (locked) global allocator with random malloc, free,
 * realloc, page allocations and large blocks, verifying fill patterns, while the chunks
 * come and go; a fifth reads statistics and memory figures under the lock (the checker runs
 * after the threads: it may read live blocks' bytes, see kalloc/lock.h). Then the same over the
 * plain locking adapter around one backend, whose rescue function adds a region (once) when the
 * threads exhaust it. Meant to run under ThreadSanitizer too (-DKA_SANITIZE=thread).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gsim.h"
#include "kalloc/lock.h"

#define NTHREADS 4
#define SLOTS	 128
#define OPS	 6000

static struct ka_global G;
static struct ka_alloc *A; /* what the threads use */
static bool use_global;	   /* A is G's face: also exercise pages and large blocks */
static volatile int stop_reader;

struct slot {
	unsigned char *p;
	size_t n;
	size_t pages; /* non-zero: from ka_palloc */
	unsigned char seed;
};

struct worker {
	unsigned id;
	uint64_t rng;
	unsigned failures; /* pattern mismatches */
	unsigned enomem;
	struct slot s[SLOTS];
};

static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void put(struct slot *s, unsigned char seed)
{
	s->seed = seed;
	for (size_t i = 0; i + 1 < s->n; i += 61)
		s->p[i] = (unsigned char)(seed + i);
	s->p[s->n - 1] = seed;
}

static bool ok(const struct slot *s)
{
	for (size_t i = 0; i + 1 < s->n; i += 61)
		if (s->p[i] != (unsigned char)(s->seed + i))
			return false;
	return s->p[s->n - 1] == s->seed;
}

static void release(struct slot *s)
{
	if (s->pages)
		ka_pfree(A, s->p, s->pages);
	else
		ka_free(A, s->p);
	s->p = NULL;
	s->pages = 0;
}

static size_t pick_size(struct worker *w)
{
	uint64_t r = next(&w->rng) % 1000;

	if (use_global && r < 10)
		return 70000 + (size_t)(next(&w->rng) % 200000); /* large block */
	if (r < 100)
		return 2048 + (size_t)(next(&w->rng) % 6000);
	return 1 + (size_t)(next(&w->rng) % 512);
}

static void *work(void *arg)
{
	struct worker *w = arg;

	for (unsigned op = 0; op < OPS; op++) {
		struct slot *s = &w->s[next(&w->rng) % SLOTS];
		unsigned kind = (unsigned)(next(&w->rng) % 10);

		if (s->p && !ok(s))
			w->failures++;
		if (s->p && kind < 2 && !s->pages) {
			size_t n = pick_size(w);
			unsigned char *q = ka_realloc(A, s->p, n);
			if (!q) {
				w->enomem++;
				continue;
			}
			size_t keep = n < s->n ? n : s->n;
			for (size_t i = 0; i + 1 < keep; i += 61)
				if (q[i] != (unsigned char)(s->seed + i))
					w->failures++;
			s->p = q;
			s->n = n;
			put(s, (unsigned char)(w->id * 31 + op));
		} else if (s->p) {
			release(s);
		} else if (use_global && kind == 9) {
			size_t np = 1 + (size_t)(next(&w->rng) % 4);
			s->p = ka_palloc(A, np);
			if (!s->p) {
				w->enomem++;
				continue;
			}
			s->pages = np;
			s->n = np * KA_PAGE_SIZE;
			put(s, (unsigned char)(w->id * 31 + op));
		} else {
			s->n = pick_size(w);
			s->p = ka_malloc(A, s->n);
			if (!s->p) {
				w->enomem++;
				continue;
			}
			put(s, (unsigned char)(w->id * 31 + op));
		}
	}
	for (unsigned i = 0; i < SLOTS; i++) {
		if (w->s[i].p) {
			if (!ok(&w->s[i]))
				w->failures++;
			release(&w->s[i]);
		}
	}
	return NULL;
}

static unsigned reader_checks;

static void *reader(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop_reader, __ATOMIC_ACQUIRE)) {
		struct ka_stats st;
		struct ka_info info;

		if (use_global) {
			struct ka_global_stats gs;
			ka_global_stats(&G, &gs);
			if (gs.chunks > 1000)
				abort();
		}
		ka_locked_stats((struct ka_locked *)(void *)A, &st);
		/* Figures only: a checker may read live blocks' bytes (slab reads a mark in
		 * every object), which would race with the workers writing their blocks. */
		ka_info(A, &info);
		if (info.avail > info.total || st.cur_nb_allocs > NTHREADS * SLOTS)
			reader_checks++;
		sched_yield();
	}
	return NULL;
}

static void run_threads(unsigned *failures, unsigned *enomem)
{
	static struct worker w[NTHREADS];
	pthread_t t[NTHREADS], r;

	stop_reader = 0;
	reader_checks = 0;
	assert_int_equal(pthread_create(&r, NULL, reader, NULL), 0);
	for (unsigned i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i;
		w[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	*failures = *enomem = 0;
	for (unsigned i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		*failures += w[i].failures;
		*enomem += w[i].enomem;
	}
	__atomic_store_n(&stop_reader, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(r, NULL), 0);
	assert_int_equal(reader_checks, 0);
}

static void test_global_threads(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		struct ka_global_config cfg = {*b, 0, 0};
		struct ka_global_stats gs;
		unsigned failures, enomem;

		/* Small chunks for the backends that allow them, so chunks churn. */
		if (ka_backend_find(*b)->min_size < 60000)
			cfg.chunk_shift = 16;
		assert_int_equal(ka_global_init_hosted(&G, 0, &cfg), 0);
		A = ka_global_alloc_iface(&G);
		use_global = true;
		run_threads(&failures, &enomem);
		assert_int_equal(failures, 0);
		assert_int_equal(enomem, 0);
		ka_global_stats(&G, &gs);
		assert_int_equal(gs.used_bytes, 0);
		assert_int_equal(gs.large_blocks, 0);
		assert_int_equal(gs.page_pages, 0);
		assert_int_equal(gs.chunks, 1);
		assert_true(gs.chunks_released > 0);
		assert_int_equal(ka_stats(A)->cur_nb_allocs, 0);
		assert_int_equal(ka_global_check(&G), 0);
		ka_global_destroy(&G);
	}
}

/* The rescue runs concurrently in every thread that fails: add the spare region once. */
static struct ka_locked L;
static void *spare;
static size_t spare_len;
static int rescued;

static void add_spare(struct ka_alloc *a, size_t size, size_t align, void *arg)
{
	(void)size;
	(void)align;
	(void)arg;
	if (__atomic_exchange_n(&rescued, 1, __ATOMIC_ACQ_REL) == 0)
		assert_int_equal(ka_add_memory(a, spare, spare_len), 0);
}

static void test_locked_backend_rescue(void **state)
{
	const char *name = ka_backend_find("tlsf") ? "tlsf" : gsim_byte_backends()[0];
	const struct ka_backend *b = ka_backend_find(name);
	size_t len = (size_t)1 << 20;
	unsigned failures, enomem;
	char *mem;

	(void)state;
	if (!(b->caps & KA_CAP_ADDMEM))
		skip();
	mem = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(mem != MAP_FAILED);
	spare = mem + len;
	spare_len = len;
	rescued = 0;
	/* 64 KiB: the threads' peak (4 x 128 slots, some of several KiB) exceeds it. */
	A = ka_locked_init(&L, b->init(mem, len / 16));
	assert_non_null(A);
	ka_locked_set_rescue(&L, add_spare, NULL);
	assert_int_equal(A->ops->caps, b->caps);
	use_global = false;
	run_threads(&failures, &enomem);
	assert_int_equal(failures, 0);
	assert_int_equal(rescued, 1);
	assert_int_equal(ka_stats(A)->cur_nb_allocs, 0);
	assert_int_equal(ka_stats(A)->nb_enomem, enomem);
	assert_int_equal(ka_check(A), 0);
	munmap(mem, 2 * len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_global_threads),
	    cmocka_unit_test(test_locked_backend_rescue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
