/* SPDX-License-Identifier: MIT */
/**
 * @file frame.h
 * @brief Physical frame allocator interface (Unikraft's uk_falloc contract, made whole).
 *
 * A frame is KA_PAGE_SIZE bytes of physical memory. Frame allocators keep their metadata
 * outside the frames they manage (in a caller-given area), so the frames need not be mapped.
 * Physical addresses are 64-bit out-parameters; KA_PADDR_INV marks "none" because 0 is a
 * valid frame.
 *
 * Common rules for every implementation:
 *  - Memory is added as regions (add_memory). An allocation never spans two regions, even
 *    when they are physically adjacent; a free may (see ka_frame_ops.free).
 *  - Any contiguous run of allocated frames may be freed, in any pieces: allocate 8, free
 *    frames 2..4, then 0..1, then 5..7. Freeing a frame that is free (double free) or not
 *    managed fails with KA_EFAULT and changes nothing.
 *  - Allocation is complete: alloc() and alloc_range() fail with KA_ENOMEM only when no
 *    region holds a free run that satisfies the request (not merely when a fast path misses).
 *  - KA_FALLOC_ZERO zeroes the frames through the region's direct map; regions added with
 *    dm_off == KA_DM_NONE are never chosen for a zeroed request.
 *
 * Implementations: buddy (kalloc/fbuddy.h) and hierarchical bitmap (kalloc/fbitmap.h);
 * docs/frames.md compares them. Not thread safe: wrap calls in a lock (the global allocator
 * does).
 */
#ifndef KALLOC_FRAME_H
#define KALLOC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "platform.h"

/** Input value of *paddr for ka_frame_ops.alloc: any address will do. */
#define KA_PADDR_ANY ((ka_paddr_t)UINT64_MAX - 1)

/** Frame allocation flags. */
#define KA_FALLOC_ZERO 0x1u /**< zero the frames (needs a direct map: dm_off given at add) */

/** All flags an implementation accepts; others make the call fail with KA_EINVAL. */
#define KA_FALLOC_FLAGS_ALL KA_FALLOC_ZERO

/** No direct map: frames added with this dm_off are not accessible to the allocator. */
#define KA_DM_NONE ((uintptr_t)UINTPTR_MAX)

/** Alignment add_memory requires of the metadata area, in bytes. */
#define KA_FRAME_META_ALIGN 8u

struct ka_frame_alloc;

/** @brief Operations of a frame allocator; all required. */
struct ka_frame_ops {
	/**
	 * Allocate `frames` contiguous frames. If *paddr is KA_PADDR_ANY any address will do,
	 * otherwise exactly *paddr (page aligned). On success *paddr is the first frame; on
	 * failure *paddr is unchanged and so is the allocator.
	 * @return 0; KA_EINVAL (frames 0, misaligned exact address, unknown flag, ZERO for an
	 * exact range without direct map); KA_ENOMEM (no free run anywhere); KA_EFAULT (exact
	 * range not wholly inside one region); KA_EBUSY (exact range not wholly free).
	 */
	int (*alloc)(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames, unsigned flags);
	/**
	 * Allocate `frames` contiguous frames inside [min, max) (max exclusive; unaligned bounds
	 * are rounded inwards; max KA_PADDR_INV means no upper bound) whose first address is a
	 * multiple of `align` (a power of two >= KA_PAGE_SIZE). *paddr is only written on
	 * success.
	 * @return 0; KA_EINVAL (frames 0, bad align, min > max, unknown flag); KA_ENOMEM (no such
	 * run, e.g. an alignment no address of the range satisfies).
	 */
	int (*alloc_range)(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames,
			   ka_paddr_t min, ka_paddr_t max, size_t align, unsigned flags);
	/**
	 * Free `frames` frames from paddr. They must all be allocated (any sub-range of earlier
	 * allocations, without holes: partial free is allowed; the range may cross from one
	 * region into a physically adjacent one). All or nothing: on error nothing is freed.
	 * @return 0, KA_EINVAL (misaligned, 0 frames, range wraps), KA_EFAULT (a frame is not
	 * managed or already free).
	 */
	int (*free)(struct ka_frame_alloc *fa, ka_paddr_t paddr, size_t frames);
	/**
	 * Manage `frames` frames from paddr, with `metadata` (at least metadata_size(frames)
	 * bytes, mapped, KA_FRAME_META_ALIGN aligned, owned by the allocator from now on) for the
	 * bookkeeping. The frames start free. dm_off: vaddr = paddr + dm_off for these frames
	 * (modular arithmetic), or KA_DM_NONE.
	 * Overlap is refused (KA_EEXIST, nothing changed): the new frames must not overlap any
	 * managed frame; the new metadata area (its metadata_size(frames) bytes) must not
	 * overlap any region's metadata area; and seen through the direct maps, no region's
	 * frames (the new one's included) may hold a byte of the new metadata, nor may the new
	 * frames hold a byte of any region's metadata. Frames added with KA_DM_NONE are only
	 * compared physically: nothing tells the allocator where they are seen.
	 * Adjacent regions, physically or virtually, are no overlap.
	 * O(regions) for the test (every region is visited: metadata may lie anywhere), plus
	 * the implementation's setup of the new metadata.
	 * @return 0, KA_EINVAL (NULL or misaligned metadata, misaligned paddr, 0 frames, more
	 * frames than one region can hold, range wraps), KA_EEXIST (overlaps managed frames or
	 * metadata, as above).
	 */
	int (*add_memory)(struct ka_frame_alloc *fa, void *metadata, ka_paddr_t paddr,
			  size_t frames, uintptr_t dm_off);
	/**
	 * Bytes of metadata add_memory needs for `frames` frames; 0 if frames is 0 or too many.
	 * Never decreases as `frames` grows, so an area sized for N frames serves any fewer
	 * (callers carve the area from the region itself and add the rest).
	 */
	size_t (*metadata_size)(struct ka_frame_alloc *fa, size_t frames);
	/** Count inconsistencies (each logged through ka_plat_log), never abort. */
	unsigned (*check)(struct ka_frame_alloc *fa);
};

/** @brief Head of every frame allocator; implementations embed it first. */
struct ka_frame_alloc {
	const struct ka_frame_ops *ops;
	const char *name;
	size_t free_frames;  /**< frames free now */
	size_t total_frames; /**< frames under management */
};

/** @brief Allocate frames anywhere; returns the address or KA_PADDR_INV. See ops.alloc. */
static inline ka_paddr_t ka_falloc(struct ka_frame_alloc *fa, size_t frames)
{
	ka_paddr_t p = KA_PADDR_ANY;
	return fa->ops->alloc(fa, &p, frames, 0) == 0 ? p : KA_PADDR_INV;
}

/** @brief Allocate exactly [paddr, paddr + frames pages); 0 or a KA_E* code (ops.alloc). */
static inline int ka_falloc_at(struct ka_frame_alloc *fa, ka_paddr_t paddr, size_t frames)
{
	return paddr == KA_PADDR_ANY ? KA_EINVAL : fa->ops->alloc(fa, &paddr, frames, 0);
}

/** @brief Allocate frames in [min, max) aligned to align; the address or KA_PADDR_INV. */
static inline ka_paddr_t ka_falloc_range(struct ka_frame_alloc *fa, size_t frames, ka_paddr_t min,
					 ka_paddr_t max, size_t align)
{
	ka_paddr_t p = KA_PADDR_INV;
	return fa->ops->alloc_range(fa, &p, frames, min, max, align, 0) == 0 ? p : KA_PADDR_INV;
}

/** @brief Free frames; returns 0 or a KA_E* code (see ka_frame_ops.free). */
static inline int ka_ffree(struct ka_frame_alloc *fa, ka_paddr_t paddr, size_t frames)
{
	return fa->ops->free(fa, paddr, frames);
}

/** @brief Add a region; 0 or a KA_E* code (see ka_frame_ops.add_memory). */
static inline int ka_fadd_memory(struct ka_frame_alloc *fa, void *metadata, ka_paddr_t paddr,
				 size_t frames, uintptr_t dm_off)
{
	return fa->ops->add_memory(fa, metadata, paddr, frames, dm_off);
}

/** @brief Metadata bytes a region of `frames` frames needs (0: impossible). O(log frames). */
static inline size_t ka_fmetadata_size(struct ka_frame_alloc *fa, size_t frames)
{
	return fa->ops->metadata_size(fa, frames);
}

/**
 * @brief Count inconsistencies (0 = healthy), including regions whose frames or metadata
 * overlap (the add_memory test applied to every pair). O(frames + regions^2).
 */
static inline unsigned ka_fcheck(struct ka_frame_alloc *fa)
{
	return fa->ops->check(fa);
}

/** @brief Free frames now. O(1). */
static inline size_t ka_ffree_frames(const struct ka_frame_alloc *fa)
{
	return fa->free_frames;
}

/** @brief Frames under management. O(1). */
static inline size_t ka_ftotal_frames(const struct ka_frame_alloc *fa)
{
	return fa->total_frames;
}

#endif /* KALLOC_FRAME_H */
