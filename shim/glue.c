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
 * is the usable size of a block the caller owns (shim_heap_usable, see there).
 *
 * Chunks: the global allocator maps sub-heap chunks of 2^KALLOC_CHUNK_SHIFT bytes (default
 * 2^22 = 4 MiB; the pages are mapped MAP_NORESERVE, so untouched parts cost no memory) and
 * sends requests above a quarter chunk straight to pages. Bigger chunks than the library's
 * default 256 KiB keep the number of sub-heaps small for heaps of hundreds of megabytes, where
 * a miss in the current sub-heap tries the others.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "kalloc/global.h"
#include "shim.h"

static struct ka_global gheap;
/* The page source of the heap: the platform's mmap, recording every mapping in the
 * registry below (see shim_slot() in shim.h). */
static struct ka_page_source src;
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

/* ---- registry of the heap's mappings --------------------------------------------------
 * Two bits per chunk-sized, chunk-aligned slot of the address space: SHIM_SLOT_FULL when a
 * mapping of the heap covers the whole slot, SHIM_SLOT_PART when it covers its start only
 * (the last slot of a large block), 0 otherwise. Every mapping of the global allocator starts
 * chunk aligned (sub-heap chunks and large blocks alike), so each slot is touched by at most
 * one mapping. Written under the page source's lock, read without any lock by free() to
 * validate a pointer before anything around it is read. The table covers the 47-bit user
 * address space and is mapped MAP_NORESERVE: untouched parts cost nothing (8 MiB of
 * address space for 4 MiB chunks, one page per 8 GiB of heap touched).
 * free()'s common path reads the pointer's own page (a span header) before it asks the
 * registry; free_slow() asks it first. */
/* Before the heap exists, every pointer maps to slot 0 of a one-word table that says "not
 * ours": free() of a pointer before the first malloc is refused without a special case. */
static uint64_t reg_empty[1];
uint64_t *shim_reg = reg_empty;
unsigned shim_reg_shift = 63;

static void reg_set(uintptr_t slot, unsigned v)
{
	uint64_t *w = &shim_reg[slot >> 5];
	unsigned sh = (unsigned)(slot & 31) * 2;

	__atomic_fetch_and(w, ~((uint64_t)3 << sh), __ATOMIC_RELAXED);
	__atomic_fetch_or(w, (uint64_t)v << sh, __ATOMIC_RELAXED);
}

static void reg_mark(void *base, size_t len, bool on)
{
	uintptr_t a = (uintptr_t)base, end = a + len;
	uintptr_t csize = (uintptr_t)1 << shim_reg_shift;

	if ((end - 1) >> SHIM_VA_BITS)
		return; /* beyond the table: such pointers are refused, never misread */
	for (uintptr_t s = a >> shim_reg_shift; s <= (end - 1) >> shim_reg_shift; s++) {
		uintptr_t lo = s << shim_reg_shift;
		unsigned v = lo >= a && lo + csize <= end ? SHIM_SLOT_FULL : SHIM_SLOT_PART;

		reg_set(s, on ? v : 0);
	}
}

static void *src_map(struct ka_page_source *s, size_t npages, size_t align)
{
	void *p = ka_plat_page_map(npages << KA_CFG_PAGE_SHIFT, align);

	(void)s;
	if (p)
		reg_mark(p, npages << KA_CFG_PAGE_SHIFT, true);
	return p;
}

static int src_unmap(struct ka_page_source *s, void *addr, size_t npages)
{
	(void)s;
	reg_mark(addr, npages << KA_CFG_PAGE_SHIFT, false);
	return ka_plat_page_unmap(addr, npages << KA_CFG_PAGE_SHIFT);
}

static size_t src_avail(struct ka_page_source *s)
{
	(void)s;
	return SIZE_MAX;
}

static size_t src_max_run(struct ka_page_source *s)
{
	(void)s;
	return 0;
}

static unsigned src_check(struct ka_page_source *s)
{
	(void)s;
	return 0;
}

static const struct ka_page_source_ops src_ops = {
    .map = src_map,
    .unmap = src_unmap,
    .add_memory = NULL,
    .avail_pages = src_avail,
    .max_run = src_max_run,
    .check = src_check,
};

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
	{
		size_t len = ((size_t)1 << (SHIM_VA_BITS - chunk_shift)) / 4;
		void *t = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (t == MAP_FAILED)
			return -2;
		/* Table first, then the shift: a concurrent free() never indexes past either. */
		__atomic_store_n(&shim_reg, (uint64_t *)t, __ATOMIC_RELEASE);
		__atomic_store_n(&shim_reg_shift, chunk_shift, __ATOMIC_RELEASE);
	}
	src.ops = &src_ops;
	src.name = "platform";
	src.used_pages = 0;
	src.zero_fill = true; /* src_map(): fresh anonymous mappings */
	ka_plat_lock_init(&src.lock);
	if (ka_global_init(&gheap, &src, &cfg) != 0 || gheap.chunk_shift != chunk_shift)
		return -2;
	ka_global_set_keep_empty(&gheap, keep_chunks);
	/* Big buffers freed and allocated again in a loop reuse pages already touched. */
	ka_global_set_keep_large(&gheap, (size_t)64 << 20);
	core = ka_locked_inner(&gheap.locked);
	/* The generic layer's per-call statistics would repeat the global allocator's own
	 * counters (ka_global_stats(), O(1)), which the figures below read. */
	core->flags |= KA_ALLOC_NOSTATS;
	return 0;
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

/* The global allocator knows: a large block from a new mapping is zero, one it reused
 * (ka_global_set_keep_large) or a sub-heap block is not. */
bool shim_heap_large(size_t usable)
{
	return usable > gheap.large_threshold;
}

bool shim_heap_zeroed(const void *block, size_t size)
{
	bool r;

	shim_heap_lock();
	r = core->ops->known_zero && core->ops->known_zero(core, block, size);
	shim_heap_unlock();
	return r;
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
