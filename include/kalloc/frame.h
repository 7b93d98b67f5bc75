/* SPDX-License-Identifier: MIT */
/**
 * @file frame.h
 * @brief Physical frame allocator interface (Unikraft's uk_falloc contract, made whole).
 *
 * A frame is KA_PAGE_SIZE bytes of physical memory. Frame allocators keep their metadata
 * outside the frames they manage (in a caller-given area), so the frames need not be mapped.
 * Physical addresses are out-parameters; KA_PADDR_INV marks "none" because 0 is a valid frame.
 *
 * Two implementations: buddy (kalloc/fbuddy.h) and hierarchical bitmap (kalloc/fbitmap.h).
 * Not thread safe: wrap calls in a lock (the global allocator does).
 */
#ifndef KALLOC_FRAME_H
#define KALLOC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "platform.h"

/** Input value of *paddr for ka_falloc_op: any address will do. */
#define KA_PADDR_ANY ((ka_paddr_t)UINT64_MAX - 1)

/** Frame allocation flags. */
#define KA_FALLOC_ZERO 0x1u /**< zero the frames (needs a direct map: dm_off given at add) */

/** No direct map: frames added with this dm_off are not accessible to the allocator. */
#define KA_DM_NONE ((uintptr_t)UINTPTR_MAX)

struct ka_frame_alloc;

/** @brief Operations of a frame allocator; all required. */
struct ka_frame_ops {
	/**
	 * Allocate `frames` contiguous frames. If *paddr is KA_PADDR_ANY any address will do,
	 * otherwise exactly *paddr (page aligned). On success *paddr is the first frame.
	 * @return 0, KA_EINVAL (frames 0, misaligned exact address), KA_ENOMEM, KA_EBUSY (the
	 * exact range is not wholly free).
	 */
	int (*alloc)(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames, unsigned flags);
	/**
	 * Allocate `frames` contiguous frames inside [min, max) whose first address is a
	 * multiple of `align` (a power of two >= KA_PAGE_SIZE).
	 * @return 0, KA_EINVAL, KA_ENOMEM.
	 */
	int (*alloc_range)(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames,
			   ka_paddr_t min, ka_paddr_t max, size_t align, unsigned flags);
	/**
	 * Free `frames` frames from paddr. They must all be allocated (any sub-range of earlier
	 * allocations, without holes: partial free is allowed).
	 * @return 0, KA_EINVAL (misaligned, 0 frames), KA_EFAULT (not managed or already free).
	 */
	int (*free)(struct ka_frame_alloc *fa, ka_paddr_t paddr, size_t frames);
	/**
	 * Manage `frames` frames from paddr, with `metadata` (at least metadata_size(frames)
	 * bytes, mapped, word aligned) for the bookkeeping. dm_off: vaddr = paddr + dm_off for
	 * these frames, or KA_DM_NONE.
	 * @return 0, KA_EINVAL, KA_EEXIST (overlaps managed frames), KA_ENOMEM (too many regions).
	 */
	int (*add_memory)(struct ka_frame_alloc *fa, void *metadata, ka_paddr_t paddr,
			  size_t frames, uintptr_t dm_off);
	/** Bytes of metadata add_memory needs for `frames` frames. */
	size_t (*metadata_size)(struct ka_frame_alloc *fa, size_t frames);
	/** Count inconsistencies (logged), never abort. */
	unsigned (*check)(struct ka_frame_alloc *fa);
};

/** @brief Head of every frame allocator; implementations embed it first. */
struct ka_frame_alloc {
	const struct ka_frame_ops *ops;
	const char *name;
	size_t free_frames;  /**< frames free now */
	size_t total_frames; /**< frames under management */
};

/** @brief Allocate frames anywhere; returns the address or KA_PADDR_INV. */
static inline ka_paddr_t ka_falloc(struct ka_frame_alloc *fa, size_t frames)
{
	ka_paddr_t p = KA_PADDR_ANY;
	return fa->ops->alloc(fa, &p, frames, 0) == 0 ? p : KA_PADDR_INV;
}

/** @brief Allocate frames in [min, max) aligned to align; the address or KA_PADDR_INV. */
static inline ka_paddr_t ka_falloc_range(struct ka_frame_alloc *fa, size_t frames,
					 ka_paddr_t min, ka_paddr_t max, size_t align)
{
	ka_paddr_t p = KA_PADDR_INV;
	return fa->ops->alloc_range(fa, &p, frames, min, max, align, 0) == 0 ? p : KA_PADDR_INV;
}

/** @brief Free frames; returns 0 or a KA_E* code (see ka_frame_ops.free). */
static inline int ka_ffree(struct ka_frame_alloc *fa, ka_paddr_t paddr, size_t frames)
{
	return fa->ops->free(fa, paddr, frames);
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
