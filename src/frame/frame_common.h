/* SPDX-License-Identifier: MIT */
/*
 * What the frame allocators (fbuddy, fbitmap) share: the checker's reporting, the walk of the
 * region list with its totals, and the full check after every operation at KA_CFG_DEBUG 3.
 * Private to src/frame.
 */
#ifndef KALLOC_FRAME_COMMON_H
#define KALLOC_FRAME_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "kalloc/config.h"
#include "kalloc/frame.h"

/** One check() call's findings: logged up to a bound, all counted. */
struct ka_frame_checker {
	const struct ka_frame_alloc *fa;
	unsigned found;
};

/**
 * @brief Count one inconsistency and log it ("kalloc: <name>: check: <what> (at frame N)")
 * unless this check has already logged 16 (a badly broken bitmap must not flood the log).
 * O(1); allocation-free.
 */
void ka_frame_report(struct ka_frame_checker *c, const char *what, uint64_t pfn);

/** What the region-list walk needs of one region. */
struct ka_frame_region_view {
	uint64_t base; /* first frame number */
	size_t frames; /* frames in the region */
	size_t free;   /* free frames the region claims */
};

/**
 * Checks one region (reporting through c), fills *v from its header and returns the next
 * region of the list (NULL at the end).
 */
typedef const void *(*ka_frame_region_fn)(struct ka_frame_checker *c, const void *region,
					  struct ka_frame_region_view *v);

/**
 * Where one region lives, as add_memory's overlap test sees it: its frames (physical, and
 * virtual at paddr + dm_off unless dm_off is KA_DM_NONE) and its metadata area (virtual).
 */
struct ka_frame_extent {
	uint64_t base;	  /* first frame number */
	size_t frames;	  /* frames in the region */
	uintptr_t dm_off; /* direct-map offset or KA_DM_NONE */
	uintptr_t meta;	  /* first byte of the metadata area */
	size_t meta_len;  /* bytes of it the allocator uses */
};

/** Fills *e from one region and returns the next region of the list (NULL at the end). */
typedef const void *(*ka_frame_extent_fn)(const void *region, struct ka_frame_extent *e);

/**
 * @brief add_memory's overlap test: may a region `n` join the regions of the list from
 * `first` (at most `nregions` of them are visited, so a corrupted list cannot loop)? Refused when
 * n's frames overlap a region's frames (physically); when n's metadata overlaps a region's
 * metadata; when, seen through a direct map, n's frames hold a byte of a region's metadata or a
 * region's frames hold a byte of n's metadata; and when n's frames hold a byte of n's own metadata.
 * Frames without a direct map are only compared physically (nothing says where they are seen). All
 * arithmetic on virtual addresses is modular, as the direct map's is, so nothing overflows.
 * @return 0, or KA_EEXIST on any overlap. O(regions in the list); reads the region headers
 * only.
 */
int ka_frame_add_conflict(const struct ka_frame_extent *n, const void *first, size_t nregions,
			  ka_frame_extent_fn next);

/**
 * @brief The whole check of a frame allocator whose regions form a list sorted by address:
 * visits each region (bounded by nregions + 1 so a loop in the list ends), then compares
 * the list's length and the sums of frames and free frames with the allocator's counters,
 * and tests every pair of regions, and each region with itself, as add_memory does
 * (ka_frame_add_conflict): an overlap there means a header was overwritten.
 * @return the number of inconsistencies found (0: healthy). O(regions^2 + the visits' cost).
 */
unsigned ka_frame_check_regions(struct ka_frame_alloc *fa, const void *first, size_t nregions,
				ka_frame_region_fn visit, ka_frame_extent_fn extent);

/**
 * An implementation's ops table as the allocator sees it (`pub`, what fa->ops points at) and
 * its own functions (`raw`). At KA_CFG_DEBUG >= 3 `pub`'s changing operations are shared
 * wrappers that call `raw` and then the full check, panicking if it finds anything, so that
 * corruption is reported next to the operation that caused it; below that `pub` is `raw`.
 */
struct ka_frame_impl {
	struct ka_frame_ops pub;
	struct ka_frame_ops raw;
};

int ka_frame_checked_alloc(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames,
			   unsigned flags);
int ka_frame_checked_alloc_range(struct ka_frame_alloc *fa, ka_paddr_t *paddr, size_t frames,
				 ka_paddr_t min, ka_paddr_t max, size_t align, unsigned flags);
int ka_frame_checked_free(struct ka_frame_alloc *fa, ka_paddr_t paddr, size_t frames);
int ka_frame_checked_add_memory(struct ka_frame_alloc *fa, void *metadata, ka_paddr_t paddr,
				size_t frames, uintptr_t dm_off);

#if KA_CFG_DEBUG >= 3
#define KA_FRAME_PUB_OPS(alloc_, range_, free_, add_, meta_, check_)                               \
	{                                                                                          \
		ka_frame_checked_alloc, ka_frame_checked_alloc_range, ka_frame_checked_free,       \
		    ka_frame_checked_add_memory, meta_, check_                                     \
	}
#else
#define KA_FRAME_PUB_OPS(alloc_, range_, free_, add_, meta_, check_)                               \
	{                                                                                          \
		alloc_, range_, free_, add_, meta_, check_                                         \
	}
#endif

/** Define `static const struct ka_frame_impl name` from an implementation's functions. */
#define KA_FRAME_IMPL(name, alloc_, range_, free_, add_, meta_, check_)                            \
	static const struct ka_frame_impl name = {                                                 \
	    KA_FRAME_PUB_OPS(alloc_, range_, free_, add_, meta_, check_),                          \
	    {alloc_, range_, free_, add_, meta_, check_},                                          \
	}

/**
 * @brief Initialise the interface head of a frame allocator: no frames, ops from impl.
 * O(1).
 */
void ka_frame_init_head(struct ka_frame_alloc *fa, const struct ka_frame_impl *impl,
			const char *name);

#endif /* KALLOC_FRAME_COMMON_H */
