/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the global allocator (src/global/global.c), shared with its white-box
 * tests (tests/global/).
 *
 * In-band encoding: the chunk header.
 *   Every sub-heap chunk is `chunk_size` bytes aligned to `chunk_size`, and starts with a
 *   `struct ka_gchunk` (kind KA_GCHUNK_HEAP); the sub-heap's memory follows it, from
 *   KA_GCHUNK_HDR bytes in. A large block is a run of pages mapped at an alignment of
 *   max(chunk_size, align); its user pointer is `map + max(KA_PAGE_SIZE, align)`, and its
 *   header (kind KA_GCHUNK_LARGE) sits at the chunk-aligned address just below the pointer.
 *   So for every pointer p the allocator handed out, the header is at
 *       (p - 1) & ~(chunk_size - 1)
 *   (p - 1, because a large block's pointer may itself be chunk aligned; a sub-heap block
 *   never starts at its chunk's first byte). `magic` is the kind XOR the header's own
 *   address, so a stale copy of a header elsewhere, or data that happens to hold a kind
 *   value, is not taken for a header; `owner` must be the allocator itself.
 */
#ifndef KALLOC_GLOBAL_PRIV_H
#define KALLOC_GLOBAL_PRIV_H

#include "kalloc/alloc_impl.h"
#include "kalloc/global.h"

#define KA_GCHUNK_HEAP	0x48454150u /* "HEAP" */
#define KA_GCHUNK_LARGE 0x4c415247u /* "LARG" */
#define KA_GCHUNK_IDLE	0x49444c45u /* "IDLE": a freed large block kept mapped (g->idle) */

/** Header of a sub-heap chunk or a large block (see the file comment). */
struct ka_gchunk {
	uintptr_t magic;	       /* kind ^ (uintptr_t)this */
	struct ka_global *owner;       /* the allocator that mapped it */
	struct ka_gchunk *prev, *next; /* g->heaps, g->large or g->idle list */
	void *map;		       /* start of the page-source mapping */
	size_t pages;		       /* pages of the mapping */
	unsigned kind;		       /* KA_GCHUNK_HEAP or KA_GCHUNK_LARGE */
	/* sub-heap chunk */
	struct ka_alloc *heap; /* the backend instance over the chunk's tail */
	size_t live;	       /* blocks live in it */
	size_t miss;	       /* smallest size that failed here since the last free (hint) */
	size_t avail;	       /* the sub-heap's free bytes at its last operation (stats) */
	/* large block */
	void *ptr;   /* the user pointer */
	size_t size; /* its usable bytes */
	bool fresh;  /* zero-filled when handed out (a new mapping of a zero-filling source) */
};

/* Offset of the sub-heap inside a chunk: the header, rounded to a cache line. */
#define KA_GCHUNK_HDR (((sizeof(struct ka_gchunk) + 63) / 64) * 64)

/** The header that would own `ptr` in allocator g (not validated). */
static inline struct ka_gchunk *ka_gchunk_of(const struct ka_global *g, const void *ptr)
{
	return (struct ka_gchunk *)(((uintptr_t)ptr - 1) & ~(uintptr_t)(g->chunk_size - 1));
}

/* Ownership table (owns.c). Codes of a chunk-aligned slot. */
#define KA_OWNS_NONE 0u
#define KA_OWNS_HEAD 1u /* a header at the slot's start: a sub-heap chunk or a large block */
#define KA_OWNS_FULL 2u /* a slot a large block's mapping covers whole, past its header */
#define KA_OWNS_TAIL 3u /* the partly covered last slot of a large block's mapping */

/* Record [map, map + len) (chunk aligned) as a sub-heap chunk (large == false) or as the large
 * block whose header is hdr. 0, or KA_ENOMEM when a table page cannot be mapped (nothing is
 * recorded then). A no-op without the table (ka_global_owns_table()). Under the allocator's lock.
 */
int ka_owns_add(struct ka_global *g, void *map, size_t len, bool large, const void *hdr);
/* Forget what ka_owns_add() recorded for the same arguments. Under the allocator's lock. */
void ka_owns_del(struct ka_global *g, void *map, size_t len, bool large, const void *hdr);
/* Choose the table's form before the first ka_owns_add(): the flat map when `flat` and the
 * platform reserves address space for it (ka_plat_reserve()), else the radix table. */
void ka_owns_start(struct ka_global *g, bool flat);
/* ka_global_owns_table(), with the flat map only when `flat` (tests run both forms). */
int ka_global_owns_table_form(struct ka_global *g, bool flat);
/* Give the table's pages back (ka_global_destroy, after every chunk is gone). */
void ka_owns_destroy(struct ka_global *g);
/* The walk answer of ka_global_owns() without the table (global.c, takes the lock). */
bool ka_global_owns_walk(struct ka_global *g, const void *ptr);

#endif /* KALLOC_GLOBAL_PRIV_H */
