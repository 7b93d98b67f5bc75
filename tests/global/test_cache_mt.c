/* SPDX-License-Identifier: MIT */
/*
 * The per-CPU cache adapter (kalloc/cache.h) under threads: each of 4 threads allocates
 * blocks of random sizes (cached classes, aligned requests, blocks above the classes),
 * fills them and hands most to the next thread through a mailbox, which checks and frees
 * them, so nearly every block is freed on another "CPU" (thread slot) than the one that
 * took it. Rounds are fixed. Afterwards the cache's checker and the allocator's below are
 * green, and the statistics add up: allocations - frees = live blocks, live bytes = the sum
 * of the usable sizes of the blocks still held. Once over the global allocator, once over
 * ka_locked(tlsf), once with fewer cache slots than threads (the others bypass the
 * magazines), and with per-CPU statistics (KA_CACHE_PERCPU_STATS). Meant to run under
 * ThreadSanitizer too (.ci/steps/tsan.sh).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kalloc/cache.h"
#include "kalloc/global.h"
#include "kalloc/lock.h"

#define NTHREADS 4
#define ROUNDS	 20000
#define BOX	 256
#define KEEP	 16

struct box {
	pthread_mutex_t mu;
	void *q[BOX];
	size_t n;
};

static struct ka_alloc *C; /* the cache under test */
static struct box boxes[NTHREADS];
static void *kept[NTHREADS][KEEP];

static unsigned char pat(const void *p)
{
	return (unsigned char)(((uintptr_t)p >> 4) * 131u + 7u);
}

/* Fill the first and last bytes (the whole of small blocks): cheap, still catches overlap. */
static void stamp(unsigned char *p, size_t n)
{
	size_t k = n < 64 ? n : 64;

	memset(p, pat(p), k);
	memset(p + n - k, pat(p), k);
}

static int intact(const unsigned char *p, size_t n)
{
	size_t k = n < 64 ? n : 64;

	for (size_t i = 0; i < k; i++)
		if (p[i] != pat(p) || p[n - k + i] != pat(p))
			return 0;
	return 1;
}

static void check_free(void *p)
{
	size_t n = ka_usable_size(C, p);

	if (!intact(p, n))
		fail_msg("block %p overwritten while in flight", p);
	ka_cache_free(C, p); /* the inline path (ka_free() when it does not apply) */
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void *worker(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	struct box *out = &boxes[(me + 1) % NTHREADS], *in = &boxes[me];
	uint32_t s = 0x9e3779b9u * (me + 1);

	for (unsigned r = 0; r < ROUNDS; r++) {
		uint32_t x = rnd(&s);
		size_t n = x % 16 == 0 ? 2049 + x % 7000 : 1 + x % 1100;
		unsigned char *p = x % 29 == 0 ? ka_memalign(C, 64, n) : ka_cache_malloc(C, n);
		if (!p)
			fail_msg("thread %u: allocation of %zu failed", me, n);
		if (x % 29 == 0 && ((uintptr_t)p & 63))
			fail_msg("thread %u: misaligned", me);
		stamp(p, ka_usable_size(C, p));
		if (r < KEEP) {
			kept[me][r] = p;
			continue;
		}
		void *local = NULL;
		pthread_mutex_lock(&out->mu);
		if (out->n < BOX)
			out->q[out->n++] = p;
		else
			local = p;
		pthread_mutex_unlock(&out->mu);
		if (local)
			check_free(local);
		/* Take what the previous thread sent, a few at a time. */
		void *got[8];
		size_t ng = 0;
		pthread_mutex_lock(&in->mu);
		while (in->n > 0 && ng < 8)
			got[ng++] = in->q[--in->n];
		pthread_mutex_unlock(&in->mu);
		for (size_t i = 0; i < ng; i++)
			check_free(got[i]);
	}
	return NULL;
}

static void run(struct ka_alloc *below, unsigned ncpus, unsigned flags)
{
	struct ka_cache_config cfg = {ncpus, 16, 4, 1024, flags};
	size_t len = ka_cache_memsize(ncpus, &cfg);
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t t[NTHREADS];

	assert_true(mem != MAP_FAILED);
	C = ka_cache_init(mem, len, below, &cfg);
	assert_non_null(C);
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_mutex_init(&boxes[i].mu, NULL);
		boxes[i].n = 0;
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);

	/* Blocks still in mailboxes and the kept ones are live: the figures must say so. */
	const struct ka_stats *st = ka_cache_stats(C);
	size_t live = 0, bytes = 0;
	for (unsigned i = 0; i < NTHREADS; i++) {
		for (size_t j = 0; j < boxes[i].n; j++, live++)
			bytes += ka_usable_size(C, boxes[i].q[j]);
		for (size_t j = 0; j < KEEP; j++, live++)
			bytes += ka_usable_size(C, kept[i][j]);
	}
	assert_int_equal(ka_check(C), 0);
	assert_int_equal(st->nb_allocs, (uint64_t)NTHREADS * ROUNDS);
	assert_int_equal(st->nb_allocs - st->nb_frees, st->cur_nb_allocs);
	assert_int_equal(st->cur_nb_allocs, live);
	assert_int_equal(st->cur_mem_use, bytes);
	assert_true(st->max_nb_allocs >= live && st->max_mem_use >= bytes);
	assert_int_equal(st->nb_enomem, 0);

	/* The main thread frees them all (another slot again); then nothing is live. */
	for (unsigned i = 0; i < NTHREADS; i++) {
		while (boxes[i].n > 0)
			check_free(boxes[i].q[--boxes[i].n]);
		for (size_t j = 0; j < KEEP; j++)
			check_free(kept[i][j]);
	}
	st = ka_cache_stats(C);
	assert_int_equal(st->cur_nb_allocs, 0);
	assert_int_equal(st->cur_mem_use, 0);
	assert_int_equal(st->nb_frees, st->nb_allocs);
	assert_int_equal(ka_check(C), 0);

	/* Flushing gives this slot's and the depot's blocks back below. */
	ka_cache_flush(C);
	assert_int_equal(ka_cache_held(C), 0);
	assert_int_equal(ka_check(C), 0);
	munmap(mem, len);
}

static void over_global(void **state)
{
	static struct ka_global g;
	struct ka_global_config gc = {"tlsf", 0, 0};

	(void)state;
	assert_int_equal(ka_global_init_hosted(&g, (size_t)256 << 20, &gc), 0);
	run(ka_global_alloc_iface(&g), NTHREADS + 1, 0);
	ka_global_destroy(&g);
}

static void over_locked_tlsf(void **state)
{
	static struct ka_locked lk;
	size_t len = (size_t)64 << 20;
	void *heap = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ka_alloc *tl;

	(void)state;
	assert_true(heap != MAP_FAILED);
	tl = ka_backend_find("tlsf")->init(heap, len);
	assert_non_null(tl);
	struct ka_alloc *below = ka_locked_init(&lk, tl);
	run(below, NTHREADS + 1, 0);
	/* Everything the cache held went back (flush above) or is in other slots' magazines,
	 * which the next run of threads would inherit; tlsf's own checker agrees. */
	assert_int_equal(ka_check(below), 0);
	munmap(heap, len);
}

/* Two slots for five threads (main + 4): slot ids >= 2 bypass the magazines. */
static void fewer_slots(void **state)
{
	static struct ka_locked lk;
	size_t len = (size_t)64 << 20;
	void *heap = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(heap != MAP_FAILED);
	run(ka_locked_init(&lk, ka_backend_find("tlsf")->init(heap, len)), 2, 0);
	munmap(heap, len);
}

/* Per-CPU statistics, with two slots for five threads (the others count in the shared
 * counters): the sums still add up exactly. */
static void percpu_stats(void **state)
{
	static struct ka_locked lk;
	size_t len = (size_t)64 << 20;
	void *heap = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(heap != MAP_FAILED);
	struct ka_alloc *below = ka_locked_init(&lk, ka_backend_find("tlsf")->init(heap, len));
	run(below, 2, KA_CACHE_PERCPU_STATS);
	run(below, NTHREADS + 1, KA_CACHE_PERCPU_STATS);
	/* The shim's configuration: per-CPU statistics and tags. */
	run(below, NTHREADS + 1, KA_CACHE_PERCPU_STATS | KA_CACHE_TAGS);
	munmap(heap, len);
}

/* A tagged cache over locked tlsf in a child: `bug` misuses a freed block; the child must
 * stop with SIGABRT (ka_misuse) at the next operation. */
static void tag_case(int bug)
{
	static struct ka_locked lk;
	static const struct ka_cache_config cfg = {2, 8, 2, 1024,
						   KA_CACHE_PERCPU_STATS | KA_CACHE_TAGS};
	size_t len = (size_t)4 << 20, clen = ka_cache_memsize(0, &cfg);
	unsigned char *heap =
	    mmap(NULL, len + clen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t pid;
	int st;

	assert_true(heap != MAP_FAILED);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		alarm(10);
		struct ka_alloc *below =
		    ka_locked_init(&lk, ka_backend_find("tlsf")->init(heap, len));
		struct ka_alloc *c = ka_cache_init(heap + len, clen, below, &cfg);
		size_t n = bug == 2 ? 3000 : 48; /* case 2: a block passed through to below */
		unsigned char *p = ka_cache_malloc(c, n), *q;
		if (!c || !p)
			_exit(3);
		p[8] = 0x55; /* the tag word: a live block's data, no false alarm */
		ka_cache_free(c, p);
		switch (bug) {
		case 0:
		case 2:
			ka_cache_free(c, p); /* double free */
			break;
		case 1:
			p[9] ^= 1; /* write after free */
			q = ka_cache_malloc(c, n);
			(void)q;
			break;
		case 3:
			(void)ka_usable_size(c, p); /* a freed block asked about (realloc) */
			break;
		case 4:
			/* No bug: reuse the block, free it again, the checker is green. The try
			 * form serves what is in the magazine, and nothing else. */
			if (ka_cache_try_malloc(c, 0) || ka_cache_try_malloc(c, 4096))
				_exit(6);
			q = KA_CACHE_INLINE ? ka_cache_try_malloc(c, n) : ka_cache_malloc(c, n);
			if (q != p || ka_check(c) != 0)
				_exit(4);
			ka_cache_free(c, q);
			p[9] ^= 1; /* now the checker sees the broken tag */
			_exit(ka_check(c) == 1 ? 0 : 5);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (bug == 4)
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	else
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	munmap(heap, len + clen);
}

/* The inline class lookup (a table) against the classes' definition: 16-byte steps up to 128,
 * then four classes per power of two. */
static void class_table(void **state)
{
	(void)state;
	for (size_t s = 1; s <= 2048; s++) {
		unsigned want;

		if (s <= 128) {
			want = (unsigned)((s + 15) / 16) - 1u;
		} else {
			unsigned e = 0;

			while (((size_t)2 << e) < s)
				e++; /* s in (2^e, 2^(e+1)] */
			want = 8u + (e - 7u) * 4u +
			       (unsigned)(((s - 1) - ((size_t)1 << e)) >> (e - 2));
		}
		assert_int_equal(ka_cache_class(s), want);
	}
	assert_int_equal(ka_cache_class(2048), KA_CACHE_NCLASSES - 1);
}

static void tags_detect(void **state)
{
	(void)state;
	for (int bug = 0; bug <= 4; bug++)
		tag_case(bug);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(class_table),	cmocka_unit_test(over_global),
	    cmocka_unit_test(over_locked_tlsf), cmocka_unit_test(fewer_slots),
	    cmocka_unit_test(percpu_stats),	cmocka_unit_test(tags_detect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
