/* SPDX-License-Identifier: MIT */
/*
 * White-box tests of the hardened backend (src/backend/hardened.c) against its private layout
 * (hardened_priv.h): the size classes, canaries, random placement, the quarantine (delay,
 * poison, drain before out-of-memory), guard pages and their bound with the canary-page
 * fallback, misuse detection in forked children, and the checker counting deliberate
 * corruption of metadata and contents exactly.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abort_helper.h"
#include "kalloc/hardened.h"
#include "kalloc/tlsf.h"
#include "backend/hardened_priv.h"

#define HEAP_LEN ((size_t)4 << 20)

static unsigned char *heap;

static struct ka_alloc *mk(void)
{
	struct ka_alloc *a = ka_hardened_init(heap, HEAP_LEN);

	assert_non_null(a);
	assert_int_equal(ka_check(a), 0);
	return a;
}

static struct ka_hardened_stats st(struct ka_alloc *a)
{
	struct ka_hardened_stats s;

	assert_int_equal(ka_hardened_stats(a, &s), 0);
	return s;
}

/* The platform's entropy hook: hosted, getrandom() answers, and two draws differ. */
static void test_entropy(void **state)
{
	unsigned char x[32], y[32];
	(void)state;

	assert_int_equal(ka_plat_entropy(x, sizeof(x)), 0);
	assert_int_equal(ka_plat_entropy(y, sizeof(y)), 0);
	assert_memory_not_equal(x, y, sizeof(x));
	assert_int_equal(ka_plat_entropy(x, 0), 0);
}

/* Every need maps to the smallest class that holds it; runs hold 8..HD_MAX_SLOTS slots. */
static void test_classes(void **state)
{
	(void)state;
	for (unsigned c = 0; c < HD_NCLS; c++) {
		assert_int_equal(hd_class_size(c) % HD_SLOT_ALIGN, 0);
		if (c > 0)
			assert_true(hd_class_size(c) > hd_class_size(c - 1));
		assert_true(hd_run_slots(c) >= 8 && hd_run_slots(c) <= HD_MAX_SLOTS);
		assert_true(hd_run_slots(c) * hd_class_size(c) <= hd_run_pages(c) * HD_PAGE);
	}
	assert_int_equal(hd_class_size(HD_NCLS - 1), HD_MAX_CLASS);
	for (size_t need = 1; need <= HD_MAX_CLASS; need++) {
		unsigned c = hd_class_of(need);
		assert_true(c < HD_NCLS);
		assert_true(hd_class_size(c) >= need);
		assert_true(c == 0 || hd_class_size(c - 1) < need);
	}
}

/* Usable size is the requested size; the canary sits right after it, the size-carrying tail
 * at the end of the slot (the two coincide when the request fills the slot). */
static void test_canary(void **state)
{
	struct ka_alloc *a = mk();
	struct ka_hardened *h = hd_of(a);
	(void)state;

	for (size_t sz = 1; sz <= KA_HARDENED_MAX_SMALL; sz = sz * 3 + 1) {
		unsigned char *p = ka_malloc(a, sz);
		size_t u = ka_usable_size(a, p), cs = hd_class_size(hd_class_of(sz + HD_CANARY));
		size_t k = cs - HD_CANARY - u < 8 ? cs - HD_CANARY - u : 8;
		uint64_t c = hd_canary(h->secret, (uintptr_t)(p + u));

		assert_int_equal(u, sz);
		assert_int_equal(hd_tail_size(h->secret, (uintptr_t)p, cs), sz);
		assert_memory_equal(&c, p + u, k);
		for (size_t i = u + k; i < cs - HD_CANARY; i++)
			assert_int_equal(p[i], HD_POISON);
		assert_int_not_equal(p[u], 0);
		memset(p, 0x77, u); /* the whole usable size is the caller's */
		assert_int_equal(ka_check(a), 0);
		ka_free(a, p);
	}
	assert_int_equal(ka_check(a), 0);
}

/* Consecutive allocations land on random slots, and two heaps have different secrets. */
static void test_random_placement(void **state)
{
	struct ka_alloc *a = mk();
	uint64_t s1 = hd_of(a)->secret;
	uintptr_t prev = 0;
	unsigned rises = 0;
	(void)state;

	for (int i = 0; i < 64; i++) {
		uintptr_t p = (uintptr_t)ka_malloc(a, 24);
		assert_true(p != 0);
		rises += p > prev;
		prev = p;
	}
	/* Bump allocation would rise 64 times; random slots rise about half the time. */
	assert_true(rises < 56);
	a = mk();
	assert_true(hd_of(a)->secret != s1);
	assert_true(st(a).strong_seed);
}

/* A freed block is poisoned and not reused before KA_HARDENED_QUARANTINE more frees. */
static void test_quarantine(void **state)
{
	struct ka_alloc *a = mk();
	unsigned char *p = ka_malloc(a, 100);
	(void)state;

	size_t u = ka_usable_size(a, p);

	ka_free(a, p);
	for (size_t i = 0; i < u + HD_CANARY; i++) /* canary included */
		assert_int_equal(p[i], HD_POISON);
	assert_int_equal(st(a).quarantine_len, 1);
	for (int i = 0; i < KA_HARDENED_QUARANTINE - 1; i++) {
		void *q = ka_malloc(a, 100);
		assert_ptr_not_equal(q, p);
		ka_free(a, q);
	}
	assert_int_equal(st(a).quarantine_len, KA_HARDENED_QUARANTINE);
	assert_int_equal(st(a).quarantine_checked, 0);
	ka_free(a, ka_malloc(a, 100));
	assert_int_equal(st(a).quarantine_checked, 1);
	assert_int_equal(ka_check(a), 0);
}

/* The quarantine never causes an out-of-memory: a failing request drains it first. */
static void test_drain_before_oom(void **state)
{
	struct ka_alloc *a = mk();
	size_t n1 = 0, n2 = 0;
	void *head = NULL;
	(void)state;

	for (void **p; (p = ka_malloc(a, 3000)) != NULL; n1++) {
		*p = head;
		head = p;
	}
	while (head) {
		void *next = *(void **)head;
		ka_free(a, head);
		head = next;
	}
	assert_true(st(a).quarantine_len > 0);
	for (void **p; (p = ka_malloc(a, 3000)) != NULL; n2++) {
		*p = head;
		head = p;
	}
	assert_int_equal(n1, n2);
	assert_true(st(a).quarantine_drains >= 1);
	assert_int_equal(ka_check(a), 0);
}

static void overrun_large(struct ka_alloc *a, void *arg)
{
	unsigned char *p = arg;
	p[ka_usable_size(a, p)] = 1;
}

static void overrun_large_and_free(struct ka_alloc *a, void *arg)
{
	overrun_large(a, arg);
	ka_free(a, arg);
}

/* A large block's trailer is a guard page: writing one byte past it faults at once. */
static void test_guard_faults(void **state)
{
	struct ka_alloc *a = mk();
	unsigned char *p = ka_malloc(a, 20000);
	pid_t pid;
	int s = 0;
	(void)state;

	assert_true(st(a).guards_available);
	assert_int_equal(st(a).guards_live, 1);
	assert_int_equal(ka_usable_size(a, p), 5 * HD_PAGE);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* not cmocka's handler: the child must die of it */
		overrun_large(a, p);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &s, 0), pid);
	assert_true(WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV);
	ka_free(a, p);
	assert_int_equal(st(a).guards_live, 0);
	assert_int_equal(ka_check(a), 0);
}

/* Past the bound, large blocks get canary pages: counted, checked on free, no fault. */
static void test_guard_limit(void **state)
{
	struct ka_alloc *a = mk();
	void *p[6];
	(void)state;

	assert_int_equal(ka_hardened_set_guard_limit(a, 2), 0);
	for (int i = 0; i < 6; i++)
		assert_non_null(p[i] = ka_malloc(a, 9000));
	struct ka_hardened_stats s = st(a);
	assert_int_equal(s.guards_live, 2);
	assert_int_equal(s.guards_made, 2);
	assert_int_equal(s.guard_fallbacks, 4);
	assert_int_equal(s.large_live, 6);
	assert_int_equal(ka_check(a), 0);
	ka_test_expect_abort(overrun_large_and_free, a, p[5]); /* canary page, detected on free */
	for (int i = 0; i < 6; i++)
		ka_free(a, p[i]);
	assert_int_equal(st(a).guards_live, 0);
	assert_int_equal(ka_check(a), 0);
	assert_int_equal(ka_hardened_set_guard_limit(ka_tlsf_init(heap, HEAP_LEN), 1), KA_EINVAL);
}

static size_t map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	size_t n = 0;
	int c;

	assert_non_null(f);
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* 10,000 page blocks with the default bound: exactly KA_HARDENED_GUARD_LIMIT guards, the
 * rest canary pages, and the process's mapping count grows by at most two per guard and
 * comes back once they are freed. */
static void test_guard_bound_maps(void **state)
{
	const size_t n = 10000, len = n * 2 * HD_PAGE + ((size_t)8 << 20);
	void **p = calloc(n, sizeof(*p));
	unsigned char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	(void)state;

	assert_non_null(p);
	assert_true(mem != MAP_FAILED);
	struct ka_alloc *a = ka_hardened_init(mem, len);
	assert_non_null(a);
	size_t base = map_count();
	for (size_t i = 0; i < n; i++)
		assert_non_null(p[i] = ka_palloc(a, 1));
	struct ka_hardened_stats s = st(a);
	assert_int_equal(s.guards_live, KA_HARDENED_GUARD_LIMIT);
	assert_int_equal(s.guard_fallbacks, n - KA_HARDENED_GUARD_LIMIT);
	size_t grown = map_count() - base;
	assert_true(grown <= 2 * (size_t)KA_HARDENED_GUARD_LIMIT + 8);
	assert_int_equal(ka_check(a), 0);
	for (size_t i = 0; i < n; i++)
		ka_pfree(a, p[i], 1);
	assert_int_equal(st(a).guards_live, 0);
	assert_true(map_count() <= base + 8);
	printf("guard bound: %zu blocks, %zu guards, %llu canary pages, mappings +%zu\n", n,
	       (size_t)s.guards_live, (unsigned long long)s.guard_fallbacks, grown);
	munmap(mem, len);
	free(p);
}

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* No bound at all: the kernel's own limit (vm.max_map_count) is reached, mprotect fails with
 * ENOMEM, and the backend falls back to canary pages instead of failing or crashing. Run in
 * a child, which is left with no mappings to spare; skipped under ASan and Valgrind, whose
 * runtimes map memory as they go. */
static void test_kernel_refuses_guards(void **state)
{
	(void)state;
#ifdef UNDER_ASAN
	skip();
#else
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	unsigned long maxmap = 0;
	pid_t pid;
	int ws = 0;

	if (RUNNING_ON_VALGRIND || !f || fscanf(f, "%lu", &maxmap) != 1 || maxmap > 1000000)
		skip();
	fclose(f);
	size_t n = maxmap / 2 + 1000, len = n * 2 * HD_PAGE + ((size_t)8 << 20);
	void **p = calloc(n, sizeof(*p));
	unsigned char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_non_null(p);
	assert_true(mem != MAP_FAILED);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct ka_alloc *a = ka_hardened_init(mem, len);
		struct ka_hardened_stats s;
		if (!a)
			_exit(2);
		ka_hardened_set_guard_limit(a, SIZE_MAX);
		for (size_t i = 0; i < n; i++)
			if (!(p[i] = ka_palloc(a, 1)))
				_exit(3);
		ka_hardened_stats(a, &s);
		if (s.guard_fallbacks == 0 || s.guards_made + s.guard_fallbacks != n)
			_exit(4);
		if (ka_check(a) != 0)
			_exit(5);
		for (size_t i = 0; i < n; i++)
			ka_pfree(a, p[i], 1);
		ka_hardened_stats(a, &s);
		_exit(s.guards_live == 0 && ka_check(a) == 0 ? 0 : 6);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	munmap(mem, len);
	free(p);
#endif
}

/* Once every block is freed, no page of the region is protected: another allocator (or
 * anything else) may use the memory, as with every backend. */
static void test_region_reusable(void **state)
{
	struct ka_alloc *a = mk();
	void *p[8];
	(void)state;

	for (int i = 0; i < 8; i++)
		p[i] = ka_malloc(a, 50000);
	for (int i = 0; i < 8; i++)
		ka_free(a, p[i]);
	assert_non_null(ka_tlsf_init(heap, HEAP_LEN));
	memset(heap, 0, HEAP_LEN); /* would fault on a forgotten guard */
	/* An abandoned heap with live guarded blocks: the next hardened init clears them. */
	a = mk();
	for (int i = 0; i < 8; i++)
		p[i] = ka_malloc(a, 50000);
	a = mk();
	memset(heap + ka_hardened_min_size(), 0, HEAP_LEN - ka_hardened_min_size());
	/* ka_hardened_release() does it for a heap with live blocks. */
	a = mk();
	p[0] = ka_malloc(a, 50000);
	assert_int_equal(ka_hardened_release(a), 0);
	assert_int_equal(st(a).guards_live, 0);
	assert_int_equal(ka_check(a), 0);
	memset(p[0], 1, 50000 + HD_PAGE);
}

static void do_write_free_slot(struct ka_alloc *a, void *arg)
{
	(void)arg;
	/* Fill one class's run, free everything, let it leave quarantine, scribble on all. */
	unsigned char *p[600];
	size_t n = 0;
	for (; n < 600; n++)
		p[n] = ka_malloc(a, 20);
	for (size_t i = 0; i < n; i++)
		ka_free(a, p[i]);
	for (int i = 0; i < 2 * KA_HARDENED_QUARANTINE; i++)
		ka_free(a, ka_malloc(a, 3000));
	for (size_t i = 0; i < n; i++)
		p[i][0] = 1;
	ka_malloc(a, 20);
}

static void do_pfree_malloc_block(struct ka_alloc *a, void *arg)
{
	(void)arg;
	ka_pfree(a, ka_malloc(a, 2 * HD_PAGE), 2);
}

static void do_free_page_block(struct ka_alloc *a, void *arg)
{
	(void)arg;
	ka_free(a, ka_palloc(a, 1));
}

static void do_free_large_interior(struct ka_alloc *a, void *arg)
{
	(void)arg;
	ka_free(a, (char *)ka_malloc(a, 50000) + HD_PAGE);
}

static void do_double_free_after_eviction(struct ka_alloc *a, void *arg)
{
	void *p = ka_malloc(a, 40);
	(void)arg;
	ka_free(a, p);
	for (int i = 0; i < 2 * KA_HARDENED_QUARANTINE; i++)
		ka_free(a, ka_malloc(a, 1000));
	ka_free(a, p);
}

static void do_large_write_after_free(struct ka_alloc *a, void *arg)
{
	unsigned char *p = ka_malloc(a, 30000);
	(void)arg;
	ka_free(a, p);
	p[100] = 0;
	for (int i = 0; i < 2 * KA_HARDENED_QUARANTINE; i++)
		ka_free(a, ka_malloc(a, 64));
}

static void do_free_metadata(struct ka_alloc *a, void *arg)
{
	(void)arg;
	ka_free(a, (char *)hd_of(a)->pm + 16);
}

static void test_misuse(void **state)
{
	(void)state;
	ka_test_expect_abort(do_write_free_slot, mk(), NULL);
	ka_test_expect_abort(do_pfree_malloc_block, mk(), NULL);
	ka_test_expect_abort(do_free_page_block, mk(), NULL);
	ka_test_expect_abort(do_free_large_interior, mk(), NULL);
	ka_test_expect_abort(do_double_free_after_eviction, mk(), NULL);
	ka_test_expect_abort(do_large_write_after_free, mk(), NULL);
	ka_test_expect_abort(do_free_metadata, mk(), NULL);
}

/* ---- the checker counts deliberate corruption exactly ---------------------------------- */

struct scene {
	struct ka_alloc *a;
	struct ka_hardened *h;
	unsigned char *live;  /* a live 100-byte block */
	unsigned char *quar;  /* a quarantined 100-byte block */
	unsigned char *large; /* a live one-page block with a canary trailer */
	struct hd_run *run;   /* the run of live and quar */
	unsigned cls;
};

static struct scene scene(void)
{
	struct scene s;

	s.a = mk();
	s.h = hd_of(s.a);
	ka_hardened_set_guard_limit(s.a, 0);
	s.live = ka_malloc(s.a, 100);
	s.quar = ka_malloc(s.a, 100);
	ka_free(s.a, s.quar);
	s.large = ka_palloc(s.a, 1);
	s.run = &s.h->runs[HD_PG_LOW(s.h->pm[((uintptr_t)s.live - s.h->arena) >> HD_SHIFT].w)];
	s.cls = s.run->cls;
	assert_int_equal(ka_check(s.a), 0);
	return s;
}

/* A free slot of the scene's run (not live, not quarantined). */
static unsigned char *free_slot(const struct scene *s, size_t *idx)
{
	for (size_t i = 0; i < s->run->nslots; i++)
		if (!((s->run->used[i / HD_WBITS] >> (i % HD_WBITS)) & 1u)) {
			*idx = i;
			return (unsigned char *)hd_page_addr(s->h, s->run->first) +
			       i * hd_class_size(s->cls);
		}
	fail();
	return NULL;
}

static void test_checker_counts(void **state)
{
	struct scene s;
	size_t i;
	(void)state;

	/* Contents (H8): one finding each. */
	s = scene();
	s.live[ka_usable_size(s.a, s.live)] ^= 1; /* overflow into the canary */
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	s.quar[7] = 0; /* write after free */
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	free_slot(&s, &i)[3] = 0; /* write into a never-used slot */
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	s.large[HD_PAGE + 100] ^= 0x10; /* the canary page after a large block */
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	((unsigned char *)s.h->meta_guard)[HD_PAGE - 1] ^= 1; /* underflow of the first page */
	assert_int_equal(ka_check(s.a), 1);

	/* Cached counters (H2..H7): each wrong field is one finding. */
	s = scene();
	s.run->nfree++;
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	s.run->nlive--;
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	s.h->free_pages--;
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	s.h->slot_avail += 16;
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	s.h->qbytes -= 16;
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	s.h->nempty[s.cls]++;
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	s.h->large_live++;
	assert_int_equal(ka_check(s.a), 1);
	s = scene();
	s.h->guards_live++;
	assert_int_equal(ka_check(s.a), 1);

	/* Tables. The free-page bitmap: one page marked used that the table calls free. */
	s = scene();
	{
		size_t pg = s.h->npages - 1;
		s.h->freemap[pg / HD_WBITS] &= ~((size_t)1 << (pg % HD_WBITS));
	}
	assert_int_equal(ka_check(s.a), 1);
	/* A run missing from its partial list. */
	s = scene();
	s.h->partial[s.cls] = -1;
	assert_int_equal(ka_check(s.a), 1);
	/* A free slot marked used but not live looks quarantined without being in the ring: the
	 * ring disagrees (count and bytes), the run's free count and the free slot bytes too. */
	s = scene();
	free_slot(&s, &i);
	s.run->used[i / HD_WBITS] |= (size_t)1 << (i % HD_WBITS);
	assert_int_equal(ka_check(s.a), 4);
	/* A live bit without its used bit: the bitmap rule, and the free count now has one slot
	 * more than the field says; the bytes of free slots too. */
	s = scene();
	{
		size_t k =
		    ((uintptr_t)s.live - hd_page_addr(s.h, s.run->first)) / hd_class_size(s.cls);
		s.run->used[k / HD_WBITS] &= ~((size_t)1 << (k % HD_WBITS));
	}
	assert_int_equal(ka_check(s.a), 3);
	/* A large block whose trailer entry claims a longer block: the trailer entry, then the
	 * trailer page itself belongs to no block, and the large-block count disagrees. */
	s = scene();
	{
		size_t pg = ((uintptr_t)s.large - s.h->arena) >> HD_SHIFT;
		s.h->pm[pg + 1].w = HD_PG(HD_PG_TRAIL, 5);
	}
	assert_int_equal(ka_check(s.a), 3);
	/* A high-water mark beyond the run table: the table checks stop there. */
	s = scene();
	s.h->runs_hw = s.h->nruns + 1;
	assert_int_equal(ka_check(s.a), 1);
	/* A control-structure field out of range stops the check at once. */
	s = scene();
	s.h->npages = 3;
	assert_int_equal(ka_check(s.a), 1);
}

/* ---- several regions ------------------------------------------------------------------- */

static int count_live(void *p, size_t len, bool used, void *arg)
{
	(void)p;
	(void)len;
	if (used)
		++*(size_t *)arg;
	return 0;
}

/* A kernel's later memory-map regions: each added region serves what the first cannot, frees
 * and checks find the right region, overlaps and too-small regions are refused, the guard
 * bound covers all regions, and a block of one region freed twice is still caught. */
static void test_add_memory(void **state)
{
	size_t half = HEAP_LEN / 2, n = 0, live = 0;
	struct ka_alloc *a = ka_hardened_init(heap, half);
	static unsigned char *blocks[4096];
	struct ka_info before, after;
	struct ka_hardened_stats s;
	bool in_second = false;
	(void)state;

	assert_non_null(a);
	ka_hardened_set_guard_limit(a, 3);
	ka_info(a, &before);
	assert_int_equal(ka_add_memory(a, heap + half / 2, half), KA_EEXIST);
	assert_int_equal(ka_add_memory(a, heap + half, ka_hardened_min_size() - 1), KA_EINVAL);
	assert_int_equal(ka_add_memory(a, NULL, half), KA_EINVAL);
	assert_int_equal(ka_add_memory(a, heap + half, half), 0);
	assert_int_equal(ka_add_memory(a, heap + half, half), KA_EEXIST);
	ka_info(a, &after);
	assert_true(after.total >= before.total + half - 2 * HD_PAGE);
	assert_int_equal(ka_check(a), 0);

	/* One bound for the guard pages of all regions. */
	{
		void *pg[8];

		for (size_t i = 0; i < 8; i++)
			assert_non_null(pg[i] = ka_palloc(a, 16));
		assert_int_equal(ka_hardened_stats(a, &s), 0);
		assert_int_equal(s.guards_live, s.guards_available ? 3 : 0);
		assert_int_equal(ka_check(a), 0);
		for (size_t i = 0; i < 8; i++)
			ka_pfree(a, pg[i], 16);
	}
	/* Fill well past the first region's arena: the rest must come from the second. */
	while (n < 4096) {
		unsigned char *p = ka_malloc(a, 1000 + n % 3000);

		if (!p)
			break;
		memset(p, (int)n, 1000);
		in_second |= p >= heap + half;
		blocks[n++] = p;
	}
	assert_true(in_second);
	assert_true(n > before.total / 4000);
	assert_int_equal(ka_walk(a, count_live, &live), 0);
	assert_int_equal(live, n);
	assert_int_equal(ka_check(a), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(blocks[i][0], (unsigned char)i);
		ka_free(a, blocks[i]);
	}
	assert_int_equal(ka_check(a), 0);
	/* Everything came back: the same fill fits again (whole-run slack aside). */
	ka_hardened_release(a);
	live = n;
	for (n = 0; n < live; n++)
		if ((blocks[n] = ka_malloc(a, 1000 + n % 3000)) == NULL)
			break;
	assert_true(n >= live - live / 50);
	while (n > 0)
		ka_free(a, blocks[--n]);
	assert_int_equal(ka_check(a), 0);
}

static void do_double_free_second_region(struct ka_alloc *unused, void *arg)
{
	struct ka_alloc *a = ka_hardened_init(heap, HEAP_LEN / 2);
	void *p;
	(void)unused;
	(void)arg;

	ka_add_memory(a, heap + HEAP_LEN / 2, HEAP_LEN / 2);
	while ((p = ka_malloc(a, 4000)) != NULL && (unsigned char *)p < heap + HEAP_LEN / 2)
		;
	ka_free(a, p);
	ka_free(a, p);
}

static void test_add_memory_misuse(void **state)
{
	(void)state;
	ka_test_expect_abort(do_double_free_second_region, NULL, NULL);
}

static int setup(void **state)
{
	(void)state;
	heap = mmap(NULL, HEAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return heap == MAP_FAILED ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_entropy),
	    cmocka_unit_test(test_classes),
	    cmocka_unit_test(test_canary),
	    cmocka_unit_test(test_random_placement),
	    cmocka_unit_test(test_quarantine),
	    cmocka_unit_test(test_drain_before_oom),
	    cmocka_unit_test(test_guard_faults),
	    cmocka_unit_test(test_guard_limit),
	    cmocka_unit_test(test_region_reusable),
	    cmocka_unit_test(test_misuse),
	    cmocka_unit_test(test_checker_counts),
	    cmocka_unit_test(test_guard_bound_maps),
	    cmocka_unit_test(test_kernel_refuses_guards),
	    cmocka_unit_test(test_add_memory),
	    cmocka_unit_test(test_add_memory_misuse),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
