/* SPDX-License-Identifier: MIT */
/**
 * @file buddy.h
 * @brief The buddy backend: a binary buddy allocator over pages, with a small-object layer.
 *
 * Pages (KA_PAGE_SIZE) are kept in blocks of 2^k pages, one doubly linked free list per
 * order; a request takes the smallest block that fits, splitting larger ones, and a free
 * merges the block with its buddy as long as the buddy is free (Unikraft's ukallocbbuddy,
 * with its flaws fixed). The state of every page is in an out-of-band map at the start of
 * each region, so:
 *  - merging is O(log n) and never scans a free list (the buddy's state is one map read);
 *  - bookkeeping never enlarges a request: a 2^k-page request takes an order-k block, so a
 *    1 GiB malloc succeeds on a buddy given 4 GiB (Unikraft issue 1381);
 *  - page runs of any length: palloc(3 pages) takes 3 pages, the 4th goes back to the lists;
 *  - several regions of any alignment and size are accepted (add_memory); each is cut into
 *    maximal naturally aligned power-of-two blocks.
 * Requests up to 7/8 of a page are served from slabs (a block of 1 to 8 pages cut into
 * objects of one size class: 16-byte steps to 128 bytes, then four classes per power of
 * two); larger ones from page runs. The format is written down in src/backend/buddy_priv.h and
 * docs/backend-buddy.md.
 *
 * Through the generic interface (kalloc/alloc.h), with n the number of pages managed and
 * Z the number of regions:
 *  - malloc / memalign: O(log n) (find a non-empty order with one bit scan, split at most
 *    log n times, free the tail of a non-power-of-two run: at most log n blocks). When no
 *    block of that order is free, a run of page alignment is cut from adjacent smaller free
 *    blocks: O(B log n), B the free blocks of the two orders below.
 *    Small requests: O(1) from a partial slab, else O(log n) for a new slab. Overhead: small
 *    objects are rounded to their class (at most 25% above 128 bytes, at most 15 bytes
 *    below) plus at most 1/8 of each slab (header and gap); larger requests are
 *    rounded up to whole pages, with no header. Alignment: any power of two up to a page for
 *    small requests (a class whose size is a multiple of it is chosen), any power of two for
 *    page runs (the block is aligned to its size, so the order is raised to the alignment).
 *  - free: O(Z) to find the region, then O(1) for small objects (O(log n) when the slab
 *    becomes empty) and O(log n) for page runs. Double free, foreign and interior pointers
 *    are detected and reported through ka_misuse() (see docs for the one probabilistic case).
 *  - palloc(npages, align) native: O(log n), exactly npages pages; pfree(ptr, npages) must
 *    give the same count (else ka_misuse()). ka_free() of a palloc'd run frees the whole run.
 *  - realloc: in place when the size class or page count does not change, and when a page
 *    run shrinks (its tail is freed); otherwise allocate, copy, free.
 *  - add_memory: O(Z + pages of the region) (the map is zeroed). KA_EEXIST on overlap,
 *    KA_EINVAL when the region cannot hold its descriptor, its map and one page.
 *  - info: O(1) but maxalloc, O(orders + classes). check: O(n + free blocks + objects).
 *    walk: O(n + objects).
 *  - Zero-fill: never (ka_calloc zeroes). Thread safety: none; wrap in a locked adapter.
 * Limits: a run is at most 2^32 - 1 pages; a region's pages are counted in size_t.
 * Memory overhead: 8 bytes of map per page (0.2% with 4 KiB pages) plus 48 bytes per
 * region and the state (0.9 KiB on x86-64), all before the region's first page.
 */
#ifndef KALLOC_BUDDY_H
#define KALLOC_BUDDY_H

#include <stddef.h>

#include "alloc.h"

/**
 * @brief Make a buddy allocator whose state, metadata and first region are [base, base+len).
 *
 * The state, the region descriptor and the page map are placed at the start; the pages
 * follow from the next page boundary to the end of the memory (a partial last page is left
 * unused). The map is zeroed (O(pages) writes, 8 bytes per page); the pages themselves are
 * not touched except for the free-list link at the start of each initial free block, so a
 * sparse mapping (e.g. mmap with MAP_NORESERVE) costs only the metadata's memory.
 * @param base start of the memory (any alignment)
 * @param len  bytes at base
 * @return the allocator, or NULL iff base is NULL or no whole page remains after the
 *         metadata (len below ka_backend_buddy.min_size always fails).
 * Not thread safe.
 */
struct ka_alloc *ka_buddy_init(void *base, size_t len);

/**
 * @brief Bytes of metadata ka_buddy_init() puts before the pages when given a page-aligned
 * base: ka_buddy_init(base, ka_buddy_meta_size(len) + len) with a page-aligned base and len
 * a multiple of KA_PAGE_SIZE manages exactly len bytes of pages, starting at
 * base + ka_buddy_meta_size(len). O(1), thread safe. Returns 0 if the sum would overflow.
 */
size_t ka_buddy_meta_size(size_t len);

/** @brief Registry entry "buddy". */
extern const struct ka_backend ka_backend_buddy;

#endif /* KALLOC_BUDDY_H */
