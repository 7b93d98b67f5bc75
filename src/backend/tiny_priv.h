/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the tiny backend (src/backend/tiny.c), shared with its checker and walker
 * (tiny_validate.c) and its white-box tests (tests/unit/test_tiny.c) so that they never mirror
 * a struct by hand.
 *
 * In-band encoding. A region [base, base+len) handed to tiny looks like this:
 *
 *   | region hdr | (state, first region only) | pad | block | block | ... | block | fence |
 *
 * A block starts with one header word `hdr` placed so that the payload right after it is
 * aligned to TINY_UNIT (KA_CFG_MIN_ALIGN); block sizes are multiples of TINY_UNIT, so every
 * header sits at an address = TINY_UNIT - TINY_HDR modulo TINY_UNIT. The header holds:
 *
 *   bits [log2 TINY_UNIT .. top]: block size in bytes, header included (a multiple of UNIT)
 *   bit 0 TINY_USED:  the block is allocated
 *   bit 1 TINY_PFREE: the block just before it (in address order) is free
 *
 * A used block is header + payload: its usable size is size - TINY_HDR, up to the next
 * header. A free block reuses its payload for `next` and `prev` links of its size class
 * list and stores its size again in its last word (the footer), which is how a block being
 * freed finds a free predecessor (TINY_PFREE tells the footer is there). No two free blocks
 * are adjacent: they are merged as soon as one is freed. The fence is a header word with
 * size 0 and TINY_USED set at the end of each region, so the last block never merges past
 * it; the first block of a region never has TINY_PFREE.
 *
 * Free lists: 32 doubly linked, LIFO lists. Lists 0..15 hold one exact size each
 * (TINY_MINBLK + i * TINY_UNIT); lists 16..31 hold power-of-two classes above that (the
 * first class starts right after the last exact size); the last list also takes every
 * larger block. Bit i of `bitmap` is set iff list i is non-empty.
 */
#ifndef KALLOC_TINY_PRIV_H
#define KALLOC_TINY_PRIV_H

#include "kalloc/alloc_impl.h"
#include "kalloc/tiny.h"

#define TINY_HDR   sizeof(size_t)
#define TINY_UNIT  ((size_t)KA_CFG_MIN_ALIGN)
#define TINY_USED  ((size_t)1)
#define TINY_PFREE ((size_t)2)
#define TINY_FLAGS (TINY_USED | TINY_PFREE)

/** Smallest block: header, two links and a footer, rounded up to the unit. */
#define TINY_MINBLK ((2 * TINY_HDR + 2 * sizeof(void *) + TINY_UNIT - 1) & ~(TINY_UNIT - 1))

#define TINY_NBINS     32
#define TINY_NEXACT    16
#define TINY_LASTEXACT (TINY_MINBLK + (TINY_NEXACT - 1) * TINY_UNIT)

/** Blocks of the request's own class an allocation looks at before it takes the head of a
 * larger class: the head only (tiny.c). The whole class is scanned only when no larger one
 * has a block. */
#define TINY_PROBES 1

_Static_assert((TINY_UNIT & (TINY_UNIT - 1)) == 0, "KA_CFG_MIN_ALIGN must be a power of two");
_Static_assert(TINY_UNIT >= 4 && TINY_UNIT >= TINY_HDR, "the unit must hold the flag bits");
_Static_assert(TINY_NBINS <= sizeof(size_t) * 8, "the bitmap is one size_t");

/** The start of a free block (a used block has only `hdr`). */
struct tiny_free {
	size_t hdr;
	struct tiny_free *next;
	struct tiny_free *prev;
};

/** Head of each region: regions form a singly linked list from struct tiny.regions. */
struct tiny_region {
	struct tiny_region *next;
	uintptr_t first; /**< address of the first block's header */
	uintptr_t fence; /**< address of the fence header (size 0, used) */
};

/** The allocator's state, at the start of the first region (after its region head). */
struct tiny {
	struct ka_alloc head;
	size_t bitmap; /**< bit i set iff bins[i] is non-empty */
	size_t avail;  /**< sum of (size - TINY_HDR) over free blocks */
	size_t total;  /**< bytes of all regions as given (state included) */
	struct tiny_region *regions;
	/** Units in the blocks of the first region, (fence - first) / TINY_UNIT, for the inline
	 * region test (tiny.c); 0 at -Os, which has no inline test. */
	size_t units0;
	struct tiny_free *bins[TINY_NBINS];
};

static inline size_t tiny_size(size_t hdr)
{
	return hdr & ~(TINY_UNIT - 1);
}

/* Size class of a block size: exact lists first, then one list per power of two, the last
 * list also taking everything larger. Classes are ordered, so every block of a class above
 * a request's class is large enough for it. */
static inline unsigned tiny_bin(size_t size)
{
	unsigned b;

	if (size <= TINY_LASTEXACT)
		return (unsigned)((size - TINY_MINBLK) / TINY_UNIT);
	b = TINY_NEXACT + ka_fls(size) - ka_fls(TINY_LASTEXACT);
	return b < TINY_NBINS ? b : TINY_NBINS - 1;
}

static inline size_t *hdrp(uintptr_t blk)
{
	return (size_t *)blk;
}

static inline size_t *ftrp(uintptr_t blk, size_t size)
{
	return (size_t *)(blk + size - TINY_HDR);
}

/* The region whose blocks span `blk`, or NULL. */
static inline struct tiny_region *region_of(struct tiny *t, uintptr_t blk)
{
	struct tiny_region *r;

	for (r = t->regions; r; r = r->next)
		if (blk >= r->first && blk < r->fence)
			break;
	return r;
}

/** The checker and walker (tiny_validate.c), named weakly by the ops table. */
unsigned ka_tiny_check_impl(struct ka_alloc *a);
int ka_tiny_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

#endif /* KALLOC_TINY_PRIV_H */
