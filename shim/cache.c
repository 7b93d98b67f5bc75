/* SPDX-License-Identifier: MIT */
/*
 * Per-thread cache in front of the global allocator (the hosted form of kalloc's per-CPU
 * cache adapter): one magazine per size class per thread, so that the common malloc and free
 * take no lock and touch only the calling thread's memory.
 *
 * Magazines. A magazine is a singly linked list of free blocks of one size class (the link is
 * in the block's first user word) with a count. malloc pops, free pushes. An empty magazine is
 * refilled with bound/2 blocks allocated from the global allocator under ONE acquisition of
 * the heap lock; a free that would push a magazine past its bound first flushes bound/2
 * blocks back under one acquisition. A block freed by another thread than the one that
 * allocated it simply joins the freeing thread's magazine: blocks belong to the global
 * allocator, not to threads, so there is no remote-free queue.
 *
 * Bounds. bound(class) = clamp(32 KiB / class size, 4, 128) blocks: 128 blocks for classes up
 * to 256 bytes, 32 of 1 KiB, 8 of 4 KiB, 4 of 16 KiB. A thread therefore keeps at most about
 * 1 MiB of free blocks (sum over the 36 classes of bound x class size); the
 * figure is computed at start-up in cache_setup() (cached_bytes_max). Requests above
 * SHIM_SMALL_MAX (16 KiB) bypass the cache.
 *
 * Thread exit. The first time a thread needs the slow path it registers its cache as the
 * value of a pthread key whose destructor gives every cached block back and marks the cache
 * dead; a dead cache keeps nothing (frees go straight to the global allocator), so
 * allocations made by later TLS destructors cannot leak. The main thread's cache is not
 * flushed at exit (the process ends).
 *
 * Lock order (the whole shim): init lock -> heap lock -> the global allocator's own locks
 * (taken inside shim_heap_*_locked). The thread caches themselves have no lock: only their
 * own thread touches them. fork() takes the init lock, then the heap lock, in that order, in
 * its prepare handler (heap.c), so the child never inherits a lock held by a thread that does
 * not exist there; the forking thread's cache is intact in the child, the other threads'
 * cached blocks are simply unreachable there (bounded by the figure above).
 *
 * Thread-local state uses the initial-exec TLS model: no TLS descriptor call, no allocation
 * by the dynamic linker on first access (the glibc manual's rule for malloc replacements).
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "shim.h"

enum { TC_NEW = 0, TC_ACTIVE = 1, TC_DEAD = 2 };

struct bin {
	void *head;
	uint32_t count;
	uint32_t bound;
};

struct tcache {
	struct bin bins[SHIM_NCLS];
	int state;
	uint64_t hits, misses, frees, flushes;
};

static __thread struct tcache tc __attribute__((tls_model("initial-exec")));

static uint32_t bounds[SHIM_NCLS];
static pthread_key_t tc_key;
static int tc_key_ok;
static size_t cached_bytes_max;

/* Counters of threads that have exited (merged by their destructor). */
static uint64_t dead_hits, dead_misses, dead_frees, dead_flushes;

static void release_all(struct tcache *t)
{
	shim_heap_lock();
	for (unsigned c = 0; c < SHIM_NCLS; c++) {
		struct bin *b = &t->bins[c];
		while (b->head) {
			void *p = b->head;
			b->head = *(void **)p;
			shim_heap_free_locked(p);
		}
		b->count = 0;
	}
	shim_heap_unlock();
}

static void tc_destructor(void *arg)
{
	struct tcache *t = arg;

	t->state = TC_DEAD;
	for (unsigned c = 0; c < SHIM_NCLS; c++)
		t->bins[c].bound = 0;
	release_all(t);
	__atomic_fetch_add(&dead_hits, t->hits, __ATOMIC_RELAXED);
	__atomic_fetch_add(&dead_misses, t->misses, __ATOMIC_RELAXED);
	__atomic_fetch_add(&dead_frees, t->frees, __ATOMIC_RELAXED);
	__atomic_fetch_add(&dead_flushes, t->flushes, __ATOMIC_RELAXED);
	t->hits = t->misses = t->frees = t->flushes = 0;
}

/* Called once from heap.c's initialisation, under the init lock. pthread_key_create does
 * not allocate in glibc (keys live in a static table). */
void shim_cache_init_key(void)
{
	cached_bytes_max = 0;
	for (unsigned c = 0; c < SHIM_NCLS; c++) {
		size_t sz = shim_class_size(c);
		size_t n = 32768 / sz;

		if (n < 4)
			n = 4;
		if (n > 128)
			n = 128;
		bounds[c] = (uint32_t)n;
		cached_bytes_max += n * sz;
	}
	tc_key_ok = pthread_key_create(&tc_key, tc_destructor) == 0;
}

/* First slow-path call of a thread: arrange for the destructor. The state changes before
 * pthread_setspecific, which may itself call calloc (keys past the first 32). */
static void tc_register(void)
{
	tc.state = TC_ACTIVE;
	if (!tc_key_ok || pthread_setspecific(tc_key, &tc) != 0) {
		tc.state = TC_DEAD;
		return;
	}
	for (unsigned c = 0; c < SHIM_NCLS; c++)
		tc.bins[c].bound = bounds[c];
}

static void *refill(unsigned c)
{
	struct bin *b = &tc.bins[c];
	size_t sz = shim_class_size(c);
	uint32_t want = tc.state == TC_DEAD ? 0 : b->bound / 2;
	void *ret;

	shim_heap_lock();
	ret = shim_heap_alloc_locked(sz, SHIM_ALIGN);
	for (uint32_t i = 0; ret && i < want; i++) {
		void *p = shim_heap_alloc_locked(sz, SHIM_ALIGN);

		if (!p)
			break;
		*(void **)p = b->head;
		b->head = p;
		b->count++;
	}
	shim_heap_unlock();
	return ret;
}

void *shim_cache_alloc(unsigned c)
{
	struct bin *b = &tc.bins[c];
	void *p = b->head;

	if (__builtin_expect(p != NULL, 1)) {
		b->head = *(void **)p;
		b->count--;
		tc.hits++;
		return p;
	}
	if (!shim_heap_ready)
		shim_heap_init();
	if (tc.state == TC_NEW)
		tc_register();
	tc.misses++;
	return refill(c);
}

static void flush(struct bin *b, uint32_t keep)
{
	shim_heap_lock();
	while (b->count > keep) {
		void *p = b->head;
		b->head = *(void **)p;
		b->count--;
		shim_heap_free_locked(p);
	}
	shim_heap_unlock();
}

void shim_cache_free(void *p, size_t u)
{
	struct bin *b = &tc.bins[shim_class_floor(u)];

	/* The one double free a magazine can see cheaply: the same block freed twice in a row.
	 * Other double frees reach the backend's own checks when the block goes back. */
	if (__builtin_expect(b->head == p, 0))
		shim_misuse("double free", p);
	if (__builtin_expect(b->count < b->bound, 1)) {
		*(void **)p = b->head;
		b->head = p;
		b->count++;
		tc.frees++;
		return;
	}
	if (tc.state == TC_NEW) {
		tc_register();
		if (tc.state == TC_ACTIVE) {
			shim_cache_free(p, u);
			return;
		}
	}
	/* Over the bound (or a dead cache, whose bounds are 0): push, then trim to half. */
	*(void **)p = b->head;
	b->head = p;
	b->count++;
	tc.flushes++;
	flush(b, tc.state == TC_DEAD ? 0 : b->bound / 2);
}

void shim_cache_flush_self(void)
{
	if (tc.state != TC_NEW)
		release_all(&tc);
}

void shim_cache_counts(struct shim_cache_counts *out)
{
	out->hits = __atomic_load_n(&dead_hits, __ATOMIC_RELAXED) + tc.hits;
	out->misses = __atomic_load_n(&dead_misses, __ATOMIC_RELAXED) + tc.misses;
	out->frees = __atomic_load_n(&dead_frees, __ATOMIC_RELAXED) + tc.frees;
	out->flushes = __atomic_load_n(&dead_flushes, __ATOMIC_RELAXED) + tc.flushes;
}

size_t shim_cache_bytes_max(void)
{
	return cached_bytes_max;
}
