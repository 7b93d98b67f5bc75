/* SPDX-License-Identifier: MIT */
/**
 * @file fbuddy.h
 * @brief Buddy frame allocator over physical frames, with its metadata outside the frames.
 *
 * Binary buddy system (as Unikraft's ukallocbbuddy, but for unmapped physical frames): each
 * region is cut into maximal naturally aligned power-of-two blocks (aligned by physical
 * address, so a block of 2^k frames is 2^k-frame aligned); blocks of different regions never
 * merge. Free lists, per-frame order bytes and an allocation bitmap live in the caller's
 * metadata area (about 9.13 bytes per frame + 208 bytes per region), so frames need not be
 * mapped. Allocation anywhere is O(R + log n + n/W) (R regions, W bits per word), free of n
 * frames O(log n * log N + n/W); exact-address, range/aligned and partial free are supported
 * and allocation is complete (a bitmap scan backs up the free lists, see docs/frames.md).
 * add_memory is O(R + N): R for the overlap test against every region's frames and
 * metadata (frame.h), N to set up the new region's free lists.
 *
 * Usage:
 * @code
 *   static struct ka_fbuddy fb;
 *   struct ka_frame_alloc *fa = ka_fbuddy_init(&fb);
 *   ka_fadd_memory(fa, meta, paddr, frames, KA_DM_NONE); // meta: ka_fmetadata_size() bytes
 *   ka_paddr_t p = ka_falloc(fa, 8);
 *   ka_ffree(fa, p + 2 * KA_PAGE_SIZE, 3);               // partial free
 * @endcode
 * Not thread safe (see frame.h).
 */
#ifndef KALLOC_FBUDDY_H
#define KALLOC_FBUDDY_H

#include "frame.h"

struct ka_fbuddy_region;

/**
 * @brief State of one buddy frame allocator, in caller storage (static is fine). Members
 * are private (src/frame/fbuddy_priv.h); regions live in their metadata areas.
 */
struct ka_fbuddy {
	struct ka_frame_alloc fa;	  /**< the interface head; first */
	struct ka_fbuddy_region *regions; /**< sorted by physical address */
	size_t nregions;		  /**< regions added */
};

/**
 * @brief Initialise an empty buddy frame allocator in caller storage (add frames with
 * ka_fadd_memory()). O(1). Never fails.
 * @return the interface head, &fb->fa.
 */
struct ka_frame_alloc *ka_fbuddy_init(struct ka_fbuddy *fb);

/** @brief Number of block orders: the largest block is 2^(KA_FBUDDY_ORDERS-1) frames. */
#define KA_FBUDDY_ORDERS 32

/**
 * @brief Most frames one region may hold: frame indexes in the free lists are 32-bit
 * (UINT32_MAX is the list terminator), and index sums must not overflow a size_t.
 */
#define KA_FBUDDY_MAX_FRAMES ((size_t)(SIZE_MAX / 4 < 0xfffffffeu ? SIZE_MAX / 4 : 0xfffffffeu))

#endif /* KALLOC_FBUDDY_H */
