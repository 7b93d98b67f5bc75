/* SPDX-License-Identifier: MIT */
/*
 * The global allocator over the platform page source (the hosted path): growth and
 * shrinking by chunks, large blocks, out-of-memory with the heap intact and the hook's
 * retry, statistics, realloc across chunk kinds, page allocations, and misuse detection.
 * Every case runs over each byte backend of the build (tlsf, slab, buddy, tiny).
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

#include "global/global_priv.h"
#include "gsim.h"

static struct ka_global G;
static size_t CHUNK; /* chunk size of the current case */

/* 64 KiB chunks (growth after a few dozen blocks), or the least the backend accepts. */
static unsigned shift_for(const char *backend)
{
	unsigned shift = 16;

	while (ka_backend_find(backend)->min_size > ((size_t)1 << shift) - KA_GCHUNK_HDR)
		shift++;
	return shift;
}

/* A global allocator over the platform source, capped at `nchunks` chunks (0: no cap). */
static void init_hosted(const char *backend, size_t nchunks)
{
	struct ka_global_config cfg = {backend, shift_for(backend), 0};

	CHUNK = (size_t)1 << cfg.chunk_shift;
	assert_int_equal(ka_global_init_hosted(&G, nchunks * CHUNK, &cfg), 0);
	assert_string_equal(ka_global_name(&G), backend);
	assert_int_equal(G.chunk_size, CHUNK);
}

static void fill(void *p, size_t n, unsigned seed)
{
	unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)(seed + i * 7);
}

static bool intact(const void *p, size_t n, unsigned seed)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != (unsigned char)(seed + i * 7))
			return false;
	return true;
}

#define MAXB 4096
static void *blocks[MAXB];

/* Grows chunk by chunk as blocks pile up, then gives every chunk but one back. */
static void test_grow_shrink(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		struct ka_global_stats st;
		size_t n = 0;

		init_hosted(*b, 0);
		ka_global_stats(&G, &st);
		assert_int_equal(st.chunks, 1); /* the first chunk is mapped at init */
		assert_int_equal(st.used_pages, CHUNK / KA_PAGE_SIZE);
		while (n < MAXB) {
			blocks[n] = ka_global_alloc(&G, 1000, 16);
			assert_non_null(blocks[n]);
			fill(blocks[n], 1000, (unsigned)n);
			n++;
			ka_global_stats(&G, &st);
			if (st.chunks >= 5)
				break;
		}
		assert_true(st.chunks >= 5);
		assert_int_equal(st.chunks_mapped, st.chunks);
		assert_int_equal(st.large_blocks, 0);
		/* Every block lives in a sub-heap chunk found by masking the pointer. */
		for (size_t i = 0; i < n; i++) {
			struct ka_gchunk *c = ka_gchunk_of(&G, blocks[i]);
			assert_int_equal(c->kind, KA_GCHUNK_HEAP);
			assert_ptr_equal(c->owner, &G);
			assert_true(intact(blocks[i], 1000, (unsigned)i));
		}
		assert_int_equal(ka_global_check(&G), 0);
		/* Room freed in an old, full chunk is found again before the heap grows (its
		 * miss hint is reset by the frees). */
		{
			struct ka_gchunk *old = ka_gchunk_of(&G, blocks[0]);
			uint64_t mapped = st.chunks_mapped;
			size_t k = 0;

			assert_ptr_not_equal(old, G.cur);
			for (size_t i = 1; i < n; i++) {
				if (blocks[i] && ka_gchunk_of(&G, blocks[i]) == old) {
					ka_global_free(&G, blocks[i]);
					blocks[i] = NULL;
					k++;
				}
			}
			assert_true(k > 10);
			for (size_t i = 1; i < n; i++) {
				if (!blocks[i]) {
					blocks[i] = ka_global_alloc(&G, 1000, 16);
					assert_non_null(blocks[i]);
					fill(blocks[i], 1000, (unsigned)i);
				}
			}
			ka_global_stats(&G, &st);
			assert_int_equal(st.chunks_mapped, mapped);
			assert_int_equal(ka_global_check(&G), 0);
		}
		for (size_t i = 0; i < n; i++)
			ka_global_free(&G, blocks[i]);
		ka_global_stats(&G, &st);
		assert_int_equal(st.chunks, 1); /* one empty chunk stays cached */
		assert_int_equal(st.chunks_released, st.chunks_mapped - 1);
		assert_int_equal(st.used_bytes, 0);
		assert_int_equal(st.used_pages, CHUNK / KA_PAGE_SIZE);
		assert_int_equal(G.src->used_pages, CHUNK / KA_PAGE_SIZE);
		assert_int_equal(ka_global_check(&G), 0);
		ka_global_destroy(&G);
		assert_int_equal(G.src->used_pages, 0);
	}
}

/* Large requests and large alignments bypass the sub-heaps, and come back on free. */
static void test_large(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		struct ka_global_stats st;
		void *p, *q, *r;

		init_hosted(*b, 0);
		p = ka_global_alloc(&G, 1u << 20, 16);
		assert_non_null(p);
		assert_true(ka_global_usable_size(&G, p) >= (1u << 20));
		assert_int_equal(ka_gchunk_of(&G, p)->kind, KA_GCHUNK_LARGE);
		fill(p, 1u << 20, 3);
		q = ka_global_alloc(&G, 100, 8 * KA_PAGE_SIZE); /* alignment above a page */
		assert_non_null(q);
		assert_int_equal((uintptr_t)q & (8 * KA_PAGE_SIZE - 1), 0);
		r = ka_global_alloc(&G, 5000, 4 * CHUNK); /* alignment above the chunk size */
		assert_non_null(r);
		assert_int_equal((uintptr_t)r & (4 * CHUNK - 1), 0);
		fill(r, 5000, 9);
		ka_global_stats(&G, &st);
		assert_int_equal(st.large_blocks, 3);
		assert_true(ka_owns(ka_global_alloc_iface(&G), (char *)p + 12345));
		assert_int_equal(ka_global_check(&G), 0);
		assert_true(intact(p, 1u << 20, 3) && intact(r, 5000, 9));
		ka_global_free(&G, p);
		ka_global_free(&G, q);
		ka_global_free(&G, r);
		ka_global_stats(&G, &st);
		assert_int_equal(st.large_blocks, 0);
		/* Freed large blocks may stay mapped for reuse (ka_global_set_keep_large). */
		assert_int_equal(st.used_pages, CHUNK / KA_PAGE_SIZE + st.idle_large_pages);
		ka_global_set_keep_large(&G, 0);
		ka_global_stats(&G, &st);
		assert_int_equal(st.used_pages, CHUNK / KA_PAGE_SIZE);
		assert_int_equal(ka_global_check(&G), 0);
		ka_global_destroy(&G);
	}
}

/* Out of memory under a cap: NULL, heap intact and checkable, memory reusable after. */
static void test_oom_intact(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		struct ka_alloc *a;
		size_t n = 0, n2 = 0;

		init_hosted(*b, 8);
		a = ka_global_alloc_iface(&G);
		while (n < MAXB && (blocks[n] = ka_malloc(a, 3000)) != NULL) {
			fill(blocks[n], 3000, (unsigned)n);
			n++;
		}
		assert_true(n > 0 && n < MAXB);
		assert_null(ka_malloc(a, 3000));
		assert_null(ka_malloc(a, 10 * CHUNK)); /* large path fails too */
		assert_true(ka_stats(a)->nb_enomem >= 2);
		assert_int_equal(ka_check(a), 0);
		for (size_t i = 0; i < n; i++)
			assert_true(intact(blocks[i], 3000, (unsigned)i));
		for (size_t i = 0; i < n; i += 2)
			ka_free(a, blocks[i]);
		assert_int_equal(ka_check(a), 0);
		for (size_t i = 1; i < n; i += 2)
			ka_free(a, blocks[i]);
		assert_int_equal(ka_stats(a)->cur_nb_allocs, 0);
		while (n2 < MAXB && (blocks[n2] = ka_malloc(a, 3000)) != NULL)
			n2++;
		assert_int_equal(n2, n);
		for (size_t i = 0; i < n2; i++)
			ka_free(a, blocks[i]);
		assert_int_equal(ka_check(a), 0);
		ka_global_destroy(&G);
	}
}

struct oom_ctx {
	unsigned calls;
	size_t last_size;
	void *reserve; /* a block the hook frees to make room */
};

/* The hook runs without the allocator's lock: freeing through the allocator here would
 * deadlock otherwise. */
static void oom_release_reserve(struct ka_global *g, size_t size, void *arg)
{
	struct oom_ctx *c = arg;

	c->calls++;
	c->last_size = size;
	if (c->reserve) {
		ka_global_free(g, c->reserve);
		c->reserve = NULL;
	}
}

static void test_oom_hook_retry(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		struct oom_ctx ctx = {0, 0, NULL};
		size_t n = 0;
		void *p;

		init_hosted(*b, 6);
		ctx.reserve = ka_global_alloc(&G, 2 * CHUNK, 16); /* large: 2 chunks + a page */
		assert_non_null(ctx.reserve);
		ka_global_set_oom_hook(&G, oom_release_reserve, &ctx);
		while (n < MAXB && (blocks[n] = ka_global_alloc(&G, 2000, 16)) != NULL) {
			n++;
			if (ctx.calls)
				break;
		}
		/* The first failure called the hook, which freed the reserve; the retry worked. */
		assert_int_equal(ctx.calls, 1);
		assert_int_equal(ctx.last_size, 2000);
		assert_null(ctx.reserve);
		assert_non_null(blocks[n - 1]);
		while (n < MAXB && (blocks[n] = ka_global_alloc(&G, 2000, 16)) != NULL)
			n++;
		assert_true(ctx.calls >= 2); /* a hook with nothing to give: NULL after retry */
		assert_int_equal(ka_global_check(&G), 0);
		p = ka_global_alloc_pages(&G, 64, KA_PAGE_SIZE);
		assert_null(p);
		for (size_t i = 0; i < n; i++)
			ka_global_free(&G, blocks[i]);
		assert_int_equal(ka_global_check(&G), 0);
		ka_global_destroy(&G);
	}
}

/* Statistics: used bytes follow the usable sizes, available bytes and pages move. */
static void test_stats(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		struct ka_global_stats s0, s1;
		size_t sum = 0, sub_used;
		void *pg;

		init_hosted(*b, 64);
		ka_global_stats(&G, &s0);
		assert_string_equal(s0.backend, *b);
		assert_int_equal(s0.used_bytes, 0);
		assert_int_equal(s0.chunk_size, CHUNK);
		assert_int_equal(s0.avail_pages, 63 * CHUNK / KA_PAGE_SIZE);
		for (size_t i = 0; i < 50; i++) {
			blocks[i] = ka_global_alloc(&G, 10 + i * 53, 16);
			assert_non_null(blocks[i]);
			sum += ka_global_usable_size(&G, blocks[i]);
		}
		sub_used = sum;
		blocks[50] = ka_global_alloc(&G, CHUNK, 16); /* above the threshold */
		sum += ka_global_usable_size(&G, blocks[50]);
		pg = ka_global_alloc_pages(&G, 3, KA_PAGE_SIZE);
		assert_non_null(pg);
		ka_global_stats(&G, &s1);
		assert_int_equal(s1.used_bytes, sum);
		assert_true(s1.avail_bytes + sub_used <= s1.chunks * CHUNK);
		assert_true(s0.avail_bytes <= s0.chunks * CHUNK);
		assert_int_equal(s1.page_pages, 3);
		assert_int_equal(s1.large_blocks, 1);
		assert_true(s1.used_pages >= s0.used_pages + 3 + CHUNK / KA_PAGE_SIZE);
		assert_int_equal(s1.used_pages + s1.avail_pages, 64 * CHUNK / KA_PAGE_SIZE);
		for (size_t i = 0; i <= 50; i++)
			ka_global_free(&G, blocks[i]);
		ka_global_free_pages(&G, pg, 3);
		ka_global_stats(&G, &s1);
		assert_int_equal(s1.used_bytes, 0);
		assert_int_equal(s1.page_pages, 0);
		assert_int_equal(s1.used_pages, s0.used_pages + s1.idle_large_pages);
		ka_global_set_keep_large(&G, 0);
		ka_global_stats(&G, &s1);
		assert_int_equal(s1.used_pages, s0.used_pages);
		assert_int_equal(ka_global_check(&G), 0);
		ka_global_destroy(&G);
	}
}

/* Sum of the sub-heaps' own free bytes, asked of each backend: what avail_bytes must be. */
static size_t heaps_avail(void)
{
	size_t sum = 0;

	for (struct ka_gchunk *c = G.heaps; c; c = c->next) {
		struct ka_info i;

		c->heap->ops->info(c->heap, &i);
		sum += i.avail;
	}
	return sum;
}

/* After a random workload (mallocs of all sizes, large blocks, frees, reallocs) the O(1)
 * figures equal a shadow count kept by the test, exactly, at every step. */
static void test_stats_shadow(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		static size_t sizes[MAXB];
		size_t shadow_bytes = 0, shadow_blocks = 0;
		unsigned rng = 12345;
		struct ka_global_stats st;

		init_hosted(*b, 0);
		memset(blocks, 0, sizeof(blocks));
		for (unsigned step = 0; step < 20000; step++) {
			size_t i, n;

			rng = rng * 1103515245u + 12345u;
			i = (rng >> 8) % 512;
			n = (rng >> 3) % 97 == 0 ? CHUNK + (rng & 0xffff)
						 : 1 + ((rng >> 12) % 3000);
			if (!blocks[i]) {
				blocks[i] = ka_global_alloc(&G, n, (rng & 3) == 0 ? 64 : 16);
				assert_non_null(blocks[i]);
				sizes[i] = ka_global_usable_size(&G, blocks[i]);
				shadow_bytes += sizes[i];
				shadow_blocks++;
			} else if ((rng >> 20) & 1) {
				void *q = ka_realloc(ka_global_alloc_iface(&G), blocks[i], n);

				assert_non_null(q);
				shadow_bytes -= sizes[i];
				blocks[i] = q;
				sizes[i] = ka_global_usable_size(&G, q);
				shadow_bytes += sizes[i];
			} else {
				ka_global_free(&G, blocks[i]);
				blocks[i] = NULL;
				shadow_bytes -= sizes[i];
				shadow_blocks--;
			}
			if (step % 1000 == 0 || step == 19999) {
				ka_global_stats(&G, &st);
				assert_int_equal(st.used_bytes, shadow_bytes);
				assert_int_equal(st.live_blocks, shadow_blocks);
				assert_int_equal(st.avail_bytes, heaps_avail());
				assert_int_equal(st.chunks, G.nheaps);
			}
		}
		assert_int_equal(ka_global_check(&G), 0);
		for (size_t i = 0; i < 512; i++)
			ka_global_free(&G, blocks[i]);
		ka_global_stats(&G, &st);
		assert_int_equal(st.used_bytes, 0);
		assert_int_equal(st.live_blocks, 0);
		assert_int_equal(st.large_blocks, 0);
		assert_int_equal(st.avail_bytes, heaps_avail());
		assert_int_equal(ka_global_check(&G), 0);
		ka_global_destroy(&G);
	}
}

/* Every sub-heap's ops are replaced by a copy whose walk counts its calls: statistics
 * queries (ka_global_stats, ka_stats) must not walk, also with the core marked
 * KA_ALLOC_NOSTATS as the LD_PRELOAD shim marks it (its mallinfo2, malloc_trim and exit
 * report read ka_global_stats); the checker, which does walk, proves the counter works. */
static unsigned walk_calls;
static int (*real_walk)(struct ka_alloc *, ka_walk_fn, void *);
static int counting_walk(struct ka_alloc *a, ka_walk_fn fn, void *arg)
{
	walk_calls++;
	return real_walk(a, fn, arg);
}

static void test_stats_never_walk(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		static struct ka_alloc_ops spy;
		struct ka_global_stats st;
		size_t live = 0;

		init_hosted(*b, 0);
		ka_locked_inner(&G.locked)->flags |= KA_ALLOC_NOSTATS;
		for (size_t i = 0; i < 400; i++) {
			blocks[i] = ka_global_alloc(&G, 100 + i * 37, 16);
			assert_non_null(blocks[i]);
		}
		assert_true(G.nheaps >= 2);
		spy = *G.heaps->heap->ops;
		real_walk = spy.walk;
		if (!real_walk) {
			ka_global_destroy(&G);
			continue;
		}
		spy.walk = counting_walk;
		for (struct ka_gchunk *c = G.heaps; c; c = c->next)
			c->heap->ops = &spy;
		walk_calls = 0;
		for (size_t i = 0; i < 400; i += 2) {
			ka_global_free(&G, blocks[i]);
			ka_global_stats(&G, &st);
			(void)ka_stats(ka_global_alloc_iface(&G));
		}
		assert_int_equal(walk_calls, 0);
		for (size_t i = 1; i < 400; i += 2)
			live++;
		assert_int_equal(st.live_blocks, live);
		assert_int_equal(ka_global_check(&G), 0);
		assert_true(walk_calls >= G.nheaps);
		ka_global_destroy(&G);
	}
}

/* realloc keeps the contents while blocks move between sub-heaps and large blocks. */
static void test_realloc_moves(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		struct ka_alloc *a;
		void *p;

		init_hosted(*b, 0);
		a = ka_global_alloc_iface(&G);
		p = ka_malloc(a, 100);
		fill(p, 100, 1);
		p = ka_realloc(a, p, 3000);
		assert_non_null(p);
		assert_true(intact(p, 100, 1));
		fill(p, 3000, 2);
		p = ka_realloc(a, p, 500000); /* to a large block */
		assert_non_null(p);
		assert_int_equal(ka_gchunk_of(&G, p)->kind, KA_GCHUNK_LARGE);
		assert_true(intact(p, 3000, 2));
		fill(p, 500000, 4);
		p = ka_realloc(a, p, 400000); /* stays in place: fits, not half empty */
		assert_true(intact(p, 400000, 4));
		p = ka_realloc(a, p, 200); /* back to a sub-heap */
		assert_non_null(p);
		assert_int_equal(ka_gchunk_of(&G, p)->kind, KA_GCHUNK_HEAP);
		assert_true(intact(p, 200, 4));
		assert_int_equal(ka_check(a), 0);
		ka_free(a, p);
		assert_int_equal(ka_stats(a)->cur_nb_allocs, 0);
		assert_int_equal(ka_check(a), 0);
		ka_global_destroy(&G);
	}
}

/* Page allocations: aligned, counted, given back. */
static void test_pages(void **state)
{
	(void)state;
	init_hosted(gsim_byte_backends()[0], 0);
	void *p = ka_global_alloc_pages(&G, 5, 16 * KA_PAGE_SIZE);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p & (16 * KA_PAGE_SIZE - 1), 0);
	memset(p, 0x5a, 5 * KA_PAGE_SIZE);
	assert_null(ka_global_alloc_pages(&G, 0, KA_PAGE_SIZE));
	assert_null(ka_global_alloc_pages(&G, 1, 3 * KA_PAGE_SIZE));
	ka_global_free_pages(&G, p, 5);
	assert_int_equal(G.page_pages, 0);
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
}

/* Bad configurations are refused. */
static void test_init_refusals(void **state)
{
	struct ka_global_config bad_name = {"no-such-backend", 0, 0};
	struct ka_global_config tiny_chunk = {NULL, KA_CFG_PAGE_SHIFT + 1, 0};
	struct ka_global_config small_chunk = {"slab", 16, 0}; /* below slab's minimum heap */
	struct ka_plat_source ps;

	(void)state;
	assert_int_equal(ka_global_init_hosted(&G, 0, &bad_name), KA_ENOENT);
	assert_int_equal(ka_global_init_hosted(&G, 0, &tiny_chunk), KA_EINVAL);
	if (ka_backend_find("slab"))
		assert_int_equal(ka_global_init_hosted(&G, 0, &small_chunk), KA_EINVAL);
	assert_int_equal(ka_global_init(&G, NULL, NULL), KA_EINVAL);
	assert_int_equal(ka_global_init(NULL, ka_plat_source_init(&ps, 0), NULL), KA_EINVAL);
	/* The default backend (NULL name) works. */
	assert_int_equal(ka_global_init_hosted(&G, 0, NULL), 0);
	assert_string_equal(ka_global_name(&G), ka_backend_default()->name);
	assert_true(G.chunk_size >= (size_t)1 << KA_CFG_GLOBAL_CHUNK_SHIFT);
	ka_global_destroy(&G);
	/* Platform sources take no regions. */
	init_hosted(gsim_byte_backends()[0], 0);
	static char region[1 << 16];
	assert_int_equal(ka_global_add_memory(&G, region, sizeof(region)), KA_ENOTSUP);
	ka_global_destroy(&G);
}

/* Misuse panics (SIGABRT) in a child: foreign pointer, interior pointer of a large block,
 * double free inside a sub-heap. */
static void expect_abort(void (*fn)(void))
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", 1);
		if (devnull >= 0)
			dup2(devnull, 2);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

static void free_foreign(void)
{
	/* Mapped memory that is not the allocator's: the candidate header is readable. */
	char *m = mmap(NULL, 4 * CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *aligned = (char *)(((uintptr_t)m + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1));
	ka_global_free(&G, aligned + 256);
}

static void free_interior(void)
{
	char *p = ka_global_alloc(&G, 300000, 16);
	ka_global_free(&G, p + 64);
}

static void free_twice(void)
{
	void *p = ka_global_alloc(&G, 64, 16);
	void *keep = ka_global_alloc(&G, 64, 16); /* keeps the chunk from being released */
	(void)keep;
	ka_global_free(&G, p);
	ka_global_free(&G, p);
}

static void test_misuse(void **state)
{
	(void)state;
	for (const char *const *b = gsim_byte_backends(); *b; b++) {
		init_hosted(*b, 0);
		expect_abort(free_foreign);
		expect_abort(free_interior);
		expect_abort(free_twice);
		ka_global_destroy(&G);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grow_shrink),
	    cmocka_unit_test(test_large),
	    cmocka_unit_test(test_oom_intact),
	    cmocka_unit_test(test_oom_hook_retry),
	    cmocka_unit_test(test_stats),
	    cmocka_unit_test(test_realloc_moves),
	    cmocka_unit_test(test_pages),
	    cmocka_unit_test(test_init_refusals),
	    cmocka_unit_test(test_misuse),
	    cmocka_unit_test(test_stats_shadow),
	    cmocka_unit_test(test_stats_never_walk),
	};

	if (!gsim_byte_backends()[0]) {
		fprintf(stderr, "no byte backend to test the global allocator with\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
