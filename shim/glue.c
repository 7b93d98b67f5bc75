/* SPDX-License-Identifier: MIT */
/*
 * The shim's heap: one kalloc global allocator (kalloc/global.h) growing from mmap through
 * the platform page source, on the byte backend named by KALLOC_BACKEND. This is the only
 * file of the shim that knows the global allocator; the rest sees the shim_heap_* calls.
 *
 * Locking: the global allocator's own locking adapter is the heap lock. The thread caches
 * take it once per batch (ka_locked_lock) and call the single-threaded core inside
 * (ka_locked_inner), so a refill of 64 blocks costs one lock round trip, not 64. Inside it
 * the page source's lock nests (global.h's lock order). The one call made without the lock
 * is the usable size of a block the caller owns (shim_heap_usable, see there), and the
 * ownership query (ka_global_owns, lock free: global.h).
 *
 * Chunks: the global allocator maps sub-heap chunks of 2^KALLOC_CHUNK_SHIFT bytes (default
 * 2^22 = 4 MiB; untouched pages of a chunk are never faulted in, so they cost no memory) and
 * sends requests above a quarter chunk straight to pages. Bigger chunks than the library's
 * default 256 KiB keep the number of sub-heaps small for heaps of hundreds of megabytes, where
 * a miss in the current sub-heap tries the others.
 */
#define _GNU_SOURCE
#include <string.h>

#include "kalloc/global.h"
#include "shim.h"

static struct ka_global gheap;
static int created; /* gheap is set up: ka_global_owns() may be asked */
uintptr_t shim_chunk_mask = ~(uintptr_t)0;
static struct ka_alloc *core;
static unsigned long lock_flags;
static char names[256];
/* Counted under the heap lock. */
static uint64_t n_allocs, n_frees, n_enomem;

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

int shim_glue_create(const char *name, unsigned chunk_shift, size_t keep_chunks)
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
	if (ka_global_init_hosted(&gheap, 0, &cfg) != 0 || gheap.chunk_shift != chunk_shift)
		return -2;
	/* The ownership table lets free() refuse a foreign pointer before reading near it. */
	if (ka_global_owns_table(&gheap) != 0)
		return -2;
	shim_chunk_mask = gheap.chunk_size - 1;
	ka_global_set_keep_empty(&gheap, keep_chunks);
	core = ka_locked_inner(&gheap.locked);
	/* The generic layer's per-call statistics would repeat the global allocator's own
	 * counters (ka_global_stats(), O(1)), which the figures below read. */
	core->flags |= KA_ALLOC_NOSTATS;
	__atomic_store_n(&created, 1, __ATOMIC_RELEASE);
	return 0;
}

bool shim_heap_owns(const void *p)
{
	return __atomic_load_n(&created, __ATOMIC_ACQUIRE) && ka_global_owns(&gheap, p);
}

const char *shim_glue_backend(void)
{
	return ka_global_name(&gheap);
}

void shim_heap_lock(void)
{
	lock_flags = ka_locked_lock(&gheap.locked);
}

void shim_heap_unlock(void)
{
	ka_locked_unlock(&gheap.locked, lock_flags);
}

void shim_heap_lock_reinit(void)
{
	ka_plat_lock_init(&gheap.locked.lock);
}

void *shim_heap_alloc_locked(size_t size, size_t align)
{
	void *p =
	    align <= KA_CFG_MIN_ALIGN ? ka_malloc(core, size) : ka_memalign(core, align, size);

	if (p)
		n_allocs++;
	else
		n_enomem++;
	return p;
}

void shim_heap_free_locked(void *block)
{
	n_frees++;
	ka_free(core, block);
}

/* Without the lock, on purpose: this is the free() fast path's only question to the
 * heap. It reads the chunk header (fixed while the chunk holds a live block, and the caller
 * owns one) and the block's own in-band size (which only the block's owner changes; a
 * neighbour's free may rewrite flag bits of the same word under the lock, never the size). */
size_t shim_heap_usable(const void *block)
{
	return ka_usable_size(core, block);
}

void *shim_heap_realloc_locked(void *block, size_t size)
{
	return ka_realloc(core, block, size);
}

/* The global allocator sends every request above its threshold straight to large_alloc(),
 * which maps it from src_map(): a fresh anonymous mapping, never recycled memory. */
bool shim_heap_fresh(size_t size)
{
	return size > gheap.large_threshold;
}

void shim_heap_figures(struct shim_heap_figures *out)
{
	struct ka_global_stats gs;

	ka_global_stats(&gheap, &gs);
	out->mapped = gs.used_pages * KA_PAGE_SIZE;
	out->in_use = gs.used_bytes;
	out->free_bytes = gs.avail_bytes;
	out->chunks = gs.chunks;
	out->large = gs.large_blocks;
	shim_heap_lock();
	out->allocs = n_allocs;
	out->frees = n_frees;
	out->enomem = n_enomem;
	shim_heap_unlock();
	out->released = gs.chunks_released;
}
