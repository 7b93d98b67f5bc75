/* SPDX-License-Identifier: MIT */
/*
 * `kalloc-bench threads`: wall-clock throughput of the per-CPU cache adapter (kalloc/cache.h)
 * over ka_locked(tlsf) (shared statistics counters; and "cache-pcs": the same with
 * KA_CACHE_PERCPU_STATS), of ka_locked(tlsf) alone, of glibc and of mimalloc, on 1 and on 2
 * threads. Each thread runs a fixed number of operations; one operation frees the block in a
 * random slot of a window (if any) and allocates a new one of 16..1024 bytes into it, writing
 * its first byte. Two patterns: "local" (each thread its own window of 256 slots: every free
 * on the allocating thread) and "shared" (one window for all threads, swapped atomically:
 * with 2 threads about half of the frees are of blocks the other thread allocated).
 * Contenders alternate within each repetition; the figure is the median over repetitions of
 * nanoseconds per operation (wall time / operations per thread).
 *
 * Usage: kalloc-bench threads [--ops N] [--reps R]   (defaults 2000000 and 5)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench.h"
#include "kalloc/cache.h"
#include "kalloc/lock.h"

#if KA_BENCH_MIMALLOC
#include <mimalloc.h>
#endif

#define WINDOW	  256
#define MAXTHR	  2
#define MAXREPS	  15
#define HEAP_LEN  ((size_t)256 << 20)
#define NCONT_MAX 5

enum kind { T_CACHE, T_CACHE_PCS, T_LOCKED, T_GLIBC, T_MIMALLOC };
static const char *const kind_name[] = {"cache(tlsf)", "cache-pcs", "locked(tlsf)", "glibc",
					"mimalloc"};

static void *(*g_malloc)(size_t);
static void (*g_free)(void *);

struct run {
	enum kind k;
	struct ka_alloc *a;
	unsigned long ops;
	void *volatile *shared; /* NULL: local windows */
};

struct thr {
	struct run *r;
	unsigned id;
};

static inline void *t_malloc(struct run *r, size_t n)
{
	switch (r->k) {
	case T_GLIBC:
		return g_malloc(n);
#if KA_BENCH_MIMALLOC
	case T_MIMALLOC:
		return mi_malloc(n);
#endif
	default:
		return ka_malloc(r->a, n);
	}
}

static inline void t_free(struct run *r, void *p)
{
	switch (r->k) {
	case T_GLIBC:
		g_free(p);
		break;
#if KA_BENCH_MIMALLOC
	case T_MIMALLOC:
		mi_free(p);
		break;
#endif
	default:
		ka_free(r->a, p);
	}
}

static void *worker(void *arg)
{
	struct thr *t = arg;
	struct run *r = t->r;
	void *local[WINDOW] = {0};
	void *volatile *w = r->shared ? r->shared : (void *volatile *)local;
	uint32_t s = 0x9e3779b9u * (t->id + 1);

	for (unsigned long i = 0; i < r->ops; i++) {
		s ^= s << 13;
		s ^= s >> 17;
		s ^= s << 5;
		unsigned char *p = t_malloc(r, 16 + s % 1009);
		if (!p) {
			fprintf(stderr, "kalloc-bench threads: %s: out of memory\n",
				kind_name[r->k]);
			exit(2);
		}
		p[0] = (unsigned char)i;
		void *old = __atomic_exchange_n(&w[(s >> 10) % WINDOW], p, __ATOMIC_ACQ_REL);
		if (old)
			t_free(r, old);
	}
	if (!r->shared)
		for (unsigned i = 0; i < WINDOW; i++)
			if (local[i])
				t_free(r, local[i]);
	return NULL;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One timed run: fresh kalloc heap, nthr threads, ns per operation of one thread. */
static double one(enum kind k, unsigned nthr, bool shared, unsigned long ops)
{
	static struct ka_locked lk;
	struct ka_cache_config cfg = {8, 0, 0, 0, k == T_CACHE_PCS ? KA_CACHE_PERCPU_STATS : 0};
	void *heap = NULL, *cmem = NULL;
	size_t clen = ka_cache_memsize(cfg.ncpus, &cfg);
	void *volatile win[WINDOW] = {0};
	struct run r = {k, NULL, ops, shared ? win : NULL};
	pthread_t tid[MAXTHR];
	struct thr t[MAXTHR];

	if (k == T_CACHE || k == T_CACHE_PCS || k == T_LOCKED) {
		heap = bench_scratch(HEAP_LEN);
		r.a = ka_locked_init(&lk, ka_backend_find("tlsf")->init(heap, HEAP_LEN));
		r.a->flags |= KA_ALLOC_NOSTATS;
		if (k != T_LOCKED) {
			cmem = bench_scratch(clen);
			r.a = ka_cache_init(cmem, clen, r.a, &cfg);
		}
	}
	double t0 = now_ns();
	for (unsigned i = 0; i < nthr; i++) {
		t[i] = (struct thr){&r, i};
		if (pthread_create(&tid[i], NULL, worker, &t[i]) != 0)
			exit(2);
	}
	for (unsigned i = 0; i < nthr; i++)
		pthread_join(tid[i], NULL);
	double dt = now_ns() - t0;
	for (unsigned i = 0; i < WINDOW; i++)
		if (win[i])
			t_free(&r, win[i]);
	if (heap)
		bench_scratch_free(heap, HEAP_LEN);
	if (cmem)
		bench_scratch_free(cmem, clen);
	return dt / (double)ops;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int bench_threads_main(int argc, char **argv)
{
	unsigned long ops = 2000000;
	unsigned reps = 5;
	enum kind ks[NCONT_MAX];
	unsigned nk = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
			ops = strtoul(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			reps = (unsigned)strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: kalloc-bench threads [--ops N] [--reps R]\n");
			return 2;
		}
	}
	if (reps == 0 || reps > MAXREPS || ops == 0) {
		fprintf(stderr, "kalloc-bench threads: --reps 1..%d, --ops >= 1\n", MAXREPS);
		return 2;
	}
	bench_glibc_resolve();
	bench_glibc_api(&g_malloc, &g_free);
	ks[nk++] = T_CACHE;
	ks[nk++] = T_CACHE_PCS;
	ks[nk++] = T_LOCKED;
	ks[nk++] = T_GLIBC;
	if (bench_have_mimalloc())
		ks[nk++] = T_MIMALLOC;

	printf("threads: %lu operations per thread, median of %u runs, ns per operation\n", ops,
	       reps);
	printf("%-8s %-7s", "pattern", "threads");
	for (unsigned j = 0; j < nk; j++)
		printf(" %13s", kind_name[ks[j]]);
	printf("\n");
	for (int shared = 0; shared < 2; shared++) {
		for (unsigned nthr = 1; nthr <= MAXTHR; nthr++) {
			double v[NCONT_MAX][MAXREPS];
			if (shared && nthr == 1)
				continue; /* the same as local on one thread */
			for (unsigned rep = 0; rep < reps; rep++)
				for (unsigned j = 0; j < nk; j++)
					v[j][rep] = one(ks[j], nthr, shared, ops);
			printf("%-8s %-7u", shared ? "shared" : "local", nthr);
			for (unsigned j = 0; j < nk; j++) {
				qsort(v[j], reps, sizeof(double), cmp_d);
				printf(" %13.1f", v[j][reps / 2]);
			}
			printf("\n");
		}
	}
	return 0;
}
