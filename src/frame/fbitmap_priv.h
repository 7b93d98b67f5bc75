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
 *   gmax: ngroups uint16_t  per group of W * W frames (one level-1 word's worth): an upper
 *                              bound of the longest free run inside the group; the group
 *                              size itself, KA_FBM_GMAX_CAP, also stands for "unknown".
 * nwords[k] = ceil(nwords[k-1] / W) and the top level has exactly one word.
 *
 * Group bounds: allocation only shortens runs, so it leaves every gmax an upper bound; a free
 * sets the groups it touches to the cap; a search that looked inside a group and found no
 * run recomputes that group's bound exactly. Searches for 2..KA_FBM_GMAX_CAP frames skip
 * every group whose bound is below the request (runs crossing a group edge are tried
 * separately), which keeps a fragmented map from being scanned word by word.
 *
 * Search hints (in the header): hint[j] is a frame index such that no free run of 2^j or more
 * frames starts below it. Searches for n frames start at hint[floor(log2 n)]; a search that
 * started there and found its run at s (or none) raises hint[c] to s (or to the region end)
 * for every 2^c >= n. Allocation never creates a run, so it leaves the hints true; freeing
 * [s, e) can only create runs that start at s - L, where L < 2^j is the free run ending at
 * s - 1 when it is too short to have been bounded already, so it lowers hint[j] to
 * s - (2^j - 1). The hints keep first-fit searches from rescanning a fragmented low end.
 */
#ifndef KALLOC_FBITMAP_PRIV_H
#define KALLOC_FBITMAP_PRIV_H

#include "kalloc/fbitmap.h"

/** Bits per bitmap word and its log2. */
#define KA_FBM_W     ((unsigned)(sizeof(size_t) * 8))
#define KA_FBM_SHIFT (SIZE_MAX > 0xffffffffu ? 6u : 5u)

/** log2 of the frames in one group (gmax granularity): W words of W frames. */
#define KA_FBM_GSHIFT (2 * KA_FBM_SHIFT)

/** Largest group bound: the group size (a whole free group), also used for "unknown". */
#define KA_FBM_GMAX_CAP ((unsigned)1 << KA_FBM_GSHIFT)

/** Most summary levels: ceil(log_W(SIZE_MAX / 4)) is 10 for W = 64 and 6 for W = 32. */
#define KA_FBM_MAX_LEVELS 11

/** One region: a run of physically contiguous frames with its own bitmap hierarchy. */
struct ka_fbitmap_region {
	struct ka_fbitmap_region *next; /* next region by address */
	uint64_t base;			/* first frame number (paddr >> KA_CFG_PAGE_SHIFT) */
	size_t frames;			/* frames in the region */
	size_t free;			/* free frames in the region */
	uintptr_t dm_off;		/* direct-map offset or KA_DM_NONE */
	size_t meta_len;		/* bytes of the metadata area in use, from the header on */
	unsigned levels;		/* summary levels above level 0 */
	unsigned classes;		/* size classes in hint[]: floor(log2 frames) + 1 */
	size_t hint[KA_FBM_W];		/* see "Search hints" above */
	size_t nwords[KA_FBM_MAX_LEVELS + 1];
	size_t *any[KA_FBM_MAX_LEVELS + 1];
	size_t *full[KA_FBM_MAX_LEVELS + 1];
	size_t ngroups; /* ceil(frames / 2^KA_FBM_GSHIFT) */
	uint16_t *gmax; /* group bounds, see "Group bounds" above */
};

#endif /* KALLOC_FBITMAP_PRIV_H */
