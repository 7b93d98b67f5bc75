/* SPDX-License-Identifier: MIT */
/*
 * Batches between the per-CPU cache and the global allocator: ka_global_alloc_batch() and
 * ka_global_free_batch() keep every figure exact (the global allocator's, its face's
 * statistics, the backend's blocks one by one), the checker green and the misuse checks of
 * a single free; ka_global_of() recognises a global allocator's face and nothing else; a
 * cache over the global allocator takes a batch on a miss and gives one back on an overflow
 * (so the global allocator sees the blocks come and go in groups), and its statistics, its
 * checker and its tags stay as exact as over any other allocator.
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
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kalloc/cache.h"
#include "kalloc/global.h"
#include "kalloc/lock.h"

#define NB 3000

static struct ka_global G;
static void *blk[NB];

static void init(const char *backend)
{
	struct ka_global_config gc = {backend, 0, 0};

	memset(&G, 0, sizeof(G));
	assert_int_equal(ka_global_init_hosted(&G, (size_t)256 << 20, &gc), 0);
}

static struct ka_global_stats gstats(void)
{
	struct ka_global_stats st;

	ka_global_stats(&G, &st);
	return st;
}

/* The face's statistics (what KALLOC_STATS prints) agree with the allocator's figures. */
static void figures_agree(void)
{
	struct ka_global_stats st = gstats();
	const struct ka_stats *s = ka_stats(ka_global_alloc_iface(&G));

	assert_int_equal(s->cur_nb_allocs, st.live_blocks);
	assert_int_equal(s->cur_mem_use, st.used_bytes);
	assert_int_equal(s->nb_allocs - s->nb_frees, st.live_blocks);
}

static void face_is_known(void **state)
{
	static struct ka_locked lk;
	size_t len = (size_t)1 << 20;
	void *heap = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(heap != MAP_FAILED);
	init("tlsf");
	assert_ptr_equal(ka_global_of(ka_global_alloc_iface(&G)), &G);
	assert_null(ka_global_of(NULL));
	/* A locking adapter that is not a global allocator's face, and a bare backend. */
	struct ka_alloc *tl = ka_backend_find("tlsf")->init(heap, len);
	assert_non_null(tl);
	assert_null(ka_global_of(tl));
	assert_null(ka_global_of(ka_locked_init(&lk, tl)));
	ka_global_destroy(&G);
	munmap(heap, len);
}

/* Every block of a batch is a live block of its own: distinct, aligned, disjoint, counted. */
static void batch_one(const char *backend, size_t size)
{
	struct ka_global_stats st0, st;
	size_t got = 0, sum = 0;

	init(backend);
	st0 = gstats();
	assert_int_equal(ka_global_alloc_batch(&G, size, blk, 0), 0);
	assert_int_equal(ka_global_alloc_batch(&G, 0, blk, 4), 0);
	assert_int_equal(ka_global_alloc_batch(&G, (size_t)1 << 30, blk, 4), 0);
	/* Several chunks' worth: each call maps a chunk at most for its first block, so some
	 * calls come back short, and none comes back empty. */
	while (got < NB) {
		size_t want = NB - got < 64 ? NB - got : 64;
		size_t n = ka_global_alloc_batch(&G, size, blk + got, want);

		assert_true(n >= 1 && n <= want);
		got += n;
	}
	for (size_t i = 0; i < NB; i++) {
		size_t u = ka_global_usable_size(&G, blk[i]);

		assert_true(((uintptr_t)blk[i] & (KA_CFG_MIN_ALIGN - 1)) == 0);
		assert_true(u >= size);
		sum += u;
		memset(blk[i], (int)(i & 0xff), size);
	}
	for (size_t i = 0; i < NB; i++)
		assert_int_equal(((unsigned char *)blk[i])[size - 1], i & 0xff); /* disjoint */
	st = gstats();
	assert_int_equal(st.live_blocks, st0.live_blocks + NB);
	assert_int_equal(st.used_bytes, st0.used_bytes + sum);
	if (size > 1000)
		assert_true(st.chunks > 1);
	assert_int_equal(ka_stats(ka_global_alloc_iface(&G))->nb_allocs, NB);
	figures_agree();
	assert_int_equal(ka_global_check(&G), 0);
	/* Half one by one, the rest in one batch across every chunk, which empties them. */
	for (size_t i = 0; i < NB; i += 2)
		ka_global_free(&G, blk[i]);
	for (size_t i = 1, j = 0; i < NB; i += 2)
		blk[j++] = blk[i];
	ka_global_free_batch(&G, blk, NB / 2);
	st = gstats();
	assert_int_equal(st.live_blocks, 0);
	assert_int_equal(st.used_bytes, 0);
	assert_int_equal(st.chunks, 1); /* one empty chunk kept (keep_empty) */
	assert_int_equal(ka_stats(ka_global_alloc_iface(&G))->nb_frees, NB);
	figures_agree();
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
}

static void batch_backends(void **state)
{
	static const char *const names[] = {"tlsf", "slab", "buddy", "tiny"};

	(void)state;
	for (size_t b = 0; b < sizeof(names) / sizeof(names[0]); b++) {
		if (!ka_backend_find(names[b]))
			continue;
		batch_one(names[b], 80);
		batch_one(names[b], 1040);
	}
}

/* A batch free of a pointer the allocator did not hand out stops like ka_global_free(). */
static void batch_free_misuse(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		static long not_ours[8];
		void *v[2];

		if (fd >= 0)
			dup2(fd, 2);
		alarm(10);
		init("tlsf");
		assert_int_equal(ka_global_owns_table(&G), 0);
		if (ka_global_alloc_batch(&G, 64, v, 1) != 1)
			_exit(3);
		v[1] = &not_ours[2];
		ka_global_free_batch(&G, v, 2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

static struct ka_alloc *make_cache(void *mem, size_t len, unsigned flags)
{
	struct ka_cache_config cfg = {1, 32, 1, 1024, flags};

	assert_true(ka_cache_memsize(0, &cfg) <= len);
	return ka_cache_init(mem, len, ka_global_alloc_iface(&G), &cfg);
}

/* One miss takes a quarter magazine (8 of 32 blocks) in one batch; an overflow (both
 * magazines and the depot's one full: 96 blocks) gives 8 back in one batch. */
static void cache_refill_flush(unsigned flags)
{
	size_t len = (size_t)1 << 20;
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ka_alloc *c;
	const struct ka_stats *s;

	assert_true(mem != MAP_FAILED);
	init("tlsf");
	c = make_cache(mem, len, flags);
	assert_non_null(c);
	blk[0] = ka_malloc(c, 64);
	assert_non_null(blk[0]);
	assert_int_equal(gstats().live_blocks, 8);
	assert_int_equal(ka_cache_held(c), 7);
	for (size_t i = 1; i < 8; i++)
		blk[i] = ka_malloc(c, 64);
	assert_int_equal(gstats().live_blocks, 8);
	assert_int_equal(ka_cache_held(c), 0);
	blk[8] = ka_malloc(c, 64);
	assert_int_equal(gstats().live_blocks, 16);
	for (size_t i = 9; i < 200; i++)
		blk[i] = ka_malloc(c, 64);
	assert_int_equal(gstats().live_blocks, 200);
	assert_int_equal(ka_cache_held(c), 0);
	assert_int_equal(ka_check(c), 0);
	/* 96 frees fill the cache; the 97th gives 8 back and keeps itself. */
	for (size_t i = 0; i < 96; i++)
		ka_free(c, blk[i]);
	assert_int_equal(ka_cache_held(c), 96);
	assert_int_equal(gstats().live_blocks, 200);
	ka_free(c, blk[96]);
	assert_int_equal(ka_cache_held(c), 89);
	assert_int_equal(gstats().live_blocks, 192);
	for (size_t i = 97; i < 200; i++)
		ka_free(c, blk[i]);
	assert_true(ka_cache_held(c) <= 96);
	assert_int_equal(gstats().live_blocks, ka_cache_held(c));
	s = ka_cache_stats(c);
	assert_int_equal(s->nb_allocs, 200);
	assert_int_equal(s->nb_frees, 200);
	assert_int_equal(s->cur_nb_allocs, 0);
	assert_int_equal(s->cur_mem_use, 0);
	assert_int_equal(ka_check(c), 0);
	figures_agree();
	/* Reused after the flushes: still exact. */
	for (size_t i = 0; i < 150; i++)
		blk[i] = ka_malloc(c, 1 + (i * 37) % 1024);
	s = ka_cache_stats(c);
	assert_int_equal(s->cur_nb_allocs, 150);
	assert_int_equal(ka_check(c), 0);
	for (size_t i = 0; i < 150; i++)
		ka_free(c, blk[i]);
	ka_cache_flush(c);
	assert_int_equal(ka_cache_held(c), 0);
	assert_int_equal(gstats().live_blocks, 0);
	assert_int_equal(ka_cache_stats(c)->cur_nb_allocs, 0);
	figures_agree();
	assert_int_equal(ka_global_check(&G), 0);
	ka_global_destroy(&G);
	munmap(mem, len);
}

static void cache_batches(void **state)
{
	(void)state;
	/* Under a memory checker the cache makes no batches (cache.c): nothing to count. */
	if (KA_CFG_ANNOTATE)
		return;
	cache_refill_flush(0);
	cache_refill_flush(KA_CACHE_PERCPU_STATS);
	cache_refill_flush(KA_CACHE_PERCPU_STATS | KA_CACHE_TAGS);
}

/* Tags over the global allocator (the refilled blocks carry theirs: cache_batches pops them
 * with tags on, and the checker reads them): a write after free is reported when the block
 * leaves the magazine again; a double free of a block that a batch flush gave back is still
 * refused (by its tag, or by its header, which the backend's free may have reused). */
static void tag_child(int bug)
{
	size_t len = (size_t)1 << 20;
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t pid;
	int st;

	assert_true(mem != MAP_FAILED);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 2);
		alarm(10);
		init("tlsf");
		struct ka_alloc *c = make_cache(mem, len, KA_CACHE_PERCPU_STATS | KA_CACHE_TAGS);
		unsigned char *p = ka_malloc(c, 48), *q;

		if (!c || !p)
			_exit(3);
		switch (bug) {
		case 0:
			q = KA_CACHE_INLINE ? ka_cache_try_malloc(c, 48) : ka_malloc(c, 48);
			if (!q)
				_exit(4);
			ka_free(c, q);
			q[9] ^= 1; /* write after free */
			(void)ka_malloc(c, 48);
			break;
		case 1:
			ka_free(c, p);
			if (ka_check(c) != 0)
				_exit(5);
			ka_cache_flush(c); /* p goes back to the global allocator, tagged */
			ka_free(c, p);	   /* double free */
			break;
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	munmap(mem, len);
}

static void cache_tags(void **state)
{
	(void)state;
	tag_child(0);
	tag_child(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(face_is_known),	 cmocka_unit_test(batch_backends),
	    cmocka_unit_test(batch_free_misuse), cmocka_unit_test(cache_batches),
	    cmocka_unit_test(cache_tags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
