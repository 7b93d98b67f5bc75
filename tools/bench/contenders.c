/* SPDX-License-Identifier: MIT */
/*
 * kalloc-bench contenders: every backend of the registry, glibc's malloc and (when the build
 * found libmimalloc-dev) mimalloc, behind one call table, with the footprint measurement
 * each one allows.
 *
 * glibc is reached through dlsym() on libc.so.6 itself: Debian's libmimalloc.so exports
 * malloc/free (and even __libc_malloc), so once it is linked in, the plain names in this
 * process are mimalloc's. Looking the symbols up in libc's own handle gives glibc's real
 * allocator, so both run side by side in one process.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "kalloc/alloc_impl.h"

#ifndef KA_BENCH_MIMALLOC
#define KA_BENCH_MIMALLOC 0 /* tools/bench/extra.cmake sets it when libmimalloc-dev is found */
#endif
#if KA_BENCH_MIMALLOC
#include <mimalloc.h>
#endif

/* ---- harness memory ---------------------------------------------------------------------- */

void *bench_scratch(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("kalloc-bench: mmap");
		exit(2);
	}
	return p;
}

void bench_scratch_free(void *p, size_t bytes)
{
	munmap(p, bytes);
}

/* ---- kalloc ---------------------------------------------------------------------------- */

static void *k_malloc(void *ctx, size_t n)
{
	return ka_malloc(ctx, n);
}

static void k_free(void *ctx, void *p)
{
	ka_free(ctx, p);
}

static void *k_realloc(void *ctx, void *p, size_t n)
{
	return ka_realloc(ctx, p, n);
}

static const struct api kalloc_api = {k_malloc, k_free, k_realloc};

/* ---- glibc ----------------------------------------------------------------------------- */

static void *(*g_malloc)(size_t);
static void (*g_free)(void *);
static void *(*g_realloc)(void *, size_t);
static struct mallinfo2 (*g_mallinfo2)(void);

void bench_glibc_resolve(void)
{
	void *h;

	if (g_malloc)
		return;
	h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	if (h) {
		g_malloc = (void *(*)(size_t))dlsym(h, "malloc");
		g_free = (void (*)(void *))dlsym(h, "free");
		g_realloc = (void *(*)(void *, size_t))dlsym(h, "realloc");
		g_mallinfo2 = (struct mallinfo2(*)(void))dlsym(h, "mallinfo2");
	}
	if (!g_malloc || !g_free || !g_realloc) {
		/* Not glibc's libc.so.6: the plain names are the system allocator. */
		g_malloc = malloc;
		g_free = free;
		g_realloc = realloc;
	}
}

void bench_glibc_api(void *(**m)(size_t), void (**f)(void *))
{
	*m = g_malloc;
	*f = g_free;
}

static void *c_malloc(void *ctx, size_t n)
{
	(void)ctx;
	return g_malloc(n);
}

static void c_free(void *ctx, void *p)
{
	(void)ctx;
	g_free(p);
}

static void *c_realloc(void *ctx, void *p, size_t n)
{
	(void)ctx;
	return g_realloc(p, n);
}

static const struct api glibc_api = {c_malloc, c_free, c_realloc};

/* Bytes glibc holds from the OS: the extent of its heaps (arena) plus mmapped chunks. Each
 * run starts in a fresh fork() of the bench (bench.c), so the extent is this run's alone. */
static size_t glibc_footprint(void)
{
	if (!g_mallinfo2)
		return 0;
	struct mallinfo2 mi = g_mallinfo2();
	return mi.arena + mi.hblkhd;
}

/* ---- mimalloc -------------------------------------------------------------------------- */

#if KA_BENCH_MIMALLOC
static void *m_malloc(void *ctx, size_t n)
{
	(void)ctx;
	return mi_malloc(n);
}

static void m_free(void *ctx, void *p)
{
	(void)ctx;
	mi_free(p);
}

static void *m_realloc(void *ctx, void *p, size_t n)
{
	(void)ctx;
	return mi_realloc(p, n);
}

static const struct api mimalloc_api = {m_malloc, m_free, m_realloc};

static bool area_cb(const mi_heap_t *heap, const mi_heap_area_t *area, void *block, size_t bsize,
		    void *arg)
{
	(void)heap;
	(void)bsize;
	if (!block)
		*(size_t *)arg += area->committed;
	return true;
}

/* Bytes of the pages the default heap holds, counted up to each page's initialised
 * capacity (what mimalloc has touched), as mimalloc's own heap visitor reports them. */
static size_t mimalloc_footprint(void)
{
	size_t sum = 0;

	mi_heap_visit_blocks(mi_heap_get_default(), false, area_cb, &sum);
	return sum;
}
#endif

bool bench_have_mimalloc(void)
{
	return KA_BENCH_MIMALLOC != 0;
}

/* ---- contenders ------------------------------------------------------------------------ */

size_t contenders_all(struct contender *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; ka_backend_at(i) && n < max; i++)
		out[n++] = (struct contender){ka_backend_at(i)->name, C_KALLOC, ka_backend_at(i)};
	if (n < max)
		out[n++] = (struct contender){"glibc", C_GLIBC, NULL};
#if KA_BENCH_MIMALLOC
	if (n < max)
		out[n++] = (struct contender){"mimalloc", C_MIMALLOC, NULL};
#endif
	return n;
}

const char *contender_unfit(const struct contender *c, unsigned need)
{
	if (c->kind != C_KALLOC)
		return NULL;
	unsigned missing = need & ~c->kb->caps;
	if (missing & KA_CAP_FREE)
		return "no free";
	if (missing & KA_CAP_ANYSIZE)
		return "fixed size";
	return NULL;
}

bool contender_begin(struct session *s, const struct contender *c, size_t heap_len, bool keep_stats,
		     const char **why)
{
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->keep_stats = keep_stats;
	switch (c->kind) {
	case C_KALLOC: {
		s->heap_len = heap_len;
		s->mem = mmap(NULL, heap_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (s->mem == MAP_FAILED) {
			s->mem = NULL;
			*why = "mmap of the heap failed";
			return false;
		}
		/* Huge pages would make one touched byte count as 2 MiB in the footprint. */
		madvise(s->mem, heap_len, MADV_NOHUGEPAGE);
		struct ka_alloc *a = c->kb->init(s->mem, heap_len);
		if (!a) {
			munmap(s->mem, heap_len);
			s->mem = NULL;
			*why = "init refused the heap";
			return false;
		}
		if (!keep_stats)
			a->flags |= KA_ALLOC_NOSTATS;
		s->ctx = a;
		s->api = &kalloc_api;
		break;
	}
	case C_GLIBC:
		bench_glibc_resolve();
		/* The baseline is what is in use for others (libc itself): the free space glibc
		 * keeps from the OS (its 128 KiB top pad, holes) counts in this run's footprint. */
		s->api = &glibc_api;
		if (g_mallinfo2) {
			struct mallinfo2 mi = g_mallinfo2();
			s->fp_base = mi.uordblks + mi.hblkhd;
		}
		break;
	case C_MIMALLOC:
#if KA_BENCH_MIMALLOC
		mi_collect(true);
		s->api = &mimalloc_api;
		s->fp_base = mimalloc_footprint();
#endif
		break;
	}
	s->fp_peak = s->fp_base;
	return true;
}

void contender_sample(struct session *s)
{
	size_t now = 0;

	switch (s->c->kind) {
	case C_KALLOC:
		return; /* measured once at the end, from the page tables */
	case C_GLIBC:
		now = glibc_footprint();
		break;
	case C_MIMALLOC:
#if KA_BENCH_MIMALLOC
		now = mimalloc_footprint();
#endif
		break;
	}
	if (now > s->fp_peak)
		s->fp_peak = now;
}

/* Pages of the heap mapping that were ever written: anonymous private memory becomes
 * resident on first write and stays so (no swap pressure here), so this is the high-water
 * mark of the memory the allocator and the program touched, control data included. */
static size_t resident_bytes(void *mem, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (len + page - 1) / page, res = 0;
	unsigned char *vec = bench_scratch(n);

	if (mincore(mem, len, vec) == 0)
		for (size_t i = 0; i < n; i++)
			res += vec[i] & 1;
	bench_scratch_free(vec, n);
	return res * page;
}

void contender_end(struct session *s)
{
	switch (s->c->kind) {
	case C_KALLOC:
		if (s->mem) {
			s->fp_peak = resident_bytes(s->mem, s->heap_len);
			s->fp_base = 0;
			munmap(s->mem, s->heap_len);
			s->mem = NULL;
		}
		break;
	case C_GLIBC:
	case C_MIMALLOC:
		contender_sample(s);
		break;
	}
}
