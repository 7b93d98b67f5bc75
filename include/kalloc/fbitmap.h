/* SPDX-License-Identifier: MIT */
/**
 * @file fbitmap.h
 * @brief Hierarchical-bitmap frame allocator (rCore's bitmap-allocator and ArceOS's
 * BitmapPageAllocator, fixed where they fail).
 *
 * One bit per frame plus summary levels, all in the caller's metadata area, so the cost is
 * proportional to the frames actually managed (about frames/8 bytes * 1.032 + an 872-byte
 * header per region on x86-64): no compile-time capacity. Any number of regions. Contiguous and
 * aligned runs are found through the summary levels (an "any free" and a "fully free" bit per word
 * below), never by testing every frame bit, and any power-of-two alignment works (an alignment that
 * no address of a region satisfies just fails). Freeing a free frame is refused (KA_EFAULT,
 * nothing changed). add_memory is O(R + N/W): R for the overlap test against every region's
 * frames and metadata (frame.h), N/W to set up the new bitmaps. docs/frames.md describes the
 * layout, invariants and costs.
 *
 * Usage:
 * @code
 *   static struct ka_fbitmap fbm;
 *   struct ka_frame_alloc *fa = ka_fbitmap_init(&fbm);
 *   size_t need = ka_fmetadata_size(fa, frames);        // then find `need` mapped bytes
 *   ka_fadd_memory(fa, meta, paddr, frames, KA_DM_NONE);
 *   ka_paddr_t p = ka_falloc(fa, 4);
 * @endcode
 * Not thread safe (see frame.h).
 */
#ifndef KALLOC_FBITMAP_H
#define KALLOC_FBITMAP_H

#include "frame.h"

struct ka_fbitmap_region;

/**
 * @brief State of one bitmap frame allocator. Put it anywhere (static storage is fine); its
 * members are private (src/frame/fbitmap_priv.h describes them). Regions and their bitmaps
 * live in the metadata areas given to add_memory, not here.
 */
struct ka_fbitmap {
	struct ka_frame_alloc fa;	   /**< the interface head; first */
	struct ka_fbitmap_region *regions; /**< sorted by physical address */
	size_t nregions;		   /**< regions added */
};

/**
 * @brief Initialise an empty bitmap frame allocator in caller storage (no frames yet: add
 * them with ka_fadd_memory()). O(1). Never fails.
 * @return the interface head, &fb->fa.
 */
struct ka_frame_alloc *ka_fbitmap_init(struct ka_fbitmap *fb);

/**
 * @brief Most frames one region may hold (SIZE_MAX / 4, so that index arithmetic never
 * overflows). Bigger memory is added as several regions.
 */
#define KA_FBITMAP_MAX_FRAMES (SIZE_MAX / 4)

#endif /* KALLOC_FBITMAP_H */
