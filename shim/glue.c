/* SPDX-License-Identifier: MIT */
/*
 * The shim's heap: library objects only. One kalloc global allocator (kalloc/global.h)
 * growing from mmap through the hosted platform's page source, on the byte backend named by
 * KALLOC_BACKEND, fronted (unless KALLOC_CACHE=0, the hardened backend, or a memory checker)
 * by the library's per-CPU cache adapter (kalloc/cache.h; hosted: a slot per thread). This is
 * the only file of the shim that knows those headers besides glue.h, which gives malloc.c the
 * library's inline fast paths; the rest sees the shim_heap_* calls.
 * No block is made or carved here: every block is the cache's (a block of the global
 * allocator, so of backend X, with the cache's header) or the global allocator's.
 *
 * Locking: the cache's magazines need none on their fast path; its depots have their own
 * locks; the global allocator's locking adapter is the heap lock, and the page source's
 * lock nests inside it (global.h's lock order: depot lock -> heap lock -> source lock, the
 * cache calling the global allocator with a depot lock held only to drain magazines).
 * ka_global_owns() takes no lock.
 *
 * Chunks: the global allocator maps sub-heap chunks of 2^KALLOC_CHUNK_SHIFT bytes (default
 * 2^22 = 4 MiB; untouched pages of a chunk are never faulted in, so they cost no memory) and
 * sends requests above a quarter chunk straight to pages. Bigger chunks than the library's
 * default 256 KiB keep the number of sub-heaps small for heaps of hundreds of megabytes, where
 * a miss in the current sub-heap tries the others.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "glue.h"

struct ka_global shim_gheap;
struct ka_alloc *shim_fast = KA_CACHE_NONE;
static struct ka_alloc *cache; /* the cache adapter, or NULL without one */
static struct ka_alloc *top;   /* what malloc calls: the cache, or the global allocator */
static int created;	       /* shim_gheap is set up: ka_global_owns() may be asked */
static unsigned long lock_flags;
static char names[256];

/* Backends the shim accepts: those that reuse freed memory and take any size. */
static bool usable_backend(const struct ka_backend *b)
{
	return (b->caps & (KA_CAP_FREE | KA_CAP_ANYSIZE)) == (KA_CAP_FREE | KA_CAP_ANYSIZE);
}

const char *shim_glue_backends(void)
{
	size_t len = 0;

	names[0] = '\0';
	for (size_t i = 0; ka_backend_at(i); i++) {
		const struct ka_backend *b = ka_backend_at(i);
		size_t n = strlen(b->name);

		if (!usable_backend(b) || len + n + 2 > sizeof(names))
			continue;
		if (len)
			names[len++] = ' ';
		memcpy(names + len, b->name, n);
		len += n;
		names[len] = '\0';
	}
	return names;
}

/* The cache's storage: whole pages of the global allocator (ka_global_alloc_pages), never
 * libc's malloc, which is this shim. */
static struct ka_alloc *make_cache(void)
{
	struct ka_cache_config cc;
	size_t len, pages;
	void *mem;

	memset(&cc, 0, sizeof(cc));
	cc.max_size = SHIM_CACHE_MAX;
	/* Tags: the cache refuses double frees and sees writes after free (cache.h). */
	cc.flags = KA_CACHE_PERCPU_STATS | KA_CACHE_TAGS;
	len = ka_cache_memsize(0, &cc);
	if (len == 0)
		return NULL;
	pages = (len + KA_PAGE_SIZE - 1) / KA_PAGE_SIZE;
	mem = ka_global_alloc_pages(&shim_gheap, pages, KA_PAGE_SIZE);
	if (!mem)
		return NULL;
	return ka_cache_init(mem, pages * KA_PAGE_SIZE, ka_global_alloc_iface(&shim_gheap), &cc);
}

int shim_glue_create(const char *name, unsigned chunk_shift, size_t keep_chunks, bool with_cache)
{
	struct ka_global_config cfg;
	const struct ka_backend *b = name ? ka_backend_find(name) : ka_backend_default();

	if (!b || !usable_backend(b))
		return -1;
	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = b->name;
	cfg.chunk_shift = chunk_shift;
	/* Blocks above 1 MiB get pages of their own, given back by munmap when freed, whatever
	 * the chunk size: inside a chunk their pages would stay resident after the free. */
	cfg.large_threshold = chunk_shift > 22 ? (size_t)1 << 20 : 0;
	/* No per-call statistics are lost: the global allocator's generic counters are the
	 * backend's figures that KALLOC_STATS prints (allocations, frees, live blocks). */
	/* A chunk too small for the backend's minimum heap (slab: 2^19) is raised to the
	 * smallest that works, so that every documented KALLOC_CHUNK_SHIFT runs. */
	while (ka_global_init_hosted(&shim_gheap, 0, &cfg) != 0)
		if (++cfg.chunk_shift > 30)
			return -2;
	/* The ownership table lets free() refuse a foreign pointer before reading near it. */
	if (ka_global_owns_table(&shim_gheap) != 0)
		return -2;
	ka_global_set_keep_empty(&shim_gheap, keep_chunks);
	/* Big buffers freed and allocated again in a loop reuse pages already touched
	 * (ka_global_init_hosted's default, said here because the shim depends on it). */
	ka_global_set_keep_large(&shim_gheap, (size_t)64 << 20);
	top = ka_global_alloc_iface(&shim_gheap);
	/* hardened's quarantine and checks must see every free. */
	if (with_cache && strcmp(b->name, "hardened") != 0) {
		cache = make_cache();
		if (!cache)
			return -2;
		top = cache;
	}
	__atomic_store_n(&created, 1, __ATOMIC_RELEASE);
	return 0;
}

void shim_glue_fast(bool on)
{
	__atomic_store_n(&shim_fast, on && cache ? cache : KA_CACHE_NONE, __ATOMIC_RELEASE);
}

void shim_heap_sweep(void)
{
	if (__atomic_load_n(&created, __ATOMIC_ACQUIRE))
		(void)ka_sweep(top); /* KA_ENOTSUP: the backend holds nothing back */
}

bool shim_heap_owns(const void *p)
{
	return __atomic_load_n(&created, __ATOMIC_ACQUIRE) && ka_global_owns_fast(&shim_gheap, p);
}

const char *shim_glue_backend(void)
{
	return ka_global_name(&shim_gheap);
}

bool shim_heap_cached(void)
{
	return cache != NULL;
}

void *shim_heap_alloc(size_t size, size_t align)
{
	if (__builtin_expect(align <= KA_CFG_MIN_ALIGN, 1))
		return cache ? ka_cache_malloc(cache, size) : ka_malloc(top, size);
	return ka_memalign(top, align, size);
}

/* Out of line, so that the inline path needs no saved registers. */
static __attribute__((noinline)) void free_below(void *block)
{
	int saved = errno; /* munmap below may set it; free keeps the caller's */

	ka_free(top, block);
	errno = saved;
}

void shim_heap_free(void *block)
{
	if (cache && ka_cache_try_free(cache, block))
		return;
	free_below(block);
}

void shim_heap_free_checked(void *block)
{
	if (__builtin_expect(((uintptr_t)block & (SHIM_ALIGN - 1)) != 0 ||
				 !__atomic_load_n(&created, __ATOMIC_ACQUIRE) ||
				 !ka_global_owns_fast(&shim_gheap, block),
			     0))
		shim_misuse("free(): invalid pointer", block);
	shim_heap_free(block);
}

size_t shim_heap_usable(const void *block)
{
	return ka_usable_size(top, block);
}

/* The allocators know: a large block of the global allocator on a new mapping is zero, one it
 * reused or a sub-heap block is not; the cache asks the global allocator for the blocks it
 * passes through. */
bool shim_heap_zeroed(const void *block, size_t size)
{
#if KA_CFG_MINIMAL
	(void)block;
	(void)size;
	return false;
#else
	return top->ops->known_zero && top->ops->known_zero(top, block, size);
#endif
}

void shim_heap_flush(void)
{
	if (cache)
		ka_cache_flush(cache);
}

void shim_heap_fork_prepare(void)
{
	if (cache)
		ka_cache_fork_prepare(cache);
	lock_flags = ka_locked_lock(&shim_gheap.locked);
}

void shim_heap_fork_parent(void)
{
	ka_locked_unlock(&shim_gheap.locked, lock_flags);
	if (cache)
		ka_cache_fork_parent(cache);
}

void shim_heap_fork_child(void)
{
	/* The child's only thread is the one that held the locks: make them fresh. */
	ka_plat_lock_init(&shim_gheap.locked.lock);
	ka_plat_lock_init(&shim_gheap.src->lock);
	if (cache)
		ka_cache_fork_child(cache);
}

void shim_heap_figures(struct shim_heap_figures *out)
{
	struct ka_global_stats gs;
	const struct ka_stats *st;

	memset(out, 0, sizeof(*out));
	ka_global_stats(&shim_gheap, &gs);
	out->mapped = gs.used_pages * KA_PAGE_SIZE;
	out->in_use = gs.used_bytes;
	out->free_bytes = gs.avail_bytes;
	out->chunks = gs.chunks;
	out->large = gs.large_blocks;
	out->live = gs.live_blocks;
	out->released = gs.chunks_released;
	st = ka_stats(ka_global_alloc_iface(&shim_gheap));
	out->allocs = st->nb_allocs;
	out->frees = st->nb_frees;
	out->enomem = st->nb_enomem;
}

void shim_heap_cache_counts(uint64_t *allocs, uint64_t *frees)
{
	const struct ka_stats *st = cache ? ka_cache_stats(cache) : NULL;

	*allocs = st ? st->nb_allocs : 0;
	*frees = st ? st->nb_frees : 0;
}
