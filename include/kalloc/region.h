/* SPDX-License-Identifier: MIT */
/**
 * @file region.h
 * @brief The region backend: a bump allocator over a list of memory regions.
 *
 * The fastest and smallest backend, and the worst general-purpose one: **memory is never
 * reused**. ka_free() does not make a block available again; it only validates the pointer
 * (it must be a live block this allocator handed out, else ka_misuse() panics) and marks the
 * block freed, so that a second free of it is detected as a double free. Use it for boot-time
 * allocations that live forever, as the first level of a nested allocator, or as a baseline
 * for measurements (Unikraft's ukallocregion, with add_memory and usable_size that work).
 *
 * Each block carries a small header (one KA_CFG_MIN_ALIGN slot, 16 bytes on common targets)
 * holding its size, so ka_usable_size(), ka_realloc() and the walker work. Requests are
 * rounded up to KA_CFG_MIN_ALIGN. Regions are filled in the order they were added; when a
 * request does not fit in the current region the allocator moves on to the next one that can
 * hold it (wrapping around, so the tail of an earlier region still serves smaller requests).
 *
 * Through the generic interface (kalloc/alloc.h), with this backend:
 *  - alloc: O(1) when the current region fits, O(regions) otherwise. Any power-of-two
 *    alignment that fits in a region is honoured (the gap before the block is lost).
 *  - free: O(regions) to find the region (validation), O(1) otherwise; never reuses memory.
 *  - realloc: in place, O(1), when the block is the last one bumped in its region and the
 *    region has room (growing or shrinking; shrinking gives the bytes back to the bump
 *    pointer); a shrink of any other block keeps it as is; otherwise allocate, copy, mark freed.
 *  - usable_size: the rounded size from the header, O(regions).
 *  - add_memory: O(regions); KA_EEXIST on overlap with managed memory, KA_EINVAL when the
 *    region cannot hold its descriptor and one minimal block.
 *  - palloc: the generic fallback (alloc with page alignment); pfree marks freed only.
 *  - check / walk: O(blocks). Freed blocks are walked with used == false (their memory is
 *    still not available); the unused tail of each region is walked as one free range.
 *  - Zero-fill: never (except what ka_calloc does). Thread safety: none (single threaded;
 *    wrap in a locked adapter).
 */
#ifndef KALLOC_REGION_H
#define KALLOC_REGION_H

#include <stddef.h>

#include "alloc.h"

/**
 * @brief Make a region allocator whose state and first heap region are [base, base+len).
 *
 * The allocator state and the first region descriptor live at the start of the memory (about
 * 200 bytes on x86-64); the rest is the heap. More memory is added with
 * ka_add_memory().
 * @param base start of the memory (any alignment; it is rounded up internally)
 * @param len  bytes at base
 * @return the allocator, or NULL iff base is NULL or len is below
 *         ka_backend_region.min_size (no room for the state and one minimal block).
 * O(1). Not thread safe. Does not touch the memory beyond the state.
 */
struct ka_alloc *ka_region_init(void *base, size_t len);

/** @brief Registry entry "region" (caps: no KA_CAP_FREE, since memory is never reused). */
extern const struct ka_backend ka_backend_region;

#endif /* KALLOC_REGION_H */
