/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the hierarchical-bitmap frame allocator, for src/frame/fbitmap.c and its
 * white-box tests (never hand-mirror these structs).
 *
 * Metadata area of one region (all in the caller's area, nothing inside the frames):
 *
 *   struct ka_fbitmap_region   header (below)
 *   level 0: nwords[0] words   bit i = frame i is free (1) or allocated (0); the bits past
 *                              the last frame ("padding") are 0, so they are never free.
 *   for k = 1 .. levels:
 *     any[k]:  nwords[k] words bit j = word j of level k-1 (any[k-1]) is not zero, i.e. the
 *                              W^k frames below hold at least one free frame; padding 0.
 *     full[k]: nwords[k] words bit j = word j of level k-1 (full[k-1]) is all ones, i.e. the
 *                              W^k frames below are all free; padding 1, so that an
 *                              all-free upper word reads as all ones.
 *   (W = bits per size_t word; level 0 is shared: any[0] == full[0].)
 * nwords[k] = ceil(nwords[k-1] / W) and the top level has exactly one word.
 */
#ifndef KALLOC_FBITMAP_PRIV_H
#define KALLOC_FBITMAP_PRIV_H

#include "kalloc/fbitmap.h"

/** Bits per bitmap word and its log2. */
#define KA_FBM_W     ((unsigned)(sizeof(size_t) * 8))
#define KA_FBM_SHIFT (SIZE_MAX > 0xffffffffu ? 6u : 5u)

/** Most summary levels: ceil(log_W(SIZE_MAX / 4)) is 10 for W = 64 and 6 for W = 32. */
#define KA_FBM_MAX_LEVELS 11

/** One region: a run of physically contiguous frames with its own bitmap hierarchy. */
struct ka_fbitmap_region {
	struct ka_fbitmap_region *next; /* next region by address */
	uint64_t base;			/* first frame number (paddr >> KA_CFG_PAGE_SHIFT) */
	size_t frames;			/* frames in the region */
	size_t free;			/* free frames in the region */
	uintptr_t dm_off;		/* direct-map offset or KA_DM_NONE */
	unsigned levels;		/* summary levels above level 0 */
	size_t nwords[KA_FBM_MAX_LEVELS + 1];
	size_t *any[KA_FBM_MAX_LEVELS + 1];
	size_t *full[KA_FBM_MAX_LEVELS + 1];
};

#endif /* KALLOC_FBITMAP_PRIV_H */
