/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the region backend, shared by region.c and the white-box unit test
 * (tests/unit/test_region.c). Nothing outside those two includes it.
 *
 * In-band encoding
 * ----------------
 * Each region added to the allocator starts with a `struct rg_seg` descriptor (the first one
 * follows `struct rg_state`). Blocks are bumped upwards from seg->start; everything between
 * seg->start and seg->brk is a gapless sequence of records, each starting at a multiple of
 * KA_CFG_MIN_ALIGN:
 *
 *   block:  [struct rg_hdr, padded to RG_HDR bytes][user bytes: `size`]
 *           word  = size | RG_TAG_USED   (or | RG_TAG_FREED once ka_free() saw it)
 *           check = size ^ (address of the header) ^ RG_MAGIC
 *   pad:    one word = length | RG_TAG_PAD, written where an alignment gap precedes a block
 *           header; the gap is `length` bytes (a multiple of KA_CFG_MIN_ALIGN).
 *
 * Sizes and pad lengths are multiples of KA_CFG_MIN_ALIGN (>= 4), so the low two bits of
 * `word` are free for the tag. The check word lets free()/usable_size() reject interior and
 * foreign pointers and corrupted headers cheaply; the walker and the checker follow the
 * records from seg->start and must land exactly on seg->brk.
 */
#ifndef KALLOC_REGION_PRIV_H
#define KALLOC_REGION_PRIV_H

#include "kalloc/alloc_impl.h"
#include "kalloc/region.h"

#define RG_TAG_MASK  ((size_t)3)
#define RG_TAG_USED  ((size_t)1)
#define RG_TAG_PAD   ((size_t)2)
#define RG_TAG_FREED ((size_t)3)

#define RG_MAGIC ((uintptr_t)0x5a3c96e1u)

/** Header in front of every block. */
struct rg_hdr {
	size_t word;	 /* size | tag */
	uintptr_t check; /* size ^ address of this header ^ RG_MAGIC */
};

/** Bytes a block header occupies: the header rounded up to the minimum alignment. */
#define RG_HDR ((sizeof(struct rg_hdr) + KA_CFG_MIN_ALIGN - 1) & ~(size_t)(KA_CFG_MIN_ALIGN - 1))

/** One region of memory. */
struct rg_seg {
	struct rg_seg *next; /* in the order regions were added */
	uintptr_t base;	     /* the region as given: [base, end) */
	uintptr_t end;
	uintptr_t start; /* first record (after this descriptor), KA_CFG_MIN_ALIGN aligned */
	uintptr_t brk;	 /* next free byte, KA_CFG_MIN_ALIGN aligned, start <= brk <= end */
};

/** The allocator: lives at the (aligned) start of the memory given to ka_region_init(). */
struct rg_state {
	struct ka_alloc head;
	struct rg_seg *first; /* list of regions */
	struct rg_seg *last;
	struct rg_seg *cur; /* where the next allocation is tried first */
	size_t nsegs;
	size_t total;	/* bytes of all regions as given */
	size_t meta;	/* state + descriptors + block headers + alignment gaps */
	size_t nblocks; /* blocks ever handed out and still recorded (live and freed) */
};

/** Smallest region ka_region_init() accepts: state, descriptor, one minimal block, slack. */
#define RG_MIN_SIZE (sizeof(struct rg_state) + sizeof(struct rg_seg) + 4 * KA_CFG_MIN_ALIGN)

static inline struct rg_state *rg(struct ka_alloc *a)
{
	return (struct rg_state *)a;
}

static inline uintptr_t hdr_check(const struct rg_hdr *h, size_t size)
{
	return (uintptr_t)size ^ (uintptr_t)h ^ RG_MAGIC;
}

/** The checker and walker (region_validate.c), named weakly by the ops table. */
unsigned ka_region_check_impl(struct ka_alloc *a);
int ka_region_walk_impl(struct ka_alloc *a, ka_walk_fn fn, void *arg);

#endif /* KALLOC_REGION_PRIV_H */
