/* SPDX-License-Identifier: MIT */
/**
 * @file tiny.h
 * @brief The tiny backend: a coalescing allocator with the smallest code and metadata of the
 * general-purpose kalloc backends, for heaps of a few KiB to a few MiB on small targets.
 *
 * Model (docs/backend-tiny.md has the details): every block carries one header word (its
 * size, a used bit and a "previous block is free" bit); free blocks also carry a footer and
 * two list links in their payload. Free blocks are merged with free neighbours at once and
 * kept on 32 segregated lists: 16 exact-size lists for the smallest blocks and power-of-two
 * classes above, with one bitmap word to find a non-empty class.
 *
 * Costs, for a heap with F free blocks:
 *  - ka_free(): O(R) for R regions (the pointer is checked to lie in one) + O(1) to merge.
 *  - ka_malloc(): O(1) for the 16 smallest block sizes when a block of exactly that size is
 *    free, and whenever a larger class is non-empty after 2 probes of the request's own
 *    class; otherwise a first-fit scan of the request's own class, O(F) in the worst case.
 *  - ka_memalign(): as ka_malloc() for size + align + a minimum block.
 *  - realloc uses the generic fallback (kept small on purpose: no in-place growth).
 *
 * Overhead: one `size_t` per allocated block, blocks rounded to KA_CFG_MIN_ALIGN, minimum
 * block 2 words + 2 pointers rounded up (32 bytes on 64-bit targets, 16 on 32-bit ARM).
 * Control data: one struct in the first region (32 list heads, a bitmap, counters) and
 * three words plus a fence word per region.
 *
 * Misuse detected, always on, through ka_misuse(): a pointer outside every region or not
 * aligned like a block, a block whose used bit is clear (double free), and a header that
 * disagrees with its neighbours (size out of the region, next block's "previous free" bit
 * set, previous free block's footer or header not matching).
 *
 * ka_info() is O(1): maxalloc is the largest of the first 8 blocks of the highest non-empty
 * class (exact while that class holds at most 8 blocks, else a size that surely fits).
 *
 * Compact variant (KA_CFG_TINY_COMPACT, the default when the library is built for size
 * (__OPTIMIZE_SIZE__: -Os/-Oz) or in the minimal configuration; set it to 0 to keep the O(1)
 * variant above at -Os; src/backend/tiny_compact.c): one header word per block (size and a
 * used bit) and one singly linked free list in address order: ka_malloc() is first fit,
 * O(F) in the free blocks; ka_free() walks the list to its place, O(F), and merges with both
 * neighbours there. Minimum block one unit (16 B on 64-bit, 8 B on 32-bit ARM). Misuse
 * detected: a pointer outside the heap's regions (refused before anything is read) or
 * misaligned, a header without the used bit (double free) or whose size leaves its region,
 * a pointer inside a free block, a size reaching into the next free block. Outside the
 * minimal configuration it keeps the default contract: ka_add_memory() (regions kept in
 * address order, never merged with each other; KA_EEXIST on overlap, KA_EINVAL when too
 * small; O(R + F)), ka_owns() and every pointer check O(R) in the regions, statistics, and a
 * checker and walker (linked only with ka_check()/ka_walk()). In the minimal configuration:
 * one region, no add_memory (KA_ENOTSUP), no owns, no checker or walker. ka_info() is O(F).
 * Code: docs/code-size.md.
 *
 * Thread safety: none (wrap it in a locked adapter to share it).
 */
#ifndef KALLOC_TINY_H
#define KALLOC_TINY_H

#include <stddef.h>

#include "alloc.h"

/**
 * @brief Make a tiny heap in [base, base+len); its control data lives at the start.
 * @return the allocator, or NULL iff base is NULL or len is below ka_backend_tiny.min_size
 * (the control struct, one region header, one minimum block and the end fence; under 512
 * bytes on 64-bit targets). Any base alignment is accepted: the start is rounded up to
 * KA_CFG_MIN_ALIGN and the end down. More regions: ka_add_memory(), which refuses
 * (KA_EEXIST) a region that overlaps one already managed and (KA_EINVAL) one too small to
 * hold a region header, a minimum block and a fence. The compact variant also refuses a
 * range that wraps, and manages this one region only (ka_add_memory(): KA_ENOTSUP); its
 * min_size is the state plus two units (under 200 bytes on 64-bit targets).
 * O(1). Not thread safe.
 */
struct ka_alloc *ka_tiny_init(void *base, size_t len);

/** @brief Registry entry of the tiny backend (name "tiny"). */
extern const struct ka_backend ka_backend_tiny;

#endif /* KALLOC_TINY_H */
