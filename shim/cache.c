/* SPDX-License-Identifier: MIT */
/*
 * Per-thread cache in front of the global allocator (the hosted form of kalloc's per-CPU
 * cache adapter): one magazine per size class per thread, so that the common malloc and free
 * take no lock and touch only the calling thread's memory.
 *
 * Magazines. A magazine is a singly linked list of free blocks of one size class (link and
 * tag in the block's first two words, shim.h) with a count. malloc pops (checking the tag),
 * free pushes (refusing a block that already carries it). An empty magazine of a span class
 * is refilled with the free blocks of whole spans (span.c: one class-lock acquisition, O(1)
 * per span plus one write per block never handed out before); of a larger class, with bound/2
 * blocks allocated from the global allocator under ONE acquisition of the heap lock. A free
 * that would push a magazine past its bound first gives bound/2 blocks back the same way.
 * A block freed by another thread than the one that allocated it simply joins the freeing
 * thread's magazine: blocks belong to spans or to the global allocator, not to threads, so
 * there is no remote-free queue.
 *
 * Bounds. bound(class) = clamp(32 KiB / class size, 4, 128) blocks: 128 blocks for classes up
 * to 256 bytes, 32 of 1 KiB, 8 of 4 KiB, 4 of 16 KiB; a refill of a span class may bring a
 * whole span (up to 252 blocks of 16 bytes) beyond it, which the next flush trims. A thread
 * therefore keeps at most about 1 MiB of free blocks (sum over the 36 classes of bound x class
 * size, plus one span per span class); the figure is computed at start-up in
 * shim_cache_init_key() (cached_bytes_max). Requests above
 * SHIM_SMALL_MAX (16 KiB) bypass the cache.
 *
 * Thread exit. The first time a thread needs the slow path it registers its cache as the
 * value of a pthread key whose destructor gives every cached block back and marks the cache
 * dead; a dead cache keeps nothing (frees go straight to the global allocator), so
 * allocations made by later TLS destructors cannot leak. The main thread's cache is not
 * flushed at exit (the process ends).
 *
 * Lock order (the whole shim): init lock -> span class locks (span.c, one at a time, or all
 * in class order for fork) -> heap lock -> the global allocator's own locks (taken inside
 * shim_heap_*_locked). The thread caches themselves have no lock: only their
 * own thread touches them. fork() takes the init lock, then the heap lock, in that order, in
 * its prepare handler (heap.c) (the span class locks between the two), so the child never inherits
 * a lock held by a thread that does not exist there; the forking thread's cache is intact in the
 * child, the other threads' cached blocks are simply unreachable there (bounded by the figure
 * above).
 *
 * Thread-local state uses the initial-exec TLS model: no TLS descriptor call, no allocation
 * by the dynamic linker on first access (the glibc manual's rule for malloc replacements).
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "shim.h"

enum { TC_NEW = 0, TC_ACTIVE = 1, TC_DEAD = 2 };

#define bin    shim_bin
#define tcache shim_tcache
#define tc     shim_tc

const uint8_t shim_class_tab[65] = {
    0,	0,  1,	2,  3,	4,  5,	6,  7,	8,  8,	9,  9,	10, 10, 11, 11, 12, 12, 12, 12, 13,
    13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17,
    17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19};

__thread struct shim_tcache shim_tc __attribute__((tls_model("initial-exec")));

static uint32_t bounds[SHIM_NCLS];
int shim_cache_direct;
static pthread_key_t tc_key;
static int tc_key_ok;
static size_t cached_bytes_max;

/* Counters of threads that have exited (merged by their destructor). */
static uint64_t dead_hits, dead_misses, dead_frees, dead_flushes;

/* Give the first n blocks of bin b (class c) back to the spans or the global allocator. */
static void give_back(struct bin *b, unsigned c, uint32_t n)
{
	if (n == 0)
		return;
	if (c < shim_span_ncls) {
		b->head = shim_span_flush(c, b->head, n);
	} else {
		shim_heap_lock();
		for (uint32_t i = 0; i < n; i++) {
			void *p = b->head;

			if (!shim_is_tagged(p))
				shim_misuse("free block modified after free (write after free)", p);
			b->head = *(void **)p;
			shim_heap_free_locked(p);
		}
		shim_heap_unlock();
	}
	b->count -= n;
}

static void release_all(struct tcache *t)
{
	for (unsigned c = 0; c < SHIM_NCLS; c++)
		give_back(&t->bins[c], c, t->bins[c].count);
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
		if (shim_cache_direct)
			n = 0; /* every free reaches the backend at once */
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
	uint32_t want = tc.state == TC_DEAD ? 0 : b->bound / 2;
	void *ret;

	if (c < shim_span_ncls) {
		uint32_t n;

		ret = shim_span_refill(c, want, &n);
		if (!ret)
			return NULL;
		b->head = *(void **)ret;
		b->count = n - 1;
		if (tc.state == TC_DEAD)
			give_back(b, c, b->count);
	} else {
		size_t sz = shim_class_size(c);

		shim_heap_lock();
		ret = shim_heap_alloc_locked(sz, SHIM_ALIGN);
		for (uint32_t i = 0; ret && i < want; i++) {
			void *p = shim_heap_alloc_locked(sz, SHIM_ALIGN);

			if (!p)
				break;
			shim_link(p, b->head);
			b->head = p;
			b->count++;
		}
		shim_heap_unlock();
		if (!ret)
			return NULL;
	}
	((uintptr_t *)ret)[1] = 0; /* a stale tag would make its first free look double */
	return ret;
}

void *shim_cache_alloc_slow(unsigned c)
{
	if (!shim_heap_ready)
		shim_heap_init();
	if (tc.state == TC_NEW)
		tc_register();
	tc.misses++;
	return refill(c);
}

void shim_cache_free_slow(void *p, unsigned c)
{
	struct bin *b = &tc.bins[c];

	if (tc.state == TC_NEW) {
		tc_register();
		if (tc.state == TC_ACTIVE) {
			shim_cache_free(p, c);
			return;
		}
	}
	/* Over the bound (or a dead cache, whose bounds are 0): push, then trim to half. */
	shim_link(p, b->head);
	b->head = p;
	b->count++;
	tc.flushes++;
	give_back(b, c, b->count - (tc.state == TC_DEAD ? 0 : b->bound / 2));
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
