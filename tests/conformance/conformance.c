/* SPDX-License-Identifier: MIT */
/*
 * The shared conformance suite (see conformance.h). Each case gets a fresh allocator from
 * the target and checks one rule of kalloc/alloc.h through the public calls only, running
 * the heap checker after every step that changes the heap. A case stops at its first failed
 * expectation and is counted once.
 *
 * Static storage holds the live-block tables (to keep kernel stack use small), so the suite
 * is not reentrant: run one target at a time.
 */
#include <stdint.h>

#include "conformance.h"
#include "kalloc/alloc.h"
#include "kalloc/platform.h"
#include "kstring.h"
#include "fmt.h"

#define MAX_LIVE 256

struct tctx {
	struct ka_conf *c;
	const struct ka_conf_target *tg;
	struct ka_alloc *a;
	const char *name;
	size_t maxreq; /* largest request the suite makes on this target */
	int failed;
};

static void *live_p[MAX_LIVE];
static size_t live_n[MAX_LIVE];
static uint32_t live_seed[MAX_LIVE];

static void say(struct tctx *t, const char *status, const char *what, int line)
{
	char buf[200];
	struct ka_fmt f;

	if (!t->c->print)
		return;
	ka_fmt_init(&f, buf, sizeof(buf));
	ka_fmt_str(&f, status);
	ka_fmt_str(&f, " ");
	ka_fmt_str(&f, t->tg->name);
	ka_fmt_str(&f, " ");
	ka_fmt_str(&f, t->name);
	if (what) {
		ka_fmt_str(&f, ": ");
		ka_fmt_str(&f, what);
		ka_fmt_str(&f, " (line ");
		ka_fmt_dec(&f, (uint64_t)line);
		ka_fmt_str(&f, ")");
	}
	t->c->print(buf);
}

#define EXPECT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			t->failed = 1;                                                             \
			say(t, "FAIL", #cond, __LINE__);                                           \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define CHECKED() EXPECT(ka_check(t->a) == 0)

static uint32_t rng_next(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

static unsigned char pat(uint32_t seed, size_t i)
{
	return (unsigned char)(seed ^ (uint32_t)(i * 131u) ^ (uint32_t)(i >> 8));
}

static void fill(void *p, size_t n, uint32_t seed)
{
	unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = pat(seed, i);
}

static bool intact(const void *p, size_t n, uint32_t seed)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != pat(seed, i))
			return false;
	return true;
}

static bool aligned(const void *p, size_t al)
{
	return ((uintptr_t)p & (al - 1)) == 0;
}

static size_t clip(const struct tctx *t, size_t n)
{
	return n < t->maxreq ? n : t->maxreq;
}

static bool has(const struct tctx *t, unsigned cap)
{
	return (t->tg->caps & cap) != 0;
}

/* ---- cases ------------------------------------------------------------------------------ */

/* ka_malloc: minimum alignment, usable size, no overlap, contents kept until free. */
static void case_malloc_sizes(struct tctx *t)
{
	static const size_t sizes[] = {1,    2,	   3,	 7,    8,    15,   16,	  17,	31,  32,
				       33,   63,   64,	 100,  127,  128,  255,	  256,	500, 512,
				       1000, 1024, 2000, 4095, 4096, 4097, 10000, 65536};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t sz = sizes[i];
		if (sz > t->maxreq)
			continue;
		void *p = ka_malloc(t->a, sz);
		EXPECT(p != NULL);
		EXPECT(aligned(p, KA_CFG_MIN_ALIGN));
		EXPECT(ka_usable_size(t->a, p) >= sz);
		/* Write the whole usable size: a backend that under-reports it corrupts its
		 * neighbours here and the checker or the patterns catch it. */
		live_p[n] = p;
		live_n[n] = ka_usable_size(t->a, p);
		live_seed[n] = (uint32_t)(i * 7919u + 1u);
		fill(p, live_n[n], live_seed[n]);
		n++;
		CHECKED();
	}
	for (size_t i = 0; i < n; i++)
		EXPECT(intact(live_p[i], live_n[i], live_seed[i]));
	/* Free odd then even, so both neighbours of a block are sometimes free already. */
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = pass ? 0 : 1; i < n; i += 2) {
			EXPECT(intact(live_p[i], live_n[i], live_seed[i]));
			ka_free(t->a, live_p[i]);
			CHECKED();
		}
}

/* Zero-size requests give unique, freeable, minimally aligned blocks on every backend. */
static void case_zero_size(struct tctx *t)
{
	void *p = ka_malloc(t->a, 0);
	void *q = ka_malloc(t->a, 0);

	EXPECT(p != NULL && q != NULL);
	EXPECT(p != q);
	EXPECT(aligned(p, KA_CFG_MIN_ALIGN) && aligned(q, KA_CFG_MIN_ALIGN));
	EXPECT(ka_usable_size(t->a, p) >= 1);
	*(volatile unsigned char *)p = 0x5a;
	void *c1 = ka_calloc(t->a, 0, 16);
	void *c2 = ka_calloc(t->a, 16, 0);
	EXPECT(c1 != NULL && c2 != NULL);
	ka_free(t->a, p);
	ka_free(t->a, q);
	ka_free(t->a, c1);
	ka_free(t->a, c2);
	ka_free(t->a, NULL);
	CHECKED();
}

/* calloc zeroes (even reused, dirty memory) and rejects n*size overflow without dividing. */
static void case_calloc(struct tctx *t)
{
	size_t sz = clip(t, 4096);
	unsigned char *d = ka_malloc(t->a, sz);
	uint64_t fails;

	EXPECT(d != NULL);
	memset(d, 0xaa, sz);
	ka_free(t->a, d);
	unsigned char *z = ka_calloc(t->a, sz / 16, 16);
	EXPECT(z != NULL);
	for (size_t i = 0; i < sz / 16 * 16; i++)
		EXPECT(z[i] == 0);
	ka_free(t->a, z);
	fails = ka_stats(t->a)->nb_enomem;
	EXPECT(ka_calloc(t->a, SIZE_MAX / 2 + 1, 2) == NULL);
	EXPECT(ka_calloc(t->a, 2, SIZE_MAX / 2 + 1) == NULL);
	EXPECT(ka_calloc(t->a, SIZE_MAX, SIZE_MAX) == NULL);
	EXPECT(ka_stats(t->a)->nb_enomem == fails + 3);
	void *e = ka_calloc(t->a, 0, SIZE_MAX);
	EXPECT(e != NULL);
	ka_free(t->a, e);
	CHECKED();
}

/* memalign: every power of two up to the page size (beyond for page-capable targets);
 * non-powers of two are refused. */
static void case_memalign(struct tctx *t)
{
	size_t top = KA_PAGE_SIZE;
	void *ps[64];
	size_t n = 0;

	if (has(t, KA_CAP_ANYSIZE) && ka_maxalloc(t->a) >= 16 * 65536)
		top = 65536;
	for (size_t al = 1; al <= top; al <<= 1) {
		static const size_t sizes[] = {1, 100, 5000};
		for (size_t k = 0; k < 3; k++) {
			if (sizes[k] > t->maxreq)
				continue;
			void *p = ka_memalign(t->a, al, sizes[k]);
			if (!has(t, KA_CAP_ANYSIZE) && al > KA_CFG_MIN_ALIGN && !p)
				continue; /* fixed-geometry targets may refuse stricter alignment */
			EXPECT(p != NULL);
			EXPECT(aligned(p, al < KA_CFG_MIN_ALIGN ? KA_CFG_MIN_ALIGN : al));
			EXPECT(ka_usable_size(t->a, p) >= sizes[k]);
			fill(p, sizes[k], (uint32_t)al);
			ps[n++] = p;
			if (n == 64) {
				while (n)
					ka_free(t->a, ps[--n]);
			}
			CHECKED();
		}
	}
	while (n)
		ka_free(t->a, ps[--n]);
	EXPECT(ka_memalign(t->a, 0, 16) == NULL);
	EXPECT(ka_memalign(t->a, 3, 16) == NULL);
	EXPECT(ka_memalign(t->a, 24, 16) == NULL);
	EXPECT(ka_memalign(t->a, 48, 16) == NULL);
	CHECKED();
}

/* posix_memalign: EINVAL for bad alignment, ENOMEM for impossible sizes, *memptr untouched. */
static void case_posix_memalign(struct tctx *t)
{
	void *sentinel = (void *)(uintptr_t)0x1234;
	void *p = sentinel;

	EXPECT(ka_posix_memalign(t->a, &p, 0, 16) == KA_EINVAL && p == sentinel);
	EXPECT(ka_posix_memalign(t->a, &p, 3, 16) == KA_EINVAL && p == sentinel);
	EXPECT(ka_posix_memalign(t->a, &p, 24, 16) == KA_EINVAL && p == sentinel);
	EXPECT(ka_posix_memalign(t->a, &p, sizeof(void *) / 2, 16) == KA_EINVAL && p == sentinel);
	EXPECT(ka_posix_memalign(t->a, &p, sizeof(void *), SIZE_MAX) == KA_ENOMEM && p == sentinel);
	EXPECT(ka_posix_memalign(t->a, &p, sizeof(void *), 24) == 0);
	EXPECT(p != sentinel && aligned(p, sizeof(void *)));
	ka_free(t->a, p);
	if (has(t, KA_CAP_ANYSIZE)) {
		EXPECT(ka_posix_memalign(t->a, &p, 256, 10) == 0 && aligned(p, 256));
		ka_free(t->a, p);
	}
	CHECKED();
}

/* realloc: NULL acts as malloc, contents kept over growth and shrink, failure keeps the old
 * block, size 0 gives a fresh minimum block. */
static void case_realloc(struct tctx *t)
{
	size_t s1 = clip(t, 100), s2 = clip(t, 1000), s3 = clip(t, 50000);
	unsigned char *p = ka_realloc(t->a, NULL, s1);

	EXPECT(p != NULL);
	fill(p, s1, 11);
	p = ka_realloc(t->a, p, s2);
	EXPECT(p != NULL && intact(p, s1, 11));
	fill(p, s2, 12);
	unsigned char *q = ka_realloc(t->a, p, s3);
	EXPECT(q != NULL && intact(q, s2 < s3 ? s2 : s3, 12));
	p = q;
	fill(p, s3, 13);
	p = ka_realloc(t->a, p, 10);
	EXPECT(p != NULL && intact(p, 10, 13));
	EXPECT(ka_realloc(t->a, p, SIZE_MAX) == NULL);
	EXPECT(ka_realloc(t->a, p, SIZE_MAX / 2 + 1) == NULL);
	EXPECT(intact(p, 10, 13));
	CHECKED();
	q = ka_realloc(t->a, p, 0);
	EXPECT(q != NULL);
	ka_free(t->a, q);
	CHECKED();
}

/* Out of memory: impossible sizes fail and are counted; exhausting the heap fails cleanly;
 * after freeing everything the memory is reusable (for targets that free). */
static void case_oom(struct tctx *t)
{
	size_t blk = clip(t, 4096), got1 = 0, got2 = 0;
	uint64_t f0 = ka_stats(t->a)->nb_enomem;
	struct ka_info info;
	void **list = live_p;

	EXPECT(ka_malloc(t->a, SIZE_MAX) == NULL);
	EXPECT(ka_malloc(t->a, SIZE_MAX / 2 + 1) == NULL);
	ka_info(t->a, &info);
	if (info.total < SIZE_MAX / 4)
		EXPECT(ka_malloc(t->a, info.total * 2 + 4096) == NULL);
	EXPECT(ka_stats(t->a)->nb_enomem >= f0 + 2);
	CHECKED();
	/* Exhaust with a chain: each block stores the previous one, so no table is needed. */
	void *head = NULL;
	for (;;) {
		void **p = ka_malloc(t->a, blk);
		if (!p)
			break;
		*p = head;
		head = p;
		got1++;
	}
	(void)list;
	EXPECT(got1 > 0);
	CHECKED();
	EXPECT(ka_malloc(t->a, blk) == NULL);
	while (head) {
		void *next = *(void **)head;
		ka_free(t->a, head);
		head = next;
	}
	CHECKED();
	EXPECT(ka_stats(t->a)->cur_nb_allocs == 0);
	if (!has(t, KA_CAP_FREE))
		return;
	for (;;) {
		void **p = ka_malloc(t->a, blk);
		if (!p)
			break;
		*p = head;
		head = p;
		got2++;
	}
	EXPECT(got2 >= got1);
	while (head) {
		void *next = *(void **)head;
		ka_free(t->a, head);
		head = next;
	}
	CHECKED();
}

/* Statistics count what was handed out, and return to zero. Without statistics
 * (KA_CFG_STATS 0, the minimal configuration) every figure but nb_enomem stays as it was. */
static struct ka_alloc *make_backend(void *ctx);

/* The figures now: ka_stats() fills its view when called, so each check asks again. */
static const struct ka_stats *st(struct tctx *t)
{
	return ka_stats(t->a);
}

static void case_stats(struct tctx *t)
{
	size_t sum = 0, n = 0, top = clip(t, 8 + 39 * 37);

	EXPECT(st(t)->cur_nb_allocs == 0 && st(t)->cur_mem_use == 0 && st(t)->nb_allocs == 0);
	for (size_t i = 0; i < 40; i++) {
		size_t sz = clip(t, 8 + i * 37);
		void *p = ka_malloc(t->a, sz);
		EXPECT(p != NULL);
		live_p[n] = p;
		live_n[n++] = sz;
		sum += ka_usable_size(t->a, p);
		EXPECT(st(t)->last_alloc_size == (KA_CFG_STATS ? sz : 0));
	}
	/* Stricter alignment and blocks past the small classes take other paths through the
	 * backends (and their sized entries): the counts must still match ka_usable_size(). */
	for (size_t i = 0; has(t, KA_CAP_ANYSIZE) && i < 6; i++) {
		size_t sz = clip(t, i < 3 ? 100 + i * 900 : 9000 * i),
		       al = (size_t)64 << (i % 3 * 3);
		void *p = ka_memalign(t->a, al, sz);

		EXPECT(p != NULL);
		top = sz > top ? sz : top;
		live_p[n] = p;
		live_n[n++] = sz;
		sum += ka_usable_size(t->a, p);
	}
#if !KA_CFG_STATS
	EXPECT(st(t)->cur_nb_allocs == 0 && st(t)->nb_allocs == 0 && st(t)->cur_mem_use == 0);
	EXPECT(st(t)->max_mem_use == 0 && st(t)->min_alloc_size == SIZE_MAX &&
	       st(t)->max_alloc_size == 0);
	for (size_t i = 0; i < n; i++)
		ka_free(t->a, live_p[i]);
	EXPECT(st(t)->nb_frees == 0 && st(t)->nb_enomem == 0);
	(void)sum;
	(void)top;
	CHECKED();
	return;
#endif
	EXPECT(st(t)->cur_nb_allocs == n && st(t)->nb_allocs == n && st(t)->max_nb_allocs == n);
	EXPECT(st(t)->cur_mem_use == sum && st(t)->max_mem_use == sum);
	EXPECT(st(t)->min_alloc_size == clip(t, 8) && st(t)->max_alloc_size == top);
	for (size_t i = 0; i < n; i++)
		ka_free(t->a, live_p[i]);
	EXPECT(st(t)->cur_nb_allocs == 0 && st(t)->cur_mem_use == 0 && st(t)->nb_frees == n);
	EXPECT(st(t)->max_mem_use == sum);
	EXPECT(st(t)->nb_enomem == 0);
	/* On a backend the generic layer counts a zero-size request as 0 bytes asked (the
	 * backend sees 1); the cache keeps its own figures and counts 1. Failures in the backend
	 * (not rejected by the generic layer) count in nb_enomem only, through both the malloc
	 * and the aligned path. */
	size_t zreq = t->tg->make == make_backend ? 0 : 1;
	void *z = ka_malloc(t->a, 0);
	EXPECT(z != NULL);
	EXPECT(st(t)->last_alloc_size == zreq && st(t)->min_alloc_size == zreq);
	EXPECT(st(t)->max_alloc_size == top);
	EXPECT(st(t)->nb_allocs == n + 1 && st(t)->cur_nb_allocs == 1 && st(t)->max_nb_allocs == n);
	EXPECT(st(t)->cur_mem_use == ka_usable_size(t->a, z));
	EXPECT(ka_malloc(t->a, SIZE_MAX / 4) == NULL);
	EXPECT(ka_memalign(t->a, 64, SIZE_MAX / 4) == NULL);
	EXPECT(st(t)->nb_enomem == 2 && st(t)->nb_allocs == n + 1 &&
	       st(t)->last_alloc_size == zreq);
	ka_free(t->a, z);
	EXPECT(st(t)->cur_nb_allocs == 0 && st(t)->cur_mem_use == 0 && st(t)->nb_frees == n + 1);
	EXPECT(st(t)->max_mem_use == sum && st(t)->max_nb_allocs == n);
	CHECKED();
}

/* Resized in place or moved, a block counts with its usable size, and the peak is the
 * largest it reached: on a backend the generic layer counts a move as the free, then the
 * allocation, so one block never counts twice. A fresh heap, so that growth in place (the
 * block after it is free) raises the peak. */
static void case_stats_resize(struct tctx *t)
{
	void *r = ka_malloc(t->a, 16);
	size_t peak = r ? ka_usable_size(t->a, r) : 0;
	bool exact = t->tg->make == make_backend;

	EXPECT(r != NULL);
	for (size_t i = 0; r && i < 12; i++) {
		void *q = ka_realloc(t->a, r, clip(t, i % 2 ? 24 : (size_t)64 << i));
		size_t u;

		EXPECT(q != NULL);
		if (!q)
			break;
		r = q;
		u = ka_usable_size(t->a, r);
		peak = u > peak ? u : peak;
		if (!KA_CFG_STATS)
			continue;
		EXPECT(st(t)->cur_nb_allocs == 1 && st(t)->cur_mem_use == u);
		EXPECT(st(t)->nb_allocs - st(t)->nb_frees == 1);
		EXPECT(exact ? st(t)->max_mem_use == peak : st(t)->max_mem_use >= peak);
		EXPECT(exact ? st(t)->max_nb_allocs == 1 : st(t)->max_nb_allocs >= 1);
	}
	ka_free(t->a, r);
	EXPECT(st(t)->cur_nb_allocs == 0 && st(t)->cur_mem_use == 0);
	EXPECT(st(t)->nb_frees == st(t)->nb_allocs);
	CHECKED();
}

struct walk_acc {
	size_t used, used_bytes, free_bytes;
	const void *want;
	bool found;
};

static int walk_cb(void *ptr, size_t size, bool used, void *arg)
{
	struct walk_acc *w = arg;

	if (used) {
		w->used++;
		w->used_bytes += size;
		if (ptr == w->want)
			w->found = true;
	} else {
		w->free_bytes += size;
	}
	return 0;
}

static int walk_stop(void *ptr, size_t size, bool used, void *arg)
{
	(void)ptr;
	(void)size;
	(void)used;
	(void)arg;
	return 42;
}

/* The walker sees exactly the live blocks; info figures are coherent. */
static void case_walk_info(struct tctx *t)
{
	struct ka_info i0, i1;
	size_t n = 0;

	ka_info(t->a, &i0);
	EXPECT(i0.total > 0 && i0.avail <= i0.total && i0.maxalloc <= i0.avail);
	for (size_t i = 0; i < 30; i++) {
		void *p = ka_malloc(t->a, clip(t, 24 + i * 11));
		EXPECT(p != NULL);
		live_p[n++] = p;
	}
	ka_info(t->a, &i1);
	if (has(t, KA_CAP_FREE))
		EXPECT(i1.avail < i0.avail);
	EXPECT(i1.avail <= i1.total);
	if (has(t, KA_CAP_WALK)) {
		for (size_t i = 0; i < n; i++) {
			struct walk_acc w = {0, 0, 0, live_p[i], false};
			EXPECT(ka_walk(t->a, walk_cb, &w) == 0);
			EXPECT(w.found);
			EXPECT(w.used == n);
		}
		EXPECT(ka_walk(t->a, walk_stop, NULL) == 42);
	} else {
		EXPECT(ka_walk(t->a, walk_cb, NULL) == KA_ENOTSUP);
	}
	if (has(t, KA_CAP_OWNS)) {
		int local;
		EXPECT(ka_owns(t->a, live_p[0]));
		EXPECT(!ka_owns(t->a, &local));
	}
	for (size_t i = 0; i < n; i++)
		ka_free(t->a, live_p[i]);
	CHECKED();
}

/* Pages: aligned, distinct, writable; bad counts and alignments refused. */
static void case_pages(struct tctx *t)
{
	void *pg[5];

	if (!has(t, KA_CAP_ANYSIZE) || ka_maxalloc(t->a) < 64 * KA_PAGE_SIZE) {
		t->c->skipped++;
		return;
	}
	for (size_t i = 0; i < 5; i++) {
		pg[i] = ka_palloc(t->a, i + 1);
		EXPECT(pg[i] != NULL && aligned(pg[i], KA_PAGE_SIZE));
		fill(pg[i], (i + 1) * KA_PAGE_SIZE, (uint32_t)i);
		CHECKED();
	}
	for (size_t i = 0; i < 5; i++)
		EXPECT(intact(pg[i], (i + 1) * KA_PAGE_SIZE, (uint32_t)i));
	void *al = ka_palloc_aligned(t->a, 1, 4 * KA_PAGE_SIZE);
	EXPECT(al != NULL && aligned(al, 4 * KA_PAGE_SIZE));
	ka_pfree(t->a, al, 1);
	EXPECT(ka_palloc(t->a, 0) == NULL);
	EXPECT(ka_palloc(t->a, SIZE_MAX / KA_PAGE_SIZE + 1) == NULL);
	EXPECT(ka_palloc_aligned(t->a, 1, 3 * KA_PAGE_SIZE) == NULL);
	EXPECT(ka_palloc_aligned(t->a, 1, 16) == NULL);
	for (size_t i = 0; i < 5; i++)
		ka_pfree(t->a, pg[i], i + 1);
	ka_pfree(t->a, NULL, 1);
	EXPECT(ka_stats(t->a)->cur_nb_allocs == 0);
	CHECKED();
}

/* add_memory: a second region serves requests once the first is exhausted. */
static void case_add_memory(struct tctx *t)
{
	size_t blk = clip(t, 1024);
	void *head = NULL, *p;

	if (!has(t, KA_CAP_ADDMEM)) {
		EXPECT(ka_add_memory(t->a, t->tg->extra, t->tg->extra_len) == KA_ENOTSUP);
		return;
	}
	if (!t->tg->extra) {
		t->c->skipped++;
		return;
	}
	EXPECT(ka_add_memory(t->a, NULL, 4096) == KA_EINVAL);
	for (;;) {
		void **q = ka_malloc(t->a, blk);
		if (!q)
			break;
		*q = head;
		head = q;
	}
	EXPECT(ka_add_memory(t->a, t->tg->extra, t->tg->extra_len) == 0);
	CHECKED();
	p = ka_malloc(t->a, blk);
	EXPECT(p != NULL);
	EXPECT((uintptr_t)p >= (uintptr_t)t->tg->extra &&
	       (uintptr_t)p < (uintptr_t)t->tg->extra + t->tg->extra_len);
	if (has(t, KA_CAP_OWNS))
		EXPECT(ka_owns(t->a, p));
	fill(p, blk, 99);
	ka_free(t->a, p);
	while (head) {
		void *next = *(void **)head;
		ka_free(t->a, head);
		head = next;
	}
	CHECKED();
}

/* A random mix of every call against a shadow table of live blocks, with fill patterns
 * verified before every free and realloc and the checker run every 32 operations. */
static void case_random(struct tctx *t)
{
	uint32_t rng = 0x9e3779b9u;
	size_t n = 0, fails = 0, ops = 4000;
	size_t top = clip(t, 2048);

	for (size_t op = 0; op < ops; op++) {
		uint32_t r = rng_next(&rng);
		size_t sz = 1 + rng_next(&rng) % (uint32_t)top;
		if (n > 0 && (r % 100 < 40 || n == MAX_LIVE)) {
			size_t i = rng_next(&rng) % (uint32_t)n;
			EXPECT(intact(live_p[i], live_n[i], live_seed[i]));
			ka_free(t->a, live_p[i]);
			n--;
			live_p[i] = live_p[n];
			live_n[i] = live_n[n];
			live_seed[i] = live_seed[n];
		} else if (n > 0 && r % 100 < 55) {
			size_t i = rng_next(&rng) % (uint32_t)n;
			EXPECT(intact(live_p[i], live_n[i], live_seed[i]));
			void *q = ka_realloc(t->a, live_p[i], sz);
			if (!q) {
				fails++;
				EXPECT(intact(live_p[i], live_n[i], live_seed[i]));
				continue;
			}
			size_t keep = live_n[i] < sz ? live_n[i] : sz;
			EXPECT(intact(q, keep, live_seed[i]));
			live_p[i] = q;
			live_n[i] = sz;
			fill(q, sz, live_seed[i]);
		} else {
			size_t al = r % 100 < 65 ? ((size_t)1 << (r % 9)) : 1;
			void *q = al > 1 ? ka_memalign(t->a, al, sz) : ka_malloc(t->a, sz);
			if (!q) {
				fails++;
				continue;
			}
			EXPECT(aligned(q, al < KA_CFG_MIN_ALIGN ? KA_CFG_MIN_ALIGN : al));
			live_p[n] = q;
			live_n[n] = sz;
			live_seed[n] = r;
			fill(q, sz, r);
			n++;
		}
		if (op % 32 == 0)
			CHECKED();
	}
	/* Targets that free and have room for the peak (256 x 2 KiB) must never fail here. */
	if (has(t, KA_CAP_FREE) && has(t, KA_CAP_ANYSIZE) && t->maxreq >= 16 * 2048)
		EXPECT(fails == 0);
	while (n) {
		n--;
		EXPECT(intact(live_p[n], live_n[n], live_seed[n]));
		ka_free(t->a, live_p[n]);
	}
	EXPECT(ka_stats(t->a)->cur_nb_allocs == 0 && ka_stats(t->a)->cur_mem_use == 0);
	CHECKED();
}

struct conf_case {
	const char *name;
	void (*fn)(struct tctx *t);
};

static const struct conf_case cases[] = {
    {"malloc_sizes", case_malloc_sizes},
    {"zero_size", case_zero_size},
    {"calloc", case_calloc},
    {"memalign", case_memalign},
    {"posix_memalign", case_posix_memalign},
    {"realloc", case_realloc},
    {"oom", case_oom},
    {"stats", case_stats},
    {"stats_resize", case_stats_resize},
    {"walk_info", case_walk_info},
    {"pages", case_pages},
    {"add_memory", case_add_memory},
    {"random", case_random},
};

void ka_conformance_target(struct ka_conf *c, const struct ka_conf_target *tg)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tctx t = {c, tg, NULL, cases[i].name, 0, 0};
		unsigned skipped = c->skipped;

		t.a = tg->make(tg->ctx);
		if (!t.a) {
			t.failed = 1;
			say(&t, "FAIL", "target made no allocator", __LINE__);
			c->failed++;
			continue;
		}
		t.maxreq = ka_maxalloc(t.a);
		if (tg->caps & KA_CAP_ANYSIZE)
			t.maxreq /= 4;
		if (t.maxreq > 65536)
			t.maxreq = 65536;
		cases[i].fn(&t);
		if (c->skipped != skipped)
			continue;
		if (t.failed) {
			c->failed++;
		} else {
			c->passed++;
			if (c->verbose)
				say(&t, "PASS", NULL, 0);
		}
	}
}

struct backend_ctx {
	const struct ka_backend *b;
	void *mem;
	size_t len;
};

static struct ka_alloc *make_backend(void *ctx)
{
	struct backend_ctx *bc = ctx;

	return bc->b->init(bc->mem, bc->len);
}

/* Registry backends must refuse memory they cannot use, without touching anything. */
static void init_refusals(struct ka_conf *c, const struct ka_backend *b, void *mem)
{
	struct ka_conf_target tg = {b->name, b->caps, NULL, NULL, NULL, 0};
	struct tctx t = {c, &tg, NULL, "init_refusals", 0, 0};

	if (b->init(NULL, 1u << 20) != NULL || (b->min_size > 0 && b->init(mem, b->min_size - 1))) {
		say(&t, "FAIL", "init accepted a NULL base or a region below min_size", __LINE__);
		c->failed++;
		return;
	}
	c->passed++;
	if (c->verbose)
		say(&t, "PASS", NULL, 0);
}

void ka_conformance_backend(struct ka_conf *c, const struct ka_backend *b, void *mem, size_t len)
{
	size_t main_len = (len / 4 * 3) & ~(KA_PAGE_SIZE - 1);
	struct backend_ctx bc = {b, mem, main_len};
	struct ka_conf_target tg = {
	    b->name, b->caps, make_backend, &bc, (char *)mem + main_len, len - main_len};

	init_refusals(c, b, mem);
	ka_conformance_target(c, &tg);
}
